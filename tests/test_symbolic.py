"""netcalc.symbolic: the safe expression parser, floor/ceil division, nested floors, JSON form."""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from netcalc.symbolic import ExprError, ceil_div, exact_div, fdiv, is_symbolic, normalize, parse_expr, same, symbol, to_json

FAST = settings(max_examples=60, deadline=None)

H, W = symbol("H"), symbol("W")


def value_at(expr, **values) -> int:
    """An expression evaluated at integer values of its symbols."""
    if isinstance(expr, int):
        return expr
    got = sp.sympify(expr).subs({symbol(k): v for k, v in values.items()})
    assert got.is_Integer, got
    return int(got)


# ------------------------------------------------------------------------------ parser

@pytest.mark.parametrize("text, want", [
    ("7", 7), ("007", 7), ("  12 ", 12),
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("10 - 4 - 3", 3),
    ("7 // 2", 3), ("-7 // 2", -4), ("7 % 3", 1), ("-7 % 3", 2),
    ("8 / 2", 4), ("2 ** 10", 1024), ("2 ** 3 ** 2", 512), ("-2 ** 2", -4), ("(-2) ** 2", 4),
    ("+5", 5), ("--5", 5), ("2 * -3", -6), ("100 // 7 * 7 + 100 % 7", 100),
    ("((((3))))", 3), ("2*(3+4)//5", 2),
])
def test_integer_arithmetic_follows_python(text, want):
    assert parse_expr(text) == want
    assert type(parse_expr(text)) is int


def test_names_take_values():
    assert parse_expr("2*H + 1", {"H": 3}) == 7
    assert parse_expr("H // 2", {"H": 7}) == 3
    assert parse_expr("H - W", {"H": 10}) == 10 - W


@pytest.mark.parametrize("name", ["N", "E", "I", "S", "Q", "O", "beta", "pi", "oo", "floor", "x_1"])
def test_every_name_is_a_plain_nonnegative_integer_symbol(name):
    # non-negative rather than positive: formulas must stay right when a padding letter is set to 0
    v = parse_expr(name)
    assert isinstance(v, sp.Symbol) and v.name == name
    assert v.is_integer and v.is_nonnegative
    assert v == symbol(name)


def test_sympy_builtins_do_not_leak_in():
    assert parse_expr("E") != sp.E
    assert parse_expr("I") ** 2 != -1
    assert parse_expr("pi") != sp.pi
    assert parse_expr("N * 2") == 2 * symbol("N")      # N is not sympy's N() function
    assert parse_expr("S + Q").free_symbols == {symbol("S"), symbol("Q")}


def test_symbolic_results():
    assert parse_expr("2*H") == 2 * H
    assert parse_expr("H/4") * 4 == H
    assert value_at(parse_expr("H // 4 + H % 4"), H=13) == 3 + 1
    assert value_at(parse_expr("(H + W) ** 2"), H=2, W=3) == 25


@pytest.mark.parametrize("text, values", [
    ("7/2", {}), ("H/4", {"H": 6}), ("(H + 1)/2", {"H": 4}), ("3/H", {"H": 2}),
])
def test_slash_is_exact_division(text, values):
    with pytest.raises(ExprError, match="not an integer"):
        parse_expr(text, values)


def test_slash_exact_when_it_divides():
    assert parse_expr("H/4", {"H": 8}) == 2
    assert parse_expr("12/4") == 3


@pytest.mark.parametrize("text", [
    "__import__('os')", "__import__('os').system('true')", "os.system", "H.real", "H.__class__",
    "lambda: 1", "1; 2", "[1]", "{1}", "'a'", '"a"', "1.5", "1e3", "H if 1 else 2", "a == b", "a < b",
    "H[0]", "f(1)", "H,W", "2 ^ 3", "not H", "H and W", "!H", "H @ W", "x = 1", "1 2", "H W",
    "", "   ", "(", "(1", "1)", "1 +", "* 2", "//2", "2 **", "2 ** -1", "H ** H", "2 ** W",
])
def test_rejects_everything_else(text):
    with pytest.raises(ExprError):
        parse_expr(text)


def test_parser_never_evaluates_python(monkeypatch):
    import builtins

    def boom(*a, **k):
        raise AssertionError("eval called")

    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(builtins, "exec", boom)
    assert parse_expr("2*H + 1", {"H": 2}) == 5
    with pytest.raises(ExprError):
        parse_expr("__import__('os')")


@pytest.mark.parametrize("text", ["1/0", "1//0", "1 % 0", "H/0", "H // 0", "H % 0", "H / (2 - 2)"])
def test_division_by_zero(text):
    with pytest.raises(ExprError, match="zero"):
        parse_expr(text)


@pytest.mark.parametrize("text", ["4 // (H - H)", "4 / (H - H)"])
def test_division_by_symbolic_zero(text):
    with pytest.raises(ExprError):
        parse_expr(text)


@pytest.mark.parametrize("text", ["10 ** 100000", "2 ** 2 ** 20", "H ** 1000"])
def test_refuses_huge_powers(text):
    with pytest.raises(ExprError):
        parse_expr(text)


@given(st.integers(-50, 50), st.integers(-50, 50), st.integers(1, 9), st.integers(0, 3))
@FAST
def test_parser_agrees_with_integer_arithmetic(a, b, c, e):
    text = f"({a}) * ({b}) + ({a}) // {c} - ({b}) % {c} + {c} ** {e}"
    assert parse_expr(text) == a * b + a // c - b % c + c ** e


@given(st.integers(1, 200), st.integers(1, 200))
@FAST
def test_symbolic_then_substituted_equals_numeric(h, w):
    text = "(2*H + W) // 3 + H % 4 * W - (H + W)"
    assert value_at(parse_expr(text), H=h, W=w) == parse_expr(text, {"H": h, "W": w})


# -------------------------------------------------------------------- fdiv and ceil_div

@given(st.integers(-10**6, 10**6), st.integers(1, 1000))
@FAST
def test_fdiv_cdiv_on_ints(a, b):
    assert fdiv(a, b) == a // b
    assert ceil_div(a, b) == -(-a // b)
    assert isinstance(fdiv(a, b), int) and isinstance(ceil_div(a, b), int)


@given(st.integers(1, 500), st.integers(-20, 20), st.integers(1, 12))
@FAST
def test_fdiv_cdiv_on_expressions(h, c, s):
    assert value_at(fdiv(H + c, s), H=h) == (h + c) // s
    assert value_at(ceil_div(H + c, s), H=h) == -(-(h + c) // s)
    assert value_at(fdiv(3 * H + c, s), H=h) == (3 * h + c) // s


def test_fdiv_exact_symbolic_quotient_has_no_floor():
    assert fdiv(2 * H + 4, 2) == H + 2
    assert fdiv(6 * H, 3) == 2 * H


def _floors(expr) -> int:
    return 0 if isinstance(expr, int) else len(sp.sympify(expr).atoms(sp.floor))


@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(1, 4)), min_size=1, max_size=6),
       st.integers(1, 400))
@FAST
def test_nested_floor_collapse(steps, h):
    """⌊(⌊y⌋ + c)/s⌋ = ⌊(y + c)/s⌋: a chain of fdivs stays one floor deep and keeps its value."""
    expr, num = H, h
    for c, s in steps:
        expr, num = fdiv(expr + c, s), (num + c) // s
    assert value_at(expr, H=h) == num
    assert _floors(expr) <= 1


@given(st.integers(1, 300), st.integers(1, 300))
@FAST
def test_nested_floor_with_two_symbols(h, w):
    expr = fdiv(fdiv(H + W, 2) - 1, 3)
    assert value_at(expr, H=h, W=w) == ((h + w) // 2 - 1) // 3
    assert _floors(expr) == 1


@given(st.integers(1, 300))
@FAST
def test_conv_chain_formula_collapses(h):
    """Three ⌊(L + 2p - k)/s⌋ + 1 steps (k3 s2 p1, k5 s2 p2, k2 s2 p0)."""
    expr, num = H, h
    for k, s, p in ((3, 2, 1), (5, 2, 2), (2, 2, 0)):
        expr, num = fdiv(expr + 2 * p - k, s) + 1, (num + 2 * p - k) // s + 1
    assert value_at(expr, H=h) == num
    assert _floors(expr) == 1


# --------------------------------------------------------------------- other helpers

def test_exact_div():
    assert exact_div(12, 4) == 3 and type(exact_div(12, 4)) is int
    assert exact_div(7, 2) == Fraction(7, 2)
    assert exact_div(H, 2) * 2 == H


def test_normalize():
    assert normalize(sp.Integer(5)) == 5 and type(normalize(sp.Integer(5))) is int
    assert normalize(Fraction(6, 3)) == 2 and type(normalize(Fraction(6, 3))) is int
    assert normalize(sp.Rational(3, 2)) == Fraction(3, 2)
    assert normalize(H) == H


def test_same_and_is_symbolic():
    assert same(3, 3) and not same(3, 4)
    assert same((H + 1) ** 2, H ** 2 + 2 * H + 1)
    assert not same(H, W)
    assert is_symbolic(H) and not is_symbolic(3) and not is_symbolic(Fraction(1, 2))


@pytest.mark.parametrize("value, want", [
    (5, 5), (0, 0), (-3, -3), (sp.Integer(7), 7), (Fraction(8, 4), 2), (Fraction(3, 2), "3/2"),
    (sp.Rational(1, 2), "1/2"),
])
def test_to_json_numbers(value, want):
    got = to_json(value)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("expr", [
    H, 2 * H + 1, symbol("C") * symbol("K") ** 2 * symbol("N") / symbol("M"),
    sp.floor(H / 2) + 1, sp.Mod(H, 3), sp.Max(H, W), sp.ceiling(H / 3),
])
def test_to_json_expressions_round_trip(expr):
    text = to_json(expr)
    assert isinstance(text, str)
    names = {s.name: s for s in sp.sympify(expr).free_symbols}
    back = sp.sympify(text, locals=names)
    for h in (1, 2, 7, 30):
        subs = {s: h + i for i, s in enumerate(names.values())}
        assert back.subs(subs) == sp.sympify(expr).subs(subs)


def test_to_json_uses_only_contract_functions():
    import re

    text = to_json(fdiv(fdiv(H + 3, 2) + symbol("K"), 3) + sp.Mod(W, 2) + sp.Max(H, 1))
    assert set(re.findall(r"[A-Za-z_]\w*(?=\()", text)) <= {"floor", "ceiling", "Mod", "Max", "Min", "Piecewise"}


# ---------------------------------------------------------------- spec_text: formulas back in the spec's syntax

@st.composite
def formulas(draw, depth=3):
    """Spec expressions over H, W, K, S, P as a spec writes them (floors, ceilings, mod, max)."""
    if depth == 0 or draw(st.booleans()):
        return draw(st.sampled_from(["H", "W", "K", "S", "P", "1", "2", "3", "7"]))
    a, b = draw(formulas(depth=depth - 1)), draw(formulas(depth=depth - 1))
    op = draw(st.sampled_from(["+", "-", "*", "//2", "//3", "%4", "ceil", "max"]))
    if op == "ceil":
        return f"-((-({a}))//4)"
    if op == "max":
        return f"max({a}, {b})"
    if op.startswith(("//", "%")):
        return f"({a}){op}"
    return f"({a}) {op} ({b})"


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(formulas(), st.lists(st.integers(0, 40), min_size=5, max_size=5))
def test_spec_text_reads_back_as_the_same_value(text, point):
    """What spec_text writes, parse_expr reads as the same formula: equal at random points."""
    from netcalc.symbolic import spec_text

    names = dict(zip("HWKSP", point))
    expr = parse_expr(text)
    again = spec_text(expr)
    assert parse_expr(again, names) == parse_expr(text, names), (text, again)


@FAST
@given(st.lists(st.tuples(st.integers(-6, 6), st.integers(1, 4), st.integers(0, 1)), min_size=1, max_size=12),
       st.sampled_from(["H", "2*H", "H + 3", "3*H - 1"]))
def test_floor_shift_is_fdiv_of_the_shifted_size(steps, start):
    """The fast path of a strided chain gives the very expression fdiv gives, and the true floor."""
    from netcalc.symbolic import floor_shift

    h = symbol("H")
    x = parse_expr(start, {"H": h})
    for c, s, plus in steps:
        fast = floor_shift(x, c, s, plus)
        assert fast == normalize(fdiv(x + c, s) + plus)
        for value in (0, 1, 7, 64, 1001):
            before = x if isinstance(x, int) else int(x.subs(h, value))
            after = fast if isinstance(fast, int) else int(fast.subs(h, value))
            assert after == (before + c) // s + plus
        x = fast


@FAST
@given(st.integers(-5, 50), st.sampled_from(["H*W", "3*H*W", "H", "H + W", "-2*H*W"]))
def test_times_is_the_product(n, text):
    from netcalc.symbolic import times

    x = parse_expr(text, {"H": symbol("H"), "W": symbol("W")})
    assert times(n, x) == normalize(n * x)
    assert times(n, x) is times(n, x)  # the same product twice is one object (printed once)
