"""Table-driven layer cases: one row per case, expected numbers derived by hand.

Each row is ``(input shape, layer as written in a spec, output shape, parameters)``. The
expected values come from the formulas on the PyTorch documentation pages, worked out in the
comment next to the row (``L`` is the incoming size along an axis):

* ConvNd:            out = ⌊(L + 2p - d(k-1) - 1)/s⌋ + 1;  params = C_out·C_in/g·∏k (+ C_out)
* ConvTransposeNd:   out = (L-1)s - 2p + d(k-1) + output_padding + 1;  params = C_in·C_out/g·∏k (+ C_out)
* pools:             as ConvNd with stride defaulting to kernel_size; with ceil_mode
                     ⌈·⌉ instead of ⌊·⌋, minus one if the last window would start past L + p
* RNN/LSTM/GRU:      per layer and direction G·H·(in + H_out) weights, 2·G·H biases
                     (G = 1, 4, 3), LSTM projection P·H
"""

from __future__ import annotations

import pytest

from netcalc.errors import SpecError
from netcalc.layers import Context, lookup
from netcalc.network import analyze_text
from netcalc.spec import Entry


def build(type_name: str, args: dict, x: tuple, no_bias: bool = False):
    """The layer object for one spec entry fed with shape ``x``."""
    entry = Entry(type=type_name, args=dict(args), pos=(1, 1), name="L", index=1)
    return lookup(type_name, len(x))(entry, Context({}, no_bias))


def run(type_name: str, args: dict, x: tuple, no_bias: bool = False):
    """(output shape, state shapes, total parameter count) of one layer."""
    layer = build(type_name, args, x, no_bias)
    y = layer.output_shape(x)
    params = sum(_numel(s) for s in layer.parameters(x).values())
    return tuple(y), layer.state_shapes(x), params, layer, y


def _numel(shape):
    out = 1
    for d in shape:
        out *= d
    return out


# (id, input shape, type, args, output shape, params)
CASES = [
    # ---- convolutions
    ("conv1d-dilated", (2, 4, 50), "Conv1d", dict(out_channels=8, kernel_size=5, stride=3, padding=2, dilation=2),
     (2, 8, 16), 8 * 4 * 5 + 8),                       # ⌊(50+4-8-1)/3⌋+1 = 15+1
    ("conv2d-same-size", (1, 3, 32, 32), "Conv2d", dict(out_channels=16, kernel_size=3, padding=1),
     (1, 16, 32, 32), 16 * 3 * 9 + 16),
    ("conv2d-per-axis", (1, 3, 28, 30), "Conv2d",
     dict(out_channels=6, kernel_size=[3, 5], stride=[2, 1], padding=[1, 2]),
     (1, 6, 14, 30), 6 * 3 * 15 + 6),                  # H ⌊27/2⌋+1 = 14, W ⌊29/1⌋+1 = 30
    ("conv2d-groups-nobias", (2, 8, 10, 10), "Conv2d", dict(out_channels=4, kernel_size=3, groups=2, bias=False),
     (2, 4, 8, 8), 4 * 4 * 9),
    ("conv2d-same-even-dilated", (1, 2, 9, 9), "Conv2d",
     dict(out_channels=3, kernel_size=4, padding="same", dilation=2), (1, 3, 9, 9), 3 * 2 * 16 + 3),
    ("conv2d-valid", (1, 2, 9, 9), "Conv2d", dict(out_channels=3, kernel_size=4, padding="valid"),
     (1, 3, 6, 6), 3 * 2 * 16 + 3),
    ("conv2d-unbatched", (3, 10, 10), "Conv2d", dict(out_channels=5, kernel_size=3), (5, 8, 8), 5 * 3 * 9 + 5),
    ("conv2d-in-channels-given", (1, 3, 8, 8), "Conv2d", dict(in_channels=3, out_channels=2, kernel_size=1),
     (1, 2, 8, 8), 2 * 3 + 2),
    ("conv3d", (1, 2, 8, 9, 10), "Conv3d", dict(out_channels=4, kernel_size=3, stride=2, padding=1),
     (1, 4, 4, 5, 5), 4 * 2 * 27 + 4),                 # ⌊7/2⌋+1, ⌊8/2⌋+1, ⌊9/2⌋+1
    ("conv-alias-rank1", (2, 4, 20), "conv", dict(out_channels=2, kernel_size=4, stride=4),
     (2, 2, 5), 2 * 4 * 4 + 2),
    ("conv2d-lowercase", (1, 1, 5, 5), "conv2d", dict(out_channels=1, kernel_size=5), (1, 1, 1, 1), 25 + 1),
    ("depthwise2d", (1, 8, 16, 16), "DepthwiseConv2d", dict(kernel_size=3, stride=2, padding=1),
     (1, 8, 8, 8), 8 * 1 * 9 + 8),                     # groups = C = 8, ⌊15/2⌋+1
    ("depthwise2d-multiplier", (1, 8, 16, 16), "DepthwiseConv2d",
     dict(kernel_size=3, stride=2, padding=1, depth_multiplier=2), (1, 16, 8, 8), 16 * 1 * 9 + 16),
    ("depthwise-alias-1d", (4, 6, 11), "depthwise", dict(kernel_size=3, bias=False), (4, 6, 9), 6 * 3),
    ("pointwise2d", (1, 8, 5, 5), "PointwiseConv2d", dict(out_channels=4), (1, 4, 5, 5), 4 * 8 + 4),
    ("pointwise-alias-3d", (1, 8, 2, 3, 4), "pointwise", dict(out_channels=2, bias=False), (1, 2, 2, 3, 4), 16),
    ("convT2d-k4s2p1", (1, 16, 7, 7), "ConvTranspose2d", dict(out_channels=8, kernel_size=4, stride=2, padding=1),
     (1, 8, 14, 14), 16 * 8 * 16 + 8),                 # 6·2 - 2 + 3 + 0 + 1
    ("convT2d-output-padding", (1, 16, 7, 7), "ConvTranspose2d",
     dict(out_channels=8, kernel_size=3, stride=2, padding=1, output_padding=1), (1, 8, 14, 14), 16 * 8 * 9 + 8),
    ("convT1d-groups-dilated", (1, 4, 10), "ConvTranspose1d",
     dict(out_channels=6, kernel_size=3, dilation=2, groups=2), (1, 6, 14), 4 * 3 * 3 + 6),  # 9 + 4 + 1
    ("convT3d", (1, 2, 3, 3, 3), "ConvTranspose3d", dict(out_channels=2, kernel_size=2, stride=2),
     (1, 2, 6, 6, 6), 2 * 2 * 8 + 2),
    ("convT-alias-unequal", (1, 3, 4, 5), "transposed",
     dict(out_channels=1, kernel_size=[2, 3], stride=[3, 1], bias=False), (1, 1, 11, 7), 3 * 6),  # 3·3+1+1, 4+2+1
    # ---- pooling
    ("maxpool2d-k2", (1, 3, 7, 7), "MaxPool2d", dict(kernel_size=2), (1, 3, 3, 3), 0),
    ("maxpool2d-ceil-keeps-last", (1, 1, 6, 6), "MaxPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
     (1, 1, 4, 4), 0),                                 # ⌈5/2⌉+1 = 4; last start 3·2 = 6 < 6+1
    ("maxpool2d-ceil-drops-last", (1, 1, 5, 5), "MaxPool2d",
     dict(kernel_size=2, stride=2, padding=1, ceil_mode=True), (1, 1, 3, 3), 0),  # ⌈5/2⌉+1 = 4; 3·2 = 6 ≥ 5+1
    ("maxpool2d-floor-same-case", (1, 1, 5, 5), "MaxPool2d", dict(kernel_size=2, stride=2, padding=1),
     (1, 1, 3, 3), 0),
    ("maxpool1d-dilated", (1, 2, 10), "MaxPool1d", dict(kernel_size=3, dilation=2), (1, 2, 2), 0),  # ⌊5/3⌋+1
    ("maxpool-alias-3d", (1, 1, 4, 6, 8), "maxpool", dict(kernel_size=2), (1, 1, 2, 3, 4), 0),
    ("avgpool2d-k3s1p1", (2, 4, 9, 9), "AvgPool2d", dict(kernel_size=3, stride=1, padding=1), (2, 4, 9, 9), 0),
    ("avgpool2d-ceil", (1, 1, 8, 8), "AvgPool2d", dict(kernel_size=3, stride=2, ceil_mode=True),
     (1, 1, 4, 4), 0),                                 # ⌈5/2⌉+1 = 4; last start 6 < 8
    ("avgpool2d-floor", (1, 1, 8, 8), "AvgPool2d", dict(kernel_size=3, stride=2), (1, 1, 3, 3), 0),
    ("avgpool1d", (2, 3, 10), "AvgPool1d", dict(kernel_size=4), (2, 3, 2), 0),
    ("avgpool-alias-unbatched-2d", (3, 10, 12), "AvgPool2d", dict(kernel_size=[2, 3]), (3, 5, 4), 0),
    ("lppool2d", (1, 3, 9, 9), "LPPool2d", dict(norm_type=2, kernel_size=2), (1, 3, 4, 4), 0),
    ("adaptive-avg-1", (1, 512, 7, 7), "AdaptiveAvgPool2d", dict(output_size=1), (1, 512, 1, 1), 0),
    ("adaptive-avg-none", (1, 2, 9, 10), "AdaptiveAvgPool2d", dict(output_size=[3, None]), (1, 2, 3, 10), 0),
    ("adaptive-max-1d", (2, 3, 17), "AdaptiveMaxPool1d", dict(output_size=5), (2, 3, 5), 0),
    # ---- linear and reshaping
    ("linear", (4, 7, 20), "Linear", dict(out_features=5), (4, 7, 5), 5 * 20 + 5),
    ("linear-nobias", (4, 20), "Linear", dict(out_features=5, bias=False), (4, 5), 100),
    ("linear-alias-1d-input", (20,), "linear", dict(out_features=3), (3,), 63),
    ("bilinear", (3, 6), "Bilinear", dict(out_features=4), (3, 4), 4 * 6 * 6 + 4),
    ("embedding", (2, 5), "Embedding", dict(num_embeddings=100, embedding_dim=16), (2, 5, 16), 1600),
    ("flatten", (2, 3, 4, 5), "Flatten", {}, (2, 60), 0),
    ("flatten-all", (2, 3, 4, 5), "Flatten", dict(start_dim=0), (120,), 0),
    ("flatten-middle", (2, 3, 4, 5), "Flatten", dict(start_dim=1, end_dim=2), (2, 12, 5), 0),
    ("unflatten", (2, 12), "Unflatten", dict(dim=1, unflattened_size=[3, -1]), (2, 3, 4), 0),
    ("identity", (2, 3), "Identity", {}, (2, 3), 0),
    # ---- normalisation
    ("batchnorm2d", (4, 16, 8, 8), "BatchNorm2d", {}, (4, 16, 8, 8), 32),
    ("batchnorm2d-no-affine", (4, 16, 8, 8), "BatchNorm2d", dict(affine=False), (4, 16, 8, 8), 0),
    ("batchnorm1d-2d-input", (4, 10), "BatchNorm1d", {}, (4, 10), 20),
    ("instancenorm2d", (2, 6, 5, 5), "InstanceNorm2d", {}, (2, 6, 5, 5), 0),
    ("instancenorm2d-affine", (2, 6, 5, 5), "InstanceNorm2d", dict(affine=True), (2, 6, 5, 5), 12),
    ("layernorm", (2, 5, 10), "LayerNorm", {}, (2, 5, 10), 20),
    ("layernorm-two-dims", (2, 5, 10), "LayerNorm", dict(normalized_shape=[5, 10]), (2, 5, 10), 100),
    ("layernorm-nobias", (2, 5, 10), "LayerNorm", dict(bias=False), (2, 5, 10), 10),
    ("groupnorm", (2, 16, 8, 8), "GroupNorm", dict(num_groups=4), (2, 16, 8, 8), 32),
    ("rmsnorm", (2, 5, 10), "RMSNorm", {}, (2, 5, 10), 10),
    ("lrn", (1, 3, 4, 4), "LocalResponseNorm", dict(size=5), (1, 3, 4, 4), 0),
    # ---- activations and dropout
    ("relu", (2, 3, 4), "ReLU", {}, (2, 3, 4), 0),
    ("gelu-tanh", (2, 3), "GELU", dict(approximate="tanh"), (2, 3), 0),
    ("leakyrelu", (2, 3), "LeakyReLU", dict(negative_slope=0.2), (2, 3), 0),
    ("softmax", (2, 3), "Softmax", dict(dim=1), (2, 3), 0),
    ("prelu-default", (2, 16, 4, 4), "PReLU", {}, (2, 16, 4, 4), 1),
    ("prelu-channels", (2, 16, 4, 4), "PReLU", dict(num_parameters=16), (2, 16, 4, 4), 16),
    ("glu", (4, 10), "GLU", {}, (4, 5), 0),
    ("glu-dim1", (4, 10, 3), "GLU", dict(dim=1), (4, 5, 3), 0),
    ("dropout", (4, 10), "Dropout", dict(p=0.3), (4, 10), 0),
    # ---- recurrent: output, and G·H·(in + H_out) + 2·G·H per layer and direction
    ("rnn", (5, 3, 10), "RNN", dict(hidden_size=20), (5, 3, 20), 20 * 10 + 20 * 20 + 40),
    ("lstm-2layer-bidir", (5, 3, 10), "LSTM", dict(hidden_size=20, num_layers=2, bidirectional=True),
     (5, 3, 40), 2 * (80 * 10 + 80 * 20 + 160) + 2 * (80 * 40 + 80 * 20 + 160)),
    ("lstm-proj", (5, 3, 10), "LSTM", dict(hidden_size=20, proj_size=5),
     (5, 3, 5), 80 * 10 + 80 * 5 + 160 + 5 * 20),
    ("gru-batch-first", (3, 5, 10), "GRU", dict(hidden_size=20, batch_first=True),
     (3, 5, 20), 60 * 10 + 60 * 20 + 120),
    ("gru-unbatched", (5, 10), "gru", dict(hidden_size=20, bias=False), (5, 20), 60 * 10 + 60 * 20),
    # ---- attention: in_proj 3E·E + 3E, out_proj E·E + E; encoder adds FFN and two norms
    ("mha", (10, 2, 16), "MultiheadAttention", dict(num_heads=4), (10, 2, 16), 3 * 256 + 48 + 256 + 16),
    ("mha-nobias-kv", (10, 16), "MultiheadAttention", dict(num_heads=2, bias=False, add_bias_kv=True),
     (10, 16), 3 * 256 + 256 + 2 * 16),
    ("encoder", (10, 2, 16), "TransformerEncoderLayer", dict(nhead=4, dim_feedforward=32),
     (10, 2, 16), 1088 + (32 * 16 + 32) + (16 * 32 + 16) + 2 * 32),
    ("encoder-alias-batch-first", (2, 10, 16), "encoder", dict(nhead=4, dim_feedforward=32, batch_first=True),
     (2, 10, 16), 2224),
]


@pytest.mark.parametrize("x, type_name, args, want_shape, want_params",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_layer_shape_and_params(x, type_name, args, want_shape, want_params):
    y, _, params, _, _ = run(type_name, args, x)
    assert y == want_shape
    assert params == want_params


# (id, input, type, args, state shapes)
STATES = [
    ("rnn", (5, 3, 10), "RNN", dict(hidden_size=20), {"h_n": (1, 3, 20)}),
    ("lstm-bidir", (5, 3, 10), "LSTM", dict(hidden_size=20, num_layers=2, bidirectional=True),
     {"h_n": (4, 3, 20), "c_n": (4, 3, 20)}),
    ("lstm-proj", (5, 3, 10), "LSTM", dict(hidden_size=20, proj_size=5), {"h_n": (1, 3, 5), "c_n": (1, 3, 20)}),
    ("gru-batch-first-h_n-is-not", (3, 5, 10), "GRU", dict(hidden_size=20, batch_first=True), {"h_n": (1, 3, 20)}),
    ("gru-unbatched", (5, 10), "GRU", dict(hidden_size=20, num_layers=3), {"h_n": (3, 20)}),
    ("conv-none", (1, 1, 4), "Conv1d", dict(out_channels=1, kernel_size=1), None),
]


@pytest.mark.parametrize("x, type_name, args, want", [c[1:] for c in STATES], ids=[c[0] for c in STATES])
def test_state_shapes(x, type_name, args, want):
    _, states, _, _, _ = run(type_name, args, x)
    got = None if states is None else {k: tuple(v) for k, v in states.items()}
    assert got == want


# (id, input, type, args, weights, biases) — the torch-name rule: a name containing "bias" is a bias
SPLITS = [
    ("conv", (1, 3, 8, 8), "Conv2d", dict(out_channels=4, kernel_size=3), 108, 4),
    ("batchnorm-gamma-is-weight", (1, 6, 2, 2), "BatchNorm2d", {}, 6, 6),
    ("lstm-weight_hr-is-weight", (5, 3, 10), "LSTM", dict(hidden_size=20, proj_size=5), 800 + 400 + 100, 160),
    ("mha-in_proj_bias", (10, 2, 16), "MultiheadAttention", dict(num_heads=4), 768 + 256, 48 + 16),
]


@pytest.mark.parametrize("x, type_name, args, weights, biases", [c[1:] for c in SPLITS], ids=[c[0] for c in SPLITS])
def test_weights_and_biases(x, type_name, args, weights, biases):
    layer = build(type_name, args, x)
    params = layer.parameters(x)
    assert sum(_numel(s) for n, s in params.items() if "bias" not in n) == weights
    assert sum(_numel(s) for n, s in params.items() if "bias" in n) == biases


# (id, input, type, args, MACs, FLOPs) for the kinds whose convention the contract fixes
COSTS = [
    # 1·16·8·8 outputs × (3·9) fan-in; FLOPs per output 2·27 - 1 + 1
    ("conv-bias", (1, 3, 8, 8), "Conv2d", dict(out_channels=16, kernel_size=3, padding=1), 1024 * 27, 1024 * 54),
    ("conv-nobias", (1, 3, 8, 8), "Conv2d", dict(out_channels=16, kernel_size=3, padding=1, bias=False),
     1024 * 27, 1024 * 53),
    # the contract's example: a 3x3x32 conv costs 576 per output with bias, 575 without
    ("conv-576", (1, 32, 3, 3), "Conv2d", dict(out_channels=1, kernel_size=3), 288, 576),
    ("conv-575", (1, 32, 3, 3), "Conv2d", dict(out_channels=1, kernel_size=3, bias=False), 288, 575),
    ("conv-groups", (1, 8, 4, 4), "Conv2d", dict(out_channels=8, kernel_size=1, groups=4), 128 * 2, 128 * 4),
    ("linear", (4, 20), "Linear", dict(out_features=5), 20 * 20, 20 * 40),
    ("linear-nobias", (4, 20), "Linear", dict(out_features=5, bias=False), 400, 20 * 39),
    # input elements × C_out/g × ∏k; FLOPs 2·MACs + output elements (bias)
    ("convT", (1, 4, 3, 3), "ConvTranspose2d", dict(out_channels=2, kernel_size=2, stride=2),
     36 * 2 * 4, 2 * 288 + 2 * 6 * 6),
    ("convT-nobias", (1, 4, 3, 3), "ConvTranspose2d", dict(out_channels=2, kernel_size=2, stride=2, bias=False),
     288, 576),
    ("relu-no-macs", (2, 3), "ReLU", {}, 0, None),
    ("pool-no-macs", (1, 1, 4, 4), "MaxPool2d", dict(kernel_size=2), 0, None),
]


@pytest.mark.parametrize("x, type_name, args, macs, flops", [c[1:] for c in COSTS], ids=[c[0] for c in COSTS])
def test_macs_and_flops(x, type_name, args, macs, flops):
    _, _, _, layer, y = run(type_name, args, x)
    assert layer.macs(x, y) == macs
    if flops is not None:
        assert layer.flops(x, y) == flops


def test_no_bias_switch_overrides_spec():
    _, _, params, layer, y = run("Conv2d", dict(out_channels=4, kernel_size=3, bias=True), (1, 3, 8, 8), no_bias=True)
    assert params == 108
    x = (1, 3, 8, 8)
    with_bias = build("Conv2d", dict(out_channels=4, kernel_size=3), x)
    assert layer.macs(x, y) == with_bias.macs(x, y)   # MACs unchanged
    assert layer.flops(x, y) == with_bias.flops(x, y) - 4 * 6 * 6


def test_no_bias_on_norm_and_encoder():
    # torch 2.13: BatchNorm, GroupNorm, InstanceNorm (affine), LayerNorm take bias=False and keep only γ
    assert run("BatchNorm2d", {}, (1, 6, 2, 2), no_bias=True)[2] == 6
    assert run("GroupNorm", dict(num_groups=4), (2, 16, 8, 8), no_bias=True)[2] == 16
    assert run("InstanceNorm2d", dict(affine=True), (2, 6, 5, 5), no_bias=True)[2] == 6
    assert run("LayerNorm", {}, (2, 8), no_bias=True)[2] == 8
    mha = build("MultiheadAttention", dict(num_heads=4), (10, 2, 16), no_bias=True)
    assert list(mha.parameters((10, 2, 16))) == ["in_proj_weight", "out_proj.weight"]
    layer = build("TransformerEncoderLayer", dict(nhead=2, dim_feedforward=8), (3, 1, 4), no_bias=True)
    assert not [n for n in layer.parameters((3, 1, 4)) if "bias" in n]


def test_embedding_keeps_no_bias_irrelevant():
    assert run("Embedding", dict(num_embeddings=10, embedding_dim=3), (2,), no_bias=True)[2] == 30


@pytest.mark.parametrize("x, type_name, canonical", [
    ((1, 2, 8), "conv", "Conv1d"), ((1, 2, 8, 8), "conv", "Conv2d"), ((1, 2, 4, 4, 4), "conv", "Conv3d"),
    ((1, 2, 8, 8), "DEPTHWISE", "DepthwiseConv2d"), ((1, 2, 8), "pointwise", "PointwiseConv1d"),
    ((1, 2, 8, 8), "transposed", "ConvTranspose2d"), ((1, 2, 8), "maxpool", "MaxPool1d"),
    ((1, 2, 4, 4, 4), "avgpool", "AvgPool3d"), ((3, 4), "linear", "Linear"), ((5, 1, 4), "lstm", "LSTM"),
    ((5, 1, 4), "rnn", "RNN"), ((5, 1, 4), "gru", "GRU"), ((5, 1, 4), "encoder", "TransformerEncoderLayer"),
    ((2, 3), "relu", "ReLU"), ((2, 3), "batchNORM1d", "BatchNorm1d"),
])
def test_aliases_and_case_insensitive_names(x, type_name, canonical):
    assert lookup(type_name, len(x)).TYPE == canonical


def test_alias_rank_needs_batched_input():
    from netcalc.layers.registry import UnknownType

    with pytest.raises(UnknownType, match="rank"):
        lookup("conv", 2)


@pytest.mark.parametrize("x, type_name, args, match", [
    ((1, 3, 8, 8), "Conv2d", dict(out_channels=4, kernel_size=9), "does not fit"),
    ((1, 3, 8, 8), "Conv2d", dict(out_channels=4, kernel_size=3, groups=2), "divisible by groups"),
    ((1, 4, 8, 8), "Conv2d", dict(out_channels=3, kernel_size=3, groups=2), "out_channels .* divisible"),
    ((1, 4, 8, 8), "Conv2d", dict(in_channels=3, out_channels=3, kernel_size=3), "in_channels=3 disagrees"),
    ((1, 4, 8, 8), "Conv2d", dict(out_channels=3, kernel_size=3, stride=2, padding="same"), "strided"),
    ((4, 8), "Conv2d", dict(out_channels=3, kernel_size=3), "expects a 3-D or 4-D"),
    ((1, 4, 8, 8), "ConvTranspose2d", dict(out_channels=3, kernel_size=3, stride=2, output_padding=2),
     "output_padding"),
    ((1, 4, 8, 8), "MaxPool2d", dict(kernel_size=2, padding=2), "at most half"),
    ((2, 30), "Linear", dict(in_features=20, out_features=3), "in_features=20"),
    ((10, 2, 30), "TransformerEncoderLayer", dict(nhead=4), "divisible by nhead"),
    ((10, 2, 30), "MultiheadAttention", dict(num_heads=7), "divisible by num_heads"),
    ((2, 15, 4, 4), "GroupNorm", dict(num_groups=4), "divisible by num_groups"),
    ((2, 5, 10), "LayerNorm", dict(normalized_shape=[4, 10]), "normalized_shape"),
    ((5, 3, 10), "LSTM", dict(hidden_size=20, proj_size=20), "proj_size"),
    ((4, 9), "GLU", {}, "even"),
    ((2, 12), "Unflatten", dict(dim=1, unflattened_size=[5, 3]), "does not match"),
])
def test_layer_rejects_what_torch_rejects(x, type_name, args, match):
    with pytest.raises(SpecError, match=match):
        run(type_name, args, x)


def test_unknown_argument_suggests_the_close_one():
    with pytest.raises(SpecError, match=r"unknown argument 'kernal_size' .*did you mean 'kernel_size'"):
        build("Conv2d", dict(out_channels=1, kernal_size=3), (1, 1, 4, 4))


def test_missing_required_argument():
    with pytest.raises(SpecError, match="needs 'kernel_size'"):
        build("Conv2d", dict(out_channels=1), (1, 1, 4, 4))


@pytest.mark.parametrize("value", [1.5, True, [1, 2, 3], {"a": 1}])
def test_bad_argument_values(value):
    with pytest.raises(SpecError):
        run("Conv2d", dict(out_channels=1, kernel_size=value), (1, 1, 8, 8))


def test_layer_table_through_a_whole_spec():
    """The same numbers come out of a spec: Conv2d → MaxPool2d(ceil) → Flatten → Linear."""
    report = analyze_text("""
input: [2, 3, 11, 11]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, stride: 2}
  - MaxPool2d: {kernel_size: 2, ceil_mode: true}
  - Flatten
  - Linear: {out_features: 7}
""")
    # conv ⌊8/2⌋+1 = 5; pool ⌈3/2⌉+1 = 3 (last start 4 < 5); flatten 4·9 = 36
    assert [r.output_shape for r in report.layers] == [(2, 4, 5, 5), (2, 4, 3, 3), (2, 36), (2, 7)]
    assert [r.params for r in report.layers] == [4 * 27 + 4, 0, 0, 7 * 36 + 7]
