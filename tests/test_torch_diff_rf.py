"""Differential tests: receptive fields measured with autograd.

A random 1-D or 2-D stack of conv / depthwise / pointwise / max pool / avg pool / transposed
conv / zero pad / nearest upsample layers (with activations and norms in between) is built in
torch with all-ones weights and zero biases (max pools become all-ones depthwise convs of the
same kernel, stride, padding and dilation, so the gradient reaches the whole window).
Backpropagating from single interior output units (per axis; summed over the other axis in
2-D) that read no padding at any layer gives each unit's exact input span; netcalc's
rf must match: size = the largest span over a period of neighbouring units, jump = the centre
distance per unit over a period, start = the centre of unit 0 when every unit's field has the
same size (period 1).
"""

from fractions import Fraction

import pytest

torch = pytest.importorskip("torch", reason="differential suite needs torch==2.13.0 (pip install torch==2.13.0)")

import torch_oracle as oracle
from hypothesis import strategies as st
from torch_oracle import Window

KINDS = ["conv", "conv", "depthwise", "pointwise", "maxpool", "avgpool", "transposed", "transposed", "pad",
         "upsample"]
UPSAMPLING = ("transposed", "upsample")
SPEC_TYPE = {"conv": "Conv{}d", "depthwise": "DepthwiseConv{}d", "pointwise": "PointwiseConv{}d",
             "maxpool": "MaxPool{}d", "avgpool": "AvgPool{}d", "transposed": "ConvTranspose{}d", "pad": "ZeroPad{}d",
             "upsample": "Upsample"}


@st.composite
def window(draw, rank, upsampling_left):
    kind = draw(st.sampled_from(KINDS if upsampling_left > 1 else [k for k in KINDS if k not in UPSAMPLING]))

    def ax(values):
        return tuple(draw(values) for _ in range(rank))

    one = (1,) * rank
    if kind == "pointwise":
        return Window(kind, one, one, (0,) * rank, one)
    if kind == "pad":  # negative padding crops
        return Window(kind, one, one, ax(st.integers(-1, 3)), one, ax(st.integers(-1, 3)))
    if kind == "upsample":
        s = ax(st.integers(1, min(3, upsampling_left)))
        return Window(kind, s, s, (0,) * rank, one)
    if kind in ("conv", "depthwise"):
        k, s, d = ax(st.integers(1, 5)), ax(st.integers(1, 3)), ax(st.integers(1, 3))
        how = draw(st.sampled_from(["int", "int", "same", "valid"]))
        if how == "same":
            s = (1,) * rank
            return Window(kind, k, s, "same", d)
        return Window(kind, k, s, "valid" if how == "valid" else ax(st.integers(0, 3)), d)
    if kind in ("maxpool", "avgpool"):
        k, s = ax(st.integers(1, 4)), ax(st.integers(1, 3))
        d = ax(st.integers(1, 2)) if kind == "maxpool" else (1,) * rank
        p = tuple(draw(st.integers(0, ki // 2)) for ki in k)
        return Window(kind, k, s, p, d)
    k = ax(st.integers(1, 4))
    s = ax(st.integers(1, min(3, upsampling_left)))
    d = ax(st.integers(1, 2))
    p = ax(st.integers(0, 2))
    op = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
    return Window(kind, k, s, p, d, op)


@st.composite
def stacks(draw):
    rank = draw(st.sampled_from([1, 1, 2]))
    layers, upsampling = [], 1
    for _ in range(draw(st.integers(1, 5))):
        w = draw(window(rank, 8 // upsampling))
        if w.kind in UPSAMPLING:
            upsampling *= max(w.stride)
        layers.append(w)
    between = [draw(st.sampled_from([None, None, "ReLU", "BatchNorm", "Dropout"])) for _ in layers]
    return rank, layers, between


def spec_layers(rank, stack, between):
    out = []
    for w, extra in zip(stack, between):
        args = {"kernel_size": list(w.kernel), "stride": list(w.stride), "padding": w.padding
                if isinstance(w.padding, str) else list(w.padding), "dilation": list(w.dilation)}
        if w.kind in ("conv", "transposed"):
            args["out_channels"] = 1
        if w.kind == "transposed":
            args["output_padding"] = list(w.output_padding)
        if w.kind == "avgpool":
            del args["dilation"]
        if w.kind == "pointwise":
            args = {"out_channels": 1}
        if w.kind == "pad":
            args = {"padding": [v for a in reversed(range(rank)) for v in (w.padding[a], w.output_padding[a])]}
        if w.kind == "upsample":
            args = {"scale_factor": list(w.stride) if len(set(w.stride)) > 1 else w.stride[0], "mode": "nearest"}
        out.append((SPEC_TYPE[w.kind].format(rank), args))
        if extra:
            out.append((f"{extra}{rank}d" if extra == "BatchNorm" else extra, {}))
    return out


def measured(rank, stack, periods):
    """Spans of neighbouring clean interior units per axis, growing the input until there are enough."""
    units = 2 * max(periods) + 1
    size = 16
    while size <= (4096 if rank == 1 else 320):
        got = oracle.measure_fields(stack, rank, size, units)
        if got is not None:
            return size, got
        size *= 2
    return None, None


def minimal_period(spans):
    """The smallest p with spans[i + p] = spans[i] shifted by one integer c for every i; (p, c)."""
    n = len(spans)
    for p in range(1, n // 2 + 1):
        shifts = set()
        for a, b in zip(spans, spans[p:]):
            if (a is None) != (b is None):
                break
            if a is not None:
                shifts.add((b[0] - a[0], b[1] - a[1]))
        else:
            if len(shifts) == 1 and len({*next(iter(shifts))}) == 1:
                return p, next(iter(shifts))[0]
    raise AssertionError(f"no period within {n} units: {spans}")


def close(netcalc_value, exact: Fraction):
    return abs(Fraction(netcalc_value) - exact) < Fraction(1, 10**9)


def check(case):
    rank, stack, between = case
    periods = [oracle.field_period(stack, a) for a in range(rank)]
    size, fields = measured(rank, stack, periods)
    if fields is None:
        return "error"  # no input up to the cap has enough clean interior units (counted, must be rare)
    layers = spec_layers(rank, stack, between)
    report = oracle.run_netcalc(oracle.spec_text([1, 1] + [size] * rank, layers))
    assert not isinstance(report, oracle.SpecError), report
    rf = report.layers[-1].rf
    text = oracle.spec_text([1, 1] + [size] * rank, layers)
    for a, (spans, first) in enumerate(fields):
        seen = [s for s in spans if s is not None]
        if not seen:  # every unit reads only transposed-conv gaps
            assert rf["size"][a] == 0, f"axis {a}: no unit sees the input, netcalc size {rf['size'][a]}\n{text}"
            continue
        p, shift = minimal_period(spans)
        assert p <= periods[a]
        size_a = max(hi - lo + 1 for lo, hi in seen)
        jump = Fraction(shift, p)
        assert rf["size"][a] == size_a, \
            f"axis {a}: rf size netcalc {rf['size'][a]} != measured {size_a}\n{spans}\n{text}"
        assert close(rf["jump"][a], jump), f"axis {a}: rf jump netcalc {rf['jump'][a]} != measured {jump}\n{text}"
        if p == 1:
            lo, hi = spans[0]
            start = Fraction(lo + hi, 2) - first * jump
            assert close(rf["start"][a], start), \
                f"axis {a}: rf start netcalc {rf['start'][a]} != measured {start}\n{spans}\n{text}"
    return "ok"


def test_receptive_fields_match_autograd():
    seen = oracle.run_cases(stacks(), check, min_ok=40, max_examples=60)
    assert seen["error"] <= 5


def test_transposed_then_pool_follows_exact_fields():
    """The contract's trap: a pool over transposed-conv outputs is not r + (k-1)*j."""
    stack = [Window("transposed", (3,), (2,), (0,), (1,), (1,)), Window("maxpool", (2,), (1,), (0,), (1,))]
    assert check((1, stack, [None, None])) == "ok"
    stack = [Window("transposed", (1,), (3,), (0,), (1,), (0,)), Window("conv", (2,), (1,), (0,), (1,))]
    assert check((1, stack, [None, "ReLU"])) == "ok"
