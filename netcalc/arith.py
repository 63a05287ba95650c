"""Sliding-window arithmetic shared by convolution, pooling and transposed convolution.

Every formula is written once, along one axis, and works on ints and sympy expressions
alike (see :mod:`netcalc.symbolic`). Layers call these per spatial axis.
"""

from __future__ import annotations

from fractions import Fraction

from .symbolic import Dim, ceil_div, fdiv, is_int, mod, normalize, smax, sympy


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
    span = size + pad_l + pad_r - dilation * (kernel - 1) - 1
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
