"""Differential tests: convolutions (ConvNd, DepthwiseConvNd, PointwiseConvNd, ConvTransposeNd)
against torch 2.13.0: output shapes, parameter names and shapes, counts with and without
--no-bias, MACs from FlopCounterMode, the contract's exact FLOPs, and rejecting exactly what
torch rejects."""

import pytest

torch = pytest.importorskip("torch", reason="differential suite needs torch==2.13.0 (pip install torch==2.13.0)")

import torch_oracle as oracle
from hypothesis import strategies as st
from torch_oracle import mostly, one_in


def per_axis(draw, rank, values):
    """One value for every axis, or a list with one value per axis."""
    if draw(st.booleans()):
        return draw(values)
    return [draw(values) for _ in range(rank)]


def spatial_input(draw, rank, lead, channels, max_size):
    """(lead..., C, *spatial), unbatched when ``lead`` is empty; now and then a wrong rank
    (then the layer keeps its explicit rank: an alias would take the wrong one from the input)."""
    sizes = [draw(st.integers(1, max_size)) for _ in range(rank)]
    shape = [*lead, channels, *sizes]
    if one_in(draw, 16):
        shape = [2, *shape] if len(lead) else shape[1:]  # one dimension too many or too few
    return shape


@st.composite
def conv_cases(draw):
    rank = draw(st.integers(1, 3))
    batched = draw(st.booleans())
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 3)) + (one_in(draw, 10))
    c_out = groups * draw(st.integers(1, 3)) + (one_in(draw, 10))
    args = {"out_channels": draw(mostly(st.just(c_out), 0)),
            "kernel_size": per_axis(draw, rank, mostly(st.integers(1, 5), 0))}
    if draw(st.booleans()):
        args["stride"] = per_axis(draw, rank, mostly(st.integers(1, 3), 0))
    padding = draw(st.sampled_from(["int", "int", "list", "same", "valid", None]))
    if padding == "int":
        args["padding"] = draw(mostly(st.integers(0, 3), -1))
    elif padding == "list":
        args["padding"] = [draw(st.integers(0, 3)) for _ in range(rank)]
    elif padding:
        args["padding"] = padding
    if draw(st.booleans()):
        args["dilation"] = per_axis(draw, rank, mostly(st.integers(1, 3), 0))
    if groups > 1 or draw(st.booleans()):
        args["groups"] = draw(mostly(st.just(groups), 0, 20))
    if draw(st.booleans()):
        args["bias"] = draw(st.booleans())
    if one_in(draw, 4):
        args["padding_mode"] = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    if one_in(draw, 4):
        args["in_channels"] = c_in + (one_in(draw, 6))
    lead = [draw(st.integers(1, 2))] if batched else []
    shape = spatial_input(draw, rank, lead, c_in, 12 if rank < 3 else 7)
    name = "conv" if len(shape) == rank + 2 and draw(st.booleans()) else f"Conv{rank}d"
    return shape, [(name, args)]


@st.composite
def depthwise_pointwise_cases(draw):
    rank = draw(st.integers(1, 3))
    batched = draw(st.booleans())
    c = draw(st.integers(1, 4))
    if draw(st.booleans()):
        args = {"kernel_size": per_axis(draw, rank, st.integers(1, 5))}
        for key, values in (("stride", st.integers(1, 3)), ("dilation", st.integers(1, 2))):
            if draw(st.booleans()):
                args[key] = per_axis(draw, rank, values)
        if draw(st.booleans()):
            args["padding"] = draw(st.one_of(st.integers(0, 2), st.sampled_from(["same", "valid"])))
        if draw(st.booleans()):
            args["depth_multiplier"] = draw(mostly(st.integers(1, 3), 0))
        kind = "depthwise"
    else:
        args = {"out_channels": draw(st.integers(1, 5))}
        kind = "pointwise"
    if draw(st.booleans()):
        args["bias"] = draw(st.booleans())
    if one_in(draw, 5):
        args["in_channels"] = c + (one_in(draw, 4))
    lead = [draw(st.integers(1, 2))] if batched else []
    shape = spatial_input(draw, rank, lead, c, 10 if rank < 3 else 6)
    name = kind if len(shape) == rank + 2 and draw(st.booleans()) else f"{kind.capitalize()}Conv{rank}d"
    return shape, [(name, args)]


@st.composite
def transposed_cases(draw):
    rank = draw(st.integers(1, 3))
    batched = draw(st.booleans())
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 2)) + (one_in(draw, 12))
    c_out = groups * draw(st.integers(1, 3)) + (one_in(draw, 12))
    args = {"out_channels": draw(mostly(st.just(c_out), 0)),
            "kernel_size": per_axis(draw, rank, mostly(st.integers(1, 4), 0))}
    stride = [draw(mostly(st.integers(1, 3), 0)) for _ in range(rank)]
    # no dilation 0: whether torch's transposed kernels refuse it depends on the backend path
    dilation = [draw(st.integers(1, 3)) for _ in range(rank)]
    args.update(stride=stride, dilation=dilation)
    if draw(st.booleans()):
        args["padding"] = per_axis(draw, rank, mostly(st.integers(0, 2), -1))
    if draw(st.booleans()):  # mostly below max(stride, dilation), as torch requires
        args["output_padding"] = [draw(mostly(st.integers(0, max(max(s, d) - 1, 0)), draw(st.sampled_from([-1, 3])), 6))
                                  for s, d in zip(stride, dilation)]
    if groups > 1:
        args["groups"] = groups
    if draw(st.booleans()):
        args["bias"] = draw(st.booleans())
    if one_in(draw, 10):
        args["padding_mode"] = draw(st.sampled_from(["zeros", "reflect"]))
    if one_in(draw, 5):
        args["in_channels"] = c_in
    lead = [draw(st.integers(1, 2))] if batched else []
    shape = spatial_input(draw, rank, lead, c_in, 6 if rank < 3 else 4)
    name = "transposed" if len(shape) == rank + 2 and draw(st.booleans()) else f"ConvTranspose{rank}d"
    return shape, [(name, args)]


def check(case):
    shape, layers = case
    return oracle.compare(shape, layers)


def test_conv_matches_torch():
    oracle.run_cases(conv_cases(), check, min_ok=10, min_error=5, max_examples=60)


def test_depthwise_and_pointwise_match_torch():
    oracle.run_cases(depthwise_pointwise_cases(), check, min_ok=10, min_error=2, max_examples=40)


def test_conv_transpose_matches_torch():
    oracle.run_cases(transposed_cases(), check, min_ok=10, min_error=5, max_examples=60)


# One configuration per rule torch enforces (and one it only warns about), both ways.
EDGES = [
    ("kernel larger than the padded input", [1, 2, 3, 3], [("Conv2d", {"out_channels": 2, "kernel_size": 5})], "error"),
    ("kernel exactly fits the padded input", [1, 2, 3, 3],
     [("Conv2d", {"out_channels": 2, "kernel_size": 5, "padding": 1})], "ok"),
    ("dilated kernel too large", [1, 1, 6],
     [("Conv1d", {"out_channels": 1, "kernel_size": 3, "dilation": 3})], "error"),
    ("groups do not divide in_channels", [1, 4, 8, 8],
     [("Conv2d", {"out_channels": 6, "kernel_size": 1, "groups": 4})], "error"),
    ("groups do not divide out_channels", [1, 4, 8, 8],
     [("Conv2d", {"out_channels": 6, "kernel_size": 1, "groups": 4})], "error"),
    ("padding='same' with stride 2", [1, 1, 8, 8],
     [("Conv2d", {"out_channels": 1, "kernel_size": 3, "stride": 2, "padding": "same"})], "error"),
    ("padding='same' with an even dilated kernel", [1, 1, 9],
     [("Conv1d", {"out_channels": 1, "kernel_size": 4, "dilation": 3, "padding": "same"})], "ok"),
    ("output_padding equal to stride", [1, 2, 4, 4],
     [("ConvTranspose2d", {"out_channels": 2, "kernel_size": 3, "stride": 2, "output_padding": 2})], "error"),
    ("output_padding below dilation, above stride", [1, 2, 4],
     [("ConvTranspose1d", {"out_channels": 2, "kernel_size": 3, "stride": 1, "dilation": 3, "output_padding": 2})],
     "ok"),
    ("transposed conv cropped to nothing", [1, 1, 2],
     [("ConvTranspose1d", {"out_channels": 1, "kernel_size": 1, "padding": 1})], "error"),
    ("reflect padding as large as the input", [1, 1, 3],
     [("Conv1d", {"out_channels": 1, "kernel_size": 3, "padding": 3, "padding_mode": "reflect"})], "error"),
    ("circular padding equal to the input", [1, 1, 3],
     [("Conv1d", {"out_channels": 1, "kernel_size": 3, "padding": 3, "padding_mode": "circular"})], "ok"),
    ("in_channels disagrees with the input", [2, 3, 8, 8],
     [("Conv2d", {"in_channels": 4, "out_channels": 2, "kernel_size": 3})], "error"),
    ("unbatched depthwise with multiplier", [3, 9, 9],
     [("DepthwiseConv2d", {"kernel_size": 3, "depth_multiplier": 2, "stride": 2})], "ok"),
]


@pytest.mark.parametrize("why,shape,layers,verdict", EDGES, ids=[e[0] for e in EDGES])
def test_conv_edge_cases(why, shape, layers, verdict):
    assert oracle.compare(shape, layers) == verdict, why


@st.composite
def fold_cases(draw):
    window = {"kernel_size": per_axis(draw, 2, mostly(st.integers(1, 3), 0))}
    for key, values in (("dilation", mostly(st.integers(1, 2), 0)), ("padding", mostly(st.integers(0, 2), -1)),
                        ("stride", mostly(st.integers(1, 3), 0))):
        if draw(st.booleans()):
            window[key] = per_axis(draw, 2, values)
    lead = [draw(st.integers(1, 2))] if draw(st.booleans()) else []
    if draw(st.booleans()):
        return spatial_input(draw, 2, lead, draw(st.integers(1, 3)), 8), [("Unfold", window)]
    # Fold: the input is (N, C·∏k, L) for the blocks of output_size, now and then one off
    size = [draw(st.integers(1, 8)), draw(st.integers(1, 8))]
    k = window["kernel_size"] if isinstance(window["kernel_size"], list) else [window["kernel_size"]] * 2

    def axis(key, i, default):
        v = window.get(key, default)
        return v[i] if isinstance(v, list) else v

    blocks = 1
    for i in range(2):
        span = axis("dilation", i, 1) * (k[i] - 1) + 1
        blocks *= max((size[i] + 2 * axis("padding", i, 0) - span) // max(axis("stride", i, 1), 1) + 1, 0)
    channels = draw(st.integers(1, 3)) * k[0] * k[1] + (1 if one_in(draw, 10) else 0)
    length = blocks + (1 if one_in(draw, 10) else 0)
    return [*lead, channels, length], [("Fold", {"output_size": size if draw(st.booleans()) else size[0], **window}
                                        if size[0] == size[1] else {"output_size": size, **window})]


def test_fold_and_unfold_match_torch():
    oracle.run_cases(fold_cases(), lambda case: oracle.compare(case[0], case[1], no_bias_modes=(False,)),
                     min_ok=15, min_error=5, max_examples=60)
