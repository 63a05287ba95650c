"""Tensor operations real models need between layers: reshape, permute, transpose, mean,
select, upsample, pad, pixel shuffle, and learned tensors (class token, positional embedding,
a plain parameter).

The torch.nn classes keep their names (``Upsample``, ``ZeroPad2d``, ``PixelShuffle``, ...);
netcalc's own ops are named for the tensor method they stand for (``Reshape`` is
``x.reshape(shape)``, ``Mean`` is ``x.mean(dim)``). FLOP convention: moving data costs
nothing; Mean 1 per input element; nearest upsampling 0 and the linear modes ``2·2^r − 1``
per output element (r interpolated axes; bicubic 31).
"""

from __future__ import annotations

import math
import re

from ..symbolic import exact_div, fdiv, is_int, prod, same, to_text
from .base import Arg, Layer, fmt_shape, numel, plain_value
from .linear import Flatten, check_shape_entries, dim_index
from .registry import REGISTRY, ranked, register


@register
class Reshape(Layer):
    """``x.reshape(shape)``: the whole shape, batch included; one entry may be -1."""

    VIEW, SAVES = True, ()  # memory: a view of its input

    TYPE = "Reshape"
    # x.view(n, -1) and friends: what comes out decides (a flatten of all but the batch is Flatten)
    TORCH_FUNCTIONS = ("torch.reshape", ".reshape", ".view", "torch.squeeze", ".squeeze", "torch.unsqueeze",
                       ".unsqueeze", "torch.unflatten", ".unflatten", ".view_as", ".reshape_as")
    FAMILY, LAYOUT = "tensor", "flat"
    TORCH_HELPER = '''
        class Reshape(nn.Module):
            """netcalc's Reshape: x.reshape(shape), the batch dimension included."""

            def __init__(self, *shape):
                super().__init__()
                self.shape = shape

            def forward(self, x):
                return x.reshape(self.shape)
    '''
    ARGS = (Arg("shape", kind="dims"),)

    @classmethod
    def args_from_call(cls, bound, x, y):
        return {"shape": list(y)}

    @classmethod
    def from_call(cls, bound, x, y):
        if len(y) == 2 and len(x) >= 2 and y[0] == x[0] and y[1] == prod(x[1:]):
            return Flatten, {}  # x.view(n, -1): the batch kept, the rest in one dimension
        return super().from_call(bound, x, y)

    def torch_ctor(self, x):
        return self.TYPE, list(self.args["shape"]), []

    def output_shape(self, x):
        shape = list(self.args["shape"])
        check_shape_entries(self, shape, "shape")
        total = numel(x)
        known = prod(v for v in shape if v != -1)
        if -1 in shape:
            rest = exact_div(total, known)
            if not is_int(rest) and not hasattr(rest, "free_symbols"):
                self.error(f"cannot reshape {fmt_shape(x)} ({to_text(total)} elements) into {fmt_shape(shape)}", "shape")
            shape[shape.index(-1)] = rest
        elif not same(known, total):
            self.error(f"cannot reshape {fmt_shape(x)} ({to_text(total)} elements) into {fmt_shape(shape)} "
                       f"({to_text(known)} elements)", "shape")
        return tuple(shape)


@register
class View(Reshape):
    __doc__ = "``x.view(shape)``: as Reshape."
    TYPE = "View"
    TORCH_FUNCTIONS = ()  # x.view(shape) imports as Reshape
    TORCH_HELPER = '''
        class View(nn.Module):
            """netcalc's View: x.view(shape), the batch dimension included."""

            def __init__(self, *shape):
                super().__init__()
                self.shape = shape

            def forward(self, x):
                return x.view(self.shape)
    '''


@register
class Permute(Layer):
    """``x.permute(dims)``."""

    VIEW, SAVES, STRIDED = True, (), True  # memory: a view of its input, its strides in another order

    TYPE = "Permute"
    TORCH_FUNCTIONS = ("torch.permute", ".permute")
    FAMILY, LAYOUT = "tensor", "to_seq"
    TORCH_HELPER = '''
        class Permute(nn.Module):
            """netcalc's Permute: x.permute(dims)."""

            def __init__(self, *dims):
                super().__init__()
                self.dims = dims

            def forward(self, x):
                return x.permute(self.dims)
    '''
    ARGS = (Arg("dims", kind="dims"),)

    @classmethod
    def args_from_call(cls, bound, x, y):
        dims = plain_value(bound.get("dims"))
        if not isinstance(dims, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
            raise ValueError("permutes with dimensions that are not constants")
        return {"dims": dims}

    def torch_ctor(self, x):
        return self.TYPE, list(self.args["dims"]), []

    def output_shape(self, x):
        dims = [dim_index(self, d, len(x), "dims") for d in self.args["dims"]]
        if sorted(dims) != list(range(len(x))):
            self.error(f"dims {list(self.args['dims'])} must be a permutation of the {len(x)} dimensions", "dims")
        return tuple(x[d] for d in dims)


@register
class Transpose(Layer):
    """``x.transpose(dim0, dim1)``."""

    VIEW, SAVES, STRIDED = True, (), True  # memory: a view of its input, its strides in another order

    TYPE = "Transpose"
    TORCH_FUNCTIONS = ("torch.transpose", ".transpose", "torch.swapaxes", ".swapaxes", "torch.swapdims", ".swapdims",
                       "torch.t", ".t")
    FAMILY, LAYOUT = "tensor", "to_seq"
    TORCH_HELPER = '''
        class Transpose(nn.Module):
            """netcalc's Transpose: x.transpose(dim0, dim1)."""

            def __init__(self, dim0, dim1):
                super().__init__()
                self.dim0, self.dim1 = dim0, dim1

            def forward(self, x):
                return x.transpose(self.dim0, self.dim1)
    '''
    ARGS = (Arg("dim0"), Arg("dim1"))

    @classmethod
    def args_from_call(cls, bound, x, y):
        d0, d1 = bound.get("dim0", bound.get("axis0")), bound.get("dim1", bound.get("axis1"))  # swapaxes: axis0/1
        if d0 is None or d1 is None:  # x.t(): the two dimensions of a matrix
            if len(x) != 2:
                raise ValueError(f"t() of a {len(x)}-D tensor; netcalc's Transpose of a matrix needs 2-D")
            d0, d1 = 0, 1
        return {"dim0": d0, "dim1": d1}

    def torch_ctor(self, x):
        return self.TYPE, [self.args["dim0"], self.args["dim1"]], []

    def output_shape(self, x):
        a = dim_index(self, self.args["dim0"], len(x), "dim0")
        b = dim_index(self, self.args["dim1"], len(x), "dim1")
        out = list(x)
        out[a], out[b] = out[b], out[a]
        return tuple(out)


@register
class Mean(Layer):
    """``x.mean(dim, keepdim)``: 1 FLOP per input element."""

    TYPE = "Mean"
    SAVES = ()  # its gradient needs only the sizes
    TORCH_FUNCTIONS = ("torch.mean", ".mean")
    FAMILY, LAYOUT = "tensor", "flat"
    TORCH_HELPER = '''
        class Mean(nn.Module):
            """netcalc's Mean: x.mean(dim, keepdim)."""

            def __init__(self, dim, keepdim=False):
                super().__init__()
                self.dim, self.keepdim = dim, keepdim

            def forward(self, x):
                return x.mean(dim=self.dim, keepdim=self.keepdim)
    '''
    ARGS = (Arg("dim", kind="dims"), Arg("keepdim", False, "bool"))

    @classmethod
    def args_from_call(cls, bound, x, y):
        dim = plain_value(bound.get("dim"))
        if dim is None or dim == []:
            raise ValueError("a mean over every dimension (a scalar); netcalc's Mean needs dim")
        return {"dim": dim if isinstance(dim, list) else [dim], **({"keepdim": True} if bound.get("keepdim") else {})}

    def torch_ctor(self, x):
        return self.TYPE, [tuple(self.args["dim"])], [("keepdim", True, False)] if self.args["keepdim"] else []

    def output_shape(self, x):
        listed = [dim_index(self, d, len(x), "dim") for d in self.args["dim"]]
        dims = set(listed)
        if len(dims) < len(listed):
            self.error(f"dim {list(self.args['dim'])} names a dimension more than once", "dim")
        if self.args["keepdim"]:
            return tuple(1 if i in dims else v for i, v in enumerate(x))
        return tuple(v for i, v in enumerate(x) if i not in dims)

    def flops(self, x, y):
        return numel(x)


@register
class Select(Layer):
    """``x.select(dim, index)`` (``x[:, 0]`` is dim 1, index 0): that dimension goes away."""

    VIEW, SAVES, STRIDED = True, (), True  # memory: a view of its input, its strides in another order

    TYPE = "Select"
    FAMILY, LAYOUT = "tensor", "flat"
    TORCH_HELPER = '''
        class Select(nn.Module):
            """netcalc's Select: x.select(dim, index) (x[:, 0] is dim 1, index 0)."""

            def __init__(self, dim, index=0):
                super().__init__()
                self.dim, self.index = dim, index

            def forward(self, x):
                return x.select(self.dim, self.index)
    '''
    ARGS = (Arg("dim"), Arg("index", 0))

    def torch_ctor(self, x):
        return self.TYPE, [self.args["dim"], self.args["index"]], []

    def output_shape(self, x):
        d = dim_index(self, self.args["dim"], len(x), "dim")
        i = self.args["index"]
        if is_int(i) and is_int(x[d]) and not -x[d] <= i < x[d]:
            self.error(f"index {i} is out of range for dimension {d} of size {x[d]}", "index")
        return x[:d] + x[d + 1:]


@register
class ClassToken(Layer):
    """A learned token ``(1, 1, D)`` put in front of a ``(N, L, D)`` sequence (ViT): ``(N, L + 1, D)``."""
    PROMOTES = True

    TYPE = "ClassToken"
    SAVES = ()
    FAMILY, LAYOUT = "tensor", "seq"
    TORCH_HELPER = '''
        class ClassToken(nn.Module):
            """netcalc's ClassToken: a learned (1, 1, D) token put in front of a (N, L, D) sequence."""

            def __init__(self, width):
                super().__init__()
                self.class_token = nn.Parameter(torch.zeros(1, 1, width))

            def forward(self, x):
                return torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
    '''

    def torch_ctor(self, x):
        return self.TYPE, [x[-1]], []

    def output_shape(self, x):
        self.check_ndim(x, (3,), "(N, L, D)")
        return (x[0], x[1] + 1, x[2])

    def parameters(self, x):
        return {"class_token": (1, 1, x[-1])}


@register
class PositionalEmbedding(Layer):
    """A learned ``(1, P, D)`` table whose first L rows are added to a ``(N, L, D)`` sequence
    (``P = num_positions``, default L, at least L); 1 FLOP per element."""
    PROMOTES = True

    TYPE = "PositionalEmbedding"
    SAVES = ()
    FAMILY, LAYOUT = "tensor", "seq"
    TORCH_HELPER = '''
        class PositionalEmbedding(nn.Module):
            """netcalc's PositionalEmbedding: a learned (1, P, D) table whose first L rows are added to a
            (N, L, D) sequence."""

            def __init__(self, num_positions, width):
                super().__init__()
                self.pos_embedding = nn.Parameter(torch.zeros(1, num_positions, width))

            def forward(self, x):
                return x + self.pos_embedding[:, :x.shape[1]]
    '''
    ARGS = (Arg("num_positions", None),)

    def torch_ctor(self, x):
        n = self.args["num_positions"]
        return self.TYPE, [n if n is not None else x[1], x[2]], []

    def positions(self, x):
        self.check_ndim(x, (3,), "(N, L, D)")
        p = self.args["num_positions"]
        if p is None:
            return x[1]
        if is_int(p) and is_int(x[1]) and p < x[1]:
            self.error(f"num_positions ({p}) is shorter than the sequence ({x[1]})", "num_positions")
        return p

    def output_shape(self, x):
        self.positions(x)
        return x

    def parameters(self, x):
        return {"pos_embedding": (1, self.positions(x), x[2])}

    def flops(self, x, y):
        return numel(y)


@register
class Parameter(Layer):
    """A plain learned tensor of ``shape`` that the model holds (it does not change the data flow)."""

    TYPE = "Parameter"
    VIEW, SAVES = True, ()
    FAMILY = "tensor"
    TORCH_HELPER = '''
        class Parameter(nn.Module):
            """netcalc's Parameter: a learned tensor the model holds; the data passes unchanged."""

            def __init__(self, *shape):
                super().__init__()
                self.weight = nn.Parameter(torch.zeros(shape))

            def forward(self, x):
                return x
    '''
    PASS_RF = True
    ARGS = (Arg("shape", kind="dims"),)

    def torch_ctor(self, x):
        return self.TYPE, list(self.args["shape"]), []

    def validate(self):
        check_shape_entries(self, self.args["shape"], "shape", infer=False)  # torch.zeros(shape) takes no -1

    def parameters(self, x):
        return {"weight": tuple(self.args["shape"])}


class Resize(Layer):
    """``torch.nn.Upsample``: ``size`` or ``⌊L·scale_factor⌋`` per spatial axis of ``(N, C, *spatial)``."""

    TYPE = "Upsample"
    SAVES = ()  # interpolation backward needs only the sizes; under autocast every mode runs in its input's dtype
    TORCH_FUNCTIONS = ("F.interpolate",)
    FAMILY, LAYOUT = "tensor", "cf"
    ARGS = (Arg("size", None, "dims"), Arg("scale_factor", None, "any"), Arg("mode", "nearest", "choice",
            ("nearest", "linear", "bilinear", "bicubic", "trilinear", "nearest-exact")),
            Arg("align_corners", None, "any"), Arg("recompute_scale_factor", None, "any"))
    COST = {"nearest": 0, "nearest-exact": 0, "linear": 3, "bilinear": 7, "trilinear": 15, "bicubic": 31}

    def validate(self):
        a = self.args
        if (a["size"] is None) == (a["scale_factor"] is None):
            self.error("give exactly one of size and scale_factor")
        if a.get("align_corners") is not None and a["mode"] in ("nearest", "nearest-exact"):
            self.error("align_corners can only be set with the interpolating modes (linear, bilinear, bicubic, "
                       "trilinear)", "align_corners")

    NDIM = {"linear": (3,), "bilinear": (4,), "bicubic": (4,), "trilinear": (5,)}  # the rest: 3-D to 5-D

    def output_shape(self, x):
        mode = self.args["mode"]
        self.check_ndim(x, self.NDIM.get(mode, (3, 4, 5)), f"(N, C, *spatial) for mode {mode!r}")
        rank = self.spatial_axes = len(x) - 2
        a = self.args
        if a["size"] is not None:
            size = a["size"] * rank if len(a["size"]) == 1 else a["size"]
            if len(size) != rank:
                self.error(f"size needs {rank} values, got {len(size)}", "size")
            for v in size:
                self.check_positive(v, "output size", "size")  # torch: sizes "should be greater than 0"
            return (*x[:2], *size)
        scale = a["scale_factor"]
        scales = scale if isinstance(scale, list) else [scale] * rank
        if len(scales) != rank or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and 0 < s < math.inf
                                          for s in scales):
            self.error(f"scale_factor must be a positive number or {rank} of them", "scale_factor")
        out = []
        for L, s in zip(x[2:], scales):
            if float(s).is_integer():
                out.append(L * int(s))
            elif is_int(L):
                out.append(int(L * float(s)))  # torch: floor(input_size * scale_factor)
                self.check_positive(out[-1], f"output size ⌊{L}·{s}⌋", "scale_factor")
            else:
                self.error("a fractional scale_factor needs a numeric input size", "scale_factor")
        return (*x[:2], *out)

    def flops(self, x, y):
        return self.COST[self.args["mode"]] * numel(y)

    def receptive_field(self, field):
        scale = self.args["scale_factor"]
        if field is None or self.args["mode"] not in ("nearest",) or self.args["size"] is not None:
            return None
        scales = scale if isinstance(scale, list) else [scale] * self.spatial_axes
        if not all(float(s).is_integer() for s in scales):
            return None
        s = [int(v) for v in scales]
        return field.transposed(s, s, [0] * len(s), [1] * len(s))


register(Resize)


class _FixedMode(Resize):
    LAYOUT = None  # the UpsamplingNearest2d/Bilinear2d forms keep their input's layout
    ARGS = (Arg("size", None, "dims"), Arg("scale_factor", None, "any"))
    MODE = "nearest"
    TORCH_FUNCTIONS = ()  # F.interpolate imports as Upsample

    def validate(self):
        self.args["mode"] = self.MODE
        super().validate()


for _name, _mode in (("UpsamplingNearest2d", "nearest"), ("UpsamplingBilinear2d", "bilinear")):
    register(type(_name, (_FixedMode,), {"TYPE": _name, "MODE": _mode,
                                         "__doc__": f"``torch.nn.{_name}``: Upsample in {_mode} mode."}))


class PadNd(Layer):
    """``torch.nn.{Zero,Constant,Reflection,Replication,Circular}PadNd``: ``padding`` is one int or
    ``2·rank`` ints (left, right, top, bottom, front, back: last axis first)."""

    TYPE = "ZeroPad{}d"
    SAVES = ()  # a constant pad's gradient is a slice
    TORCH_FUNCTIONS = ("F.pad",)  # every pad layer: from_call picks the one by mode and value
    MODE = "constant"  # F.pad's mode
    FAMILY = "tensor"
    ARGS = (Arg("padding", kind="dims"),)
    PASS_RF = False
    CONSTANT = True  # constant padding takes any input of at least `rank` dims; the others (C, *) or (N, C, *)
    LIMIT = None  # each pad must be "less than" (reflection) or "at most" (circular) the input size

    @classmethod
    def from_call(cls, bound, x, y):
        pad = plain_value(bound.get("pad"))
        pad = pad if isinstance(pad, list) else [pad]
        mode, value = bound.get("mode", "constant"), bound.get("value")
        family = ConstantPadNd if mode == "constant" and value not in (None, 0, 0.0) else PAD_MODES.get(mode)
        rank = len(pad) // 2
        if family is None or rank not in (1, 2, 3) or len(pad) % 2:
            raise ValueError(f"padding {pad} in mode {mode!r} is not one of the torch.nn pad layers")
        kind = REGISTRY[family.TYPE.format(rank).lower()]
        return kind, kind.args_from_call(bound, x, y)

    @classmethod
    def args_from_call(cls, bound, x, y):
        pad = plain_value(bound.get("pad"))
        pad = pad if isinstance(pad, list) else [pad]
        return {"padding": pad[0] if pad.count(pad[0]) == len(pad) else pad}

    def pads(self):
        p = self.args["padding"]
        if len(p) == 1:
            p = p * (2 * self.rank)
        if len(p) != 2 * self.rank:
            self.error(f"padding needs 1 or {2 * self.rank} values, got {len(p)}", "padding")
        return [(p[2 * i], p[2 * i + 1]) for i in range(self.rank)][::-1]  # per axis, first axis first

    def output_shape(self, x):
        if len(x) < self.rank or not self.CONSTANT and len(x) not in (self.rank + 1, self.rank + 2):
            allowed = f"at least {self.rank}-D" if self.CONSTANT else f"a {self.rank + 1}-D or {self.rank + 2}-D"
            self.error(f"expects {allowed} input, got {fmt_shape(x)}")
        out = [L + a + b for L, (a, b) in zip(x[-self.rank:], self.pads())]
        for o, L, pads in zip(out, x[-self.rank:], self.pads()):
            if is_int(o) and o < 1:
                self.error(f"padding leaves no elements of a size-{L} axis", "padding")
            for p in pads:
                if self.LIMIT and is_int(p) and is_int(L) and (p >= L if self.LIMIT == "less than" else p > L):
                    self.error(f"{self.TYPE} padding ({p}) must be {self.LIMIT} the input size along its axis ({L})",
                               "padding")
        return (*x[:-self.rank], *out)

    def receptive_field(self, field):
        if field is None:
            return None
        ones = [1] * self.rank
        return field.window(ones, ones, [a for a, _ in self.pads()], ones)


class ConstantPadNd(PadNd):
    __doc__ = PadNd.__doc__
    TYPE = "ConstantPad{}d"
    ARGS = (Arg("padding", kind="dims"), Arg("value", kind="float"))
    TORCH_FUNCTIONS = ()  # F.pad: PadNd.from_call

    @classmethod
    def args_from_call(cls, bound, x, y):
        return {**super().args_from_call(bound, x, y), "value": float(bound["value"])}


ranked(PadNd)
ranked(ConstantPadNd)


class EdgePadNd(PadNd):
    """Reflection and replication padding, which keep their input for backward."""

    SAVES = ("input",)

    def runs_float32(self, x):
        """CPU autocast runs replication padding and 1-D and 2-D reflection padding in float32
        (measured: 3-D reflection padding runs in its input's dtype)."""
        return not (self.MODE == "reflect" and self.rank == 3)

    def saved(self, x, y):
        return [self.kept_input(x)]


PAD_MODES = {PadNd.MODE: PadNd}  # F.pad's mode → its family of pad layers (a constant value: ConstantPadNd)
for _kind, _limit, _mode, _base in (("Reflection", "less than", "reflect", EdgePadNd),
                                    ("Replication", None, "replicate", EdgePadNd),
                                    ("Circular", "at most", "circular", PadNd)):
    PAD_MODES[_mode] = ranked(type(f"{_kind}PadNd", (_base,), {
        "TYPE": _kind + "Pad{}d", "__doc__": PadNd.__doc__, "CONSTANT": False, "LIMIT": _limit, "MODE": _mode,
        "TORCH_FUNCTIONS": ()}))  # circular padding (slices and a cat) saves nothing, in its input's dtype


@register
class PixelShuffle(Layer):
    """``torch.nn.PixelShuffle(r)``: ``(*, C·r², H, W) → (*, C, H·r, W·r)``."""

    TYPE = "PixelShuffle"
    SAVES = ()
    FAMILY, LAYOUT = "tensor", "cf"
    ARGS = (Arg("upscale_factor"),)

    def validate(self):
        self.check_positive(self.args["upscale_factor"], "upscale_factor", "upscale_factor")

    def output_shape(self, x):
        r = self.args["upscale_factor"]
        if len(x) < 3:
            self.error(f"expects (*, C, H, W), got {fmt_shape(x)}")
        c = x[-3]
        if is_int(c) and is_int(r) and c % (r * r):
            self.error(f"channels ({c}) must be divisible by upscale_factor² ({r * r})", "upscale_factor")
        return (*x[:-3], exact_div(c, r * r), x[-2] * r, x[-1] * r)


@register
class PixelUnshuffle(Layer):
    """``torch.nn.PixelUnshuffle(r)``: ``(*, C, H·r, W·r) → (*, C·r², H, W)``."""

    TYPE = "PixelUnshuffle"
    SAVES = ()
    FAMILY, LAYOUT = "tensor", "cf"
    ARGS = (Arg("downscale_factor"),)

    def validate(self):
        self.check_positive(self.args["downscale_factor"], "downscale_factor", "downscale_factor")

    def output_shape(self, x):
        r = self.args["downscale_factor"]
        if len(x) < 3:
            self.error(f"expects (*, C, H, W), got {fmt_shape(x)}")
        for v in x[-2:]:
            if is_int(v) and is_int(r) and v % r:
                self.error(f"height and width must be divisible by downscale_factor ({r}), got {fmt_shape(x)}",
                           "downscale_factor")
        return (*x[:-3], x[-3] * r * r, fdiv(x[-2], r), fdiv(x[-1], r))


@register
class ChannelShuffle(Layer):
    """``torch.nn.ChannelShuffle(groups)``: ``(N, C, *)`` keeps its shape, the channels regrouped
    (``C`` must divide by ``groups``); no parameters, and moving data costs nothing. Each output
    unit reads the input unit at its own position, so the receptive field passes through."""

    TYPE = "ChannelShuffle"
    SAVES = ()
    FAMILY, LAYOUT = "tensor", "cf"
    PASS_RF = True
    ARGS = (Arg("groups"),)

    def validate(self):
        self.check_positive(self.args["groups"], "groups", "groups")

    def output_shape(self, x):
        if len(x) < 3:
            self.error(f"expects an input with more than 2 dims (N, C, *), got {fmt_shape(x)}")
        c, g = x[1], self.args["groups"]
        if is_int(c) and is_int(g) and c % g:
            self.error(f"channels ({c}) must be divisible by groups ({g})", "groups")
        return x


# ----------------------------------------------------------------------------- tensor ops of two tensors

def _broadcast_batch(layer, a, b, key):
    from .linear import broadcast

    return broadcast(layer, a, b, key)


@register
class Matmul(Layer):
    """``torch.matmul(x, other)`` with ``other: NAME``: 1-D operands are vectors (a dot product, a
    matrix-vector product), batch dims broadcast. MACs: every multiply-add of the contraction,
    ``prod(output) · K`` (FlopCounterMode counts 0 for the 1-D × 1-D and matrix × vector cases);
    FLOPs ``prod(output) · (2K − 1)``."""
    AUTOCAST = True  # it casts float32 operands to the low precision, and keeps those copies

    TYPE = "Matmul"
    FAMILY, LAYOUT = "tensor", None
    ARGS = (Arg("other", kind="tensor"),)
    TORCH_FUNCTIONS = ("torch.matmul", ".matmul", "operator.matmul", "torch.bmm", ".bmm", "torch.mm", ".mm")
    FORWARD = "{m}({x}, {other})"
    TORCH_HELPER = '''
        class Matmul(nn.Module):
            """netcalc's Matmul: torch.matmul of the input and a second tensor."""

            def forward(self, x, other):
                return torch.matmul(x, other)
    '''

    def torch_ctor(self, x):
        return self.TYPE, [], []
    SAVES = None

    def saved(self, x, y):
        """Each operand for the other's gradient: the input when ``other`` needs a gradient, ``other``
        when the input does."""
        return [("needs", 1, "input"), ("needs", 0, 1)]

    def contraction(self, x):
        a, b = x, self.tensors["other"]
        if not a or not b:
            self.error("matmul needs tensors of at least 1 dim, not scalars", "other")
        k_a = a[-1]
        k_b = b[0] if len(b) == 1 else b[-2]
        if not same(k_a, k_b):
            self.error(f"cannot multiply {fmt_shape(a)} by {fmt_shape(b)}: the inner sizes {to_text(k_a)} and "
                       f"{to_text(k_b)} differ", "other")
        rows = a[-2:-1] if len(a) >= 2 else ()
        cols = b[-1:] if len(b) >= 2 else ()
        batch = _broadcast_batch(self, a[:-2], b[:-2], "other") if len(a) > 2 or len(b) > 2 else ()
        return (*batch, *rows, *cols), k_a

    def output_shape(self, x):
        return self.contraction(x)[0]

    def macs(self, x, y):
        out, k = self.contraction(x)
        return numel(out) * k

    def flops(self, x, y):
        out, k = self.contraction(x)
        return numel(out) * (2 * k - 1)


@register
class Einsum(Layer):
    """``torch.einsum(equation, x[, other])``: letters name dims (``bij,bjk->bik``; no ``...``), the
    output is the letters after ``->`` (or, without it, those used once, in order). MACs with two
    operands: the product of every letter's size (each output element sums over the contracted
    letters), 0 when no letter of size above 1 is summed (torch multiplies element-wise then); one
    operand moves or sums data: 0 MACs."""
    AUTOCAST = False  # the bmm it calls runs in the low precision: see runs_low

    TYPE = "Einsum"
    FAMILY, LAYOUT = "tensor", None
    ARGS = (Arg("equation", kind="any"), Arg("other", None, "tensor"))
    TORCH_FUNCTIONS = ("torch.einsum",)
    TORCH_HELPER = '''
        class Einsum(nn.Module):
            """netcalc's Einsum: torch.einsum(equation, x[, other])."""

            def __init__(self, equation):
                super().__init__()
                self.equation = equation

            def forward(self, x, *other):
                return torch.einsum(self.equation, x, *other)
    '''

    def torch_ctor(self, x):
        return self.TYPE, [self.args["equation"]], []

    def forward_call(self, module, src, tensors=None):
        other = (tensors or {}).get("other")
        return f"{module}({src}, {other})" if other else f"{module}({src})"

    def writes_tensors(self):
        return True

    @classmethod
    def args_from_call(cls, bound: dict, x: tuple, y: tuple) -> dict:
        eq = bound.get("equation")
        if eq is None:  # torch.einsum(*args): the equation comes first
            eq = next((a for a in bound.get("args", ()) if isinstance(a, str)), None)
        if not isinstance(eq, str):
            raise ValueError("einsum without an equation string (the sublist form) is not expressible")
        return {"equation": eq.replace(" ", "")}

    def parse(self, x):
        eq = self.args["equation"]
        if not isinstance(eq, str) or not re.fullmatch(r"\s*[a-zA-Z]+\s*(,\s*[a-zA-Z]+\s*)?(->\s*[a-zA-Z]*\s*)?", eq):
            self.error(f"equation must be letters like 'bij,bjk->bik' (no '...'), got {eq!r}", "equation")
        lhs, _, rhs = eq.replace(" ", "").partition("->")
        terms = lhs.split(",")
        operands = [x] + ([self.tensors["other"]] if "other" in self.tensors else [])
        if len(terms) != len(operands):
            self.error(f"equation {eq!r} has {len(terms)} operands, but the layer has {len(operands)} "
                       "(the incoming tensor, and other: for a second)", "equation")
        sizes: dict = {}
        for term, shape in zip(terms, operands):
            if len(term) != len(shape):
                self.error(f"{term!r} names {len(term)} dims of a {len(shape)}-D tensor {fmt_shape(shape)}",
                           "equation")
            for letter, d in zip(term, shape):
                if letter in sizes and not same(sizes[letter], d) and not (d == 1 or sizes[letter] == 1):
                    self.error(f"letter {letter!r} is {to_text(sizes[letter])} in one place and {to_text(d)} in "
                               "another", "equation")
                sizes[letter] = d if letter not in sizes or sizes[letter] == 1 else sizes[letter]
        if not _:
            counts = {c: lhs.count(c) for c in sizes}
            rhs = "".join(sorted(c for c in sizes if counts[c] == 1))
        if len(set(rhs)) != len(rhs) or any(c not in sizes for c in rhs):
            self.error(f"the output {rhs!r} must use distinct letters of the operands", "equation")
        return sizes, rhs, len(operands)

    def output_shape(self, x):
        sizes, rhs, _ = self.parse(x)
        return tuple(sizes[c] for c in rhs)

    def saved(self, x, y):
        """torch's einsum of two operands is a permute, a reshape and a bmm (or, when no letter is
        summed by both, a mul); autograd records those ops, so each operand is kept for the other's
        gradient: as it is (a view of its storage) where the reshape is a view, or as a new copy where
        it is not, or as a new tensor where a letter only it has was summed first. One operand: a
        permute, a diagonal or a sum, which save nothing. Worked out for operands laid out
        in order (memory tells, in ``inputs_in_order``); another layout: not modelled.

        Under autocast the bmm casts a float32 operand (as its reshape reads it) to the low precision
        and keeps that copy; the mul casts nothing (its output is float32 when an operand is)."""
        if not all(self.inputs_in_order):
            return None
        kept, _, low = self.plan(x)
        if kept is None:
            return []
        saves = []
        for k, (keep, (term, shape)) in enumerate(zip(kept, self.operands(x))):
            other, wide = 1 - k, bool(self.input_dtypes) and self.input_dtypes[k] == "float32"
            letters = "".join(dict.fromkeys(term)) if keep == "view" else keep
            if keep == "view" and not (low and wide):
                saves.append(("needs", other, "input" if k == 0 else 1))
            else:
                dtype = "low" if low or not wide else "float32"
                kept_shape = tuple(shape[term.index(c)] for c in letters)
                saves.append(("needs", other, (kept_shape, dtype if self.mixed else "act")))
        return saves

    def runs_low(self, x):
        """Under autocast: where torch's einsum calls bmm (a letter summed by both operands)."""
        return self.plan(x)[2]

    def in_order(self, x, inputs):
        return all(inputs) and self.plan(x)[1]

    def operands(self, x):
        n = self.parse(x)[2]
        terms = self.args["equation"].replace(" ", "").partition("->")[0].split(",")
        return list(zip(terms, [x] + ([self.tensors["other"]] if n == 2 else [])))

    def plan(self, x):
        """What torch.einsum does with two contiguous operands (aten's einsum and sumproduct_pair, as
        measured): ``(kept, contiguous, bmm)``, kept per operand "view" (the saved tensor shares its storage)
        or the letters of the new tensor saved in its place; contiguous: whether the output is laid out
        in order; bmm: whether it calls bmm (else mul, or for one operand nothing: kept is None)."""
        _, rhs, n = self.parse(x)
        ops = self.operands(x)
        proxy: dict = {}  # a symbolic size stands for a large number (torch's choices only ask "is it 1?")

        def num(d):
            return d if is_int(d) else proxy.setdefault(str(d), 1_000_003 + 2 * len(proxy))

        letters = sorted({c for term, _ in ops for c in term}, key=lambda c: (c.islower(), c))  # A-Z, a-z
        order = list(rhs) + [c for c in letters if c not in rhs]
        aligned = []  # per operand: [(size, stride)] in ``order``, after diagonals and unsqueezes
        for term, shape in ops:
            stride, strides = 1, {}
            for c, d in reversed(list(zip(term, shape))):  # a repeated letter: the diagonal's stride adds up
                strides[c] = strides.get(c, 0) + stride
                stride *= num(d)
            own = {c: num(d) for c, d in zip(term, shape)}
            aligned.append([(own.get(c, 1), strides.get(c, 1)) for c in order])
        counts = {c: sum(1 for op in aligned if op[i][0] != 1) for i, c in enumerate(order)}
        if n == 1:  # a permute (a diagonal, a sum): in order when it only drops or keeps letters in place
            term = ops[0][0]
            kept_order = [c for c in rhs if aligned[0][order.index(c)][0] != 1]
            return None, len(set(term)) == len(term) and set(term) == set(rhs) and \
                kept_order == [c for c in term if c in kept_order], False
        (a, b), out = aligned, len(rhs)
        summed: list = [set(), set()]
        both = []
        for i, c in enumerate(order[out:], out):
            if a[i][0] != 1 and b[i][0] != 1:
                both.append(i)
            elif counts[c] == 1:  # a letter only one operand has is summed out of it first
                summed[0 if a[i][0] != 1 else 1].add(i)
        for k, op in enumerate(aligned):
            for i in summed[k]:
                op[i] = (1, op[i][1])
        kept: list = [None, None]
        for k, (term, _) in enumerate(ops):
            if summed[k]:
                kept[k] = "".join(c for c in dict.fromkeys(term) if order.index(c) not in summed[k])
        if not both:  # a mul: each saved as it is; the output in order where both operands are (and not summed)
            def ordered(op):
                strides = [stride for size, stride in op if size != 1]
                return strides == sorted(strides, reverse=True)

            in_order = kept == [None, None] and all(map(ordered, aligned))
            return ["view" if k is None else k for k in kept], in_order, False
        lro = [i for i in range(len(order)) if i not in both and a[i][0] != 1 and b[i][0] != 1]
        lo = [i for i in range(len(order)) if i not in both and a[i][0] != 1 and b[i][0] == 1]
        ro = [i for i in range(len(order)) if i not in both and a[i][0] == 1]
        left, right = 0, 1
        if lo and ro and ro[-1] < lo[0]:  # torch swaps the operands so that bmm writes the output in order
            left, right, lo, ro = 1, 0, ro, lo
        for k, perm, groups in ((left, lro + lo + both + ro, (lro, lo, both)),
                                (right, lro + both + ro + lo, (lro, both, ro))):
            if kept[k] is None:
                op = aligned[k]
                shape = [math.prod(op[i][0] for i in g) for g in groups]
                if _view_strides([op[i][0] for i in perm], [op[i][1] for i in perm], shape) is None:
                    kept[k] = "".join(dict.fromkeys(ops[k][0]))  # reshape copies
                else:
                    kept[k] = "view"
        written = [i for i in lro + lo + ro if i < out and aligned[left if i in lo else right][i][0] != 1]
        return kept, written == sorted(written), True

    def macs(self, x, y):
        sizes, rhs, n = self.parse(x)
        contracted = prod(d for c, d in sizes.items() if c not in rhs)
        if n == 1 or (is_int(contracted) and contracted == 1):
            return 0  # nothing summed: an element-wise product, which torch does without a matmul
        return prod(sizes.values())

    def flops(self, x, y):
        sizes, rhs, n = self.parse(x)
        if n == 1:
            return numel(x) - numel(y) if numel(x) != numel(y) else 0  # sums (a trace, a reduction)
        total = prod(sizes.values())
        return 2 * total - numel(y)


def _view_strides(shape: list, strides: list, new: list) -> list | None:
    """The strides of ``new`` as a view of a tensor of ``shape`` and ``strides``, or None where torch's
    reshape must copy (aten's computeStride: each run of dims laid out as one block must map onto
    whole dims of the new shape)."""
    if not shape:
        return [1] * len(new)
    view_d, base = len(new) - 1, strides[-1]
    tensor_numel = view_numel = 1
    out = [0] * len(new)
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != tensor_numel * base):  # a block ends here
            while view_d >= 0 and (view_numel < tensor_numel or new[view_d] == 1):
                out[view_d] = view_numel * base
                view_numel *= new[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                base, tensor_numel, view_numel = strides[d - 1], 1, 1
    return out if view_d == -1 else None


@register
class ScaledDotProductAttention(Layer):
    """``F.scaled_dot_product_attention(q, k, v)`` with the query the incoming tensor ``(…, L, E)``,
    ``key: NAME`` ``(…, S, E)`` and ``value: NAME`` ``(…, S, Ev)`` → ``(…, L, Ev)``; with
    ``enable_gqa`` the key/value heads (dim −3) may divide the query's. MACs: QKᵀ ``…·L·S·E`` and AV
    ``…·L·S·Ev`` (the query's batch and heads); FLOPs as attention (4 per score, +1 causal)."""
    AUTOCAST = True  # it casts float32 query, key and value to the low precision, and keeps those copies

    TYPE = "ScaledDotProductAttention"
    FAMILY, LAYOUT = "seq", None
    ARGS = (Arg("key", kind="tensor"), Arg("value", kind="tensor"), Arg("dropout_p", 0.0, "float"),
            Arg("is_causal", False, "bool"), Arg("scale", None, "float"), Arg("enable_gqa", False, "bool"))
    TORCH_FUNCTIONS = ("F.scaled_dot_product_attention",)
    SAVES = None
    FORWARD = "{m}({x}, {key}, {value})"
    TORCH_HELPER = '''
        class ScaledDotProductAttention(nn.Module):
            """netcalc's ScaledDotProductAttention: F.scaled_dot_product_attention(q, k, v, ...)."""

            def __init__(self, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
                super().__init__()
                self.dropout_p, self.is_causal, self.scale, self.enable_gqa = dropout_p, is_causal, scale, enable_gqa

            def forward(self, q, k, v):
                return torch.nn.functional.scaled_dot_product_attention(
                    q, k, v, dropout_p=self.dropout_p, is_causal=self.is_causal, scale=self.scale,
                    enable_gqa=self.enable_gqa)
    '''

    def torch_ctor(self, x):
        a = self.args
        keywords = [(k, a[k], d) for k, d in (("dropout_p", 0.0), ("is_causal", False), ("scale", None),
                                              ("enable_gqa", False))]
        return self.TYPE, [], keywords

    def saved(self, x, y):
        """The fused CPU kernel's, for (N, H, L, E) inputs: query, key, value, the logsumexp per query
        and the output. With dropout, enable_gqa, other ranks or values of another width than the
        queries (other kernels): not measured."""
        if (self.args["dropout_p"] or self.args["enable_gqa"] or len(x) != 4
                or not same(x[-1], self.tensors["value"][-1])):
            return None
        return ["input", 1, 2, (x[:-1], "stat"), "output"]  # the logsumexp: float32 under autocast

    def dims(self, x):
        k, v = self.tensors["key"], self.tensors["value"]
        if len(x) < 2 or len(k) != len(x) or len(v) != len(x):
            self.error(f"query {fmt_shape(x)}, key {fmt_shape(k)} and value {fmt_shape(v)} must have the same "
                       "number of dims, at least 2", "key")
        if not same(x[-1], k[-1]):
            self.error(f"the query's width {to_text(x[-1])} and the key's {to_text(k[-1])} differ", "key")
        if not same(k[-2], v[-2]):
            self.error(f"key and value lengths differ ({to_text(k[-2])} and {to_text(v[-2])})", "value")
        for name, t in (("key", k), ("value", v)):
            for i, (p, q) in enumerate(zip(x[:-2], t[:-2])):
                heads = len(x) >= 3 and i == len(x) - 3
                if heads and self.args["enable_gqa"] and is_int(p) and is_int(q) and q and p % q == 0:
                    continue
                if not same(p, q) and q != 1:
                    self.error(f"{name} {fmt_shape(t)} does not match the query {fmt_shape(x)} in dim {i}", name)
        return x[-2], k[-2], x[-1], v[-1]

    def output_shape(self, x):
        length, _, _, ev = self.dims(x)
        return (*x[:-1], ev)

    def macs(self, x, y):
        length, s, e, ev = self.dims(x)
        return numel(x[:-2]) * length * s * (e + ev)

    def kv_cache(self, x):
        """The key and value tensors it reads."""
        self.dims(x)
        return numel(self.tensors["key"]) + numel(self.tensors["value"])

    def flops(self, x, y):
        length, s, e, ev = self.dims(x)
        scores = numel(x[:-2]) * length * s
        return scores * (2 * e - 1) + (5 if self.args["is_causal"] else 4) * scores + numel(y) * (2 * s - 1)


@register
class Stack(Layer):
    """``torch.stack([x, other], dim)``: the incoming tensor and ``other: NAME`` of the same shape,
    joined along a new dim ``dim`` (``-(ndim + 1) ≤ dim ≤ ndim``). No MACs or FLOPs: a copy."""
    # under autocast it runs in its inputs' dtype, promoted (low and float32 stack to float32)

    TYPE = "Stack"
    FAMILY, LAYOUT = "tensor", None
    ARGS = (Arg("other", kind="tensor"), Arg("dim", 0))
    TORCH_FUNCTIONS = ("torch.stack",)
    SAVES = ()  # its backward only takes the gradient apart again
    FORWARD = "{m}({x}, {other})"
    TORCH_HELPER = '''
        class Stack(nn.Module):
            """netcalc's Stack: torch.stack([x, other], dim)."""

            def __init__(self, dim=0):
                super().__init__()
                self.dim = dim

            def forward(self, x, other):
                return torch.stack([x, other], self.dim)
    '''

    def torch_ctor(self, x):
        return self.TYPE, [], [("dim", self.args["dim"], 0)]

    def output_shape(self, x):
        from .linear import dim_index

        other = self.tensors["other"]
        if len(other) != len(x) or not all(same(a, b) for a, b in zip(x, other)):
            self.error(f"stack needs two tensors of one shape, got {fmt_shape(x)} and {fmt_shape(other)}", "other")
        d = dim_index(self, self.args["dim"], len(x) + 1, "dim")
        return (*x[:d], 2, *x[d:])


class Pieces(Layer):
    """Split one dim into pieces; the incoming tensor goes on as the first piece, and ``names:``
    names each piece so later entries read it with ``from:``."""

    FAMILY, LAYOUT = "tensor", None
    SAVES = ()
    STRIDED = True  # memory: the pieces are views of the whole (netcalc counts each as a tensor of its own)

    def sizes(self, x) -> list:
        raise NotImplementedError

    def validate(self):
        names = self.args["names"]
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) and n for n in names)):
            self.error("names must be a list of names, one per piece", "names")

    def pieces(self, x):
        from .linear import dim_index

        d = dim_index(self, self.args["dim"], len(x), "dim")
        shapes = [(*x[:d], s, *x[d + 1:]) for s in self.sizes(x[d])]
        names = self.args["names"]
        if names is not None and len(names) != len(shapes):
            self.error(f"names lists {len(names)} names for {len(shapes)} pieces", "names")
        return shapes

    def output_shape(self, x):
        return self.pieces(x)[0]

    def named_outputs(self, x) -> dict:
        return dict(zip(self.args["names"] or (), self.pieces(x)))


@register
class Chunk(Pieces):
    """``x.chunk(chunks, dim)``: pieces of ``ceil(size / chunks)`` (the last smaller), as torch."""

    TYPE = "Chunk"
    ARGS = (Arg("chunks"), Arg("dim", 0), Arg("names", None, "any"))
    TORCH_FUNCTIONS = ("torch.chunk", ".chunk")

    def validate(self):
        super().validate()
        self.check_positive(self.args["chunks"], "chunks", "chunks")

    def sizes(self, n):
        c = self.args["chunks"]
        if not (is_int(n) and is_int(c)):
            self.error("chunk needs numbers for the size and chunks", "chunks")
        step = -(-n // c)
        return [min(step, n - i) for i in range(0, n, step)] if n else [0]


@register
class Split(Pieces):
    """``x.split(split_size_or_sections, dim)``: pieces of one size (the last smaller) or the listed sizes."""

    TYPE = "Split"
    ARGS = (Arg("split_size_or_sections", kind="any"), Arg("dim", 0), Arg("names", None, "any"))
    TORCH_FUNCTIONS = ("torch.split", ".split")

    def sizes(self, n):
        s = self.args["split_size_or_sections"]
        if isinstance(s, list):
            if not all(isinstance(v, int) and v >= 0 for v in s) or not is_int(n) or sum(s) != n:
                self.error(f"split sizes {s} must be non-negative and add up to the dim's size {to_text(n)}",
                           "split_size_or_sections")
            return list(s)
        step = s
        if isinstance(step, bool) or not (is_int(n) and is_int(step)) or step < 1:
            self.error("split needs a positive size and a numeric dim", "split_size_or_sections")
        return [min(step, n - i) for i in range(0, n, step)] if n else [0]
