"""``netcalc solve``: fill in the blanks of a spec.

A spec may leave integers unknown: ``_`` for an argument or an input dimension (one unknown
per axis for an argument that takes one value per axis; ``[_, 3]`` blanks one axis), and any
symbol without a value. A layer may state ``expect:``, the output shape it must have.
:func:`solve_spec` finds every assignment PyTorch accepts that meets all expectations.

How, without brute force:

The modules: this one (setup, the search, the answer), :mod:`netcalc.blanks` (the spec walked
into sites by the graph builder), :mod:`netcalc.solve_targets`, :mod:`netcalc.solve_layers`,
:mod:`netcalc.arith` (one axis), :mod:`netcalc.solve_render` (output).

* The layers are walked depth-first in order, which is also the order solutions are listed
  in. At each layer the incoming shape is known, and so is a *target* for its output: its
  own ``expect`` narrowed by the expectations of later layers, carried back through the
  layers whose arguments are all known (window pre-images come from :mod:`netcalc.arith`).
* A window layer (conv, pool, transposed conv) splits: each spatial axis's output depends
  only on that axis's size, kernel, stride, padding and dilation. Per axis the unknowns are
  enumerated in a fixed order within bounds taken from the same inequalities, and the last
  one is solved exactly as an integer interval (``arith.window_*_range``). The channel
  unknowns (out_channels, groups, depth_multiplier) go with the channel dimension.
  The pieces are joined lazily in the listing order.
* Other layers are scanned: an unknown that reaches the output linearly (out_features,
  hidden_size, ...) is read off the target; the rest are tried within bounds.
* Every candidate is then built with the layer class itself, so every check PyTorch (and
  netcalc) makes applies, and its output shape is compared with ``expect``.

An unknown is *open* when the algebra puts no upper limit on it (a stride whose output is 1,
an out_channels that nothing constrains, a dilation of a 1-wide kernel). Open unknowns are
tried for :data:`OPEN` values past their lower limit; when a solution uses one, there are
infinitely many: ``count`` is None, ``unbounded`` names them and the first :data:`LIMIT`
solutions are listed.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import product
from typing import Any

from .arith import (
    OPEN,
    target_text,
)
from .blanks import BLANK, WORDS, Site, Variant, check_blank_kind, has_blank, per_axis_kind, variants
from .errors import SpecError, did_you_mean
from .layers import Context, lookup
from .layers.base import fmt_shape
from .layers.registry import UnknownType
from .network import merged_shape
from .pycode import layer_ctor
from .solve_layers import BUILD_ERRORS, Component, LayerUnknowns, _no_symbol, _Skip, _Unknown
from .solve_targets import WIDTH_ARGS, Targets, hi_of, is_name, meet
from .spec import Spec
from .symbolic import ExprError, _tokens, is_int, normalize, parse_condition, parse_expr, symbol

LIMIT = 100       # solutions listed when there are infinitely many
SCAN = 256        # values tried for a symbol that appears inside an expression
BUDGET = 400_000  # candidate checks before the search gives up
# values of the input's unset symbols at which the layers before any blank are checked: large,
# so a real input fits, and two, since an error that depends on them names them
INPUT_PROBES = (769, 1023, 1024)  # not only adjacent: strided floors map neighbours to one size

# arguments written positionally in the generated torch code (input and output widths)
POSITIONAL = set(WIDTH_ARGS) | {"out_channels", "out_features", "hidden_size", "normalized_shape",
                                 "num_embeddings", "embedding_dim"}


# ============================================================================ results

@dataclass
class Solution:
    """One assignment: values by unknown, and the built layers of the layers that had one."""

    values: dict[str, Any]               # var id → value
    assignments: dict[str, Any]          # assignment key → value, as reported
    code: list[str]
    shapes: list[tuple]                  # (layer name, input shape, output shape, state shapes)

    def to_dict(self) -> dict:
        return {"assignments": self.assignments, "code": self.code}


@dataclass
class SolveResult:
    """What ``netcalc solve`` reports: plain data."""

    count: int | None
    solutions: list[Solution]
    unmet: list[str] = field(default_factory=list)
    unbounded: list[str] = field(default_factory=list)
    name: str | None = None
    gave_up: bool = False

    def to_dict(self) -> dict:
        out: dict = {"count": self.count, "solutions": [s.to_dict() for s in self.solutions]}
        if self.count == 0:
            out["unmet"] = self.unmet
        if self.count is None:
            out["unbounded"] = self.unbounded
        return out


# ============================================================================ unknowns

@dataclass
class Var:
    """One unknown integer (or boolean)."""

    id: str            # "3.kernel_size.1", "input.2", "$K"
    key: str           # the assignment key it is reported under
    order: tuple       # listing order: (layer index, argument position, axis)
    kind: str = "int"  # "int" or "bool"
    how: str = "blank"  # "blank", "bare" (a symbol written as a whole value), "scan", "expect"
    label: str | None = None  # what it is reported as when not ``key`` (a block argument's blank)

    @property
    def shown(self) -> str:
        return self.label or self.key


def names_in(raw) -> list[str]:
    """Symbol names in a raw spec value (strings and lists of them), in order."""
    out: list[str] = []
    items = raw if isinstance(raw, list) else [raw]
    for item in items:
        if isinstance(item, str) and item != BLANK:
            try:
                toks = _tokens(item)
            except ExprError:
                continue
            out += [v for k, v in toks if k == "name" and v not in out]
    return out


class Stop(Exception):
    """Enough solutions (or work) to answer."""


# ============================================================================ the plan

class Solver(Targets, LayerUnknowns):
    """One search over a spec's sites: setup (unknowns, symbols), targets (solve_targets), the
    depth-first walk in listing order, each layer's candidates (solve_layers) checked by building
    the layer, and the answer."""

    def __init__(self, spec: Spec, values: dict | None = None, no_bias: bool = False, variant: Variant | None = None):
        self.spec = spec
        self.values = {**spec.symbols, **(values or {})}
        self.no_bias = no_bias
        self.vars: dict[str, Var] = {}
        self.symbol_targets: dict[str, tuple] = {}  # "$name" → (lo, hi, src): bounds from layers further on
        self.labels: dict[str, str] = {}  # letters of block arguments' blanks → "stage1.out"
        self.structured = variant is not None
        self.conditions, self.unknowns = [], {}
        if variant is not None:  # a structured spec, as the graph builder walked it
            self.sites, self.labels = variant.sites, variant.labels
            self.conditions, self.unknowns = variant.conditions, variant.unknowns
        else:
            self.sites = [Site(i, e, sources=(i - 2,)) for i, e in enumerate(spec.layers, 1)]
        self.reasons: dict[int, list] = {}  # stage → sentences (or functions writing them)
        self.solutions: list[Solution] = []
        self.count = 0
        self.open_used: set[str] = set()
        self.shared = {"work": 0}  # the checks of every search of one solve (solve_spec shares it)
        self.gave_up = False
        self.input_symbols: list[str] = []
        self.span = OPEN
        self.counts: dict = {}  # (class, argument) → unknowns a ``_`` stands for
        self.input_target: tuple | None = None

    # ------------------------------------------------------------------ setup

    def var(self, vid: str, key: str, order: tuple, kind: str = "int", how: str = "blank") -> str:
        if vid not in self.vars:
            self.vars[vid] = Var(vid, key, order, kind, how, self.labels.get(key))
        return vid

    def leaves(self) -> list[Site]:
        """The sites that are layers (not merges)."""
        return [site for site in self.sites if site.entry is not None and site.op is None]

    def check_supported(self):
        if len(self.spec.inputs) > 1:
            raise SpecError("netcalc solve works on networks of one input; this spec has inputs: "
                            f"{', '.join(self.spec.inputs)}", self.spec.key_pos.get("inputs"))
        for site in self.leaves():
            e = site.entry
            if e.args.get("output_padding") == "auto":
                raise SpecError("output_padding: auto is for netcalc solve-padding; write output_padding: _ "
                                "to let solve find it", e.key_pos.get("output_padding", e.pos))

    def find_symbols(self):
        """Which symbols have no value, and where each is first seen."""
        seen = set(self.values)
        for i, raw in enumerate(self.spec.input):
            for n in names_in(raw):
                if n not in seen:
                    seen.add(n)
                    self.input_symbols.append(n)
                    self.var("$" + n, n, (0, i, 0), how="bare" if raw == n else "scan")
        for site in self.sites:
            if site.entry is None:
                continue
            for pos, (arg, raw) in enumerate(site.entry.args.items()):
                for n in self.arg_names(site, arg, raw):
                    if n not in seen:
                        seen.add(n)
                        site.symbols.append(n)
                        self.var("$" + n, n, (site.index, pos, 0), how="bare")
            for n in names_in(site.entry.expect or []):
                if n not in seen:
                    seen.add(n)
                    site.expect_symbols.append(n)
                    self.var("$" + n, n, (site.index, len(site.entry.args), 0), how="expect")
        # a symbol is solved as a whole value only where every first-layer occurrence is bare
        for site in self.leaves():
            for n in site.symbols:
                for arg, raw in site.entry.args.items():
                    items = raw if isinstance(raw, list) else [raw]
                    if any(isinstance(it, str) and n in self.arg_names(site, arg, it) and it != n for it in items):
                        self.vars["$" + n].how = "scan"
        for raw in self.spec.input:
            for n in names_in(raw):
                if raw != n and n in self.input_symbols:
                    self.vars["$" + n].how = "scan"

    def arg_names(self, site, arg, raw) -> list[str]:
        """Symbol names in an argument's raw value; none in words like ``same`` or ``reflect``."""
        kind = next((a.kind for a in site.cls.ARGS if a.name == arg), "any") if site.cls else "dim"
        if kind not in ("dim", "dims") and not per_axis_kind(kind):
            return []
        items = raw if isinstance(raw, list) else [raw]
        return names_in([it for it in items if not (isinstance(it, str) and it.strip().lower() in WORDS)])

    def probe(self):
        """Static pass: ranks, classes and names (with placeholder values for the unknowns). The
        graph builder has done it for a structured spec."""
        if self.structured:
            return
        x: tuple | None = tuple(v if is_int(v) else 64 for v in (self.static_int(d) for d in self.spec.input))
        ndim = len(self.spec.input)
        names: dict[str, int] = {}
        for site in self.sites:
            site.ndim_in = ndim
            try:
                site.cls = lookup(site.entry.type, ndim)
            except UnknownType as e:
                raise SpecError(str(e), site.entry.key_pos.get("type", site.entry.pos)) from None
            cls = site.cls
            second = [a for a in cls.tensor_args() if site.entry.args.get(a) is not None]
            if second:
                raise SpecError(f"netcalc solve works on a chain of layers; {second[0]}: reads another tensor",
                                site.entry.pos)
            site.name = site.entry.name or f"{cls.TYPE}_{site.index}"
            if site.name in names:
                raise SpecError(f"duplicate layer name {site.name!r} (layer {names[site.name]} has it too); "
                                "names must be unique", site.entry.key_pos.get("name", site.entry.pos))
            names[site.name] = site.index
            known = {a.name: a for a in cls.ARGS}
            for key in site.entry.args:
                if key not in known:
                    hint = did_you_mean(key, list(known)) or (
                        f"; {cls.TYPE} takes " + ", ".join(known) if known else f"; {cls.TYPE} takes no arguments")
                    raise SpecError(f"unknown argument {key!r} for {cls.TYPE}{hint}",
                                    site.entry.key_pos.get(key, site.entry.pos))
                check_blank_kind(cls, known[key], site.entry)
            y = None
            if x is not None:
                try:
                    entry = replace(site.entry, args=self.placeholder_args(site), name=site.name, expect=None)
                    layer = cls(entry, Context({**self.values}, self.no_bias, _one))
                    y = tuple(v if is_int(v) else 64 for v in layer.output_shape(x))
                except BUILD_ERRORS:
                    y = None
            x = y
            if y is not None:
                ndim = len(y)

    def placeholder_args(self, site) -> dict:
        safe = {"kernel_size": 1, "stride": 1, "padding": 0, "dilation": 1, "output_padding": 0, "groups": 1,
                "proj_size": 0, "padding_idx": None}
        out = {}
        for arg, raw in site.entry.args.items():
            if has_blank(raw):
                if arg in WIDTH_ARGS:
                    continue
                fill = safe.get(arg, 1)
                if isinstance(raw, list):
                    out[arg] = [fill if v == BLANK else v for v in raw]
                elif site.cls and next((a.kind for a in site.cls.ARGS if a.name == arg), "") == "bool":
                    out[arg] = False
                elif fill is not None:
                    out[arg] = fill
            else:
                out[arg] = raw
        return out

    def static_int(self, raw):
        """An integer from a raw value with only the spec's own symbol values, or None."""
        return self.read_int(raw, self.values)


    def read_int(self, raw, values):
        """An integer from a raw value (int or expression) with ``values`` for its names, or None."""
        if isinstance(raw, bool):
            return None
        if is_int(raw):
            return raw
        if isinstance(raw, str) and raw != BLANK:
            try:
                v = parse_expr(raw, values, _none_symbol)
            except (ExprError, _Unknown):
                return None
            return v if is_int(v) else None
        return None


    # ------------------------------------------------------------------ the search

    def run(self) -> SolveResult:
        self.check_supported()
        self.probe()
        self.find_symbols()
        self.backward()
        for span in (OPEN, 4 * OPEN):  # unlimited, but fewer than LIMIT solutions: look further once
            self.span = span
            self.reasons, self.solutions, self.count, self.open_used, self.gave_up = {}, [], 0, set(), False
            try:
                for values, x in self.inputs():
                    self.walk(0, x, values, [])
            except Stop:
                pass
            result = self.result()
            if result.count is not None or len(result.solutions) >= LIMIT or self.gave_up:
                break
        return result

    def note(self, stage: int, message):
        """Why a candidate failed at ``stage``: a sentence, or a function making one (only the
        reasons of a search without solutions are ever written out)."""
        bucket = self.reasons.setdefault(stage, [])
        if len(bucket) < 20 and (callable(message) or message not in bucket):
            bucket.append(message)

    def tick(self, n: int = 1):
        self.shared["work"] += n  # BUDGET counts every variant's checks (see blanks.variants)
        if self.shared["work"] > BUDGET:
            self.gave_up = True
            raise Stop

    def inputs(self) -> Iterator[tuple[dict, tuple]]:
        """Every candidate input shape: blanks and unset symbols of ``input`` filled."""
        raw = self.spec.input
        target = self.input_target
        slots = []  # (var id, positions)
        for i, d in enumerate(raw):
            if d == BLANK:
                slots.append((self.var(f"input.{i}", f"input[{i}]", (0, i, 0)), [i]))
        bare = {}
        for i, d in enumerate(raw):
            if is_name(d) and "$" + d in self.vars and self.vars["$" + d].how == "bare":
                bare.setdefault("$" + d, []).append(i)
        slots += list(bare.items())
        scanned = [v for v in ("$" + n for n in self.input_symbols) if self.vars[v].how == "scan"]
        comps = []
        opened = set()
        for vid, positions in slots:
            lo, hi = 1, None
            for i in positions:
                t = target[i] if target is not None and i < len(target) else None
                if t is not None:
                    lo, hi = max(lo, t[0]), t[1] if hi is None else (hi if t[1] is None else min(hi, t[1]))
            if hi is None:
                hi = lo + self.span - 1
                opened.add(vid)
            if hi < lo:
                src = next((target[i][2] for i in positions if target[i] is not None), "a later layer")
                self.note(0, f"{self.vars[vid].key}: no input size gives the shape {src} expects")
            divs = [target[i][3] for i in positions if target is not None and target[i] is not None
                    and len(target[i]) > 3 and target[i][3]]
            comps.append(Component((vid,), [(v,) for v in range(lo, hi + 1) if all(d % v == 0 for d in divs)]))
        for vid in scanned:
            comps.append(Component((vid,), [(v,) for v in range(1, SCAN + 1)]))
        order = sorted((c.vars[0] for c in comps), key=lambda v: self.vars[v].order)
        for values in join(comps, order):
            self.tick()
            env = {**self.values, **{self.vars[k].key: v for k, v in values.items() if k.startswith("$")}}
            x = []
            ok = True
            for i, d in enumerate(raw):
                if d == BLANK:
                    x.append(values[f"input.{i}"])
                    continue
                v = self.read_int(d, env)
                if v is None or v < 0:
                    ok = False
                    break
                x.append(v)
            if not ok:
                continue
            x = tuple(x)
            if target is not None and len(target) == len(x) and scanned and not all(  # a quick look first
                    t is None or (t[0] <= v and (t[1] is None or v <= t[1]))
                    for d, v, t in zip(raw, x, target) if d != BLANK and not is_name(d)):
                continue
            self.open_stack = [opened & set(values)]
            yield values, x

    def walk(self, depth: int, x: tuple, values: dict, path: list):
        """Site ``depth`` on, with network input ``x``; ``path`` holds (site, layer, input, output)
        of the sites before it."""
        if depth == len(self.sites):
            self.record(values, path)
            return
        site = self.sites[depth]
        ins = [path[s][3] if s >= 0 else x for s in site.sources]
        if site.op is not None:
            y = self.merge(site, ins)
            if y is None:
                return
            found = [values] if site.entry is None else [
                {**values, **extra} for extra in self.match_expect(site, y, values, self.env(values))]
            for full in found:
                self.walk(depth + 1, x, full, path + [(site, None, ins[0], y)])
            return
        for cand, opened in self.candidates(site, ins[0], values, self.tie_target(site, x, path)):
            for full, layer, y in self.check(site, ins[0], {**values, **cand}):
                self.open_stack.append(opened)
                self.walk(depth + 1, x, full, path + [(site, layer, ins[0], y)])
                self.open_stack.pop()

    def merge(self, site, shapes) -> tuple | None:
        """The merge's output, or None (and the reason noted) when its inputs do not line up."""
        self.tick()
        y = shapes[0]
        for b in shapes[1:]:
            out = merged_shape(site.op, y, b, site.dim)
            if out is None:
                verb = {"Concat": "concatenate", "Add": "add", "Multiply": "multiply"}[site.op]
                self.note(site.index, f"{site.name}: cannot {verb} {fmt_shape(shapes[0])} and {fmt_shape(b)}")
                return None
            y = out
        return y

    def record(self, values, path):
        if self.conditions and not self.conditions_hold(values):
            return
        self.count += 1
        opened = set().union(*self.open_stack)
        if opened:
            self.open_used |= opened
        if len(self.solutions) < LIMIT or not (self.open_used or self.scan_high()):
            self.solutions.append(self.solution(values, path))
        if len(self.solutions) >= LIMIT and (self.open_used or self.scan_high()):
            raise Stop

    def conditions_hold(self, values) -> bool:
        """Do the when: conditions this variant assumed come out as assumed with these values?"""
        subs = {symbol(letter): values[vid] for letter, vid in self.unknowns.items() if vid in values}
        for cond in self.conditions:
            scope = {n: v if is_int(v) else normalize(v.xreplace(subs)) for n, v in cond.scope.items()}
            try:
                ok = parse_condition(cond.text, scope, _no_symbol) == cond.truth
            except (ExprError, _Unknown):
                ok = False
            if not ok:
                self.note(len(self.sites) + 1, f"the when: {cond.text} is {not cond.truth} with these values, which "
                                               "makes another network")
                return False
        return True

    def scan_high(self) -> bool:
        return any(self.vars[k].how == "scan" and v >= SCAN // 2
                   for s in self.solutions[-1:] for k, v in s.values.items())

    # ------------------------------------------------------------------ one layer

    def env(self, values: dict) -> dict:
        return {**self.values, **{self.vars[k].key: v for k, v in values.items() if k.startswith("$")}}

    def check(self, site, x, values) -> Iterator[tuple[dict, Any, tuple]]:
        """Build the layer with ``values`` and keep it when its output meets ``expect``."""
        self.tick()
        env = self.env(values)
        entry = replace(site.entry, args=self.concrete_args(site, values), name=site.name, expect=None)
        try:
            cls = lookup(site.entry.type, len(x))
            layer = cls(entry, Context(env, self.no_bias, _no_symbol))
            y = tuple(layer.output_shape(x))
        except SpecError as e:
            self.note(site.index, e.message)
            return
        except (_Unknown, ExprError, ZeroDivisionError, TypeError, ValueError) as e:
            self.note(site.index, f"{site.name}: {e}")
            return
        if not all(is_int(v) for v in y):
            self.note(site.index, f"{site.name}: the output {fmt_shape(y)} is not a whole shape")
            return
        if site.entry.expect is None:
            yield values, layer, y
            return
        for extra in self.match_expect(site, y, values, env):
            yield {**values, **extra}, layer, y

    def match_expect(self, site, y, values, env) -> Iterator[dict]:
        want = site.entry.expect
        shown = "[" + ", ".join(map(str, want)) + "]"
        if len(want) != len(y):
            self.note(site.index, f"{site.name}: the output {fmt_shape(y)} has {len(y)} dimensions, "
                                  f"but expect {shown} has {len(want)}")
            return
        pending = []
        extra: dict = {}
        for i, (w, got) in enumerate(zip(want, y)):
            if w == BLANK:
                continue
            free = [n for n in names_in(w) if n not in env and "$" + n not in extra]
            if is_name(w) and free:
                extra["$" + w] = got
                env = {**env, w: got}
                continue
            if free:
                pending.append((i, w, got, free))
                continue
            v = self.read_int(w, env)
            if v != got:
                self.note(site.index, f"{site.name}: the output is {fmt_shape(y)}, not the expected {shown}")
                return
        yield from self.scan_expect(site, pending, extra, env, y, shown)

    def scan_expect(self, site, pending, extra, env, y, shown):
        if not pending:
            yield extra
            return
        (i, w, got, _), rest = pending[0], pending[1:]
        free = [n for n in names_in(w) if n not in env]
        if not free:
            if self.read_int(w, env) == got:
                yield from self.scan_expect(site, rest, extra, env, y, shown)
            else:
                self.note(site.index, f"{site.name}: the output is {fmt_shape(y)}, not the expected {shown}")
            return
        n = free[0]
        for v in range(1, SCAN + 1):
            self.tick()
            env2 = {**env, n: v}
            if len(free) == 1 and self.read_int(w, env2) != got:
                continue
            yield from self.scan_expect(site, [(i, w, got, free[1:])] + rest, {**extra, "$" + n: v}, env2, y, shown)

    def concrete_args(self, site, values) -> dict:
        args = dict(site.entry.args)
        for arg, raw in site.entry.args.items():
            if raw == BLANK:
                n = self.slot_count(site, arg)
                args[arg] = values[f"{site.index}.{arg}"] if n is None else [
                    values[f"{site.index}.{arg}.{i}"] for i in range(n)]
            elif isinstance(raw, list) and BLANK in raw:
                args[arg] = [values[f"{site.index}.{arg}.{i}"] if v == BLANK else v for i, v in enumerate(raw)]
        return args

    def slot_count(self, site, arg) -> int | None:
        """Unknowns a ``_`` stands for: one per axis for per-axis arguments, else None (one)."""
        from .layers.pool import AdaptivePoolNd

        cls = site.cls
        key = (cls, arg)
        if key not in self.counts:
            kind = next((a.kind for a in cls.ARGS if a.name == arg), "dim")
            if per_axis_kind(kind) or (kind == "dims" and issubclass(cls, AdaptivePoolNd)):
                self.counts[key] = cls.rank
            else:
                self.counts[key] = 1 if kind == "dims" else None
        return self.counts[key]

    def blanks(self, site) -> list[tuple[str, str, int | None]]:
        """(var id, argument, axis) of every ``_`` in the layer's arguments, registering the vars."""
        out = []
        cls = site.cls
        kinds = {a.name: a.kind for a in cls.ARGS}
        for pos, (arg, raw) in enumerate(site.entry.args.items()):
            kind = "bool" if kinds.get(arg) == "bool" else "int"
            key = f"{site.name}.{arg}"
            if raw == BLANK:
                n = self.slot_count(site, arg)
                if n is None:
                    out.append((self.var(f"{site.index}.{arg}", key, (site.index, pos, 0), kind), arg, None))
                else:
                    out += [(self.var(f"{site.index}.{arg}.{i}", key, (site.index, pos, i)), arg, i) for i in range(n)]
            elif isinstance(raw, list):
                out += [(self.var(f"{site.index}.{arg}.{i}", key, (site.index, pos, i)), arg, i)
                        for i, v in enumerate(raw) if v == BLANK]
        return out

    def candidates(self, site, x, values, tied=None) -> Iterator[tuple[dict, set]]:
        """Assignments of the layer's own unknowns, in listing order, with the open ones."""
        from .layers.conv import ConvNd, ConvTransposeNd
        from .layers.pool import PoolNd

        try:
            cls = lookup(site.entry.type, len(x))
        except UnknownType as e:
            self.note(site.index, str(e))
            return
        if cls is not site.cls:
            site.cls = cls
        blanks = self.blanks(site)
        syms = [("$" + n) for n in site.symbols]
        scanned = [v for v in syms if self.vars[v].how == "scan"]
        bare = [v for v in syms if self.vars[v].how == "bare"]
        if not blanks and not syms:
            yield {}, set()
            return
        own = self.expect_target(site, self.env(values))
        if own is not None and site.later is not None and len(own) == len(site.later):
            for i, (a, b) in enumerate(zip(own, site.later)):
                if a is not None and b is not None and (a[0] > hi_of(b) or b[0] > hi_of(a)):
                    self.note(site.index, f"{site.name}: its expect says dim {i} is {target_text(a)}, but the expect of "
                                          f"{b[2]} needs {target_text(b)} there")
                    return
        target = meet(meet(own, site.later), tied)
        windowed = issubclass(cls, (ConvNd, ConvTransposeNd, PoolNd))

        def stream(fixed):
            """The candidates with the scanned symbols at ``fixed``, in listing order."""
            try:
                make = self.window_components if windowed else self.generic_components
                comps, opened = make(site, cls, x, {**values, **fixed}, blanks, bare, target)
            except _Skip:
                return
            if comps is None:
                return
            opened = {o for o in opened if self.still_open(site, x, {**values, **fixed}, comps, o)}
            order = sorted({v for c in comps for v in c.vars}, key=lambda v: self.vars[v].order)
            for cand in join(comps, order):
                self.tick()
                yield {**fixed, **cand}, opened & set(cand)

        if len(scanned) == 1:  # each value's stream is in order; merged, they are in order too
            every = sorted({v for v in [*scanned, *bare, *(b[0] for b in blanks)]}, key=lambda v: self.vars[v].order)
            yield from heapq.merge(*(stream({scanned[0]: v}) for v in range(1, SCAN + 1)),
                                   key=lambda c: tuple(_sort_key(c[0].get(v, 0)) for v in every))
            return
        for combo in product(*[range(1, SCAN + 1)] * len(scanned)):  # several: symbol by symbol
            yield from stream(dict(zip(scanned, combo)))

    def still_open(self, site, x, values, comps, o) -> bool:
        """Does the layer still build with unknown ``o`` at the largest value tried? (The output
        formula may leave it unlimited while the layer's own checks do not: reflect padding
        must stay below the input size.)"""
        trial = dict(values)
        here: dict = {}
        for c in comps:
            col = c.vars.index(o) if o in c.vars else None
            row = max(c.rows, key=lambda r: r[col]) if col is not None else c.rows[0]
            for v, val in zip(c.vars, row):
                if here.get(v, val) != val:
                    return True  # rows that do not line up: no quick answer, keep it open
                here[v] = trial[v] = val
        self.tick()
        try:
            entry = replace(site.entry, args=self.concrete_args(site, trial), name=site.name, expect=None)
            lookup(site.entry.type, len(x))(entry, Context(self.env(trial), self.no_bias, _no_symbol)).output_shape(x)
        except BUILD_ERRORS:
            return False
        return True


    # ------------------------------------------------------------------ answers

    def solution(self, values, path) -> Solution:
        assignments: dict[str, Any] = {}
        for vid in sorted(values, key=lambda v: self.vars[v].order):
            var = self.vars[vid]
            if var.shown in assignments:
                continue
            if vid.startswith(("$", "input.")):
                assignments[var.shown] = values[vid]
                continue
            index, arg = int(vid.split(".")[0]), vid.split(".")[1]
            site = self.sites[index - 1]
            raw = site.entry.args[arg]
            if raw == BLANK and self.slot_count(site, arg) is None:
                assignments[var.key] = values[vid]
                continue
            full = self.concrete_args(site, values)[arg]
            env = self.env(values)
            full = [v if is_int(v) or isinstance(v, bool) else self.read_int(v, env) for v in full]
            per_axis = self.slot_count(site, arg) == getattr(site.cls, "rank", -1)
            assignments[var.key] = full[0] if per_axis and len(set(full)) == 1 else full
        assignments = axes_joined(assignments)
        blanked = {int(v.split(".")[0]) for v in values if v[0].isdigit()}
        solved = {self.vars[n].key for n in values if n.startswith("$")}
        for site in self.leaves():  # and every layer whose arguments use a symbol solve found
            if any(solved & set(self.arg_names(site, arg, raw)) for arg, raw in site.entry.args.items()):
                blanked.add(site.index)
        code, shapes = [], []
        for site, layer, x, y in path:
            if site.index in blanked:
                code.append(layer_ctor(layer, x).code(positional=POSITIONAL))
                shapes.append((site.name, x, y, layer.state_shapes(x)))
        return Solution(values=dict(values), assignments=assignments, code=code, shapes=shapes)

    def result(self) -> SolveResult:
        scanned_high = any(self.vars[k].how == "scan" and v >= SCAN // 2
                           for s in self.solutions for k, v in s.values.items())
        unbounded = self.open_used or scanned_high or self.gave_up
        if self.count == 0 and not self.gave_up:
            return SolveResult(0, [], unmet=self.unmet(), name=self.spec.name)
        if unbounded:
            keys = []
            for vid in sorted(self.open_used | {k for s in self.solutions for k, v in s.values.items()
                                                if self.vars[k].how == "scan" and v >= SCAN // 2},
                              key=lambda v: self.vars[v].order):
                if self.vars[vid].shown not in keys:
                    keys.append(self.vars[vid].shown)
            return SolveResult(None, self.solutions[:LIMIT], unbounded=keys, name=self.spec.name,
                               gave_up=self.gave_up)
        return SolveResult(self.count, self.solutions, name=self.spec.name)

    def unmet(self) -> list[str]:
        if not self.reasons:
            return ["no assignment meets every expect"]
        deepest = max(self.reasons)
        found = []
        for m in self.reasons[deepest]:
            text = m() if callable(m) else m
            if text not in found:
                found.append(text)
        out = found[:5]
        if len(found) > 5:
            out.append(f"... and {len(found) - 5} more like these")
        return out


# ============================================================================ helpers


def _none_symbol(name):
    raise _Unknown(name)


def _one(name):
    return 1


def join(comps: list[Component], order: list[str]) -> Iterator[dict]:
    """Every assignment of ``order`` consistent with one row of each component, in ascending
    lexicographic order of the values taken in ``order``."""
    where = [[(ci, comps[ci].vars.index(v)) for ci in range(len(comps)) if v in comps[ci].vars] for v in order]

    def rec(depth, rows, cur):
        if depth == len(order):
            yield dict(cur)
            return
        groups = None
        for ci, col in where[depth]:
            g: dict = {}
            for row in rows[ci]:
                g.setdefault(row[col], []).append(row)
            groups = {v: {ci: g[v]} for v in g} if groups is None else {
                v: {**groups[v], ci: g[v]} for v in groups if v in g}
        for v in sorted(groups or {}, key=_sort_key):
            nxt = list(rows)
            for ci, sub in groups[v].items():
                nxt[ci] = sub
            cur[order[depth]] = v
            yield from rec(depth + 1, nxt, cur)
        cur.pop(order[depth], None)

    yield from rec(0, [c.rows for c in comps], {})


def axes_joined(assignments: dict) -> dict:
    """``conv.kernel_size[0]`` and ``[1]`` (a structured spec's per-axis blanks) as one entry: the
    value when both axes agree, else the list, as a flat spec's ``kernel_size: _`` is reported."""
    out: dict = {}
    axes: dict = {}
    for key, v in assignments.items():
        base, bracket, rest = key.rpartition("[")
        if bracket and rest[:-1].isdigit() and rest.endswith("]"):
            axes.setdefault(base, {})[int(rest[:-1])] = v
            out.setdefault(base, None)
        else:
            out[key] = v
    for base, found in axes.items():
        if sorted(found) == list(range(len(found))):
            vals = [found[i] for i in range(len(found))]
            out[base] = vals[0] if len(set(vals)) == 1 else vals
        else:
            del out[base]
            out.update((f"{base}[{i}]", v) for i, v in sorted(found.items()))
    return out


def _sort_key(v):
    return (int(v), 0) if isinstance(v, bool) else (v, 0)


# ============================================================================ entry points

def solve_spec(spec: Spec, values: dict[str, int] | None = None, no_bias: bool = False) -> SolveResult:
    """Every assignment of the spec's blanks and unset symbols that meets its expectations."""
    if spec.is_plain():
        refuse_known_errors(spec, values, no_bias)
        return Solver(spec, values, no_bias).run()
    found = variants(spec, {**spec.symbols, **(values or {})}, no_bias)
    refuse_known_errors(spec, values, no_bias, found[0])
    shared = {"work": 0}
    results = []
    for v in found:
        solver = Solver(spec, values, no_bias, v)
        solver.shared = shared  # one BUDGET for all the variants
        results.append(solver.run())
    return combine(results, spec.name)


def combine(results: list[SolveResult], name) -> SolveResult:
    """One answer from the answers of each variant of the network (see blanks.variants)."""
    if len(results) == 1:
        return results[0]
    solutions = [s for r in results for s in r.solutions]
    if solutions:  # in the listing order of a single search: by the values, the first unknown first
        keys = list(solutions[0].assignments)
        solutions.sort(key=lambda s: tuple(tuple(int(x) for x in (v if isinstance(v, list) else [v]))
                                           for v in (s.assignments.get(k, 0) for k in keys)))
    if all(r.count == 0 for r in results):
        unmet = list(dict.fromkeys(m for r in results for m in r.unmet))
        return SolveResult(0, [], unmet=unmet[:6], name=name)
    if any(r.count is None for r in results):
        unbounded = list(dict.fromkeys(k for r in results for k in r.unbounded))
        return SolveResult(None, solutions[:LIMIT], unbounded=unbounded, name=name, gave_up=any(r.gave_up for r in results))
    return SolveResult(sum(r.count for r in results), solutions, name=name)


def refuse_known_errors(spec: Spec, values: dict[str, int] | None, no_bias: bool, variant: Variant | None = None) -> None:
    """Raise what ``netcalc shapes`` raises (the same located error) for the layers solve has
    nothing to find in: every layer before the first one with a blank or an unset symbol of its
    own, so all of them when there is none. Past that point a failure may be the unknowns'
    doing, and the search reports it as a reason there is no solution; so is an unmet expect:
    that is what solve answers (count 0), not a broken spec. Unset symbols of the input are
    tried at the INPUT_PROBES values: an error the same at each (stride: 0) is no size's doing."""
    from .network import read_dim, refuse_size_free_error

    static = Solver(spec, values, no_bias, variant)  # a separate one: the setup below is not repeatable
    static.check_supported()
    static.probe()
    static.find_symbols()
    for i, (d, pos) in enumerate(zip(spec.input, spec.input_pos)):
        if d != BLANK:
            read_dim(d, static.values, pos, f"input[{i}]")
    for site in static.leaves():
        # torch's constructor checks (stride: 0, bias: 7) need no shape. An error that stays the same
        # whether each blank is a letter or 1 is not the blanks' doing. An alias's rank comes from the
        # incoming shape: skipped.
        entry = site.entry
        if entry.type.strip().lower() != site.cls.TYPE.lower():
            continue
        kinds = {a.name: a.kind for a in site.cls.ARGS}
        errors = []
        for fill in ("letters", 1):
            args = {k: _fill_blanks(raw, k, kinds.get(k), fill) for k, raw in entry.args.items()}
            try:
                site.cls(replace(entry, args=args, name=site.name, expect=None), Context(dict(static.values), no_bias))
            except SpecError as e:
                errors.append(e)
        if len(errors) == 2 and errors[0].message == errors[1].message:
            raise errors[0]
    if any(d == BLANK for d in spec.input) or static.structured:  # the graph builder raised what it could
        return
    known = next((site.index - 1 for site in static.sites if site.symbols or site.expect_symbols
                  or any(has_blank(raw) for raw in site.entry.args.values())),
                 len(spec.layers))
    if not known:
        return
    prefix = replace(spec, layers=[replace(e, expect=None) for e in spec.layers[:known]])
    refuse_size_free_error(prefix, values or {}, static.input_symbols,
                           INPUT_PROBES if static.input_symbols else INPUT_PROBES[:1], no_bias)


def _fill_blanks(raw, key: str, kind: str | None, fill):
    """An argument with each blank filled: a letter of its own (``blank_padding_0``) or ``fill``; a
    true/false blank: false."""
    if raw == BLANK and kind == "bool":
        return False
    if raw == BLANK:
        return f"blank_{key}" if fill == "letters" else fill
    if isinstance(raw, list) and BLANK in raw:
        return [(f"blank_{key}_{i}" if fill == "letters" else fill) if v == BLANK else v for i, v in enumerate(raw)]
    return raw


def solve_text(text: str, filename: str = "spec.yaml", values: dict | None = None,
               no_bias: bool = False) -> SolveResult:
    from .spec import parse

    return solve_spec(parse(text, filename), values, no_bias)
