"""``netcalc draw``: the SVG parses, has one box per layer with the report's labels, stays on its
canvas without overlapping labels, and the --rf chart plots the report's receptive fields."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import xml.etree.ElementTree as ET

import pytest

from netcalc.draw import CHAR, draw, draw_rf, rf_points
from netcalc.errors import SpecError
from netcalc.network import analyze
from netcalc.render import quantity, shape_text
from netcalc.spec import parse

NS = {"s": "http://www.w3.org/2000/svg"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CPEN = os.path.join(ROOT, "specs", "homework", "cpen455_cnn.yaml")
RESNET = os.path.join(ROOT, "netcalc", "zoo", "resnet18.yaml")


def load(path, values=None):
    with open(path, encoding="utf-8") as fh:
        return analyze(parse(fh.read(), path), values)


def svg_of(path, depth=None):
    report = load(path)
    return report, ET.fromstring(draw(report, depth))


def boxes(root):
    return root.findall(".//s:g[@class='layer']", NS)


def texts(g) -> dict:
    return {t.get("class"): t.text for t in g.findall("s:text", NS)}


def test_one_box_per_layer_with_name_type_shape_and_params():
    report, root = svg_of(CPEN)
    gs = boxes(root)
    assert len(gs) == len(report.layers) == 11
    assert len(root.findall(".//s:g[@class='input']", NS)) == 1
    for g, row in zip(gs, report.layers):
        t = texts(g)
        assert t["name"] == row.name and t["type"] == row.type
        assert t["shape"] == shape_text(row.output_shape)
        assert t["params"] == f"{quantity(row.params, True)} params"
    assert texts(gs[0])["params"] == "9,728 params" and texts(gs[-1])["shape"] == "100 × 10"


def test_box_size_follows_the_tensor():
    """Height grows with the spatial size, thickness with the channels (log scale)."""
    _, root = svg_of(CPEN)
    fronts = {g.get("data-name"): g.find("s:rect", NS) for g in boxes(root)}
    h = {k: float(r.get("height")) for k, r in fronts.items()}
    w = {k: float(r.get("width")) for k, r in fronts.items()}
    assert h["H1"] > h["H2"] > h["H3"] == h["H4"] > h["H5"]  # 256, 128, 64, 64, 32
    assert w["H1"] > w["H2"] > w["H3"] > w["H4"]  # 128, 64, 32, 16 channels


def test_resnet_at_depth_1_draws_blocks():
    _, root = svg_of(RESNET, depth=1)
    names = [g.get("data-name") for g in boxes(root)]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1.0", "layer1.1", "layer2.0", "layer2.1",
                     "layer3.0", "layer3.1", "layer4.0", "layer4.1", "avgpool", "flatten", "fc"]
    by_name = {g.get("data-name"): texts(g) for g in boxes(root)}
    assert by_name["layer2.0"]["params"] == "230,144 params" and by_name["layer4.1"]["shape"] == "1 × 512 × 7 × 7"
    frames = [t.text for t in root.findall(".//s:text[@class='frame-label']", NS)]
    assert [f.split(" ·")[0] for f in frames] == ["layer1", "layer2", "layer3", "layer4"]


def test_resnet_skips_are_arcs_and_downsample_branches_get_a_lane():
    report, root = svg_of(RESNET)
    assert len(boxes(root)) == len(report.layers)
    # 8 residual adds: the 5 identity shortcuts jump over boxes as arcs; the 3 downsample shortcuts
    # run in a lane of their own
    assert len(root.findall(".//s:path[@class='skip']", NS)) == 5
    assert len(root.findall(".//s:path[@class='branch']", NS)) == 6
    adds = [i for i, r in enumerate(report.layers) if r.type == "Add"]
    first = adds[0]
    assert [report.layers[i].name for i in report.layers[first].inputs] == ["layer1.0.bn2", "maxpool"]


def _label_spans(root):
    """(y, x0, x1) of every box label, from the monospace width."""
    out = []
    for g in boxes(root) + root.findall(".//s:g[@class='input']", NS):
        for t in g.findall("s:text", NS):
            if t.text and t.get("class") in ("name", "type", "shape", "params"):
                x, half = float(t.get("x")), len(t.text) * CHAR / 2
                out.append((float(t.get("y")), x - half, x + half))
    return out


@pytest.mark.parametrize("path, depth", [(CPEN, None), (RESNET, None), (RESNET, 1), (RESNET, 0)])
def test_layout_stays_on_canvas_without_overlaps(path, depth):
    _, root = svg_of(path, depth)
    width, height = float(root.get("width")), float(root.get("height"))
    spans = _label_spans(root)
    for y, x0, x1 in spans:
        assert 0 <= x0 and x1 <= width and 0 < y <= height
    rows: dict[float, list] = {}
    for y, x0, x1 in spans:
        rows.setdefault(y, []).append((x0, x1))
    for y, row in rows.items():
        row.sort()
        for (_, a1), (b0, _) in itertools.pairwise(row):
            assert a1 <= b0, f"labels overlap at y={y}"
    fronts = []
    for g in boxes(root):
        r = g.find("s:rect", NS)
        if r is not None:
            x, y, w, h = (float(r.get(k)) for k in ("x", "y", "width", "height"))
            assert x >= 0 and x + w <= width and y >= 0 and y + h <= height
            fronts.append((x, y, x + w, y + h))
    for i, a in enumerate(fronts):
        for b in fronts[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], "boxes overlap"


def test_rf_chart_points_match_the_report():
    report = load(RESNET)
    root = ET.fromstring(draw_rf(report))
    circles = root.findall(".//s:circle[@class='rf-size']", NS)
    with_rf = [(i, r) for i, r in enumerate(report.layers, 1) if r.rf is not None]
    assert len(circles) == len(with_rf)
    for c, (i, row) in zip(circles, with_rf):
        assert int(c.get("data-index")) == i and c.get("data-layer") == row.name
        assert float(c.get("data-value")) == row.rf["size"][0]
    jumps = root.findall(".//s:circle[@class='rf-jump']", NS)
    assert [float(c.get("data-value")) for c in jumps] == [r.rf["jump"][0] for _, r in with_rf]
    # higher on the chart means larger
    by_value = sorted(circles, key=lambda c: float(c.get("data-value")))
    ys = [float(c.get("cy")) for c in by_value]
    assert ys == sorted(ys, reverse=True)
    assert max(float(c.get("data-value")) for c in circles) == 435  # resnet18's field at layer4
    labels = [t.text for t in root.findall(".//s:text[@class='xlabel']", NS)]
    assert "conv1" in labels and root.find(".//s:text[@class='title']", NS).text.startswith("Receptive field")


def test_rf_chart_per_axis_when_axes_differ(spec_file):
    path = spec_file("input: [1, 1, 64, 32]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: [5, 3]}\n"
                     "  - MaxPool2d: {kernel_size: [2, 1]}\n")
    report = load(path)
    root = ET.fromstring(draw_rf(report))
    sizes = root.findall(".//s:circle[@class='rf-size']", NS)
    assert {(c.get("data-axis"), c.get("data-value")) for c in sizes} == {("0", "5"), ("1", "3"), ("0", "6")}
    assert rf_points(report)[1]["size"] == [6.0, 3.0]


def test_symbolic_and_rf_free_specs_still_draw(spec_file):
    report = load(os.path.join(ROOT, "specs", "classics", "symbolic.yaml"))
    ET.fromstring(draw(report, None))
    ET.fromstring(draw_rf(report))
    report = load(os.path.join(ROOT, "specs", "classics", "lstm_lm.yaml"))
    root = ET.fromstring(draw_rf(report))
    assert root.find(".//s:text[@class='note']", NS) is not None


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "specs", "**", "*.yaml"), recursive=True)
                                        + glob.glob(os.path.join(ROOT, "netcalc", "zoo", "*.yaml"))))
def test_every_spec_draws(path):
    try:
        report = load(path)
    except SpecError as e:  # specs with blanks (for solve) are not drawable as they are
        pytest.skip(f"{os.path.basename(path)}: {e}")
    root = ET.fromstring(draw(report, None))
    assert len(boxes(root)) == len(report.layers)


# ----------------------------------------------------------------------------- the command

def test_cli_writes_svg(cli, tmp_path):
    out = tmp_path / "net.svg"
    r = cli("draw", CPEN, "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert len(boxes(ET.parse(out).getroot())) == 11
    r = cli("draw", "resnet18", "--rf")
    assert r.exit_code == 0 and r.stdout.startswith("<svg")


def test_cli_png_without_a_converter_says_how(cli, tmp_path, monkeypatch):
    import builtins
    import sys

    real_import = builtins.__import__

    def no_cairo(name, *a, **kw):
        if name == "cairosvg":
            raise ImportError(name)
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_cairo)
    monkeypatch.delitem(sys.modules, "cairosvg", raising=False)
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    r = cli("draw", CPEN, "-o", str(tmp_path / "net.png"))
    assert r.exit_code == 2
    assert "cairosvg" in r.stderr and "rsvg-convert" in r.stderr and ".svg" in r.stderr


@pytest.mark.skipif(not shutil.which("rsvg-convert"), reason="rsvg-convert is not installed")
def test_cli_png_with_rsvg_convert(cli, tmp_path):
    out = tmp_path / "net.png"
    r = cli("draw", CPEN, "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_rejects_other_extensions_and_bad_specs(cli, tmp_path, spec_file):
    r = cli("draw", CPEN, "-o", str(tmp_path / "net.txt"))
    assert r.exit_code == 2 and ".svg or .png" in r.stderr
    r = cli("draw", spec_file("input: [1, 3]\nlayers:\n  - Conv2d: {out_channels: 4}\n"))
    assert r.exit_code == 1 and "error:" in r.stderr
