"""``netcalc sizes``: which input sizes a network accepts.

With letters in the input shape, every size must stay positive and every add/concat must
line up. Those conditions are floors of floors, so netcalc finds them by running the
(fast, numeric, shapes-only) analysis over a range of values: first a point where every
letter is valid, then each letter alone, and reads the pattern off the valid values: all
``n ≥ n₀`` with ``n ≡ n₀ (mod m)`` (e.g. U-Net: H and W multiples of 16).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import network
from .errors import SpecError, UsageError
from .network import LimitError, analyze
from .spec import Spec
from .symbolic import free_names, parse_expr

# The largest --max: the scan runs the whole shapes-only analysis once per value per letter (about
# 1 ms for a small net, 8 ms for ResNet-50), so --max 1000000000 never ended. 4096 is 8 times the
# default and still a few seconds on the zoo's largest nets.
MAX_SCAN = 4096


@dataclass
class Pattern:
    """Valid values of one letter within ``1..limit``."""

    name: str
    valid: list[int]
    limit: int
    start: int | None = None
    step: int | None = None  # None: no arithmetic pattern within the range

    def condition(self) -> str:
        if not self.valid:
            return f"no value of {self.name} up to {self.limit} works"
        if self.step is None:
            shown = ", ".join(map(str, self.valid[:12])) + (", ..." if len(self.valid) > 12 else "")
            return f"{self.name} in {{{shown}}}"
        if self.step == 1:
            return f"{self.name} ≥ {self.start}"
        rem = self.start % self.step
        multiple = f"a multiple of {self.step}" if rem == 0 else f"≡ {rem} (mod {self.step})"
        return f"{self.name} ≥ {self.start} and {self.name} {multiple}"

    def nearest(self, value: int) -> tuple[int | None, int | None]:
        below = [v for v in self.valid if v <= value]
        above = [v for v in self.valid if v >= value]
        nxt = above[0] if above else (self._extend(value) if self.step else None)
        return (below[-1] if below else None), nxt

    def _extend(self, value):
        k = -(-(value - self.start) // self.step)
        return self.start + k * self.step

    def to_dict(self) -> dict:
        return {"symbol": self.name, "condition": self.condition(), "smallest": self.valid[0] if self.valid else None,
                "start": self.start, "step": self.step}


@dataclass
class SizesResult:
    symbols: list[str]
    patterns: list[Pattern]
    smallest: dict[str, int] | None
    check: dict | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"symbols": self.symbols, "conditions": [p.to_dict() for p in self.patterns],
                "smallest": self.smallest, "check": self.check, "notes": self.notes}


def first_error(spec: Spec, values: dict) -> str | None:
    try:
        analyze(spec, values, shapes_only=True)
    except LimitError:
        raise  # too large at any size: scanning on would repeat it for every value
    except SpecError as e:
        return e.message
    return None


def refuse_size_free_error(spec: Spec, base: dict, letters: list[str], limit: int) -> None:
    """Raise, as shapes does, an error that no size changes (an unknown layer type, stride: 0):
    it is the spec's, and scanning would only answer "no common value". Told apart by being the
    same error at the same place for the two largest sizes scanned and one about a quarter below
    (errors that depend on a size name the sizes involved; large ones, so that earlier layers do
    not fail first on a too small input; not only adjacent ones, which strided floors can map to
    the same size)."""
    if limit >= 2:
        network.refuse_size_free_error(spec, base, letters, sorted({limit - 1, limit, max(1, limit * 3 // 4) | 1}))


def input_letters(spec: Spec, values: dict) -> list[str]:
    names: list[str] = []
    for raw in spec.input:
        if isinstance(raw, str):
            for n in sorted(free_names(parse_expr(raw, values))):
                if n not in names:
                    names.append(n)
    return names


def pattern(name: str, valid: list[int], limit: int) -> Pattern:
    p = Pattern(name, valid, limit)
    if len(valid) < 2:
        p.start, p.step = (valid[0], None) if valid else (None, None)
        return p
    start = valid[0]
    for step in range(1, limit + 1):
        expected = list(range(start, limit + 1, step))
        if expected == valid:
            p.start, p.step = start, step
            return p
    p.start = start
    return p


def solve_sizes(spec: Spec, values: dict[str, int], limit: int = 512, check: dict[str, int] | None = None,
                letters: list[str] | None = None) -> SizesResult:
    if limit > MAX_SCAN:
        raise UsageError(f"--max {limit}: the scan is limited to MAX_SCAN = {MAX_SCAN} values per letter; "
                         f"check one size with --check instead")
    # the letters of the input shape are scanned even when symbols: gives them a default;
    # only --set fixes one
    letters = letters or [n for n in input_letters(spec, {}) if n not in values or n in (check or {})]
    values = {**spec.symbols, **values}
    base = {k: v for k, v in values.items() if k not in letters}
    result = SizesResult(letters, [], None)
    if not letters:
        analyze(spec, values, shapes_only=True)  # nothing to scan: an invalid spec is refused as shapes does
        result.notes.append("the input shape has no letters without values: nothing to scan")
    else:
        refuse_size_free_error(spec, base, letters, limit)
        start = next((v for v in range(1, limit + 1) if first_error(spec, {**base, **dict.fromkeys(letters, v)}) is None),
                     None)
        if start is None:
            result.notes.append(f"no common value up to {limit} makes every size valid")
        else:
            ref = dict.fromkeys(letters, start)
            for name in letters:
                valid = [n for n in range(1, limit + 1) if first_error(spec, {**base, **ref, name: n}) is None]
                result.patterns.append(pattern(name, valid, limit))
            result.smallest = {p.name: p.valid[0] for p in result.patterns if p.valid}
            result.notes.append(f"scanned 1..{limit} for each letter with the others at {start}")
    if check:
        err = first_error(spec, {**base, **check})
        result.check = {"values": check, "valid": err is None, "error": err}
        if err is not None and result.patterns:
            result.check["nearest"] = {p.name: list(p.nearest(check[p.name])) for p in result.patterns if p.name in check}
    return result


def render(result: SizesResult, fmt: str) -> str:
    import json

    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2)
    lines = []
    if result.patterns:
        lines.append("Valid input sizes:")
        lines += [f"  {p.condition()}" for p in result.patterns]
    if result.smallest:
        lines.append("Smallest: " + ", ".join(f"{k} = {v}" for k, v in result.smallest.items()))
    if result.check:
        c = result.check
        given = ", ".join(f"{k} = {v}" for k, v in c["values"].items())
        if c["valid"]:
            lines.append(f"{given}: valid")
        else:
            lines.append(f"{given}: not valid: {c['error']}")
            for name, (lo, hi) in (c.get("nearest") or {}).items():
                options = [str(v) for v in (lo, hi) if v is not None]
                lines.append(f"  nearest valid {name}: {' or '.join(dict.fromkeys(options)) or 'none found'}")
    lines += [f"({n})" for n in result.notes]
    return "\n".join(lines)
