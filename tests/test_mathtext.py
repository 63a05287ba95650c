"""netcalc.mathtext, the one formula printer: every style read back equals the expression. The
sympy style (JSON, CSV) with sympy's own parser, as scripts and the contract's checker read it;
the unicode and ascii styles (tables) with a small parser here that knows ⌊ ⌋ ⌈ ⌉, ·, −, ², mod.
Expressions come from netcalc's own arithmetic (floors of strided layers, ceilings, products of
sizes, Mod, Max) over random layer parameters, and are compared at random points."""

from __future__ import annotations

import re

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from netcalc.mathtext import math_text, sympy_text
from netcalc.symbolic import ceil_div, fdiv, mod, parse_expr, smax, symbol

LETTERS = "HWKSPC"
SUPERS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")


@st.composite
def formulas(draw, depth: int = 3):
    """A size or cost as netcalc's layers make them."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from([*(symbol(n) for n in LETTERS), 1, 2, 3, 7]))
    a, b = draw(formulas(depth=depth - 1)), draw(formulas(depth=depth - 1))
    op = draw(st.sampled_from(["add", "sub", "mul", "window", "ceil", "mod", "max", "pow2"]))
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "window":  # a strided layer: ⌊(x + 2p − d(k − 1) − 1)/s⌋ + 1
        return fdiv(a + draw(st.integers(-4, 4)), draw(st.sampled_from([1, 2, 3, 4, 2**40]))) + 1
    if op == "ceil":
        return ceil_div(a, draw(st.sampled_from([2, 3, 8, 2**33])))
    if op == "mod":
        return mod(a, draw(st.sampled_from([2, 5, symbol("S")])))
    if op == "max":
        return smax(a, b)
    return a * 2**draw(st.sampled_from([3, 32, 70]))


def at(expr, point: dict):
    value = sp.sympify(expr).subs({symbol(n): v for n, v in point.items()})
    return sp.nsimplify(value) if not value.is_Integer else value


points = st.fixed_dictionaries({n: st.integers(1, 60) for n in LETTERS})


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(formulas(), points)
def test_the_sympy_style_reads_back_with_sympy(expr, point):
    if isinstance(expr, int):
        return
    text = sympy_text(expr)
    back = sp.parse_expr(text, local_dict={n: symbol(n) for n in LETTERS} | {"floor": sp.floor,
                                                                           "ceiling": sp.ceiling, "Mod": sp.Mod,
                                                                           "Max": sp.Max, "Min": sp.Min})
    assert at(back, point) == at(expr, point), (text, expr)


def read_table_formula(text: str):
    """The unicode and ascii styles back into netcalc's spec syntax, then parsed by netcalc."""
    text = text.replace("−", "-").replace("·", "*")
    text = re.sub(r"([A-Za-z0-9)⌋⌉])([⁰¹²³⁴⁵⁶⁷⁸⁹]+)", lambda m: f"{m.group(1)}**{m.group(2).translate(SUPERS)}", text)
    text = text.replace("^", "**")
    for opening, closing, name in (("⌊", "⌋", "floor"), ("⌈", "⌉", "ceil")):
        text = text.replace(opening, f"{name}(").replace(closing, ")")
    text = re.sub(r"\bmod\b", "%", text)
    # floor(x) / ceil(x) of a quotient a/b: the spec's // (and -((-a)//b))
    out = ""
    while True:
        m = re.search(r"\b(floor|ceil)\(", text)
        if not m:
            break
        depth, i = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        inner = text[m.end():i - 1]
        top = depth_zero_split(inner)
        num, den = (inner[:top], inner[top + 1:]) if top is not None else (inner, "1")
        piece = f"(({num})//({den}))" if m.group(1) == "floor" else f"(-((-({num}))//({den})))"
        text = text[:m.start()] + piece + text[i:]
    return parse_expr(out + text, {})


def depth_zero_split(text: str):
    """The index of the last '/' outside parentheses, or None."""
    depth, found = 0, None
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "/" and depth == 0 and text[i + 1:i + 2] != "/":
            found = i
    return found


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(formulas(), points, st.booleans())
def test_the_table_styles_read_back(expr, point, ascii):
    if isinstance(expr, int):
        return
    text = math_text(expr, ascii=ascii)
    back = read_table_formula(text)
    value = back.subs({symbol(n): v for n, v in point.items()}) if hasattr(back, "subs") else back
    assert sp.Integer(value) == at(expr, point), (text, expr)


@pytest.mark.parametrize("expr, sympy_form", [
    (ceil_div(symbol("H"), 2**500), "ceiling(H/(2**500))"),
    (fdiv(symbol("H") + 1, 2), "ceiling(H/2)"),
    (fdiv(fdiv(symbol("H") + 1, 2) + 1, 2), "ceiling(H/4)"),
])
def test_long_chains_stay_short(expr, sympy_form):
    """⌈H/2⌉ of ⌈H/2⌉ is ⌈H/4⌉, and 2⁵⁰⁰ stays a power: a formula's length follows its own arithmetic."""
    assert sympy_text(expr) == sympy_form


def read_latex(text: str):
    """LaTeX math (Markdown) back to the unicode style, then as a table formula."""
    for tex, sign in ((r"\left\lfloor ", "⌊"), (r" \right\rfloor", "⌋"), (r"\left\lceil ", "⌈"),
                      (r" \right\rceil", "⌉"), (r" \cdot ", "·"), (r" \bmod ", " mod "), (r" \times ", "×"),
                      ("{,}", ",")):
        text = text.replace(tex, sign)
    text = re.sub(r"\^\{(-?\d+)\}", lambda m: m.group(1).translate(str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")),
                  text)
    assert "\\" not in text and "{" not in text, text
    return read_table_formula(text.replace(" - ", " − "))


@settings(max_examples=1000, deadline=None, derandomize=True, database=None)
@given(formulas(), points)
def test_the_latex_of_markdown_reads_back(expr, point):
    from netcalc.mathtext import latex

    if isinstance(expr, int):
        return
    back = read_latex(latex(math_text(expr)))
    value = back.subs({symbol(n): v for n, v in point.items()}) if hasattr(back, "subs") else back
    assert sp.Integer(value) == at(expr, point), (latex(math_text(expr)), expr)


def test_markdown_tables_write_formulas_as_latex(cli):
    out = cli("summary", "specs/classics/symbolic.yaml", "--format", "markdown").output
    assert r"$B  \times  2 \cdot N  \times  \left\lceil H/2 \right\rceil" in out
    assert "| 0 |" in out  # numbers stay plain
