"""``netcalc solve-padding``: the padding questions, per axis, in numbers or symbols.

For each axis: the ConvNd output size, the ``output_padding`` that makes a ConvTransposeNd
with the same kernel, stride, padding and dilation map that output back to the input size,
and the least ``[before, after]`` padding giving ``⌈size/stride⌉`` (TensorFlow's "same").
"""

from __future__ import annotations

from dataclasses import dataclass

from .arith import output_padding_for, same_padding, window_out
from .errors import UsageError
from .symbolic import Dim, ExprError, is_int, known_positive, parse_expr, to_json, to_text

OPTIONS = ("size", "kernel", "stride", "padding", "dilation")
DEFAULTS = {"stride": "1", "padding": "0", "dilation": "1"}


@dataclass
class AxisAnswer:
    size: Dim
    kernel: Dim
    stride: Dim
    padding: Dim
    dilation: Dim
    conv_output: Dim
    output_padding: Dim
    same_padding: tuple

    def to_dict(self) -> dict:
        return {"size": to_json(self.size), "kernel": to_json(self.kernel), "stride": to_json(self.stride),
                "padding": to_json(self.padding), "dilation": to_json(self.dilation),
                "conv_output": to_json(self.conv_output), "output_padding": to_json(self.output_padding),
                "same_padding": [to_json(v) for v in self.same_padding]}


def parse_axes(raw: dict[str, str | None]) -> list[dict[str, Dim]]:
    """Comma lists per option → one dict per axis; a single value applies to every axis."""
    lists = {}
    for key in OPTIONS:
        text = raw.get(key) or DEFAULTS.get(key)
        if text is None:
            raise UsageError(f"--{key} is required, e.g. --{key} 3 (or a comma list, one value per axis)")
        items = [t.strip() for t in str(text).split(",")]
        try:
            lists[key] = [parse_expr(t) for t in items]
        except ExprError as e:
            raise UsageError(f"--{key} {text}: {e}") from None
        for v in lists[key]:
            low = 0 if key == "padding" else 1
            if is_int(v) and v < low:
                raise UsageError(f"--{key} {text}: values must be at least {low}")
    n = max(len(v) for v in lists.values())
    for key, vals in lists.items():
        if len(vals) not in (1, n):
            raise UsageError(f"--{key} has {len(vals)} values but another option has {n}: give one value or one per axis")
    return [{k: (v[0] if len(v) == 1 else v[i]) for k, v in lists.items()} for i in range(n)]


def solve_axis(size, kernel, stride=1, padding=0, dilation=1) -> AxisAnswer:
    conv = window_out(size, kernel, stride, padding, dilation)
    if known_positive(conv) is False:
        raise UsageError(f"a kernel of {to_text(kernel)} (dilation {to_text(dilation)}) does not fit in size "
                         f"{to_text(size)} with padding {to_text(padding)}: the conv output would be {to_text(conv)}")
    return AxisAnswer(size, kernel, stride, padding, dilation, conv,
                      output_padding_for(size, kernel, stride, padding, dilation),
                      same_padding(size, kernel, stride, dilation))


def solve(raw: dict[str, str | None]) -> list[AxisAnswer]:
    return [solve_axis(**axis) for axis in parse_axes(raw)]


def notes(axes: list[AxisAnswer]) -> list[str]:
    """What a PyTorch user needs to know to apply the answers."""
    out = []
    strided = [a for a in axes if not (is_int(a.stride) and a.stride == 1)]
    asym = [a for a in axes if not (is_int(a.same_padding[0]) and is_int(a.same_padding[1])
                                    and a.same_padding[0] == a.same_padding[1])]
    numeric = all(is_int(v) for a in axes for v in a.same_padding)
    if (strided or asym) and not numeric:
        out.append("PyTorch's padding='same' accepts stride 1 only and pads symmetrically: pad with "
                   f"nn.ZeroPad{len(axes)}d((before, after) per axis, last axis first) using same_padding, "
                   "then use padding=0." if len(axes) <= 3 else "pad with F.pad first and use padding=0.")
    elif strided or asym:
        pads = []
        for a in reversed(axes):  # F.pad lists the last axis first
            pads += [to_text(a.same_padding[0]), to_text(a.same_padding[1])]
        rank = len(axes)
        out.append(f"PyTorch's padding='same' accepts stride 1 only{' and pads symmetrically' if asym else ''}: "
                   f"for same_padding write nn.ZeroPad{rank}d(({', '.join(pads)})) (or F.pad(x, ({', '.join(pads)}))) "
                   f"before the conv and use padding=0." if rank <= 3 else
                   "PyTorch's padding='same' accepts stride 1 only: pad with F.pad first and use padding=0.")
    else:
        out.append("same_padding is symmetric at stride 1: padding='same' in PyTorch gives it.")
    return out


def render(axes: list[AxisAnswer], fmt: str) -> str:
    import json

    if fmt == "json":
        return json.dumps({"axes": [a.to_dict() for a in axes]}, indent=2)
    cols = ["axis", "size", "kernel", "stride", "padding", "dilation", "conv_output", "output_padding", "same_padding"]
    rows = [[str(i)] + [_cell(getattr(a, c), fmt != "csv") for c in cols[1:]] for i, a in enumerate(axes)]
    return _table(cols, rows, notes(axes), fmt)


def render_choices(choices: list[dict], fmt: str) -> str:
    import json

    if fmt == "json":
        return json.dumps({"choices": choices}, indent=2)
    cols = ["layer", "match", "output_padding", "why"]
    rows = [[c["layer"], c["match"] or "-", _cell(c["output_padding"]) if c["output_padding"] is not None else "none works",
             c.get("why", "")] for c in choices]
    if not rows:
        return "No layer says output_padding: auto."
    return _table(cols, rows, [], fmt)


def _cell(v, readable: bool = False) -> str:
    """A value for a table (a formula as a person writes it) or for CSV (sympy's string)."""
    from .render import formula

    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(formula(x, readable) for x in v) + "]"
    return formula(v, readable)


def _table(cols, rows, footnotes, fmt) -> str:
    if fmt == "csv":
        from .render import csv_text

        return csv_text(cols, rows)
    if fmt == "markdown":
        lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines + [""] + [f"- {n}" for n in footnotes]).rstrip()
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=io.StringIO(), width=140, color_system=None)
    if max(len(c) for r in rows for c in r) > 30:  # formulas: one field per line reads better
        for r in rows:
            table = Table(show_header=False, box=None, padding=(0, 2))
            table.add_column(style="bold")
            table.add_column(overflow="fold")
            for c, v in zip(cols, r):
                table.add_row(c.replace("_", " "), Text(v))
            console.print(table)
            console.print()
    else:
        from .render import grid

        console.print(Text(grid(None, None, [c.replace("_", " ") for c in cols], [False] * len(cols), rows,
                                width=140)))
    for n in footnotes:
        console.print(Text(n))
    return console.file.getvalue().rstrip("\n")
