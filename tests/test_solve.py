"""netcalc solve: the interval solvers of netcalc.arith, the solver on small specs (unique,
several, unbounded and unmet answers; blanks in arguments, input dims and symbols), and the
``solve`` command."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netcalc import arith
from netcalc.errors import SpecError
from netcalc.solver import LIMIT, solve_text

FAST = settings(max_examples=150, deadline=None, derandomize=True, database=None)
CAP = 300  # how far an interval without an upper end is checked


# ---------------------------------------------------------------- arith: one unknown at a time

def members(rng, cap=CAP):
    if rng is None:
        return []
    first, last = rng
    return list(range(first, (last if last is not None else max(first, cap)) + 1))


def conv_out(L, k, s, p, d):
    return arith.window_out(L, k, s, p, d)


windows = st.tuples(st.integers(1, 40), st.integers(1, 7), st.integers(1, 5), st.integers(0, 4),
                    st.integers(1, 3)).filter(lambda t: t[0] + 2 * t[3] - t[4] * (t[1] - 1) - 1 >= 0)


@FAST
@given(windows)
def test_window_solvers_contain_the_generating_value_and_nothing_else(case):
    L, k, s, p, d = case
    out = conv_out(L, k, s, p, d)
    solved = {
        "size": (arith.window_size_range(out, out, k, s, p, d), L, lambda v: conv_out(v, k, s, p, d), 1),
        "padding": (arith.window_padding_range(L, out, out, k, s, d), p, lambda v: conv_out(L, k, s, v, d), 0),
        "kernel": (arith.window_kernel_range(L, out, out, s, p, d), k, lambda v: conv_out(L, v, s, p, d), 1),
        "dilation": (arith.window_dilation_range(L, out, out, k, s, p), d, lambda v: conv_out(L, k, s, p, v), 1),
        "stride": (arith.window_stride_range(L, out, out, k, p, d), s, lambda v: conv_out(L, k, v, p, d), 1),
    }
    for what, (rng, truth, f, least) in solved.items():
        vals = members(rng)
        assert truth in vals, (what, rng)
        for v in vals:
            assert f(v) == out, (what, v)
        # and the interval is complete: its neighbours give another output (or are out of range)
        below, above = rng[0] - 1, None if rng[1] is None else rng[1] + 1
        if below >= least:
            assert (L + 2 * p - d * (k - 1) - 1 < 0 and what != "padding") or f(below) != out, (what, below)
        if above is not None:
            span_ok = what not in ("kernel", "dilation") or L + 2 * p - (above if what == "dilation" else d) * (
                (above if what == "kernel" else k) - 1) - 1 >= 0
            assert not span_ok or f(above) != out, (what, above)


transposed = st.tuples(st.integers(1, 20), st.integers(1, 6), st.integers(1, 4), st.integers(0, 3),
                       st.integers(1, 3), st.integers(0, 3)).filter(
    lambda t: t[5] < max(t[2], t[4]) and arith.transposed_out(t[0], t[1], t[2], t[3], t[4], t[5]) >= 1)


@FAST
@given(transposed)
def test_transposed_solvers_contain_the_generating_value_and_nothing_else(case):
    L, k, s, p, d, op = case
    out = arith.transposed_out(L, k, s, p, d, op)

    def ok(L=L, k=k, s=s, p=p, d=d, op=op):
        return op < max(s, d) and arith.transposed_out(L, k, s, p, d, op) == out

    solved = {
        "size": (arith.transposed_size_range(out, out, k, s, p, d, op), L, lambda v: ok(L=v)),
        "stride": (arith.transposed_stride_range(L, out, out, k, p, d, op), s, lambda v: ok(s=v)),
        "padding": (arith.transposed_padding_range(L, out, out, k, s, d, op), p, lambda v: ok(p=v)),
        "kernel": (arith.transposed_kernel_range(L, out, out, s, p, d, op), k, lambda v: ok(k=v)),
        "dilation": (arith.transposed_dilation_range(L, out, out, k, s, p, op), d, lambda v: ok(d=v)),
        "output_padding": (arith.transposed_output_padding_range(L, out, out, k, s, p, d), op, lambda v: ok(op=v)),
    }
    for what, (rng, truth, f) in solved.items():
        vals = members(rng)
        assert truth in vals, (what, rng)
        assert all(f(v) for v in vals), what
        lo = 0 if what in ("padding", "output_padding") else 1
        assert not any(f(v) for v in range(lo, rng[0])), what
        if rng[1] is not None:
            assert not any(f(v) for v in range(rng[1] + 1, rng[1] + 40)), what


def test_affine_range_edges():
    assert arith.affine_range(2, 1, 5, 9, vmin=0) == (2, 4)
    assert arith.affine_range(-3, 10, 1, None, vmin=0) == (0, 3)
    assert arith.affine_range(0, 4, 1, 5, vmin=1) == (1, None)
    assert arith.affine_range(0, 7, 1, 5, vmin=1) is None
    assert arith.affine_range(1, 0, 5, 3, vmin=0) is None
    assert arith.window_stride_range(8, 1, 1, 3) == (6, None)  # output 1: any stride past the span


# ---------------------------------------------------------------- the solver

def solve(text, **kw):
    return solve_text(text, **kw).to_dict()


def test_contract_example():
    out = solve("""
input: [32, 36, 512, 256]
layers:
  - Conv2d: {out_channels: _, kernel_size: 3, stride: 2, expect: [32, 34, 255, 127]}
""")
    assert out == {"count": 1, "solutions": [{"assignments": {"Conv2d_1.out_channels": 34},
                                              "code": ["nn.Conv2d(36, 34, kernel_size=3, stride=2)"]}]}


def test_per_axis_blank_is_one_unknown_per_axis():
    out = solve("""
input: [1, 36, 512, 256]
layers:
  - Conv2d: {out_channels: 35, kernel_size: [2, 4], stride: [1, 2], padding: _, expect: [1, 35, 517, 128]}
""")
    assert out["count"] == 1
    sol = out["solutions"][0]
    assert sol["assignments"] == {"Conv2d_1.padding": [3, 1]}
    assert sol["code"] == ["nn.Conv2d(36, 35, kernel_size=(2, 4), stride=(1, 2), padding=(3, 1))"]


def test_one_axis_blank_and_equal_axes_collapse():
    out = solve("""
input: [1, 1, 9, 9]
layers:
  - Conv2d: {out_channels: 1, kernel_size: [_, 3], expect: [1, 1, 7, 7]}
""")
    assert out["solutions"][0]["assignments"] == {"Conv2d_1.kernel_size": 3}
    assert out["solutions"][0]["code"] == ["nn.Conv2d(1, 1, kernel_size=3)"]


def test_groups_are_listed_in_order():
    out = solve("""
input: [2, 16, 512, 256]
layers:
  - Conv2d: {out_channels: _, kernel_size: [3, 5], stride: [3, 2], padding: [3, 1], dilation: [2, 1], groups: _,
             expect: [2, 32, 172, 127]}
""")
    assert out["count"] == 5
    assert [s["assignments"]["Conv2d_1.groups"] for s in out["solutions"]] == [1, 2, 4, 8, 16]
    assert out["solutions"][1]["code"][0].endswith("dilation=(2, 1), groups=2)")


def test_lexicographic_order_by_layer_then_argument():
    out = solve("""
input: [1, 1, 10]
layers:
  - Conv1d: {out_channels: 1, kernel_size: _, padding: _, expect: [1, 1, 8]}
  - MaxPool1d: {kernel_size: _, expect: [1, 1, 4]}
""")
    keys = [tuple(s["assignments"].values()) for s in out["solutions"]]
    assert keys == sorted(keys) and len(keys) == len(set(keys))
    assert out["count"] is None and "Conv1d_1.padding" in out["unbounded"]


def test_unbounded_stride():
    out = solve("""
input: [1, 3, 8, 8]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, stride: _, expect: [1, 4, 1, 1]}
""")
    assert out["count"] is None
    assert out["unbounded"] == ["Conv2d_1.stride"]
    assert len(out["solutions"]) == LIMIT
    assert out["solutions"][0]["assignments"] == {"Conv2d_1.stride": 6}
    assert out["solutions"][1]["assignments"] == {"Conv2d_1.stride": [6, 7]}


def test_unmet_says_which_axis_and_why():
    out = solve("""
input: [1, 3, 8, 8]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: _, expect: [1, 4, 10, 1]}
""")
    assert out["count"] == 0 and out["solutions"] == []
    [why] = out["unmet"]
    assert "Conv2d_1" in why and "along W" in why and "padding" in why and "6" in why


def test_unmet_downstream():
    out = solve("""
input: [1, 3, 8, 8]
layers:
  - Conv2d: {out_channels: _, kernel_size: 3}
  - Conv2d: {in_channels: 5, out_channels: 2, kernel_size: 3, expect: [1, 2, 4, 3]}
""")
    assert out["count"] == 0
    assert any("Conv2d_2" in m or "Conv2d_1" in m for m in out["unmet"])


def test_width_of_a_later_layer_fixes_out_channels():
    out = solve("""
input: [1, 3, 8, 8]
layers:
  - Conv2d: {out_channels: _, kernel_size: 3}
  - ReLU
  - Conv2d: {in_channels: 5, out_channels: 2, kernel_size: 3}
""")
    assert out["count"] == 1
    assert out["solutions"][0]["assignments"] == {"Conv2d_1.out_channels": 5}


def test_input_blanks_from_a_later_expect():
    out = solve("""
input: [1, 3, _, _]
layers:
  - Conv2d: {out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - MaxPool2d: {kernel_size: 2}
  - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1, expect: [1, 32, 7, 7]}
""")
    assert out["count"] == 16
    hs = sorted({s["assignments"]["input[2]"] for s in out["solutions"]})
    assert hs == [27, 28, 29, 30]
    assert out["solutions"][0]["code"] == []


def test_symbols_are_unknowns():
    out = solve("""
input: [B, 3, H, W]
layers:
  - Conv2d: {out_channels: N, kernel_size: 3, stride: 2, expect: [4, 8, 15, 20]}
""")
    assert out["count"] == 4
    first = out["solutions"][0]["assignments"]
    assert first == {"B": 4, "H": 31, "W": 41, "N": 8}
    assert out["solutions"][0]["code"] == ["nn.Conv2d(3, 8, kernel_size=3, stride=2)"]


def test_set_gives_a_symbol_its_value():
    out = solve("""
input: [B, 3, 32, 32]
layers:
  - Conv2d: {out_channels: 8, kernel_size: K, padding: 1, expect: [_, 8, 32, 32]}
""", values={"B": 2})
    assert out["count"] == 1 and out["solutions"][0]["assignments"] == {"K": 3}


def test_symbol_in_an_expression_is_scanned():
    out = solve("""
input: [1, 3, 32, 32]
layers:
  - Conv2d: {out_channels: 8, kernel_size: K, padding: (K-1)/2, stride: 2, expect: [1, 8, 16, 16]}
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1, expect: [1, 8, 16, 16]}
""")
    assert out["count"] is None and out["unbounded"] == ["K"]
    assert [s["assignments"]["K"] for s in out["solutions"][:3]] == [1, 3, 5]


def test_symbol_only_in_expect():
    out = solve("""
input: [1, 3, 32, 32]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 5, expect: [1, 8, S, S]}
""")
    assert out == {"count": 1, "solutions": [{"assignments": {"S": 28}, "code": []}]}


def test_pool_with_ceil_mode_blank():
    out = solve("""
input: [1, 2, 7, 7]
layers:
  - MaxPool2d: {kernel_size: 2, ceil_mode: _, expect: [1, 2, 4, 4]}
""")
    assert out["count"] == 1
    assert out["solutions"][0]["assignments"] == {"MaxPool2d_1.ceil_mode": True}
    assert out["solutions"][0]["code"] == ["nn.MaxPool2d(kernel_size=2, ceil_mode=True)"]


def test_pool_kernel_and_padding():
    out = solve("""
input: [1, 2, 10, 10]
layers:
  - MaxPool2d: {kernel_size: _, stride: 2, padding: 1, expect: [1, 2, 5, 5]}
""")
    # floor((12 - k)/2) + 1 = 5 for k in 3..4 on each axis
    assert [s["assignments"]["MaxPool2d_1.kernel_size"] for s in out["solutions"]] == [3, [3, 4], [4, 3], 4]
    out = solve("""
input: [1, 2, 10, 10]
layers:
  - MaxPool2d: {kernel_size: _, stride: 2, padding: 1, expect: [1, 2, 6, 6]}
""")
    assert out["count"] == 1  # k = 1 would also fit the formula, but padding 1 needs a kernel of 2 or more
    assert out["solutions"][0]["code"] == ["nn.MaxPool2d(kernel_size=2, stride=2, padding=1)"]


def test_transposed_stride_and_output_padding():
    out = solve("""
input: [1, 1, 3, 3]
layers:
  - ConvTranspose2d: {out_channels: 1, kernel_size: 3, stride: _, padding: 1, output_padding: _, expect: [1, 1, 6, 6]}
""")
    assert out["count"] == 1
    assert out["solutions"][0]["code"] == [
        "nn.ConvTranspose2d(1, 1, kernel_size=3, stride=2, padding=1, output_padding=1)"]


def test_depthwise_and_pointwise_written_as_conv():
    out = solve("""
input: [1, 8, 16, 16]
layers:
  - DepthwiseConv2d: {kernel_size: 3, padding: _, depth_multiplier: _, expect: [1, 16, 16, 16]}
  - PointwiseConv2d: {out_channels: _, expect: [1, 4, 16, 16]}
""", no_bias=True)
    assert out["count"] == 1
    assert out["solutions"][0]["code"] == ["nn.Conv2d(8, 16, kernel_size=3, padding=1, groups=8, bias=False)",
                                           "nn.Conv2d(16, 4, kernel_size=1, bias=False)"]


def test_linear_rnn_and_transformer():
    out = solve("""
input: [64, 8, 32]
layers:
  - RNN: {input_size: _, hidden_size: _, num_layers: 2, expect: [64, 8, 64]}
""")
    assert out["solutions"][0]["code"] == ["nn.RNN(32, 64, num_layers=2)"] and out["count"] == 1
    out = solve("""
input: [128, 16, 512]
layers:
  - TransformerEncoderLayer: {d_model: 512, nhead: _, batch_first: true, expect: [128, 16, 512]}
""")
    assert out["count"] == 10  # the divisors of 512
    assert [s["assignments"]["TransformerEncoderLayer_1.nhead"] for s in out["solutions"]][:4] == [1, 2, 4, 8]
    out = solve("""
input: [32, 512]
layers:
  - Linear: {out_features: _, bias: _, expect: [32, 256]}
""")
    assert [s["code"][0] for s in out["solutions"]] == ["nn.Linear(512, 256, bias=False)", "nn.Linear(512, 256)"]


def test_unconstrained_width_is_unbounded():
    out = solve("""
input: [2, 10]
layers:
  - Linear: {out_features: _}
""")
    assert out["count"] is None and out["unbounded"] == ["Linear_1.out_features"]
    assert [s["assignments"]["Linear_1.out_features"] for s in out["solutions"][:3]] == [1, 2, 3]


def test_padding_words_and_layer_checks():
    out = solve("""
input: [1, 3, 32, 32]
layers:
  - Conv2d: {out_channels: 8, kernel_size: _, stride: _, padding: same, expect: [1, 8, 32, 32]}
""")
    assert out["count"] is None and out["unbounded"] == ["Conv2d_1.kernel_size"]
    assert {s["assignments"]["Conv2d_1.stride"] for s in out["solutions"]} == {1}  # 'same' needs stride 1
    assert out["solutions"][0]["code"] == ['nn.Conv2d(3, 8, kernel_size=1, padding="same")']
    # reflect padding must stay below the input size: finitely many, though the formula allows more
    out = solve("""
input: [1, 3, 32, 32]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: [_, 1], padding_mode: reflect}
""")
    assert out["count"] == 32
    assert out["solutions"][-1]["assignments"] == {"Conv2d_1.padding": [31, 1]}


def test_no_unknowns():
    assert solve("input: [1, 4]\nlayers: [{Linear: {out_features: 2, expect: [1, 2]}}]") == {
        "count": 1, "solutions": [{"assignments": {}, "code": []}]}
    out = solve("input: [1, 4]\nlayers: [{Linear: {out_features: 2, expect: [1, 3]}}]")
    assert out["count"] == 0 and "Linear_1" in out["unmet"][0]


def test_spec_errors_stay_errors():
    with pytest.raises(SpecError):
        solve_text("input: [1, 4]\nlayers: [{Linear: {out_featurez: _}}]")
    with pytest.raises(SpecError):
        solve_text("input: [1, 4]\nlayers: [{Dropout: {p: _}}]")


# ---------------------------------------------------------------- the command

def test_cli_json_table_and_errors(cli, spec_file):
    path = spec_file("""
name: fill
input: [64, 8, 32]
layers:
  - RNN: {hidden_size: _, num_layers: 2, expect: [64, 8, 64]}
""")
    res = cli("solve", path, "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc == {"count": 1, "solutions": [{"assignments": {"RNN_1.hidden_size": 64},
                                              "code": ["nn.RNN(32, 64, num_layers=2)"]}]}
    res = cli("solve", path)
    assert res.exit_code == 0
    assert "nn.RNN(32, 64, num_layers=2)" in res.stdout and "h_n [2, 8, 64]" in res.stdout
    for fmt in ("markdown", "csv"):
        res = cli("solve", path, "--format", fmt)
        assert res.exit_code == 0 and "64" in res.stdout
    bad = spec_file("input: [1, 4]\nlayers:\n  - Linear: {out_featurez: _}\n", "bad.yaml")
    res = cli("solve", bad)
    assert res.exit_code == 1 and "bad.yaml:3:" in res.stderr
    res = cli("solve", path, "--set", "B=x")
    assert res.exit_code == 2


def test_cli_unmet_and_unbounded(cli, spec_file):
    path = spec_file("input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3, stride: _, "
                     "expect: [1, 4, 1, 1]}\n")
    doc = json.loads(cli("solve", path, "--format", "json").stdout)
    assert doc["count"] is None and doc["unbounded"] == ["Conv2d_1.stride"]
    path = spec_file("input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3, stride: _, "
                     "expect: [1, 4, 9, 1]}\n", "unmet.yaml")
    res = cli("solve", path)
    assert res.exit_code == 0 and "no solution" in res.stdout and "along H" in res.stdout


def test_cli_stdin_toml_and_no_bias(cli, spec_file):
    res = cli("solve", "-", "--no-bias", "--format", "json",
              input="input: [32, 512]\nlayers:\n  - Linear: {out_features: _, expect: [32, 256]}\n")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["solutions"][0]["code"] == ["nn.Linear(512, 256, bias=False)"]
    path = spec_file('input = [1, 3, 8, 8]\n\n[[layers]]\ntype = "Conv2d"\nout_channels = "_"\nkernel_size = 3\n'
                     'expect = [1, 5, 6, 6]\n', "fill.toml")
    doc = json.loads(cli("solve", path, "--format", "json").stdout)
    assert doc["solutions"][0]["assignments"] == {"Conv2d_1.out_channels": 5}


def test_a_size_dependent_error_before_a_blank_is_left_to_the_search():
    out = solve("""
input: [1, 3, H, W]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, stride: 2}
  - Flatten
  - Linear: {out_features: 10, in_features: 16}
  - Linear: {out_features: _, expect: [1, 5]}
""")
    assert out["solutions"] and out["solutions"][0]["assignments"]["Linear_4.out_features"] == 5


def test_a_batchnorm1d_width_on_a_2d_input_bounds_the_features_not_the_batch():
    out = solve("""
input: [4, 10]
layers:
  - Linear: {out_features: _}
  - BatchNorm1d: {num_features: 16}
""")
    assert out == {"count": 1, "solutions": [{"assignments": {"Linear_1.out_features": 16},
                                              "code": ["nn.Linear(10, 16)"]}]}
