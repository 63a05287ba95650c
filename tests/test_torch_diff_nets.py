"""Differential tests on whole networks: random conv/pool/norm/activation/flatten/linear
chains, every spec file under specs/, and one smoke comparison for every layer kind netcalc
registers (so a new kind cannot go without a torch comparison)."""

import tomllib
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="differential suite needs torch==2.13.0 (pip install torch==2.13.0)")

import torch_oracle as oracle
import yaml
from hypothesis import strategies as st
from torch_oracle import one_in

from netcalc.layers.registry import canonical_names

SPECS = Path(__file__).resolve().parent.parent / "specs"


# ----------------------------------------------------------------------------- random nets

@st.composite
def nets(draw):
    rank = draw(st.sampled_from([1, 2]))
    c = draw(st.integers(1, 4))
    shape = [draw(st.integers(1, 2)), c] + [draw(st.integers(8, 20)) for _ in range(rank)]
    layers = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["conv", "conv", "depthwise", "pointwise", "maxpool", "avgpool", "BatchNorm",
                                     "GroupNorm", "ReLU", "GELU", "Dropout"]))
        if kind == "conv":
            c_out = draw(st.integers(1, 6))
            args = {"out_channels": c_out, "kernel_size": draw(st.integers(1, 5)), "stride": draw(st.integers(1, 2)),
                    "padding": draw(st.integers(0, 2)), "bias": draw(st.booleans())}
            if one_in(draw, 4):
                args["groups"] = draw(st.integers(1, 2))
            layers.append((f"Conv{rank}d" if draw(st.booleans()) else "conv", args))
        elif kind == "depthwise":
            layers.append((kind, {"kernel_size": draw(st.integers(1, 3)), "padding": draw(st.integers(0, 1)),
                                  "depth_multiplier": draw(st.integers(1, 2))}))
        elif kind == "pointwise":
            layers.append((kind, {"out_channels": draw(st.integers(1, 6))}))
        elif kind in ("maxpool", "avgpool"):
            layers.append((kind, {"kernel_size": draw(st.integers(1, 3)), "stride": draw(st.integers(1, 2)),
                                  "ceil_mode": draw(st.booleans())}))
        elif kind == "BatchNorm":
            layers.append((f"BatchNorm{rank}d", {}))
        elif kind == "GroupNorm":
            layers.append(("GroupNorm", {"num_groups": draw(st.sampled_from([1, 1, 2]))}))
        else:
            layers.append((kind, {}))
    layers.append(("Flatten", {}))
    for _ in range(draw(st.integers(1, 2))):
        layers.append(("Linear", {"out_features": draw(st.integers(1, 8))}))
        layers.append(("ReLU", {}))
    return shape, layers


def check_net(case):
    shape, layers = case
    verdict = oracle.compare(shape, layers)
    if verdict == "ok":  # the contract: no rf from Flatten on, an rf per spatial axis before
        report = oracle.run_netcalc(oracle.spec_text(shape, layers))
        flat = next(i for i, (t, _) in enumerate(layers) if t == "Flatten")
        for i, row in enumerate(report.layers):
            if i >= flat:
                assert row.rf is None, f"layer {row.name} after Flatten has rf {row.rf}"
            else:
                assert len(row.rf["size"]) == len(shape) - 2, f"layer {row.name}: rf {row.rf}"
    return verdict


def test_random_networks_match_torch():
    oracle.run_cases(nets(), check_net, min_ok=15, min_error=1, max_examples=30)


# ----------------------------------------------------------------------------- spec files

TOP_KEYS = {"name", "input", "symbols", "layers"}


def flat_layers(data):
    """(type, args) per layer of a flat spec, or Unsupported."""
    if not isinstance(data, dict) or set(data) - TOP_KEYS or not isinstance(data.get("layers"), list):
        raise oracle.Unsupported("not a flat list of layers (blocks, or not a spec)")
    out, names = [], set()
    for item in data["layers"]:
        if isinstance(item, str):
            out.append((item, {}))
            continue
        if not isinstance(item, dict):
            raise oracle.Unsupported(f"layer {item!r}")
        if "type" in item:
            t, args = item["type"], {k: v for k, v in item.items() if k != "type"}
        elif len(item) == 1:
            (t, args), = item.items()
            args = dict(args or {})
        else:
            raise oracle.Unsupported(f"layer {item!r}")
        if not isinstance(args, dict) or any(isinstance(v, dict) for v in args.values()):
            raise oracle.Unsupported(f"nested layer {t!r}")
        if t.lower() in ("sequential", "residual", "concat", "add", "multiply"):
            raise oracle.Unsupported(f"block {t!r}")
        if "name" in args:
            if args["name"] in names:
                raise oracle.Unsupported("duplicate names are netcalc's own rule")
            names.add(args["name"])
        if "match" in args or args.get("output_padding") == "auto":
            raise oracle.Unsupported("output_padding: auto is for solve-padding")
        out.append((t, args))
    return out


def spec_files():
    if not SPECS.is_dir():
        return []
    return sorted(p for p in SPECS.rglob("*") if p.suffix in (".yaml", ".yml", ".toml") and p.is_file())


def test_every_spec_file_matches_torch():
    files = spec_files()
    if not files:
        pytest.skip(f"no spec files under {SPECS}")
    ran, skipped, failures = [], [], []
    for path in files:
        text = path.read_text()
        try:
            data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
            layers = flat_layers(data)
            symbols = data.get("symbols") or {}
            verdict = oracle.compare(data["input"], layers, text=text, filename=str(path), symbols=symbols,
                                     device="meta")
        except oracle.Unsupported as e:
            skipped.append(f"{path.relative_to(SPECS)}: {e}")
            continue
        except AssertionError as e:
            failures.append(f"{path.relative_to(SPECS)}: {e}")
            continue
        ran.append((path.relative_to(SPECS), verdict))
    print(f"spec files compared with torch: {len(ran)}; skipped: {len(skipped)}")
    print("\n".join(f"  skipped {s}" for s in skipped))
    assert not failures, "\n\n".join(failures)
    assert ran, f"none of the {len(files)} spec files could be built in torch:\n" + "\n".join(skipped)


# ----------------------------------------------------------------------------- every kind

# One valid configuration per registered kind (input shape, args); compared with torch both
# with and without --no-bias.
SMOKE = {
    "Conv{}d": ([2, 4, 9, 9, 9], {"out_channels": 6, "kernel_size": 3, "stride": 2, "groups": 2}),
    "DepthwiseConv{}d": ([2, 3, 8, 8, 8], {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"}),
    "PointwiseConv{}d": ([1, 3, 5, 5, 5], {"out_channels": 7}),
    "ConvTranspose{}d": ([1, 4, 3, 3, 3], {"out_channels": 2, "kernel_size": 3, "stride": 2, "output_padding": 1,
                                            "groups": 2, "dilation": 2}),
    "MaxPool{}d": ([1, 2, 7, 7, 7], {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    "AvgPool{}d": ([1, 2, 7, 7, 7], {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    "LPPool{}d": ([1, 2, 7, 7, 7], {"norm_type": 2, "kernel_size": 2}),
    "AdaptiveAvgPool{}d": ([1, 2, 7, 7, 7], {"output_size": 3}),
    "AdaptiveMaxPool{}d": ([1, 2, 7, 7, 7], {"output_size": 2}),
    "BatchNorm{}d": ([2, 3, 4, 4, 4], {}),
    "InstanceNorm{}d": ([2, 3, 4, 4, 4], {"affine": True}),
    "ZeroPad{}d": ([1, 2, 3, 3, 3], {"padding": 1}),
    "ConstantPad{}d": ([1, 2, 3, 3, 3], {"padding": 2, "value": 1.0}),
    "ReflectionPad{}d": ([1, 2, 3, 3, 3], {"padding": 2}),
    "ReplicationPad{}d": ([1, 2, 3, 3, 3], {"padding": 2}),
    "CircularPad{}d": ([1, 2, 3, 3, 3], {"padding": 3}),
    "Linear": ([2, 3, 5], {"out_features": 4}),
    "Bilinear": ([2, 5], {"out_features": 3}),
    "Embedding": ([2, 3], {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 0}),
    "Flatten": ([2, 3, 4], {}),
    "Unflatten": ([2, 12], {"dim": 1, "unflattened_size": [3, 4]}),
    "Identity": ([2, 3], {}),
    "LayerNorm": ([2, 3, 4], {"normalized_shape": [3, 4]}),
    "RMSNorm": ([2, 3, 4], {}),
    "GroupNorm": ([2, 6, 4], {"num_groups": 3}),
    "LocalResponseNorm": ([2, 6, 4], {"size": 3}),
    "RNN": ([5, 2, 3], {"hidden_size": 4, "num_layers": 2, "nonlinearity": "relu"}),
    "LSTM": ([5, 2, 3], {"hidden_size": 4, "proj_size": 2, "bidirectional": True}),
    "GRU": ([2, 5, 3], {"hidden_size": 4, "batch_first": True}),
    "MultiheadAttention": ([5, 2, 8], {"num_heads": 2, "add_bias_kv": True, "add_zero_attn": True}),
    "TransformerEncoderLayer": ([5, 2, 8], {"nhead": 2, "dim_feedforward": 16}),
    "PReLU": ([2, 3, 4], {"num_parameters": 3}),
    "GLU": ([2, 4], {}),
    "Softmax2d": ([2, 3, 4, 4], {}),
    "Threshold": ([2, 3], {"threshold": 0.5, "value": 0.0}),
    "Upsample": ([1, 2, 3, 4], {"scale_factor": 2, "mode": "bilinear"}),
    "UpsamplingNearest2d": ([1, 2, 3, 4], {"size": [5, 7]}),
    "UpsamplingBilinear2d": ([1, 2, 3, 4], {"scale_factor": 1.5}),
    "PixelShuffle": ([1, 8, 3, 3], {"upscale_factor": 2}),
    "PixelUnshuffle": ([1, 2, 4, 6], {"downscale_factor": 2}),
    "ChannelShuffle": ([1, 6, 3, 3], {"groups": 3}),
    "RNNCell": ([3, 5], {"hidden_size": 7, "nonlinearity": "relu"}),
    "LSTMCell": ([3, 5], {"hidden_size": 7}),
    "GRUCell": ([5], {"hidden_size": 7}),
    "Unfold": ([1, 2, 8, 9], {"kernel_size": [2, 3], "dilation": 2, "padding": [1, 0], "stride": [2, 1]}),
    "Fold": ([1, 8, 9], {"output_size": [4, 5], "kernel_size": 2, "stride": 2, "padding": 1}),
    "FractionalMaxPool{}d": ([2, 3, 9, 8, 7], {"kernel_size": 2, "output_ratio": 0.5}),
    "EmbeddingBag": ([3, 5], {"num_embeddings": 10, "embedding_dim": 4, "mode": "sum"}),
    "SyncBatchNorm": ([2, 3, 4], {}),
    "CrossMapLRN2d": ([2, 3, 4, 5], {"size": 3}),
    "Chunk": ([2, 7, 3], {"chunks": 3, "dim": 1}),
    "Split": ([2, 7, 3], {"split_size_or_sections": [2, 5], "dim": 1}),
    "Einsum": ([2, 3, 4], {"equation": "bij->bji"}),
    "GatedMLP": ([2, 3, 8], {"intermediate_size": 12, "bias": True}),
    "TransformerEncoder": ([2, 3, 8], {"nhead": 2, "dim_feedforward": 16, "num_layers": 2, "norm": True,
                                       "batch_first": True}),
    "GroupedQueryAttention": ([2, 5, 16], {"num_heads": 4, "num_key_value_heads": 2, "bias": True}),
    "Reshape": ([2, 3, 4], {"shape": [6, -1]}),
    "View": ([2, 3, 4], {"shape": [-1, 12]}),
    "Permute": ([2, 3, 4], {"dims": [2, 0, 1]}),
    "Transpose": ([2, 3, 4], {"dim0": 0, "dim1": -1}),
    "Mean": ([2, 3, 4], {"dim": [1, 2], "keepdim": True}),
    "Select": ([2, 3, 4], {"dim": 1, "index": -1}),
    "ClassToken": ([2, 3, 4], {}),
    "PositionalEmbedding": ([2, 3, 4], {}),
    "Parameter": ([2, 3], {"shape": [5, 2]}),
}
ELEMENTWISE_SHAPE = [2, 3, 4]


def smoke_case(name):
    for template, (shape, args) in SMOKE.items():
        for rank in (1, 2, 3):
            if template.format(rank) == name:
                return (shape[:2 + rank] if "{}" in template else shape), args
    return ELEMENTWISE_SHAPE, {}


def second_inputs(name) -> list[str]:
    """The tensor arguments a kind cannot do without (memory:, tgt:): tested in test_torch_diff_seq."""
    from netcalc.layers import REGISTRY
    from netcalc.layers.base import REQUIRED

    cls = REGISTRY[name.lower()]
    return [a.name for a in cls.ARGS if a.kind == "tensor" and a.default is REQUIRED]


@pytest.mark.parametrize("name", canonical_names())
def test_every_registered_kind_against_torch(name):
    if second_inputs(name):
        pytest.skip(f"{name} reads a second input ({', '.join(second_inputs(name))}): "
                    "test_torch_diff_seq.py::test_two_input_layers_match_torch builds it in torch")
    shape, args = smoke_case(name)
    try:
        verdict = oracle.compare(shape, [(name, args)])
    except oracle.Unsupported as e:
        pytest.fail(f"{name}: the torch builder does not know this kind ({e}); teach tests/torch_oracle.py")
    assert verdict == "ok", f"{name}: torch rejects the smoke configuration {shape} {args}; pick a valid one"
