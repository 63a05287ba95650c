"""netcalc.rf: receptive fields of classic chains, transposed-conv fields with periods, symbols.

The oracle is a brute-force walk: output unit ``o`` of a window layer reads units
``o·s - p + d·t``; of a transposed conv, the units ``i`` with ``i·s = o + p - d·t`` (t < k).
The field of a unit is the hull of the input pixels it reaches.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from netcalc.network import analyze_text
from netcalc.rf import ExactAxis, Field
from netcalc.symbolic import symbol

FAST = settings(max_examples=60, deadline=None)


def brute_span(layers: tuple, o: int):
    """(lo, hi) of network-input pixels output unit ``o`` reaches, or None."""

    @cache
    def span(n, o):
        if n == 0:
            return (o, o)
        kind, k, s, p, d = layers[n - 1]
        if kind == "window":
            sources = [o * s - p + d * t for t in range(k)]
        else:
            sources = [(o + p - d * t) // s for t in range(k) if (o + p - d * t) % s == 0]
        spans = [sp_ for sp_ in (span(n - 1, i) for i in sources) if sp_ is not None]
        return (min(a for a, _ in spans), max(b for _, b in spans)) if spans else None

    return span(len(layers), o)


def exact(layers) -> ExactAxis:
    ax = ExactAxis.identity()
    for kind, k, s, p, d in layers:
        ax = ax.window(k, s, p, d) if kind == "window" else ax.transposed(k, s, p, d)
    return ax


def rf_of(spec: str):
    return [row.rf for row in analyze_text(spec).layers]


# ------------------------------------------------------------------------- classic chains

def test_seed_network_receptive_fields(seed_text):
    # r' = r + (k-1)·j: 1+4·1 = 5, 5+4·2 = 13, 13+2·4 = 21, 21+0·8 = 21, 21+1·8 = 29
    # j: 2, 4, 8, 8, 16; start moves only at the pool: 0 + (1/2 - 0)·8 = 4
    rfs = rf_of(seed_text)
    conv_and_pool = [rfs[i] for i in (0, 2, 4, 6, 8)]
    assert [r["size"] for r in conv_and_pool] == [[5, 5], [13, 13], [21, 21], [21, 21], [29, 29]]
    assert [r["jump"] for r in conv_and_pool] == [[2, 2], [4, 4], [8, 8], [8, 8], [16, 16]]
    assert [r["start"] for r in conv_and_pool] == [[0, 0], [0, 0], [0, 0], [0, 0], [4, 4]]
    assert [rfs[i] for i in (1, 3, 5, 7)] == [rfs[i] for i in (0, 2, 4, 6)]     # ReLU passes it through
    assert rfs[9] is None and rfs[10] is None                                   # Flatten, Linear


def test_classic_chain_1d():
    rfs = rf_of("""
input: [1, 1, 100]
layers:
  - Conv1d: {out_channels: 1, kernel_size: 3}
  - Conv1d: {out_channels: 1, kernel_size: 3}
  - MaxPool1d: {kernel_size: 2}
  - Conv1d: {out_channels: 1, kernel_size: 3, dilation: 2, padding: 2}
""")
    # 3, 5, 5+1·1 = 6 (j 2), 6 + 2·2·2 = 14 (j 2); start 1, 2, 2.5, 2.5 + (2 - 2)·2
    assert [r["size"] for r in rfs] == [[3], [5], [6], [14]]
    assert [r["jump"] for r in rfs] == [[1], [1], [2], [2]]
    assert [r["start"] for r in rfs] == [[1], [2], [2.5], [2.5]]


def test_rf_starts_as_identity_and_per_axis():
    rfs = rf_of("""
input: [1, 1, 20, 30]
layers:
  - ReLU
  - Conv2d: {out_channels: 1, kernel_size: [3, 5], stride: [1, 2], padding: [1, 0]}
""")
    assert rfs[0] == {"size": [1, 1], "jump": [1, 1], "start": [0, 0]}
    assert rfs[1] == {"size": [3, 5], "jump": [1, 2], "start": [0, 2]}


@pytest.mark.parametrize("layer", ["Flatten", "Linear: {out_features: 3}", "AdaptiveAvgPool2d: {output_size: 1}"])
def test_rf_is_null_after_global_layers(layer):
    rfs = rf_of(f"""
input: [1, 2, 8, 8]
layers:
  - Conv2d: {{out_channels: 2, kernel_size: 3}}
  - {layer}
  - ReLU
""")
    assert rfs[0] is not None
    assert rfs[1] is None and rfs[2] is None


def test_rf_is_null_for_sequences():
    rfs = rf_of("input: [5, 2, 8]\nlayers:\n  - LSTM: {hidden_size: 4}\n  - ReLU\n")
    assert rfs == [None, None]


# ------------------------------------------------------------------- transposed convolution

def test_transposed_field_has_a_period():
    # ConvTranspose1d k3 s2 p1: unit 0 reads input 0; unit 1 reads inputs 1 and 0 (sizes 1, 2, ...)
    ax = exact([("transposed", 3, 2, 1, 1)])
    assert ax.period == 2 and ax.jump == Fraction(1, 2)
    assert [ax.span(o) for o in range(4)] == [(0, 0), (0, 1), (1, 1), (1, 2)]
    assert ax.size == 2


def test_pool_over_transposed_outputs_follows_exact_fields():
    # units 2o and 2o+1 of the transposed output: {o} ∪ [o, o+1] = [o, o+1], size 2, not 2 + 1·½
    rfs = rf_of("""
input: [1, 1, 16]
layers:
  - ConvTranspose1d: {out_channels: 1, kernel_size: 3, stride: 2, padding: 1}
  - MaxPool1d: {kernel_size: 2}
  - Conv1d: {out_channels: 1, kernel_size: 3}
""")
    assert rfs[0]["size"] == [2] and rfs[0]["jump"] == [0.5] and rfs[0]["start"] == [0]
    assert rfs[1]["size"] == [2] and rfs[1]["jump"] == [1]
    assert rfs[2]["size"] == [4] and rfs[2]["jump"] == [1]     # [o, o+1] ∪ … ∪ [o+2, o+3]


def test_autoencoder_field():
    rfs = rf_of("""
input: [1, 1, 16, 16]
layers:
  - Conv2d: {out_channels: 1, kernel_size: 3, stride: 2, padding: 1}
  - ConvTranspose2d: {out_channels: 1, kernel_size: 3, stride: 2, padding: 1, output_padding: 1}
  - Conv2d: {out_channels: 1, kernel_size: 3, padding: 1, dilation: 2}
""")
    # conv: unit m sees [2m-1, 2m+1]; transposed unit 2m reads m → 3, unit 2m+1 reads m, m+1 → [2m-1, 2m+3] = 5
    assert rfs[1] == {"size": [5, 5], "jump": [1, 1], "start": [0, 0]}
    # dilated conv unit 0 reads units -1, 1, 3 (all odd): [-3, 1] ∪ [-1, 3] ∪ [1, 5] = 9, centre 1
    assert rfs[2] == {"size": [9, 9], "jump": [1, 1], "start": [1, 1]}


def test_transposed_with_gaps():
    # kernel 1, stride 2: odd output units see nothing
    ax = exact([("transposed", 1, 2, 0, 1)])
    assert [ax.span(o) for o in range(4)] == [(0, 0), None, (1, 1), None]
    assert ax.size == 1


def test_start_is_the_centre_of_unit_zero_after_transposed():
    rfs = rf_of("input: [1, 1, 16]\nlayers:\n  - ConvTranspose1d: {out_channels: 1, kernel_size: 4, stride: 2, "
                "padding: 1}\n")
    assert rfs[0]["size"] == [2] and rfs[0]["jump"] == [0.5]
    assert rfs[0]["start"] == [-0.5]


def test_start_of_pool_over_transposed():
    rfs = rf_of("input: [1, 1, 16]\nlayers:\n  - ConvTranspose1d: {out_channels: 1, kernel_size: 3, stride: 2, "
                "padding: 1}\n  - MaxPool1d: {kernel_size: 2}\n")
    assert rfs[1]["start"] == [0.5]


layer_steps = st.tuples(st.sampled_from(["window", "transposed"]), st.integers(1, 4), st.integers(1, 3),
                        st.integers(0, 2), st.integers(1, 2))


@given(st.lists(layer_steps, min_size=1, max_size=4))
@FAST
def test_exact_fields_match_brute_force(layers):
    layers = tuple(layers)
    ax = exact(layers)
    units = range(-2, 3 * ax.period + 4)
    for o in units:
        assert ax.span(o) == brute_span(layers, o)
    sizes = [hi - lo + 1 for lo, hi in filter(None, (brute_span(layers, o) for o in range(ax.period)))]
    if sizes:
        assert ax.size == max(sizes)
    first = brute_span(layers, 0)
    if first is not None:                         # start: the centre of unit 0's own field
        assert ax.start == Fraction(first[0] + first[1], 2)
    # jump: one period further is period·jump input pixels further
    shift = ax.period * ax.jump
    assert shift.denominator == 1
    for o in range(ax.period):
        a, b = brute_span(layers, o), brute_span(layers, o + ax.period)
        assert (a is None and b is None) or (b[0] - a[0] == shift and b[1] - a[1] == shift)


@given(st.lists(layer_steps.filter(lambda t: t[0] == "window"), min_size=1, max_size=5))
@FAST
def test_window_chains_follow_the_textbook(layers):
    size, jump, start = 1, 1, Fraction(0)
    for _, k, s, p, d in layers:
        size, jump, start = size + d * (k - 1) * jump, jump * s, start + (Fraction(d * (k - 1), 2) - p) * jump
    ax = exact(layers)
    assert (ax.size, ax.jump, ax.start) == (size, jump, start)
    lo, hi = brute_span(tuple(layers), 0)
    assert Fraction(lo + hi, 2) == start          # start is the centre of unit 0's field


# ---------------------------------------------------------------------------- symbols

def test_symbolic_kernel_field():
    K = symbol("K")
    rfs = rf_of("""
input: [1, 1, H, W]
layers:
  - Conv2d: {out_channels: 1, kernel_size: K}
  - Conv2d: {out_channels: 1, kernel_size: 3, stride: 2, padding: 1}
  - MaxPool2d: {kernel_size: 2}
""")
    size, jump, start = (rfs[0][k][0] for k in ("size", "jump", "start"))
    assert sp.sympify(size) == K and jump == 1 and sp.simplify(sp.sympify(start) - (K - 1) / 2) == 0
    assert sp.simplify(sp.sympify(rfs[1]["size"][0]) - (K + 2)) == 0 and rfs[1]["jump"][0] == 2
    assert sp.simplify(sp.sympify(rfs[2]["size"][0]) - (K + 4)) == 0 and rfs[2]["jump"][0] == 4


def test_symbolic_size_with_numeric_kernels_stays_numeric():
    rfs = rf_of("input: [B, 3, H, W]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 5, stride: 2}\n")
    assert rfs[0] == {"size": [5, 5], "jump": [2, 2], "start": [2, 2]}


def test_field_of_a_different_rank_is_dropped():
    f = Field().window([3, 3], [1, 1], [0, 0], [1, 1])
    assert f.window([3], [1], [0], [1]) is None
    assert f.report(4) == {"size": [3, 3], "jump": [1, 1], "start": [1, 1]}
    assert Field().report(2) is None
