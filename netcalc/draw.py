"""``netcalc draw``: a :class:`~netcalc.report.Report` as an SVG picture, written as text.

:func:`draw` gives the architecture the way papers draw CNNs: one box per layer (or per
block at ``depth``), a cuboid whose height grows with the tensor's height, whose slant grows
with its width and whose thickness grows with its channels, all on a log scale so a 224×224×3
input and a 7×7×512 map fit the same picture. Each box is labelled with its name, type, output
shape and parameters; arrows join the boxes, branches run in lanes below the main line, and
skip connections that jump over boxes are arcs. Blocks that are shown expanded get a dashed
frame with their name.

:func:`draw_rf` is a line chart of receptive-field size (left axis) and jump (right axis) by
layer.

Both are pure functions of the report: its rows, their data-flow edges (``LayerRow.inputs``)
and its blocks.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import dataclass, field

from .escape import xml_attr, xml_text
from .layers.registry import kind_of
from .report import Report
from .symbolic import is_int

FONT = 10  # px, monospace: a character is about 0.6 em wide
CHAR = 0.6 * FONT
LINE = 12  # label line height
GAP = 18  # between columns
LANE_GAP = 26

COLORS = {  # type family → (front, top, side)
    "conv": ("#9ecae1", "#c6dbef", "#6baed6"),
    "tconv": ("#a1d99b", "#c7e9c0", "#74c476"),
    "pool": ("#fc9272", "#fcbba1", "#fb6a4a"),
    "norm": ("#fdd49e", "#fee8c8", "#fdbb84"),
    "act": ("#d9f0a3", "#f7fcb9", "#addd8e"),
    "linear": ("#bcbddc", "#dadaeb", "#9e9ac8"),
    "seq": ("#fdae6b", "#fdd0a2", "#fd8d3c"),
    "tensor": ("#d9d9d9", "#f0f0f0", "#bdbdbd"),
    "block": ("#c7e9e3", "#e5f5f2", "#8fd1c4"),
    "input": ("#ffffff", "#f7f7f7", "#e0e0e0"),
}
MERGE_SIGN = {"Add": "+", "Concat": "C", "Multiply": "×"}


def family(type_name: str) -> str:
    """The colour family the layer kind declares (merges and unknown rows: activations' colours)."""
    kind = kind_of(type_name)
    return kind.FAMILY if kind is not None else "act"


def layout_of(type_name: str) -> str | None:
    kind = kind_of(type_name)
    return kind.LAYOUT if kind is not None else None


# ----------------------------------------------------------------------------- geometry

def _num(v):
    return int(v) if is_int(v) else None


def _height(n) -> float:
    """Pixels for a spatial size or a feature count, on a log scale."""
    n = _num(n)
    if n is None:
        return 60.0
    return max(10.0, min(140.0, 12 + 10 * math.log2(max(n, 1))))


def _thickness(c) -> float:
    c = _num(c)
    if c is None:
        return 20.0
    return max(3.0, min(44.0, 3 + 3.2 * math.log2(max(c, 1))))


def _slant(w) -> float:
    return 0.3 * _height(w) if _num(w) != 1 else 3.0


@dataclass
class Item:
    """One box: a row, a collapsed block, or the network input."""

    key: int  # -1: the input; else the index of its first row
    name: str
    type: str
    shape: tuple
    params: object
    kind: str  # "input", "layer", "block", "merge"
    rows: range = range(0)
    sources: list = field(default_factory=list)  # keys of items it reads
    col: int = 0
    lane: int = 0
    layout: str = "cf"  # channels-first (N, C, *spatial) or a sequence/vector (N, ..., D)
    w: float = 0  # front face width
    h: float = 0  # front face height
    d: float = 0  # slant
    label_w: float = 0
    cx: float = 0
    cy: float = 0

    @property
    def lines(self) -> list[str]:
        from .render import quantity, shape_text

        name = self.name if len(self.name) <= 30 else self.name[:13] + "…" + self.name[-16:]
        params = "" if self.kind == "input" else f"{quantity(self.params, True)} params"
        return [name, self.type, shape_text(self.shape, True), params]


def _dims(item: Item):
    """(thickness, height, slant) of the item's cuboid."""
    s = item.shape
    if item.kind == "merge":
        return 20.0, 20.0, 0.0
    if len(s) >= 3 and item.layout == "cf":
        spatial = s[2:]
        hh = spatial[-2] if len(spatial) >= 2 else spatial[-1]
        ww = spatial[-1] if len(spatial) >= 2 else 1
        return _thickness(s[1]), _height(hh), _slant(ww)
    if len(s) >= 3:  # (N, L, D) or (L, N, D): thickness by features, height by length
        return _thickness(s[-1]), _height(s[-2] if _num(s[-2]) != _num(s[0]) or _num(s[-2]) != 1 else s[0]), 3.0
    if len(s) == 2:
        return 6.0, _height(s[-1]), 3.0
    return 6.0, 10.0, 3.0


def _items(report: Report, depth: int | None) -> list[Item]:
    rows = report.layers
    collapsed = [b for b in report.blocks if depth is not None and b.depth == depth and b.end > b.start]
    owner = {}  # row index → item key
    items: dict[int, Item] = {}
    first_input = Item(-1, "input", "input", tuple(report.input_shape), 0, "input")
    for b in sorted(collapsed, key=lambda b: b.start):
        if any(i in owner for i in range(b.start, b.end)):
            continue
        totals = b.totals(rows)
        items[b.start] = Item(b.start, b.path, b.type, tuple(b.output_shape), totals["params"], "block",
                              range(b.start, b.end))
        for i in range(b.start, b.end):
            owner[i] = b.start
    for i, r in enumerate(rows):
        if i in owner:
            continue
        kind = "merge" if r.type in MERGE_SIGN else "layer"
        items[i] = Item(i, r.name, r.type, tuple(r.output_shape), r.params, kind, range(i, i + 1))
        owner[i] = i
    ordered = [first_input] + [items[k] for k in sorted(items)]
    for item in ordered[1:]:
        srcs = []
        for i in item.rows:
            for s in rows[i].inputs:
                key = -1 if s < 0 else owner[s]
                if key != item.key and key not in srcs and (s < 0 or s < item.rows.start or s >= item.rows.stop):
                    srcs.append(key)
        item.sources = srcs or [-1]
    # channels-first or sequence layout, inherited along the flow
    by_key = {it.key: it for it in ordered}
    first_input.layout = "seq" if len(report.input_shape) < 3 or (
        rows and layout_of(rows[0].type) == "seq") else "cf"
    for item in ordered[1:]:
        layout = layout_of(rows[item.rows.stop - 1].type if item.kind == "block" else item.type)
        if layout in ("cf", "seq"):
            item.layout = layout
        elif layout == "to_seq" or (layout == "flat" and len(item.shape) < 3):
            item.layout = "seq"
        else:
            item.layout = by_key[item.sources[0]].layout
    return ordered


def _layout(items: list[Item]):
    """Columns by longest path, lanes so each branch keeps its own row, then branches pushed right."""
    by_key = {it.key: it for it in items}
    consumers: dict[int, list[Item]] = {it.key: [] for it in items}
    for it in items[1:]:
        it.col = 1 + max(by_key[s].col for s in it.sources)
        for s in it.sources:
            consumers[s].append(it)
    taken: set[tuple[int, int]] = {(0, 0)}
    for it in items[1:]:
        first = by_key[it.sources[0]]
        lane = first.lane if (it.col, first.lane) not in taken else 0
        while (it.col, lane) in taken:
            lane += 1
        it.lane = lane
        taken.add((it.col, lane))
    for it in reversed(items[1:]):  # as late as possible: a branch sits next to where it joins
        users = consumers[it.key]
        if not users:
            continue
        target = min(u.col for u in users) - 1
        while target > it.col and (target, it.lane) in taken:
            target -= 1
        if target > it.col and all((c, it.lane) not in taken for c in range(it.col + 1, target + 1)):
            taken.discard((it.col, it.lane))
            it.col = target
            taken.add((it.col, it.lane))
    return consumers


# ----------------------------------------------------------------------------- SVG

def _text(x, y, s, cls="", anchor="middle", weight=None, size=FONT, fill="#222") -> str:
    w = f' font-weight="{weight}"' if weight else ""
    c = f' class="{cls}"' if cls else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{w}{c}>'
            f"{xml_text(s)}</text>")


def _svg_open(width, height) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace">')


def _cuboid(x, y, w, h, d, colors) -> str:
    """Front face with its top-left corner at (x, y); the top and side faces slant up-right by d."""
    front, top, side = colors
    parts = [(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{front}" stroke="#555" '
              f'stroke-width="0.8"/>')]
    if d > 0:
        parts.append(f'<polygon points="{x:.1f},{y:.1f} {x + d:.1f},{y - d:.1f} {x + w + d:.1f},{y - d:.1f} '
                     f'{x + w:.1f},{y:.1f}" fill="{top}" stroke="#555" stroke-width="0.8"/>')
        parts.append(f'<polygon points="{x + w:.1f},{y:.1f} {x + w + d:.1f},{y - d:.1f} {x + w + d:.1f},'
                     f'{y + h - d:.1f} {x + w:.1f},{y + h:.1f}" fill="{side}" stroke="#555" stroke-width="0.8"/>')
    return "".join(parts)


def draw(report: Report, depth: int | None = None) -> str:
    """The architecture diagram as an SVG document (a string)."""
    from .render import quantity, shape_text

    items = _items(report, depth)
    for it in items:
        it.w, it.h, it.d = _dims(it)
        it.label_w = max(len(s) for s in it.lines) * CHAR
    _layout(items)
    by_key = {it.key: it for it in items}
    ncols = max(it.col for it in items) + 1
    nlanes = max(it.lane for it in items) + 1

    # columns: as wide as their widest box or label
    col_w = [0.0] * ncols
    for it in items:
        col_w[it.col] = max(col_w[it.col], it.w + it.d, it.label_w)
    col_x = [0.0] * ncols
    x = 20.0
    for c in range(ncols):
        col_x[c] = x
        x += col_w[c] + GAP
    width = x + 10

    # skip arcs over lane 0 set the height of the band above the boxes
    arcs = []
    for it in items:
        for s in it.sources:
            src = by_key[s]
            if src.lane == it.lane and it.col - src.col > 1 and any(
                    (c, it.lane) in {(o.col, o.lane) for o in items} for c in range(src.col + 1, it.col)):
                arcs.append((src, it))
    arc_h: dict = {}  # nested skips get higher arcs: one step per skip they span
    for a, b in sorted(arcs, key=lambda ab: ab[1].col - ab[0].col):
        inner = [arc_h[(c.key, d.key)] for c, d in arcs if (c.key, d.key) in arc_h
                 and a.col <= c.col and d.col <= b.col and (c, d) != (a, b)]
        arc_h[(a.key, b.key)] = max(inner, default=8) + 18
    frames = [b for b in report.blocks if depth is None or b.depth < depth]
    frame_depths = sorted({b.depth for b in frames})
    frame_band = 14 * len(frame_depths) + (6 if frames else 0)
    title_h = 40
    lane_top, lane_h, lane_d, lane_box = [], [], [], []
    y = title_h + frame_band + (max(arc_h.values()) if arcs else 0) + 10
    for lane in range(nlanes):
        inside = [it for it in items if it.lane == lane]
        lane_d.append(max(it.d for it in inside))  # room for the slanted tops
        lane_box.append(max(it.h for it in inside))
        lane_top.append(y)
        lane_h.append(lane_d[-1] + lane_box[-1] + 4 * LINE + 10)
        y += lane_h[-1] + LANE_GAP
    height = y - LANE_GAP + 12

    for it in items:  # the front faces of a lane share one centre line
        it.cx = col_x[it.col] + col_w[it.col] / 2
        it.cy = lane_top[it.lane] + lane_d[it.lane] + lane_box[it.lane] / 2
    out = [_svg_open(width, height),
           ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>'
            '<marker id="arrow-skip" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c0392b"/></marker></defs>'),
           f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="white"/>']
    t = report.totals
    title = report.name or "network"
    out.append(_text(20, 18, title, "title", "start", "bold", 13))
    out.append(_text(20, 32, f"input {shape_text(report.input_shape)} → output {shape_text(report.output_shape)} · "
                             f"params {quantity(t['params'], True)} · MACs {quantity(t['macs'], True)}",
                     "subtitle", "start", size=FONT))

    # frames around expanded blocks
    out.append('<g class="frames">')
    for b in sorted(frames, key=lambda b: b.depth):
        inside = [it for it in items if it.kind != "input" and it.rows.start >= b.start and it.rows.stop <= b.end]
        if not inside:
            continue
        level = frame_depths.index(b.depth)
        x0 = min(col_x[it.col] for it in inside) - 6 + 3 * level
        x1 = max(col_x[it.col] + col_w[it.col] for it in inside) + 6 - 3 * level
        lanes = {it.lane for it in inside}
        y0 = title_h + 14 * level if min(lanes) == 0 else lane_top[min(lanes)] - 22 + 3 * level
        y1 = lane_top[max(lanes)] + lane_h[max(lanes)] + 4 - 3 * level
        out.append(f'<rect class="frame" x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" '
                   f'rx="6" fill="none" stroke="#8c8c8c" stroke-dasharray="4 3" stroke-width="0.8"/>')
        label = f"{b.path} · {b.type}"
        max_chars = max(int((x1 - x0 - 8) / CHAR), 1)
        if len(label) > max_chars:
            label = b.path if len(b.path) <= max_chars else b.path[:max(max_chars - 1, 1)] + "…"
        out.append(_text(x0 + 5, y0 + 11, label, "frame-label", "start", size=9, fill="#666"))
    out.append("</g>")

    # edges
    out.append('<g class="edges">')
    cells = {(o.col, o.lane) for o in items}
    for it in items[1:]:
        for s in it.sources:
            out.append(_edge(by_key[s], it, cells, col_x, col_w, arc_h))
    out.append("</g>")

    # boxes
    for it in items:
        fam = "input" if it.kind == "input" else "block" if it.kind == "block" else family(it.type)
        cls = "input" if it.kind == "input" else "layer"
        attrs = f'class="{cls}" data-name="{xml_attr(it.name)}" data-type="{xml_attr(it.type)}"'
        out.append(f"<g {attrs}>")
        if it.kind == "merge":
            out.append(f'<circle cx="{it.cx:.1f}" cy="{it.cy:.1f}" r="10" fill="#fff" stroke="#555"/>')
            out.append(_text(it.cx, it.cy + 4, MERGE_SIGN[it.type], size=12, weight="bold"))
        else:
            x0 = it.cx - (it.w + it.d) / 2
            out.append(_cuboid(x0, it.cy - it.h / 2, it.w, it.h, it.d, COLORS[fam]))
        ly = lane_top[it.lane] + lane_d[it.lane] + lane_box[it.lane] + 14
        for k, line in enumerate(it.lines):
            if line:
                out.append(_text(it.cx, ly + k * LINE, line, ("name", "type", "shape", "params")[k],
                                 weight="bold" if k == 0 else None, fill="#222" if k != 1 else "#555"))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _edge(a: Item, b: Item, cells, col_x, col_w, arc_h) -> str:
    ax = a.cx + (a.w + a.d) / 2 if a.kind != "merge" else a.cx + 10
    bx = b.cx - (b.w + b.d) / 2 if b.kind != "merge" else b.cx - 10
    ay, by = a.cy, b.cy
    between = any((c, a.lane) in cells for c in range(a.col + 1, b.col))
    if a.lane == b.lane and not between:
        return (f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx - 1:.1f}" y2="{by:.1f}" stroke="#555" '
                f'stroke-width="1.2" marker-end="url(#arrow)"/>')
    if a.lane == b.lane:  # a skip over boxes: an arc above them
        h = arc_h.get((a.key, b.key), 26)
        top_a = a.cy - a.h / 2 - a.d if a.kind != "merge" else a.cy - 10
        top_b = b.cy - b.h / 2 - b.d if b.kind != "merge" else b.cy - 10
        peak = min(top_a, top_b) - h
        x1, x2 = a.cx, b.cx
        r = min(12.0, (x2 - x1) / 2, (min(top_a, top_b) - peak) / 2)
        d = (f"M{x1:.1f},{top_a:.1f} L{x1:.1f},{peak + r:.1f} Q{x1:.1f},{peak:.1f} {x1 + r:.1f},{peak:.1f} "
             f"L{x2 - r:.1f},{peak:.1f} Q{x2:.1f},{peak:.1f} {x2:.1f},{peak + r:.1f} L{x2:.1f},{top_b - 1:.1f}")
        return (f'<path class="skip" d="{d}" fill="none" stroke="#c0392b" stroke-width="1.4" '
                f'marker-end="url(#arrow-skip)"/>')
    # into or out of a branch lane: turn in the gap next to the lower end's column
    if b.lane > a.lane:
        xt = col_x[a.col] + col_w[a.col] + GAP / 2
    else:
        xt = col_x[b.col] - GAP / 2
    r = min(8.0, abs(by - ay) / 2)
    sgn = 1 if by > ay else -1
    d = (f"M{ax:.1f},{ay:.1f} L{xt - r:.1f},{ay:.1f} Q{xt:.1f},{ay:.1f} {xt:.1f},{ay + sgn * r:.1f} "
         f"L{xt:.1f},{by - sgn * r:.1f} Q{xt:.1f},{by:.1f} {xt + r:.1f},{by:.1f} L{bx - 1:.1f},{by:.1f}")
    return (f'<path class="branch" d="{d}" fill="none" stroke="#555" stroke-width="1.2" '
            f'marker-end="url(#arrow)"/>')


# ----------------------------------------------------------------------------- receptive-field chart

def _nice(v: float) -> float:
    """A round axis maximum at or above ``v``."""
    if v <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * e >= v:
            return m * e
    return 10 * e


def rf_points(report: Report) -> list[dict]:
    """Per row with a numeric field: index, name, size and jump per axis."""
    out = []
    for i, r in enumerate(report.layers, 1):
        if r.rf is None:
            continue
        size, jump = r.rf["size"], r.rf["jump"]
        if not all(isinstance(v, (int, float)) or is_int(v) for v in list(size) + list(jump)):
            continue
        out.append({"index": i, "name": r.name, "size": [float(v) for v in size], "jump": [float(v) for v in jump]})
    return out


def draw_rf(report: Report) -> str:
    """Receptive-field size (left axis) and jump (right axis) by layer, as an SVG line chart."""
    pts = rf_points(report)
    n = len(report.layers)
    names = [r.name for r in report.layers]
    longest = max((len(s) for s in names), default=4)
    step_x = 22.0 if n <= 40 else max(6.0, 900.0 / n)
    left, right, top = 70.0, 70.0, 56.0
    plot_w = max(480.0, step_x * max(n, 1))
    plot_h = 300.0
    label_every = max(1, math.ceil(12 / step_x))
    bottom = 28 + min(longest, 28) * 0.9 * CHAR * 0.72  # rotated 9px labels
    width, height = left + plot_w + right, top + plot_h + bottom + 24
    out = [_svg_open(width, height),
           f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="white"/>',
           _text(left, 20, f"Receptive field by layer · {report.name or 'network'}", "title", "start", "bold", 13)]
    if not pts:
        out.append(_text(width / 2, top + plot_h / 2, "no numeric receptive fields (symbolic sizes need --set, "
                                                      "and fields end at Flatten/Linear)", "note"))
        out.append("</svg>")
        return "\n".join(out) + "\n"
    axes = len(pts[0]["size"])
    differ = any(len(set(p["size"])) > 1 or len(set(p["jump"])) > 1 for p in pts)
    smax = _nice(max(max(p["size"]) for p in pts))
    jmax = _nice(max(max(p["jump"]) for p in pts))

    def px(i):
        return left + (i - 0.5) * (plot_w / max(n, 1))

    def py(v, vmax):
        return top + plot_h - v / vmax * plot_h

    # axes, grid and ticks
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w:.1f}" height="{plot_h}" fill="none" stroke="#333"/>')
    for k in range(6):
        v = smax * k / 5
        y = py(v, smax)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(_text(left - 6, y + 3, _fmt(v), "tick", "end", fill="#1f77b4"))
        out.append(_text(left + plot_w + 6, y + 3, _fmt(jmax * k / 5), "tick", "start", fill="#d62728"))
    out.append(_text(18, top + plot_h / 2, "RF size (input pixels)", "axis-label", fill="#1f77b4")
               .replace("<text ", f'<text transform="rotate(-90 18 {top + plot_h / 2:.1f})" '))
    out.append(_text(width - 14, top + plot_h / 2, "jump (input pixels)", "axis-label", fill="#d62728")
               .replace("<text ", f'<text transform="rotate(90 {width - 14:.1f} {top + plot_h / 2:.1f})" '))
    for i in range(1, n + 1):
        x = px(i)
        out.append(f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 4}" stroke="#333"/>')
        if (i - 1) % label_every == 0:
            name = names[i - 1] if len(names[i - 1]) <= 28 else "…" + names[i - 1][-27:]
            ty = top + plot_h + 10
            out.append(f'<text x="{x:.1f}" y="{ty:.1f}" font-size="9" text-anchor="end" fill="#333" '
                       f'transform="rotate(-45 {x:.1f} {ty:.1f})" class="xlabel">{xml_text(name)}</text>')
    out.append(_text(left + plot_w / 2, height - 8, "layer (in order)", "axis-label"))

    # series: RF size and jump per axis (one line each when all axes agree)
    axis_names = {1: ["L"], 2: ["H", "W"], 3: ["D", "H", "W"]}.get(axes, [str(a) for a in range(axes)])
    series = []
    for a in (range(axes) if differ else [0]):
        suffix = f" ({axis_names[a]})" if differ else ""
        series.append(("size", a, "#1f77b4", smax, "RF size" + suffix, "" if a == 0 else "5 3"))
        series.append(("jump", a, "#d62728", jmax, "jump" + suffix, "" if a == 0 else "5 3"))
    by_index = {p["index"]: p for p in pts}
    for key, a, color, vmax, label, dash in series:
        segs, cur = [], []
        for i in range(1, n + 1):
            p = by_index.get(i)
            if p is None:
                if cur:
                    segs.append(cur)
                cur = []
                continue
            cur.append((px(i), py(p[key][a], vmax)))
        if cur:
            segs.append(cur)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        for seg in segs:
            pts_text = " ".join(f"{x:.1f},{y:.1f}" for x, y in seg)
            out.append(f'<polyline class="rf-{key}-line" points="{pts_text}" fill="none" stroke="{color}" '
                       f'stroke-width="1.6"{dash_attr}/>')
        for i, p in by_index.items():
            out.append(f'<circle class="rf-{key}" cx="{px(i):.1f}" cy="{py(p[key][a], vmax):.1f}" r="2.6" '
                       f'fill="{color}" data-index="{i}" data-axis="{a}" data-layer="{xml_attr(p["name"])}" '
                       f'data-value="{_fmt(p[key][a])}"><title>{xml_text(p["name"])}: {label} {_fmt(p[key][a])}'
                       f'</title></circle>')
    # legend
    lx = left + 10
    for key, a, color, vmax, label, dash in series:
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{lx:.1f}" y1="{top - 14}" x2="{lx + 18:.1f}" y2="{top - 14}" stroke="{color}" '
                   f'stroke-width="2"{dash_attr}/>')
        out.append(_text(lx + 22, top - 11, label, "legend", "start"))
        lx += 30 + len(label) * CHAR + 12
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.2f}".rstrip("0").rstrip(".")


# ----------------------------------------------------------------------------- PNG

class NoConverter(Exception):
    """No SVG → PNG converter is available."""


PNG_HELP = ("writing PNG needs an SVG converter: pip install cairosvg, or install rsvg-convert "
            "(apt-get install librsvg2-bin) or ImageMagick; or write .svg instead")


def to_png(svg: str, path: str) -> str:
    """Convert with cairosvg if importable, else rsvg-convert, else ImageMagick; returns the tool used."""
    try:
        import cairosvg  # type: ignore[import-not-found]

        cairosvg.svg2png(bytestring=svg.encode("utf-8"), write_to=path)
        return "cairosvg"
    except ImportError:
        pass
    for tool, cmd in (("rsvg-convert", ["rsvg-convert", "-f", "png", "-o", path]),
                      ("magick", ["magick", "svg:-", path]), ("convert", ["convert", "svg:-", path])):
        if shutil.which(tool):
            done = subprocess.run(cmd, input=svg.encode("utf-8"), capture_output=True, check=False)
            if done.returncode == 0 and os.path.exists(path):
                return tool
            raise RuntimeError(f"{tool} failed: {done.stderr.decode(errors='replace').strip()[:300]}")
    raise NoConverter(PNG_HELP)
