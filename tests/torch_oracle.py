"""PyTorch as the oracle for netcalc's differential tests.

A spec (input shape plus a list of ``(type, args)`` layers) is turned into YAML for netcalc
and, independently of netcalc, into real ``torch.nn`` modules: input widths are taken from the
shape torch's own forward pass produced, aliases and netcalc's Depthwise/Pointwise kinds map
to ``nn.ConvNd``, and ``--no-bias`` sets ``bias=False`` on every class whose constructor takes
``bias``. :func:`compare` runs both sides and asserts that they agree on everything torch can
measure; :func:`measure_fields` measures receptive fields with autograd.

Import this module only after ``pytest.importorskip("torch")``.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import math
import operator
import re
import warnings
from dataclasses import dataclass, field
from fractions import Fraction

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from netcalc.errors import SpecError
from netcalc.network import analyze_text

TORCH_PIN = "2.13.0"
SKIP_REASON = f"differential suite needs torch=={TORCH_PIN} (pip install torch=={TORCH_PIN})"

if not torch.__version__.startswith(TORCH_PIN):  # the numbers are those of one torch release
    pytest.skip(f"{SKIP_REASON}; found torch {torch.__version__}", allow_module_level=True)

# Reproducible and bounded: no example database, the same examples on every run.
FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

# What torch raises when it refuses a configuration (MultiheadAttention asserts).
REJECTIONS = (RuntimeError, ValueError, AssertionError, IndexError, TypeError, ZeroDivisionError)

# Layers whose `macs` the contract defines through FlopCounterMode.
MAC_KINDS = ("Conv", "ConvTranspose", "DepthwiseConv", "PointwiseConv", "Linear", "MultiheadAttention",
             "TransformerEncoder")


class Unsupported(Exception):
    """A spec feature this builder does not translate to torch (the test skips that spec)."""


class TorchRejected(Exception):
    """torch refused to build or run layer ``index`` (1-based)."""

    def __init__(self, index: int, error: BaseException):
        super().__init__(f"layer {index}: {type(error).__name__}: {error}")
        self.index, self.error = index, error


# ----------------------------------------------------------------------------- spec text

def spec_text(input_shape, layers, name=None) -> str:
    """YAML for netcalc: ``layers`` is a list of ``(type, args)``; args may be empty."""
    doc = {}
    if name is not None:
        doc["name"] = name
    doc["input"] = list(input_shape)
    doc["layers"] = [t if not args else {t: dict(args)} for t, args in layers]
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)


def run_netcalc(text, no_bias=False, filename="spec.yaml", values=None):
    """netcalc's report, or the SpecError it raised."""
    try:
        return analyze_text(text, filename, values, no_bias)
    except SpecError as e:
        return e


# ----------------------------------------------------------------------------- spec → torch

def _torch_classes():
    out = {}
    for n in dir(nn):
        c = getattr(nn, n)
        if isinstance(c, type) and issubclass(c, nn.Module) and not n.startswith("_") and not n.startswith("Lazy"):
            out[n.lower()] = c
    return out


class TensorMethod(nn.Module):
    """netcalc's Reshape/View/Permute/Transpose/Mean/Select: the tensor method they name."""

    def __init__(self, method, *args, **kwargs):
        super().__init__()
        self.method, self.args, self.kwargs = method, args, kwargs

    def forward(self, x):
        return getattr(x, self.method)(*self.args, **self.kwargs)


class FirstPiece(nn.Module):
    """x.chunk(...)[0] or x.split(...)[0]: netcalc's Chunk and Split go on with the first piece."""

    def __init__(self, method, *args):
        super().__init__()
        self.method, self.args = method, args

    def forward(self, x):
        return getattr(x, self.method)(*self.args)[0]


class Einsum1(nn.Module):
    def __init__(self, equation):
        super().__init__()
        self.equation = equation

    def forward(self, x):
        return torch.einsum(self.equation, x)


class ClassToken(nn.Module):
    """A learned (1, 1, D) token put in front of a (N, L, D) sequence (torchvision's ViT)."""

    def __init__(self, width):
        super().__init__()
        self.class_token = nn.Parameter(torch.zeros(1, 1, width))

    def forward(self, x):
        if x.dim() != 3:
            raise ValueError(f"ClassToken expects (N, L, D), got {tuple(x.shape)}")
        return torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)


class PositionalEmbedding(nn.Module):
    """A learned (1, L, D) tensor added to a (N, L, D) sequence (torchvision's ViT)."""

    def __init__(self, num_positions, width):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.zeros(1, num_positions, width))

    def forward(self, x):
        if x.dim() != 3:
            raise ValueError(f"PositionalEmbedding expects (N, L, D), got {tuple(x.shape)}")
        return x + self.pos_embedding.expand(x.shape[0], -1, -1)


class HeldParameter(nn.Module):
    """A learned tensor the model holds; the data passes unchanged."""

    def __init__(self, shape):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(shape))

    def forward(self, x):
        return x


class GatedMLP(nn.Module):
    """SwiGLU as Llama's LlamaMLP writes it: down_proj(act(gate_proj(x)) * up_proj(x))."""

    ACTS = {"silu": F.silu, "gelu": F.gelu, "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"), "relu": F.relu}

    def __init__(self, width, intermediate_size, bias=False, activation="silu"):
        super().__init__()
        if activation not in self.ACTS:
            raise ValueError(f"unknown activation {activation!r}")
        self.gate_proj = nn.Linear(width, intermediate_size, bias=bias)
        self.up_proj = nn.Linear(width, intermediate_size, bias=bias)
        self.down_proj = nn.Linear(intermediate_size, width, bias=bias)
        self.act = self.ACTS[activation]

    def forward(self, x):
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class GroupedQueryAttention(nn.Module):
    """Llama's attention with torch's own SDPA (enable_gqa) instead of netcalc's explicit matmuls;
    rotary embedding by the half-rotation, causal by is_causal."""

    def __init__(self, width, num_heads, num_key_value_heads=None, head_dim=None, bias=False, out_bias=False,
                 causal=True, rotary=True, rope_theta=10000.0, qk_norm=False):
        super().__init__()
        kv = num_heads if num_key_value_heads is None else num_key_value_heads
        d = width // num_heads if head_dim is None else head_dim
        if num_heads < 1 or kv < 1 or num_heads % kv or (head_dim is None and width % num_heads) or (rotary and d % 2):
            raise ValueError("bad head configuration")
        self.h, self.kv, self.d, self.causal, self.rotary, self.theta = num_heads, kv, d, causal, rotary, rope_theta
        self.q_proj = nn.Linear(width, num_heads * d, bias=bias)
        self.k_proj = nn.Linear(width, kv * d, bias=bias)
        self.v_proj = nn.Linear(width, kv * d, bias=bias)
        self.o_proj = nn.Linear(num_heads * d, width, bias=out_bias)
        self.qk_norm = qk_norm
        if qk_norm:
            self.q_norm, self.k_norm = nn.RMSNorm(d), nn.RMSNorm(d)

    def rope(self, t):
        half = self.d // 2
        angle = torch.arange(t.shape[-2], dtype=t.dtype, device=t.device)[:, None] * (
            self.theta ** (-torch.arange(half, dtype=t.dtype, device=t.device) / half))
        c, s = angle.cos().repeat(1, 2), angle.sin().repeat(1, 2)
        return t * c + torch.cat([-t[..., half:], t[..., :half]], -1) * s

    def forward(self, x):
        if x.dim() != 3:
            raise ValueError("expects (N, L, E)")
        n, length, _ = x.shape
        q = self.q_proj(x).view(n, length, self.h, self.d).transpose(1, 2)
        k = self.k_proj(x).view(n, length, self.kv, self.d).transpose(1, 2)
        v = self.v_proj(x).view(n, length, self.kv, self.d).transpose(1, 2)
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.rotary:
            q, k = self.rope(q), self.rope(k)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal, enable_gqa=True)
        return self.o_proj(out.transpose(1, 2).reshape(n, length, self.h * self.d))


def _dims(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


NETCALC_OPS = {
    "Reshape": lambda x, shape: TensorMethod("reshape", _dims(shape)),
    "View": lambda x, shape: TensorMethod("view", _dims(shape)),
    "Permute": lambda x, dims: TensorMethod("permute", _dims(dims)),
    "Transpose": lambda x, dim0, dim1: TensorMethod("transpose", dim0, dim1),
    "Mean": lambda x, dim, keepdim=False: TensorMethod("mean", dim=_dims(dim), keepdim=keepdim),
    "Select": lambda x, dim, index=0: TensorMethod("select", dim, index),
    "ClassToken": lambda x: ClassToken(_width(x, -1)),
    "PositionalEmbedding": lambda x, num_positions=None: PositionalEmbedding(
        _width(x, 1) if num_positions is None else num_positions, _width(x, -1)),
    "Parameter": lambda x, shape: HeldParameter(_dims(shape)),
    "Chunk": lambda x, chunks, dim=0, names=None: FirstPiece("chunk", chunks, dim),
    "Split": lambda x, split_size_or_sections, dim=0, names=None: FirstPiece("split", split_size_or_sections, dim),
    "Einsum": lambda x, equation: Einsum1(equation),
    "GatedMLP": lambda x, intermediate_size, in_features=None, **kw: GatedMLP(
        _width(x, -1) if in_features is None else in_features, intermediate_size, **kw),
    "GroupedQueryAttention": lambda x, num_heads, embed_dim=None, **kw: GroupedQueryAttention(
        _width(x, -1) if embed_dim is None else embed_dim, num_heads, **kw),
}


TORCH_CLASSES = _torch_classes()
RANKED_ALIASES = {"conv": "Conv{}d", "depthwise": "DepthwiseConv{}d", "pointwise": "PointwiseConv{}d",
                  "transposed": "ConvTranspose{}d", "maxpool": "MaxPool{}d", "avgpool": "AvgPool{}d"}
PLAIN_ALIASES = {"linear": "Linear", "rnn": "RNN", "lstm": "LSTM", "gru": "GRU", "encoder": "TransformerEncoderLayer"}
RESERVED = ("name", "expect", "match")
PER_AXIS = ("kernel_size", "stride", "padding", "dilation", "output_padding")


def resolve(type_name: str, ndim: int) -> str:
    """The canonical class name for a spec type (rank of aliases from the incoming ndim)."""
    key = str(type_name).strip().lower()
    if key in RANKED_ALIASES:
        if ndim - 2 not in (1, 2, 3):
            raise TorchRejected(0, ValueError(f"alias {type_name} needs a 3-D to 5-D input"))
        key = RANKED_ALIASES[key].format(ndim - 2).lower()
    key = PLAIN_ALIASES.get(key, key).lower()
    m = re.fullmatch(r"(depthwise|pointwise)conv([123])d", key)
    if m:
        return ("DepthwiseConv" if m.group(1) == "depthwise" else "PointwiseConv") + m.group(2) + "d"
    for name in NETCALC_OPS:
        if key == name.lower():
            return name
    if key not in TORCH_CLASSES:
        raise Unsupported(f"unknown layer type {type_name!r}")
    return TORCH_CLASSES[key].__name__


def rank_of(cname: str) -> int:
    m = re.search(r"([123])d$", cname)
    return int(m.group(1)) if m else 0


def takes_bias(cls) -> bool:
    """Whether the constructor of ``cls`` has a ``bias`` argument (positional or keyword-only)."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters
        if "bias" in params:
            return True
        if any(p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for n, p in params.items() if n != "self"):
            return False
    return False


def _width(x, i):
    return x[i] if -len(x) <= i < len(x) else 1


def inferred_widths(cname: str, x) -> list[tuple[str, int]]:
    """(argument, value) for each input width torch needs that a spec may omit."""
    r = rank_of(cname)
    if re.fullmatch(r"Conv[123]d|ConvTranspose[123]d", cname):
        return [("in_channels", _width(x, -r - 1))]
    if re.fullmatch(r"InstanceNorm[123]d", cname):
        return [("num_features", _width(x, -r - 1))]
    if re.fullmatch(r"BatchNorm[123]d|SyncBatchNorm", cname):
        return [("num_features", _width(x, 1))]
    if cname == "Bilinear":  # netcalc feeds the incoming tensor as both inputs
        return [("in1_features", _width(x, -1)), ("in2_features", _width(x, -1))]
    last = {"Linear": "in_features", "LayerNorm": "normalized_shape", "RMSNorm": "normalized_shape",
            "RNN": "input_size", "LSTM": "input_size", "GRU": "input_size", "RNNCell": "input_size",
            "LSTMCell": "input_size", "GRUCell": "input_size", "MultiheadAttention": "embed_dim",
            "TransformerEncoderLayer": "d_model", "TransformerEncoder": "d_model"}
    if cname in last:
        return [(last[cname], _width(x, -1))]
    if cname == "GroupNorm":
        return [("num_channels", _width(x, 1))]
    return []


# netcalc's own convolution kinds (contract, section 1) and the arguments they take
DEPTHWISE_ARGS = {"in_channels", "kernel_size", "stride", "padding", "dilation", "depth_multiplier", "bias",
                  "padding_mode"}
POINTWISE_ARGS = {"in_channels", "out_channels", "bias"}


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
        ast.Mod: operator.mod, ast.Pow: operator.pow}


def eval_dim(raw, symbols: dict):
    """An int from a spec value: an integer or an expression over symbols with values."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        return raw
    if isinstance(raw, int):
        return raw
    if raw.strip() == "_":
        raise Unsupported("blanks (_) are for `netcalc solve`")
    if re.fullmatch(r"[A-Za-z_][\w-]*", raw.strip()) and raw.strip() not in symbols:
        return raw  # a word such as 'same', 'nearest-exact', 'zeros'
    try:
        tree = ast.parse(raw.strip(), mode="eval").body
    except SyntaxError:
        return raw

    def ev(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in symbols:
                raise KeyError(node.id)
            return symbols[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Div):
                if a % b:
                    raise Unsupported(f"{raw!r} is not an integer")
                return a // b
            if type(node.op) in _OPS:
                return _OPS[type(node.op)](a, b)
        raise Unsupported(f"cannot evaluate {raw!r}")

    try:
        return ev(tree)
    except KeyError as e:
        raise Unsupported(f"symbol {e.args[0]} has no value") from None


def torch_value(raw, symbols):
    """A spec argument as a torch constructor argument (lists become tuples)."""
    if isinstance(raw, list):
        return tuple(torch_value(v, symbols) for v in raw)
    if raw is None or isinstance(raw, (bool, float)):
        return raw
    return eval_dim(raw, symbols)


def build(type_name, args, x, no_bias=False, symbols=None):
    """(canonical name, nn.Module) for one spec layer fed a tensor of shape ``x``."""
    symbols = symbols or {}
    cname = resolve(type_name, len(x))
    for key in ("when", "repeat"):
        if key in args:
            raise Unsupported(f"{key}: is netcalc's block language")
    kw = {k: torch_value(v, symbols) for k, v in args.items() if k not in RESERVED}
    r = rank_of(cname)
    if r == 1:  # a one-axis list is the axis' value (LPPool1d only takes an int)
        kw = {k: v[0] if k in PER_AXIS and isinstance(v, tuple) and len(v) == 1 else v for k, v in kw.items()}
    if cname.startswith(("DepthwiseConv", "PointwiseConv")):
        unknown = set(kw) - (DEPTHWISE_ARGS if cname.startswith("Depthwise") else POINTWISE_ARGS)
        if unknown:
            raise TorchRejected(0, TypeError(f"{cname} takes no {', '.join(sorted(unknown))}"))
    if cname.startswith("DepthwiseConv"):
        c = kw.pop("in_channels", None) or _width(x, -r - 1)
        m = kw.pop("depth_multiplier", 1)
        if not isinstance(m, int):
            raise TorchRejected(0, TypeError("depth_multiplier must be an int"))
        kw.setdefault("kernel_size", None)
        cls, kw = getattr(nn, f"Conv{r}d"), {"in_channels": c, "out_channels": c * m, "groups": c, **kw}
    elif cname in NETCALC_OPS:
        if no_bias and cname in ("GatedMLP", "GroupedQueryAttention"):  # netcalc's own kinds with biases
            kw.update(bias=False, **({"out_bias": False} if cname == "GroupedQueryAttention" else {}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cname, NETCALC_OPS[cname](x, **kw)
    elif cname.startswith("PointwiseConv"):
        c = kw.pop("in_channels", None) or _width(x, -r - 1)
        cls, kw = getattr(nn, f"Conv{r}d"), {"in_channels": c, "kernel_size": 1, **kw}
    else:
        cls = getattr(nn, cname)
        for key, value in inferred_widths(cname, x):
            kw.setdefault(key, value)
    if no_bias and takes_bias(cls):
        kw["bias"] = False
    if cname == "TransformerEncoder":  # torch takes a layer and a norm module: built from the layer's arguments
        layers, norm = kw.pop("num_layers"), kw.pop("norm", False)
        if no_bias:
            kw["bias"] = False
        layer = nn.TransformerEncoderLayer(**kw)
        return cname, nn.TransformerEncoder(layer, layers, enable_nested_tensor=False, norm=nn.LayerNorm(
            kw["d_model"], eps=kw.get("layer_norm_eps", 1e-5), bias=kw.get("bias", True)) if norm else None)
    if cname == "TransformerEncoderLayer" and "activation" in kw and kw["activation"] not in ("relu", "gelu"):
        raise TorchRejected(0, ValueError(f"activation should be relu/gelu, not {kw['activation']}"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # where torch only warns, the layer is valid
        return cname, cls(**kw)


@dataclass
class TorchLayer:
    cname: str
    module: nn.Module
    input_shape: tuple
    output_shape: tuple
    state_shapes: dict | None
    params: dict = field(default_factory=dict)  # torch name -> shape
    macs: int | None = None  # FlopCounterMode total // 2


RECURRENT = ("RNN", "LSTM", "GRU")
ATTENTION = ("MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder")


def forward(cname, module, x_shape, device="cpu"):
    """(output shape, state shapes, MACs) of one forward pass on zeros.

    Attention runs in train mode inside SDPBackend.MATH so FlopCounterMode sees every matmul
    (the contract's measuring rule); everything else runs in eval mode. RNN/LSTM/GRU run with
    oneDNN off: its fused kernel (taken whenever there is no proj_size) counts as 0 MACs.
    """
    module.train(cname in ATTENTION)
    dtype = torch.long if cname in ("Embedding", "EmbeddingBag") else torch.float32
    x = torch.zeros(x_shape, dtype=dtype, device=device)
    fused = torch.backends.mkldnn.flags(enabled=False) if cname in RECURRENT else contextlib.nullcontext()
    with quiet(), torch.no_grad(), sdpa_kernel(SDPBackend.MATH), fused, FlopCounterMode(display=False) as counter:
        if cname == "MultiheadAttention":
            y = module(x, x, x)
        elif cname == "Bilinear":
            y = module(x, x)
        else:
            y = module(x)
    states = None
    if cname in RECURRENT:
        y, h = y
        states = {"h_n": tuple(h[0].shape), "c_n": tuple(h[1].shape)} if cname == "LSTM" else {"h_n": tuple(h.shape)}
    elif isinstance(y, tuple):  # return_indices, attention weights, LSTMCell's (h, c)
        y = y[0]
    return tuple(y.shape), states, counter.get_total_flops() // 2


def big(shape, limit=200_000):
    return math.prod(shape) > limit


def run_torch(input_shape, layers, no_bias=False, symbols=None, device=None):
    """Build and run the spec layer by layer; a TorchLayer each, or TorchRejected."""
    x = tuple(eval_dim(d, symbols or {}) for d in input_shape)
    if not all(isinstance(d, int) for d in x):
        raise Unsupported(f"input {input_shape} has symbols without values")
    dev = device or ("meta" if big(x) else "cpu")
    out = []
    for i, (type_name, args) in enumerate(layers, 1):
        try:
            cname, module = _build_on(dev, type_name, args, x, no_bias, symbols)
            try:
                y, states, macs = forward(cname, module, x, dev)
            except NotImplementedError:  # no meta kernel: run on the CPU
                cname, module = _build_on("cpu", type_name, args, x, no_bias, symbols)
                y, states, macs = forward(cname, module, x, "cpu")
        except TorchRejected as e:
            raise TorchRejected(i, e.error) from None
        except REJECTIONS as e:
            raise TorchRejected(i, e) from None
        if 0 in y:
            # An empty output: torch's size checks reject it (ConvTranspose2d's grouped CPU path
            # lets some through; the meta kernels and every other path refuse), and so must netcalc.
            raise TorchRejected(i, RuntimeError(f"empty output {y}"))
        params = {n: tuple(p.shape) for n, p in module.named_parameters()}
        out.append(TorchLayer(cname, module, x, y, states, params, macs))
        x = y
    return out


def _build_on(device, *a):
    with torch.device(device):
        return build(*a)


# ----------------------------------------------------------------------------- comparing

def as_int_shape(shape):
    return tuple(int(d) for d in shape)


def split_params(params: dict):
    """(weights, biases) element counts, by the contract's rule: a name containing 'bias' is a bias."""
    w = sum(math.prod(s) for n, s in params.items() if "bias" not in n)
    b = sum(math.prod(s) for n, s in params.items() if "bias" in n)
    return w, b


def contract_flops(tl: TorchLayer):
    """The contract's exact FLOPs for ConvNd/Linear/ConvTransposeNd from torch's own layer, else None."""
    m = tl.module
    out = math.prod(tl.output_shape)
    has_bias = getattr(m, "bias", None) is not None
    if isinstance(m, nn.modules.conv._ConvTransposeNd):
        return 2 * tl.macs + (out if has_bias else 0)
    if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
        fan_in = math.prod(m.weight.shape[1:])
        return out * (2 * fan_in - 1 + int(has_bias))
    return None


def expected_type(tl: TorchLayer) -> str:
    if tl.cname.startswith(("DepthwiseConv", "PointwiseConv")) or tl.cname in NETCALC_OPS:
        return tl.cname
    return type(tl.module).__name__


def row_numbers(row, subs=None) -> dict:
    """What one report row says, as plain ints.

    Numeric rows are read from the contract's JSON document (``row.to_dict()``), whose
    quantities must be JSON integers; with ``subs`` (symbol name -> value) the row's symbolic
    values are evaluated at those values instead.
    """
    if subs is None:
        doc = row.to_dict()
        for key in ("weights", "biases", "params", "macs", "flops"):
            assert type(doc[key]) is int, f"{row.name}: {key} is {doc[key]!r}, not a JSON integer"
        for d in doc["input_shape"] + doc["output_shape"]:
            assert type(d) is int, f"{row.name}: shape entry {d!r} is not a JSON integer"
    else:
        doc = {"type": row.type, "input_shape": row.input_shape, "output_shape": row.output_shape,
               "state_shapes": row.state_shapes, **{k: getattr(row, k) for k in ("weights", "biases", "params",
                                                                                 "macs", "flops")}}

    def value(v):
        return evaluate(v, subs or {})

    def shape(dims):
        return tuple(value(d) for d in dims)

    return {
        "type": doc["type"], "input_shape": shape(doc["input_shape"]), "output_shape": shape(doc["output_shape"]),
        "state_shapes": None if doc["state_shapes"] is None else {k: shape(v) for k, v in doc["state_shapes"].items()},
        "counts": tuple(value(doc[k]) for k in ("weights", "biases", "params")),
        "macs": value(doc["macs"]), "flops": value(doc["flops"]),
        "parameters": {n: shape(v) for n, v in row.layer.parameters(row.input_shape).items()},
    }


def evaluate(v, subs: dict) -> int:
    """A netcalc int or sympy expression at the given symbol values."""
    if isinstance(v, int):
        return v
    out = v.subs({sym: subs[sym.name] for sym in v.free_symbols})
    assert out.is_Integer, f"{v} at {subs} is {out}, not an integer"
    return int(out)


def assert_row_matches(row, tl: TorchLayer, where: str, check_macs=None, subs=None):
    """Every number torch can show for one layer."""
    got = row_numbers(row, subs)
    assert got["type"] == expected_type(tl), f"{where}: type {got['type']} != {expected_type(tl)}"
    assert got["input_shape"] == tl.input_shape, f"{where}: input shape {got['input_shape']} != {tl.input_shape}"
    assert got["output_shape"] == tl.output_shape, \
        f"{where}: output shape netcalc {got['output_shape']} != torch {tl.output_shape}"
    assert got["state_shapes"] == tl.state_shapes, \
        f"{where}: state shapes netcalc {got['state_shapes']} != torch {tl.state_shapes}"
    assert got["parameters"] == tl.params, f"{where}: parameters netcalc {got['parameters']} != torch {tl.params}"
    w, b = split_params(tl.params)
    assert got["counts"] == (w, b, w + b), \
        f"{where}: weights/biases/params netcalc {got['counts']} != torch {(w, b, w + b)}"
    if check_macs is None:
        check_macs = tl.cname.startswith(MAC_KINDS)
    if check_macs:
        assert got["macs"] == tl.macs, f"{where}: macs netcalc {got['macs']} != FlopCounterMode {tl.macs}"
    flops = contract_flops(tl)
    if flops is not None:
        assert got["flops"] == flops, f"{where}: flops netcalc {got['flops']} != contract rule {flops}"


def compare(input_shape, layers, *, no_bias_modes=(False, True), check_macs=None, device=None,
            text=None, filename="spec.yaml", symbols=None) -> str:
    """Run netcalc and torch on one spec (with and without --no-bias); 'ok' or 'error'.

    torch rejecting the spec must make netcalc raise SpecError, and torch accepting it must
    make netcalc accept it and agree on every layer.
    """
    text = text if text is not None else spec_text(input_shape, layers)
    outcomes = set()
    for no_bias in no_bias_modes:
        flag = " --no-bias" if no_bias else ""
        try:
            tls = run_torch(input_shape, layers, no_bias, symbols, device)
        except TorchRejected as e:
            got = run_netcalc(text, no_bias, filename)
            assert isinstance(got, SpecError), \
                f"torch rejects{flag} ({e}) but netcalc accepts:\n{text}"
            outcomes.add("error")
            continue
        got = run_netcalc(text, no_bias, filename)
        assert not isinstance(got, SpecError), f"torch accepts{flag} but netcalc says: {got}\n{text}"
        assert len(got.layers) == len(tls)
        for row, tl in zip(got.layers, tls):
            assert_row_matches(row, tl, f"layer {row.index} ({row.type}){flag}\n{text}", check_macs)
        assert as_int_shape(got.output_shape) == (tls[-1].output_shape if tls else as_int_shape(got.input_shape))
        outcomes.add("ok")
    assert len(outcomes) == 1 or no_bias_modes == (False,), f"--no-bias changed validity:\n{text}"
    return outcomes.pop()


def one_in(draw, n) -> bool:
    """True about once in ``n`` draws (the middle value: hypothesis favours the ends of a range)."""
    return draw(st.integers(0, n - 1)) == n // 2


def mostly(values, bad, n=30):
    """``values``, except about once in ``n`` draws the invalid ``bad`` (a zero size, a negative padding)."""
    return st.integers(0, n - 1).flatmap(lambda r: st.just(bad) if r == n // 2 else values)


def run_cases(strategy, check, min_ok=1, min_error=0, **overrides):
    """Run ``check`` (returning 'ok' or 'error') over hypothesis examples and insist that the
    generator produced at least ``min_ok`` valid and ``min_error`` invalid configurations."""
    seen = {"ok": 0, "error": 0}

    @(settings(FAST, **overrides) if overrides else FAST)
    @given(strategy)
    def inner(case):
        seen[check(case)] += 1

    inner()
    print(f"configurations: {seen}")
    assert seen["ok"] >= min_ok, f"too few valid configurations: {seen}"
    assert seen["error"] >= min_error, f"too few invalid configurations: {seen}"
    return seen


# ----------------------------------------------------------------------------- receptive fields

@dataclass
class Window:
    """One layer of a receptive-field stack, per spatial axis."""

    kind: str  # conv, depthwise, pointwise, maxpool, avgpool, transposed, pad, upsample (nearest)
    kernel: tuple
    stride: tuple  # for upsample: the integer scale factor
    padding: tuple | str  # for pad: the left (leading) padding per axis
    dilation: tuple
    output_padding: tuple = ()  # for pad: the right (trailing) padding per axis

    def pads(self):
        """Left padding per axis (padding='same' puts the odd one on the right, as torch does)."""
        if self.padding == "same":
            return tuple((d * (k - 1)) // 2 for k, d in zip(self.kernel, self.dilation))
        if self.padding == "valid":
            return (0,) * len(self.kernel)
        return self.padding

    def module(self, rank):
        """The all-ones torch layer that measures this window (max pools become all-ones convs)."""
        if self.kind == "pad":  # torch order: last axis first, (left, right) each
            return getattr(nn, f"ZeroPad{rank}d")(tuple(v for a in reversed(range(rank))
                                                        for v in (self.padding[a], self.output_padding[a])))
        if self.kind == "upsample":
            return nn.Upsample(scale_factor=tuple(float(s) for s in self.stride), mode="nearest")
        if self.kind == "transposed":
            m = getattr(nn, f"ConvTranspose{rank}d")(1, 1, self.kernel, self.stride, self.padding,
                                                     self.output_padding, bias=True, dilation=self.dilation)
        elif self.kind == "avgpool":
            return getattr(nn, f"AvgPool{rank}d")(self.kernel, self.stride, self.padding)
        else:
            m = getattr(nn, f"Conv{rank}d")(1, 1, self.kernel, self.stride, self.padding, self.dilation, bias=True)
        with torch.no_grad():
            m.weight.fill_(1.0)
            m.bias.zero_()
        return m

    def reads(self, lo, hi, axis):
        """The span of input units that output units lo..hi read along ``axis`` (a superset)."""
        k, s, d = self.kernel[axis], self.stride[axis], self.dilation[axis]
        p = self.pads()[axis]
        if self.kind == "upsample":  # output o repeats input o // s
            return lo // s, hi // s
        if self.kind == "transposed":
            p = self.padding[axis]
            return -((-(lo + p - d * (k - 1))) // s), (hi + p) // s
        return lo * s - p, hi * s - p + d * (k - 1)


def measure_fields(stack: list[Window], rank: int, size: int, units: int):
    """Receptive fields measured with autograd, per axis, for ``units`` neighbouring output units.

    Returns ``(spans, first)`` per axis: spans[i] is ``(lo, hi)`` of nonzero input gradient of
    output unit ``first + i`` along that axis (None when it sees nothing), measured at units
    that read no padding at any layer (so the spans are unclipped), or None when ``size`` is
    too small to have that many such units.
    """
    x = torch.ones((1, 1) + (size,) * rank, dtype=torch.float64, requires_grad=True)
    sizes, t = [list(x.shape[2:])], x  # the tensor sizes entering each layer, then the output's
    try:
        for w in stack:
            with quiet():  # padding='same' with an even kernel warns about a padded copy
                t = w.module(rank).double()(t)
            sizes.append(list(t.shape[2:]))
    except RuntimeError:  # an intermediate size is below 1: try a larger input
        return None
    y = t
    clean = []
    for a in range(rank):
        n = sizes[-1][a]
        first = _bisect(lambda o, a=a: _reads_inside(stack, sizes, a, o, "left"), n, want=True)
        last = _bisect(lambda o, a=a: not _reads_inside(stack, sizes, a, o, "right"), n, want=True) - 1
        if last - first + 1 < units:
            return None
        mid = (first + last) // 2 - units // 2
        clean.append(range(mid, mid + units))
    result = []
    for a in range(rank):
        # Unit o along axis a, summed over the clean units of the other axes: all-ones weights keep
        # the fields separable, so the union's extent along a is unit o's (units that see nothing
        # along another axis, transposed-conv gaps, add nothing).
        onehots = torch.zeros((units,) + tuple(y.shape), dtype=y.dtype)
        for i, o in enumerate(clean[a]):
            idx = [slice(c[0], c[-1] + 1) for c in clean]
            idx[a] = o
            onehots[(i, 0, 0, *idx)] = 1.0
        (g,) = torch.autograd.grad(y, x, onehots, retain_graph=True, is_grads_batched=True)
        other = tuple(d for d in range(1, g.dim()) if d != a + 3)
        seen = (g != 0).any(dim=other) if other else g != 0  # (units, size along a)
        spans = []
        for row in seen:
            nz = row.nonzero()
            spans.append((int(nz.min()), int(nz.max())) if len(nz) else None)
        result.append((spans, clean[a][0]))
    return result


def _bisect(pred, n, want):
    """The first o in [0, n) where the monotone ``pred`` holds (n when it never does)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid) == want:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _reads_inside(stack, sizes, axis, o, side):
    """Whether output unit ``o`` reads, at every layer, no unit left of 0 (side 'left') or right
    of the end ('right'). Both sides are monotone in ``o``."""
    lo, hi = o, o
    for layer, n_in in zip(reversed(stack), reversed(sizes[:-1])):
        lo, hi = layer.reads(lo, hi, axis)
        if (lo < 0) if side == "left" else (hi > n_in[axis] - 1):
            return False
    return True


def field_period(stack: list[Window], axis: int) -> int:
    """A period of the output units' spans: a transposed stride multiplies it, a window stride
    divides out what it can (every unit reads units a whole stride apart)."""
    p = 1
    for w in stack:
        s = w.stride[axis]
        p = p * s if w.kind in ("transposed", "upsample") else p // math.gcd(p, s)
    return p


def field_jump(stack: list[Window], axis: int) -> Fraction:
    j = Fraction(1)
    for w in stack:
        s = w.stride[axis]
        j = j / s if w.kind == "transposed" else j * s
    return j


@contextlib.contextmanager
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
