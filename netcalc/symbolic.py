"""Integers that may be symbols: the arithmetic every formula in netcalc is written in.

A dimension is a plain ``int`` until a spec names a letter; then it is a sympy expression.
Every helper here accepts both, and sympy is imported only when an expression is first
built, so a numeric spec never pays for it.

Spec expressions are parsed by a small recursive-descent parser (integers, names,
``+ - * / // % **`` and parentheses), never by ``eval`` or ``sympify``: a name is always a
positive integer symbol of its own, so ``N``, ``E``, ``I``, ``S``, ``Q`` stay letters.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any, Union

Dim = Union[int, Any]  # int or sympy.Expr

_sympy = None


def sympy():
    """The sympy module, imported on first use."""
    global _sympy
    if _sympy is None:
        import sympy as sp

        _sympy = sp
    return _sympy


def is_int(x) -> bool:
    return type(x) is int or (isinstance(x, int) and not isinstance(x, bool))


def is_symbolic(x) -> bool:
    return not isinstance(x, (int, Fraction, float))


def symbol(name: str):
    """The integer symbol ``name``, assumed only non-negative (not positive) so that every
    formula also holds when a padding or offset letter is later set to 0."""
    return sympy().Symbol(name, integer=True, nonnegative=True)


def normalize(x):
    """Return a plain int for any expression that is an integer constant."""
    if type(x) is int:  # the common case, before the slower checks (Fraction's isinstance goes through abc)
        return x
    if isinstance(x, (int, Fraction)):
        if isinstance(x, Fraction) and x.denominator == 1:
            return int(x)
        return x
    if getattr(x, "is_Integer", False):
        return int(x)
    if getattr(x, "is_Rational", False):
        return Fraction(int(x.p), int(x.q))
    return x


def _integer_valued(expr) -> bool:
    """True when ``expr`` is visibly an integer: integer coefficients times products of
    integer symbols and floors (a cheap syntactic test; sympy's assumptions are slow)."""
    sp = sympy()
    for term, coeff in expr.as_coefficients_dict().items():
        if not coeff.is_Integer:
            return False
        for factor in sp.Mul.make_args(term):
            base = factor.base if factor.is_Pow and factor.exp.is_Integer and factor.exp > 0 else factor
            if not (base.is_Integer or (base.is_Symbol and base.is_integer) or isinstance(base, (sp.floor, sp.ceiling))):
                return False
    return True


def _floor(num, den):
    """⌊num/den⌋ with nested floors merged, built without sympy's slow automatic evaluation.

    For integer c, positive integer s and any real y: ⌊(⌊y⌋ + c)/s⌋ = ⌊(y + c)/s⌋, so a chain
    of strided layers stays one floor deep.
    """
    sp = sympy()
    num, den = sp.sympify(num), sp.sympify(den)
    if num.is_Number and den.is_Number:
        return sp.floor(num / den)
    if den == 1 and _integer_valued(num):  # a stride of 1: nothing to round (half of a typical chain)
        return num
    merged = _floor_affine(num, den)
    if merged is not None:
        return merged
    floors = [t for t in sp.Add.make_args(num) if isinstance(t, sp.floor)]
    if len(floors) == 1 and den.is_Integer and den > 0 and _integer_valued(num - floors[0]):
        num = floors[0].args[0] + (num - floors[0])
    elif _integer_valued(num) and den.is_Integer and den > 0:
        coeffs = num.as_coefficients_dict()
        if all(c % den == 0 for c in coeffs.values()):
            return sp.expand(num / den)
    inner = sp.expand(num / den)
    const, rest = inner.as_coeff_Add()
    whole = int(sp.floor(const)) if const.is_Rational else 0
    # ⌊y + c⌋ = ⌊y⌋ + c for integer c: keeps one canonical form, so equal sizes compare equal
    return sp.floor(rest + (const - whole), evaluate=False) + whole


def _floor_affine(num, den):
    """The common case of a strided layer after another, fast: ⌊(⌊Σ aᵢ·xᵢ + b⌋ + c)/s⌋ with number
    coefficients is ⌊Σ (aᵢ/s)·xᵢ + (b + c)/s⌋, worked out with Python fractions (sympy's
    expand of the same sum cost a millisecond a layer). None when ``num`` is not of that form."""
    sp = sympy()
    if not (den.is_Integer and den > 0):
        return None
    outer = num.as_coefficients_dict()
    floors = [t for t in outer if isinstance(t, sp.floor)]
    if len(floors) != 1 or outer[floors[0]] != 1 or any(t != 1 and t is not floors[0] for t in outer):
        return None
    c = outer.get(sp.S.One, 0)
    if not c.is_Integer if hasattr(c, "is_Integer") else not isinstance(c, int):
        return None
    inner = floors[0].args[0].as_coefficients_dict()
    if not all(v.is_Rational for v in inner.values()):
        return None
    s = int(den)
    const = Fraction(int(c)) + sum((Fraction(int(v.p), int(v.q)) for t, v in inner.items() if t == 1), Fraction(0))
    const /= s
    whole = const.numerator // const.denominator
    frac = const - whole
    terms = [(sp.Rational(int(v.p), int(v.q) * s), t) for t, v in inner.items() if t != 1]
    if len(terms) == 1 and terms[0][1].is_Symbol:
        # one letter (a size through a chain of strided layers): built in sympy's canonical order
        # (numbers first) without its flatten, which compares the large fractions again
        arg = sp.Mul._from_args(terms[0]) if terms[0][0] != 1 else terms[0][1]
        if frac:
            arg = sp.Add._from_args((sp.Rational(frac.numerator, frac.denominator), arg))
        rounded = sp.floor(arg, evaluate=False)
        return sp.Add._from_args((sp.Integer(whole), rounded)) if whole else rounded
    parts = [c * t for c, t in terms] + ([sp.Rational(frac.numerator, frac.denominator)] if frac else [])
    return sp.floor(sp.Add(*parts), evaluate=False) + whole


def floor_shift(x: Dim, c: int, s: int, plus: int = 0) -> Dim:
    """⌊(x + c)/s⌋ + plus for integers c and s > 0: :func:`fdiv` of ``x + c``, with a fast path for
    the sizes a chain of strided layers makes, ``x = w + ⌊a·L + b⌋`` or ``x = a·L`` (L a letter):
    the new floor is worked out in Python fractions and built in sympy's canonical order, and a
    stride of 1 that adds nothing returns ``x`` itself."""
    if is_int(x):
        return (x + c) // s + plus
    sp = sympy()
    whole, rest = x.as_coeff_Add()
    if not whole.is_Integer:
        return normalize(fdiv(x + c, s) + plus)
    inner = rest.args[0] if isinstance(rest, sp.floor) else rest if whole == 0 else None
    if inner is None:
        return normalize(fdiv(x + c, s) + plus)
    if s == 1 and inner is not rest:  # ⌊⌊A⌋ + k⌋ = ⌊A⌋ + k
        return x if c + plus == 0 else normalize(x + (c + plus))
    b, term = inner.as_coeff_Add()
    a, letter = term.as_coeff_Mul()
    if not (b.is_Rational and a.is_Rational and letter.is_Symbol and letter.is_integer):
        return normalize(fdiv(x + c, s) + plus)
    const = (Fraction(int(b.p), int(b.q)) + int(whole) + c) / s
    low = const.numerator // const.denominator
    frac = const - low
    coeff = sp.Rational(int(a.p), int(a.q) * s)
    arg = sp.Mul._from_args((coeff, letter)) if coeff != 1 else letter
    if frac:
        arg = sp.Add._from_args((sp.Rational(frac.numerator, frac.denominator), arg))
    if coeff.is_Integer and not frac:  # an integer multiple of the letter: nothing to round
        return normalize(arg + (low + plus))
    rounded = sp.floor(arg, evaluate=False)
    k = low + plus
    return sp.Add._from_args((sp.Integer(k), rounded)) if k else rounded


def fdiv(a: Dim, b: Dim) -> Dim:
    """⌊a/b⌋ for ints or expressions (b > 0)."""
    if is_int(a) and is_int(b):
        return a // b
    return normalize(_floor(a, b))


def ceil_div(a: Dim, b: Dim) -> Dim:
    """⌈a/b⌉, printed as ``ceiling(a/b)`` when symbolic (the readable form for formulas)."""
    if is_int(a) and is_int(b):
        return -((-a) // b)
    return normalize(sympy().ceiling(sympy().sympify(a) / b))


def mod(a: Dim, b: Dim) -> Dim:
    if is_int(a) and is_int(b):
        return a % b
    return normalize(sympy().Mod(a, b))


def exact_div(a: Dim, b: Dim) -> Dim:
    """a/b where the result is meant to be an integer (channels per group, say)."""
    if is_int(a) and is_int(b):
        q, r = divmod(a, b)
        return q if r == 0 else Fraction(a, b)
    return normalize(sympy().sympify(a) / b)


def smax(*xs: Dim) -> Dim:
    if all(is_int(x) for x in xs):
        return max(xs)
    return normalize(sympy().Max(*xs))


def smin(*xs: Dim) -> Dim:
    if all(is_int(x) for x in xs):
        return min(xs)
    return normalize(sympy().Min(*xs))


def prod(xs) -> Dim:
    """The product; the symbolic factors go to sympy in one Mul (not one per factor)."""
    number: Dim = 1
    rest = []
    for x in xs:
        if is_int(x) or isinstance(x, Fraction):
            number = number * x
        else:
            rest.append(x)
    if not rest:
        return number
    if number == 0:
        return 0
    product = rest[0] if len(rest) == 1 else sympy().Mul(*rest)
    return times(number, product) if is_int(number) else normalize(number * product)


def same(a: Dim, b: Dim) -> bool:
    """True when a and b are provably equal."""
    if is_int(a) and is_int(b):
        return a == b
    return sympy().expand(sympy().sympify(a) - b) == 0


def known_positive(x: Dim):
    """True or False for numbers; None for expressions (their sign depends on the symbols)."""
    if isinstance(x, (int, Fraction)):
        return x > 0
    return None


_TEXT_CACHE: dict = {}  # id(expression) → (expression, text): see cached_text


def to_text(x) -> str:
    """A value as the contract prints it: ints as digits, expressions in sympy's syntax as
    netcalc.mathtext writes it (``ceiling(H/2)``, ``floor((H + 2*P - K)/S) + 1``)."""
    if isinstance(x, (int, str, float, Fraction)) or not hasattr(type(x), "free_symbols"):  # the class: the property walks the formula
        return str(x)
    return cached_text(_TEXT_CACHE, x, _sympy_text)  # a size is printed for a row and the next row's input


def to_json(x):
    """JSON form of a quantity: an int, or a string holding the expression."""
    if type(x) is int:
        return x
    x = normalize(x)
    if is_int(x):
        return x
    if isinstance(x, Fraction):
        return str(x)
    return cached_text(_TEXT_CACHE, x, _sympy_text)


def cached_text(cache: dict, x, write, style=None) -> str:
    """``write(x)``, once per expression object: keyed by identity, which costs nothing, where an
    equality lookup compares the whole formula (a layer's size is the next layer's input, the same
    object). The entry keeps ``x`` alive, so its id is never reused while it is cached."""
    key = (id(x), style)
    hit = cache.get(key)
    if hit is not None and hit[0] is x:
        return hit[1]
    text = write(x)
    cache[key] = (x, text)
    return text


def _sympy_text(x) -> str:
    from .mathtext import sympy_text

    return sympy_text(x)


def total(xs) -> Dim:
    """Sum of ints and expressions, in one sympy Add rather than n nested ones."""
    xs = list(xs)
    ints = [x for x in xs if isinstance(x, int)]
    rest = [x for x in xs if not isinstance(x, int)]
    if not rest:
        return sum(ints)
    # a formula repeated (the layers of a stage share one size) is one object: counted by identity
    # here, n·x goes to the Add once, where sympy would compare the whole formula n times
    counts: dict = {}
    for x in rest:
        hit = counts.get(id(x))
        if hit is None:
            counts[id(x)] = [x, 1]
        else:
            hit[1] += 1
    return normalize(sympy().Add(sum(ints), *(x if n == 1 else times(n, x) for x, n in counts.values())))


def times(n: Dim, x: Dim) -> Dim:
    """``n·x``, fast for an int ``n``. A product ``c·a·b`` becomes ``(n·c)·a·b`` directly: sympy's own
    multiplication sorts and compares the factors again, which for formulas with large floors
    (a deep network's sizes) cost more than the rest of a layer's work."""
    if not is_int(n) or is_int(x) or isinstance(x, Fraction) or n == 1:
        return n * x if is_int(n) and is_int(x) else normalize(n * x)
    hit = _TIMES.get((n, id(x)))
    if hit is not None and hit[0] is x:
        return hit[1]  # the same product again (a layer's MACs and FLOPs): the same object, printed once
    sp = sympy()
    c, rest = x.as_coeff_Mul()
    if not (rest.is_Mul and c.is_Rational):
        out = normalize(n * x)
    else:
        c = c * n
        out = 0 if c == 0 else rest if c == 1 else sp.Mul._from_args((c, *rest.args))
    _TIMES[(n, id(x))] = (x, out)
    return out


_TIMES: dict = {}  # (n, id(x)) → (x, n·x): see times


def free_names(x) -> set[str]:
    if is_int(x) or isinstance(x, Fraction):
        return set()
    return {s.name for s in x.free_symbols}


def spec_text(x) -> str:
    """A value written in the spec's own expression syntax, so that :func:`parse_expr` reads it
    back as the same value: ⌊a/m⌋ as ``(a)//m``, ⌈a/m⌉ as ``-((-(a))//m)``, ``Mod`` as ``%``.
    (sympy's own text, which JSON carries, has ``floor(H/2 + 1/2)``: rationals the spec's exact
    ``/`` refuses once numbers stand for the letters.) Raises ExprError for what the syntax
    cannot say (a negative power, a non-integer constant)."""
    if isinstance(x, bool):
        raise ExprError(f"{x} is not a number")
    if is_int(x):
        return str(int(x))
    sp = sympy()
    x = sp.sympify(x)
    if x.is_Integer:
        return str(int(x))
    if x.is_Symbol:
        return x.name
    if isinstance(x, (sp.floor, sp.ceiling)):
        num, den = sp.fraction(sp.together(x.args[0]))
        num, den = spec_text(sp.expand(num)), spec_text(den)
        if isinstance(x, sp.floor):
            return f"(({num})//({den}))"
        return f"(-((-({num}))//({den})))"
    if isinstance(x, sp.Mod):
        return f"(({spec_text(x.args[0])})%({spec_text(x.args[1])}))"
    if isinstance(x, (sp.Max, sp.Min)):
        name = "max" if isinstance(x, sp.Max) else "min"
        return f"{name}({', '.join(spec_text(a) for a in x.args)})"
    if x.is_Pow and x.exp.is_Integer and x.exp >= 0:
        return f"({spec_text(x.base)})**{int(x.exp)}"
    if x.is_Add:
        num, den = sp.fraction(sp.together(x))
        if den != 1:  # an integer-valued sum with fractional terms: one exact quotient
            return f"(({spec_text(sp.expand(num))})/({spec_text(den)}))"
        return "(" + " + ".join(spec_text(t) for t in x.args) + ")"
    if x.is_Mul:
        num, den = sp.fraction(x)
        if den != 1:
            return f"(({spec_text(num)})/({spec_text(den)}))"
        return "(" + "*".join(spec_text(f) for f in x.args) + ")"
    if x.is_Rational:
        return f"({x.p}/{x.q})"
    raise ExprError(f"{x} cannot be written in a spec's expression syntax")


# --------------------------------------------------------------------------- parsing

_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z_0-9]*)|(\*\*|//|==|!=|<=|>=|[-+*/%(),<>]))")
KEYWORDS = ("and", "or", "not")
FUNCTIONS = {"max": smax, "min": smin}
# The largest number a spec may state or an expression may make: 2**1024 (309 digits). Products
# of a few such numbers (parameters, MACs) stay far below Python's 4,300-digit limit for printing
# an int, and no network has a dimension anywhere near it.
MAX_BITS = 1024
# Names (occurrences, not distinct ones) one expression may use: each symbolic + or * re-sorts the
# sum or product built so far, so a padding written as a sum of 1,500 letters took 6 s to read, and
# every formula downstream carries all of them. No layer argument needs anywhere near 100.
MAX_EXPR_NAMES = 100
# How large one computed dimension's formula may grow (nodes of its expression tree, nesting
# depth). sympy's printer and simplifier recurse about four Python frames per level: 120 convs
# with a symbolic stride nest 240 levels deep and hit RecursionError; sizes are linear in the
# number of layers for ordinary chains (~5 nodes per conv), so real networks stay far below.
MAX_FORMULA_NODES = 2_000
MAX_FORMULA_DEPTH = 64
# Distinct letters in one such formula: each layer's arithmetic re-sorts sums whose length grows
# with them (60 convs, each with a padding of 50 new letters, took 19 s to reach 5,000 nodes). The
# specs in specs/ and netcalc/zoo/ use at most 6 nodes, 4 levels and a handful of letters.
MAX_FORMULA_LETTERS = 64


class ExprError(ValueError):
    """A spec expression that cannot be read or evaluated."""


def _tokens(text: str):
    pos = 0
    out = []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            bad = text[pos:].strip()[:1]
            raise ExprError(f"unexpected character {bad!r} in expression {text!r}")
        num, name, op = m.groups()
        out.append(("num", check_size(int(num)) if len(num) < 400 else _too_large()) if num else
                   ("name", name) if name else ("op", op))
        pos = m.end()
    names = sum(1 for kind, val in out if kind == "name" and val not in KEYWORDS and val not in FUNCTIONS)
    if names > MAX_EXPR_NAMES:  # checked here, where every reader of expressions (solve too) passes
        raise ExprError(f"the expression uses {names} names, more than MAX_EXPR_NAMES = {MAX_EXPR_NAMES}; "
                        "write it with fewer names")
    return out


class _Parser:
    """Conditions (``when:``) and arithmetic in one grammar:

    cond := conj ('or' conj)* ; conj := neg ('and' neg)* ; neg := 'not' neg | cmp ;
    cmp := expr (('=='|'!='|'<'|'<='|'>'|'>=') expr)? ;
    expr := term (('+'|'-') term)* ; term := unary (('*'|'/'|'//'|'%') unary)* ;
    unary := '-' unary | '+' unary | power ; power := atom ('**' unary)? ;
    atom := NUMBER | NAME | ('max'|'min') '(' expr (',' expr)* ')' | '(' cond ')'"""

    def __init__(self, text, values, make_symbol):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.values = values
        self.make_symbol = make_symbol

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self):
        t = self.peek()
        self.i += 1
        return t

    def parse(self, condition: bool = False):
        if not self.toks:
            raise ExprError("empty expression")
        v = self.cond()
        if self.i != len(self.toks):
            raise ExprError(f"unexpected {self.peek()[1]!r} in expression {self.text!r}")
        if isinstance(v, bool) != condition:
            raise ExprError(f"{self.text!r} is {'not a condition' if condition else 'a condition, not a number'}")
        return v

    def cond(self):
        v = self.conj()
        while self.peek() == ("name", "or"):
            self.take()
            r = self.conj()
            v = self.truth(v) or self.truth(r)
        return v

    def conj(self):
        v = self.neg()
        while self.peek() == ("name", "and"):
            self.take()
            r = self.neg()
            v = self.truth(v) and self.truth(r)
        return v

    def neg(self):
        if self.peek() == ("name", "not"):
            self.take()
            return not self.truth(self.neg())
        return self.cmp()

    def cmp(self):
        a = self.expr()
        kind, op = self.peek()
        if kind != "op" or op not in ("==", "!=", "<", "<=", ">", ">="):
            return a
        self.take()
        b = self.expr()
        diff = a - b if is_int(a) and is_int(b) else normalize(sympy().sympify(a) - b)
        if not is_int(diff):
            raise ExprError(f"{self.text!r} depends on letters without values ({to_text(diff)})")
        return {"==": diff == 0, "!=": diff != 0, "<": diff < 0, "<=": diff <= 0, ">": diff > 0, ">=": diff >= 0}[op]

    def truth(self, v) -> bool:
        if not isinstance(v, bool):
            raise ExprError(f"{self.text!r}: 'and', 'or' and 'not' join comparisons such as stride != 1")
        return v

    def number(self, v):
        if isinstance(v, bool):
            raise ExprError(f"{self.text!r}: a comparison where a number belongs")
        return v

    def expr(self):
        v = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            v, r = self.number(v), self.number(self.term())
            v = normalize(v + r if op == "+" else v - r)
        return v

    def term(self):
        v = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("*", "/", "//", "%"):
            op = self.take()[1]
            v, r = self.number(v), self.number(self.unary())
            if op == "*":
                v = normalize(v * r)
            elif is_int(r) and r == 0:
                raise ExprError(f"division by zero in {self.text!r}")
            elif op == "/":
                v = self.divide(v, r)
            elif op == "//":
                v = fdiv(v, r)
            else:
                v = mod(v, r)
        return v

    def divide(self, a, b):
        if is_int(a) and is_int(b):
            if a % b:
                raise ExprError(f"{self.text!r}: {a}/{b} is not an integer (use // to round down)")
            return a // b
        return normalize(sympy().sympify(a) / b)

    def unary(self):
        if self.peek() == ("op", "-"):
            self.take()
            return -self.number(self.unary())
        if self.peek() == ("op", "+"):
            self.take()
            return self.unary()
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek() == ("op", "**"):
            self.take()
            exp = self.unary()
            if not is_int(exp) or exp < 0:
                raise ExprError(f"{self.text!r}: exponents must be non-negative integers")
            if is_int(base) and abs(base) > 1 and abs(base).bit_length() * exp > MAX_BITS:
                raise ExprError(f"the number is larger than 2**{MAX_BITS} (MAX_BITS); netcalc refuses numbers that large")
            if not is_int(base) and exp > 64:
                raise ExprError(f"{self.text!r}: exponent too large for a symbolic base")
            return base**exp if is_int(base) else normalize(base**exp)
        return base

    def atom(self):
        kind, val = self.take()
        if kind == "num":
            return val
        if kind == "name" and val in FUNCTIONS and self.peek() == ("op", "("):
            self.take()
            args = [self.number(self.expr())]
            while self.peek() == ("op", ","):
                self.take()
                args.append(self.number(self.expr()))
            if self.take() != ("op", ")"):
                raise ExprError(f"missing ')' in expression {self.text!r}")
            return FUNCTIONS[val](*args)
        if kind == "name" and val not in KEYWORDS:
            if val in self.values:
                if isinstance(self.values[val], tuple):  # a list-valued block argument: a whole argument only
                    raise ExprError(f"{val} is a list ({', '.join(map(str, self.values[val]))}); write it alone as "
                                    f"an argument's value (kernel_size: {val}), not inside an expression")
                return self.values[val]
            if val == "_":
                raise ExprError("'_' is a blank: `netcalc solve` fills blanks in; the other commands need a value")
            return self.make_symbol(val)
        if (kind, val) == ("op", "("):
            v = self.cond()
            if self.take() != ("op", ")"):
                raise ExprError(f"missing ')' in expression {self.text!r}")
            return v
        if kind is None:
            raise ExprError(f"expression {self.text!r} ends too early")
        raise ExprError(f"unexpected {val!r} in expression {self.text!r}")


MAX_EXPR = 10_000  # characters


def parse_expr(text: str, values: dict[str, int] | None = None, make_symbol=symbol) -> Dim:
    """Parse a spec expression; names with a value in ``values`` are replaced by it."""
    text = str(text)
    if len(text) > MAX_EXPR:
        raise ExprError(f"expression longer than {MAX_EXPR} characters")
    try:
        value = _Parser(text, values or {}, make_symbol).parse()
    except RecursionError:
        raise ExprError("expression nested too deeply") from None
    return check_size(value)


def _too_large():
    raise ExprError(f"the number is larger than 2**{MAX_BITS} (MAX_BITS); netcalc refuses numbers that large")


def check_size(value):
    """``value``, unless it is an integer past MAX_BITS."""
    if type(value) is int and value.bit_length() > MAX_BITS:
        _too_large()
    return value


def parse_condition(text, values: dict, make_symbol=symbol) -> bool:
    """A ``when:`` condition: comparisons of expressions joined by ``and``, ``or``, ``not`` and
    parentheses. Every name must have a number by then (block arguments, widths, symbols)."""
    if isinstance(text, bool):
        return text
    if not isinstance(text, (str, int)):
        raise ExprError("a condition must be text like \"stride != 1\"")
    text = str(text)
    if len(text) > MAX_EXPR:
        raise ExprError(f"condition longer than {MAX_EXPR} characters")
    try:
        return _Parser(text, values, make_symbol).parse(condition=True)
    except RecursionError:
        raise ExprError("condition nested too deeply") from None


_CHECKED: set = set()  # formulas already measured (a shape passes through many layers unchanged)


def check_formula(x) -> None:
    """Raise ExprError when ``x``'s formula is past MAX_FORMULA_NODES or MAX_FORMULA_DEPTH: a
    runaway symbolic computation becomes an error instead of a hang or a RecursionError."""
    if isinstance(x, (int, Fraction)) or x in _CHECKED:
        return
    nodes, letters, stack = 0, set(), [(x, 1)]
    while stack:  # iterative, stopping at the first limit: the formula may be huge
        e, depth = stack.pop()
        nodes += 1
        if e.is_Symbol:
            letters.add(e)
        if nodes > MAX_FORMULA_NODES:
            _grew(f"{MAX_FORMULA_NODES} operations (MAX_FORMULA_NODES)")
        if depth > MAX_FORMULA_DEPTH:
            _grew(f"{MAX_FORMULA_DEPTH} levels of nesting (MAX_FORMULA_DEPTH)")
        if len(letters) > MAX_FORMULA_LETTERS:
            _grew(f"{MAX_FORMULA_LETTERS} letters (MAX_FORMULA_LETTERS)")
        stack.extend((a, depth + 1) for a in e.args)
    _CHECKED.add(x)


def _grew(past: str):
    raise ExprError(f"this formula grew past {past}; give some letters values with --set")
