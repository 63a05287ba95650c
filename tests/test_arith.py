"""netcalc.arith: the window, transposed-window and padding formulas, on ints and symbols."""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from netcalc.arith import effective_kernel, output_padding_for, rf_window_step, same_padding, transposed_out, window_out
from netcalc.symbolic import symbol

FAST = settings(max_examples=80, deadline=None)
H = symbol("H")


def at(expr, h: int) -> int:
    if isinstance(expr, int):
        return expr
    v = sp.sympify(expr).subs(H, h)
    assert v.is_Integer, v
    return int(v)


# (size, kernel, stride, padding, dilation, ceil_mode) → out, worked by hand
WINDOWS = [
    (512, 5, 2, 2, 1, False, 256),      # ⌊511/2⌋+1
    (32, 3, 1, 1, 1, False, 32),
    (28, 3, 2, 1, 1, False, 14),        # ⌊27/2⌋+1
    (7, 2, 2, 0, 1, False, 3),          # ⌊5/2⌋+1
    (50, 5, 3, 2, 2, False, 16),        # ⌊(54-8-1)/3⌋+1 = 15+1
    (10, 3, 3, 0, 2, False, 2),         # ⌊5/3⌋+1
    (5, 5, 1, 0, 1, False, 1),
    (6, 7, 1, 0, 1, False, 0),          # the window does not fit
    (5, 2, 2, 0, 1, True, 3),           # ⌈3/2⌉+1 = 3; last start 4 < 5
    (6, 3, 2, 1, 1, True, 4),           # ⌈5/2⌉+1 = 4; last start 6 < 6+1
    (6, 3, 2, 1, 1, False, 3),
    (5, 2, 2, 1, 1, True, 3),           # ⌈5/2⌉+1 = 4, but the 4th window would start at 6 ≥ 5+1: 3
    (8, 3, 2, 0, 1, True, 4),           # ⌈5/2⌉+1
    (8, 3, 2, 0, 1, False, 3),
    (4, 2, 2, 0, 1, True, 2),           # exact fit: ceil = floor
    (11, 3, 4, 1, 1, True, 3),          # ⌈10/4⌉+1 = 4, but (4-1)·4 = 12 ≥ 11+1: the last is dropped
]


@pytest.mark.parametrize("size, k, s, p, d, ceil, want", WINDOWS)
def test_window_out_table(size, k, s, p, d, ceil, want):
    assert window_out(size, k, s, p, d, ceil) == want


def test_window_out_asymmetric_padding():
    assert window_out(9, 4, 1, (1, 2)) == 9          # 'same' for an even kernel
    assert window_out(10, 3, 2, (0, 1)) == 5         # ⌊(10+1-3)/2⌋+1


def test_effective_kernel():
    assert effective_kernel(3) == 3
    assert effective_kernel(3, 2) == 5
    assert effective_kernel(1, 7) == 1


def windows_floor(size, k, s, p, d):
    """Brute force: windows starting at o·s on the padded input that fit entirely."""
    padded, span = size + 2 * p, d * (k - 1) + 1
    return sum(1 for o in range(padded + 1) if o * s + span <= padded)


def windows_ceil(size, k, s, p, d):
    """Brute force, torch's ceil_mode: keep adding windows until one reaches the end of the padded
    input (they may hang over it), but never one that starts in the right padding or beyond."""
    padded, span = size + 2 * p, d * (k - 1) + 1
    n = 0
    for o in range(padded + 1):
        if o > 0 and (o - 1) * s + span >= padded:
            break      # the previous window already reached the end
        if o * s >= size + p:
            break      # would start in the right padding
        n += 1
    return n


windows = st.tuples(st.integers(1, 60), st.integers(1, 7), st.integers(1, 5), st.integers(0, 3), st.integers(1, 3))


@given(windows)
@FAST
def test_window_out_matches_brute_force(w):
    size, k, s, p, d = w
    assume(size + 2 * p >= d * (k - 1) + 1)
    assert window_out(size, k, s, p, d) == windows_floor(size, k, s, p, d)


@given(windows)
@FAST
def test_ceil_mode_matches_brute_force(w):
    size, k, s, p, d = w
    assume(p <= k // 2 and size + 2 * p >= d * (k - 1) + 1)   # what torch's pools accept
    out = window_out(size, k, s, p, d, ceil_mode=True)
    assert out == windows_ceil(size, k, s, p, d)
    floor = window_out(size, k, s, p, d)
    assert floor <= out <= floor + 1
    assert (out - 1) * s < size + p                # the last window starts inside the input or left padding


@given(windows, st.booleans())
@FAST
def test_window_out_symbolic_agrees(w, ceil):
    size, k, s, p, d = w
    assume(size + 2 * p >= d * (k - 1) + 1 and (not ceil or p <= k // 2))
    assert at(window_out(H, k, s, p, d, ceil), size) == window_out(size, k, s, p, d, ceil)


# (size, kernel, stride, padding, dilation, output_padding) → out
TRANSPOSED = [
    (7, 4, 2, 1, 1, 0, 14),             # 6·2 - 2 + 3 + 1
    (7, 3, 2, 1, 1, 1, 14),             # 12 - 2 + 2 + 1 + 1
    (10, 3, 1, 0, 2, 0, 14),            # 9 + 4 + 1
    (3, 2, 2, 0, 1, 0, 6),
    (1, 1, 1, 0, 1, 0, 1),
    (4, 2, 3, 0, 1, 0, 11),             # 9 + 1 + 1
    (5, 3, 1, 2, 1, 0, 3),              # 4 - 4 + 2 + 1
]


@pytest.mark.parametrize("size, k, s, p, d, op, want", TRANSPOSED)
def test_transposed_out_table(size, k, s, p, d, op, want):
    assert transposed_out(size, k, s, p, d, op) == want


def test_transposed_out_symbolic():
    assert sp.expand(transposed_out(H, 4, 2, 1) - 2 * H) == 0


# (size, kernel, stride, dilation) → (before, after)
SAME = [
    (10, 4, 1, 1, (1, 2)),              # total 3: PyTorch puts the extra one after
    (9, 3, 1, 2, (2, 2)),
    (5, 1, 1, 1, (0, 0)),
    (7, 3, 2, 1, (1, 1)),               # ⌈7/2⌉ = 4: 3·2 + 2 + 1 - 7 = 2
    (28, 3, 2, 1, (0, 1)),              # the contract's example
    (8, 3, 2, 1, (0, 1)),
    (6, 5, 3, 1, (1, 1)),
    (1, 7, 4, 1, (3, 3)),
    (11, 2, 4, 1, (0, 0)),              # negative total clamps to 0
]


@pytest.mark.parametrize("size, k, s, d, want", SAME)
def test_same_padding_table(size, k, s, d, want):
    assert tuple(same_padding(size, k, s, d)) == want


@given(windows)
@FAST
def test_same_padding_properties(w):
    size, k, s, _, d = w
    before, after = same_padding(size, k, s, d)
    assert before <= after <= before + 1
    assert window_out(size, k, s, (before, after), d) == -(-size // s)
    if before + after > 0:    # the least total: one less and the output is too small
        assert window_out(size, k, s, (before, after - 1), d) < -(-size // s)


# (size, kernel, stride, padding, dilation) → output_padding
OUTPUT_PADDING = [
    (28, 3, 2, 1, 1, 1),                # conv 14 → transposed 27 without it
    (7, 3, 2, 1, 1, 0),
    (8, 4, 2, 1, 1, 0),
    (9, 4, 2, 1, 1, 1),
    (10, 3, 3, 0, 1, 1),
    (11, 3, 3, 0, 1, 2),
    (10, 3, 1, 0, 2, 0),
    (11, 2, 2, 0, 3, 1),
]


@pytest.mark.parametrize("size, k, s, p, d, want", OUTPUT_PADDING)
def test_output_padding_for_table(size, k, s, p, d, want):
    assert output_padding_for(size, k, s, p, d) == want


@given(windows)
@FAST
def test_output_padding_round_trip(w):
    size, k, s, p, d = w
    assume(size + 2 * p >= d * (k - 1) + 1)
    conv = window_out(size, k, s, p, d)
    op = output_padding_for(size, k, s, p, d)
    assert 0 <= op < max(s, d)                   # a value PyTorch accepts
    assert transposed_out(conv, k, s, p, d, op) == size


@given(windows)
@FAST
def test_output_padding_symbolic_agrees(w):
    size, k, s, p, d = w
    assume(size + 2 * p >= d * (k - 1) + 1)
    assert at(output_padding_for(H, k, s, p, d), size) == output_padding_for(size, k, s, p, d)


def test_rf_window_step_textbook():
    # r' = r + d(k-1)·j, j' = j·s, start' = start + (d(k-1)/2 - p)·j
    assert rf_window_step(1, 1, 0, 5, 2, 2) == (5, 2, 0)
    assert rf_window_step(5, 2, 0, 5, 2, 2) == (13, 4, 0)
    assert rf_window_step(21, 8, 0, 2, 2, 0) == (29, 16, 4)
    size, jump, start = rf_window_step(1, 1, 0, 2, 1, 0)
    assert (size, jump, start) == (2, 1, Fraction(1, 2))
    assert rf_window_step(3, 1, 1, 3, 1, 0, dilation=3)[0] == 9
