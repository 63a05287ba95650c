"""Sliding-window arithmetic shared by convolution, pooling and transposed convolution.

Every formula is written once, along one axis, and works on ints and sympy expressions
alike (see :mod:`netcalc.symbolic`). Layers call these per spatial axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .symbolic import Dim, ceil_div, fdiv, floor_shift, is_int, mod, normalize, smax, sympy


def effective_kernel(kernel: Dim, dilation: Dim = 1) -> Dim:
    """Span of a dilated kernel: ``dilation*(kernel - 1) + 1``."""
    return dilation * (kernel - 1) + 1


def window_out(size: Dim, kernel: Dim, stride: Dim = 1, padding: Dim | tuple = 0,
               dilation: Dim = 1, ceil_mode: bool = False) -> Dim:
    """Output length of a convolution or pooling window along one axis.

    PyTorch (``Conv*d``, ``MaxPool*d``, ``AvgPool*d``; ``pooling_output_shape`` in ATen)::

        out = ⌊(size + pad_l + pad_r - dilation*(kernel - 1) - 1 [+ stride - 1 if ceil_mode]) / stride⌋ + 1
        if ceil_mode and (out - 1)*stride >= size + pad_l: out -= 1   # last window must start inside

    ``padding`` is one int (both sides) or ``(left, right)`` (``padding='same'``).
    """
    pad_l, pad_r = padding if isinstance(padding, tuple) else (padding, padding)
    shift = pad_l + pad_r - dilation * (kernel - 1) - 1  # the numbers summed first: one sympy Add
    if not ceil_mode and is_int(shift) and is_int(stride) and stride > 0:
        return floor_shift(size, shift, stride, 1)
    span = size + shift
    if not ceil_mode:
        return fdiv(span, stride) + 1
    out = fdiv(span + stride - 1, stride) + 1
    if is_int(out) and is_int(stride) and is_int(size) and is_int(pad_l):
        return out - 1 if (out - 1) * stride >= size + pad_l else out
    sp = sympy()
    return normalize(sp.Piecewise((out - 1, sp.Ge((out - 1) * stride, size + pad_l)), (out, True)))


def window_remainder(size: Dim, kernel: Dim, stride: Dim = 1, padding: Dim | tuple = 0, dilation: Dim = 1) -> Dim:
    """Padded positions past the last window: ``(size + pad_l + pad_r − d(k−1) − 1) mod stride``.
    Non-zero means the floor in :func:`window_out` silently drops that many rows or columns."""
    pad_l, pad_r = padding if isinstance(padding, tuple) else (padding, padding)
    return mod(size + pad_l + pad_r - dilation * (kernel - 1) - 1, stride)


def transposed_out(size: Dim, kernel: Dim, stride: Dim = 1, padding: Dim = 0,
                   dilation: Dim = 1, output_padding: Dim = 0) -> Dim:
    """Output length of a transposed convolution along one axis.

    PyTorch (``ConvTranspose*d``)::

        out = (size - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1
    """
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def same_padding(size: Dim, kernel: Dim, stride: Dim = 1, dilation: Dim = 1) -> tuple[Dim, Dim]:
    """``(before, after)`` padding giving output ``⌈size/stride⌉`` with the least total.

    ``total = max((⌈size/stride⌉ - 1)*stride + dilation*(kernel - 1) + 1 - size, 0)``,
    ``before = total // 2`` (PyTorch's ``padding='same'`` split, which it allows at stride 1).
    """
    total = smax((ceil_div(size, stride) - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    before = fdiv(total, 2)
    return before, normalize(total - before)


def output_padding_for(size: Dim, kernel: Dim, stride: Dim = 1, padding: Dim = 0,
                       dilation: Dim = 1) -> Dim:
    """The ``output_padding`` that makes ``ConvTranspose`` map ``window_out(size)`` back to ``size``.

    It is ``size - transposed_out(window_out(size), output_padding=0)``; with dilation 1 this
    is ``(size + 2*padding - kernel) mod stride``. PyTorch accepts it only when it is
    smaller than ``max(stride, dilation)``.
    """
    # size - transposed_out(window_out(size)) simplifies to this remainder
    return mod(size + 2 * padding - dilation * (kernel - 1) - 1, stride)


def output_padding_to_reach(size: Dim, target: Dim, kernel: Dim, stride: Dim = 1, padding: Dim = 0,
                            dilation: Dim = 1) -> Dim:
    """The ``output_padding`` making ``transposed_out(size, ...)`` equal ``target``:
    ``target - ((size - 1)*stride - 2*padding + dilation*(kernel - 1) + 1)``.
    PyTorch accepts it when ``0 <= output_padding < max(stride, dilation)``."""
    return normalize(target - transposed_out(size, kernel, stride, padding, dilation))


def transposed_padding_fix(size: int, target: int, kernel: int, stride: int, dilation: int = 1):
    """``(padding, output_padding)`` with the least padding that makes a transposed conv
    map ``size`` to ``target``, or None when no padding can (then the kernel or stride must change).

    From ``target = (size - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1``:
    ``2*padding - output_padding = R`` with ``R = (size - 1)*stride + dilation*(kernel - 1) + 1 - target``.
    """
    limit = max(stride, dilation)
    r = (size - 1) * stride + dilation * (kernel - 1) + 1 - target
    if r <= 0:
        return (0, -r) if -r < limit else None
    padding = -(-r // 2)
    op = 2 * padding - r
    return (padding, op) if op < limit else None


# ---------------------------------------------------------------- receptive field steps

def rf_window_step(size: Dim, jump, start, kernel: Dim, stride: Dim, padding: Dim, dilation: Dim = 1):
    """Receptive field after a conv/pool window, for evenly spaced fields of equal size.

    ``size' = size + dilation*(kernel - 1)*jump``, ``jump' = jump*stride``,
    ``start' = start + (dilation*(kernel - 1)/2 - padding)*jump``.
    """
    span = dilation * (kernel - 1)
    half = Fraction(span, 2) if is_int(span) else span / 2
    return (normalize(size + span * jump), _num(jump * stride), _num(start + (half - padding) * jump))


def _num(x):
    return normalize(x) if not isinstance(x, (int, Fraction)) else (int(x) if isinstance(x, Fraction) and x.denominator == 1 else x)


# ---------------------------------------------------------------- inverse: one unknown at a time
#
# Each solver below takes every quantity of one axis but one, and a target range
# ``out_lo <= out <= out_hi`` for the output length (``out_hi`` None: no upper limit), and
# returns the integers the unknown may take as ``(first, last)``, ``last`` None when every
# larger value works too, or None when there is none. Integers only; ``netcalc solve``
# builds on them.

Range = tuple  # (first, last | None)


def affine_range(coef: int, const: int, lo: int | None, hi: int | None,
                 vmin: int | None = None, vmax: int | None = None) -> Range | None:
    """Integers ``v`` in ``[vmin, vmax]`` with ``lo <= coef*v + const <= hi``.

    Any bound may be None (unbounded). Returns ``(first, last)`` with ``last`` None when the
    range is unbounded above; None when empty (or unbounded below, which no caller asks for).
    """
    first, last = vmin, vmax
    if coef == 0:
        if (lo is not None and const < lo) or (hi is not None and const > hi):
            return None
    else:
        # lo <= coef*v + const  and  coef*v + const <= hi
        for bound, is_lower in ((lo, True), (hi, False)):
            if bound is None:
                continue
            if (coef > 0) == is_lower:  # v >= ceil((bound - const)/coef) for the lower side of a rising line
                v = ceil_div(bound - const, coef) if coef > 0 else ceil_div(const - bound, -coef)
                first = v if first is None else max(first, v)
            else:
                v = (bound - const) // coef if coef > 0 else (const - bound) // (-coef)
                last = v if last is None else min(last, v)
    if first is None:
        return None
    if last is not None and last < first:
        return None
    return first, last


def window_span_range(stride: int, out_lo: int, out_hi: int | None) -> Range | None:
    """``span = size + pad_l + pad_r - dilation*(kernel - 1) - 1`` values with
    ``⌊span/stride⌋ + 1`` in ``[out_lo, out_hi]``: ``stride*(out_lo - 1) <= span <= stride*out_hi - 1``."""
    return stride * (out_lo - 1), None if out_hi is None else stride * out_hi - 1


def _pads(padding) -> int:
    return padding[0] + padding[1] if isinstance(padding, tuple) else 2 * padding


def window_size_range(out_lo: int, out_hi: int | None, kernel: int, stride: int = 1, padding=0,
                      dilation: int = 1) -> Range | None:
    """Input sizes ``size >= 1`` with ``⌊(size + 2p - d(k - 1) - 1)/s⌋ + 1`` in ``[out_lo, out_hi]``.

    ``size = span - 2p + d(k - 1) + 1`` for ``span`` in :func:`window_span_range` (floor mode;
    ``padding`` may be a ``(left, right)`` pair)."""
    lo, hi = window_span_range(stride, out_lo, out_hi)
    const = _pads(padding) - dilation * (kernel - 1) - 1
    return affine_range(1, const, lo, hi, vmin=1)


def window_padding_range(size: int, out_lo: int, out_hi: int | None, kernel: int, stride: int = 1,
                         dilation: int = 1) -> Range | None:
    """Paddings ``p >= 0`` with ``⌊(size + 2p - d(k - 1) - 1)/s⌋ + 1`` in ``[out_lo, out_hi]``:
    ``2p`` must put the span in :func:`window_span_range`; the output grows with ``p``."""
    lo, hi = window_span_range(stride, out_lo, out_hi)
    return affine_range(2, size - dilation * (kernel - 1) - 1, lo, hi, vmin=0)


def window_kernel_range(size: int, out_lo: int, out_hi: int | None, stride: int = 1, padding=0,
                        dilation: int = 1) -> Range | None:
    """Kernel sizes ``k >= 1`` with ``⌊(size + 2p - d(k - 1) - 1)/s⌋ + 1`` in ``[out_lo, out_hi]``:
    the span ``size + 2p + d - 1 - d*k`` falls as ``k`` grows."""
    lo, hi = window_span_range(stride, out_lo, out_hi)
    return affine_range(-dilation, size + _pads(padding) + dilation - 1, lo, hi, vmin=1)


def window_dilation_range(size: int, out_lo: int, out_hi: int | None, kernel: int, stride: int = 1,
                          padding=0) -> Range | None:
    """Dilations ``d >= 1`` with ``⌊(size + 2p - d(k - 1) - 1)/s⌋ + 1`` in ``[out_lo, out_hi]``.
    With ``kernel == 1`` the dilation has no effect: every ``d`` or none."""
    lo, hi = window_span_range(stride, out_lo, out_hi)
    return affine_range(-(kernel - 1), size + _pads(padding) - 1, lo, hi, vmin=1)


def window_stride_range(size: int, out_lo: int, out_hi: int | None, kernel: int, padding=0,
                        dilation: int = 1) -> Range | None:
    """Strides ``s >= 1`` with ``⌊span/s⌋ + 1`` in ``[out_lo, out_hi]``, ``span = size + 2p - d(k - 1) - 1``.

    ``s*(out_lo - 1) <= span`` and ``span + 1 <= s*out_hi``: both are linear in ``s``. With
    ``out_lo <= 1`` there is no upper limit (a large stride leaves one output)."""
    span = size + _pads(padding) - dilation * (kernel - 1) - 1
    first = affine_range(out_lo - 1, 0, None, span, vmin=1)
    if first is None or out_hi is None:
        return first
    second = affine_range(out_hi, 0, span + 1, None, vmin=1)
    return _meet(first, second)


def _meet(a: Range | None, b: Range | None) -> Range | None:
    if a is None or b is None:
        return None
    first = max(a[0], b[0])
    last = b[1] if a[1] is None else a[1] if b[1] is None else min(a[1], b[1])
    return None if last is not None and last < first else (first, last)


def transposed_size_range(out_lo: int, out_hi: int | None, kernel: int, stride: int = 1, padding: int = 0,
                          dilation: int = 1, output_padding: int = 0) -> Range | None:
    """Input sizes ``size >= 1`` with ``(size - 1)s - 2p + d(k - 1) + output_padding + 1`` in ``[out_lo, out_hi]``."""
    rest = -2 * padding + dilation * (kernel - 1) + output_padding + 1
    return affine_range(stride, rest - stride, out_lo, out_hi, vmin=1)


def transposed_stride_range(size: int, out_lo: int, out_hi: int | None, kernel: int, padding: int = 0,
                            dilation: int = 1, output_padding: int = 0) -> Range | None:
    """Strides ``s >= 1`` for :func:`transposed_out` in ``[out_lo, out_hi]``; with ``size == 1`` the
    stride has no effect (every ``s`` or none). PyTorch also needs ``output_padding < max(s, d)``."""
    rest = -2 * padding + dilation * (kernel - 1) + output_padding + 1
    return affine_range(size - 1, rest, out_lo, out_hi, vmin=1 if dilation > output_padding else output_padding + 1)


def transposed_padding_range(size: int, out_lo: int, out_hi: int | None, kernel: int, stride: int = 1,
                             dilation: int = 1, output_padding: int = 0) -> Range | None:
    """Paddings ``p >= 0`` for :func:`transposed_out` in ``[out_lo, out_hi]``; the output falls by 2 per unit."""
    rest = (size - 1) * stride + dilation * (kernel - 1) + output_padding + 1
    return affine_range(-2, rest, out_lo, out_hi, vmin=0)


def transposed_kernel_range(size: int, out_lo: int, out_hi: int | None, stride: int = 1, padding: int = 0,
                            dilation: int = 1, output_padding: int = 0) -> Range | None:
    """Kernel sizes ``k >= 1`` for :func:`transposed_out` in ``[out_lo, out_hi]``; the output grows by ``d`` per unit."""
    rest = (size - 1) * stride - 2 * padding - dilation + output_padding + 1
    return affine_range(dilation, rest, out_lo, out_hi, vmin=1)


def transposed_dilation_range(size: int, out_lo: int, out_hi: int | None, kernel: int, stride: int = 1,
                              padding: int = 0, output_padding: int = 0) -> Range | None:
    """Dilations ``d >= 1`` for :func:`transposed_out` in ``[out_lo, out_hi]``; no effect when ``kernel == 1``.
    PyTorch also needs ``output_padding < max(s, d)``."""
    rest = (size - 1) * stride - 2 * padding + output_padding + 1
    return affine_range(kernel - 1, rest, out_lo, out_hi, vmin=1 if stride > output_padding else output_padding + 1)


def transposed_output_padding_range(size: int, out_lo: int, out_hi: int | None, kernel: int, stride: int = 1,
                                    padding: int = 0, dilation: int = 1) -> Range | None:
    """``output_padding`` values in ``[0, max(stride, dilation) - 1]`` (PyTorch's limit) for
    :func:`transposed_out` in ``[out_lo, out_hi]``."""
    rest = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + 1
    return affine_range(1, rest, out_lo, out_hi, vmin=0, vmax=max(stride, dilation) - 1)


# ============================================================================ several unknowns of one axis
# (netcalc solve: the inverse questions of the formulas above, when more than one number is unknown)

OPEN = 100        # values tried past the lower limit of an unknown without an upper one
AXIS_ROWS = 4000  # assignments of one axis's unknowns kept (more: taken as unlimited)
AXIS_STEPS = 20_000  # steps of one axis's enumeration before it stops


@dataclass(frozen=True)
class Unknown:
    id: str


def target_text(t) -> str:
    """A target interval in words: "at least 3", "7", "between 2 and 5"."""
    lo, hi = t[0], t[1]
    if hi is None:
        return f"at least {lo}"
    if lo == hi:
        return str(lo)
    if lo > hi:
        return "nothing (no size fits every later expect)"
    return f"between {lo} and {hi}"




def solve_axis(L: int, lo: int, hi: int | None, q: dict, ceil, transposed: bool = False,
               pool: bool = False, order: list | None = None, span: int = OPEN):
    """Every assignment of the unknowns of one spatial axis giving an output in ``[lo, hi]``.

    ``q`` maps ``k, s, p, d`` (and ``op`` for transposed convs) to an int, an :class:`Unknown`,
    ``"same"``/``"valid"`` (padding) or ``"tied"`` (a pool's stride that defaults to its
    kernel). ``ceil`` is a bool or an Unknown (ceil_mode). The unknowns are enumerated in
    ``order`` (short names; the listing order), each within bounds from the output formula,
    the last one solved exactly as an interval. Returns ``(rows, vars, open, why)``: rows of
    values for ``vars`` (unknown ids), the ids with no upper limit, and a function writing the
    sentence that says why there are no rows.
    """
    order = [n for n in (order or ("k", "s", "p", "d", "op")) if isinstance(q.get(n), Unknown)]
    ids: list[str] = []
    for n in order:
        if q[n].id not in ids:
            ids.append(q[n].id)
    ceil_opts = [ceil] if not isinstance(ceil, Unknown) else [False, True]
    if isinstance(ceil, Unknown) and ceil.id not in ids:
        ids.append(ceil.id)
    rows, open_ids = [], set()
    for c in ceil_opts:
        axis = _Axis(L, lo, hi, q, bool(c), transposed, pool, span)
        found, opened, cut = axis.enumerate(order)
        for vals in found:
            row = {q[n].id: vals[n] for n in order}
            if isinstance(ceil, Unknown):
                row[ceil.id] = c
            rows.append(tuple(row[i] for i in ids))
        if cut:  # more than we keep: the unknowns that had no upper limit are unlimited
            open_ids |= {q[n].id for n in opened} or {q[n].id for n in order}
        elif opened:
            open_ids |= spread_open(ids, rows, {q[n].id for n in opened}, span)
    return rows, ids, open_ids, lambda: _axis_why(L, lo, hi, q, ceil, transposed, pool)


def spread_open(ids, rows, opened, span: int = OPEN) -> set:
    """Unknowns that keep growing along rows tried ``span`` values past a lower limit. One of
    ``opened`` (whose range had no end) is unlimited when rows reach the top quarter of its
    range, and so is every unknown that takes a larger value there than in its bottom half."""
    out = set()
    ints = [i for i in range(len(ids)) if any(is_int(r[i]) and not isinstance(r[i], bool) for r in rows)]
    for o in ints:
        if ids[o] not in opened:
            continue
        vals = [r[o] for r in rows]
        least = min(vals)
        top = [r for r in rows if r[o] >= least + 3 * span // 4]
        if not top:
            continue
        bottom = [r for r in rows if r[o] < least + span // 2]
        out.add(ids[o])
        for i in ints:
            if max(r[i] for r in top) > max((r[i] for r in bottom), default=-1):
                out.add(ids[i])
    return out


class _Full(Exception):
    pass


class _Axis:
    """One spatial axis of a window layer: the output formula, and bounds for each unknown
    given the ones already chosen (``None`` as an upper bound: no limit).

    Conv/pool: ``out = ⌊span/s⌋ + 1`` with ``span = L + 2p - d(k - 1) - 1``, so
    ``s*(lo - 1) <= span <= s*hi - 1`` (with ceil_mode, ``out`` is the floor-mode value or one
    more, so ``lo - 1`` stands for ``lo`` and every candidate is checked exactly); a pool's
    padding is at most half its kernel. Transposed: ``out = (L - 1)s - 2p + d(k - 1) + op + 1``
    with ``op < max(s, d)``.
    """

    def __init__(self, L, lo, hi, q, ceil, transposed, pool, span=OPEN):
        self.L, self.lo, self.hi, self.ceil, self.transposed, self.pool = L, lo, hi, ceil, transposed, pool
        self.span = span
        self.lo_f = lo - 1 if ceil else lo
        self.same = q.get("p") if q.get("p") in ("same", "valid") else None
        self.tied = q.get("s") == "tied"
        self.known = {n: v for n, v in q.items() if is_int(v)}
        if self.same == "valid":
            self.known["p"] = 0
        if not transposed and self.same is None and "p" not in self.known and not isinstance(q.get("p"), Unknown):
            self.known["p"] = 0
        self.q = q

    # ------------------------------------------------------------------ the formula

    def values(self, v):
        full = {**self.known, **v}
        if self.tied and "k" in full:
            full["s"] = full["k"]
        return full

    def accept(self, v) -> bool:
        f = self.values(v)
        L = self.L
        if self.transposed:
            if f["op"] >= max(f["s"], f["d"]):
                return False
            o = transposed_out(L, f["k"], f["s"], f["p"], f["d"], f["op"])
        else:
            if self.same == "same":
                if f["s"] != 1:
                    return False
                tot = f["d"] * (f["k"] - 1)
                pad = (tot // 2, tot - tot // 2)
            else:
                pad = f["p"]
                if self.pool and pad > f["k"] // 2:
                    return False
            o = window_out(L, f["k"], f["s"], pad, f["d"], self.ceil)
        return o >= 1 and self.lo <= o and (self.hi is None or o <= self.hi)

    # ------------------------------------------------------------------ bounds

    def bound(self, n, v):
        """(first, last | None) for unknown ``n`` given the values ``v`` chosen so far (the
        other unknowns free), or None when nothing fits."""
        f = self.values(v)
        return self._t_bound(n, f) if self.transposed else self._w_bound(n, f)

    def _a_min(self, f):
        """The least span the target allows, or None when it has no floor (ceil_mode, free stride)."""
        if "s" in f:
            return f["s"] * (self.lo_f - 1)
        return self.lo_f - 1 if self.lo_f >= 1 else None

    def _w_bound(self, n, f):
        L, hi = self.L, self.hi
        if self.same == "same":
            return (1, 1) if n == "s" else (1, None)  # the output is L whatever the kernel
        if n == "p":
            last = f["k"] // 2 if self.pool and "k" in f else None
            if hi is not None and "s" in f and "k" in f and ("d" in f or f["k"] == 1):
                cap = (f["s"] * hi - L + f.get("d", 1) * (f["k"] - 1)) // 2
                last = cap if last is None else min(last, cap)
            return (0, last) if last is None or last >= 0 else None
        if n == "s":
            if self.lo_f <= 1 or "p" not in f:
                return 1, None
            reach = f.get("d", 1) * (f["k"] - 1) if "k" in f else 0
            span = L + 2 * f["p"] - reach - 1
            return (1, span // (self.lo_f - 1)) if span >= self.lo_f - 1 else None
        if "p" not in f:
            return (1, None)
        a_min = self._a_min(f)
        room = None if a_min is None else L + 2 * f["p"] - 1 - a_min
        if n == "k":
            first = max(1, 2 * f["p"]) if self.pool else 1
            if room is None and self.tied and f.get("d", 1) > 1:
                room_k = (L + 2 * f["p"] - 1 + f["d"]) // (f["d"] - 1)  # span >= -k when s = k
                return (first, room_k) if room_k >= first else None
            if room is None:
                return first, None
            last = 1 + room // f.get("d", 1) if room >= 0 else 0
            return (first, last) if last >= first else None
        # n == "d"
        if "k" not in f or f["k"] == 1 or room is None:
            return 1, None
        return (1, room // (f["k"] - 1)) if room >= f["k"] - 1 else None

    def _t_bound(self, n, f):
        L, lo, hi = self.L, self.lo, self.hi
        if n == "op":
            last = max(f["s"], f["d"]) - 1 if "s" in f and "d" in f else None
            if hi is not None and "p" in f:
                cap = hi - 1 + 2 * f["p"] - (L - 1) * f.get("s", 1) - (
                    f.get("d", 1) * (f["k"] - 1) if "k" in f else 0)
                last = cap if last is None else min(last, cap)
            return (0, last) if last is None or last >= 0 else None
        if n == "p":
            grows = (("s" not in f and L > 1) or "k" not in f or ("d" not in f and f["k"] > 1)
                     or ("op" not in f and ("s" not in f or "d" not in f)))
            if grows:
                return 0, None
            op = f.get("op", max(f["s"], f["d"]) - 1)
            top = (L - 1) * f["s"] + f["d"] * (f["k"] - 1) + op + 1 - lo
            return (0, top // 2) if top >= 0 else None
        if hi is None or "p" not in f:
            return 1, None
        room = hi - 1 + 2 * f["p"] - f.get("op", 0)
        if n == "s":
            if L == 1:
                return 1, None
            reach = f.get("d", 1) * (f["k"] - 1) if "k" in f else 0
            last = (room - reach) // (L - 1)
            return (1, last) if last >= 1 else None
        room -= (L - 1) * f.get("s", 1)
        if n == "k":
            last = 1 + room // f.get("d", 1) if room >= 0 else 0
            return (1, last) if last >= 1 else None
        # n == "d"
        if "k" not in f or f["k"] == 1:
            return 1, None
        return (1, room // (f["k"] - 1)) if room >= f["k"] - 1 else None

    def exact(self, n, f):
        """The interval of the last unknown ``n`` (every other value known), from netcalc.arith."""
        L, lo, hi = self.L, self.lo_f, self.hi
        if self.transposed:
            solver = {"s": lambda: transposed_stride_range(L, self.lo, hi, f["k"], f["p"], f["d"], f["op"]),
                      "p": lambda: transposed_padding_range(L, self.lo, hi, f["k"], f["s"], f["d"], f["op"]),
                      "k": lambda: transposed_kernel_range(L, self.lo, hi, f["s"], f["p"], f["d"], f["op"]),
                      "d": lambda: transposed_dilation_range(L, self.lo, hi, f["k"], f["s"], f["p"], f["op"]),
                      "op": lambda: transposed_output_padding_range(L, self.lo, hi, f["k"], f["s"], f["p"], f["d"])}
            return solver[n]()
        if self.same == "same" or (self.tied and n == "k"):
            return self._w_bound(n, f)  # no closed form: bounds, then every value is checked
        if n == "s":
            return window_stride_range(L, lo, hi, f["k"], f["p"], f["d"])
        if n == "p":
            rng = window_padding_range(L, lo, hi, f["k"], f["s"], f["d"])
            if rng is not None and self.pool:
                last = f["k"] // 2 if rng[1] is None else min(rng[1], f["k"] // 2)
                rng = None if last < rng[0] else (rng[0], last)
            return rng
        if n == "k":
            rng = window_kernel_range(L, lo, hi, f["s"], f["p"], f["d"])
            if rng is not None and self.pool:
                first = max(rng[0], 2 * f["p"])
                rng = None if rng[1] is not None and rng[1] < first else (first, rng[1])
            return rng
        return window_dilation_range(L, lo, hi, f["k"], f["s"], f["p"])

    # ------------------------------------------------------------------ the walk

    def enumerate(self, order):
        """Nested loops over the unknowns in ``order`` (each unknown id once, whichever names it
        stands for), the last solved by :meth:`exact`. Returns ``(found, opened, cut)``: the
        assignments by short name, the names that had no upper limit (tried for :data:`OPEN`
        values), and whether the walk stopped at :data:`AXIS_ROWS` rows or :data:`AXIS_STEPS` steps."""
        groups: list[list[str]] = []
        by_id: dict[str, list[str]] = {}
        for n in order:
            vid = self.q[n].id
            if vid not in by_id:
                by_id[vid] = []
                groups.append(by_id[vid])
            by_id[vid].append(n)
        found: list[dict] = []
        opened: set[str] = set()
        steps = 0

        def rng_of(i, names, v):
            if i == len(groups) - 1 and len(names) == 1:
                return self.exact(names[0], self.values(v))
            first, last = None, None
            for n in names:  # one unknown standing for several quantities: every bound applies
                b = self.bound(n, v)
                if b is None:
                    return None
                first = b[0] if first is None else max(first, b[0])
                last = b[1] if last is None else (last if b[1] is None else min(last, b[1]))
            return (first, last) if last is None or last >= first else None

        def rec(i, v):
            nonlocal steps
            steps += 1
            if steps > AXIS_STEPS or len(found) >= AXIS_ROWS:
                raise _Full
            if i == len(groups):
                if self.accept(v):
                    found.append({n: v[n] for g in groups for n in g})
                return
            names = groups[i]
            rng = rng_of(i, names, v)
            if rng is None:
                return
            first, last = rng
            if last is None:
                opened.update(names)
                last = first + self.span - 1
            for val in range(first, last + 1):
                for n in names:
                    v[n] = val
                rec(i + 1, v)
            for n in names:
                v.pop(n, None)

        try:
            rec(0, {})
        except _Full:
            return found, opened, True
        return found, opened, False


ARG_WORDS = {"k": "kernel_size", "s": "stride", "p": "padding", "d": "dilation", "op": "output_padding"}


def _axis_formula(L, q, ceil, transposed, pool) -> str:
    """The axis's output formula with the known values filled in, e.g.
    ``floor((512 + 2*padding - 3)/2) + 1``."""
    def t(n):
        v = q.get(n)
        if isinstance(v, Unknown):
            return ARG_WORDS[n]
        return t("k") if v == "tied" else str(v)

    def spread():  # d*(k - 1), a number when both are known
        k, d = q.get("k"), q.get("d", 1)
        if is_int(k) and is_int(d):
            return str(d * (k - 1))
        return f"({t('k')} - 1)" if d == 1 else f"{t('d')}*({t('k')} - 1)"

    if transposed:
        text = f"({L} - 1)*{t('s')}"
        if t("p") != "0":
            text += f" - 2*{t('p')}"
        if spread() != "0":
            text += f" + {spread()}"
        if t("op") != "0":
            text += f" + {t('op')}"
        return text + " + 1"
    pad = q.get("p")
    num = str(L)
    if pad == "same":
        num += f" + {spread()}"
    elif isinstance(pad, Unknown):
        num += " + 2*padding"
    elif is_int(pad) and pad:
        num += f" + {2 * pad}"
    sp = spread()
    num += f" - {int(sp) + 1}" if sp.isdigit() else f" - {sp} - 1"
    s = t("s")
    if s == "1":
        return f"{num} + 1"
    return f"{'ceil' if ceil is True else 'floor'}(({num})/{s}) + 1"


def _axis_why(L, lo, hi, q, ceil, transposed, pool) -> str:
    formula = _axis_formula(L, q, ceil, transposed, pool)
    unknown = [ARG_WORDS[n] for n in ("k", "s", "p", "d", "op") if isinstance(q.get(n), Unknown)]
    if not unknown:
        v = {n: (q[n] if q[n] != "tied" else q["k"]) for n in q}
        try:
            if transposed:
                o = transposed_out(L, v["k"], v["s"], v["p"], v["d"], v["op"])
                if v["op"] >= max(v["s"], v["d"]):
                    limit = max(v["s"], v["d"])
                    return f"output_padding {v['op']} must be smaller than max(stride, dilation) = {limit}"
            else:
                p = v["p"] if v["p"] not in ("same", "valid") else (0 if v["p"] == "valid" else None)
                if p is None:
                    tot = v["d"] * (v["k"] - 1)
                    p = (tot // 2, tot - tot // 2)
                o = window_out(L, v["k"], v["s"], p, v["d"], ceil is True)
        except (ArithmeticError, KeyError, TypeError):
            return f"{formula} has no valid value"
        return f"the output is {formula} = {o}"
    near = _nearest(L, lo, hi, q, ceil, transposed, pool) if len(unknown) == 1 else ""
    which = unknown[0] if len(unknown) == 1 else ", ".join(unknown[:-1]) + " and " + unknown[-1]
    rule = "" if not pool or "padding" not in unknown else "; a pool's padding is at most half its kernel"
    if transposed and "output_padding" in unknown:
        rule = "; output_padding must be smaller than max(stride, dilation)"
    want = f"= {lo}" if lo == hi else target_text((lo, hi))
    return f"no {which} makes {formula} {want}{near}{rule}"


def _nearest(L, lo, hi, q, ceil, transposed, pool) -> str:
    """``: kernel_size 3 gives 254, kernel_size 2 gives 256`` — the outputs either side of the target."""
    n = next(n for n in ("k", "s", "p", "d", "op") if isinstance(q.get(n), Unknown))
    word = ARG_WORDS[n]
    vals = {}
    for v in range(0 if n in ("p", "op") else 1, 4097):
        qq = {m: (v if m == n else q[m]) for m in q}
        if qq.get("s") == "tied":
            qq["s"] = qq["k"]
        try:
            if transposed:
                if qq["op"] >= max(qq["s"], qq["d"]):
                    continue
                o = transposed_out(L, qq["k"], qq["s"], qq["p"], qq["d"], qq["op"])
            else:
                p = qq["p"]
                if p == "valid":
                    p = 0
                elif p == "same":
                    tot = qq["d"] * (qq["k"] - 1)
                    p = (tot // 2, tot - tot // 2)
                elif pool and p > qq["k"] // 2:
                    continue
                o = window_out(L, qq["k"], qq["s"], p, qq["d"], ceil is True)
        except (ArithmeticError, KeyError, TypeError):
            continue
        if o >= 1:
            vals.setdefault(o, v)
    below = [o for o in vals if o < lo]
    above = [o for o in vals if hi is not None and o > hi]
    parts = []
    if below:
        o = max(below)
        parts.append(f"{word} {vals[o]} gives {o}")
    if above:
        o = min(above)
        parts.append(f"{word} {vals[o]} gives {o}")
    if not parts:
        return ""
    if not above and below:
        return f" (the most it can be is {max(below)}, at {word} {vals[max(below)]})"
    if not below and above:
        return f" (the least it can be is {min(above)}, at {word} {vals[min(above)]})"
    return " (" + ", ".join(parts) + ")"


# ============================================================================ torch code
