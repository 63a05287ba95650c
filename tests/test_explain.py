"""--explain: the worked answers' numbers must be the computed values (checked by evaluating the text)."""

from __future__ import annotations

import re

import pytest
import sympy

from netcalc.network import analyze_text
from netcalc.render import render

NETS = {
    "seed": None,  # filled from the fixture
    "mixed": """\
input: [2, 3, 31, 29]
layers:
  - Conv2d: {out_channels: 8, kernel_size: [3, 5], stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 1}
  - MaxPool2d: {kernel_size: 3, stride: 2, ceil_mode: true}
  - DepthwiseConv2d: {kernel_size: 3, depth_multiplier: 2, padding: 1}
  - ConvTranspose2d: {out_channels: 4, kernel_size: 4, stride: 2, padding: 1, output_padding: 1}
  - AvgPool2d: {kernel_size: 2}
  - Flatten
  - Linear: {out_features: 7, bias: false}
""",
}


def evaluate(formula: str):
    """The arithmetic of a step's formula as a number (words such as 'outputs' are labels)."""
    text = re.sub(r"\b(outputs|fan-in|in_features|inputs)\b", "", formula)
    text = text.replace("·", "*").replace("−", "-").replace(",", "")
    text = text.replace("⌊", "floor(").replace("⌋", ")").replace("⌈", "ceiling(").replace("⌉", ")")
    text = re.sub(r"\)\s*\(", ")*(", text)
    text = re.sub(r"(\d)\s+\(", r"\1*(", text)
    text = re.sub(r"\)\s+(\d)", r")*\1", text)
    text = re.sub(r"(\d)\s+(\d)", r"\1*\2", text)
    return sympy.sympify(text, locals={"floor": sympy.floor, "ceiling": sympy.ceiling})


@pytest.mark.parametrize("net", ["seed", "mixed"])
def test_every_numeric_formula_evaluates_to_its_value(net, seed_text):
    report = analyze_text(seed_text if net == "seed" else NETS[net], explain=True)
    checked = 0
    for row in report.layers:
        for steps in row.explain.values():
            for st in steps:
                if not st.formula or st.prose or "less 1" in st.formula:
                    continue
                assert evaluate(st.formula) == st.value, (row.name, st.text())
                checked += 1
    assert checked > 20


def test_values_are_the_reported_numbers(seed_text):
    report = analyze_text(seed_text, explain=True)
    for row in report.layers:
        steps = {st.label: st.value for s in row.explain.values() for st in s}
        if "params" in steps:
            assert steps["params"] == row.params
        if "MACs" in steps:
            assert steps["MACs"] == row.macs and steps["FLOPs"] == row.flops
        for i, axis in enumerate(("H", "W")):
            if f"{axis}'" in steps:
                assert steps[f"{axis}'"] == row.output_shape[2 + i]
            if f"r_{axis}" in steps:
                assert steps[f"r_{axis}"] == row.rf["size"][i] and steps[f"j_{axis}"] == row.rf["jump"][i]


def test_the_seed_answer_reads_like_a_worked_answer(seed_text):
    text = render(analyze_text(seed_text, explain=True), "summary", "table")
    assert "H' = W' = ⌊(512 + 2·2 − 1·(5 − 1) − 1) / 2⌋ + 1 = 256" in text
    assert "params = 128·3·5·5 + 128 = 9,728" in text
    assert "r_H = r_W = 5 + (5 − 1)·2 = 13" in text and "j_H = j_W = 2·2 = 4" in text


def test_markdown_has_latex(seed_text):
    md = render(analyze_text(seed_text, explain=True), "shapes", "markdown")
    assert r"$H' = W' = \left\lfloor (512 + 2 \cdot 2 - 1 \cdot (5 - 1) - 1) / 2 \right\rfloor + 1 = 256$" in md


def test_symbolic_formulas_show_letters():
    report = analyze_text("input: [B, C, H, W]\nlayers:\n  - Conv2d: {out_channels: N, kernel_size: K, padding: P}\n",
                          explain=True)
    steps = {st.label: st for s in report.layers[0].explain.values() for st in s}
    assert steps["H'"].formula == "⌊(H + 2·P − 1·(K − 1) − 1) / 1⌋ + 1"
    names = {n: sympy.Symbol(n, integer=True, positive=True) for n in "NCK"}
    expected = sympy.sympify("N*C*K**2 + N", locals=names)
    assert sympy.simplify(sympy.sympify(str(steps["params"].value), locals=names) - expected) == 0


def test_explain_in_json_and_cli(cli, spec_file, seed_text):
    path = spec_file(seed_text)
    r = cli("rf", path, "--explain")
    assert r.exit_code == 0 and "r_H = r_W = 1 + (5 − 1)·1 = 5" in r.stdout
    r = cli("params", path, "--explain", "--format", "json")
    import json

    doc = json.loads(r.stdout)
    assert "params = 128·3·5·5 + 128 = 9,728" in doc["layers"][0]["explain"]["params"]
