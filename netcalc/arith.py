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
