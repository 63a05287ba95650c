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

from ..symbolic import exact_div, fdiv, is_int, prod, same, to_text
from .base import Arg, Layer, fmt_shape, numel
from .linear import dim_index
from .registry import ranked, register


@register
class Reshape(Layer):
    """``x.reshape(shape)``: the whole shape, batch included; one entry may be -1."""

    TYPE = "Reshape"
    ARGS = (Arg("shape", kind="dims"),)

    def output_shape(self, x):
        shape = list(self.args["shape"])
        if shape.count(-1) > 1:
            self.error("only one dimension may be -1", "shape")
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


@register
class Permute(Layer):
    """``x.permute(dims)``."""

    TYPE = "Permute"
    ARGS = (Arg("dims", kind="dims"),)

    def output_shape(self, x):
        dims = [dim_index(self, d, len(x), "dims") for d in self.args["dims"]]
        if sorted(dims) != list(range(len(x))):
            self.error(f"dims {list(self.args['dims'])} must be a permutation of the {len(x)} dimensions", "dims")
        return tuple(x[d] for d in dims)


@register
class Transpose(Layer):
    """``x.transpose(dim0, dim1)``."""

    TYPE = "Transpose"
    ARGS = (Arg("dim0"), Arg("dim1"))

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
    ARGS = (Arg("dim", kind="dims"), Arg("keepdim", False, "bool"))

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

    TYPE = "Select"
    ARGS = (Arg("dim"), Arg("index", 0))

    def output_shape(self, x):
        d = dim_index(self, self.args["dim"], len(x), "dim")
        i = self.args["index"]
        if is_int(i) and is_int(x[d]) and not -x[d] <= i < x[d]:
            self.error(f"index {i} is out of range for dimension {d} of size {x[d]}", "index")
        return x[:d] + x[d + 1:]


@register
class ClassToken(Layer):
    """A learned token ``(1, 1, D)`` put in front of a ``(N, L, D)`` sequence (ViT): ``(N, L + 1, D)``."""

    TYPE = "ClassToken"

    def output_shape(self, x):
        self.check_ndim(x, (3,), "(N, L, D)")
        return (x[0], x[1] + 1, x[2])

    def parameters(self, x):
        return {"class_token": (1, 1, x[-1])}


@register
class PositionalEmbedding(Layer):
    """A learned ``(1, P, D)`` table whose first L rows are added to a ``(N, L, D)`` sequence
    (``P = num_positions``, default L, at least L); 1 FLOP per element."""

    TYPE = "PositionalEmbedding"
    ARGS = (Arg("num_positions", None),)

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
    PASS_RF = True
    ARGS = (Arg("shape", kind="dims"),)

    def parameters(self, x):
        return {"weight": tuple(self.args["shape"])}


class Resize(Layer):
    """``torch.nn.Upsample``: ``size`` or ``⌊L·scale_factor⌋`` per spatial axis of ``(N, C, *spatial)``."""

    TYPE = "Upsample"
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
            return (*x[:2], *size)
        scale = a["scale_factor"]
        scales = scale if isinstance(scale, list) else [scale] * rank
        if len(scales) != rank or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0 for s in scales):
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
    ARGS = (Arg("size", None, "dims"), Arg("scale_factor", None, "any"))
    MODE = "nearest"

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
    ARGS = (Arg("padding", kind="dims"),)
    PASS_RF = False
    CONSTANT = True  # constant padding takes any input of at least `rank` dims; the others (C, *) or (N, C, *)
    LIMIT = None  # each pad must be "less than" (reflection) or "at most" (circular) the input size

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


ranked(PadNd)
ranked(ConstantPadNd)
for _kind, _limit in (("Reflection", "less than"), ("Replication", None), ("Circular", "at most")):
    ranked(type(f"{_kind}PadNd", (PadNd,), {"TYPE": _kind + "Pad{}d", "__doc__": PadNd.__doc__, "CONSTANT": False,
                                            "LIMIT": _limit}))


@register
class PixelShuffle(Layer):
    """``torch.nn.PixelShuffle(r)``: ``(*, C·r², H, W) → (*, C, H·r, W·r)``."""

    TYPE = "PixelShuffle"
    ARGS = (Arg("upscale_factor"),)

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
    ARGS = (Arg("downscale_factor"),)

    def output_shape(self, x):
        r = self.args["downscale_factor"]
        if len(x) < 3:
            self.error(f"expects (*, C, H, W), got {fmt_shape(x)}")
        for v in x[-2:]:
            if is_int(v) and is_int(r) and v % r:
                self.error(f"height and width must be divisible by downscale_factor ({r}), got {fmt_shape(x)}",
                           "downscale_factor")
        return (*x[:-3], x[-3] * r * r, fdiv(x[-2], r), fdiv(x[-1], r))
