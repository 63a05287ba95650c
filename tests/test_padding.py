"""solve-padding: per-axis answers against the forward formulas, symbols, specs with output_padding: auto."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netcalc.arith import transposed_out, window_out
from netcalc.network import analyze_text
from netcalc.padding import solve, solve_axis
from netcalc.symbolic import ceil_div, symbol


@settings(max_examples=300, deadline=None, derandomize=True)
@given(size=st.integers(1, 300), kernel=st.integers(1, 9), stride=st.integers(1, 5), padding=st.integers(0, 4),
       dilation=st.integers(1, 3))
def test_answers_satisfy_the_forward_formulas(size, kernel, stride, padding, dilation):
    if dilation * (kernel - 1) + 1 > size + 2 * padding:
        return
    a = solve_axis(size, kernel, stride, padding, dilation)
    assert a.conv_output == window_out(size, kernel, stride, padding, dilation)
    assert 0 <= a.output_padding < max(stride, dilation)
    assert transposed_out(a.conv_output, kernel, stride, padding, dilation, a.output_padding) == size
    before, after = a.same_padding
    assert 0 <= before <= after <= before + 1
    assert window_out(size, kernel, stride, (before, after), dilation) == ceil_div(size, stride)


def test_the_seed_output_padding_question_in_numbers_and_symbols(cli):
    r = cli("solve-padding", "--size", "28", "--kernel", "3", "--stride", "2", "--padding", "1", "--format", "json")
    assert json.loads(r.stdout) == {"axes": [{"size": 28, "kernel": 3, "stride": 2, "padding": 1, "dilation": 1,
                                              "conv_output": 14, "output_padding": 1, "same_padding": [0, 1]}]}
    r = cli("solve-padding", "--size", "H", "--kernel", "K", "--stride", "S", "--padding", "P", "--format", "json")
    axis = json.loads(r.stdout)["axes"][0]
    assert axis["output_padding"] == "Mod(H + 2*P - K, S)"
    H, K, S, P = (symbol(n) for n in "HKSP")
    sym = solve_axis(H, K, S, P)
    for h, k, s, p in [(28, 3, 2, 1), (29, 5, 3, 2), (100, 7, 4, 3)]:
        subs = {H: h, K: k, S: s, P: p}
        num = solve_axis(h, k, s, p)
        assert sym.output_padding.subs(subs) == num.output_padding
        assert sym.conv_output.subs(subs) == num.conv_output
        assert [v.subs(subs) for v in sym.same_padding] == list(num.same_padding)


def test_axes_lists_and_broadcast():
    axes = solve({"size": "28,32", "kernel": "3", "stride": "2,1", "padding": "1"})
    assert [a.conv_output for a in axes] == [14, 32]
    assert [a.output_padding for a in axes] == [1, 0]


@pytest.mark.parametrize("args, needle", [
    (["--size", "28"], "--kernel is required"),
    (["--size", "28,29,30", "--kernel", "3,3"], "one value or one per axis"),
    (["--size", "5", "--kernel", "9"], "does not fit"),
    (["--size", "abc$", "--kernel", "3"], "unexpected character"),
    (["--size", "28", "--kernel", "0"], "at least 1"),
])
def test_usage_errors(cli, args, needle):
    r = cli("solve-padding", *args)
    assert r.exit_code == 2 and needle in r.stderr


AUTOENCODER = """\
input: [1, 1, 28, 27]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1, name: enc1}
  - Conv2d: {out_channels: 16, kernel_size: 3, stride: 2, padding: 1, name: enc2}
  - ConvTranspose2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1, output_padding: auto}
  - ConvTranspose2d: {out_channels: 1, kernel_size: 3, stride: 2, padding: 1, output_padding: auto, match: enc1}
"""


def test_auto_output_padding_mirrors_the_encoder():
    report = analyze_text(AUTOENCODER)
    assert [c["match"] for c in report.choices] == ["enc2", "enc1"]
    assert report.layers[2].output_shape == (1, 8, 14, 14) and report.layers[3].output_shape == (1, 1, 28, 27)
    assert report.choices[1]["output_padding"] == [1, 0]


def test_auto_that_cannot_work_says_why_and_how(cli, spec_file):
    bad = AUTOENCODER.replace("padding: 1, output_padding: auto, match: enc1", "padding: 3, output_padding: auto, match: enc1")
    path = spec_file(bad)
    r = cli("solve-padding", path, "--format", "json")
    choice = json.loads(r.stdout)["choices"][1]
    assert choice["output_padding"] is None and "padding=1 with output_padding=1 would" in choice["why"]
    r = cli("shapes", path)
    assert r.exit_code == 1 and ":6:" in r.stderr and "output_padding: auto" in r.stderr


def test_solve_padding_shows_textbook_formulas(cli):
    """The table shows ⌊(H + 2·P − K)/S⌋ + 1 and (H + 2·P − K) mod S; CSV the same in sympy's syntax."""
    table = cli("solve-padding", "--size", "H", "--kernel", "K", "--stride", "S", "--padding", "P").output
    assert "⌊(H + 2·P − K)/S⌋ + 1" in table and "(H + 2·P − K) mod S" in table
    csv = cli("solve-padding", "--size", "H", "--kernel", "K", "--stride", "S", "--padding", "P", "--format", "csv")
    assert "floor(" in csv.output and "⌊" not in csv.output
