"""Differential tests: padding layers, PixelShuffle/PixelUnshuffle, Upsample and the
Upsampling*2d classes against torch 2.13.0, and netcalc's own tensor ops (Reshape, View,
Permute, Transpose, Mean, Select, ClassToken, PositionalEmbedding, Parameter) against the
tensor methods and torchvision-style modules they stand for."""

import pytest

torch = pytest.importorskip("torch", reason="differential suite needs torch==2.13.0 (pip install torch==2.13.0)")

import torch_oracle as oracle
from hypothesis import strategies as st
from torch_oracle import one_in


def check(case):
    return oracle.compare(case[0], case[1], no_bias_modes=(False,))


def any_shape(draw, lo=1, hi=5):
    return [draw(st.integers(1, 4)) for _ in range(draw(st.integers(lo, hi)))]


@st.composite
def pad_cases(draw):
    kind = draw(st.sampled_from(["ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad"]))
    rank = draw(st.integers(1, 3))
    # Circular padding that crops one side and wraps the other trips an aliasing error inside
    # torch's copy (not a size rule): no negative circular padding.
    least = 0 if kind == "CircularPad" else -1
    if draw(st.booleans()):
        padding = draw(st.integers(least, 3))
    else:
        padding = [draw(st.integers(least, 3)) for _ in range(2 * rank)]
    args = {"padding": padding}
    if kind == "ConstantPad":
        args["value"] = 0.5
    ndim = draw(st.sampled_from([rank + 1, rank + 2, rank + 2, rank + 3 if one_in(draw, 6) else rank]))
    shape = [draw(st.integers(1, 4)) for _ in range(max(ndim, 1))]
    return shape, [(f"{kind}{rank}d", args)]


def test_padding_layers_match_torch():
    oracle.run_cases(pad_cases(), check, min_ok=15, min_error=5, max_examples=60)


@st.composite
def shuffle_cases(draw):
    r = draw(st.integers(1, 3))
    shape = any_shape(draw, 2, 5)
    if draw(st.booleans()):
        if len(shape) >= 3 and draw(st.integers(0, 4)):
            shape[-3] = r * r * draw(st.integers(1, 2))
        return shape, [("PixelShuffle", {"upscale_factor": r})]
    if len(shape) >= 3 and draw(st.integers(0, 4)):
        shape[-2], shape[-1] = r * draw(st.integers(1, 3)), r * draw(st.integers(1, 3))
    return shape, [("PixelUnshuffle", {"downscale_factor": r})]


def test_pixel_shuffle_matches_torch():
    oracle.run_cases(shuffle_cases(), check, min_ok=10, min_error=3, max_examples=40)


@st.composite
def upsample_cases(draw):
    kind = draw(st.sampled_from(["Upsample", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]))
    ndim = draw(st.integers(3, 5)) if draw(st.integers(0, 7)) else draw(st.sampled_from([2, 6]))
    shape = [draw(st.integers(1, 4)) for _ in range(ndim)]
    rank = max(ndim - 2, 1)
    args = {}
    if draw(st.booleans()):
        size = draw(st.integers(1, 6))
        args["size"] = size if draw(st.booleans()) else [draw(st.integers(1, 6)) for _ in range(rank)]
    else:
        scale = st.sampled_from([1, 2, 3, 0.5, 1.5, 2.5])
        args["scale_factor"] = draw(scale) if draw(st.booleans()) else [draw(scale) for _ in range(rank)]
    if kind == "Upsample":
        args["mode"] = draw(st.sampled_from(["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"]))
        if draw(st.booleans()) if args["mode"] not in ("nearest", "nearest-exact") else one_in(draw, 6):
            args["align_corners"] = draw(st.booleans())  # torch refuses it (even False) for the nearest modes
    return shape, [(kind, args)]


def test_upsample_matches_torch():
    oracle.run_cases(upsample_cases(), check, min_ok=15, min_error=3, max_examples=60)


@st.composite
def tensor_op_cases(draw):
    kind = draw(st.sampled_from(["Reshape", "View", "Permute", "Transpose", "Mean", "Select", "ClassToken",
                                 "PositionalEmbedding", "Parameter"]))
    shape = any_shape(draw, 1, 4)
    n = len(shape)
    dim = st.integers(-n - 1, n)
    if kind in ("Reshape", "View"):
        total = 1
        for v in shape:
            total *= v
        first = draw(st.sampled_from([f for f in range(1, total + 1) if total % f == 0]))
        target = [first, total // first]
        if draw(st.booleans()):
            target[draw(st.integers(0, 1))] = -1
        if one_in(draw, 6):
            target.append(2)
        args = {"shape": target}
    elif kind == "Permute":
        order = draw(st.permutations(list(range(n))))
        if one_in(draw, 6):
            order = order[:-1] if n > 1 else [0, 0]
        args = {"dims": [d - n if draw(st.booleans()) else d for d in order]}
    elif kind == "Transpose":
        args = {"dim0": draw(dim), "dim1": draw(dim)}
    elif kind == "Mean":
        d = draw(dim)
        args = {"dim": d if draw(st.booleans()) else [d, draw(st.integers(-n, n - 1))]}
        if draw(st.booleans()):
            args["keepdim"] = draw(st.booleans())
    elif kind == "Select":
        args = {"dim": draw(dim), "index": draw(st.integers(-3, 3))}
    elif kind == "ClassToken":
        args = {}
    elif kind == "PositionalEmbedding":
        args = {"num_positions": shape[1] + draw(st.sampled_from([0, 1]))} if n > 1 and draw(st.booleans()) else {}
    else:
        args = {"shape": any_shape(draw, 1, 3)}
    return shape, [(kind, args)]


def test_tensor_ops_match_tensor_methods():
    oracle.run_cases(tensor_op_cases(), check, min_ok=20, min_error=5, max_examples=80)
