"""Receptive fields along each spatial axis.

A field describes, for every output unit ``o`` of a layer, the span ``[lo(o), hi(o)]`` of
network-input pixels it depends on (padding and the input's extent ignored).

* :class:`ExactAxis` (numbers) keeps one span per phase of a period: after a transposed
  convolution neighbouring units can see different amounts of the input, and later layers
  must follow those exact spans (a pool over them is not ``r + (k-1)*j``).
* :class:`SymbolicAxis` keeps ``(size, jump, start)`` and applies the textbook step; it is
  used when a kernel, stride, padding or dilation is a symbol.

``size`` is the largest span, ``jump`` the distance between neighbouring units' centres,
``start`` the centre of unit 0's field.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import gcd

from .arith import rf_window_step
from .symbolic import is_int, normalize

# The longest period (phases per repeat) an exact field may have. A transposed step multiplies the
# period by its stride, and the field stores one span per phase: Upsample(scale_factor=10000)
# twice would need 10**8 of them. Beyond the limit the field is not computed (rf: null).
MAX_RF_PERIOD = 1 << 16


@dataclass(frozen=True)
class ExactAxis:
    period: int
    jump: Fraction
    lo: tuple  # per phase; None where the unit sees nothing (a transposed-conv gap)
    hi: tuple
    start: Fraction

    @staticmethod
    def identity() -> "ExactAxis":
        return ExactAxis(1, Fraction(1), (0,), (0,), Fraction(0))

    def span(self, i: int):
        q, phase = divmod(i, self.period)
        lo = self.lo[phase]
        if lo is None:
            return None
        # int(q * period * jump) in integers: Fraction arithmetic is the slow part of long chains
        v, d = q * self.period * self.jump.numerator, self.jump.denominator
        shift = v // d if v >= 0 else -(-v // d)
        return lo + shift, self.hi[phase] + shift

    @property
    def size(self) -> int:
        return max((hi - lo + 1 for lo, hi in zip(self.lo, self.hi) if lo is not None), default=0)  # 0: sees nothing

    def window(self, kernel: int, stride: int, padding: int, dilation: int = 1) -> "ExactAxis":
        """Unit ``o`` reads units ``o*stride - padding + dilation*t`` for ``t < kernel``."""
        if self.period == 1 and self.jump.denominator == 1 and self.lo[0] is not None and kernel >= 1:
            # one phase (jump a whole number): the union of the kernel's spans runs from the first
            # tap's lo to the last tap's hi; the same field the general case below builds, directly
            jump = self.jump.numerator
            lo = self.lo[0] - padding * jump
            hi = self.hi[0] + (dilation * (kernel - 1) - padding) * jump
            return ExactAxis(1, self.jump * stride, (lo,), (hi,), Fraction(lo + hi, 2))
        period = self.period // gcd(self.period, stride)
        spans = [_union(self.span(o * stride - padding + dilation * t) for t in range(kernel))
                 for o in range(period)]
        return _reduced(period, self.jump * stride, spans,
                        lambda: self.start + (Fraction(dilation * (kernel - 1), 2) - padding) * self.jump)

    def transposed(self, kernel: int, stride: int, padding: int, dilation: int = 1) -> "ExactAxis":
        """Unit ``o`` reads units ``i`` with ``i*stride = o + padding - dilation*t``, ``t < kernel``."""
        period = self.period * stride
        if period > MAX_RF_PERIOD:
            return None  # reported as no receptive field (rf: null), see MAX_RF_PERIOD
        g = gcd(dilation, stride)
        step = stride // g  # the taps that land on an input unit are every step-th one
        inverse = pow(dilation // g, -1, step) if step > 1 else 0
        spans = []
        for o in range(period):
            if (o + padding) % g:
                spans.append(None)
                continue
            first = (o + padding) // g * inverse % step if step > 1 else 0
            taps = (o + padding - dilation * t for t in range(first, kernel, step))
            spans.append(_union(self.span(v // stride) for v in taps))
        return _reduced(period, self.jump / stride, spans,
                        lambda: self.start + Fraction(padding * 2 - dilation * (kernel - 1), 2 * stride) * self.jump)

    def as_symbolic(self) -> "SymbolicAxis | None":
        return SymbolicAxis(self.size, self.jump, self.start) if self.period == 1 else None

    def report(self):
        return self.size, _plain(self.jump), _plain(self.start)


@dataclass(frozen=True)
class SymbolicAxis:
    size: object
    jump: object
    start: object

    def window(self, kernel, stride, padding, dilation=1) -> "SymbolicAxis":
        return SymbolicAxis(*rf_window_step(self.size, self.jump, self.start, kernel, stride, padding, dilation))

    def transposed(self, kernel, stride, padding, dilation=1):
        return None  # the phase structure depends on the values: no closed form kept

    def report(self):
        return normalize(self.size), _plain(self.jump), _plain(self.start)


def _union(spans):
    los, his = [], []
    for s in spans:
        if s is not None:
            los.append(s[0])
            his.append(s[1])
    return (min(los), max(his)) if los else None


def _reduced(period, jump, spans, start) -> ExactAxis:
    """The field with the shortest period that describes the same spans. ``start`` may be a
    function giving it: it is needed only when unit 0 sees nothing."""
    jn, jd = jump.numerator, jump.denominator
    for p in range(1, period + 1):
        if period % p or (p * jn) % jd:  # p * jump must be whole (integers: Fractions are slow)
            continue
        shift = p * jn // jd
        if all(_shifted(spans[o], shift) == spans[o + p] for o in range(period - p)):
            spans = spans[:p]
            period = p
            break
    lo = tuple(None if s is None else s[0] for s in spans)
    hi = tuple(None if s is None else s[1] for s in spans)
    if spans[0] is not None:  # the centre of unit 0's own span: the window formula misses gaps
        start = Fraction(spans[0][0] + spans[0][1], 2)
    elif callable(start):
        start = start()
    return ExactAxis(period, jump, lo, hi, start)


def _shifted(span, shift):
    return None if span is None else (span[0] + shift, span[1] + shift)


def _plain(x):
    """A jump or start as an int when whole, else a float (JSON numbers), or an expression."""
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else float(x)
    if is_int(x):
        return x
    x = normalize(x)
    return _plain(x) if isinstance(x, (int, Fraction)) else x


def _union_axis(a, b):
    """The field of a unit that sees both ``a``'s and ``b``'s spans (a residual add, a concat)."""
    if isinstance(a, ExactAxis) and isinstance(b, ExactAxis):
        if a.jump != b.jump:
            return None
        period = a.period * b.period // gcd(a.period, b.period)
        spans = [_union([a.span(o), b.span(o)]) for o in range(period)]
        return _reduced(period, a.jump, spans, a.start)
    a = a.as_symbolic() if isinstance(a, ExactAxis) else a
    b = b.as_symbolic() if isinstance(b, ExactAxis) else b
    if a is None or b is None or not _same(a.jump, b.jump):
        return None
    from .symbolic import smax, smin

    half_a, half_b = (a.size - 1) / Fraction(2) if is_int(a.size) else (a.size - 1) / 2, \
        (b.size - 1) / Fraction(2) if is_int(b.size) else (b.size - 1) / 2
    lo = smin(_num_or(a.start - half_a), _num_or(b.start - half_b))
    hi = smax(_num_or(a.start + half_a), _num_or(b.start + half_b))
    return SymbolicAxis(normalize(hi - lo + 1), a.jump, a.start)


def _num_or(x):
    x = normalize(x)
    return int(x) if isinstance(x, Fraction) and x.denominator == 1 else x


def _same(a, b):
    from .symbolic import same

    return same(a, b)


def union(a: "Field | None", b: "Field | None") -> "Field | None":
    """Field of a merge of two tensors: per axis, the union of both fields (None if either has none)."""
    if a is None or b is None:
        return None
    if a.axes is None and b.axes is None:
        return a
    rank = len(a.axes or b.axes)
    axes_a = a.axes or (ExactAxis.identity(),) * rank
    axes_b = b.axes or (ExactAxis.identity(),) * rank
    if len(axes_a) != len(axes_b):
        return None
    out = tuple(_union_axis(x, y) for x, y in zip(axes_a, axes_b))
    return None if any(ax is None for ax in out) else Field(out)


# ------------------------------------------------------------------ whole-layer fields

class Field:
    """The receptive field of one tensor: a tuple of axes, or unset before any window.

    Treated as immutable: every step makes a new Field (layers that keep the field pass the same
    object on, so its per-axis report is computed once and cached)."""

    def __init__(self, axes=None):
        self.axes = axes  # None: identity, no spatial axes fixed yet
        self._parts = None

    def window(self, kernels, strides, paddings, dilations) -> "Field | None":
        return self._step("window", kernels, strides, paddings, dilations)

    def transposed(self, kernels, strides, paddings, dilations) -> "Field | None":
        return self._step("transposed", kernels, strides, paddings, dilations)

    def _step(self, how, kernels, strides, paddings, dilations):
        rank = len(kernels)
        axes = self.axes or (ExactAxis.identity(),) * rank
        if len(axes) != rank:
            return None
        out = []
        for ax, k, s, p, d in zip(axes, kernels, strides, paddings, dilations):
            numeric = all(is_int(v) for v in (k, s, p, d))
            if not numeric and isinstance(ax, ExactAxis):
                ax = ax.as_symbolic()
            if ax is None:
                return None
            nxt = getattr(ax, how)(k, s, p, d)
            if nxt is None:
                return None
            out.append(nxt)
        return Field(tuple(out))

    def report(self, ndim: int):
        """``{"size": [...], "jump": [...], "start": [...]}`` for a tensor of ``ndim`` dims."""
        axes = self.axes
        if axes is None:
            if ndim < 3:
                return None
            axes = (ExactAxis.identity(),) * (ndim - 2)
            parts = [a.report() for a in axes]
        else:
            if self._parts is None:
                self._parts = [a.report() for a in axes]
            parts = self._parts
        sizes = [p[0] for p in parts]
        if any(type(s) is int and s == 0 for s in sizes):  # blind along one axis: the unit sees nothing at all
            sizes = [0] * len(sizes)
        return {"size": sizes, "jump": [p[1] for p in parts], "start": [p[2] for p in parts]}
