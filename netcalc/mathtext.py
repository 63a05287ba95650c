"""Formulas as a person writes them: one printer, three styles.

* ``unicode`` (tables): ``⌊(H + 2·P − K)/S⌋ + 1``, ``⌈H/2⌉``, ``C·K²·N/M``, ``(H − 1) mod S``;
* ``ascii`` (``--ascii``, a terminal that is not UTF-8): ``floor((H + 2*P - K)/S) + 1``,
  ``ceil(H/2)``, ``C*K^2*N/M``;
* ``sympy`` (JSON and CSV, the contract's section 3): the same forms in sympy's syntax, so that
  ``sympy.parse_expr`` reads them back: ``floor((H + 2*P - K)/S) + 1``, ``ceiling(H/2)``,
  ``C*K**2*N/M``, ``Mod(H - 1, S)``.

⌊(a + m − 1)/m⌋ prints as ⌈a/m⌉, a quotient over a common denominator stays one fraction, and
powers of two from 2³² on stay powers (``ceiling(H/2**500)``, not 151 digits): a formula's length
follows its own arithmetic, not the depth of the network that made it.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from .symbolic import cached_text

SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
PLAIN_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
# the unicode style's signs in LaTeX (Markdown tables, --explain --format markdown)
LATEX = (("⌊", r"\left\lfloor "), ("⌋", r" \right\rfloor"), ("⌈", r"\left\lceil "), ("⌉", r" \right\rceil"),
         ("·", r" \cdot "), ("−", "-"), ("×", r" \times "), (",", "{,}"), (" mod ", r" \bmod "))
_CACHE: dict = {}


STYLES = ("unicode", "ascii", "sympy")
POWER_OF_TWO = 32  # 2**k from this k on is printed as a power
FRACTION_TERMS = 8  # a sum with number fractions, up to this many terms, prints as one quotient


def math_text(x, ascii: bool = False, style: str | None = None) -> str:
    """``x`` (an int, or a sympy expression) as a formula in ``style`` (default: unicode, or ascii)."""
    style = style or ("ascii" if ascii else "unicode")
    if isinstance(x, int) or not hasattr(type(x), "free_symbols"):  # the class: the property walks the formula
        text = str(x)
        return text if style != "unicode" else text.replace("-", "−")
    return cached_text(_CACHE, x, lambda e: _Printer(style).expr(e), style)


def latex(text: str) -> str:
    """A formula in the unicode style (a table cell, a worked step) as LaTeX math, without the
    ``$``: ``⌈H/2⌉·K²`` → ``\\left\\lceil H/2 \\right\\rceil \\cdot K^{2}``."""
    text = re.sub(r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+", lambda m: "^{" + m.group(0).translate(PLAIN_DIGITS) + "}", text)
    for a, b in LATEX:
        text = text.replace(a, b)
    return text


def sympy_text(x) -> str:
    """The contract's string for a symbolic quantity (JSON, CSV): sympy reads it back."""
    return math_text(x, style="sympy")


class _Printer:
    def __init__(self, style: str):
        self.memo: dict = {}  # the text of a term's factors, written to order a sum and then to print it
        self.style = style
        self.ascii = style != "unicode"
        self.times, self.minus = ("·", "−") if style == "unicode" else ("*", "-")

    def integer(self, n: int) -> str:
        sign, n = (self.minus, -n) if n < 0 else ("", n)
        k = n.bit_length() - 1
        if k >= POWER_OF_TWO and n == 1 << k:
            if self.style == "unicode":
                return f"{sign}2{str(k).translate(SUPERSCRIPT)}"
            return f"{sign}2{'**' if self.style == 'sympy' else '^'}{k}"
        return f"{sign}{n}"

    def expr(self, e) -> str:
        import sympy as sp

        if e.is_Integer:
            return self.integer(int(e))
        if e.is_Rational:
            return f"{self.integer(int(e.p))}/{self.atom(sp.Integer(e.q))}"
        if e.is_Symbol:
            return e.name
        if e.is_Add:
            return self.add(e)
        if isinstance(e, (sp.floor, sp.ceiling)):
            return self.rounding(e)
        if isinstance(e, sp.Mod):
            a, b = e.args
            if self.style == "sympy":
                return f"Mod({self.expr(a)}, {self.expr(b)})"
            return f"({self.expr(a)}) mod {self.atom(b)}"
        if isinstance(e, (sp.Max, sp.Min)):
            name = type(e).__name__ if self.style == "sympy" else type(e).__name__.lower()
            return f"{name}(" + ", ".join(self.expr(a) for a in e.args) + ")"
        if e.is_Mul or e.is_Pow:
            return self.fraction(e)
        return str(e)

    def add(self, e) -> str:
        if len(e.args) <= FRACTION_TERMS and any(not t.as_coeff_Mul()[0].is_Integer for t in e.args) and not any(
                f.is_Pow and f.exp.is_negative for t in e.args for f in sympy_module().Mul.make_args(t)):
            num, den = one_fraction(e)  # K/2 − 1/2 is (K − 1)/2: one quotient over the common denominator
            if den != 1:
                top = self.expr(sympy_module().expand(num))
                return f"({top})/{self.atom(den)}"
        out = ""
        for i, term in enumerate(self.ordered_terms(e)):
            negative = _negative(term)
            text = self.term(-term if negative else term)
            if self.style != "sympy" and isinstance(-term if negative else term, sympy_module().Mod) and (
                    negative or i > 0):
                text = f"({text})"  # "x − (a mod b)": a mod written out binds looser than the minus
            if i == 0:
                out = (self.minus if negative else "") + text
            else:
                out += f" {self.minus if negative else '+'} {text}"
        return out

    def term(self, t) -> str:
        """A positive term of a sum: ``n·<its factors>`` written from its factors' text (already
        written to order the sum), else as any expression."""
        coeff, rest = t.as_coeff_Mul()
        if coeff.is_Integer and rest != 1 and (rest.is_Mul or rest.is_Symbol or rest.func.__name__ in (
                "floor", "ceiling", "Max", "Min")) and not any(
                f.is_Pow and f.exp.is_negative for f in sympy_module().Mul.make_args(rest)):
            text = self.rest_text(rest)
            return text if coeff == 1 else f"{self.integer(int(coeff))}{self.times}{text}"
        return self.expr(t)

    def rest_text(self, rest) -> str:
        return cached_text(self.memo, rest, self.expr)

    def ordered_terms(self, e) -> list:
        """A sum's terms as a textbook orders them: added before subtracted, more factors first, then
        by their letters (``H·W + H + 2·P − K + 1``), numbers last. (sympy's own order costs a sort key per term,
        which dominated printing a network's totals.)"""
        def key(term):
            coeff, rest = term.as_coeff_Mul()
            if rest == 1:
                return (1, 0, 0, "")
            return (0, bool(coeff.is_negative), -len(rest.args) if rest.is_Mul else -1, self.rest_text(rest))
        return sorted(e.args, key=key)

    def ordered_factors(self, e) -> list:
        """A product's factors: numbers, then letters and their powers by name, then floors."""
        def key(f):
            base = f.base if f.is_Pow else f
            rank = 0 if f.is_Number else 1 if base.is_Symbol else 2
            return (rank, base.name if base.is_Symbol else self.expr(f))
        return sorted(sympy_module().Mul.make_args(e), key=key)

    def fraction(self, e) -> str:
        import sympy as sp

        if e.is_Mul and e.as_coeff_Mul()[0].is_Integer and not any(f.is_Pow and f.exp.is_negative for f in e.args):
            return self.product(e)  # no denominator (sympy.fraction would rebuild the product to say so)
        num, den = sp.fraction(e)
        top = self.product(num)
        if den == 1:
            return top
        if _negative(e):
            return self.minus + self.fraction(-e)
        top = f"({top})" if num.is_Add else top
        return f"{top}/{self.atom(den)}"

    def product(self, e) -> str:
        if not e.is_Mul:
            return self.power(e) if e.is_Pow else self.expr(e)
        coeff, rest = e.as_coeff_Mul()
        factors = [self.power(f) if f.is_Pow else self.atom(f) for f in self.ordered_factors(rest)]
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
        return f"{b}{'**' if self.style == 'sympy' else '^'}{self.atom(exp)}"

    def atom(self, e) -> str:
        text = self.expr(e)
        simple = (e.is_Symbol or (e.is_Integer and e >= 0 and text.isdigit())
                  or e.func.__name__ in ("floor", "ceiling", "Max", "Min")
                  or (e.func.__name__ == "Mod" and self.style == "sympy"))
        return text if simple else f"({text})"

    def rounding(self, e) -> str:
        """⌊x⌋ and ⌈x⌉ of one fraction; ⌊(a + m − 1)/m⌋ is ⌈a/m⌉ (a floor is inside many formulas
        of a network: each is written once)."""
        return cached_text(_CACHE, e, self._rounding, ("rounding", self.style))

    def _rounding(self, e) -> str:
        import sympy as sp

        ceil = isinstance(e, sp.ceiling)
        affine = affine_fraction(e.args[0])
        if affine is not None:  # what strided layers make: integers, no sympy expand
            terms, const, den = affine
            if not ceil and den > 1 and const == den - 1:
                const, ceil = 0, True
            num = sp.Add(*(sp.Integer(n) * t for n, t in terms), sp.Integer(const))
            den = sp.Integer(den)
        else:
            num, den = one_fraction(e.args[0])
            if not ceil and den.is_Integer and den > 1:
                rest = sp.expand(num - (den - 1))
                if rest.as_coeff_Add()[0] == 0:
                    num, ceil = rest, True
            num = sp.expand(num)
        inner = self.expr(num)
        if den != 1:
            inner = f"{f'({inner})' if num.is_Add else inner}/{self.atom(den)}"
        if self.style == "sympy":
            return f"{'ceiling' if ceil else 'floor'}({inner})"
        if self.ascii:
            return f"{'ceil' if ceil else 'floor'}({inner})"
        return f"⌈{inner}⌉" if ceil else f"⌊{inner}⌋"


def _negative(term) -> bool:
    """A term written with a minus: its number coefficient is negative (sympy's
    could_extract_minus_sign builds the negated product to decide, a cost per term)."""
    return bool(term.as_coeff_Mul()[0].is_negative)


def sympy_module():
    import sympy

    return sympy


def affine_fraction(x):
    """``x = Σ (nᵢ·tᵢ)/m + c/m`` with integers nᵢ, c, m (m the least common denominator) and each
    tᵢ a letter or a product without number factors, as ``([(nᵢ, tᵢ)], c, m)``; None for other forms."""
    import sympy as sp

    terms, const = [], Fraction(0)
    for t in sp.Add.make_args(x):
        c, r = t.as_coeff_Mul()
        if not c.is_Rational:
            return None
        c = Fraction(int(c.p), int(c.q))
        if r == 1:
            const += c
        elif r.is_Symbol or (r.is_Mul and all(f.is_Symbol for f in r.args)):
            terms.append((c, r))
        else:
            return None
    den = const.denominator
    for c, _ in terms:
        den = den * c.denominator // math.gcd(den, c.denominator)
    return [(int(c * den), r) for c, r in terms], int(const * den), den


def one_fraction(x):
    """(numerator, denominator) of ``x`` over a common denominator. A sum whose terms have number
    coefficients (what strided layers make) is done term by term; others by sympy.together."""
    import sympy as sp

    terms = sp.Add.make_args(x)
    parts = [t.as_coeff_Mul() for t in terms]
    if any(not c.is_Rational or not (r.is_Symbol or r.is_Integer or r.is_Mul or r.is_Pow or r.func.__name__ in (
            "floor", "ceiling")) or any(f.is_Pow and f.exp.is_negative for f in sp.Mul.make_args(r)) for c, r in parts):
        return sp.fraction(sp.together(x))
    den = 1
    for c, _ in parts:
        den = den * c.q // math.gcd(den, c.q)
    return sp.Add(*[sp.Integer(c.p * (den // c.q)) * r for c, r in parts]), sp.Integer(den)
