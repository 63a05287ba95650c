"""Differential tests: Linear, Bilinear, Embedding, Flatten, Unflatten, Identity, activations,
dropouts and normalisation layers against torch 2.13.0 (shapes, parameters, counts with and
without --no-bias, Linear MACs and FLOPs, and the configurations torch rejects)."""

import math

import pytest

torch = pytest.importorskip("torch", reason="differential suite needs torch==2.13.0 (pip install torch==2.13.0)")

import torch_oracle as oracle
from hypothesis import strategies as st
from torch_oracle import mostly, one_in

dims = st.lists(st.integers(1, 4), min_size=0, max_size=3)


def check(case):
    shape, layers = case
    return oracle.compare(shape, layers)


# ----------------------------------------------------------------------------- Linear & co

@st.composite
def linear_cases(draw):
    d_in = draw(st.integers(1, 6))
    shape = [*draw(dims), d_in]
    kind = draw(st.sampled_from(["Linear", "linear", "Bilinear"]))
    args = {"out_features": draw(mostly(st.integers(1, 5), 0))}
    if draw(st.booleans()):
        args["bias"] = draw(st.booleans())
    if one_in(draw, 4):
        key = "in1_features" if kind == "Bilinear" else "in_features"
        args[key] = d_in + draw(st.sampled_from([0, 0, 1]))
    return shape, [(kind, args)]


def test_linear_matches_torch():
    oracle.run_cases(linear_cases(), check, min_ok=15, min_error=2, max_examples=40)


@st.composite
def embedding_cases(draw):
    n = draw(mostly(st.integers(1, 6), 0))
    args = {"num_embeddings": n, "embedding_dim": draw(mostly(st.integers(1, 5), 0))}
    if draw(st.booleans()):
        args["padding_idx"] = draw(st.integers(-n - 1, n))
    if one_in(draw, 4):
        args["max_norm"] = 1.0
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3)))]
    return shape, [("Embedding", args)]


def test_embedding_matches_torch():
    oracle.run_cases(embedding_cases(), check, min_ok=10, min_error=1, max_examples=30)


@st.composite
def reshape_cases(draw):
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 4)))]
    kind = draw(st.sampled_from(["Flatten", "Unflatten", "Identity"]))
    if kind == "Flatten":
        args = {k: draw(st.integers(-5, 4)) for k in ("start_dim", "end_dim") if draw(st.booleans())}
    elif kind == "Unflatten":
        dim = draw(st.integers(-len(shape) - 1, len(shape)))
        size = shape[dim] if -len(shape) <= dim < len(shape) else 4
        factors = [f for f in range(1, size + 1) if size % f == 0]
        f = draw(st.sampled_from(factors))
        sizes = [f, size // f]
        if draw(st.booleans()):
            sizes[draw(st.integers(0, 1))] = -1
        if one_in(draw, 6):
            sizes.append(2)
        args = {"dim": dim, "unflattened_size": sizes}
    else:
        args = {}
    return shape, [(kind, args)]


def test_flatten_unflatten_match_torch():
    oracle.run_cases(reshape_cases(), check, min_ok=15, min_error=3, max_examples=50)


# ----------------------------------------------------------------------------- activations

ACTIVATIONS = {
    "ReLU": {}, "ReLU6": {}, "SELU": {}, "SiLU": {}, "Mish": {}, "Hardswish": {}, "Hardsigmoid": {},
    "Sigmoid": {}, "Tanh": {}, "LogSigmoid": {}, "Softsign": {}, "Tanhshrink": {},
    "LeakyReLU": {"negative_slope": 0.2}, "ELU": {"alpha": 0.5}, "CELU": {}, "GELU": {"approximate": "tanh"},
    "Hardtanh": {"min_val": -2.0, "max_val": 2.0}, "Softplus": {"beta": 2}, "Hardshrink": {}, "Softshrink": {},
    "Threshold": {"threshold": 0.1, "value": 0.0}, "RReLU": {}, "Softmax": {"dim": -1}, "LogSoftmax": {"dim": 0},
    "Softmin": {"dim": 1}, "Softmax2d": {}, "PReLU": {}, "GLU": {},
    "Dropout": {"p": 0.3}, "Dropout1d": {}, "Dropout2d": {"p": 0.1}, "Dropout3d": {}, "AlphaDropout": {},
    "FeatureAlphaDropout": {"p": 0.2},
}


@st.composite
def activation_cases(draw):
    kind = draw(st.sampled_from(sorted(ACTIVATIONS)))
    args = dict(ACTIVATIONS[kind]) if draw(st.booleans()) else {}
    if kind in ("Threshold",):
        args = dict(ACTIVATIONS[kind])
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 5)))]
    if kind in ("Softmax", "LogSoftmax", "Softmin") and "dim" in args:
        args["dim"] = draw(st.integers(-len(shape) - 1, len(shape)))
    if kind == "GLU":
        args = {"dim": draw(st.integers(-len(shape), len(shape) - 1))}
    if kind == "PReLU" and draw(st.booleans()):
        args = {"num_parameters": shape[1] if len(shape) > 1 else shape[0]}
        args["num_parameters"] += draw(st.sampled_from([0, 0, 1]))
    if kind.startswith("Dropout") and one_in(draw, 6):
        args["p"] = 1.5
    return shape, [(kind, args)]


def test_activations_and_dropout_match_torch():
    oracle.run_cases(activation_cases(), check, min_ok=30, min_error=3, max_examples=80)


SHAPES = ([3], [2, 4], [2, 4, 3], [1, 2, 4, 3], [1, 2, 2, 4, 3])


@pytest.mark.parametrize("kind", sorted(ACTIVATIONS) + ["LocalResponseNorm"])
def test_every_activation_rank(kind):
    """Each element-wise kind on 1-D to 5-D inputs: torch's rank rules (Softmax2d, Dropout1d, GLU...)."""
    args = {"size": 2} if kind == "LocalResponseNorm" else ACTIVATIONS[kind]
    verdicts = {oracle.compare(shape, [(kind, args)]) for shape in SHAPES}
    assert "ok" in verdicts


# ----------------------------------------------------------------------------- norms

@st.composite
def norm_cases(draw):
    kind = draw(st.sampled_from(["BatchNorm", "InstanceNorm", "LayerNorm", "GroupNorm", "RMSNorm",
                                 "LocalResponseNorm"]))
    rank = draw(st.integers(1, 3))
    args = {}
    if kind in ("BatchNorm", "InstanceNorm"):
        c = draw(st.integers(1, 4))
        ndim = draw(st.sampled_from([rank + 1, rank + 2, rank + 2, rank + 3]))
        shape = [draw(st.integers(1, 3)) for _ in range(ndim)]
        if ndim >= 2:
            shape[1 if ndim == rank + 2 else 0] = c
        for key in ("affine", "track_running_stats", "bias"):
            if draw(st.booleans()):
                args[key] = draw(st.booleans())
        if one_in(draw, 3):
            args["num_features"] = c + draw(st.sampled_from([0, 1]))
        kind = f"{kind}{rank}d"
    elif kind in ("LayerNorm", "RMSNorm"):
        shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 4)))]
        if draw(st.booleans()):
            n = draw(st.integers(1, len(shape)))
            normalized = list(shape[-n:])
            if one_in(draw, 5):
                normalized[0] += 1
            args["normalized_shape"] = normalized[0] if n == 1 and draw(st.booleans()) else normalized
        args["elementwise_affine"] = draw(st.booleans())
        if kind == "LayerNorm" and draw(st.booleans()):
            args["bias"] = draw(st.booleans())
    elif kind == "GroupNorm":
        groups = draw(st.integers(1, 3))
        c = groups * draw(st.integers(1, 3)) + (one_in(draw, 6))
        shape = [draw(st.integers(1, 2)), c] + [draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 3)))]
        args["num_groups"] = draw(mostly(st.just(groups), 0))
        for key in ("affine", "bias"):
            if draw(st.booleans()):
                args[key] = draw(st.booleans())
        if one_in(draw, 4):
            args["num_channels"] = c + draw(st.sampled_from([0, 1]))
    else:
        shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(2, 5)))]
        args["size"] = draw(mostly(st.integers(1, 4), 0))
    return shape, [(kind, args)]


def test_norms_match_torch():
    oracle.run_cases(norm_cases(), check, min_ok=30, min_error=5, max_examples=80)


EDGES = [
    ("InstanceNorm num_features mismatch without affine only warns", [2, 3, 5],
     [("InstanceNorm1d", {"num_features": 4})], "ok"),
    ("InstanceNorm num_features mismatch with affine", [2, 3, 5],
     [("InstanceNorm1d", {"num_features": 4, "affine": True})], "error"),
    ("BatchNorm keyword-only bias=False", [2, 3, 4, 4], [("BatchNorm2d", {"bias": False})], "ok"),
    ("GroupNorm channels not divisible by groups", [2, 6, 4], [("GroupNorm", {"num_groups": 4})], "error"),
    ("LayerNorm over two trailing dims", [2, 3, 4], [("LayerNorm", {"normalized_shape": [3, 4]})], "ok"),
    ("LayerNorm shape not trailing", [2, 3, 4], [("LayerNorm", {"normalized_shape": [2, 3]})], "error"),
    ("Linear in_features disagrees", [4, 5], [("Linear", {"in_features": 6, "out_features": 2})], "error"),
    ("Flatten start after end", [2, 3, 4], [("Flatten", {"start_dim": 2, "end_dim": 1})], "error"),
    ("Unflatten sizes do not multiply out", [2, 12], [("Unflatten", {"dim": 1, "unflattened_size": [5, -1]})], "error"),
    ("GLU over an odd dimension", [2, 5], [("GLU", {})], "error"),
    ("Embedding padding_idx out of range", [3], [("Embedding", {"num_embeddings": 4, "embedding_dim": 2,
                                                               "padding_idx": 4})], "error"),
]


@pytest.mark.parametrize("why,shape,layers,verdict", EDGES, ids=[e[0] for e in EDGES])
def test_dense_edge_cases(why, shape, layers, verdict):
    assert oracle.compare(shape, layers) == verdict, why


def test_no_bias_spares_embedding_and_clears_norm_biases():
    """--no-bias removes every bias torch would drop (norms' keyword-only bias too), never Embedding's weight."""
    layers = [("Embedding", {"num_embeddings": 7, "embedding_dim": 6}), ("LayerNorm", {}),
              ("Unflatten", {"dim": 2, "unflattened_size": [3, 2]}), ("BatchNorm2d", {}),
              ("GroupNorm", {"num_groups": 1}), ("InstanceNorm2d", {"affine": True}), ("Flatten", {}),
              ("Linear", {"out_features": 3})]
    assert oracle.compare([2, 4], layers) == "ok"
    tls = oracle.run_torch([2, 4], layers, no_bias=True)
    assert all("bias" not in name for tl in tls for name in tl.params)
    assert math.prod(tls[0].params["weight"]) == 42
