"""Turning a :class:`~netcalc.report.Report` into text: a rich table, JSON, CSV or Markdown.

Every command prints the same JSON document; the command only picks the table's columns.
rich is imported only for tables.
"""

from __future__ import annotations

import csv
import io
import json
import re

from .report import Report
from .symbolic import is_int, to_text

# column key → header
HEADERS = {
    "index": "#", "name": "name", "type": "type", "input_shape": "input shape", "output_shape": "output shape",
    "state_shapes": "state shapes", "weights": "weights", "biases": "biases", "params": "params",
    "macs": "MACs", "flops": "FLOPs", "rf_size": "RF size", "rf_jump": "RF jump", "rf_start": "RF start",
    "param_bytes": "param bytes", "activation_bytes": "activation bytes", "saved_bytes": "saved bytes",
    "kv_cache_bytes": "KV cache bytes",
}
COLUMNS = {
    "shapes": ("input_shape", "output_shape", "state_shapes"),
    "params": ("output_shape", "weights", "biases", "params"),
    "flops": ("output_shape", "macs", "flops"),
    "rf": ("output_shape", "rf_size", "rf_jump", "rf_start"),
    "summary": ("output_shape", "state_shapes", "weights", "biases", "params", "macs", "flops", "rf_size", "rf_jump"),
    "memory": ("output_shape", "params", "param_bytes", "activation_bytes"),
}
SUMMED = ("weights", "biases", "params", "macs", "flops", "param_bytes", "activation_bytes", "saved_bytes",
          "kv_cache_bytes")


CONCERNS = {"shapes": ("shapes",), "params": ("params",), "flops": ("flops",), "rf": ("rf",),
            "summary": ("shapes", "params", "flops", "rf"), "memory": ("params",)}


def render(report: Report, command: str, fmt: str, depth: int | None = None) -> str:
    if fmt == "json":
        return dumps(report.to_dict())
    if any(r.explain is not None for r in report.layers) and fmt in ("table", "markdown"):
        return _worked(report, command, fmt)
    cols = ("index", "name", "type") + COLUMNS[command]
    if command == "memory" and report.training is not None:
        cols += ("saved_bytes",)
    if command == "memory" and report.kv_cache_bytes != 0:
        cols += ("kv_cache_bytes",)
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
        self.inner = inner
        totals = block.totals(report.layers)
        for q, v in totals.items():
            setattr(self, q, v)

    @property
    def param_bytes(self):  # summed only when a column shows it
        return sum_of(r.param_bytes for r in self.inner)

    @property
    def activation_bytes(self):
        return sum_of(r.activation_bytes for r in self.inner)

    @property
    def saved_bytes(self):
        return sum_of(r.saved_bytes for r in self.inner)

    @property
    def kv_cache_bytes(self):
        return sum_of(r.kv_cache_bytes for r in self.inner)


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
        return (" x " if ASCII else " × ").join(_num(v) for v in vals) if readable else "x".join(
            _num(v, False) for v in vals)
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


# tables show formulas as a person writes them (mathtext.py); --ascii, or a terminal that is not
# UTF-8, keeps them ASCII. CSV and JSON keep sympy's strings.
ASCII = False


def formula(value, readable: bool = True) -> str:
    if not readable or is_int(value) or not hasattr(value, "free_symbols"):
        return to_text(value)
    from .mathtext import math_text

    return math_text(value, ASCII)


def shape_text(shape, readable: bool = True) -> str:
    sep = (" x " if ASCII else " × ") if readable else "x"
    return sep.join(_dim_text(d, readable) for d in shape)


def _dim_text(d, readable: bool = False) -> str:
    text = formula(d, readable)
    return f"({text})" if " " in text else text


def quantity(value, readable: bool = True) -> str:
    if is_int(value):
        return f"{value:,}" if readable else str(value)
    return formula(value, readable)


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


def _num(v, readable: bool = True) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return _dim_text(v, readable)


def _totals_cells(report: Report, cols, readable: bool, compact: bool = False) -> list[str]:
    totals = dict(report.totals)
    for key in ("param_bytes", "activation_bytes", "saved_bytes", "kv_cache_bytes"):  # a product per layer: when shown
        if key in cols:
            totals[key] = sum_of(getattr(r, key) for r in report.layers)
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


def csv_text(header, rows) -> str:
    """A header and rows as CSV text (every command's ``--format csv``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().rstrip("\n")


def _csv(report: Report, cols) -> str:
    rows = [[cell(row, c, False) for c in cols] for row in report.layers]
    return csv_text(cols, rows + [_totals_cells(report, cols, False)])


def html(report: Report, command: str = "summary") -> str:
    """The table as HTML (a notebook's view of a Report): the Markdown table's cells, escaped."""
    from html import escape

    cols = ("index", "name", "type") + COLUMNS[command]
    if all(row.state_shapes is None for row in report.layers):
        cols = tuple(c for c in cols if c != "state_shapes")
    right = {c for c in cols if c in SUMMED or c == "index"}

    align = ' style="text-align:right"'

    def tr(cells, tag="td", bold=False):
        out = []
        for c, v in zip(cols, cells):
            text = f"<b>{escape(v)}</b>" if bold and v else escape(v)
            out.append(f"<{tag}{align if c in right else ''}>{text}</{tag}>")
        return "<tr>" + "".join(out) + "</tr>"

    body = [tr([HEADERS[c] for c in cols], "th")]
    for d, row in _items(report, None):
        cells = ["\u00a0" * 2 * d + _label(row, d) if c == "name" else cell(row, c, True) for c in cols]
        body.append(tr(cells, bold=isinstance(row, _BlockCells)))
    body.append(tr(_totals_cells(report, cols, True), bold=True))
    title = f"<p><b>{escape(report.name)}</b>: input {escape(shape_text(report.input_shape))}</p>" if report.name else ""
    return f'{title}<table class="netcalc">{"".join(body)}</table>'


def _markdown(report: Report, cols, items) -> str:
    lines = []
    if report.name:
        lines += [f"**{report.name}**: input {shape_text(report.input_shape)}", ""]
    right = {c for c in cols if c in SUMMED or c == "index"}
    lines.append("| " + " | ".join(HEADERS[c] for c in cols) + " |")
    lines.append("|" + "|".join("---:" if c in right else "---" for c in cols) + "|")
    for d, row in items:
        cells = [_label(row, d).replace(" ", "&nbsp;", 2 * d) if c == "name" else _md_math(cell(row, c, True), c)
                 for c in cols]
        if isinstance(row, _BlockCells):
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    totals = [_md_math(t, c) for t, c in zip(_totals_cells(report, cols, True), cols)]
    lines.append("| " + " | ".join(f"**{t}**" if t else "" for t in totals) + " |")
    return "\n".join(lines)


def _md_math(text: str, col: str) -> str:
    """A cell with letters in it is a formula: LaTeX math in Markdown (``$\\left\\lceil H/2 \\right\\rceil$``)."""
    if col in ("name", "type", "index") or ASCII or not any(ch.isalpha() for ch in text):
        return text
    from .mathtext import latex

    return f"${latex(text)}$"


def _table(report: Report, cols, items) -> str:
    compact = "params" in cols and "macs" in cols  # summary: exact counts live in `flops` and JSON/CSV
    rows = [([_label(row, d) if c == "name" else cell(row, c, True, compact) for c in cols],
             isinstance(row, _BlockCells)) for d, row in items]
    totals = _totals_cells(report, cols, True, compact)
    caption = _caption(report, cols)
    width = _width()
    if _narrowest(cols, [cells for cells, _ in rows] + [totals]) > width:
        # rich would squeeze columns and cut numbers and formulas short: one block of lines per layer
        return _stacked(report.name, caption, cols, [cells for cells, _ in rows], totals, width)
    return grid(report.name or None, caption, [HEADERS[c] for c in cols], [c in SUMMED or c == "index" for c in cols],
                [cells for cells, _ in rows], totals, width, bold=[bold for _, bold in rows],
                no_wrap=[c in SUMMED or c == "index" or c.startswith("rf_") or c in ("output_shape", "name", "type")
                         for c in cols])


def grid(title, caption, headers, right, rows, totals=None, width=None, bold=None, no_wrap=None) -> str:
    """Every command's table: rich's look (HEAVY_HEAD, a section line above the totals), drawn
    directly when :func:`plain_table` can, else by rich. ``right``: the right-aligned columns;
    ``bold``: rows in bold (block subtotals); ``no_wrap``: columns rich must not fold."""
    width = width or _width()
    if totals is not None:
        fast = plain_table(title, caption, headers, right, rows, totals, width)
        if fast is not None:
            return fast
    return _rich_table(title, caption, headers, right, rows, totals, width, bold, no_wrap)


def _narrowest(cols, rows) -> int:
    """The width the table needs with every cell on one line (narrower, rich squeezes columns and
    cuts numbers and formulas short)."""
    return 1 + sum(3 + max(len(HEADERS[c]), *(len(cells[i]) for cells in rows)) for i, c in enumerate(cols))


def _stacked(title, caption, cols, rows, totals, width) -> str:
    """The layout for a terminal too narrow for the table: per layer its number, name and type on
    one line, then its values as ``header value`` pairs wrapped at `` · `` to the width."""
    lines = [title] if title else []
    at = cols.index("index") if "index" in cols else None
    digits = max((len(cells[at]) for cells in rows), default=0) if at is not None else 0
    for cells in rows + [totals]:
        head = dict(zip(cols, cells))
        number = head.get("index", "").rjust(digits)
        lines.append("  ".join(v for v in (number, head.get("name", ""), head.get("type", "")) if v.strip()
                               or v is number).rstrip())
        pairs = [f"{HEADERS[c]} {v}" for c, v in zip(cols, cells) if c not in ("index", "name", "type") and v]
        lines += _wrap(pairs, width, "    ", " | " if ASCII else " · ")
    if caption:
        lines += _wrap(caption.split(" · "), width, "", " · ")
    return "\n".join(lines)


def _wrap(pieces: list[str], width: int, indent: str, sep: str) -> list[str]:
    """``pieces`` joined by ``sep`` into lines of at most ``width`` characters (a piece longer than
    that gets a line of its own)."""
    lines, line = [], indent
    for piece in pieces:
        if line.strip() and len(line) + len(sep) + len(piece) > width:
            lines.append(line.rstrip())
            line = indent
        parts = [piece]
        if len(line) + len(sep) + len(piece) > width:  # a formula longer than the line: break it at + and −
            parts = _break_formula(piece, width - len(indent) - 2, width - len(line) - len(sep))
        if len(parts) > 1:  # (one part: nothing to break at; it overflows on a line of its own)
            *whole, piece = parts
            lines.append(line + (sep if line.strip() else "") + whole[0])
            lines += [indent + "  " + part for part in whole[1:]]
            line = indent + "  "
        line += (sep if line.strip() else "") + piece
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _break_formula(text: str, width: int, first: int) -> list[str]:
    """``text`` cut before its top-level `` + `` and `` − `` (outside brackets) into pieces of at
    most ``first`` characters, then ``width`` (a term longer than that stays whole)."""
    cuts, depth = [], 0
    for i, ch in enumerate(text):
        depth += 1 if ch in "([⌊⌈" else -1 if ch in ")]⌋⌉" else 0
        if depth == 0 and text[i:i + 3] in (" + ", " − ", " - "):
            cuts.append(i)
    pieces, start, limit = [], 0, first
    while True:
        fits = [c for c in cuts if start < c and c - start <= limit]
        if len(text) - start <= limit or not fits:
            later = [c for c in cuts if c > start] if len(text) - start > limit and not fits else []
            if later:  # the next term alone is longer than the line
                pieces.append(text[start:later[0]])
                start, limit = later[0] + 1, width
                continue
            pieces.append(text[start:])
            return pieces
        pieces.append(text[start:fits[-1]])
        start, limit = fits[-1] + 1, width


def _rich_table(title, caption, headers, right, rows, totals, width, bold=None, no_wrap=None) -> str:
    """The table drawn by rich: the reference for :func:`plain_table`, used when that declines."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, caption=caption, show_footer=False, header_style="bold")
    for i, (head, r) in enumerate(zip(headers, right)):
        table.add_column(head, justify="right" if r else "left", overflow="fold",
                         no_wrap=bool(no_wrap and no_wrap[i]))
    for i, cells in enumerate(rows):
        table.add_row(*map(Text, cells), style="bold" if bold and bold[i] else None)
    if totals is not None:
        table.add_section()
        table.add_row(*map(Text, totals), style="bold")
    console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None)
    console.print(table)
    return console.file.getvalue().rstrip("\n")


# ------------------------------------------------------------------ the table without rich
#
# rich needs about a millisecond per row (10,000 layers: over 10 s) and ~50 ms to import. When
# every cell fits on one line (the table is no wider than the console) and every character is
# one terminal cell wide, rich's output is simple enough to draw directly: the same characters,
# byte for byte (tests/test_render.py compares the two). Anything else is left to rich.

# characters rich measures as one cell (its own single-cell ranges, plus the symbols netcalc prints)
_NARROW = frozenset(map(chr, [*range(0x20, 0x7F), *range(0xA0, 0xAD), *range(0xAE, 0x300), *range(0x370, 0x483)])) | \
    frozenset("→…−⌊⌋⌈⌉≤≥—–⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_MARKUP = re.compile(r"[\[\]\\]|:\S*?:")  # rich reads markup and :emoji: codes in a title or caption


def plain_table(title, caption, headers, right, rows, totals, width) -> str | None:
    """rich's HEAVY_HEAD table with a section line above the totals, or None when rich must draw it
    (a cell, title or caption that would wrap, a character rich may measure as 0 or 2 cells, markup)."""
    if not rows:
        return None
    narrow = _NARROW.issuperset
    widths = []
    for i, head in enumerate(headers):
        column = [head, totals[i]] + [cells[i] for cells in rows]
        if not all(narrow(text) and not text.endswith(" ") for text in column):
            return None
        widths.append(max(map(len, column)) + 2)
    table_width = sum(widths) + len(widths) + 1
    for note in (title, caption):
        if note is not None and (not narrow(note) or len(note.strip()) > table_width or _MARKUP.search(note)
                                 or note != note.strip()):
            return None
    if table_width > width:
        return None

    def line(cells):
        return [(" " + text.rjust(w - 2) + " ") if r else (" " + text.ljust(w - 2) + " ")
                for text, w, r in zip(cells, widths, right)]

    def rule(left, fill, cross, end):
        return left + cross.join(fill * w for w in widths) + end

    def centred(note):  # rich pads both sides to the table's width
        left = (table_width - len(note)) // 2
        return " " * left + note + " " * (table_width - left - len(note))

    out = []
    if title:
        out.append(centred(title))
    out.append(rule("┏", "━", "┳", "┓"))
    out.append("┃" + "┃".join(line(headers)) + "┃")
    out.append(rule("┡", "━", "╇", "┩"))
    out += ["│" + "│".join(line(cells)) + "│" for cells in rows]
    out.append(rule("├", "─", "┼", "┤"))
    out.append("│" + "│".join(line(totals)) + "│")
    out.append(rule("└", "─", "┴", "┘"))
    if caption:
        out.append(centred(caption))
    return "\n".join(out)


# ------------------------------------------------------------------ JSON

def dumps(doc) -> str:
    """``json.dumps(doc, indent=2)``, the same text, several times faster on large reports.

    In Python < 3.13 ``indent`` switches json to its pure-Python encoder; this writes the same
    layout with the C string encoder and plain string joins. Any value of a type it does not
    know is left to json itself."""
    try:
        return _text(doc, "\n")
    except _Unknown:
        return json.dumps(doc, indent=2)


class _Unknown(Exception):
    pass


_ESCAPE = json.encoder.encode_basestring_ascii  # what json.dumps uses (ensure_ascii=True)
_FLOAT = {float("inf"): "Infinity", float("-inf"): "-Infinity"}
_KEYS: dict = {}  # key → its escaped text and ": "
_int = int.__repr__


def _text(o, newline: str) -> str:
    """``o`` as json.dumps(indent=2) writes it at the indentation ``newline`` (a newline and the indent)."""
    t = type(o)
    if t is str:
        return _ESCAPE(o)
    if t is int:
        return _int(o)
    if t is dict:
        if not o:
            return "{}"
        inner = newline + "  "
        parts = []
        for key, value in o.items():
            head = _KEYS.get(key)
            if head is None:
                if type(key) is not str:
                    raise _Unknown
                head = _KEYS[key] = _ESCAPE(key) + ": "
            vt = type(value)
            parts.append(head + (_int(value) if vt is int else _ESCAPE(value) if vt is str else _text(value, inner)))
        return "{" + inner + ("," + inner).join(parts) + newline + "}"
    if t is list or t is tuple:
        if not o:
            return "[]"
        inner = newline + "  "
        return "[" + inner + ("," + inner).join([_int(v) if type(v) is int else _text(v, inner) for v in o]) + \
            newline + "]"
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if t is float:
        return "NaN" if o != o else _FLOAT.get(o) or float.__repr__(o)
    raise _Unknown


def _caption(report: Report, cols) -> str:
    totals = report.totals
    parts = [f"input {shape_text(report.input_shape)} → output {shape_text(report.output_shape)}"]
    for key in ("params", "macs", "flops"):
        if key in cols and short(totals[key]):
            parts.append(f"{HEADERS[key]} {short(totals[key])}")
    split = report.trainable_split()
    if split and "params" in cols:
        parts.append(f"trainable {quantity(split['trainable_params'])} · frozen {quantity(split['frozen_params'])}")
    if "param_bytes" in cols:
        for key in ("param_bytes", "activation_bytes"):
            value = sum_of(getattr(r, key) for r in report.layers)
            parts.append(f"{HEADERS[key]} {short_bytes(value)}")
        cache = report.kv_cache_bytes
        if cache != 0:
            parts.append(f"KV cache {short_bytes(cache)}")
        if report.training is not None:
            t = report.training
            parts += [f"saved for backward {short_bytes(t.saved_bytes)}", f"gradients {short_bytes(t.grad_bytes)}",
                      f"{t.optimizer} state {short_bytes(t.optimizer_bytes)}",
                      f"training total {short_bytes(t.total_bytes)}"]
        parts.append(f"{report.dtype} autocast, float32 parameters" if getattr(report.training, "mixed", False)
                     else report.dtype)
    return " · ".join(parts)


def _width() -> int:
    """The terminal's width; when piped (no terminal, no COLUMNS), wide enough not to fold."""
    import os
    import shutil
    import sys

    if "COLUMNS" not in os.environ and not sys.stdout.isatty():
        return 250
    return max(shutil.get_terminal_size((140, 24)).columns, 80)
