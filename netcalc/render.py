"""Turning a :class:`~netcalc.report.Report` into text: a rich table, JSON, CSV or Markdown.

Every command prints the same JSON document; the command only picks the table's columns.
rich is imported only for tables.
"""

from __future__ import annotations

import csv
import io
import json

from .report import Report
from .symbolic import is_int, to_text

FORMATS = ("table", "json", "csv", "markdown")

# column key → header
HEADERS = {
    "index": "#", "name": "name", "type": "type", "input_shape": "input shape", "output_shape": "output shape",
    "state_shapes": "state shapes", "weights": "weights", "biases": "biases", "params": "params",
    "macs": "MACs", "flops": "FLOPs", "rf_size": "RF size", "rf_jump": "RF jump", "rf_start": "RF start",
    "param_bytes": "param bytes", "activation_bytes": "activation bytes",
}
COLUMNS = {
    "shapes": ("input_shape", "output_shape", "state_shapes"),
    "params": ("output_shape", "weights", "biases", "params"),
    "flops": ("output_shape", "macs", "flops"),
    "rf": ("output_shape", "rf_size", "rf_jump", "rf_start"),
    "summary": ("output_shape", "weights", "biases", "params", "macs", "flops", "rf_size", "rf_jump"),
    "memory": ("output_shape", "params", "param_bytes", "activation_bytes"),
}
SUMMED = ("weights", "biases", "params", "macs", "flops", "param_bytes", "activation_bytes")


CONCERNS = {"shapes": ("shapes",), "params": ("params",), "flops": ("flops",), "rf": ("rf",),
            "summary": ("shapes", "params", "flops", "rf"), "memory": ("params",)}


def render(report: Report, command: str, fmt: str, depth: int | None = None) -> str:
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2)
    if any(r.explain is not None for r in report.layers) and fmt in ("table", "markdown"):
        return _worked(report, command, fmt)
    cols = ("index", "name", "type") + COLUMNS[command]
    if all(row.state_shapes is None for row in report.layers):
        cols = tuple(c for c in cols if c != "state_shapes")
    if fmt == "csv":
        return _csv(report, cols)
    items = _items(report, depth)
    if fmt == "markdown":
        return _markdown(report, cols, items)
    return _table(report, cols, items)


class _BlockCells:
    """A block row shown like a layer row: its path, type, shapes and subtotals."""

    def __init__(self, block, report):
        self.block = block
        self.index = ""
        self.name = block.path
        self.path = block.path
        self.type = block.type
        self.input_shape, self.output_shape = block.input_shape, block.output_shape
        self.state_shapes = None
        inner = report.layers[block.start:block.end]
        self.rf = inner[-1].rf if inner else None
        totals = block.totals(report.layers)
        for q, v in totals.items():
            setattr(self, q, v)
        self.param_bytes = sum_of(r.param_bytes for r in inner)
        self.activation_bytes = sum_of(r.activation_bytes for r in inner)


def sum_of(values):
    from .symbolic import total

    return total(values)


def _items(report: Report, depth: int | None):
    """(depth, row) in display order: each block before its layers; deeper than ``depth`` hidden."""
    if not report.blocks:
        return [(0, r) for r in report.layers]
    keyed = [((r.index - 1, r.depth, 1), r.depth, r) for r in report.layers]
    keyed += [((b.start, b.depth, 0), b.depth, _BlockCells(b, report)) for b in report.blocks]
    keyed.sort(key=lambda t: t[0])
    return [(d, r) for _, d, r in keyed if depth is None or d <= depth]


def _label(row, d: int) -> str:
    path = getattr(row, "path", None)
    if not path:
        return row.name
    return "  " * d + path.rsplit(".", 1)[-1]


def cell(row, key: str, readable: bool, compact: bool = False) -> str:
    if key.startswith("rf_"):
        if row.rf is None:
            return "-"
        vals = row.rf[key[3:]]
        return " × ".join(_num(v) for v in vals) if readable else "x".join(_num(v) for v in vals)
    value = getattr(row, key)
    if key in ("input_shape", "output_shape"):
        return shape_text(value, readable)
    if key == "state_shapes":
        if value is None:
            return "" if readable else ""
        return "; ".join(f"{k} {shape_text(v, readable)}" for k, v in value.items())
    if key in SUMMED:
        return short(value) if compact and key in ("macs", "flops") and is_int(value) else quantity(value, readable)
    return str(value)


def shape_text(shape, readable: bool = True) -> str:
    sep = " × " if readable else "x"
    return sep.join(_dim_text(d) for d in shape)


def _dim_text(d) -> str:
    text = to_text(d)
    return f"({text})" if " " in text else text


def quantity(value, readable: bool = True) -> str:
    if is_int(value):
        return f"{value:,}" if readable else str(value)
    return to_text(value)


def short(value) -> str:
    """1,258,291,200 → 1.26 G."""
    if not is_int(value):
        return ""
    for unit, scale in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(value) >= scale:
            return f"{value / scale:.4g} {unit}"
    return str(value)


def short_bytes(value) -> str:
    if not is_int(value):
        return to_text(value)
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value} B"


def _num(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return to_text(v)


def _totals_cells(report: Report, cols, readable: bool, compact: bool = False) -> list[str]:
    totals = dict(report.totals)
    totals["param_bytes"] = sum_of(r.param_bytes for r in report.layers)
    totals["activation_bytes"] = sum_of(r.activation_bytes for r in report.layers)
    out = []
    for c in cols:
        if c == "name":
            out.append("total")
        elif c in SUMMED:
            v = totals[c]
            out.append(short(v) if compact and c in ("macs", "flops") and is_int(v) else quantity(v, readable))
        elif c == "output_shape":
            out.append(shape_text(report.output_shape, readable))
        else:
            out.append("")
    return out


def _worked(report: Report, command: str, fmt: str) -> str:
    """The explanation layout: each layer as a heading with its formula steps under it."""
    md = fmt == "markdown"
    lines = []
    if report.name:
        lines += [f"## {report.name}" if md else report.name, ""]
    for row in report.layers:
        head = (f"{row.index}. {row.name} ({row.type}): {shape_text(row.input_shape)} → "
                f"{shape_text(row.output_shape)}")
        lines.append(f"### {head}" if md else head)
        steps = [st for concern in CONCERNS[command] for st in (row.explain or {}).get(concern, [])]
        if command in ("params", "flops", "summary"):
            steps = [st for st in steps if not (is_int(st.value) and st.value == 0 and not st.formula)]
        for st in _merge_axes(steps):
            lines.append(f"- {st.latex()}" if md else f"    {st.text()}")
        if md:
            lines.append("")
    totals = report.totals
    parts = [f"{HEADERS[k]} {quantity(totals[k])}" for k in totals if k in COLUMNS[command] or command == "summary"]
    if parts:
        lines += ["", ("**total**: " if md else "total: ") + ", ".join(parts)]
    return "\n".join(lines).rstrip()


def _merge_axes(steps):
    """H' and W' with the same numbers are one line: "H' = W' = ..."."""
    from dataclasses import replace

    out = []
    for st in steps:
        prev = out[-1] if out else None
        if prev and prev.formula == st.formula and prev.value == st.value and prev.label != st.label and (
                prev.label.rstrip("'").split("_")[0] == st.label.rstrip("'").split("_")[0] or st.label.endswith("'")):
            out[-1] = replace(prev, label=f"{prev.label} = {st.label}")
        else:
            out.append(st)
    return out


def _csv(report: Report, cols) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for row in report.layers:
        w.writerow([cell(row, c, False) for c in cols])
    w.writerow(_totals_cells(report, cols, False))
    return buf.getvalue().rstrip("\n")


def _markdown(report: Report, cols, items) -> str:
    lines = []
    if report.name:
        lines += [f"**{report.name}**: input {shape_text(report.input_shape)}", ""]
    right = {c for c in cols if c in SUMMED or c == "index"}
    lines.append("| " + " | ".join(HEADERS[c] for c in cols) + " |")
    lines.append("|" + "|".join("---:" if c in right else "---" for c in cols) + "|")
    for d, row in items:
        cells = [_label(row, d).replace(" ", "&nbsp;", 2 * d) if c == "name" else cell(row, c, True) for c in cols]
        if isinstance(row, _BlockCells):
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines.append("| " + " | ".join(f"**{t}**" if t else "" for t in _totals_cells(report, cols, True)) + " |")
    return "\n".join(lines)


def _table(report: Report, cols, items) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    title = report.name or None
    table = Table(title=title, caption=_caption(report, cols), show_footer=False, header_style="bold")
    for c in cols:
        numeric = c in SUMMED or c == "index" or c.startswith("rf_")
        table.add_column(HEADERS[c], justify="right" if c in SUMMED or c == "index" else "left",
                         overflow="fold", no_wrap=numeric or c in ("output_shape", "name", "type"))
    compact = "params" in cols and "macs" in cols  # summary: exact counts live in `flops` and JSON/CSV
    for d, row in items:
        style = "bold" if isinstance(row, _BlockCells) else None
        table.add_row(*[Text(_label(row, d) if c == "name" else cell(row, c, True, compact)) for c in cols],
                      style=style)
    table.add_section()
    table.add_row(*map(Text, _totals_cells(report, cols, True, compact)), style="bold")
    console = Console(file=io.StringIO(), width=_width(), force_terminal=False, color_system=None)
    console.print(table)
    return console.file.getvalue().rstrip("\n")


def _caption(report: Report, cols) -> str:
    totals = report.totals
    parts = [f"input {shape_text(report.input_shape)} → output {shape_text(report.output_shape)}"]
    for key in ("params", "macs", "flops"):
        if key in cols and short(totals[key]):
            parts.append(f"{HEADERS[key]} {short(totals[key])}")
    if "param_bytes" in cols:
        for key in ("param_bytes", "activation_bytes"):
            value = sum_of(getattr(r, key) for r in report.layers)
            parts.append(f"{HEADERS[key]} {short_bytes(value)}")
        parts.append(report.dtype)
    return " · ".join(parts)


def _width() -> int:
    """The terminal's width; when piped (no terminal, no COLUMNS), wide enough not to fold."""
    import os
    import shutil
    import sys

    if "COLUMNS" not in os.environ and not sys.stdout.isatty():
        return 250
    return max(shutil.get_terminal_size((140, 24)).columns, 80)
