"""Normalisation layers: BatchNormNd, InstanceNormNd, LayerNorm, GroupNorm, RMSNorm, LocalResponseNorm.

FLOP convention, per element: BatchNorm (running statistics, inference) 2 to normalise;
LayerNorm, GroupNorm, InstanceNorm 5 (mean: add; variance: subtract, square, add; scale);
RMSNorm 3 (square, add, scale); then +1 for the weight γ and +1 for the bias β when present.
LocalResponseNorm ``size + 3``. Norms have no MACs.
"""

from __future__ import annotations

from ..symbolic import is_int, prod, same
from .base import Arg, Layer, fmt_shape, numel
from .registry import ranked, register

EPS = Arg("eps", 1e-5, "float")


class Norm(Layer):
    FAMILY = "norm"
    PASS_RF = True
    NORMALIZE_COST = 5

    def affine_shape(self, x):
        """Shape of γ and β, or None when the layer has no affine parameters."""
        raise NotImplementedError

    def has_weight(self):
        return self.args.get("affine", self.args.get("elementwise_affine", True))

    def parameters(self, x):
        shape = self.affine_shape(x)
        if not self.has_weight():
            return {}
        p = {"weight": shape}
        if self.args.get("bias", True):
            p["bias"] = shape
        return p

    def flops(self, x, y):
        cost = self.NORMALIZE_COST + len(self.parameters(x))
        return cost * numel(y)


class BatchNormNd(Norm):
    """``torch.nn.BatchNormNd``: ``(N, C, *)``; weight and bias ``(C,)`` when affine."""

    TYPE = "BatchNorm{}d"
    LAYOUT = "cf"
    NORMALIZE_COST = 2
    ARGS = (Arg("num_features", None), EPS, Arg("momentum", 0.1, "float"), Arg("affine", True, "bool"),
            Arg("track_running_stats", True, "bool"), Arg("bias", True, "bool"))

    def check_rank(self, x):
        self.check_ndim(x, (2, 3) if self.rank == 1 else (self.rank + 2,), "(N, C, ...)")

    def affine_shape(self, x):
        self.check_rank(x)
        if self.args["affine"] or self.args["track_running_stats"]:  # else torch has nothing of that width
            self.check_width("num_features", self.args["num_features"], x[1], "the incoming channels")
        return (x[1],)

    def saved(self, x, y):
        """The input, the batch's mean and inverse std per channel, and the running statistics."""
        stats = 2 + 2 * bool(self.args["track_running_stats"])
        return ["input"] + [((x[1],), "stat")] * stats

    def output_shape(self, x):
        self.affine_shape(x)
        values = x[0] * prod(x[2:])
        if not self.args["track_running_stats"] and is_int(values) and values == 1:
            self.error(f"without running statistics it normalises with the batch's own, but input {fmt_shape(x)} "
                       "has only one value per channel (torch needs more than 1)",
                       "track_running_stats" if "track_running_stats" in self.entry.args else None)
        return x


class InstanceNormNd(Norm):
    """``torch.nn.InstanceNormNd``: ``(N, C, *)`` or unbatched ``(C, *)``; weight and bias ``(C,)`` when affine."""

    TYPE = "InstanceNorm{}d"
    LAYOUT = "cf"
    ARGS = (Arg("num_features", None), EPS, Arg("momentum", 0.1, "float"), Arg("affine", False, "bool"),
            Arg("track_running_stats", False, "bool"), Arg("bias", True, "bool"))

    def input_width(self, arg, x):
        return x[-self.rank - 1] if arg == "num_features" else super().input_width(arg, x)  # (N, C, *) or (C, *)

    def affine_shape(self, x):
        self.check_ndim(x, (self.rank + 1, self.rank + 2), "(N, C, ...) or unbatched (C, ...)")
        c = x[-self.rank - 1]
        if self.args["affine"] or self.args["track_running_stats"]:  # else torch only warns about a mismatch
            self.check_width("num_features", self.args["num_features"], c, "the incoming channels")
        return (c,)

    def saved(self, x, y):
        """BatchNorm over (1, N·C, ...): the input, mean and inverse std per instance and channel, the
        weight repeated per instance when affine, and the running statistics so repeated."""
        a = self.args
        copies = 2 + bool(a["affine"]) + 2 * bool(a["track_running_stats"])
        stat = "stat" if a["affine"] or a["track_running_stats"] else "act"  # float32 beside float32 tensors
        return ["input"] + [((prod(x[:-self.rank]),), stat)] * copies

    def output_shape(self, x):
        self.affine_shape(x)
        spatial = prod(x[-self.rank:])
        if not self.args["track_running_stats"] and is_int(spatial) and spatial == 1:
            self.error(f"normalises each instance over its spatial elements, but input {fmt_shape(x)} has only one "
                       "(torch needs more than 1 without running statistics); feed a larger input or set "
                       "track_running_stats: true",
                       "track_running_stats" if "track_running_stats" in self.entry.args else None)
        return x


ranked(BatchNormNd)
ranked(InstanceNormNd)


@register
class LayerNorm(Norm):
    """``torch.nn.LayerNorm``: normalises the trailing ``normalized_shape`` dims (default: the last);
    weight and bias of that shape."""

    TYPE = "LayerNorm"
    LAYOUT = "seq"
    ARGS = (Arg("normalized_shape", None, "dims"), EPS, Arg("elementwise_affine", True, "bool"), Arg("bias", True, "bool"))

    def affine_shape(self, x):
        shape = self.args["normalized_shape"] or (x[-1:] if x else ())
        n = len(shape)
        if n == 0 or len(x) < n or not all(same(a, b) for a, b in zip(shape, x[len(x) - n:])):
            self.error(f"normalized_shape {fmt_shape(shape)} does not match the trailing dimensions of "
                       f"input {fmt_shape(x)}; omit it to normalise the last dimension", "normalized_shape")
        return tuple(shape)

    def output_shape(self, x):
        self.affine_shape(x)
        return x

    def saved(self, x, y):
        """The input and the mean and rstd of each normalised group (the leading dims)."""
        n = len(self.affine_shape(x))
        stat = "stat" if self.args["elementwise_affine"] else "act"  # under autocast float32 with a weight
        return ["input"] + [((*x[:len(x) - n], *(1,) * n), stat)] * 2


@register
class RMSNorm(LayerNorm):
    """``torch.nn.RMSNorm``: like LayerNorm over the trailing dims, with a weight and no bias."""
    AUTOCAST = False  # under autocast it keeps its input's dtype, computing in float32 (see saved)

    TYPE = "RMSNorm"
    NORMALIZE_COST = 3
    ARGS = (Arg("normalized_shape", None, "dims"), Arg("eps", None, "float"), Arg("elementwise_affine", True, "bool"))

    def parameters(self, x):
        shape = self.affine_shape(x)
        return {"weight": shape} if self.args["elementwise_affine"] else {}

    def saved(self, x, y):
        """torch's composite RMSNorm: the input, the rsqrt of each group, and the normalised input
        (for the weight's gradient)."""
        n = len(self.affine_shape(x))
        rsqrt = (*x[:len(x) - n], *(1,) * n)
        if self.mixed:  # under autocast it computes in float32: a float32 copy of a low-precision input
            first = "input" if self.mixed == "float32" else (x, "float32")
            return [first, (rsqrt, "float32")] + [(x, "float32")] * bool(self.args["elementwise_affine"])
        return ["input", (rsqrt, "act")] + [(x, "act")] * bool(self.args["elementwise_affine"])


@register
class GroupNorm(Norm):
    """``torch.nn.GroupNorm``: ``(N, C, *)``, C divisible by num_groups; weight and bias ``(C,)`` when affine."""

    TYPE = "GroupNorm"
    ARGS = (Arg("num_groups"), Arg("num_channels", None), EPS, Arg("affine", True, "bool"), Arg("bias", True, "bool"))

    def validate(self):
        self.check_positive(self.args["num_groups"], "num_groups", "num_groups")
        n, g = self.args["num_channels"], self.args["num_groups"]
        if is_int(n) and is_int(g) and n % g:
            self.error(f"num_channels ({n}) must be divisible by num_groups ({g})", "num_channels")

    def saved(self, x, y):
        """The input, and the mean and rstd of each instance's groups."""
        stat = "stat" if self.args["affine"] else "act"  # under autocast float32 with a weight
        return ["input"] + [((x[0], self.args["num_groups"]), stat)] * 2

    def affine_shape(self, x):
        if len(x) < 2:
            self.error(f"expects an input (N, C, *) of at least 2 dimensions, got {fmt_shape(x)}")
        c, g = x[1], self.args["num_groups"]
        if self.args["affine"]:  # without γ and β torch never compares num_channels with the input
            self.check_width("num_channels", self.args["num_channels"], c, "the incoming channels")
        if isinstance(c, int) and isinstance(g, int) and c % g:
            self.error(f"num_channels ({c}) must be divisible by num_groups ({g})", "num_groups")
        return (c,)

    def output_shape(self, x):
        c = self.affine_shape(x)[0]
        g = self.args["num_groups"]
        values = x[0] * prod(x[2:])  # torch refuses when (N*C/G) * prod(spatial) is 1
        if is_int(c) and is_int(g) and is_int(values) and values * c // g == 1:
            self.error(f"input {fmt_shape(x)} gives each of the {g} groups only one value to normalise "
                       "(torch needs more than 1)")
        return x


@register
class LocalResponseNorm(Layer):
    """``torch.nn.LocalResponseNorm``: shape-preserving, no parameters; ``size + 3`` FLOPs per element."""

    TYPE = "LocalResponseNorm"
    FAMILY = "norm"
    PASS_RF = True
    ARGS = (Arg("size"), Arg("alpha", 1e-4, "float"), Arg("beta", 0.75, "float"), Arg("k", 1.0, "float"))

    def runs_float32(self, x):
        """Under autocast: from 2-D inputs on torch averages the padded square with avg_pool3d, which
        CPU autocast runs in float32 (so the scale, its power and the output are float32)."""
        return len(x) > 3

    def saved(self, x, y):
        """torch's composite: the input, its square padded across channels (N, 1, C + size − 1, *),
        the averaged scale and the power of it."""
        padded = (x[0], 1, x[1] + self.args["size"] - 1, *x[2:])
        return ["input", (padded, "act"), (x, "act"), (x, "act")]

    def validate(self):
        self.check_positive(self.args["size"], "size", "size")

    def output_shape(self, x):
        if len(x) < 3:
            self.error(f"expects an input of 3 or more dimensions, got {fmt_shape(x)}")
        return x

    def flops(self, x, y):
        return (self.args["size"] + 3) * numel(y)




@register
class SyncBatchNorm(BatchNormNd):
    """``torch.nn.SyncBatchNorm``: BatchNorm over ``(N, C, *)`` of any rank from 2 up, its statistics
    shared across processes when training; in one process it computes exactly BatchNorm."""

    TYPE = "SyncBatchNorm"
    rank = 0

    def check_rank(self, x):
        if len(x) < 2:
            self.error(f"expects an input of 2 or more dimensions (N, C, *), got {fmt_shape(x)}")


@register
class CrossMapLRN2d(LocalResponseNorm):
    """``torch.nn.CrossMapLRN2d``: LocalResponseNorm across channels of a 4-D ``(N, C, H, W)`` input
    (the legacy Lua-torch layer); shape-preserving, no parameters, ``size + 3`` FLOPs per element."""

    TYPE = "CrossMapLRN2d"

    def runs_float32(self, x):
        return False  # its own autograd Function, in its input's dtype under autocast

    def saved(self, x, y):
        """Its autograd Function saves its input and its output."""
        return ["input", "output"]
    LAYOUT = "cf"

    def output_shape(self, x):
        if len(x) != 4:
            self.error(f"expects a 4-D input (N, C, H, W), got {fmt_shape(x)}")
        return x
