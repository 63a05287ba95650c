"""Differential tests: MaxPool, AvgPool, LPPool and the adaptive pools against torch 2.13.0."""

import pytest

torch = pytest.importorskip("torch", reason="differential suite needs torch==2.13.0 (pip install torch==2.13.0)")

import torch_oracle as oracle
from hypothesis import strategies as st
from test_torch_diff_conv import per_axis, spatial_input
from torch_oracle import mostly, one_in


@st.composite
def pool_cases(draw):
    kind = draw(st.sampled_from(["MaxPool", "AvgPool", "LPPool"]))
    rank = draw(st.integers(1, 3))
    batched = draw(st.booleans())
    args = {}
    if kind == "LPPool":
        args["norm_type"] = draw(st.sampled_from([1, 2, 3.0]))
    args["kernel_size"] = per_axis(draw, rank, mostly(st.integers(1, 4), 0))
    if draw(st.booleans()):
        args["stride"] = per_axis(draw, rank, mostly(st.integers(1, 3), 0))
    if kind != "LPPool" and draw(st.booleans()):
        args["padding"] = per_axis(draw, rank, mostly(st.integers(0, 2), -1))
    if kind == "MaxPool":
        if draw(st.booleans()):
            args["dilation"] = per_axis(draw, rank, mostly(st.integers(1, 3), 0))
        if one_in(draw, 4):
            args["return_indices"] = True
    if draw(st.booleans()):
        args["ceil_mode"] = draw(st.booleans())
    if kind == "AvgPool":
        if draw(st.booleans()):
            args["count_include_pad"] = draw(st.booleans())
        if rank > 1 and one_in(draw, 4):
            args["divisor_override"] = draw(mostly(st.integers(1, 3), 0, 5))
    lead = [draw(st.integers(1, 2))] if batched else []
    shape = spatial_input(draw, rank, lead, draw(st.integers(1, 3)), 10 if rank < 3 else 6)
    alias = {"MaxPool": "maxpool", "AvgPool": "avgpool"}.get(kind)
    name = alias if alias and len(shape) == rank + 2 and draw(st.booleans()) else f"{kind}{rank}d"
    return shape, [(name, args)]


@st.composite
def adaptive_cases(draw):
    kind = draw(st.sampled_from(["AdaptiveAvgPool", "AdaptiveMaxPool"]))
    rank = draw(st.integers(1, 3))
    entry = st.one_of(st.integers(1, 6), st.none()) if rank > 1 else st.integers(1, 6)
    if draw(st.booleans()):
        size = draw(st.integers(1, 6))
    else:
        size = [draw(entry) for _ in range(rank)]
    args = {"output_size": size}
    if kind == "AdaptiveMaxPool" and draw(st.booleans()):
        args["return_indices"] = draw(st.booleans())
    lead = [draw(st.integers(1, 2))] if draw(st.booleans()) else []
    shape = spatial_input(draw, rank, lead, draw(st.integers(1, 3)), 9 if rank < 3 else 5)
    return shape, [(f"{kind}{rank}d", args)]


def check(case):
    return oracle.compare(case[0], case[1], no_bias_modes=(False,))


def test_pools_match_torch():
    oracle.run_cases(pool_cases(), check, min_ok=15, min_error=5, max_examples=80)


def test_adaptive_pools_match_torch():
    oracle.run_cases(adaptive_cases(), check, min_ok=10, max_examples=40)


EDGES = [
    ("padding more than half the kernel", [1, 1, 8, 8], [("MaxPool2d", {"kernel_size": 3, "padding": 2})], "error"),
    ("padding exactly half the kernel", [1, 1, 8, 8], [("AvgPool2d", {"kernel_size": 4, "padding": 2})], "ok"),
    ("ceil_mode window starting in the right padding", [1, 1, 5],
     [("MaxPool1d", {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True})], "ok"),
    ("ceil_mode extra window", [1, 1, 6], [("AvgPool1d", {"kernel_size": 3, "stride": 2, "ceil_mode": True})], "ok"),
    ("pool window larger than the input", [1, 1, 2, 2], [("MaxPool2d", {"kernel_size": 3})], "error"),
    ("dilated pool window too large", [1, 1, 4], [("MaxPool1d", {"kernel_size": 2, "dilation": 4})], "error"),
    ("adaptive pool keeps a None axis", [2, 3, 7, 5], [("AdaptiveAvgPool2d", {"output_size": [None, 2]})], "ok"),
    ("LPPool with a list kernel", [1, 2, 7, 6], [("LPPool2d", {"norm_type": 2, "kernel_size": [3, 2]})], "ok"),
]


@pytest.mark.parametrize("why,shape,layers,verdict", EDGES, ids=[e[0] for e in EDGES])
def test_pool_edge_cases(why, shape, layers, verdict):
    assert oracle.compare(shape, layers, no_bias_modes=(False,)) == verdict, why


@st.composite
def fractional_cases(draw):
    rank = draw(st.integers(2, 3))
    args = {"kernel_size": per_axis(draw, rank, mostly(st.integers(1, 4), 0))}
    how = draw(st.sampled_from(["size", "ratio", "ratio", "both", "neither"]) if one_in(draw, 8)
               else st.sampled_from(["size", "ratio"]))
    if how in ("size", "both"):
        args["output_size"] = per_axis(draw, rank, st.integers(1, 6))
    if how in ("ratio", "both"):
        ratio = st.sampled_from([0.3, 0.5, 0.75, 0.9]) if not one_in(draw, 10) else st.sampled_from([0.0, 1.0, 1.5])
        args["output_ratio"] = per_axis(draw, rank, ratio)
    if one_in(draw, 4):
        args["return_indices"] = True
    lead = [draw(st.integers(1, 2))] if draw(st.booleans()) else []
    shape = spatial_input(draw, rank, lead, draw(st.integers(1, 3)), 10 if rank < 3 else 7)
    return shape, [(f"FractionalMaxPool{rank}d", args)]


def test_fractional_max_pools_match_torch():
    # the windows' positions are random, their number is not: output_size or int(L * output_ratio)
    oracle.run_cases(fractional_cases(), check, min_ok=10, min_error=5, max_examples=50)


@st.composite
def unpool_cases(draw):
    """MaxPool with return_indices, then MaxUnpool with its indices (and sometimes output_size, in
    range or not; sometimes a kernel or stride other than the pool's)."""
    rank = draw(st.integers(1, 3))
    k = per_axis(draw, rank, st.integers(1, 3))
    s = per_axis(draw, rank, st.integers(1, 3))
    pool = {"kernel_size": k, "stride": s}
    unpool = dict(pool)
    if one_in(draw, 3):
        unpool["padding"] = per_axis(draw, rank, st.integers(0, 1))
    if one_in(draw, 4):
        unpool["kernel_size"] = per_axis(draw, rank, st.integers(1, 4))
    lead = [draw(st.integers(1, 2))] if draw(st.booleans()) else []
    shape = spatial_input(draw, rank, lead, draw(st.integers(1, 3)), 9 if rank < 3 else 6)
    size = None
    if one_in(draw, 3):
        size = [draw(st.integers(1, 14)) for _ in range(rank)]
        unpool["output_size"] = size
    return rank, shape, pool, unpool


def test_max_unpool_matches_torch():
    import json

    from netcalc.errors import SpecError
    from netcalc.network import analyze_text

    def check(case):
        rank, shape, pool, unpool = case
        spec = {"input": shape, "layers": [{f"MaxPool{rank}d": {**pool, "return_indices": True, "name": "p"}},
                                            {f"MaxUnpool{rank}d": {**unpool, "indices": "p.indices"}}]}
        make_pool = getattr(torch.nn, f"MaxPool{rank}d")(**pool, return_indices=True)
        args = {k: v for k, v in unpool.items() if k != "output_size"}
        make_unpool = getattr(torch.nn, f"MaxUnpool{rank}d")(**args)
        try:
            with torch.no_grad():
                out, idx = make_pool(torch.randn(shape))
                y = make_unpool(out, idx, output_size=unpool.get("output_size"))
        except (RuntimeError, ValueError) as e:
            if "invalid max index" in str(e):  # an output smaller than the pool's input: the data decide
                return "error"
            with pytest.raises(SpecError):
                analyze_text(json.dumps(spec), "x.yaml")
            return "error"
        if 0 in y.shape:  # torch makes empty tensors; netcalc refuses zero sizes (README, Reliability)
            with pytest.raises(SpecError, match="size 0"):
                analyze_text(json.dumps(spec), "x.yaml")
            return "error"
        report = analyze_text(json.dumps(spec), "x.yaml")
        assert tuple(report.output_shape) == tuple(y.shape), spec
        assert report.totals["params"] == 0 and report.totals["macs"] == 0
        return "ok"

    oracle.run_cases(unpool_cases(), check, min_ok=20, min_error=3, max_examples=120)
