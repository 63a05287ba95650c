"""netcalc.render: one report as JSON, CSV, Markdown and a rich table."""

from __future__ import annotations

import csv
import io
import json

import pytest

from netcalc.network import analyze_text
from netcalc.render import COLUMNS, quantity, render, shape_text, short
from netcalc.symbolic import symbol

LAYER_KEYS = {"index", "name", "type", "input_shape", "output_shape", "state_shapes", "weights", "biases",
              "params", "macs", "flops", "rf"}
TOTAL_KEYS = {"weights", "biases", "params", "macs", "flops"}

SMALL = """
name: small
input: [2, 4, 9]
layers:
  - Conv1d: {out_channels: 2, kernel_size: 3, stride: 2}
  - Flatten
  - Linear: {out_features: 3}
"""
# Conv1d: ⌊6/2⌋+1 = 4; 2·4·3 + 2 = 26 params; MACs 2·2·4 outputs × 12 = 192, FLOPs 16 × 24 = 384
# Linear: 8 → 3: 27 params; MACs 6 × 8 = 48, FLOPs 6 × 16 = 96


@pytest.fixture
def small():
    return analyze_text(SMALL)


def test_json_document(small):
    doc = json.loads(render(small, "shapes", "json"))
    assert {"name", "input_shape", "output_shape", "layers", "totals"} <= set(doc)   # the document may add keys
    assert doc["name"] == "small" and doc["input_shape"] == [2, 4, 9] and doc["output_shape"] == [2, 3]
    for layer in doc["layers"]:
        assert LAYER_KEYS <= set(layer)
    conv, flat, lin = doc["layers"]
    assert {k: conv[k] for k in LAYER_KEYS} == {
        "index": 1, "name": "Conv1d_1", "type": "Conv1d", "input_shape": [2, 4, 9], "output_shape": [2, 2, 4],
        "state_shapes": None, "weights": 24, "biases": 2, "params": 26, "macs": 192, "flops": 384,
        "rf": {"size": [3], "jump": [2], "start": [1]}}
    assert flat["rf"] is None and lin["rf"] is None
    totals = {k: doc["totals"][k] for k in TOTAL_KEYS}
    assert totals == {"weights": 24 + 24, "biases": 2 + 3, "params": 53, "macs": 192 + 48, "flops": 384 + 96}


@pytest.mark.parametrize("command", list(COLUMNS))
def test_json_is_the_same_for_every_command(small, command):
    assert render(small, command, "json") == render(small, "summary", "json")


def test_csv(small):
    rows = list(csv.reader(io.StringIO(render(small, "summary", "csv"))))
    assert rows[0] == ["index", "name", "type", "output_shape", "weights", "biases", "params", "macs", "flops",
                       "rf_size", "rf_jump"]
    assert rows[1] == ["1", "Conv1d_1", "Conv1d", "2x2x4", "24", "2", "26", "192", "384", "3", "2"]
    assert rows[2][3] == "2x8" and rows[2][9:] == ["-", "-"]
    assert rows[-1][:2] == ["", "total"] and rows[-1][3:4] + rows[-1][6:9] == ["2x3", "53", "240", "480"]
    assert len(rows) == 1 + 3 + 1


@pytest.mark.parametrize("command, columns", [
    ("shapes", ["input_shape", "output_shape"]),
    ("params", ["output_shape", "weights", "biases", "params"]),
    ("flops", ["output_shape", "macs", "flops"]),
    ("rf", ["output_shape", "rf_size", "rf_jump", "rf_start"]),
])
def test_csv_columns_per_command(small, command, columns):
    header = render(small, command, "csv").splitlines()[0].split(",")
    assert header == ["index", "name", "type", *columns]


def test_state_shapes_column_for_rnns():
    report = analyze_text("input: [5, 2, 4]\nlayers:\n  - LSTM: {hidden_size: 3}\n")
    rows = list(csv.reader(io.StringIO(render(report, "shapes", "csv"))))
    assert rows[0][-1] == "state_shapes"
    assert rows[1][-1] == "h_n 1x2x3; c_n 1x2x3"


def test_markdown(small):
    lines = render(small, "params", "markdown").splitlines()
    assert lines[0] == "**small**: input 2 × 4 × 9"
    header = next(i for i, l in enumerate(lines) if l.startswith("| #"))
    assert lines[header] == "| # | name | type | output shape | weights | biases | params |"
    assert lines[header + 1] == "|---:|---|---|---|---:|---:|---:|"
    assert lines[header + 2] == "| 1 | Conv1d_1 | Conv1d | 2 × 2 × 4 | 24 | 2 | 26 |"
    assert lines[-1] == "|  | **total** |  | **2 × 3** | **48** | **5** | **53** |"


def test_table(small):
    text = render(small, "flops", "table")
    assert "small" in text.splitlines()[0]
    for needle in ("MACs", "FLOPs", "Conv1d_1", "Linear_3", "total", "192", "480"):
        assert needle in text
    assert "input 2 × 4 × 9 → output 2 × 3" in text


def test_big_numbers_get_separators(seed_text):
    report = analyze_text(seed_text)
    text = render(report, "flops", "table")
    assert "62,914,560,000" in text
    summary = render(report, "summary", "table")  # summary: exact counts, compact costs
    assert "397,434" in summary and "62.91 G" in summary
    assert render(report, "summary", "csv").splitlines()[1].split(",")[7] == "62914560000"


def test_symbolic_cells():
    report = analyze_text("input: [B, 4, 9]\nlayers:\n  - Conv1d: {out_channels: 2, kernel_size: 3, stride: 2}\n")
    rows = list(csv.reader(io.StringIO(render(report, "flops", "csv"))))
    assert rows[1][3:] == ["Bx2x4", "96*B", "192*B"]
    doc = json.loads(render(report, "flops", "json"))
    assert doc["layers"][0]["macs"] == "96*B" and doc["input_shape"] == ["B", 4, 9]


def test_helpers():
    assert shape_text((1, 3, 8)) == "1 × 3 × 8"
    assert shape_text((1, 3, 8), readable=False) == "1x3x8"
    assert shape_text((symbol("H") + 1, 2)) == "(H + 1) × 2"
    assert quantity(1234567) == "1,234,567" and quantity(1234567, readable=False) == "1234567"
    assert quantity(2 * symbol("B")) == "2·B" and quantity(2 * symbol("B"), readable=False) == "2*B"
    assert short(1_258_291_200) == "1.258 G" and short(999) == "999" and short(9728) == "9.728 K"
    assert short(symbol("B")) == ""


def test_a_table_too_wide_for_the_terminal_becomes_one_block_per_layer(monkeypatch):
    """Narrower than its cells, rich would squeeze columns and cut numbers short (issue 10)."""
    from netcalc import render as R
    from netcalc.network import analyze_text

    report = analyze_text("name: wide\ninput: [100, 3, 512, 512]\nlayers:\n"
                          "  - Conv2d: {out_channels: 128, kernel_size: 5, stride: 2, padding: 2, name: H1}\n"
                          "  - ReLU\n", "x.yaml")
    monkeypatch.setattr(R, "_width", lambda: 60)
    text = render(report, "summary", "table")
    assert "┃" not in text and all(len(line) <= 60 for line in text.splitlines()[:-1])
    assert "params 9,728" in text and "MACs 62.91 G" in text and text.splitlines()[1] == "1  H1  Conv2d"
    monkeypatch.setattr(R, "_width", lambda: 250)
    assert "┃" in render(report, "summary", "table")


@pytest.mark.parametrize("expr, unicode, ascii", [
    ("floor(H/2 + 1/2)", "⌈H/2⌉", "ceil(H/2)"),
    ("floor((H + 2*P - K)/S) + 1", "⌊(H + 2·P − K)/S⌋ + 1", "floor((H + 2*P - K)/S) + 1"),
    ("C*K**2*N/M", "C·K²·N/M", "C*K^2*N/M"),
    ("Mod(H - K + 2*P, S)", "(H + 2·P − K) mod S", "(H + 2*P - K) mod S"),
    ("K/2 - 1/2", "(K − 1)/2", "(K - 1)/2"),
    ("floor(H/4 + 3/4)", "⌈H/4⌉", "ceil(H/4)"),
])
def test_formulas_as_a_person_writes_them(expr, unicode, ascii):
    """Tables show textbook forms (issue 10); JSON and CSV keep sympy's strings."""
    import sympy as sp

    from netcalc.mathtext import math_text

    names = {n: symbol(n) for n in "HKPSCNM"}
    value = sp.sympify(expr, locals=names)
    assert math_text(value) == unicode and math_text(value, ascii=True) == ascii
    assert sp.sympify(str(value), locals=names) == value  # the contract's string is untouched


def test_a_piece_too_long_to_break_gets_a_line_of_its_own():
    """The one-block-per-layer layout breaks long formulas at + and −; one without them overflows
    on its own line (the fuzz run found it raising instead)."""
    from netcalc.render import _wrap

    long = "⌊Piecewise((floor(H/4 + 3/4), H <= 2), (H, True))⌋·" * 3
    lines = _wrap(["MACs 12", f"FLOPs {long}", "RF size -"], 40, "    ", " · ")
    assert lines[0] == "    MACs 12" and lines[1] == f"    FLOPs {long}" and lines[2] == "    RF size -"
    broken = _wrap([f"FLOPs {'H·W + ' * 12}1"], 40, "    ", " · ")
    assert len(broken) > 1 and all(len(line) <= 40 for line in broken)
