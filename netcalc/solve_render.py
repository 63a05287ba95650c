"""``netcalc solve``'s answer as a table (at most TABLE_ROWS solutions shown), JSON or CSV: the
output side of :mod:`netcalc.solver`, which computes it."""

from __future__ import annotations

from .layers.base import fmt_shape
from .solver import SolveResult

TABLE_ROWS = 20  # solutions shown in the table format

def render_solve(result: SolveResult, fmt: str = "table") -> str:
    """The result as JSON, CSV, Markdown or a rich table (with the torch code and the shapes)."""
    import json

    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2)
    keys: list[str] = []
    for s in result.solutions:
        for k in s.assignments:
            if k not in keys:
                keys.append(k)
    rows = [[_cell(s.assignments.get(k)) for k in keys] for s in result.solutions]
    if fmt == "csv":
        from .render import csv_text

        return csv_text(keys, rows)
    lines = _summary(result)
    first = result.solutions[0] if result.solutions else None
    if fmt == "markdown":
        out = []
        if result.name:
            out += [f"**{result.name}**", ""]
        out += [lines[0], ""]
        if keys:
            out.append("| # | " + " | ".join(keys) + " |")
            out.append("|---:|" + "|".join("---:" for _ in keys) + "|")
            out += [f"| {i} | " + " | ".join(r) + " |" for i, r in enumerate(rows, 1)]
            out.append("")
        out += [f"- {m}" for m in lines[1:]]
        if first and first.code:
            out += ["", "```python", *first.code, "```"]
        if first and first.shapes:
            out += ["", *[f"- {_shape_line(s)}" for s in first.shapes]]
        return "\n".join(out).rstrip()
    return _table(result, keys, rows, lines, first)


def _cell(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(map(str, v)) + "]"
    return "" if v is None else str(v)


def _summary(result: SolveResult) -> list[str]:
    if result.count == 0:
        return ["no solution:", *result.unmet]
    if result.count is None:
        what = ", ".join(result.unbounded) or "the unknowns"
        if result.gave_up and not result.unbounded:
            return [f"too many solutions to count; the first {len(result.solutions)} are listed"]
        shown = len(result.solutions)
        return [f"infinitely many solutions ({what} can grow without limit); the first {shown} are listed"]
    if result.count == 1:
        return ["1 solution"]
    return [f"{result.count} solutions"]


def _shape_line(s) -> str:
    name, x, y, states = s
    text = f"{name}: {fmt_shape(x)} → {fmt_shape(y)}"
    if states:
        text += "; " + ", ".join(f"{k} {fmt_shape(v)}" for k, v in states.items())
        if "h_n" in states:
            text += " (h_0 and c_0 take the same shapes)" if "c_n" in states else " (h_0 takes the same shape)"
    return text


def _table(result, keys, rows, lines, first) -> str:
    """A table of the solutions, then the summary, the torch code and the shapes as plain lines."""
    from .render import grid

    out = [result.name] if result.name else []
    if keys and rows:
        shown = [[str(i), *r] for i, r in enumerate(rows[:TABLE_ROWS], 1)]
        if len(rows) > TABLE_ROWS:
            shown.append(["…", *["…" for _ in keys]])
        out.append(grid(None, None, ["#", *keys], [True] * (len(keys) + 1), shown,
                        width=max(80, 12 + sum(len(k) + 3 for k in keys))))
        if len(rows) > TABLE_ROWS:
            lines = [lines[0] + f" ({TABLE_ROWS} shown; --format json or csv lists all {len(rows)})", *lines[1:]]
    out.append(lines[0])
    out += [f"  - {m}" for m in lines[1:]]
    if first and first.code:
        out.append("torch code (first solution):")
        out += [f"  {c}" for c in first.code]
    if first and first.shapes:
        out.append("shapes (first solution):")
        out += [f"  {_shape_line(s)}" for s in first.shapes]
    return "\n".join(out)
