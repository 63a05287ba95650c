"""Formulas as a person writes them, for tables: ``⌊(H + 2·P − K)/S⌋ + 1``, ``⌈H/2⌉``, ``C·K²·N/M``.

JSON and CSV keep sympy's own strings (the contract's, section 3); tables show these. ``ascii``
gives the same forms in plain ASCII (``floor((H + 2*P - K)/S) + 1``, ``ceil(H/2)``, ``C*K^2*N/M``)
for a terminal that is not UTF-8.
"""

from __future__ import annotations

SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_CACHE: dict = {}


def math_text(x, ascii: bool = False) -> str:
    """``x`` (an int, or a sympy expression) as a formula."""
    if isinstance(x, int) or not hasattr(x, "free_symbols"):
        text = str(x)
        return text if ascii else text.replace("-", "−")
    key = (x, ascii)
    text = _CACHE.get(key)
    if text is None:
        text = _CACHE[key] = _Printer(ascii).expr(x)
    return text


class _Printer:
    def __init__(self, ascii: bool):
        self.ascii = ascii
        self.times, self.minus = ("*", "-") if ascii else ("·", "−")

    def expr(self, e) -> str:
        import sympy as sp

        if e.is_Integer:
            return str(int(e)) if int(e) >= 0 else f"{self.minus}{-int(e)}"
        if e.is_Rational:
            return f"{self.expr(e.p)}/{e.q}" if e.p >= 0 else f"{self.minus}{-e.p}/{e.q}"
        if e.is_Symbol:
            return e.name
        if e.is_Add:
            return self.add(e)
        if isinstance(e, (sp.floor, sp.ceiling)):
            return self.rounding(e)
        if isinstance(e, sp.Mod):
            a, b = e.args
            return f"({self.expr(a)}) mod {self.atom(b)}"
        if isinstance(e, (sp.Max, sp.Min)):
            name = "max" if isinstance(e, sp.Max) else "min"
            return f"{name}(" + ", ".join(self.expr(a) for a in e.args) + ")"
        if e.is_Mul or e.is_Pow:
            return self.fraction(e)
        return str(e)

    def add(self, e) -> str:
        out = ""
        for i, term in enumerate(e.as_ordered_terms()):
            negative = term.could_extract_minus_sign()
            text = self.expr(-term if negative else term)
            if i == 0:
                out = (self.minus if negative else "") + text
            else:
                out += f" {self.minus if negative else '+'} {text}"
        return out

    def fraction(self, e) -> str:
        import sympy as sp

        num, den = sp.fraction(e)
        top = self.product(num)
        if den == 1:
            return top
        if e.could_extract_minus_sign():
            return self.minus + self.fraction(-e)
        top = f"({top})" if num.is_Add else top
        return f"{top}/{self.atom(den)}"

    def product(self, e) -> str:
        if not e.is_Mul:
            return self.power(e) if e.is_Pow else self.expr(e)
        coeff, rest = e.as_coeff_Mul()
        factors = [self.power(f) if f.is_Pow else self.atom(f) for f in rest.as_ordered_factors()]
        if coeff == -1:
            return self.minus + self.times.join(factors)
        if coeff != 1:
            factors.insert(0, self.expr(coeff))
        return self.times.join(factors)

    def power(self, e) -> str:
        base, exp = e.as_base_exp()
        b = self.atom(base)
        if exp.is_Integer and not self.ascii:
            return b + str(int(exp)).translate(SUPERSCRIPT)
        return f"{b}^{self.atom(exp)}"

    def atom(self, e) -> str:
        text = self.expr(e)
        simple = e.is_Symbol or (e.is_Integer and e >= 0) or e.func.__name__ in ("floor", "ceiling", "Max", "Min")
        return text if simple else f"({text})"

    def rounding(self, e) -> str:
        """⌊x⌋ and ⌈x⌉ of one fraction; ⌊(a + m − 1)/m⌋ is ⌈a/m⌉."""
        import sympy as sp

        arg = sp.together(e.args[0])
        num, den = sp.fraction(arg)
        ceil = isinstance(e, sp.ceiling)
        if not ceil and den.is_Integer and den > 1:
            rest = sp.expand(num - (den - 1))
            if rest.as_coeff_Add()[0] == 0:
                num, ceil = rest, True
        num = sp.expand(num)
        inner = self.expr(num)
        if den != 1:
            inner = f"{f'({inner})' if num.is_Add else inner}/{self.atom(den)}"
        if self.ascii:
            return f"{'ceil' if ceil else 'floor'}({inner})"
        return f"⌈{inner}⌉" if ceil else f"⌊{inner}⌋"
