"""Convolutions: ConvNd, DepthwiseConvNd, PointwiseConvNd, ConvTransposeNd.

Inputs are ``(N, C, *spatial)`` or unbatched ``(C, *spatial)``; the window arithmetic
lives in :mod:`netcalc.arith`.
"""

from __future__ import annotations

from ..arith import (
    effective_kernel,
    output_padding_to_reach,
    transposed_out,
    transposed_padding_fix,
    window_out,
    window_remainder,
)
from ..symbolic import exact_div, fdiv, is_int, known_positive, prod, times, to_text
from .base import Arg, Layer, axes_value, fmt_shape, numel
from .registry import ranked, register

AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class Windowed(Layer):
    """A layer that slides a window over the last ``rank`` axes."""

    def check_window_args(self, positive=("kernel_size", "stride", "dilation"), nonneg=("padding",)):
        for key in positive:
            for v in self.args.get(key) or ():
                if known_positive(v) is False:
                    self.error(f"{key} must be at least 1, got {to_text(v)}", key)
        for key in nonneg:
            vals = self.args.get(key)
            for v in vals if isinstance(vals, tuple) else ():
                if is_int(v) and v < 0:
                    self.error(f"negative padding is not supported, got {to_text(v)}", key)

    def resampling(self) -> int:
        """+1 when the layer shrinks some axis by a stride, 0 otherwise (transposed convs: -1)."""
        strides = self.args.get("stride") or ()
        return 1 if any(is_int(s) and s > 1 for s in strides) else 0

    def explain_rf(self, x, y, before, after):
        from .. import explain as ex

        if before is None or after is None:
            return []
        b, a = before.report(len(x)) or {}, after.report(len(y))
        if not b:
            b = {"size": [1] * self.rank, "jump": [1] * self.rank, "start": [0] * self.rank}
        steps = []
        for i, axis in enumerate(AXES[self.rank]):
            pb = (b["size"][i], b["jump"][i], b["start"][i])
            pa = (a["size"][i], a["jump"][i], a["start"][i])
            uneven = getattr(before.axes[i], "period", 1) > 1 if before.axes else False
            if self.resampling() < 0 or uneven:  # units of one period see different spans
                steps.append(ex.rf_transposed(axis, pb, pa, self.args["stride"][i] if self.resampling() < 0 else None))
            else:
                steps.append(ex.rf_window(axis, pb, pa, self.args["kernel_size"][i], self.args["stride"][i],
                                          self.args.get("dilation", (1,) * self.rank)[i]))
        return [size for size, _ in steps] + [jump for _, jump in steps]  # sizes first, so equal axes merge

    def dropped_warnings(self, x, windows):
        """``windows``: per axis ``(kernel, stride, (pad_l, pad_r), dilation)`` of a floor-mode window.
        Warns when the floor leaves real input rows (not just padding) outside every window."""
        out = []
        for i, (L, (k, s, pads, d)) in enumerate(zip(x[-self.rank:], windows)):
            # a window narrower than its stride skips positions by design (a 1x1 stride-2 shortcut)
            if all(is_int(v) for v in (L, k, s, d, *pads)) and d * (k - 1) + 1 >= s:
                lost = window_remainder(L, k, s, pads, d) - pads[1]
                if lost > 0:
                    out.append(f"{self.name}: the last {lost} input position{'s' * (lost > 1)} along "
                               f"{AXES[self.rank][i]} (of {L}) {'are' if lost > 1 else 'is'} in no window: "
                               f"⌊({L} + {pads[0] + pads[1]} − {d * (k - 1) + 1}) / {s}⌋ drops "
                               f"{'them' if lost > 1 else 'it'}")
        return out

    def split(self, x):
        """(leading dims, channels, spatial) of the incoming shape."""
        self.check_ndim(x, (self.rank + 1, self.rank + 2),
                        "(N, C, " + ", ".join(AXES[self.rank]) + ") or unbatched (C, " + ", ".join(AXES[self.rank]) + ")")
        return x[: -self.rank - 1], x[-self.rank - 1], x[-self.rank:]

    def check_out(self, out, size, kernel, stride, pads, dilation, axis):
        if known_positive(out) is False:
            padded = size + pads[0] + pads[1]
            formula = (f"floor(({to_text(size)} + {to_text(pads[0] + pads[1])} - {to_text(dilation)}*({to_text(kernel)} - 1) - 1)"
                       f"/{to_text(stride)}) + 1")
            self.error(f"output size along {AXES[self.rank][axis]} is {to_text(out)} = {formula}: the window "
                       f"({to_text(effective_kernel(kernel, dilation))}) does not fit in the padded input "
                       f"({to_text(padded)}); use a smaller kernel or more padding, or feed a larger input",
                       "kernel_size")


class ConvNd(Windowed):
    """``torch.nn.ConvNd``: ``out = ⌊(L + 2p - d(k-1) - 1)/s⌋ + 1`` per axis.

    weight ``(C_out, C_in/groups, *k)``, bias ``(C_out,)``;
    MACs = output elements × C_in/groups × prod(k); FLOPs per output element ``2*fan_in - 1 (+1 bias)``.
    """
    AUTOCAST, KEEPS_WEIGHT = True, True  # a convolution's backward keeps its input and its weight

    MEASURED_MACS = True
    SAVES = ("input",)  # for the weight's gradient

    TYPE = "Conv{}d"
    FAMILY, LAYOUT = "conv", "cf"
    ARGS = (Arg("in_channels", None), Arg("out_channels"), Arg("kernel_size", kind="axes"),
            Arg("stride", 1, "axes"), Arg("padding", 0, "padding"), Arg("dilation", 1, "axes"),
            Arg("groups", 1), Arg("bias", True, "bool"), Arg("padding_mode", "zeros", "choice", PADDING_MODES))

    def validate(self):
        # a non-zeros padding_mode pads with F.pad first, where a negative padding crops
        self.check_window_args(nonneg=("padding",) if self.args.get("padding_mode", "zeros") == "zeros" else ())
        if self.args["padding"] == "same" and any(s != 1 for s in self.args["stride"]):
            self.error("padding='same' is not supported for strided convolutions; use the padding "
                       "`netcalc solve-padding` gives, or an explicit nn.ZeroPad layer", "padding")
        self.check_positive(self.args["groups"], "groups", "groups")

    # DepthwiseConv/PointwiseConv fill these from the incoming channels instead
    def channels(self, c_in):
        """(in_channels, out_channels, groups) given the incoming channel count."""
        a = self.args
        self.check_width("in_channels", a["in_channels"], c_in, "the incoming channels")
        return c_in, a["out_channels"], a["groups"]

    def kernel(self):
        return self.args["kernel_size"], self.args["stride"], self.args["dilation"]

    def pads(self):
        """(left, right) padding per axis; 'same' splits ``d(k-1)`` as PyTorch does."""
        k, _, d = self.kernel()
        p = self.args["padding"]
        if p == "valid":
            return [(0, 0)] * self.rank
        if p == "same":
            return [(fdiv(total, 2), total - fdiv(total, 2)) for total in (di * (ki - 1) for ki, di in zip(k, d))]
        return [(pi, pi) for pi in p]

    def setup(self, x):
        lead, c, spatial = self.split(x)
        c_in, c_out, groups = self.channels(c)
        self.check_positive(c_out, "out_channels", "out_channels")
        for key, v in (("in_channels", c_in), ("out_channels", c_out)):
            if is_int(v) and is_int(groups) and v % groups:
                self.error(f"{key} ({v}) must be divisible by groups ({groups})", "groups")
        return lead, c_in, c_out, groups, spatial

    def output_shape(self, x):
        lead, c_in, c_out, groups, spatial = self.setup(x)
        k, s, d = self.kernel()
        out = []
        for i, (L, pads) in enumerate(zip(spatial, self.pads())):
            self.check_padding_mode(L, pads, i)
            o = window_out(L, k[i], s[i], pads, d[i])
            self.check_out(o, L, k[i], s[i], pads, d[i], i)
            out.append(o)
        return (*lead, c_out, *out)

    def warnings(self, x):
        k, s, d = self.kernel()
        return self.dropped_warnings(x, [(k[i], s[i], pads, d[i]) for i, pads in enumerate(self.pads())])

    def check_padding_mode(self, size, pads, axis):
        mode = self.args.get("padding_mode", "zeros")
        p = max(pads) if all(is_int(v) for v in pads) else None
        if mode == "reflect" and is_int(size) and p is not None and p >= size:
            self.error(f"reflect padding ({p}) must be less than the input size along {AXES[self.rank][axis]} ({size})", "padding")
        if mode == "circular" and is_int(size) and p is not None and p > size:
            self.error(f"circular padding ({p}) must be at most the input size along {AXES[self.rank][axis]} ({size})", "padding")

    def explain_shape(self, x, y):
        from .. import explain as ex

        k, s, d = self.kernel()
        spatial = x[-self.rank:]
        return [ex.window(AXES[self.rank][i], spatial[i], k[i], s[i], pads, d[i], y[-self.rank + i])
                for i, pads in enumerate(self.pads())]

    def explain_cost(self, x, y):
        from .. import explain as ex

        _, c_in, _, groups, _ = self.setup(x)
        k = self.kernel()[0]
        per_group = ex.term(c_in) if is_int(groups) and groups == 1 else f"({ex.term(c_in)}/{ex.term(groups)})"
        fan = "·".join([per_group] + [ex.term(v) for v in k])
        outs = ex.times(*y)
        bias = " + 1" if self.has_bias else ""
        return [ex.Step("MACs", f"{outs} outputs · {fan} fan-in", self.macs(x, y)),
                ex.Step("FLOPs", f"{outs}·(2·{fan} − 1{bias})", self.flops(x, y))]

    def fan_in(self, x):
        _, c_in, _, groups, _ = self.setup(x)
        return exact_div(c_in, groups) * prod(self.kernel()[0])

    def parameters(self, x):
        _, c_in, c_out, groups, _ = self.setup(x)
        params = {"weight": (c_out, exact_div(c_in, groups), *self.kernel()[0])}
        if self.has_bias:
            params["bias"] = (c_out,)
        return params

    def macs(self, x, y):
        return times(self.fan_in(x), numel(y))

    def flops(self, x, y):
        return times(2 * self.fan_in(x) - 1 + int(self.has_bias), numel(y))

    def receptive_field(self, field):
        if field is None:
            return None
        k, s, d = self.kernel()
        return field.window(k, s, [p[0] for p in self.pads()], d)


CONV_FIRST_ARGS = ("in_channels", "out_channels", "kernel_size")  # nn.ConvNd's positional arguments


class DepthwiseConvNd(ConvNd):
    """netcalc's ``DepthwiseConvNd``: ``ConvNd(C, C*depth_multiplier, k, groups=C)``."""

    TYPE = "DepthwiseConv{}d"
    ARGS = (Arg("in_channels", None), Arg("kernel_size", kind="axes"), Arg("stride", 1, "axes"),
            Arg("padding", 0, "padding"), Arg("dilation", 1, "axes"), Arg("depth_multiplier", 1),
            Arg("bias", True, "bool"), Arg("padding_mode", "zeros", "choice", PADDING_MODES))

    def validate(self):
        self.args["groups"] = 1  # fixed per input in channels()
        super().validate()
        self.check_positive(self.args["depth_multiplier"], "depth_multiplier", "depth_multiplier")

    def channels(self, c_in):
        self.check_width("in_channels", self.args["in_channels"], c_in, "the incoming channels")
        return c_in, c_in * self.args["depth_multiplier"], c_in

    def torch_ctor(self, x):
        a, c = self.args, x[-self.rank - 1]
        kw = [(k, axes_value(a[k]), d) for k, d in (("stride", 1), ("padding", 0), ("dilation", 1))
              if axes_value(a[k]) != d]
        kw.append(("groups", c, 1))
        if not a["bias"]:
            kw.append(("bias", False, True))
        if a["padding_mode"] != "zeros":
            kw.append(("padding_mode", a["padding_mode"], "zeros"))
        return f"nn.Conv{self.rank}d", [c, c * a["depth_multiplier"], axes_value(a["kernel_size"])], kw, CONV_FIRST_ARGS


class PointwiseConvNd(ConvNd):
    """netcalc's ``PointwiseConvNd``: a 1×1 ``ConvNd(C, out_channels, 1)``."""

    TYPE = "PointwiseConv{}d"
    ARGS = (Arg("in_channels", None), Arg("out_channels"), Arg("bias", True, "bool"))

    def validate(self):
        one = (1,) * self.rank
        self.args.update(kernel_size=one, stride=one, dilation=one, padding=(0,) * self.rank, groups=1)

    def torch_ctor(self, x):
        return f"nn.Conv{self.rank}d", [x[-self.rank - 1], self.args["out_channels"], 1], \
            [] if self.args["bias"] else [("bias", False, True)], CONV_FIRST_ARGS


class ConvTransposeNd(Windowed):
    MEASURED_MACS = True
    SAVES = ("input",)
    """``torch.nn.ConvTransposeNd``: ``out = (L-1)s - 2p + d(k-1) + output_padding + 1`` per axis.

    weight ``(C_in, C_out/groups, *k)``, bias ``(C_out,)``;
    MACs = input elements × C_out/groups × prod(k); FLOPs = 2·MACs (+ output elements with bias).
    """
    AUTOCAST, KEEPS_WEIGHT = True, True  # a convolution's backward keeps its input and its weight

    TYPE = "ConvTranspose{}d"
    FAMILY, LAYOUT = "tconv", "cf"
    ARGS = (Arg("in_channels", None), Arg("out_channels"), Arg("kernel_size", kind="axes"),
            Arg("stride", 1, "axes"), Arg("padding", 0, "axes"), Arg("output_padding", 0, "axes_or_auto"),
            Arg("groups", 1), Arg("bias", True, "bool"), Arg("dilation", 1, "axes"),
            Arg("padding_mode", "zeros", "choice", PADDING_MODES))

    def validate(self):
        a = self.args
        self.check_window_args(nonneg=("padding", "output_padding"))
        self.check_positive(a["groups"], "groups", "groups")
        if a["padding_mode"] != "zeros":
            self.error(f'only "zeros" padding mode is supported for {self.TYPE}', "padding_mode")
        if a["output_padding"] == "auto":
            return  # chosen later by fit_output_padding
        for op, s, d in zip(a["output_padding"], a["stride"], a["dilation"]):
            if all(is_int(v) for v in (op, s, d)) and op >= max(s, d):
                self.error(f"output_padding ({op}) must be smaller than either stride ({s}) or dilation ({d})",
                           "output_padding")

    def resampling(self) -> int:
        return -super().resampling()

    def fit_output_padding(self, x, target):
        """Choose ``output_padding`` so the spatial output equals ``target`` (``output_padding: auto``).

        Returns None when it worked, else a sentence saying why not and which padding would work.
        """
        a = self.args
        _, _, spatial = self.split(x)
        chosen, problems = [], {}
        for i, (L, t) in enumerate(zip(spatial, target)):
            k, s, p, d = a["kernel_size"][i], a["stride"][i], a["padding"][i], a["dilation"][i]
            op = output_padding_to_reach(L, t, k, s, p, d)
            chosen.append(op)
            if not (is_int(op) and all(is_int(v) for v in (s, d))):
                continue
            if not 0 <= op < max(s, d):
                axis = AXES[self.rank][i]
                fix = transposed_padding_fix(L, t, k, s, d) if all(is_int(v) for v in (L, t, k)) else None
                how = (f"padding={fix[0]} with output_padding={fix[1]} would" if fix else
                       "no padding can; change kernel_size or stride")
                problem = (f"the output must grow from {to_text(L)} to {to_text(t)}, which needs "
                           f"output_padding={to_text(op)}, but it must be in [0, {max(s, d)}) "
                           f"(less than max(stride, dilation)); {how}")
                problems.setdefault(problem, []).append(axis)
        if problems:
            return "; ".join(f"along {' and '.join(axes)} {p}" for p, axes in problems.items())
        a["output_padding"] = tuple(chosen)
        return None

    def setup(self, x):
        lead, c, spatial = self.split(x)
        a = self.args
        if a["output_padding"] == "auto":
            self.error("output_padding: auto needs a layer to match: give match: <layer name>, or mirror an "
                       "earlier strided layer", "output_padding")
        self.check_width("in_channels", a["in_channels"], c, "the incoming channels")
        self.check_positive(a["out_channels"], "out_channels", "out_channels")
        for key, v in (("in_channels", c), ("out_channels", a["out_channels"])):
            if is_int(v) and is_int(a["groups"]) and v % a["groups"]:
                self.error(f"{key} ({v}) must be divisible by groups ({a['groups']})", "groups")
        return lead, c, a["out_channels"], a["groups"], spatial

    def output_shape(self, x):
        lead, _, c_out, _, spatial = self.setup(x)
        a = self.args
        out = []
        for i, L in enumerate(spatial):
            o = transposed_out(L, a["kernel_size"][i], a["stride"][i], a["padding"][i], a["dilation"][i],
                               a["output_padding"][i])
            if known_positive(o) is False:
                self.error(f"output size along {AXES[self.rank][i]} is {to_text(o)} = ({to_text(L)} - 1)*{a['stride'][i]} "
                           f"- 2*{a['padding'][i]} + {a['dilation'][i]}*({a['kernel_size'][i]} - 1) + "
                           f"{a['output_padding'][i]} + 1; reduce the padding", "padding")
            out.append(o)
        return (*lead, c_out, *out)

    def explain_shape(self, x, y):
        from .. import explain as ex

        a = self.args
        spatial = x[-self.rank:]
        return [ex.transposed(AXES[self.rank][i], spatial[i], a["kernel_size"][i], a["stride"][i], a["padding"][i],
                              a["dilation"][i], a["output_padding"][i], y[-self.rank + i]) for i in range(self.rank)]

    def explain_cost(self, x, y):
        from .. import explain as ex

        _, _, c_out, groups, _ = self.setup(x)
        per_group = ex.term(c_out) if is_int(groups) and groups == 1 else f"({ex.term(c_out)}/{ex.term(groups)})"
        k = "·".join(ex.term(v) for v in self.args["kernel_size"])
        bias = f" + {ex.times(*y)}" if self.has_bias else ""
        return [ex.Step("MACs", f"{ex.times(*x)} inputs · {per_group}·{k}", self.macs(x, y)),
                ex.Step("FLOPs", f"2·{ex.num(self.macs(x, y)).replace(',', '')}{bias}", self.flops(x, y))]

    def parameters(self, x):
        _, c_in, c_out, groups, _ = self.setup(x)
        params = {"weight": (c_in, exact_div(c_out, groups), *self.args["kernel_size"])}
        if self.has_bias:
            params["bias"] = (c_out,)
        return params

    def macs(self, x, y):
        _, _, c_out, groups, _ = self.setup(x)
        return numel(x) * exact_div(c_out, groups) * prod(self.args["kernel_size"])

    def flops(self, x, y):
        return 2 * self.macs(x, y) + (numel(y) if self.has_bias else 0)

    def receptive_field(self, field):
        if field is None:
            return None
        a = self.args
        return field.transposed(a["kernel_size"], a["stride"], a["padding"], a["dilation"])


for _base in (ConvNd, DepthwiseConvNd, PointwiseConvNd, ConvTransposeNd):
    ranked(_base)

__all__ = ["ConvNd", "DepthwiseConvNd", "PointwiseConvNd", "ConvTransposeNd", "Windowed", "AXES", "fmt_shape"]


class Blocks(Windowed):
    """The sliding blocks of a 2-D window (``torch.nn.Unfold``/``Fold``): per axis
    ``blocks = ⌊(L + 2p − d(k−1) − 1)/s⌋ + 1``, as a convolution's output; moving data costs nothing."""

    FAMILY, LAYOUT = "tensor", "seq"
    SAVES = ()  # moving blocks of data: the backward needs only the sizes
    rank = 2
    WINDOW = (Arg("kernel_size", kind="axes"), Arg("dilation", 1, "axes"), Arg("padding", 0, "axes"),
              Arg("stride", 1, "axes"))

    def validate(self):
        self.check_window_args()

    def blocks(self, spatial) -> tuple:
        a, out = self.args, []
        for i, L in enumerate(spatial):
            pads = (a["padding"][i], a["padding"][i])
            o = window_out(L, a["kernel_size"][i], a["stride"][i], pads, a["dilation"][i])
            self.check_out(o, L, a["kernel_size"][i], a["stride"][i], pads, a["dilation"][i], i)
            out.append(o)
        return tuple(out)


@register
class Unfold(Blocks):
    """``torch.nn.Unfold``: ``(N, C, H, W)`` (or unbatched ``(C, H, W)``) → ``(N, C·∏k, L)`` with
    ``L = ∏ blocks`` (:class:`Blocks`): every block's ``C·∏k`` values as a column."""

    TYPE = "Unfold"
    ARGS = Blocks.WINDOW

    def output_shape(self, x):
        lead, c, spatial = self.split(x)
        return (*lead, c * prod(self.args["kernel_size"]), prod(self.blocks(spatial)))


@register
class Fold(Blocks):
    """``torch.nn.Fold``: ``(N, C·∏k, L)`` (or unbatched ``(C·∏k, L)``) → ``(N, C, *output_size)``, the
    inverse of Unfold: ``L`` must be the number of blocks of ``output_size`` (:class:`Blocks`) and the
    channels a multiple of ``∏k``; overlapping values are summed (not counted as FLOPs)."""

    TYPE = "Fold"
    FAMILY, LAYOUT = "tensor", "cf"
    ARGS = (Arg("output_size", kind="axes"),) + Blocks.WINDOW

    def validate(self):
        self.check_window_args(positive=("output_size", "kernel_size", "stride", "dilation"))

    def output_shape(self, x):
        self.check_ndim(x, (2, 3), "(N, C·∏kernel_size, L) or unbatched (C·∏kernel_size, L)")
        a = self.args
        window = prod(a["kernel_size"])
        channels = x[-2]
        if is_int(channels) and is_int(window) and channels % window:
            self.error(f"the incoming channels ({channels}) must be a multiple of ∏kernel_size ({window})",
                       "kernel_size")
        blocks = prod(self.blocks(a["output_size"]))
        if is_int(blocks) and is_int(x[-1]) and blocks != x[-1]:
            self.error(f"output_size {fmt_shape(a['output_size'])} has {blocks} blocks, but the input has "
                       f"L = {x[-1]}", "output_size")
        return (*x[:-2], exact_div(channels, window), *a["output_size"])
