"""Random netcalc specs for the fuzz tests (tests/test_fuzz_specs.py) and the long run
(benchmarks/fuzz.py): written once, driven either by hypothesis or by ``random.Random``.

A generator builds a :class:`Model` (input shape, symbols, blocks, a list of layers) while
tracking the tensor shape itself, so a *valid* model is valid by construction; an *invalid*
model is a valid one with exactly one fault put into one top-level layer (unknown type or
argument, a bad value, a window that does not fit, groups that do not divide, a width or
``expect`` mismatch, a duplicate name, broken YAML/TOML syntax). :func:`render` writes the
model as block-style YAML, flow-style YAML or TOML in any of the three layer forms and
returns, for every top-level layer, the span of lines it occupies, so the line a located
error must name is known. :func:`mutate` garbles a text with random character edits.

No torch here: the torch side is netcalc's own ``check`` (tests/test_fuzz_specs.py).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field

# ----------------------------------------------------------------------------- randomness


class Rand:
    """The few draws the generators make, over ``random.Random``."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, seq):
        seq = list(seq)
        return seq[self.int(0, len(seq) - 1)]

    def bool(self, p: float = 0.5) -> bool:
        return self.int(0, 999) < int(p * 1000)


class HypothesisRand(Rand):
    """The same draws through hypothesis' ``data.draw`` (so examples shrink)."""

    def __init__(self, data):
        from hypothesis import strategies as st

        self.data, self.st = data, st

    def int(self, lo: int, hi: int) -> int:
        return self.data.draw(self.st.integers(lo, hi))


# ----------------------------------------------------------------------------- the model


@dataclass
class Layer:
    type: str
    args: dict = field(default_factory=dict)
    form: str = "onekey"  # bare | onekey | typekey
    broken: bool = False  # render with a syntax error on its first line
    simple: bool = True  # a leaf layer (faults go only into these)


@dataclass
class Struct:
    """residual / concat / a block call; ``args`` rendered as nested YAML/TOML values."""

    type: str
    args: dict
    simple: bool = False
    form: str = "onekey"
    broken: bool = False


@dataclass
class Model:
    input: list  # ints or symbol names
    layers: list
    symbols: dict = field(default_factory=dict)  # in the spec's symbols:
    sets: dict = field(default_factory=dict)  # given with --set
    blocks: dict = field(default_factory=dict)  # name -> {"args": {...}, "layers": [Layer]}
    name: str | None = None
    no_bias: bool = False
    fault: str | None = None  # None: valid
    fault_index: int | None = None  # 0-based top-level index of the faulty layer

    @property
    def values(self) -> dict:
        return {**self.symbols, **self.sets}


ACTIVATIONS = [("ReLU", {}), ("GELU", {}), ("Sigmoid", {}), ("Tanh", {}), ("SiLU", {}), ("ELU", {}),
               ("Hardswish", {}), ("LeakyReLU", {"negative_slope": 0.2}), ("Identity", {}), ("ReLU6", {})]


def _pair(r: Rand, vals: list, rank: int):
    """An int, or a per-axis list (all axes, or one for rank 1)."""
    if rank > 1 and r.bool(0.3):
        return [r.choice(vals) for _ in range(rank)]
    v = r.choice(vals)
    return [v] if rank == 1 and r.bool(0.1) else v


def _axes(v, rank):
    return list(v) if isinstance(v, list) else [v] * rank


class Builder:
    """Appends random layers to a shape it tracks (concrete ints)."""

    def __init__(self, r: Rand, max_size: int = 24):
        self.r = r
        self.max_size = max_size
        self.count = 0

    # -- spatial (N, C, *S) --------------------------------------------------------------

    def conv_out(self, s, k, st, p, d):
        return (s + 2 * p - d * (k - 1) - 1) // st + 1

    def conv(self, x, kind="conv"):
        r = self.r
        rank = len(x) - 2
        c, sizes = x[1], x[2:]
        args = {}
        name = {1: "1d", 2: "2d", 3: "3d"}[rank]
        alias = r.bool(0.25)
        if kind == "pointwise":
            o = r.int(1, 12)
            args["out_channels"] = o
            if r.bool(0.2):
                args["in_channels"] = c
            if r.bool(0.2):
                args["bias"] = r.bool()
            return Layer("pointwise" if alias else "PointwiseConv" + name, args), (x[0], o, *sizes)
        # kernel, stride, padding, dilation that keep every size >= 1
        for _ in range(20):
            k = _pair(r, [1, 2, 3, 5], rank)
            st = _pair(r, [1, 1, 2, 3], rank) if r.bool(0.6) else 1
            d = _pair(r, [1, 2], rank) if r.bool(0.2) else 1
            ks, ss, ds = _axes(k, rank), _axes(st, rank), _axes(d, rank)
            pad = None
            if r.bool(0.15) and all(s == 1 for s in ss):
                pad = r.choice(["same", "valid"])
                ps = [0] * rank
                out = list(sizes) if pad == "same" else [self.conv_out(s, kk, 1, 0, dd)
                                                         for s, kk, dd in zip(sizes, ks, ds)]
            else:
                if r.bool(0.6):
                    pad = _pair(r, [0, 1, 2], rank)
                ps = _axes(pad if pad is not None else 0, rank)
                out = [self.conv_out(s, kk, sv, pv, dd) for s, kk, sv, pv, dd in zip(sizes, ks, ss, ps, ds)]
            if all(1 <= o <= self.max_size * 2 for o in out):
                break
        else:
            k, st, d, pad, ks, out = 1, 1, 1, None, [1] * rank, list(sizes)
        args["kernel_size"] = k
        if st != 1 or r.bool(0.1):
            args["stride"] = st
        if pad is not None:
            args["padding"] = pad
        if d != 1:
            args["dilation"] = d
        if kind == "depthwise":
            m = r.choice([1, 1, 2])
            if m != 1:
                args["depth_multiplier"] = m
            if r.bool(0.2):
                args["bias"] = r.bool()
            return Layer("depthwise" if alias else "DepthwiseConv" + name, args), (x[0], c * m, *out)
        g = 1
        if r.bool(0.25):
            g = r.choice([dv for dv in range(1, c + 1) if c % dv == 0])
        o = g * r.int(1, max(1, 12 // g))
        args = {"out_channels": o, **args}
        if g != 1:
            args["groups"] = g
        if r.bool(0.2):
            args["in_channels"] = c
        if r.bool(0.2):
            args["bias"] = r.bool()
        if r.bool(0.1) and pad != "same" or (r.bool(0.05)):
            args["padding_mode"] = r.choice(["zeros", "reflect", "replicate", "circular"])
            # reflect/circular need padding < size; keep them only with small pads
            ps = _axes(pad if isinstance(pad, (int, list)) else 0, rank)
            if args["padding_mode"] != "zeros" and (pad == "same" or any(pv >= s for pv, s in zip(ps, sizes))):
                args["padding_mode"] = "zeros"
        return Layer("conv" if alias else "Conv" + name, args), (x[0], o, *out)

    def transposed(self, x):
        r = self.r
        rank = len(x) - 2
        c, sizes = x[1], x[2:]
        for _ in range(20):
            k = _pair(r, [1, 2, 3, 4], rank)
            st = _pair(r, [1, 2, 3], rank)
            d = _pair(r, [1, 2], rank) if r.bool(0.15) else 1
            p = _pair(r, [0, 1], rank) if r.bool(0.5) else 0
            ks, ss, ds, pps = _axes(k, rank), _axes(st, rank), _axes(d, rank), _axes(p, rank)
            op = [r.int(0, max(sv, dv) - 1) if r.bool(0.4) else 0 for sv, dv in zip(ss, ds)]
            out = [(s - 1) * sv - 2 * pv + dv * (kv - 1) + o + 1
                   for s, sv, pv, dv, kv, o in zip(sizes, ss, pps, ds, ks, op)]
            if all(1 <= o <= self.max_size * 2 for o in out):
                break
        else:
            return self.conv(x, "pointwise")
        g = r.choice([dv for dv in range(1, c + 1) if c % dv == 0]) if r.bool(0.2) else 1
        o_ch = g * r.int(1, max(1, 8 // g))
        args = {"out_channels": o_ch, "kernel_size": k, "stride": st}
        if p != 0:
            args["padding"] = p
        if any(op):
            args["output_padding"] = op if rank > 1 and len(set(op)) > 1 else op[0]
        if g != 1:
            args["groups"] = g
        if d != 1:
            args["dilation"] = d
        if r.bool(0.2):
            args["bias"] = r.bool()
        name = {1: "1d", 2: "2d", 3: "3d"}[rank]
        return Layer("transposed" if r.bool(0.25) else "ConvTranspose" + name, args), (x[0], o_ch, *out)

    def pool(self, x):
        r = self.r
        rank = len(x) - 2
        sizes = x[2:]
        name = {1: "1d", 2: "2d", 3: "3d"}[rank]
        kind = r.choice(["max", "avg", "adaptive"])
        if kind == "adaptive":
            o = [r.int(1, max(1, s)) for s in sizes] if r.bool(0.5) else [1] * rank
            t = r.choice(["AdaptiveAvgPool", "AdaptiveMaxPool"]) + name
            arg = o[0] if len(set(o)) == 1 else o
            return Layer(t, {"output_size": arg}), (x[0], x[1], *o)
        for _ in range(20):
            k = _pair(r, [1, 2, 3], rank)
            ks = _axes(k, rank)
            st = _pair(r, [1, 2, 3], rank) if r.bool(0.5) else None
            ss = _axes(st, rank) if st is not None else ks
            p = _pair(r, [0, 1], rank) if r.bool(0.3) else 0
            ps = [min(pv, kv // 2) for pv, kv in zip(_axes(p, rank), ks)]
            d = _pair(r, [1, 2], rank) if kind == "max" and r.bool(0.15) else 1
            ds = _axes(d, rank)
            ceil = r.bool(0.2)
            out = []
            for s, kv, sv, pv, dv in zip(sizes, ks, ss, ps, ds):
                n = s + 2 * pv - dv * (kv - 1) - 1
                o = (-(-n // sv) if ceil else n // sv) + 1
                if ceil and (o - 1) * sv >= s + pv:
                    o -= 1
                out.append(o)
            if kind == "avg" and rank == 3 and any(kv > sv for kv, sv in zip(ks, sizes)):
                continue  # torch's avg_pool3d needs the kernel to fit without the padding
            if all(o >= 1 for o in out):
                break
        else:
            return Layer("Identity", {}), x
        args = {"kernel_size": k}
        if st is not None:
            args["stride"] = st
        if any(ps):
            args["padding"] = ps if rank > 1 and len(set(ps)) > 1 else ps[0]
        if d != 1:
            args["dilation"] = d
        if ceil:
            args["ceil_mode"] = True
        if kind == "avg" and r.bool(0.2):
            args["count_include_pad"] = r.bool()
        alias = r.bool(0.25)
        t = (kind + "pool") if alias else ("MaxPool" if kind == "max" else "AvgPool") + name
        return Layer(t, args), (x[0], x[1], *out)

    def norm(self, x):
        r = self.r
        rank = len(x) - 2
        c = x[1]
        name = {1: "1d", 2: "2d", 3: "3d"}[rank]
        kind = r.choice(["batch", "group", "instance", "layer"])
        if kind == "batch":
            args = {"num_features": c} if r.bool(0.2) else {}
            if r.bool(0.15):
                args["affine"] = r.bool()
            return Layer("BatchNorm" + name, args), x
        if kind == "group":
            # torch needs more than one value per group
            g = r.choice([dv for dv in range(1, c + 1) if c % dv == 0 and c // dv * math.prod(x[2:]) > 1] or [0])
            if not g:
                return Layer("Identity"), x
            args = {"num_groups": g}
            if r.bool(0.2):
                args["num_channels"] = c
            return Layer("GroupNorm", args), x
        if kind == "instance" and math.prod(x[2:]) > 1:  # torch needs more than one element per instance
            args = {"affine": True} if r.bool(0.3) else {}
            return Layer("InstanceNorm" + name, args), x
        args = {"normalized_shape": x[-1]} if r.bool(0.3) else {}
        return Layer("LayerNorm", args), x

    def simple_any(self, x):
        """Activation / dropout: shape-preserving on any tensor."""
        r = self.r
        if r.bool(0.3):
            args = {"p": r.choice([0.0, 0.1, 0.5])} if r.bool(0.5) else {}
            return Layer("Dropout", args), x
        if r.bool(0.1):
            return Layer("Softmax", {"dim": r.int(-len(x), len(x) - 1)}), x
        t, args = r.choice(ACTIVATIONS)
        return Layer(t, dict(args)), x

    def spatial(self, x):
        r = self.r
        roll = r.int(0, 99)
        if roll < 30:
            return self.conv(x)
        if roll < 38:
            return self.conv(x, "depthwise")
        if roll < 45:
            return self.conv(x, "pointwise")
        if roll < 52:
            return self.transposed(x)
        if roll < 65:
            return self.pool(x)
        if roll < 75:
            return self.norm(x)
        if roll < 78:
            return self.linear(x)
        if roll < 86:
            return self.reshape_ops(x)
        return self.simple_any(x)

    def reshape_ops(self, x):
        """Upsample, pads, PixelShuffle, Flatten/Unflatten of a few dims, LPPool, RMSNorm, Dropout2d."""
        r = self.r
        rank = len(x) - 2
        name = {1: "1d", 2: "2d", 3: "3d"}[rank]
        roll = r.int(0, 7)
        if roll == 0:
            f = r.int(1, 3)
            mode = r.choice(["nearest"] + (["linear"] if rank == 1 else ["bilinear"] if rank == 2 else ["trilinear"]))
            args = {"scale_factor": f, "mode": mode} if r.bool(0.6) else {"size": [s + 1 for s in x[2:]]}
            if "size" in args:
                args["mode"] = "nearest"
                return Layer("Upsample", args), (*x[:2], *[s + 1 for s in x[2:]])
            return Layer("Upsample", args), (*x[:2], *[s * f for s in x[2:]])
        if roll == 1:
            t = r.choice(["ZeroPad", "ConstantPad", "ReplicationPad", "ReflectionPad", "CircularPad"]) + name
            pads = [r.int(0, 2) for _ in range(2 * rank)]
            if t.startswith(("Reflection",)):
                pads = [min(p, s - 1) for p, s in zip(pads, [s for s in reversed(x[2:]) for _ in (0, 1)])]
            if t.startswith("Circular"):
                pads = [min(p, s) for p, s in zip(pads, [s for s in reversed(x[2:]) for _ in (0, 1)])]
            args = {"padding": pads if r.bool(0.6) or len(set(pads)) > 1 else pads[0]}
            if t.startswith("Constant"):
                args["value"] = 0.5
            y = list(x)
            for a in range(rank):  # torch order: last axis first, (left, right) each
                y[-1 - a] += pads[2 * a] + pads[2 * a + 1]
            return Layer(t, args), tuple(y)
        if roll == 2 and rank == 2:
            f = r.choice([1, 2])
            if all(s % f == 0 for s in x[2:]):
                return Layer("PixelUnshuffle", {"downscale_factor": f}), (x[0], x[1] * f * f, *[s // f for s in x[2:]])
            return Layer("Identity"), x
        if roll == 3:
            a = r.int(1, len(x) - 1)
            b = r.int(a, len(x) - 1)
            y = (*x[:a], math.prod(x[a:b + 1]), *x[b + 1:])
            args = {"start_dim": a}
            if b != len(x) - 1 or r.bool(0.3):
                args["end_dim"] = b if r.bool(0.5) else b - len(x)
            if len(y) < 3:
                return Layer("Identity"), x
            return Layer("Flatten", args), y
        if roll == 4 and x[1] % 2 == 0:
            if rank < 3:
                return Layer("Unflatten", {"dim": 1, "unflattened_size": [2, x[1] // 2]}), (x[0], 2, x[1] // 2, *x[2:])
            return Layer("Identity"), x
        if roll == 5 and rank < 3:
            k = r.choice([1, 2])
            if all(s >= k for s in x[2:]):
                return Layer("LPPool" + name, {"norm_type": 2, "kernel_size": k}), \
                    (*x[:2], *[(s - k) // k + 1 for s in x[2:]])
        if roll == 6:
            return Layer("RMSNorm", {"normalized_shape": [x[-1]]} if r.bool(0.3) else {}), x
        return Layer("Dropout" + name if r.bool(0.5) else "AlphaDropout", {}), x

    # -- features (N, F) and sequences (a, b, D) ----------------------------------------

    def linear(self, x):
        r = self.r
        o = r.int(1, 16)
        args = {"out_features": o}
        if r.bool(0.2):
            args["in_features"] = x[-1]
        if r.bool(0.2):
            args["bias"] = r.bool()
        return Layer("linear" if r.bool(0.25) else "Linear", args), (*x[:-1], o)

    def features(self, x):
        r = self.r
        roll = r.int(0, 9)
        if roll < 4:
            return self.linear(x)
        if roll < 5:
            args = {"normalized_shape": x[-1]} if r.bool(0.3) else {}
            return Layer("LayerNorm", args), x
        if roll < 6 and len(x) == 2:
            return Layer("BatchNorm1d", {}), x
        return self.simple_any(x)

    def sequence(self, x):
        r = self.r
        d = x[-1]
        roll = r.int(0, 9)
        if roll < 3:
            t = r.choice(["RNN", "LSTM", "GRU", "rnn", "lstm", "gru"])
            h = r.int(1, 8)
            args = {"hidden_size": h}
            if r.bool(0.3):
                args["num_layers"] = r.int(1, 3)
            bi = r.bool(0.3)
            if bi:
                args["bidirectional"] = True
            if r.bool(0.3):
                args["batch_first"] = r.bool()
            if r.bool(0.15):
                args["input_size"] = d
            if r.bool(0.15):
                args["bias"] = r.bool()
            out = h
            if t.lower() == "lstm" and h > 1 and r.bool(0.3):
                args["proj_size"] = r.int(1, h - 1)
                out = args["proj_size"]
            if t.lower() == "rnn" and r.bool(0.3):
                args["nonlinearity"] = r.choice(["tanh", "relu"])
            return Layer(t, args), (*x[:-1], out * (2 if bi else 1))
        if roll < 5:
            heads = r.choice([h for h in range(1, d + 1) if d % h == 0])
            if r.bool(0.5):
                args = {"num_heads": heads}
                if r.bool(0.3):
                    args["batch_first"] = r.bool()
                if r.bool(0.2):
                    args["embed_dim"] = d
                if r.bool(0.2):
                    args["bias"] = r.bool()
                return Layer("MultiheadAttention", args), x
            args = {"nhead": heads, "dim_feedforward": r.int(1, 16)}
            for key in ("batch_first", "norm_first"):
                if r.bool(0.3):
                    args[key] = r.bool()
            if r.bool(0.2):
                args["activation"] = r.choice(["relu", "gelu"])
            if r.bool(0.2):
                args["dropout"] = 0.0
            return Layer("encoder" if r.bool(0.3) else "TransformerEncoderLayer", args), x
        return self.features(x)

    def flatten(self, x):
        return Layer("Flatten", {}), (x[0], math.prod(x[1:]))

    # -- one step --------------------------------------------------------------------

    def step(self, x, mode):
        """(layer, new shape, new mode)."""
        if mode == "spatial":
            if self.r.bool(0.08):
                layer, y = self.flatten(x)
                return layer, y, "features"
            layer, y = self.spatial(x)
            if layer.type in ("Linear", "linear"):  # Linear on a spatial tensor works on the last axis
                return layer, y, "spatial"
            return layer, y, mode
        if mode == "sequence":
            layer, y = self.sequence(x)
            return layer, y, mode
        layer, y = self.features(x)
        return layer, y, mode


def _shape_ok(y, limit=200_000):
    return all(d >= 1 for d in y) and math.prod(y) <= limit


def gen_model(r: Rand, max_layers: int = 8) -> tuple[Model, list]:
    """A valid model and the shapes entering each top-level layer (and the final one)."""
    b = Builder(r)
    mode = r.choice(["spatial", "spatial", "spatial", "sequence", "features"])
    if mode == "spatial":
        rank = r.choice([1, 2, 2, 2, 3])
        top = {1: 24, 2: 16, 3: 8}[rank]
        x = (r.int(1, 3), r.int(1, 8), *[r.int(3, top) for _ in range(rank)])
    elif mode == "sequence":
        x = (r.int(1, 6), r.int(1, 3), r.choice([2, 4, 6, 8]))
        if r.bool(0.2):  # unbatched (L, D), as RNNs and attention accept
            x = (x[0], x[2])
    else:
        x = (r.int(1, 4), r.int(1, 32))
    model = Model(input=list(x), layers=[])
    if r.bool(0.5):
        model.name = r.choice(["fuzz", "fuzz net", "a: b", "net #1", "Δ net"])
    shapes = [x]
    n = r.int(1, max_layers)
    blocks_used = False
    for _ in range(n):
        if mode == "spatial" and r.bool(0.12):
            entry, y = structural(r, b, x, model, blocks_used)
            blocks_used = blocks_used or entry.type in model.blocks
        else:
            entry, y, mode2 = b.step(x, mode)
            if not _shape_ok(y):
                continue
            mode = mode2
        if not _shape_ok(y):
            continue
        model.layers.append(entry)
        x = y
        shapes.append(x)
    if not model.layers:
        model.layers.append(Layer("ReLU"))
        shapes.append(x)
    for layer in model.layers:
        if isinstance(layer, Layer):
            layer.form = _form(r, layer)
    symbolize(r, model)
    model.no_bias = r.bool(0.15)
    return model, shapes


def _form(r: Rand, layer: Layer) -> str:
    if not layer.args and r.bool(0.6):
        return "bare"
    return r.choice(["onekey", "typekey"])


def structural(r: Rand, b: Builder, x, model: Model, blocks_used: bool):
    """A residual, a concat or a block call over a spatial tensor ``x``."""
    rank = len(x) - 2
    c = x[1]
    name = {1: "1d", 2: "2d", 3: "3d"}[rank]
    kind = r.choice(["residual", "concat", "block"])
    same = {"kernel_size": 3, "padding": 1}
    if kind == "residual":
        inner = [Layer("Conv" + name, {"out_channels": c, **same}), Layer("BatchNorm" + name), Layer("ReLU")]
        inner = inner[: r.int(1, 3)]
        args = {"layers": inner}
        if r.bool(0.3):
            inner.append(Layer("Conv" + name, {"out_channels": c, "kernel_size": 1}))
        for layer in inner:
            layer.form = _form(r, layer)
        return Struct("residual", args), x
    if kind == "concat":
        a, bb = r.int(1, 6), r.int(1, 6)
        branches = [[Layer("Conv" + name, {"out_channels": a, **same})],
                    [Layer("Conv" + name, {"out_channels": bb, "kernel_size": 1}), Layer("ReLU")]]
        if r.bool(0.3):
            branches.append([])
            bb += c
        for br in branches:
            for layer in br:
                layer.form = _form(r, layer)
        return Struct("concat", {"branches": branches, "dim": 1}), (x[0], a + bb, *x[2:])
    bname = "Unit" + name.upper()
    if bname not in model.blocks:
        model.blocks[bname] = {"args": {"planes": 4, "stride": 1},
                               "layers": [Layer("Conv" + name, {"out_channels": "planes", "kernel_size": 3,
                                                                "stride": "stride", "padding": 1}),
                                          Layer("ReLU", form="bare")]}
    planes = r.int(1, 8)
    stride = r.choice([1, 2])
    args = {"planes": planes}
    if stride != 1:
        args["stride"] = stride
    y = (x[0], planes, *[(s - 1) // stride + 1 for s in x[2:]])
    if r.bool(0.2):
        args["repeat"] = 2
        y = (x[0], planes, *[(s - 1) // stride + 1 for s in y[2:]])
    return Struct(bname, args), y


def symbolize(r: Rand, model: Model):
    """Sometimes turn input dims (and an argument) into symbols with values from symbols: or --set."""
    if not r.bool(0.35):
        return
    names = ["B", "C", "H", "W", "D"]
    for i, v in enumerate(model.input):
        if r.bool(0.5):
            sym = names[i] if i < len(names) else f"S{i}"
            model.input[i] = sym
            (model.symbols if r.bool(0.5) else model.sets)[sym] = v
    # an expression argument: out_channels/out_features/hidden_size as "K*m" or "K + m"
    for layer in model.layers:
        if isinstance(layer, Layer):
            for key in ("out_channels", "out_features", "hidden_size"):
                v = layer.args.get(key)
                if isinstance(v, int) and v > 1 and r.bool(0.4):
                    if v % 2 == 0 and r.bool(0.5):
                        layer.args[key] = "2*K" if "K" not in model.values or model.values["K"] == v // 2 else str(v)
                        model.symbols.setdefault("K", v // 2)
                    else:
                        layer.args[key] = f"{v - 1} + 1"
                    return


# ----------------------------------------------------------------------------- faults

FAULTS = ("unknown_type", "unknown_arg", "bad_value", "size", "groups", "mismatch", "expect", "duplicate",
          "syntax", "division")


def gen_invalid(r: Rand, max_layers: int = 8) -> Model:
    """A valid model with one fault in one top-level leaf layer."""
    while True:
        model, shapes = gen_model(r, max_layers)
        if model.sets and r.bool(0.5):  # invalid specs need values for every symbol; keep some --set
            pass
        candidates = [i for i, layer in enumerate(model.layers) if isinstance(layer, Layer)]
        if candidates:
            break
    k = r.choice(candidates)
    x = shapes[k]
    layer = model.layers[k]
    for _ in range(10):
        fault = r.choice(FAULTS)
        new = inject(r, fault, layer, x, model, k)
        if new is not None:
            break
    else:
        fault, new = "unknown_type", inject(r, "unknown_type", layer, x, model, k)
    new.form = new.form if new.form != "bare" or not new.args else "onekey"
    model.layers[k] = new
    model.fault, model.fault_index = fault, k
    return model


def inject(r: Rand, fault: str, layer: Layer, x, model: Model, k: int) -> Layer | None:
    args = dict(layer.args)
    spatial = len(x) >= 3 and layer.type.lower().startswith(("conv", "depthwise", "maxpool", "avgpool",
                                                              "pointwise", "transposed", "batchnorm"))
    rank = len(x) - 2
    if fault == "unknown_type":
        return Layer(r.choice(["Conv2dd", "Frobnicate", "Relu2", "LinearX", "MaxPool4d", "Conv0d"]), args,
                     layer.form)
    if fault == "unknown_arg":
        args[r.choice(["kernal_size", "foo", "out_chanels", "strides", "num_head"])] = r.int(1, 3)
        return Layer(layer.type, args)
    if fault == "bad_value":
        t = layer.type.lower()
        if "kernel_size" in args:
            args["kernel_size"] = r.choice([0, -1, "abc def", [3, 3, 3, 3, 3][: max(rank + 1, 2)] if rank else 0])
            if isinstance(args["kernel_size"], list) and len(args["kernel_size"]) == rank:
                args["kernel_size"] = 0
            return Layer(layer.type, args)
        if "out_channels" in args:
            args["out_channels"] = r.choice([0, -2])
            return Layer(layer.type, args)
        if "out_features" in args:
            args["out_features"] = r.choice([0, -1])
            return Layer(layer.type, args)
        if "hidden_size" in args:
            args["hidden_size"] = 0
            return Layer(layer.type, args)
        if t == "dropout":
            return Layer("Dropout", {"p": r.choice([1.5, -0.5])})
        if "stride" in args:
            args["stride"] = 0
            return Layer(layer.type, args)
        return None
    if fault == "size":
        if len(x) < 3 or len(x) > 5:
            return None
        s = min(x[2:])
        t = r.choice([f"Conv{rank}d", f"MaxPool{rank}d", f"AvgPool{rank}d"])
        a = {"kernel_size": s + 3}
        if t.startswith("Conv"):
            a = {"out_channels": 2, **a}
        return Layer(t, a)
    if fault == "groups":
        if len(x) < 3 or len(x) > 5:
            return None
        c = x[1]
        g = c + 1 if c > 1 else 2
        return Layer(f"Conv{rank}d", {"out_channels": g * 2, "kernel_size": 1, "groups": g})
    if fault == "mismatch":
        if spatial and len(x) <= 5:
            if layer.type.lower().startswith("batchnorm"):
                args["num_features"] = x[1] + 1
            elif "out_channels" in args and not layer.type.lower().startswith(("pointwise", "depthwise")):
                args["in_channels"] = x[1] + 1
            else:
                return Layer(f"Conv{rank}d", {"in_channels": x[1] + 1, "out_channels": 3, "kernel_size": 1})
            return Layer(layer.type, args)
        return Layer("Linear", {"in_features": x[-1] + 1, "out_features": 3})
    if fault == "expect":
        # a layer that preserves shape, expecting a shape off by one somewhere
        want = list(x)
        want[r.int(0, len(want) - 1)] += 1
        return Layer("ReLU", {"expect": want}, "onekey")
    if fault == "duplicate":
        if k == 0:
            return None
        first = model.layers[0]
        if not isinstance(first, Layer):
            return None
        first.args["name"] = "twin"
        if first.form == "bare":
            first.form = "onekey"
        args["name"] = "twin"
        return Layer(layer.type, args, "onekey" if layer.form == "bare" else layer.form)
    if fault == "syntax":
        out = Layer(layer.type, args, layer.form)
        out.broken = True
        return out
    if fault == "division":
        for key in ("out_channels", "out_features", "hidden_size"):
            if isinstance(args.get(key), int):
                model.symbols["Q"] = 7
                args[key] = "Q/2"
                return Layer(layer.type, args)
        return None
    raise AssertionError(fault)


# ----------------------------------------------------------------------------- rendering


def _yaml_scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    if s and all(ch.isalnum() or ch in "_" for ch in s) and s.lower() not in ("true", "false", "null", "yes", "no",
                                                                              "on", "off", "y", "n"):
        return s
    return json.dumps(s, ensure_ascii=False)


def yaml_flow(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(yaml_flow(i) for i in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {yaml_flow(i)}" for k, i in v.items()) + "}"
    if isinstance(v, (Layer, Struct)):
        return _yaml_layer_flow(v)
    return _yaml_scalar(v)


def _yaml_layer_flow(layer) -> str:
    if layer.form == "bare" and not layer.args and not layer.broken:
        return _yaml_scalar(layer.type)
    if layer.form == "typekey":
        text = "{" + ", ".join([f"type: {_yaml_scalar(layer.type)}"] +
                               [f"{k}: {yaml_flow(v)}" for k, v in layer.args.items()]) + "}"
    else:
        text = "{" + f"{_yaml_scalar(layer.type)}: {yaml_flow(layer.args) if layer.args else '{}'}" + "}"
    if layer.broken:
        text = text[:-1] + "]"  # a mapping closed by ']'
    return text


def _yaml_layer_block(layer, indent: int) -> list[str]:
    """Lines of one layer as a block-sequence item at ``indent`` spaces."""
    pad = " " * indent
    if layer.broken or isinstance(layer, Struct) or layer.form == "bare" or random_flow(layer):
        return [pad + "- " + _yaml_layer_flow(layer)]
    if layer.form == "typekey":
        lines = [pad + f"- type: {_yaml_scalar(layer.type)}"]
        lines += [pad + f"  {k}: {yaml_flow(v)}" for k, v in layer.args.items()]
        return lines
    lines = [pad + f"- {_yaml_scalar(layer.type)}:"]
    lines += [pad + f"    {k}: {yaml_flow(v)}" for k, v in layer.args.items()]
    return lines


def random_flow(layer) -> bool:
    """Whether a one-key / typekey layer is written on one line in block-style YAML (half of them,
    decided by the layer's own contents so rendering stays deterministic)."""
    return (sum(map(ord, layer.type)) + len(layer.args)) % 2 == 0


def render_yaml(model: Model, style: str = "block") -> tuple[str, list]:
    lines: list[str] = []
    spans = []
    if style == "flow":
        head = []
        if model.name is not None:
            head.append(f"name: {_yaml_scalar(model.name)}")
        head.append(f"input: {yaml_flow(model.input)}")
        if model.symbols:
            head.append(f"symbols: {yaml_flow(model.symbols)}")
        if model.blocks:
            head.append("blocks: " + yaml_flow({n: {"args": b["args"], "layers": b["layers"]}
                                               for n, b in model.blocks.items()}))
        lines.append("{" + ", ".join(head) + ",")
        lines.append(" layers: [")
        for i, layer in enumerate(model.layers):
            lines.append("  " + yaml_flow(layer) + ("," if i < len(model.layers) - 1 else ""))
            spans.append((len(lines), len(lines)))
        lines.append(" ]}")
        return "\n".join(lines) + "\n", spans
    if model.name is not None:
        lines.append(f"name: {_yaml_scalar(model.name)}")
    lines.append(f"input: {yaml_flow(model.input)}")
    if model.symbols:
        if len(model.symbols) > 1:
            lines.append("symbols:")
            lines += [f"  {k}: {v}" for k, v in model.symbols.items()]
        else:
            lines.append(f"symbols: {yaml_flow(model.symbols)}")
    if model.blocks:
        lines.append("blocks:")
        for n, b in model.blocks.items():
            lines.append(f"  {n}:")
            lines.append(f"    args: {yaml_flow(b['args'])}")
            lines.append("    layers:")
            for layer in b["layers"]:
                lines += _yaml_layer_block(layer, 6)
    lines.append("# the layers")
    lines.append("layers:")
    for layer in model.layers:
        start = len(lines) + 1
        lines += _yaml_layer_block(layer, 2)
        spans.append((start, len(lines)))
    return "\n".join(lines) + "\n", spans


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(i) for i in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(i)}" for k, i in v.items()) + "}"
    if isinstance(v, (Layer, Struct)):
        return _toml_inline_layer(v)
    return json.dumps(str(v), ensure_ascii=False)


def _toml_key(k) -> str:
    k = str(k)
    return k if all(ch.isalnum() or ch in "_-" for ch in k) and k else json.dumps(k)


def _toml_inline_layer(layer) -> str:
    if layer.form == "bare" and not layer.args and not layer.broken:
        return json.dumps(layer.type)
    if layer.form == "typekey" or isinstance(layer, Struct):
        text = _toml_value({"type": layer.type, **layer.args})
    else:
        text = "{" + f"{_toml_key(layer.type)} = {_toml_value(layer.args)}" + "}"
    if layer.broken:
        text = text[:-1] + "]"
    return text


def render_toml(model: Model, inline: bool = False) -> tuple[str, list]:
    lines: list[str] = []
    spans = []
    if model.name is not None:
        lines.append(f"name = {_toml_value(model.name)}")
    lines.append(f"input = {_toml_value(model.input)}")
    if inline:
        lines.append("layers = [")
        for i, layer in enumerate(model.layers):
            lines.append("  " + _toml_inline_layer(layer) + ("," if i < len(model.layers) - 1 else ""))
            spans.append((len(lines), len(lines)))
        lines.append("]")
    if model.symbols:
        lines.append("")
        lines.append("[symbols]")
        lines += [f"{k} = {v}" for k, v in model.symbols.items()]
    for n, b in model.blocks.items():
        lines.append("")
        lines.append(f"[blocks.{n}]")
        lines.append(f"args = {_toml_value(b['args'])}")
        lines.append(f"layers = {_toml_value(b['layers'])}")
    if inline:
        return "\n".join(lines) + "\n", spans
    for layer in model.layers:
        lines.append("")
        start = len(lines) + 1
        lines.append("[[layers]]")
        if layer.broken:
            lines.append(f"type = {_toml_value(layer.type)}")
            lines.append("kernel_size = = 3")
        elif isinstance(layer, Layer) and layer.form == "onekey" and layer.args and random_flow(layer):
            lines.append(f"{_toml_key(layer.type)} = {_toml_value(layer.args)}")
        else:
            lines.append(f"type = {_toml_value(layer.type)}")
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in layer.args.items()]
        spans.append((start, len(lines)))
    return "\n".join(lines) + "\n", spans


FORMATS = ("yaml-block", "yaml-flow", "toml-tables", "toml-inline")


def render(model: Model, fmt: str) -> tuple[str, str, list]:
    """(text, file name, per top-level layer (first line, last line))."""
    if fmt == "yaml-block":
        text, spans = render_yaml(model, "block")
    elif fmt == "yaml-flow":
        text, spans = render_yaml(model, "flow")
    elif fmt == "toml-tables":
        text, spans = render_toml(model)
        return text, "spec.toml", spans
    else:
        text, spans = render_toml(model, inline=True)
        return text, "spec.toml", spans
    return text, "spec.yaml", spans


def set_args(model: Model) -> list[str]:
    return [f"{k}={v}" for k, v in model.sets.items()]


# ----------------------------------------------------------------------------- mutation

NOISE = "[]{}:,-#'\"*&!|>%@?=\n\t .0123456789_abcxyzK\\/"


def mutate(r: Rand, text: str, edits: int | None = None) -> str:
    """``text`` with 1-4 random character insertions, deletions, replacements or line edits."""
    for _ in range(edits or r.int(1, 4)):
        op = r.int(0, 5)
        if not text:
            text = r.choice(NOISE)
            continue
        i = r.int(0, len(text) - 1)
        if op <= 1:
            text = text[:i] + r.choice(NOISE) + text[i:]
        elif op == 2:
            text = text[:i] + text[i + 1:]
        elif op == 3:
            text = text[:i] + r.choice(NOISE) + text[i + 1:]
        else:
            lines = text.split("\n")
            j = r.int(0, len(lines) - 1)
            if op == 4:
                del lines[j]
            else:
                lines.insert(j, lines[r.int(0, len(lines) - 1)])
            text = "\n".join(lines)
    return text


# ----------------------------------------------------------------------------- invariants
# Each returns None when the invariant holds, else a one-paragraph description of the failure.

_RUNNER = None


def run_cli(args: list[str]):
    """``netcalc ARGS`` in-process: (exit code, stdout, stderr, uncaught exception or None)."""
    global _RUNNER
    from typer.testing import CliRunner

    from netcalc.cli import app

    if _RUNNER is None:
        _RUNNER = CliRunner()
    result = _RUNNER.invoke(app, args)
    exc = result.exception if not isinstance(result.exception, SystemExit) else None
    return result.exit_code, result.stdout, result.stderr, exc


def cli_variant(r: Rand, model: Model) -> list[str]:
    """Random options for a CLI run: the --set values (sometimes left out: symbolic results),
    --no-bias, --explain."""
    out = [] if model.sets and r.bool(0.3) else [a for s in set_args(model) for a in ("--set", s)]
    if model.no_bias or r.bool(0.1):
        out.append("--no-bias")
    if r.bool(0.15):
        out.append("--explain")
    return out


def no_crash(path: str, sets: list[str] = (), command: str = "summary", fmt: str = "json", extra=()):
    """Invariant 3: no traceback, no internal error; exit 0, or 1 with one located error line."""
    code, out, err, exc = run_cli([command, path, "--format", fmt, *(a for s in sets for a in ("--set", s)),
                                   *extra])
    if exc is not None:
        import traceback

        return f"uncaught {type(exc).__name__}: {exc}\n" + "".join(traceback.format_exception(exc))
    if "Traceback" in out + err or "internal error" in out + err:
        return f"exit {code}, traceback or internal error:\n{err}"
    if code == 0:
        return None
    if code != 1:
        return f"exit {code} (expected 0 or 1):\n{err}"
    lines = err.rstrip("\n").split("\n")
    if len(lines) != 1 or not lines[0].startswith(path + ":"):
        return f"exit 1 but stderr is not one located line:\n{err}"
    rest = lines[0][len(path) + 1:].split(":", 2)
    if len(rest) != 3 or not rest[0].isdigit() or not rest[1].isdigit() or not rest[2].startswith(" error: "):
        return f"exit 1 but stderr is not FILE:LINE:COL: error: ...:\n{err}"
    return None


def located_error(path: str, model: Model, span: tuple[int, int]):
    """Invariant 2: exit 1 with one line FILE:LINE:COL: error: ... and LINE in the faulty layer's lines."""
    code, _out, err, exc = run_cli(["summary", path, *(a for s in set_args(model) for a in ("--set", s))])
    if exc is not None:
        return f"uncaught {type(exc).__name__}: {exc}"
    if code != 1:
        return f"fault {model.fault} in layer {model.fault_index + 1} (lines {span[0]}-{span[1]}): exit {code}\n{err}"
    lines = err.rstrip("\n").split("\n")
    if len(lines) != 1 or "Traceback" in err or "internal error" in err:
        return f"fault {model.fault}: stderr is not one line:\n{err}"
    line = lines[0]
    if not line.startswith(path + ":"):
        return f"fault {model.fault}: stderr does not start with the file name:\n{line}"
    parts = line[len(path) + 1:].split(":", 2)
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or not parts[2].startswith(" error: "):
        return f"fault {model.fault}: not FILE:LINE:COL: error: ...:\n{line}"
    n = int(parts[0])
    if not span[0] <= n <= span[1]:
        return (f"fault {model.fault} in layer {model.fault_index + 1}: error on line {n}, "
                f"expected line {span[0]}" + (f"-{span[1]}" if span[1] != span[0] else "") + f":\n{line}")
    return None


def agrees_with_torch(text: str, filename: str, model: Model):
    """Invariant 1: netcalc accepts the spec and ``check`` (in-process) finds no difference."""
    from netcalc.check import check
    from netcalc.errors import SpecError
    from netcalc.spec import parse

    try:
        result = check(parse(text, filename), dict(model.sets), model.no_bias, source=filename)
    except SpecError as e:
        return f"netcalc refuses a valid spec: {e.render(filename)}"
    if result.error or result.note:
        return f"torch side: {result.error or result.note}"
    bad = [f"{r.name} ({r.type}): {'; '.join(r.differences)}" for r in result.layers if not r.agree]
    if bad or not result.agree:
        total = result.params
        if total is not None and not total.agree:
            bad.append(f"total params: netcalc {total.netcalc}, torch {total.torch}")
        return "differences:\n" + "\n".join(bad)
    return None
