"""Differential tests: RNN, LSTM, GRU, MultiheadAttention and TransformerEncoderLayer against
torch 2.13.0: output and state shapes, parameter names and shapes, counts with and without
--no-bias, and MACs from FlopCounterMode (attention counted in train mode under
SDPBackend.MATH, the contract's rule)."""

import pytest

torch = pytest.importorskip("torch", reason="differential suite needs torch==2.13.0 (pip install torch==2.13.0)")

import torch_oracle as oracle
from hypothesis import strategies as st
from torch_oracle import mostly, one_in


def sequence_input(draw, width, batch_first):
    """(L, N, D), (N, L, D) or unbatched (L, D); now and then a 4-D mistake."""
    seq, batch = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    how = draw(st.sampled_from(["batched", "batched", "unbatched", "4d"]) if one_in(draw, 10)
               else st.sampled_from(["batched", "batched", "unbatched"]))
    if how == "unbatched":
        return [seq, width]
    if how == "4d":
        return [1, seq, batch, width]
    return [batch, seq, width] if batch_first else [seq, batch, width]


@st.composite
def recurrent_cases(draw):
    kind = draw(st.sampled_from(["RNN", "LSTM", "GRU", "rnn", "lstm", "gru"]))
    d_in = draw(st.integers(1, 5))
    hidden = draw(mostly(st.integers(1, 6), 0, 10))
    args = {"hidden_size": hidden}
    if draw(st.booleans()):
        args["num_layers"] = draw(mostly(st.integers(1, 3), 0, 10))
    for key in ("bias", "batch_first", "bidirectional"):
        if draw(st.booleans()):
            args[key] = draw(st.booleans())
    if one_in(draw, 4):
        args["dropout"] = draw(st.sampled_from([0.0, 0.5, 1.5]))
    if kind.upper() == "LSTM" and draw(st.booleans()):
        args["proj_size"] = draw(st.integers(0, hidden + 1))
    if kind.upper() == "RNN" and draw(st.booleans()):
        args["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if one_in(draw, 4):
        args["input_size"] = d_in + draw(st.sampled_from([0, 0, 1]))
    return sequence_input(draw, d_in, args.get("batch_first", False)), [(kind, args)]


def check_recurrent(case):
    # MACs: FlopCounterMode sees every weight matmul of every step; netcalc's README convention
    # counts the same.
    return oracle.compare(case[0], case[1], check_macs=True)


def test_recurrent_layers_match_torch():
    oracle.run_cases(recurrent_cases(), check_recurrent, min_ok=15, min_error=1, max_examples=60)


@st.composite
def attention_cases(draw):
    heads = draw(st.integers(1, 4))
    e = heads * draw(st.integers(1, 3)) + (one_in(draw, 8))
    heads = draw(mostly(st.just(heads), 0, 20))
    if draw(st.booleans()):
        args = {"num_heads": heads}
        for key in ("bias", "add_bias_kv", "add_zero_attn", "batch_first"):
            if draw(st.booleans()):
                args[key] = draw(st.booleans())
        if one_in(draw, 5):
            args[draw(st.sampled_from(["kdim", "vdim", "embed_dim"]))] = e + draw(st.sampled_from([0, 1]))
        kind = "MultiheadAttention"
    else:
        args = {"nhead": heads, "dim_feedforward": draw(mostly(st.integers(1, 12), 0))}
        for key in ("bias", "batch_first", "norm_first"):
            if draw(st.booleans()):
                args[key] = draw(st.booleans())
        if draw(st.booleans()):
            args["activation"] = draw(st.sampled_from(["relu", "gelu"]))
        if draw(st.booleans()):
            args["dropout"] = draw(st.sampled_from([0.0, 0.1]))
        if one_in(draw, 5):
            args["d_model"] = e + draw(st.sampled_from([0, 1]))
        kind = draw(st.sampled_from(["TransformerEncoderLayer", "encoder", "TransformerEncoder"]))
        if kind == "TransformerEncoder":
            args["num_layers"] = draw(mostly(st.integers(1, 3), 0, 10))
            if draw(st.booleans()):
                args["norm"] = draw(st.booleans())
    return sequence_input(draw, e, args.get("batch_first", False)), [(kind, args)]


def check(case):
    return oracle.compare(case[0], case[1])


def test_attention_matches_torch():
    oracle.run_cases(attention_cases(), check, min_ok=15, min_error=3, max_examples=50)


EDGES = [
    ("embed_dim not divisible by num_heads", [3, 2, 10], [("MultiheadAttention", {"num_heads": 4})], "error"),
    ("d_model not divisible by nhead", [3, 2, 6], [("TransformerEncoderLayer", {"nhead": 4})], "error"),
    ("proj_size equal to hidden_size", [3, 2, 4], [("LSTM", {"hidden_size": 4, "proj_size": 4})], "error"),
    ("dropout with one layer only warns", [3, 2, 4], [("GRU", {"hidden_size": 3, "dropout": 0.5})], "ok"),
    ("unbatched bidirectional LSTM with projections", [5, 4],
     [("LSTM", {"hidden_size": 6, "proj_size": 2, "num_layers": 2, "bidirectional": True, "batch_first": True})], "ok"),
    ("self-attention with a different kdim", [3, 2, 8], [("MultiheadAttention", {"num_heads": 2, "kdim": 4})], "error"),
    ("batch-first encoder with gelu, norm first, no bias", [2, 3, 8],
     [("TransformerEncoderLayer", {"nhead": 2, "dim_feedforward": 16, "batch_first": True, "norm_first": True,
                                   "activation": "gelu", "bias": False})], "ok"),
]


@pytest.mark.parametrize("why,shape,layers,verdict", EDGES, ids=[e[0] for e in EDGES])
def test_sequence_edge_cases(why, shape, layers, verdict):
    assert oracle.compare(shape, layers, check_macs=True) == verdict, why


def test_encoder_fast_path_would_hide_macs():
    """Why the oracle counts in train mode: the eval-mode fused path reports no matmuls at all."""
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True).eval()
    with torch.no_grad(), torch.utils.flop_counter.FlopCounterMode(display=False) as counter:
        layer(torch.zeros(2, 3, 8))
    _, _, macs = oracle.forward("TransformerEncoderLayer", layer, (2, 3, 8))
    assert counter.get_total_flops() < 2 * macs


@st.composite
def cell_cases(draw):
    kind = draw(st.sampled_from(["RNNCell", "LSTMCell", "GRUCell"]))
    d_in = draw(st.integers(1, 5))
    args = {"hidden_size": draw(mostly(st.integers(1, 6), 0, 10))}
    if draw(st.booleans()):
        args["bias"] = draw(st.booleans())
    if kind == "RNNCell" and draw(st.booleans()):
        args["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if one_in(draw, 4):
        args["input_size"] = d_in + draw(st.sampled_from([0, 0, 1]))
    shape = draw(st.sampled_from([[d_in], [draw(st.integers(1, 3)), d_in], [1, 2, d_in]]))
    return shape, [(kind, args)]


def test_recurrent_cells_match_torch():
    # one step of each cell: the two matmuls (input and zero initial state) are FlopCounterMode's MACs
    oracle.run_cases(cell_cases(), check_recurrent, min_ok=10, min_error=2, max_examples=40)


@st.composite
def decoder_cases(draw):
    """Llama-style attention and gated MLP, against torch's SDPA (enable_gqa) and plain Linears."""
    width = draw(st.sampled_from([4, 6, 8, 12, 16]))
    shape = [draw(st.integers(1, 2)), draw(st.integers(1, 5)), width]
    if one_in(draw, 10):
        shape = shape[1:]
    if draw(st.booleans()):
        args = {"intermediate_size": draw(mostly(st.integers(1, 10), 0, 10))}
        if draw(st.booleans()):
            args["bias"] = draw(st.booleans())
        if draw(st.booleans()):
            args["activation"] = draw(st.sampled_from(["silu", "gelu", "gelu_tanh", "relu"]))
        return shape, [("GatedMLP", args)]
    heads = draw(st.sampled_from([1, 2, 3, 4]))
    args = {"num_heads": heads}
    if draw(st.booleans()):
        args["num_key_value_heads"] = draw(st.sampled_from([1, 2, heads]))
    if draw(st.booleans()):
        args["head_dim"] = draw(st.sampled_from([2, 3, 4, 8]))
    for key in ("bias", "out_bias", "causal", "rotary", "qk_norm"):
        if draw(st.booleans()):
            args[key] = draw(st.booleans())
    return shape, [("GroupedQueryAttention", args)]


def test_decoder_blocks_match_torch():
    oracle.run_cases(decoder_cases(), lambda case: oracle.compare(case[0], case[1], check_macs=True),
                     min_ok=15, min_error=5, max_examples=60)


# ----------------------------------------------------------------------------- two inputs (inputs:, memory:, tgt:)

@st.composite
def two_input_cases(draw):
    """(spec dict, torch module, its inputs): decoders reading memory:, Transformer reading tgt:,
    attention with key:/value: of other lengths and widths; now and then a mismatch torch refuses."""
    import torch.nn as nn

    heads = draw(st.integers(1, 3))
    e = heads * draw(st.integers(1, 3))
    f = draw(st.integers(1, 8))
    batch_first = draw(st.booleans())
    n, t, s = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4))

    def shape(length, width, batch=None):
        b = n if batch is None else batch
        return [b, length, width] if batch_first else [length, b, width]

    kind = draw(st.sampled_from(["TransformerDecoderLayer", "TransformerDecoder", "Transformer", "MultiheadAttention"]))
    bias = draw(st.booleans())
    wrong_width = e + 1 if one_in(draw, 8) else e
    wrong_batch = n + 1 if one_in(draw, 8) else n
    common = {"batch_first": batch_first, "bias": bias}
    if kind == "MultiheadAttention":
        kdim, vdim = draw(st.sampled_from([e, e + 1, 2])), draw(st.sampled_from([e, 3]))
        spec = {"inputs": {"q": shape(t, e), "k": shape(s, kdim, wrong_batch), "v": shape(s, vdim)},
                "layers": [{"MultiheadAttention": {"num_heads": heads, "key": "k", "value": "v", **common}}]}

        def make():
            return nn.MultiheadAttention(e, heads, kdim=kdim, vdim=vdim, **common)
        return spec, make, [shape(t, e), shape(s, kdim, wrong_batch), shape(s, vdim)]
    layer = {"nhead": heads, "dim_feedforward": f, "norm_first": draw(st.booleans()), **common}
    if kind == "Transformer":
        enc, dec = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        spec = {"inputs": {"src": shape(s, e), "tgt": shape(t, wrong_width, wrong_batch)},
                "layers": [{"Transformer": {"num_encoder_layers": enc, "num_decoder_layers": dec, "tgt": "tgt",
                                            **layer}}]}

        def make():
            return nn.Transformer(e, heads, enc, dec, f, **common, norm_first=layer["norm_first"])
        return spec, make, [shape(s, e), shape(t, wrong_width, wrong_batch)]
    spec_layer = dict(layer, memory="memory")
    if kind == "TransformerDecoder":
        spec_layer.update(num_layers=draw(st.integers(1, 2)), norm=draw(st.booleans()))
    spec = {"inputs": {"tgt": shape(t, e), "memory": shape(s, wrong_width, wrong_batch)},
            "layers": [{kind: spec_layer}]}

    def make():
        one = nn.TransformerDecoderLayer(e, **layer)
        if kind == "TransformerDecoderLayer":
            return one
        return nn.TransformerDecoder(one, spec_layer["num_layers"],
                                     norm=nn.LayerNorm(e, bias=bias) if spec_layer["norm"] else None)
    return spec, make, [shape(t, e), shape(s, wrong_width, wrong_batch)]


def check_two_inputs(case):
    import json

    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from netcalc.errors import SpecError
    from netcalc.network import analyze_text

    spec, make, shapes = case
    try:
        module = make().train()
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            y = module(*[torch.zeros(s) for s in shapes])
        expected = (tuple((y[0] if isinstance(y, tuple) else y).shape), sum(p.numel() for p in module.parameters()),
                    counter.get_total_flops() // 2)
    except (RuntimeError, ValueError, AssertionError, IndexError):
        with pytest.raises(SpecError):
            analyze_text(json.dumps(spec), "x.yaml")
        return "error"
    report = analyze_text(json.dumps(spec), "x.yaml")
    got = (tuple(report.output_shape), report.totals["params"], report.totals["macs"])
    assert got == expected, spec
    return "ok"


def test_two_input_layers_match_torch():
    oracle.run_cases(two_input_cases(), check_two_inputs, min_ok=15, min_error=2, max_examples=60)


@st.composite
def pair_cases(draw):
    """CosineSimilarity and PairwiseDistance of two broadcastable (or not) tensors."""
    import torch.nn as nn

    base = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(1, 3)))]
    other = [d if draw(st.integers(0, 3)) else draw(st.sampled_from([1, d + 1])) for d in base]
    other = other[draw(st.integers(0, len(other) - 1)):] if draw(st.booleans()) else other
    if draw(st.booleans()):
        args = {"dim": draw(st.integers(-3, 2))}
        kind, make = "CosineSimilarity", lambda: nn.CosineSimilarity(**args)
    else:
        args = {"keepdim": draw(st.booleans()), "p": draw(st.sampled_from([1.0, 2.0]))}
        kind, make = "PairwiseDistance", lambda: nn.PairwiseDistance(**args)
    spec = {"inputs": {"a": base, "b": other}, "layers": [{kind: {**args, "x2": "b"}}]}
    return spec, make, [base, other]


def test_pairwise_layers_match_torch():
    oracle.run_cases(pair_cases(), check_two_inputs, min_ok=10, min_error=2, max_examples=50)


class _Fn(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


@st.composite
def tensor_op_cases(draw):
    """matmul (broadcast batches, 2-D operands: FlopCounterMode counts mm/bmm), einsum of two operands,
    scaled_dot_product_attention (with GQA), chunk, split and stack."""
    import torch.nn.functional as F

    kind = draw(st.sampled_from(["Matmul", "Einsum", "ScaledDotProductAttention", "Chunk", "Split", "Stack"]))
    dims = st.integers(1, 4)
    if kind == "Stack":
        a = [draw(dims) for _ in range(draw(st.integers(1, 3)))]
        b = list(a) if not one_in(draw, 6) else [d + 1 for d in a]
        dim = draw(st.integers(-len(a) - 2, len(a) + 1))
        spec = {"inputs": {"a": a, "b": b}, "layers": [{"Stack": {"other": "b", "dim": dim}}]}
        return spec, lambda: _Fn(lambda x, y: torch.stack([x, y], dim)), [a, b]
    if kind == "Matmul":
        m, k, n = draw(dims), draw(dims), draw(dims)
        batch_a = [draw(st.sampled_from([1, 2, 3])) for _ in range(draw(st.integers(0, 2)))]
        batch_b = batch_a[draw(st.integers(0, len(batch_a))):] if draw(st.booleans()) else [
            draw(st.sampled_from([1, 2])) for _ in range(draw(st.integers(0, 2)))]
        a, b = [*batch_a, m, k], [*batch_b, k + (1 if one_in(draw, 8) else 0), n]
        spec = {"inputs": {"a": a, "b": b}, "layers": [{"Matmul": {"other": "b"}}]}
        return spec, lambda: _Fn(torch.matmul), [a, b]
    if kind == "Einsum":
        b_, i, j, k = draw(dims), draw(dims), draw(dims), draw(dims)
        eq, a, b = draw(st.sampled_from([("bij,bjk->bik", [b_, i, j], [b_, j, k]), ("ij,kj->ik", [i, j], [k, j]),
                                         ("bij,bij->bi", [b_, i, j], [b_, i, j]), ("ij,jk", [i, j], [j, k])]))
        if one_in(draw, 8):
            b = [d + 1 for d in b]
        spec = {"inputs": {"a": a, "b": b}, "layers": [{"Einsum": {"equation": eq, "other": "b"}}]}
        return spec, lambda: _Fn(lambda x, y: torch.einsum(eq, x, y)), [a, b]
    if kind == "ScaledDotProductAttention":
        n, hkv, length, s, e, ev = (draw(dims) for _ in range(6))
        group = draw(st.sampled_from([1, 2]))
        gqa = group > 1 or draw(st.booleans())
        q, k, v = [n, hkv * group, length, e], [n, hkv, s, e], [n, hkv, s, ev]
        causal = draw(st.booleans())
        spec = {"inputs": {"q": q, "k": k, "v": v},
                "layers": [{"ScaledDotProductAttention": {"key": "k", "value": "v", "is_causal": causal,
                                                          "enable_gqa": gqa}}]}
        return spec, lambda: _Fn(lambda x, y, z: F.scaled_dot_product_attention(
            x, y, z, is_causal=causal, enable_gqa=gqa)), [q, k, v]
    shape = [draw(dims) for _ in range(draw(st.integers(1, 3)))]
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    if kind == "Chunk":
        chunks = draw(st.integers(1, 5))
        spec = {"input": shape, "layers": [{"Chunk": {"chunks": chunks, "dim": dim}}]}
        return spec, lambda: _Fn(lambda x: x.chunk(chunks, dim)[0]), [shape]
    size = draw(st.integers(1, 3))
    spec = {"input": shape, "layers": [{"Split": {"split_size_or_sections": size, "dim": dim}}]}
    return spec, lambda: _Fn(lambda x: x.split(size, dim)[0]), [shape]


def test_tensor_ops_match_torch():
    # MACs compared where FlopCounterMode counts the op (it counts 0 for 1-D dot and matrix-vector products)
    oracle.run_cases(tensor_op_cases(), check_two_inputs, min_ok=15, min_error=2, max_examples=60)
