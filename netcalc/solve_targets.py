"""What ``netcalc solve`` knows of a layer's output before searching: targets ``(lo, hi, src[, div])``
per dimension, carried back from every ``expect:`` through the layers whose arguments are known
(window pre-images from :mod:`netcalc.arith`), through merges (a residual's inputs line up, a
concat's known branches leave the rest), and from a symbol's later widths. The mixin
:class:`Targets` is part of :class:`netcalc.solver.Solver`."""

from __future__ import annotations

from math import gcd

from .arith import transposed_size_range, window_size_range
from .layers.base import INPUT_WIDTHS, REQUIRED
from .layers.linear import Flatten
from .symbolic import is_int


def meet_dim(a, b):
    if a is None:
        return b
    if b is None:
        return a
    lo = max(a[0], b[0])
    hi = a[1] if b[1] is None else b[1] if a[1] is None else min(a[1], b[1])
    div = [x[3] for x in (a, b) if len(x) > 3 and x[3]]
    src = a[2] if a[0] >= b[0] else b[2]
    return (lo, hi, src, gcd(*div)) if div else (lo, hi, src)


def meet(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None:
        return b
    if b is None or len(a) != len(b):
        return a
    return tuple(meet_dim(p, q) for p, q in zip(a, b))


def hi_of(t):
    """A target's upper end, infinity when it has none."""
    return t[1] if t[1] is not None else float("inf")


# input widths a layer may state, which solve takes from the incoming shape: the layers' own list
# but normalized_shape (several dims), and attention's key and value widths
WIDTH_ARGS = tuple(w for w in INPUT_WIDTHS if w != "normalized_shape") + ("kdim", "vdim")


def is_name(raw) -> bool:
    return isinstance(raw, str) and raw.isidentifier() and raw != "_"


class Targets:
    """Solver methods that compute targets (see the module's docstring)."""

    def expect_target(self, site, values, src=None) -> tuple | None:
        """The layer's ``expect`` as a target: ((v, v, src) | None per dim), or None."""
        if site.entry.expect is None:
            return None
        out = []
        for w in site.entry.expect:
            v = self.read_int(w, values)
            out.append(None if v is None else (v, v, src or site.name))
        return tuple(out)

    def backward(self):
        """Carry every ``expect`` back through the layers whose arguments are known. A tensor that
        several layers read must meet each one's target."""
        targets: dict[int, tuple | None] = {}  # position (-1: the input) → target for that output
        groups: dict[int, list] = {}
        readers: dict[int, int] = {}
        for site in self.sites:
            for src in site.sources:
                readers[src] = readers.get(src, 0) + 1
        ties: dict[int, list] = {}  # position → [(merge, k, peer position, layers between)], see tie_target
        for site in reversed(self.sites):
            pos = site.index - 1
            site.later = targets.get(pos)
            site.groups = groups.get(pos, []) if readers.get(pos) == 1 else []
            site.ties = [t for t in ties.get(pos, []) if t[2] < pos]  # the peer is known when the site is reached
            own = self.expect_target(site, self.values) if site.entry is not None else None
            t_out = meet(own, site.later)
            self.bound_symbol(site, t_out)
            if site.op is None:
                passed = [(site.sources[0], self.preimage(site, t_out), self.group_preimage(site, t_out, site.groups))]
                ties.setdefault(site.sources[0], []).extend(
                    (merge, k, peer, [*between, site]) for merge, k, peer, between in ties.get(pos, []))
            else:
                passed = [(src, meet(self.merge_preimage(site, t_out, k), self.merge_known(site, k, t_out)), [])
                          for k, src in enumerate(site.sources)]
                for k, src in enumerate(site.sources):  # the other inputs of a merge must line up with this one
                    ties.setdefault(src, []).extend((site, k, peer, []) for peer in site.sources if peer != src)
            for src, t, g in passed:
                targets[src] = meet(targets[src], t) if src in targets else t
                groups[src] = g
        self.input_target = targets.get(-1)

    def merge_known(self, site, k: int, t_out) -> tuple | None:
        """The dims of a merge's ``k``-th input that its other inputs fix whatever the unknowns are
        (a residual's main branch ending in a conv of 32 channels makes its input 32 channels; a
        concat of 15 channels with a 3-channel branch makes the other branch 12)."""
        if site.op not in ("Add", "Concat"):
            return None
        shapes = [self.sites[src].shape if src >= 0 else None for j, src in enumerate(site.sources) if j != k]
        n = len(self.sites[site.sources[k]].shape or ()) if site.sources[k] >= 0 else site.ndim_in
        out = [None] * (n or 0)
        for shape in shapes:
            if shape is None or len(shape) != len(out):
                continue
            for i, v in enumerate(shape):
                if is_int(v) and i != site.dim:
                    out[i] = (v, v, site.name)
        d = site.dim
        if (site.op == "Concat" and d is not None and d < len(out) and t_out is not None and d < len(t_out)
                and t_out[d] is not None and all(sh is not None and d < len(sh) for sh in shapes)):
            # the others' sizes along dim: known, or at least 1 (netcalc has no empty tensors)
            known = all(is_int(sh[d]) for sh in shapes)
            least = sum(sh[d] if is_int(sh[d]) else 1 for sh in shapes)
            lo = t_out[d][0] - least if known else 1
            hi = None if t_out[d][1] is None else t_out[d][1] - least
            out[d] = (max(lo, 1), hi, t_out[d][2])
        return tuple(out) if any(t is not None for t in out) else None

    def tie_target(self, site, x, path) -> tuple | None:
        """What the merges further on need of the site's output, now that the tensors they join it
        with are known: a residual's main branch must end in the shape of its input, carried back
        through the layers after the site whose arguments are known."""
        out = None
        for merge, k, peer, between in site.ties:
            shape = path[peer][3] if peer >= 0 else x
            t = self.merge_preimage(merge, tuple((v, v, merge.name) for v in shape), k)
            for later in between:
                if t is None:
                    break
                t = self.preimage(later, t)
            out = meet(out, t)
        return out

    def bound_symbol(self, site, t_out):
        """A conv whose out_channels is a symbol written alone makes its output channels that
        symbol: a target for them bounds the symbol wherever it is first seen (a block's ``planes``
        sets two convs; the expect after the second one fixes it for the first)."""
        from .layers.conv import ConvNd, ConvTransposeNd

        raw = site.entry.args.get("out_channels") if site.entry is not None and site.op is None else None
        if not is_name(raw) or t_out is None or not issubclass(site.cls, (ConvNd, ConvTransposeNd)):
            return
        lead = len(t_out) - site.cls.rank - 1
        if 0 <= lead < len(t_out) and t_out[lead] is not None:
            vid = "$" + raw
            self.symbol_targets[vid] = meet_dim(self.symbol_targets.get(vid), t_out[lead])

    @staticmethod
    def merge_preimage(site, t_out, k: int):
        """What a merge's output target says of its ``k``-th input: all of it for Add (and
        Multiply's first input, which has the output's shape), all but the joined dim for Concat."""
        if t_out is None:
            return None
        if site.op == "Concat":
            return tuple(None if i == site.dim else t for i, t in enumerate(t_out))
        if site.op == "Multiply" and k > 0:
            return None
        return t_out

    def group_preimage(self, site, t_out, groups) -> list:
        """Product constraints on the layer's input: Flatten's merged dims multiply to its exact
        target; shape-preserving layers pass them on."""
        cls, n = site.cls, site.ndim_in
        if getattr(cls, "PASS_RF", False):
            return groups
        if not issubclass(cls, Flatten) or n is None or t_out is None:
            return []
        s = self.static_int(site.entry.args.get("start_dim", 1))
        e = self.static_int(site.entry.args.get("end_dim", -1))
        if s is None or e is None or not (-n <= s < n and -n <= e < n) or s % n > e % n:
            return []
        s, e = s % n, e % n
        t = t_out[s] if s < len(t_out) else None
        if t is None or t[1] is None or t[0] != t[1]:
            return []
        return [(tuple(range(s, e + 1)), t[0], t[2])]

    def static_axis(self, site, name, rank):
        """Per-axis integer values of a window argument (None where unknown), or None."""
        cls = site.cls
        arg = next((a for a in cls.ARGS if a.name == name), None)
        if arg is None:
            return None
        raw = site.entry.args.get(name, arg.default)
        if raw is None or raw is REQUIRED:
            return None
        if isinstance(raw, str) and raw.strip().lower() in ("same", "valid"):
            return raw.strip().lower()
        items = raw if isinstance(raw, list) else [raw] * rank
        if len(items) != rank:
            return None
        return [self.static_int(v) for v in items]

    def preimage(self, site, t_out) -> tuple | None:
        """Target for a layer's input, given the target for its output (static: the spec's own values;
        an unknown argument loosens the bound it would set)."""
        from .layers.conv import DepthwiseConvNd, PointwiseConvNd, Windowed
        from .layers.pool import AdaptivePoolNd, PoolNd

        cls, n = site.cls, site.ndim_in
        if n is None:
            return None
        t_in: list = [None] * n
        if t_out is not None and len(t_out) == n:
            if getattr(cls, "PASS_RF", False) or cls.KEEPS == "all":
                t_in = list(t_out)
            elif issubclass(cls, Windowed) and n in (cls.rank + 1, cls.rank + 2):
                r = cls.rank
                t_in[: n - r - 1] = t_out[: n - r - 1]
                if issubclass(cls, (PoolNd, AdaptivePoolNd)):
                    t_in[n - r - 1] = t_out[n - r - 1]
                elif issubclass(cls, DepthwiseConvNd):
                    m = self.static_int(site.entry.args.get("depth_multiplier", 1))
                    t = t_out[n - r - 1]
                    if m and t is not None:
                        t_in[n - r - 1] = (-(-t[0] // m), None if t[1] is None else t[1] // m, t[2])
                if issubclass(cls, AdaptivePoolNd):
                    size = site.entry.args.get("output_size")
                    items = size if isinstance(size, list) else [size] * r
                    for a in range(r):
                        if a < len(items) and items[a] is None:
                            t_in[n - r + a] = t_out[n - r + a]
                elif not issubclass(cls, PointwiseConvNd):
                    for a in range(r):
                        t = t_out[n - r + a]
                        if t is not None:
                            t_in[n - r + a] = self.axis_preimage(site, cls, r, a, t)
                else:
                    t_in[n - r:] = t_out[n - r:]
            elif cls.KEEPS == "all_but_last":
                t_in[:-1] = t_out[:-1]
            elif issubclass(cls, Flatten):
                s = self.static_int(site.entry.args.get("start_dim", 1))
                e = self.static_int(site.entry.args.get("end_dim", -1))
                if s is not None and e is not None and -n <= s < n and -n <= e < n:
                    s, e = s % n, e % n
                    if s <= e:
                        t_in[:s] = t_out[:s]
                        t_in[e + 1:] = t_out[s + 1:]
                        t = t_out[s]
                        if t is not None and t[1] is not None and t[0] == t[1]:  # the merged dims divide it
                            t_in[s:e + 1] = [(1, t[0], t[2], t[0])] * (e + 1 - s)
        # an input width the layer states is a target for what flows in
        for key in WIDTH_ARGS:
            v = self.static_int(site.entry.args.get(key))
            if v is None or key in ("kdim", "vdim"):
                continue
            idx = cls.input_width_axis(key, n)
            if 0 <= idx < n:
                t_in[idx] = meet_dim(t_in[idx], (v, v, site.name))
        return tuple(t_in)

    def axis_preimage(self, site, cls, r, a, t):
        """Input sizes along axis ``a`` that can give an output in ``t``: exact when the layer's
        arguments are known; otherwise the bounds that hold whatever the unknowns are (the
        output grows with the size and padding, and shrinks with kernel, dilation and stride;
        a transposed conv's output grows with everything but padding)."""
        from .layers.conv import ConvTransposeNd
        from .layers.pool import PoolNd

        has = {x.name for x in cls.ARGS}
        vals = {}
        for arg in ("kernel_size", "stride", "padding", "dilation", "output_padding"):
            v = self.static_axis(site, arg, r) if arg in has else None
            vals[arg] = v if isinstance(v, str) or v is None else v[a]
        lo, hi, src = t[0], t[1], t[2]
        k, s = vals["kernel_size"], vals["stride"]
        if issubclass(cls, PoolNd) and site.entry.args.get("stride") is None:
            s = k  # a pool's stride defaults to its kernel
        d = vals["dilation"] if "dilation" in has else 1
        p = vals["padding"] if "padding" in has else 0
        low, high = 1, None
        if issubclass(cls, ConvTransposeNd):
            op = vals["output_padding"] if "output_padding" in has else 0
            if isinstance(p, str) or isinstance(op, str):
                return None
            if s is not None and k is not None and (d is not None or k == 1) and op is not None:
                rng = transposed_size_range(lo, None, k, s, p or 0, d or 1, op)
                low = rng[0] if rng else None
            if hi is not None and p is not None:
                rng = transposed_size_range(1, hi, k or 1, s or 1, p, d or 1, op or 0)
                high = rng[1] if rng else 0
        else:
            if p == "same":
                return (lo, hi, src) if s in (1, None) else None
            if p == "valid":
                p = 0
            ceil = site.entry.args.get("ceil_mode", False) not in (False, None, "false")
            if p is not None:
                rng = window_size_range(lo - 1 if ceil else lo, None, k or 1, s or 1, p, (d or 1) if k else 1)
                low = rng[0] if rng else None
            if hi is not None and k is not None and s is not None and (d is not None or k == 1):
                rng = window_size_range(1, hi, k, s, p or 0, d or 1)
                high = rng[1] if rng else 0
        if low is None:
            return (1, 0, src)  # no size fits
        if low <= 1 and high is None:
            return None
        return (low, high, src)
