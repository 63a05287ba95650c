"""Pooling: MaxPoolNd, AvgPoolNd, LPPoolNd, AdaptiveAvgPoolNd, AdaptiveMaxPoolNd, FractionalMaxPoolNd,
and MaxUnpoolNd, which puts a max pool's values back where its indices say.

FLOP convention (no MACs: pooling has no weights): a max window costs ``window - 1``
comparisons per output element; an average or power-average window ``window`` operations
(``window - 1`` additions and one division); adaptive pools one operation per input element.
"""

from __future__ import annotations

from ..arith import window_out
from ..symbolic import is_int, known_positive, prod, same, times, to_text
from .base import Arg, fmt_shape, numel
from .conv import Windowed
from .registry import ranked


class PoolNd(Windowed):
    """Shared rules of the fixed-window pools (``torch.nn.MaxPoolNd`` and friends).

    ``out = ⌊(L + 2p - d(k-1) - 1 [+ s - 1 if ceil_mode])/s⌋ + 1``, less one when ceil_mode
    would start the last window past the input and left padding.
    """

    FAMILY, LAYOUT = "pool", "cf"
    DEFAULT_FROM = {"stride": "kernel_size"}  # torch: stride=None means the kernel size

    AVERAGES = False  # average and power-average pools: 3-D ones need the kernel to fit the input

    def runs_float32(self, x):
        """CPU autocast runs the 3-D pools in float32 (LPPool3d: its average pool of x**p)."""
        return self.rank == 3

    def validate(self):
        a = self.args
        if a.get("stride") is None:
            a["stride"] = a["kernel_size"]
        a.setdefault("padding", (0,) * self.rank)
        a.setdefault("dilation", (1,) * self.rank)
        self.check_window_args()
        for p, k in zip(a["padding"], a["kernel_size"]):
            if is_int(p) and is_int(k) and p > k // 2:
                self.error(f"padding ({p}) must be at most half of kernel_size ({k})", "padding")

    def output_shape(self, x):
        lead, c, spatial = self.split(x)
        a = self.args
        out = []
        for i, L in enumerate(spatial):
            pads = (a["padding"][i], a["padding"][i])
            o = window_out(L, a["kernel_size"][i], a["stride"][i], pads, a["dilation"][i], a.get("ceil_mode", False))
            self.check_out(o, L, a["kernel_size"][i], a["stride"][i], pads, a["dilation"][i], i)
            out.append(o)
        if self.AVERAGES and self.rank == 3:  # torch's avg_pool3d: the kernel must fit, padding aside
            for L, k in zip(spatial, a["kernel_size"]):
                if is_int(L) and is_int(k) and L < k:
                    self.error(f"input {fmt_shape(spatial)} is smaller than kernel_size {fmt_shape(a['kernel_size'])} "
                               "(3-D average pooling does not count the padding here)", "kernel_size")
        return (*lead, c, *out)

    def explain_shape(self, x, y):
        from .. import explain as ex
        from .conv import AXES

        a = self.args
        spatial = x[-self.rank:]
        return [ex.window(AXES[self.rank][i], spatial[i], a["kernel_size"][i], a["stride"][i], a["padding"][i],
                          a["dilation"][i], y[-self.rank + i], a.get("ceil_mode", False)) for i in range(self.rank)]

    def warnings(self, x):
        a = self.args
        if a.get("ceil_mode"):
            return []
        return self.dropped_warnings(x, [(a["kernel_size"][i], a["stride"][i], (a["padding"][i], a["padding"][i]),
                                          a["dilation"][i]) for i in range(self.rank)])

    def window_size(self):
        return prod(self.args["kernel_size"])

    @classmethod
    def args_from_call(cls, bound, x, y):
        if bound.get("return_indices"):
            raise ValueError("max pooling with return_indices (a tuple); netcalc follows one tensor")
        return super().args_from_call(bound, x, y)

    def flops(self, x, y):
        return times(self.window_size(), numel(y))

    def receptive_field(self, field):
        if field is None:
            return None
        a = self.args
        return field.window(a["kernel_size"], a["stride"], a["padding"], a["dilation"])


class MaxPoolNd(PoolNd):
    __doc__ = PoolNd.__doc__
    TYPE = "MaxPool{}d"
    TORCH_FUNCTIONS = ("F.max_pool{}d", "torch.max_pool{}d")
    ARGS = (Arg("kernel_size", kind="axes"), Arg("stride", None, "axes"), Arg("padding", 0, "axes"),
            Arg("dilation", 1, "axes"), Arg("return_indices", False, "bool"), Arg("ceil_mode", False, "bool"))

    def flops(self, x, y):
        return times(self.window_size() - 1, numel(y))

    def saved(self, x, y):
        return [self.kept_input(x), (y, "int64")]  # and the argmax of every window

    def runs_float32(self, x):
        """CPU autocast runs max_pool3d in float32, but not max_pool3d_with_indices (return_indices)."""
        return self.rank == 3 and not self.args["return_indices"]

    def named_outputs(self, x):
        """With ``return_indices: true``, ``NAME.indices``: the argmax of every window (MaxUnpool's
        ``indices:``), the output's shape."""
        return {f"{self.name}.indices": self.output_shape(x)} if self.args["return_indices"] else {}


class MaxUnpoolNd(PoolNd):
    """``torch.nn.MaxUnpoolNd``: the input's values put back at ``indices: NAME`` (a MaxPool's
    ``NAME.indices`` with ``return_indices: true``, of the input's shape), zeros elsewhere.

    ``out = (L - 1)·s - 2p + k`` per axis (stride defaults to kernel_size), or ``output_size``,
    which torch accepts within ``s - 1`` of that. No MACs or FLOPs (a scatter). No receptive
    field: which output unit an input unit lands on depends on the indices, that is on the data."""

    TYPE = "MaxUnpool{}d"
    FAMILY = "tconv"
    ARGS = (Arg("kernel_size", kind="axes"), Arg("stride", None, "axes"), Arg("padding", 0, "axes"),
            Arg("indices", kind="tensor"), Arg("output_size", None, "dims"))
    FORWARD = "{m}({x}, {indices})"

    def validate(self):
        a = self.args
        if a.get("stride") is None:
            a["stride"] = a["kernel_size"]
        self.check_window_args(nonneg=("padding",))

    def output_shape(self, x):
        lead, c, spatial = self.split(x)
        indices = self.tensors["indices"]
        if len(indices) != len(x) or not all(same(p, q) for p, q in zip(indices, x)):
            self.error(f"indices {fmt_shape(indices)} must have the input's shape {fmt_shape(x)}", "indices")
        a = self.args
        default = [(L - 1) * s - 2 * p + k for L, k, s, p in zip(spatial, a["kernel_size"], a["stride"], a["padding"])]
        for d, L in zip(default, spatial):
            if known_positive(d) is False:
                self.error(f"the output would have size {to_text(d)} (from input {fmt_shape(spatial)}); a larger "
                           "input or kernel, or less padding, is needed", "padding")
        wanted = a["output_size"]
        if wanted is None:
            return (*lead, c, *default)
        if len(wanted) == self.rank + 2:
            wanted = wanted[2:]
        if len(wanted) != self.rank:
            self.error(f"output_size must have {self.rank} or {self.rank + 2} entries, got {len(wanted)}", "output_size")
        for size, d, s in zip(wanted, default, a["stride"]):
            if is_int(size) and is_int(d) and is_int(s) and not d - s < size < d + s:
                self.error(f"output_size {to_text(size)} is not within {to_text(s)} - 1 of {to_text(d)} (from the "
                           f"input, kernel, stride and padding)", "output_size")
        return (*lead, c, *wanted)

    def resampling(self) -> int:
        return -1 if any(is_int(s) and s > 1 for s in self.args["stride"]) else 0

    def warnings(self, x):
        return []

    def explain_shape(self, x, y):
        return []

    def flops(self, x, y):
        return 0

    def receptive_field(self, field):
        return None

    def saved(self, x, y):
        return []  # its backward gathers at the indices, which the MaxPool that made them saved already

    def runs_float32(self, x):
        return True  # CPU autocast runs max_unpool2d and 3d (1-D is 2-D) in float32


class AvgPoolNd(PoolNd):
    __doc__ = PoolNd.__doc__
    TYPE = "AvgPool{}d"
    SAVES = ("input",)

    def saved(self, x, y):
        return [self.kept_input(x)]
    TORCH_FUNCTIONS = ("F.avg_pool{}d", "torch.avg_pool{}d")
    ARGS = (Arg("kernel_size", kind="axes"), Arg("stride", None, "axes"), Arg("padding", 0, "axes"),
            Arg("ceil_mode", False, "bool"), Arg("count_include_pad", True, "bool"),
            Arg("divisor_override", None))
    AVERAGES = True

    def validate(self):
        super().validate()
        d = self.args.get("divisor_override")  # AvgPool1d has none
        if d is not None and is_int(d) and d == 0:
            self.error("divisor_override must be non-zero", "divisor_override")


class AvgPool1d(AvgPoolNd):
    __doc__ = PoolNd.__doc__
    TYPE = "AvgPool1d"
    rank = 1
    ARGS = AvgPoolNd.ARGS[:-1]  # no divisor_override in 1-D


class LPPoolNd(PoolNd):
    __doc__ = PoolNd.__doc__
    TYPE = "LPPool{}d"
    ARGS = (Arg("norm_type", kind="float"), Arg("kernel_size", kind="axes"), Arg("stride", None, "axes"),
            Arg("ceil_mode", False, "bool"))
    AVERAGES = True  # an average pool of x**p underneath

    def saved(self, x, y):
        """torch's lp_pool: the input (for x**p), x**p (the average pool's input), and four tensors of
        the output's size: the average, its relu and sign, and their product (for the last pow)."""
        return ["input", (x, "act")] + [(y, "act")] * 4


class AdaptivePoolNd(Windowed):
    """``torch.nn.AdaptiveAvgPoolNd``/``AdaptiveMaxPoolNd``: output ``(N, C, *output_size)``;
    a ``null`` entry keeps that input size."""

    FAMILY, LAYOUT = "pool", "cf"
    ARGS = (Arg("output_size", kind="dims"),)
    NULL_ENTRIES = ("output_size",)

    def validate(self):
        size = self.args["output_size"]
        if len(size) == 1:
            size = size * self.rank
        if len(size) != self.rank:
            self.error(f"output_size needs {self.rank} values, got {len(size)}", "output_size")
        for v in size:
            if v is not None and is_int(v) and v < 1:
                self.error(f"output_size entries must be at least 1, got {v}", "output_size")
        self.args["output_size"] = size

    def output_shape(self, x):
        lead, c, spatial = self.split(x)
        out = tuple(L if o is None else o for o, L in zip(self.args["output_size"], spatial))
        return (*lead, c, *out)

    def flops(self, x, y):
        return numel(x)

    def receptive_field(self, field):
        return None


class AdaptiveAvgPoolNd(AdaptivePoolNd):
    __doc__ = AdaptivePoolNd.__doc__
    TYPE = "AdaptiveAvgPool{}d"

    def saved(self, x, y):
        # a global average is torch's mean, which needs only the sizes; other outputs keep the input
        return [] if self.global_mean(y) else [self.kept_input(x)]

    def global_mean(self, y):
        return all(is_int(o) and o == 1 for o in y[-self.rank:])

    def runs_float32(self, x):
        """CPU autocast runs adaptive_avg_pool3d in float32, a global average (a mean inside) too."""
        return self.rank == 3
    TORCH_FUNCTIONS = ("F.adaptive_avg_pool{}d", "torch.adaptive_avg_pool{}d")

    def output_shape(self, x):
        # torch takes a global average (every output size 1, 2-D and 3-D pools) as a mean over the
        # last `rank` dims of an input of any rank; an output_size list needs more than `rank` dims
        size = self.args["output_size"]
        listed = isinstance(self.entry.args.get("output_size"), list)  # torch: a list needs more dims
        if self.rank > 1 and len(x) >= self.rank + listed:
            out = tuple(L if o is None else o for o, L in zip(size, x[-self.rank:]))
            if all(is_int(o) and o == 1 for o in out):
                return (*x[:-self.rank], *out)
        return super().output_shape(x)


class AdaptiveMaxPoolNd(AdaptivePoolNd):
    __doc__ = AdaptivePoolNd.__doc__
    TYPE = "AdaptiveMaxPool{}d"

    def saved(self, x, y):
        return [self.kept_input(x), (y, "int64")]

    def runs_float32(self, x):
        return self.rank == 3  # under autocast (CPU autocast's float32 list)
    TORCH_FUNCTIONS = ("F.adaptive_max_pool{}d",)
    ARGS = (Arg("output_size", kind="dims"), Arg("return_indices", False, "bool"))


class FractionalMaxPoolNd(Windowed):
    """``torch.nn.FractionalMaxPoolNd`` (2-D, 3-D): max over windows of ``kernel_size`` at pseudo-random
    steps; the output is ``output_size``, or ``int(L · output_ratio)`` per axis (``0 < ratio < 1``).
    torch needs ``out + k − 1 ≤ L`` (2-D) or ``< L`` (3-D). ``window − 1`` comparisons per output
    element; the windows' random positions give no receptive field."""

    TYPE = "FractionalMaxPool{}d"
    FAMILY, LAYOUT = "pool", "cf"
    ARGS = (Arg("kernel_size", kind="axes"), Arg("output_size", None, "axes"), Arg("output_ratio", None, "any"),
            Arg("return_indices", False, "bool"))

    def saved(self, x, y):
        """The input and the argmax indices (int64), as a max pool."""
        return [self.kept_input(x), (y, "int64")]

    def runs_float32(self, x):
        return True  # under autocast (CPU autocast's float32 list)

    def validate(self):
        a = self.args
        self.check_window_args(positive=("kernel_size", "output_size"), nonneg=())
        if (a["output_size"] is None) == (a["output_ratio"] is None):
            self.error("give exactly one of output_size and output_ratio" if a["output_size"] is not None else
                       f"{self.TYPE} needs output_size or output_ratio", "output_ratio")
        ratio = a["output_ratio"]
        if ratio is not None:
            ratios = ratio if isinstance(ratio, list) else [ratio] * self.rank
            if len(ratios) != self.rank or not all(
                    isinstance(r, (int, float)) and not isinstance(r, bool) and 0 < r < 1 for r in ratios):
                self.error(f"output_ratio must be a number between 0 and 1 (or {self.rank} of them), "
                           f"got {ratio!r}", "output_ratio")
            a["output_ratio"] = tuple(float(r) for r in ratios)

    def output_shape(self, x):
        lead, c, spatial = self.split(x)
        a = self.args
        if a["output_size"] is not None:
            out = a["output_size"]
        else:
            out = tuple(self._scaled(L, r) for L, r in zip(spatial, a["output_ratio"]))
        for i, (o, k, L) in enumerate(zip(out, a["kernel_size"], spatial)):
            if is_int(o) and o < 1:
                self.error(f"output size along axis {i} is {o}: int({L} · {a['output_ratio'][i]}) leaves nothing",
                           "output_ratio")
            reach = o + k - 1
            if is_int(reach) and is_int(L) and (reach > L if self.rank == 2 else reach >= L):
                self.error(f"kernel_size {k} is too large for input size {L} with output size {o} "
                           f"(torch needs out + k − 1 {'≤' if self.rank == 2 else '<'} L)", "kernel_size")
        return (*lead, c, *out)

    def _scaled(self, size, ratio: float):
        if is_int(size):
            return int(size * ratio)
        self.error(f"output_ratio needs a numeric input size, got {size}; give it a value with --set",
                   "output_ratio")

    def flops(self, x, y):
        return numel(y) * (prod(self.args["kernel_size"]) - 1)

    def receptive_field(self, field):
        return None


ranked(FractionalMaxPoolNd, 2, 3)
ranked(MaxPoolNd)
ranked(MaxUnpoolNd)
ranked(AvgPoolNd, 2, 3)
ranked(AvgPool1d, 1)
ranked(LPPoolNd)
ranked(AdaptiveAvgPoolNd)
ranked(AdaptiveMaxPoolNd)

