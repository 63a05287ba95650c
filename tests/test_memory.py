"""Training memory (netcalc/memory.py) against torch 2.13 itself: the spec exported to PyTorch, one
training-mode forward on the CPU under ``torch.autograd.graph.saved_tensors_hooks``, each distinct
storage counted once, parameters left out, the output kept alive."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch", reason="the memory oracle needs torch==2.13.0")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netcalc.check import build
from netcalc.export import export
from netcalc.memory import NotModelled, training_memory
from netcalc.network import analyze
from netcalc.spec import parse


def measured(text, autocast: bool = False) -> int:
    """Bytes of the distinct non-parameter storages autograd saves in one training forward of the
    spec (text, or a parsed Spec); ``autocast``: float32 parameters and the forward under
    torch.autocast to bfloat16."""
    import contextlib

    spec = parse(text, "m.yaml") if isinstance(text, str) else text
    exp = export(spec)
    model = build(exp, "cpu").train()
    torch.manual_seed(0)
    shape = tuple(exp.input_shape)
    x = torch.zeros(shape, dtype=torch.long) if exp.input_dtype == "long" else torch.randn(shape)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            storages[ptr] = t.untyped_storage().nbytes()
        return t

    others = [torch.randn(tuple(shape)) for shape in exp.other_inputs]  # inputs: after the first
    cast = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), cast:
        y = model(x, *others)  # noqa: F841 (kept alive while the storages are read)
    return sum(storages.values())


def predicted(text: str) -> int:
    return training_memory(analyze(parse(text, "m.yaml"))).saved_bytes


def spec(input_shape, *layers) -> str:
    return json.dumps({"input": list(input_shape), "layers": list(layers)})


SINGLE = [  # (input, layers before the one under test (a conv makes its input require grad), the layer)
    ([2, 3, 8, 8], "Conv2d", {"out_channels": 4, "kernel_size": 3}),
    ([2, 3, 8, 8], "ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "stride": 2}),
    ([2, 5], "Linear", {"out_features": 4}),
    ([2, 3, 5], "Linear", {"out_features": 4}),
    ([2, 3], "Embedding", {"num_embeddings": 10, "embedding_dim": 4}),
    *(([3, 5], "EmbeddingBag", {"num_embeddings": 10, "embedding_dim": 4, "mode": mode, **more})
      for mode in ("sum", "mean", "max") for more in ({}, {"padding_idx": 0})),
]
AFTER_CONV = [  # each behind Conv2d(3 → 4, k=1) on [2, 3, 6, 6]
    ("ReLU", {}), ("ReLU", {"inplace": True}), ("ReLU6", {"inplace": True}), ("SiLU", {"inplace": True}),
    ("LeakyReLU", {"inplace": True}), ("ELU", {"inplace": True}), ("RReLU", {"inplace": True}),
    ("Hardtanh", {"inplace": True}), ("Dropout", {"inplace": True}), ("GELU", {}), ("SiLU", {}), ("Sigmoid", {}), ("Tanh", {}),
    ("LeakyReLU", {}), ("ReLU6", {}), ("Hardswish", {}), ("Hardsigmoid", {}), ("ELU", {}), ("CELU", {}),
    ("SELU", {}), ("Mish", {}), ("Softplus", {}), ("Hardtanh", {}), ("LogSigmoid", {}), ("Softsign", {}),
    ("Tanhshrink", {}), ("Hardshrink", {}), ("Softshrink", {}), ("Threshold", {"threshold": 0.1, "value": 0.0}),
    ("Softmax", {"dim": 1}), ("LogSoftmax", {"dim": 1}), ("Softmin", {"dim": 1}), ("Softmax2d", {}),
    ("GLU", {"dim": 1}), ("PReLU", {}),
    ("BatchNorm2d", {}), ("BatchNorm2d", {"track_running_stats": False}), ("BatchNorm2d", {"affine": False}),
    ("InstanceNorm2d", {}), ("InstanceNorm2d", {"affine": True}),
    ("InstanceNorm2d", {"affine": True, "track_running_stats": True}),
    ("GroupNorm", {"num_groups": 2}), ("GroupNorm", {"num_groups": 2, "affine": False}),
    ("LayerNorm", {}), ("LayerNorm", {"normalized_shape": [6, 6]}), ("LayerNorm", {"elementwise_affine": False}),
    ("RMSNorm", {}), ("RMSNorm", {"elementwise_affine": False}),
    ("MaxPool2d", {"kernel_size": 2}), ("AvgPool2d", {"kernel_size": 2}), ("AdaptiveAvgPool2d", {"output_size": 1}),
    ("AdaptiveAvgPool2d", {"output_size": 3}), ("AdaptiveMaxPool2d", {"output_size": 2}),
    ("Dropout", {}), ("Dropout", {"p": 0.0}), ("Dropout2d", {}), ("Flatten", {}),
    ("Upsample", {"scale_factor": 2}), ("Upsample", {"scale_factor": 2, "mode": "bilinear"}),
    ("ZeroPad2d", {"padding": 1}), ("ReflectionPad2d", {"padding": 1}), ("Identity", {}),
    ("PixelShuffle", {"upscale_factor": 2}), ("ChannelShuffle", {"groups": 2}),
    ("Permute", {"dims": [0, 2, 3, 1]}), ("Mean", {"dim": [2, 3]}),
    ("LPPool2d", {"norm_type": 2, "kernel_size": 2}), ("LPPool2d", {"norm_type": 3.0, "kernel_size": 3, "stride": 1}),
    ("ReplicationPad2d", {"padding": 1}), ("CircularPad2d", {"padding": 1}),
    ("AlphaDropout", {"p": 0.3}), ("AlphaDropout", {"p": 1.0}), ("FeatureAlphaDropout", {"p": 0.3}),
]


@pytest.mark.parametrize("input_shape, kind, args", SINGLE, ids=[f"{k}-{len(s)}d" for s, k, _ in SINGLE])
def test_single_layers_on_the_network_input(input_shape, kind, args):
    text = spec(input_shape, {kind: args}, "ReLU")
    assert predicted(text) == measured(text)
    assert predicted_mixed(text) == measured_mixed(text)


def test_a_parameter_does_not_make_the_data_need_a_gradient():
    """nn.Parameter held by a module that passes its input on: the ReLU after it records nothing."""
    for after in (["ReLU"], [{"Linear": {"out_features": 4}}, "ReLU"]):
        text = spec([2, 5, 4], {"Parameter": {"shape": [3]}}, *after)
        assert predicted(text) == measured(text) and predicted_mixed(text) == measured_mixed(text)


@pytest.mark.parametrize("kind, args", AFTER_CONV, ids=[f"{k}{'-' + '-'.join(a) if a else ''}" for k, a in AFTER_CONV])
def test_each_kind_behind_a_conv(kind, args):
    text = spec([2, 3, 6, 6], {"Conv2d": {"out_channels": 4, "kernel_size": 1}}, {kind: args})
    assert predicted(text) == measured(text)


def test_layers_before_any_parameter_save_nothing():
    text = spec([2, 3, 8, 8], "ReLU", {"MaxPool2d": {"kernel_size": 2}}, {"Conv2d": {"out_channels": 4,
                                                                                      "kernel_size": 3}})
    report = analyze(parse(text, "m.yaml"))
    assert training_memory(report).saved[:2] == [0, 0]
    assert predicted(text) == measured(text)


@st.composite
def chains(draw):
    """Random CNN chains of the modelled kinds, with residuals and concats."""
    kinds = [("Conv2d", lambda: {"out_channels": 4, "kernel_size": 3, "padding": 1}),
             ("BatchNorm2d", dict), ("ReLU", dict), ("ReLU", lambda: {"inplace": True}), ("GELU", dict),
             ("MaxPool2d", lambda: {"kernel_size": 2, "ceil_mode": True}), ("Dropout", dict), ("Sigmoid", dict),
             ("residual", lambda: {"layers": [{"Conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}},
                                              "ReLU"]}),
             ("concat", lambda: {"branches": [[{"Conv2d": {"out_channels": 2, "kernel_size": 1}}],
                                              [{"Conv2d": {"out_channels": 2, "kernel_size": 3, "padding": 1}},
                                               "ReLU"]]}),
             ("ReLU6", lambda: {"inplace": True}), ("Hardswish", lambda: {"inplace": True}),
             ("DepthwiseConv2d", lambda: {"kernel_size": 3, "padding": 1}),
             ("multiply", lambda: {"layers": [{"AdaptiveAvgPool2d": {"output_size": 1}}, "Sigmoid"]})]
    layers = [{"Conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}}] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(1, 6))):
        kind, args = kinds[draw(st.integers(0, len(kinds) - 1))]
        layers.append({kind: args()})
    return spec([2, 4, 8, 8], *layers, "Flatten", {"Linear": {"out_features": 3}})


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(chains())
def test_random_networks(text):
    assert predicted(text) == measured(text), text


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "resnet18", "resnet50", "mobilenet_v2", "efficientnet_b0",
                                  "vgg16", "densenet121", "unet", "inception_v3", "lstm_lm"])
def test_zoo_models(name):
    """Every CNN of the zoo and the LSTM language model, exact (Inception v3 at batch 2: torch refuses
    to train BatchNorm on one value per channel, its auxiliary head's 1×1 maps)."""
    from netcalc.api import load

    parsed, _ = load(name)
    parsed.input = [2 if name == "inception_v3" else 1, *parsed.input[1:]]
    assert training_memory(analyze(parsed)).saved_bytes == measured(parsed)


@pytest.mark.parametrize("name, old, new", [("bert_base", "L: 128", "L: 16"), ("vit_b_16", "", ""),
                                             ("gpt2", "n_positions: 1024", "n_positions: 32")])
def test_zoo_transformers(name, old, new):
    """Whole transformers, exact: BERT-base at 16 tokens, ViT-B/16, and GPT-2 (its config) at 32."""
    from netcalc.api import zoo_path

    with open(zoo_path(name), encoding="utf-8") as fh:
        text = fh.read().replace(old, new)
    assert predicted(text) == measured(text)


@st.composite
def recurrent_specs(draw, kinds=("RNN", "GRU", "LSTM"), projected=False):
    """nn.RNN, nn.GRU and nn.LSTM (with and without proj_size) of every arrangement: layers,
    directions, batch_first, unbatched input, dropout, bias, one step or one sequence (where a
    batch_first transpose needs no copy)."""
    kind = draw(st.sampled_from(kinds))
    seq, batch, width = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 5))
    layers = draw(st.integers(1, 3))
    args = {"hidden_size": draw(st.integers(2 if projected else 1, 5)), "num_layers": layers, "bias": draw(st.booleans()),
            "bidirectional": draw(st.booleans()), "batch_first": draw(st.booleans())}
    if layers > 1 and draw(st.booleans()):
        args["dropout"] = 0.5
    if kind == "LSTM" and args["hidden_size"] > 1 and (projected or draw(st.booleans())):
        args["proj_size"] = draw(st.integers(1, args["hidden_size"] - 1))
    batched = draw(st.booleans()) or args["batch_first"]
    shape = ([batch, seq, width] if args["batch_first"] else [seq, batch, width]) if batched else [seq, width]
    before = [{"Linear": {"out_features": width}}] if draw(st.booleans()) else []
    return spec(shape, *before, {kind: args})


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(recurrent_specs())
def test_rnn_and_gru_loops(text):
    """torch's CPU loop saves per step: RNN its output; GRU the gates' projections, three (N, H)
    tensors and every output but the last. LSTM runs oneDNN per layer and direction and keeps its
    workspace (tests/test_memory.py's larger widths are checked by hand too); with proj_size torch's
    own loop, which keeps per step the gates, tanh of the cell, h before and after its projection
    and the cell."""
    assert predicted(text) == measured(text), text


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(recurrent_specs(kinds=("LSTM",), projected=True))
def test_lstm_with_projections(text):
    """nn.LSTM with proj_size, which oneDNN does not run: torch's own loop over the steps."""
    assert predicted(text) == measured(text), text


@pytest.mark.parametrize("mixed", [False, True])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_max_unpool_saves_nothing_new(rank, mixed):
    """MaxUnpool's node keeps the pool's indices, which the MaxPool saved: nothing more (export does
    not write a pool's indices yet, so torch's side is written here). Under autocast the pool (with
    indices) runs in its input's dtype, the unpool in float32: the ReLU after it keeps float32."""
    import contextlib

    nn = torch.nn
    shape = [2, 3] + [4] * rank
    conv, pool, unpool = (getattr(nn, f"{k}{rank}d") for k in ("Conv", "MaxPool", "MaxUnpool"))
    text = spec(shape, {f"Conv{rank}d": {"out_channels": 3, "kernel_size": 1}},
                {f"MaxPool{rank}d": {"kernel_size": 2, "return_indices": True, "name": "p"}},
                {f"MaxUnpool{rank}d": {"kernel_size": 2, "indices": "p.indices"}}, "ReLU")
    c, p, u = conv(3, 3, 1), pool(2, return_indices=True), unpool(2)
    storages: dict = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in {q.untyped_storage().data_ptr() for q in c.parameters()}:
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    cast = torch.autocast("cpu", dtype=torch.bfloat16) if mixed else contextlib.nullcontext()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), cast:
        y = torch.relu(u(*p(c(torch.randn(shape)))))  # noqa: F841
    assert (predicted_mixed(text) if mixed else predicted(text)) == sum(storages.values())


def test_gradients_and_optimizer_state():
    report = analyze(parse(spec([2, 5], {"Linear": {"out_features": 4}}), "m.yaml"))
    for optimizer, states in (("sgd", 0), ("momentum", 1), ("adam", 2), ("adamw", 2)):
        m = training_memory(report, optimizer)
        assert (m.param_bytes, m.grad_bytes, m.optimizer_bytes) == (24 * 4, 24 * 4, states * 24 * 4)
        assert m.total_bytes == m.param_bytes + m.grad_bytes + m.optimizer_bytes + m.saved_bytes


def test_the_command(cli):
    result = cli("memory", "resnet18", "--training", "--optimizer", "sgd", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    totals = doc["totals"]
    assert totals["saved_bytes"] == sum(layer["saved_bytes"] for layer in doc["layers"])
    assert totals["grad_bytes"] == totals["param_bytes"] and totals["optimizer_bytes"] == 0
    assert totals["total_bytes"] == totals["param_bytes"] * 2 + totals["saved_bytes"]
    table = cli("memory", "resnet18", "--training")
    assert "saved bytes" in table.output and "training total" in table.output
    refused = cli("memory", "-", "--training", input=json.dumps(
        {"inputs": {"x": [2, 3, 4], "k": [2, 4, 5]}, "layers": [{"Linear": {"out_features": 4}}, {"Transpose": {
            "dim0": 1, "dim1": 2}}, {"Einsum": {"equation": "bij,bik->bjk", "other": "k"}}]}))
    assert refused.exit_code == 2 and "Einsum" in refused.stderr
    assert cli("memory", "resnet18", "--training", "--optimizer", "lion").exit_code == 2
    assert "saved_bytes" not in cli("memory", "resnet18", "--format", "json").output


@pytest.mark.parametrize("text, per_layer", [
    # GQA: 2 (K, V) x batch 2 x 2 key/value heads x 6 tokens x head_dim 4
    ("input: [2, 6, 16]\nlayers:\n  - GroupedQueryAttention: {num_heads: 4, num_key_value_heads: 2}\n", 2 * 2 * 2 * 6 * 4),
    # MultiheadAttention (L, N, E): keys and values after their projections, (N, S, E) each
    ("input: [6, 2, 16]\nlayers:\n  - MultiheadAttention: {num_heads: 4}\n", 2 * 2 * 6 * 16),
    ("input: [6, 2, 16]\nlayers:\n  - MultiheadAttention: {num_heads: 4, add_bias_kv: true}\n", 2 * 2 * 7 * 16),
    ("input: [6, 2, 16]\nlayers:\n  - TransformerEncoder: {nhead: 4, num_layers: 3}\n", 3 * 2 * 2 * 6 * 16),
    # a decoder layer: its self-attention (6 tokens) and its attention to the 9-token memory
    ("inputs: {tgt: [6, 2, 16], mem: [9, 2, 16]}\nlayers:\n  - TransformerDecoderLayer: {nhead: 4, memory: mem}\n",
     2 * 2 * 6 * 16 + 2 * 2 * 9 * 16),
    ("input: [2, 6, 16]\nlayers:\n  - Linear: {out_features: 16}\n", 0),
])
def test_kv_cache(cli, tmp_path, text, per_layer):
    """The keys and values each attention kind computes (what a generation cache holds), at --dtype."""
    path = tmp_path / "attn.yaml"
    path.write_text(text)
    for dtype, size in (("float32", 4), ("bfloat16", 2)):
        doc = json.loads(cli("memory", str(path), "--dtype", dtype, "--format", "json").output)
        assert doc["totals"].get("kv_cache_bytes", 0) == per_layer * size
        assert doc["layers"][-1].get("kv_cache_bytes", 0) == per_layer * size
    table = cli("memory", str(path)).output
    assert ("KV cache" in table) == bool(per_layer)


BATCHED = """input: [B, 3, 16, 16]
symbols: {B: 1}
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
  - BatchNorm2d
  - ReLU
  - MaxPool2d: {kernel_size: 2}
  - Flatten
  - Linear: {out_features: 10}
"""


def measured_step(text: str, batch: int, optimizer_states: int) -> int:
    """torch's bytes for one training step: parameters, their gradients and optimizer state, and the
    storages autograd saves."""
    concrete = text.replace("[B, 3, 16, 16]", f"[{batch}, 3, 16, 16]")
    model = build(export(parse(concrete, "m.yaml")), "cpu")
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return measured(concrete) + param_bytes * (2 + optimizer_states)


@pytest.mark.parametrize("budget", ["300KiB", "1MB", "2.5MiB"])
def test_budget_is_checked_at_the_answer_and_one_more(cli, tmp_path, budget):
    from netcalc.memory import parse_bytes

    path = tmp_path / "b.yaml"
    path.write_text(BATCHED)
    result = cli("memory", str(path), "--budget", budget, "--optimizer", "adam", "--format", "json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    n, limit = answer["largest_batch"], parse_bytes(budget)
    assert measured_step(BATCHED, n, 2) == answer["total_bytes_at_largest"] <= limit
    assert measured_step(BATCHED, n + 1, 2) == answer["total_bytes_at_next"] > limit
    assert "largest B that fits" in cli("memory", str(path), "--budget", budget).output


def test_budget_refusals(cli, tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text(BATCHED)
    assert "not even B=1 fits" in cli("memory", str(path), "--budget", "10KiB").output
    assert cli("memory", str(path), "--budget", "lots").exit_code == 2
    numeric = tmp_path / "n.yaml"
    numeric.write_text(BATCHED.replace("[B, 3, 16, 16]", "[4, 3, 16, 16]"))
    assert cli("memory", str(numeric), "--budget", "1GiB").exit_code == 2  # its batch is a number


FROZEN = """input: [2, 3, 16, 16]
layers:
  - sequential:
      name: backbone
      trainable: false
      layers:
        - Conv2d: {out_channels: 8, kernel_size: 3}
        - BatchNorm2d
        - ReLU
        - Conv2d: {out_channels: 8, kernel_size: 3}
  - Flatten
  - Linear: {out_features: 10, name: head}
"""


def test_a_frozen_backbone_saves_nothing_and_has_no_gradients():
    assert predicted(FROZEN) == measured(FROZEN)
    memory = training_memory(analyze(parse(FROZEN, "m.yaml")), "adam")
    assert memory.saved[:4] == [0, 0, 0, 0]
    head = 8 * 12 * 12 * 10 + 10
    assert memory.grad_bytes == 4 * head and memory.optimizer_bytes == 8 * head


@pytest.mark.parametrize("activation", ["silu", "gelu", "gelu_tanh", "relu"])
@pytest.mark.parametrize("bias", [False, True])
def test_gated_mlp(activation, bias):
    text = spec([2, 3, 8], {"Linear": {"out_features": 8}},
                {"GatedMLP": {"intermediate_size": 12, "activation": activation, "bias": bias}})
    assert predicted(text) == measured(text)


@st.composite
def attention_layers(draw):
    """Self-attention and transformer encoder layers of torch.nn, first in the network or behind a
    Linear (and a ReLU)."""
    heads = draw(st.integers(1, 3))
    e = heads * draw(st.integers(1, 4))
    batch_first = draw(st.booleans())
    n, length = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    kind = draw(st.sampled_from(["MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder"]))
    args = {"batch_first": batch_first, "dropout": draw(st.sampled_from([0.0, 0.1]))}
    if kind == "MultiheadAttention":
        args.update(num_heads=heads, bias=draw(st.booleans()))
    else:
        args.update(nhead=heads, dim_feedforward=draw(st.integers(1, 12)), norm_first=draw(st.booleans()),
                    activation=draw(st.sampled_from(["relu", "gelu"])), bias=draw(st.booleans()))
        if kind == "TransformerEncoder":
            args.update(num_layers=draw(st.integers(1, 3)), norm=draw(st.booleans()))
    # behind a ReLU, whose output is saved: attention's batch_first copy of it is a second tensor
    before = draw(st.sampled_from([[], [{"Linear": {"out_features": e}}], [{"Linear": {"out_features": e}}, "ReLU"]]))
    return spec([n, length, e] if batch_first else [length, n, e], *before, {kind: args})


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(attention_layers())
def test_attention_and_transformer_layers(text):
    """MultiheadAttention (need_weights=False: the fused kernel without dropout, the math path with
    it), TransformerEncoderLayer in every arrangement, and TransformerEncoder stacks."""
    assert predicted(text) == measured(text), text


@st.composite
def cross_attention_layers(draw):
    """Attention to a second input: MultiheadAttention with key:/value: (one tensor or two, of
    d_model's width or kdim/vdim), TransformerDecoderLayer and TransformerDecoder reading memory:,
    and nn.Transformer reading tgt:."""
    heads = draw(st.integers(1, 3))
    e = heads * draw(st.integers(1, 3))
    batch_first = draw(st.booleans())
    n, length, keys = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    kind = draw(st.sampled_from(["MultiheadAttention", "TransformerDecoderLayer", "TransformerDecoder", "Transformer"]))
    args = {"batch_first": batch_first, "dropout": draw(st.sampled_from([0.0, 0.1]))}
    widths = {"mem": e, "mem2": e}
    if kind == "MultiheadAttention":
        args.update(num_heads=heads, bias=draw(st.booleans()))
        two = draw(st.booleans())
        if draw(st.booleans()):
            widths = {"mem": draw(st.integers(1, 5)), "mem2": draw(st.integers(1, 5))}
            args.update(kdim=widths["mem"], vdim=widths["mem2" if two else "mem"])
        args.update(key="mem", value="mem2" if two else "mem")
    else:
        args.update(nhead=heads, dim_feedforward=draw(st.integers(1, 8)), norm_first=draw(st.booleans()),
                    activation=draw(st.sampled_from(["relu", "gelu"])), bias=draw(st.booleans()), memory="mem")
        if kind == "Transformer":  # the incoming tensor is the source, tgt: the target
            del args["memory"]
            args.update(tgt="mem", num_encoder_layers=draw(st.integers(1, 2)), num_decoder_layers=draw(st.integers(1, 2)))
        if kind == "TransformerDecoder":
            args.update(num_layers=draw(st.integers(1, 3)), norm=draw(st.booleans()))

    def shape(length, width):
        return [n, length, width] if batch_first else [length, n, width]

    inputs = {"x": shape(length, e), "mem": shape(keys, widths["mem"]), "mem2": shape(keys, widths["mem2"])}
    before = draw(st.sampled_from([[], [{"Linear": {"out_features": e}}], [{"Linear": {"out_features": e}}, "ReLU"]]))
    return json.dumps({"inputs": inputs, "layers": [*before, {kind: args}]})


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(cross_attention_layers())
def test_cross_attention_and_decoder_layers(text):
    """Cross-attention (the fused kernel without dropout, the math path with it; k and v packed when
    they are one tensor of d_model's width), decoder layers in every arrangement, decoder stacks."""
    assert predicted(text) == measured(text), text


@st.composite
def grouped_query_attention(draw):
    """netcalc's GroupedQueryAttention as export writes it: shared key/value heads, causal or not,
    rotary or not, qk_norm, biases, head_dim given or E/H."""
    kv = draw(st.integers(1, 3))
    h, d = kv * draw(st.integers(1, 3)), 2 * draw(st.integers(1, 3))
    explicit = draw(st.booleans())
    e = draw(st.integers(1, 9)) if explicit else h * d
    args = {"num_heads": h, "num_key_value_heads": kv, "causal": draw(st.booleans()), "rotary": draw(st.booleans()),
            "qk_norm": draw(st.booleans()), "bias": draw(st.booleans()), "out_bias": draw(st.booleans()),
            **({"head_dim": d} if explicit else {})}
    before = draw(st.sampled_from([[], [{"Linear": {"out_features": e}}], [{"Linear": {"out_features": e}}, "ReLU"]]))
    return spec([draw(st.integers(1, 3)), draw(st.integers(1, 5)), e], *before, {"GroupedQueryAttention": args})


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(grouped_query_attention())
def test_grouped_query_attention(text):
    assert predicted(text) == measured(text), text


def test_attention_not_modelled_yet_says_so():
    for kind, args in (("MultiheadAttention", {"num_heads": 2, "add_bias_kv": True}),):
        with pytest.raises(NotModelled, match=kind):
            predicted(json.dumps({"inputs": {"x": [3, 2, 4], "src": [5, 2, 4]}, "layers": [{kind: args}]}))


@pytest.mark.parametrize("args, shape", [
    ({}, [5, 2, 3]), ({"num_layers": 3, "dropout": 0.5}, [5, 2, 3]), ({"bidirectional": True, "num_layers": 2}, [5, 2, 3]),
    ({"bidirectional": True, "batch_first": True}, [2, 5, 3]), ({"nonlinearity": "relu", "bias": False}, [5, 3]),
    ({"batch_first": True, "num_layers": 2, "dropout": 0.2, "bidirectional": True}, [2, 5, 3]),
])
@pytest.mark.parametrize("first", [True, False])
def test_rnn(args, shape, first):
    """nn.RNN on the CPU, step by step: the input, the zero states, every step's output, the inputs of
    the later layers (and their dropout masks)."""
    before = [] if first else [{"Linear": {"out_features": 3}}]
    text = spec(shape, *before, {"RNN": {"hidden_size": 4, **args}})
    assert predicted(text) == measured(text)


def test_a_llama_config_shrunk():
    """TinyLlama's config with its sizes shrunk (the same layer kinds: token embedding, RMSNorm,
    grouped-query attention with rotary embedding, the SwiGLU MLP, an untied head), exact against
    the module export writes."""
    text = tinyllama_shrunk()
    assert predicted(text) == measured(text)


def tinyllama_shrunk() -> str:
    """TinyLlama's config with its sizes shrunk: the same layer kinds, small enough to build."""
    from netcalc.api import zoo_path

    with open(zoo_path("tinyllama"), encoding="utf-8") as fh:
        text = fh.read()
    for old, new in (("vocab_size: 32000", "vocab_size: 50"), ("hidden_size: 2048", "hidden_size: 32"),
                     ("intermediate_size: 5632", "intermediate_size: 48"), ("num_hidden_layers: 22", "num_hidden_layers: 2"),
                     ("num_attention_heads: 32", "num_attention_heads: 4"), ("num_key_value_heads: 4", "num_key_value_heads: 2"),
                     ("max_position_embeddings: 2048", "max_position_embeddings: 8")):
        assert old in text
        text = text.replace(old, new)
    return text


# ----------------------------------------------------------------------------- mixed precision

def measured_mixed(text: str) -> int:
    return measured(text, autocast=True)


def predicted_mixed(text: str) -> int:
    return training_memory(analyze(parse(text, "m.yaml"), dtype="bfloat16"), mixed=True).saved_bytes


def _autocast_known(kind: str) -> bool:
    from netcalc.layers import lookup

    return lookup(kind, 4).AUTOCAST is not None


MIXED_KINDS = [k for k in AFTER_CONV if _autocast_known(k[0])]


@pytest.mark.parametrize("kind, args", MIXED_KINDS, ids=[f"{k}{'-' + '-'.join(a) if a else ''}" for k, a in MIXED_KINDS])
def test_mixed_precision_each_kind_behind_a_conv(kind, args):
    """Under autocast a conv casts its float32 input and weight to bfloat16 and keeps the copies; the
    kinds after it run in bfloat16, the norms keep their statistics in float32."""
    text = spec([2, 3, 6, 6], {"Conv2d": {"out_channels": 4, "kernel_size": 1}}, {kind: args})
    assert predicted_mixed(text) == measured_mixed(text)


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(chains())
def test_mixed_precision_random_networks(text):
    assert predicted_mixed(text) == measured_mixed(text), text


FLOAT32_FIRST = [  # a float32 input under autocast: the network's, or the stream after a positional embedding
    spec([2, 3, 6, 6], "PReLU"), spec([2, 3, 6, 6], {"PReLU": {"num_parameters": 3}}, {"ReflectionPad2d": {"padding": 1}}),
    *(spec([2, 5, 4], {"PositionalEmbedding": {}}, layer, {"Linear": {"out_features": 3}}) for layer in (
        {"ReflectionPad1d": {"padding": [1, 2]}}, {"ReplicationPad1d": {"padding": 2}}, {"CircularPad1d": {"padding": 1}},
        {"Upsample": {"scale_factor": 2}}, {"Upsample": {"scale_factor": 2, "mode": "linear"}}, "PReLU")),
    spec([2, 3, 4, 4, 4], {"Conv3d": {"out_channels": 2, "kernel_size": 1}}, {"ReplicationPad3d": {"padding": 1}},
         {"Upsample": {"scale_factor": 2, "mode": "trilinear"}}, {"ReflectionPad3d": {"padding": 1}}, "PReLU"),
]


@pytest.mark.parametrize("text", FLOAT32_FIRST)
def test_mixed_precision_float32_inputs(text):
    """Reflection and replication padding run in float32 (a low-precision input's float32 copy is kept,
    the output is float32); PReLU casts a float32 input and its weight; Upsample and circular padding
    keep their input's dtype."""
    assert predicted_mixed(text) == measured_mixed(text), text


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(recurrent_specs(kinds=("RNN", "GRU")))
def test_mixed_precision_rnn_and_gru(text):
    """Under autocast every step's linears cast their inputs and the weights (one cached copy of each
    weight); each direction casts a float32 input for itself; GRU on a float32 input keeps h, and its
    output, float32 (its zero h is float32)."""
    assert predicted_mixed(text) == measured_mixed(text), text


UNMEASURED_MIXED = [  # (kind, spec): kinds whose autocast behaviour netcalc has not measured
    ("LSTM", spec([5, 2, 3], {"Linear": {"out_features": 3}}, {"LSTM": {"hidden_size": 4}})),
    ("Bilinear", spec([3, 5], {"Linear": {"out_features": 5}}, {"Bilinear": {"in2_features": 5, "out_features": 4}})),
    ("TransformerDecoderLayer", json.dumps({"inputs": {"x": [3, 2, 4], "m": [5, 2, 4]}, "layers": [
        {"TransformerDecoderLayer": {"nhead": 2, "dim_feedforward": 8, "memory": "m"}}]})),
]


@pytest.mark.parametrize("kind, text", UNMEASURED_MIXED, ids=[k for k, _ in UNMEASURED_MIXED])
def test_mixed_precision_not_measured_says_so(kind, text):
    """Kinds whose autocast behaviour is not measured are refused by name under --mixed."""
    with pytest.raises(NotModelled, match=kind):
        predicted_mixed(text)


@pytest.mark.parametrize("name", ["lenet5", "resnet18", "mobilenet_v2", "efficientnet_b0", "unet"])
def test_mixed_precision_zoo_models(name):
    """Whole CNNs under autocast, exact (the rest of the zoo's CNNs were checked by hand too)."""
    from netcalc.api import load

    parsed, _ = load(name)
    parsed.input = [1, *parsed.input[1:]]
    report = analyze(parsed, dtype="bfloat16")
    measured_bytes = measured(parsed, autocast=True)
    memory = training_memory(report, mixed=True)
    assert memory.saved_bytes == measured_bytes
    assert memory.param_bytes == 4 * report.totals["params"]  # float32 master weights


def test_the_mixed_flag(cli):
    doc = json.loads(cli("memory", "resnet18", "--training", "--dtype", "bfloat16", "--mixed", "--format", "json").output)
    plain = json.loads(cli("memory", "resnet18", "--training", "--dtype", "bfloat16", "--format", "json").output)
    assert doc["totals"]["param_bytes"] == 2 * plain["totals"]["param_bytes"]  # float32 weights, not bfloat16
    assert doc["totals"]["saved_bytes"] > plain["totals"]["saved_bytes"]  # + the weights' bfloat16 copies
    for args in (["--mixed"], ["--training", "--mixed"], ["--training", "--mixed", "--dtype", "float32"]):
        refused = cli("memory", "resnet18", *args)
        assert refused.exit_code == 2 and "--mixed" in refused.stderr
    refused = cli("memory", "lstm_lm", "--training", "--dtype", "bfloat16", "--mixed")
    assert refused.exit_code == 2 and "mixed precision" in refused.stderr


@st.composite
def mixed_attention(draw):
    """Self-attention under autocast: first in the network (a float32 input, cast), behind a Linear,
    a ReLU or a LayerNorm (float32 statistics), batch_first or not, with or without dropout."""
    heads = draw(st.integers(1, 3))
    e = heads * draw(st.integers(1, 4))
    batch_first, n, length = draw(st.booleans()), draw(st.integers(1, 3)), draw(st.integers(1, 6))
    args = {"batch_first": batch_first, "dropout": draw(st.sampled_from([0.0, 0.1])), "num_heads": heads,
            "bias": draw(st.booleans())}
    before = draw(st.sampled_from([[], [{"Linear": {"out_features": e}}], [{"Linear": {"out_features": e}}, "ReLU"],
                                   [{"LayerNorm": {}}], [{"Linear": {"out_features": e}}, {"LayerNorm": {}}]]))
    return spec([n, length, e] if batch_first else [length, n, e], *before, {"MultiheadAttention": args},
                {"Linear": {"out_features": 3}})


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(mixed_attention())
def test_mixed_precision_self_attention(text):
    """The fused kernel keeps its logsumexp in float32; with dropout the math path runs in float32
    (q, kᵀ and v copies, the probabilities); the out-projection's weight copy is kept always."""
    assert predicted_mixed(text) == measured_mixed(text), text


@st.composite
def mixed_encoders(draw):
    heads = draw(st.integers(1, 3))
    e = heads * draw(st.integers(1, 3))
    batch_first, n, length = draw(st.booleans()), draw(st.integers(1, 3)), draw(st.integers(1, 5))
    kind = draw(st.sampled_from(["TransformerEncoderLayer", "TransformerEncoder"]))
    args = {"batch_first": batch_first, "dropout": draw(st.sampled_from([0.0, 0.1])), "nhead": heads,
            "dim_feedforward": draw(st.integers(1, 8)), "norm_first": draw(st.booleans()),
            "activation": draw(st.sampled_from(["relu", "gelu"])), "bias": draw(st.booleans())}
    if kind == "TransformerEncoder":
        args.update(num_layers=draw(st.integers(1, 3)), norm=draw(st.booleans()))
    before = draw(st.sampled_from([[], [{"Linear": {"out_features": e}}], [{"LayerNorm": {}}],
                                   [{"Linear": {"out_features": e}}, "ReLU"]]))
    return spec([n, length, e] if batch_first else [length, n, e], *before, {kind: args},
                {"Linear": {"out_features": 3}})


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(mixed_encoders())
def test_mixed_precision_encoder_layers(text):
    """Transformer encoder layers and stacks under autocast: the residual sums keep the input's
    precision, the Linears and attention compute in bfloat16, the LayerNorms' statistics float32."""
    assert predicted_mixed(text) == measured_mixed(text), text


@pytest.mark.parametrize("name, old, new", [("gpt2", "n_positions: 1024", "n_positions: 32"), ("vit_b_16", "", ""),
                                             ("bert_base", "L: 128", "L: 16")])
def test_mixed_precision_transformers(name, old, new):
    """GPT-2 (its config), ViT-B/16 and BERT-base under autocast: embeddings and LayerNorms in
    float32, the residual stream float32, attention and MLPs in bfloat16."""
    from netcalc.api import zoo_path

    with open(zoo_path(name), encoding="utf-8") as fh:
        text = fh.read().replace(old, new)
    assert predicted_mixed(text) == measured_mixed(text)


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(grouped_query_attention())
def test_mixed_precision_grouped_query_attention(text):
    """export's grouped-query attention under autocast: q/k/v_proj each cast a float32 input, qk_norm
    computes in float32, the rest in bfloat16."""
    assert predicted_mixed(text) == measured_mixed(text), text


def test_mixed_precision_llama_config_shrunk():
    """TinyLlama's config shrunk under autocast: RMSNorm computing in float32 on a float32 residual
    stream, grouped-query attention and the SwiGLU MLP in bfloat16."""
    text = tinyllama_shrunk()
    assert predicted_mixed(text) == measured_mixed(text)


def _more_kinds():
    """The remaining kinds, on the network input and behind a layer with parameters."""
    lin, conv = {"Linear": {"out_features": 5}}, {"Conv2d": {"out_channels": 3, "kernel_size": 1}}
    cases = []
    for behind in (False, True):
        def after(layer, shape, kind):
            return spec(shape, *([layer] if behind else []), kind)
        cases += [after(conv, [2, 3, 6, 6], {"Unfold": {"kernel_size": 2}}),
                  after({"Linear": {"out_features": 25}}, [2, 12, 25], {"Fold": {"output_size": [6, 6], "kernel_size": 2}}),
                  after(conv, [2, 3, 8, 8], {"FractionalMaxPool2d": {"kernel_size": 2, "output_size": 4}}),
                  after({"Conv3d": {"out_channels": 3, "kernel_size": 1}}, [2, 3, 8, 8, 8],
                        {"FractionalMaxPool3d": {"kernel_size": 2, "output_ratio": 0.5}}),
                  after(conv, [2, 3, 6, 6], {"LocalResponseNorm": {"size": 3}}),
                  after({"Conv1d": {"out_channels": 3, "kernel_size": 1}}, [2, 3, 7], {"LocalResponseNorm": {"size": 2}}),
                  after(conv, [2, 3, 6, 6], {"CrossMapLRN2d": {"size": 3}}),
                  after(lin, [3, 5], {"Bilinear": {"in2_features": 5, "out_features": 4}})]
        cases += [after(lin, shape, {cell: {"hidden_size": 4}}) for cell in ("RNNCell", "GRUCell", "LSTMCell")
                  for shape in ([3, 5], [5])]
    two = [{"Linear": {"out_features": 8, "name": "a"}}, {"Linear": {"out_features": 8, "from": "x"}}]
    cases += [json.dumps({"inputs": {"x": [4, 3, 8]}, "layers": [*two, {"CosineSimilarity": {"dim": 2, "x2": "a"}}]}),
              json.dumps({"inputs": {"x": [4, 3, 8]}, "layers": [*two, {"PairwiseDistance": {"x2": "a", "keepdim": True}}]}),
              json.dumps({"inputs": {"x": [4, 3, 8], "y": [3, 8]}, "layers": [{"Linear": {"out_features": 8}},
                                                                               {"PairwiseDistance": {"x2": "y"}}]})]
    matmul = [[{"Linear": {"out_features": 4}}, {"Matmul": {"other": "b"}}],  # only the input needs a gradient
              [{"Linear": {"out_features": 5, "from": "b", "name": "bb"}}, {"Matmul": {"other": "bb", "from": "x"}}],
              [{"Linear": {"out_features": 4, "name": "a"}}, {"Linear": {"out_features": 4, "from": "x"}},
               {"Transpose": {"dim0": 1, "dim1": 2, "name": "t"}}, {"Matmul": {"other": "t", "from": "a"}}]]
    cases += [json.dumps({"inputs": {"x": [2, 3, 4], "b": [2, 4, 5]}, "layers": layers}) for layers in matmul]
    cases += [json.dumps({"inputs": {"q": [2, 2, length, 4], "k": [2, 2, keys, 4], "v": [2, 2, keys, 4]},
                          "layers": [{"Linear": {"out_features": 4}},
                                     {"ScaledDotProductAttention": {"key": "k", "value": "v", "is_causal": causal}}]})
              for length, keys, causal in ((3, 5, False), (1, 1, False), (7, 3, True), (4, 4, True))]
    return cases


@pytest.mark.parametrize("text", _more_kinds())
def test_the_remaining_kinds(text):
    """Unfold/Fold (nothing), FractionalMaxPool (input, indices), LocalResponseNorm, CrossMapLRN2d,
    Bilinear, the RNN cells, CosineSimilarity, PairwiseDistance, Matmul (each operand for the other's
    gradient) and ScaledDotProductAttention's fused kernel."""
    assert predicted(text) == measured(text), text


@st.composite
def einsums(draw):
    """torch.einsum of one or two operands: batch letters, contractions, outer and element-wise
    products, transposed outputs, a repeated letter (a diagonal), letters of size 1 that broadcast,
    the implicit output; each operand on the network input or behind a Linear (so one or both need a
    gradient); then, sometimes, a second einsum of the first one's output and a third tensor."""
    letters = draw(st.lists(st.sampled_from("abcdeXY"), min_size=1, max_size=5, unique=True))
    size = {c: draw(st.integers(2, 4)) for c in letters}

    def term():
        t = draw(st.lists(st.sampled_from(letters), min_size=1, max_size=4, unique=True))
        if len(t) < 4 and draw(st.integers(0, 9)) == 0:
            t.insert(draw(st.integers(0, len(t))), draw(st.sampled_from(t)))  # a diagonal
        return "".join(t)

    def shape(t):  # a letter of size 1 broadcasts against the other operand's (not on a diagonal)
        return [1 if t.count(c) == 1 and draw(st.integers(0, 6)) == 0 else size[c] for c in t]

    terms = [term()] + ([term()] if draw(st.integers(0, 4)) else [])
    used = sorted(set("".join(terms)))
    rhs = draw(st.one_of(st.none(), st.lists(st.sampled_from(used), unique=True).map("".join)))
    equation = ",".join(terms) + ("" if rhs is None else "->" + rhs)
    inputs = {"x": shape(terms[0])}
    if len(terms) == 2:
        inputs["y"] = shape(terms[1])
    behind = draw(st.sampled_from([("x",), ("y",), ("x", "y")] if len(terms) == 2 else [("x",)]))
    layers = []
    for name in behind:
        layers.append({"Linear": {"out_features": inputs[name][-1], "from": name, "name": name + "1"}})
    args = {"equation": equation, "from": "x1" if "x" in behind else "x"}
    if len(terms) == 2:
        args["other"] = "y1" if "y" in behind else "y"
    layers.append({"Einsum": {**args, "name": "e"}})
    if draw(st.booleans()):  # the first one's output, laid out in order or not, into a second einsum
        out = analyze(parse(json.dumps({"inputs": inputs, "layers": layers}), "m.yaml")).layers[-1].output_shape
        if out:
            inputs["z"] = [out[-1], draw(st.integers(2, 3))]
            first = "pqrst"[:len(out)]
            second = "".join(draw(st.permutations(first[:-1] + "v")))
            layers += [{"Linear": {"out_features": inputs["z"][-1], "from": "z", "name": "z1"}},
                       {"Einsum": {"equation": f"{first},{first[-1]}v->{second}", "other": "z1", "from": "e"}}]
    return json.dumps({"inputs": inputs, "layers": layers})


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(einsums())
def test_einsum(text):
    """Each operand kept for the other's gradient, as it is (a view) or copied where torch's reshape
    copies, or summed first. Where netcalc says the output is laid out in order, torch's is; a second
    einsum reading an output netcalc cannot say that of is refused."""
    doc = json.loads(text)
    first = next(layer["Einsum"] for layer in doc["layers"] if "Einsum" in layer)
    shapes = [doc["inputs"][first["from"][0]]] + ([doc["inputs"][first["other"][0]]] if "other" in first else [])
    row = next(r for r in analyze(parse(text, "m.yaml")).layers if r.type == "Einsum")
    if row.layer.in_order(tuple(row.input_shape), [True, True]):  # netcalc says so only where torch agrees
        assert torch.einsum(first["equation"], *map(torch.randn, shapes)).is_contiguous(), text
    try:
        assert predicted(text) == measured(text), text
    except NotModelled:
        assert not row.layer.in_order(tuple(row.input_shape), [True, True]), text


def test_einsum_after_a_transpose_says_so():
    """A transpose's view into an einsum: torch's reshapes copy or not by the strides, which netcalc
    does not follow through views."""
    text = json.dumps({"inputs": {"x": [2, 3, 4], "k": [2, 4, 5]},
                       "layers": [{"Linear": {"out_features": 4}}, {"Transpose": {"dim0": 1, "dim1": 2}},
                                  {"Einsum": {"equation": "bij,bik->bjk", "other": "k"}}]})
    with pytest.raises(NotModelled, match="Einsum"):
        predicted(text)


def test_the_unmeasured_variants_say_so():
    for layers, inputs in (([{"CosineSimilarity": {"dim": 2, "x2": "y"}}], {"x": [4, 3, 8], "y": [1, 3, 8]}),
                           ([{"ScaledDotProductAttention": {"key": "k", "value": "k", "dropout_p": 0.1}}],
                            {"x": [2, 2, 3, 4], "k": [2, 2, 5, 4]})):
        with pytest.raises(NotModelled):
            predicted(json.dumps({"inputs": inputs, "layers": [{"Linear": {"out_features": inputs["x"][-1]}}, *layers]}))


def _by_rank():
    """Pools, pads and LocalResponseNorm of every rank behind a conv, and the kinds of _more_kinds
    that autocast runs (CPU autocast's float32 list has the 3-D pools, the fractional max pools,
    replication and 1-D/2-D reflection padding, and the avg_pool3d of LocalResponseNorm's 2-D and 3-D
    forms; the ReLU after them keeps their float32 output)."""
    cases = []
    for r in (1, 2, 3):
        conv = {f"Conv{r}d": {"out_channels": 4, "kernel_size": 1}}
        for kind, args in (("MaxPool", {"kernel_size": 2}), ("AvgPool", {"kernel_size": 3, "stride": 1, "padding": 1}),
                           ("AdaptiveAvgPool", {"output_size": 2}), ("AdaptiveAvgPool", {"output_size": 1}),
                           ("AdaptiveMaxPool", {"output_size": 2}), ("LPPool", {"norm_type": 2, "kernel_size": 2}),
                           ("ReflectionPad", {"padding": 1}), ("ReplicationPad", {"padding": 1}),
                           ("CircularPad", {"padding": 1}), ("ZeroPad", {"padding": 1}), ("BatchNorm", {}),
                           ("InstanceNorm", {"affine": True}), ("FractionalMaxPool", {"kernel_size": 2, "output_ratio": 0.5})):
            if kind != "FractionalMaxPool" or r > 1:
                cases.append(spec([2, 3] + [6] * r, conv, {f"{kind}{r}d": args}, "ReLU"))
        cases.append(spec([2, 3] + [6] * r, conv, {"LocalResponseNorm": {"size": 3}}, "ReLU"))
    cases.append(spec([2, 3, 6, 6], {"Conv2d": {"out_channels": 4, "kernel_size": 1}}, {"CrossMapLRN2d": {"size": 3}}, "ReLU"))
    stacks = [[{"Linear": {"out_features": 4}}, {"Stack": {"other": "c"}}, {"Linear": {"out_features": 2}}],
              [{"Linear": {"out_features": 4, "from": "c", "name": "cc"}}, {"Stack": {"other": "cc", "from": "x", "dim": 1}},
               "ReLU"],
              [{"PositionalEmbedding": {}}, {"Transpose": {"dim0": 1, "dim1": 2, "name": "t"}},
               {"Matmul": {"other": "t", "from": "c"}}, "ReLU"]]
    cases += [json.dumps({"inputs": {"x": [2, 3, 4], "c": [2, 3, 4]}, "layers": layers}) for layers in stacks]
    return cases + [t for t in _more_kinds() if not any(k in t for k in ("Bilinear", "Similarity", "Distance"))]


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(einsums())
def test_mixed_precision_einsum(text):
    """Under autocast einsum's bmm casts a float32 operand as its reshape reads it and keeps the copy;
    its mul casts nothing, and its output is float32 when an operand is."""
    try:
        assert predicted_mixed(text) == measured_mixed(text), text
    except NotModelled:
        row = next(r for r in analyze(parse(text, "m.yaml")).layers if r.type == "Einsum")
        assert not row.layer.in_order(tuple(row.input_shape), [True, True]), text


@pytest.mark.parametrize("text", _by_rank())
def test_mixed_precision_by_rank(text):
    """Also Matmul and ScaledDotProductAttention (each casts a float32 operand and keeps the copy; the
    logsumexp float32) and Stack (its inputs' promoted dtype)."""
    assert predicted_mixed(text) == measured_mixed(text), text
