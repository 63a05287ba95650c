"""Worked answers: each formula with the numbers put in, as a student would write it.

Layers build :class:`Step` lists from the helpers here (``netcalc shapes --explain``);
the text uses ⌊⌋, ·, − and converts mechanically to LaTeX for ``--format markdown``.
A step keeps its value, so tests can check the text against the computed numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from .symbolic import is_int, prod

CONCERNS = ("shapes", "params", "flops", "rf")


@dataclass
class Step:
    label: str  # e.g. "H'"
    formula: str  # e.g. "⌊(512 + 2·2 − 1·(5 − 1) − 1) / 2⌋ + 1"; "" when the value is all there is
    value: object
    prose: bool = False  # the formula is words, not arithmetic

    def text(self) -> str:
        value = num(self.value)
        if not self.formula or self.formula == value:
            return f"{self.label} = {value}"
        return f"{self.label} = {self.formula} = {value}"

    def latex(self) -> str:
        if self.prose:
            return to_latex(f"{self.label} = {num(self.value)}") + f" ({self.formula})"
        return to_latex(self.text())


def num(v) -> str:
    """A number with thousands separators, or an expression."""
    if is_int(v):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:g}"
    from .render import formula

    return formula(v)  # as tables print it: ⌈H/2⌉, K·(K − 1)


def term(v) -> str:
    """A value inside a formula: parenthesised when it is a compound expression."""
    text = num(v)
    if not is_int(v) and any(op in text for op in " +-*/·−"):
        return f"({text})"
    return text.replace(",", "")


def times(*factors) -> str:
    return "·".join(term(f) for f in factors)


def window(axis: str, size, kernel, stride, padding, dilation, out, ceil_mode=False) -> Step:
    """PyTorch's conv/pool length: ⌊(L + pad_l + pad_r − d·(k − 1) − 1) / s⌋ + 1."""
    pad_l, pad_r = padding if isinstance(padding, tuple) else (padding, padding)
    pads = f"2·{term(pad_l)}" if pad_l == pad_r else f"{term(pad_l)} + {term(pad_r)}"
    inner = f"{term(size)} + {pads} − {term(dilation)}·({term(kernel)} − 1) − 1"
    if ceil_mode:
        formula = f"⌈({inner}) / {term(stride)}⌉ + 1"
        return Step(axis + "'", formula + " (less 1 if the last window starts past the input)", out)
    return Step(axis + "'", f"⌊({inner}) / {term(stride)}⌋ + 1", out)


def transposed(axis: str, size, kernel, stride, padding, dilation, output_padding, out) -> Step:
    """PyTorch's ConvTranspose length: (L − 1)·s − 2·p + d·(k − 1) + output_padding + 1."""
    formula = (f"({term(size)} − 1)·{term(stride)} − 2·{term(padding)} + {term(dilation)}·({term(kernel)} − 1)"
               f" + {term(output_padding)} + 1")
    return Step(axis + "'", formula, out)


def parameters(params: dict) -> list[Step]:
    """weights, biases and params as sums of shape products, from the torch parameter shapes."""
    weights = [s for n, s in params.items() if "bias" not in n]
    biases = [s for n, s in params.items() if "bias" in n]
    if not params:
        return [Step("params", "", 0)]

    def sum_text(shapes):
        return " + ".join(times(*s) if len(s) > 1 else term(s[0]) for s in shapes)

    def total(shapes):
        out = 0
        for s in shapes:
            out = out + prod(s)
        return out

    steps = []
    if weights:
        steps.append(Step("weights", sum_text(weights), total(weights)))
    if biases:
        steps.append(Step("biases", sum_text(biases), total(biases)))
    steps.append(Step("params", sum_text(weights + biases), total(weights) + total(biases)))
    return steps


def rf_window(axis: str, before, after, kernel, stride, dilation) -> list[Step]:
    """r' = r + d·(k − 1)·j and j' = j·s (exact for evenly spaced fields)."""
    r0, j0, _ = before
    r1, j1, _ = after
    d = "" if is_int(dilation) and dilation == 1 else f"{term(dilation)}·"
    return [Step(f"r_{axis}", f"{term(r0)} + {d}({term(kernel)} − 1)·{term(j0)}", r1),
            Step(f"j_{axis}", f"{term(j0)}·{term(stride)}", j1)]


def rf_transposed(axis: str, before, after, stride=None) -> list[Step]:
    """After a transposed conv, units of one period see different spans: the largest is the size."""
    r1, j1 = after[0], after[1]
    jump = f"{term(before[1])} / {term(stride)}" if stride is not None else ""
    return [Step(f"r_{axis}", "the largest field over one period of output units", r1, prose=True),
            Step(f"j_{axis}", jump, j1)]


def to_latex(text: str) -> str:
    """'H' = ⌊(512 + …) / 2⌋ + 1 = 256' → LaTeX math (words stay text)."""
    from .mathtext import latex

    label, _, rest = text.partition(" = ")
    rest = latex(rest)
    label = label.replace("_", r"_{", 1) + "}" if "_" in label else label
    return f"${label} = {rest}$"
