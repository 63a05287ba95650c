"""The unknowns of one layer of ``netcalc solve``: a window layer (conv, pool, transposed conv)
splits into its channel unknowns and each spatial axis's, solved as integer intervals
(:func:`netcalc.arith.solve_axis`); other layers' unknowns are read off the target where they
reach the output linearly (found by building the layer once with large primes), else scanned.
The mixin :class:`LayerUnknowns` is part of :class:`netcalc.solver.Solver`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import product
from math import gcd

from .arith import Unknown, solve_axis, spread_open, target_text
from .errors import SpecError
from .layers import Context
from .layers.base import REQUIRED, fmt_shape
from .solve_targets import WIDTH_ARGS, hi_of
from .symbolic import ExprError, is_int

AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


# the argument names of a window layer's per-axis quantities, in the solver's short names
WINDOW_ARGS = {"kernel_size": "k", "stride": "s", "padding": "p", "dilation": "d", "output_padding": "op"}


CHANNEL_ARGS = ("in_channels", "out_channels", "groups", "depth_multiplier")


NONNEGATIVE = ("padding", "output_padding", "proj_size", "padding_idx", "index")


DIM_INDEX = ("dim", "dim0", "dim1", "start_dim", "end_dim", "dims")


PRIMES = (1000003, 999983, 999979, 999961, 999959, 999953, 999931, 999917)


@dataclass
class Component:
    """Rows of values for some unknowns that hold together; components join on shared unknowns."""

    vars: tuple
    rows: list


class _Skip(Exception):
    pass


class _Unknown(Exception):
    pass


# what building a layer with trial values may raise (a refusal, not a bug)
BUILD_ERRORS = (SpecError, _Unknown, ExprError, ArithmeticError, TypeError, ValueError, KeyError, IndexError)


def _no_symbol(name):
    raise _Unknown(f"{name} has no value")


class LayerUnknowns:
    """Solver methods that list a layer's candidate values (see the module's docstring)."""

    def window_components(self, site, cls, x, values, blanks, bare, target):
        from .layers.conv import ConvTransposeNd, PointwiseConvNd
        from .layers.pool import PoolNd

        r = cls.rank
        if len(x) not in (r + 1, r + 2):
            self.note(site.index, f"{site.name} ({cls.TYPE}): expects a {r + 1}-D or {r + 2}-D input, "
                                  f"got {len(x)}-D shape {fmt_shape(x)}")
            return None, set()
        if target is not None and len(target) != len(x):
            self.note(site.index, f"{site.name}: the output has {len(x)} dimensions, but the expected shape "
                                  f"has {len(target)}")
            return None, set()
        env = self.env(values)
        slot_var = {(arg, axis): vid for vid, arg, axis in blanks}
        for vid in bare:  # a symbol written as a whole value: one unknown for every place it stands
            n = self.vars[vid].key
            for arg, raw in site.entry.args.items():
                if raw == n:
                    count = self.slot_count(site, arg)
                    for a in (range(count) if count else [None]):
                        slot_var[(arg, a)] = vid
                elif isinstance(raw, list):
                    for a, item in enumerate(raw):
                        if item == n:
                            slot_var[(arg, a)] = vid
        argnames = {a.name for a in cls.ARGS}

        def value(arg, axis):
            """Known int, a var id (str starting with a digit or $), or the default."""
            key = (arg, axis if self.slot_count(site, arg) else None)
            if key in slot_var:
                return Unknown(slot_var[key])
            spec_arg = next((a for a in cls.ARGS if a.name == arg), None)
            if spec_arg is None:
                return None
            raw = site.entry.args.get(arg, spec_arg.default)
            if raw is REQUIRED:
                raise SpecError(f"{cls.TYPE} needs {arg!r}", site.entry.pos)
            if arg == "bias" and self.no_bias:
                return False
            if isinstance(raw, bool) or raw is None or raw is REQUIRED:
                return raw
            if isinstance(raw, str) and raw.strip().lower() in ("same", "valid"):
                return raw.strip().lower()
            if isinstance(raw, list):
                raw = raw[axis] if axis is not None and axis < len(raw) else None
            if isinstance(raw, str) and spec_arg.kind == "bool":
                return raw.lower() == "true"
            v = self.read_int(raw, env)
            if v is None:
                raise _Skip
            return v

        comps: list[Component] = []
        opened: set[str] = set()
        lead = len(x) - r - 1
        c_in = x[lead]
        # ---------------------------------------------------------- channels
        ch_target = target[lead] if target is not None else None
        if issubclass(cls, PoolNd):
            if ch_target is not None and not ch_target[0] <= c_in <= hi_of(ch_target):
                self.note(site.index, self.unmet_text(site, ch_target, "in the channels", ch_target,
                                                      f"pooling keeps the {c_in} incoming channels"))
                return None, set()
        else:
            comp = self.channel_component(site, cls, c_in, ch_target, value, opened)
            if comp is None:
                return None, set()
            if comp.vars:
                comps.append(comp)
        # ---------------------------------------------------------- axes
        transposed = issubclass(cls, ConvTransposeNd)
        ceil = value("ceil_mode", None) if "ceil_mode" in argnames else False
        for a in range(r):
            L = x[lead + 1 + a]
            t = target[lead + 1 + a] if target is not None else None
            lo, hi = (1, None) if t is None else (max(1, t[0]), t[1])
            q = {}
            for arg, short in WINDOW_ARGS.items():
                if arg in argnames:
                    q[short] = value(arg, a)
                elif short in ("p", "op"):
                    q[short] = 0
                elif short == "d":
                    q[short] = 1
            if q.get("s") is None and issubclass(cls, PoolNd):
                q["s"] = "tied"
            if issubclass(cls, PointwiseConvNd):
                q = {"k": 1, "s": 1, "p": 0, "d": 1}
            order = sorted((n for n in q if isinstance(q[n], Unknown)), key=lambda n: self.vars[q[n].id].order)
            rows, vars_, open_a, why = solve_axis(L, lo, hi, q, ceil, transposed=transposed,
                                                  pool=issubclass(cls, PoolNd), order=order, span=self.span)
            if not rows:
                self.note(site.index, lambda t=t, a=a, lo=lo, hi=hi, why=why: self.unmet_text(
                    site, t, f"along {AXIS_NAMES[r][a]}", (lo, hi), why()))
                return None, set()
            opened |= open_a
            if vars_:
                comps.append(Component(tuple(vars_), rows))
        # ---------------------------------------------------------- switches that do not change the shape
        covered = {v for c in comps for v in c.vars}
        for vid in bare:
            if vid not in covered:
                raise SpecError(f"{site.name}: solve cannot find the symbol {self.vars[vid].shown} where it stands",
                                site.entry.pos)
        for vid, arg, axis in blanks:
            if vid not in covered and self.vars[vid].kind == "bool":
                comps.append(Component((vid,), [(False,), (True,)]))
                covered.add(vid)
            elif vid not in covered:
                raise SpecError(f"{site.name}: solve cannot find {arg} here",
                                site.entry.key_pos.get(arg, site.entry.pos))
        return comps, opened

    def unmet_text(self, site, t, where: str, want, core: str) -> str:
        """``Conv2d_1: expect [1, 4, 100, 1] cannot be met along W: <core>``."""
        if t is None or len(t) < 3 or t[2] in (None, site.name):
            shown = "[" + ", ".join(map(str, site.entry.expect or [])) + "]"
            return f"{site.name}: expect {shown} cannot be met {where}: {core}"
        return (f"{site.name}: the output {where} must be {target_text(want)} for the expect of {t[2]}, "
                f"which cannot be met: {core}")

    def channel_component(self, site, cls, c_in, t, value, opened):
        from .layers.conv import DepthwiseConvNd, PointwiseConvNd

        lo, hi = (1, None) if t is None else (max(1, t[0]), t[1])
        slots = {}
        for arg in CHANNEL_ARGS:
            if arg in {a.name for a in cls.ARGS}:
                slots[arg] = value(arg, None)
        if issubclass(cls, PointwiseConvNd):
            slots["groups"] = 1
        if issubclass(cls, DepthwiseConvNd):
            slots["groups"] = c_in
        lists = {}
        any_open: set[str] = set()
        for arg, v in slots.items():
            if not isinstance(v, Unknown):
                lists[arg] = [v if v is not None else c_in] if arg == "in_channels" else [v]
                continue
            if arg == "in_channels":
                lists[arg] = [c_in]
            elif arg == "out_channels":
                lo_c, hi_c = lo, hi
                bound = self.symbol_targets.get(v.id)  # the symbol's width further on
                if bound is not None:
                    lo_c, hi_c = max(lo, bound[0]), bound[1] if hi is None else hi if bound[1] is None else min(
                        hi, bound[1])
                top = hi_c if hi_c is not None else lo_c + self.span - 1
                if hi_c is None:
                    any_open.add(v.id)
                lists[arg] = list(range(lo_c, top + 1))
            elif arg == "groups":
                lists[arg] = [g for g in range(1, c_in + 1) if c_in % g == 0]
            elif arg == "depth_multiplier":
                first = -(-lo // c_in)
                last = hi // c_in if hi is not None else first + self.span - 1
                if hi is None:
                    any_open.add(v.id)
                lists[arg] = list(range(max(1, first), last + 1))
        names = list(lists)
        unknown = [a for a in names if isinstance(slots[a], Unknown)]
        rows = []
        seen = set()
        for combo in product(*(lists[a] for a in names)):
            got = dict(zip(names, combo))
            out = c_in * got["depth_multiplier"] if "depth_multiplier" in got else got["out_channels"]
            g = got.get("groups", 1)
            if not (lo <= out and (hi is None or out <= hi)):
                continue
            if not is_int(g) or g < 1 or c_in % g or out % g:
                continue
            ids = {}
            ok = True
            for a in unknown:
                vid = slots[a].id
                if vid in ids and ids[vid] != got[a]:
                    ok = False
                ids[vid] = got[a]
            if not ok:
                continue
            row = tuple(ids.values())
            if row not in seen:
                seen.add(row)
                rows.append(row)
        if not rows:
            known = {a: v for a, v in slots.items() if not isinstance(v, Unknown)}
            out = known.get("out_channels")
            if "depth_multiplier" in known and known["depth_multiplier"] is not None:
                out = c_in * known["depth_multiplier"]
            if out is not None and t is not None and not lo <= out <= hi_of(t):
                msg = f"out_channels is {out}"
            elif t is not None and issubclass(cls, DepthwiseConvNd):
                msg = f"a depthwise conv has a multiple of its {c_in} input channels"
            else:
                msg = "no out_channels/groups fit (groups must divide both channel counts)"
            self.note(site.index, self.unmet_text(site, t, "in the channels", (lo, hi), msg))
            return None
        ids = []
        for a in unknown:
            if slots[a].id not in ids:
                ids.append(slots[a].id)
        if any_open:
            opened |= spread_open(ids, rows, any_open, self.span)
        return Component(tuple(ids), rows)

    def generic_components(self, site, cls, x, values, blanks, bare, target):
        env = self.env(values)
        slots = [(vid, arg, axis) for vid, arg, axis in blanks]
        for vid in bare:
            n = self.vars[vid].key
            for arg, raw in site.entry.args.items():
                if raw == n:
                    slots.append((vid, arg, None))
                elif isinstance(raw, list):
                    slots += [(vid, arg, a) for a, item in enumerate(raw) if item == n]
        kinds = {a.name: a.kind for a in cls.ARGS}
        ints = []
        comps = []
        opened = set()
        seen = set()
        for vid, arg, axis in slots:
            if vid in seen:
                continue
            seen.add(vid)
            if self.vars[vid].kind == "bool" or kinds.get(arg) == "bool":
                comps.append(Component((vid,), [(False,), (True,)]))
            elif arg in WIDTH_ARGS:
                comps.append(Component((vid,), [(v,) for v in sorted(set(x))]))
            else:
                ints.append((vid, arg, axis))
        if ints:
            relations, y_probe = self.prime_probe(site, cls, x, values, env, slots, ints)
            big = max([1, *x, *(t[1] for t in (target or ()) if t is not None and t[1] is not None),
                       *(v for v in (self.read_int(r, env) for r in site.entry.args.values()) if v)])
            for vid, arg, axis in ints:
                vmin = 0 if arg in NONNEGATIVE else 1
                if arg in DIM_INDEX:
                    comps.append(Component((vid,), [(v,) for v in range(-len(x), len(x))]))
                    continue
                rel = relations.get(vid) if relations is not None else None
                if relations is None:      # the probe failed: a bounded scan
                    comps.append(Component((vid,), [(v,) for v in range(vmin, big + 1)]))
                    continue
                if rel is not None:
                    idx, coef = rel
                    t = target[idx] if target is not None and idx < len(target) else None
                    div = self.divisor(site, idx, t, relations, y_probe)
                    if div is not None:  # the dim must divide a number: its divisors only
                        lo_t = t[0] if t is not None else 1
                        hi_t = min(div, t[1]) if t is not None and t[1] is not None else div
                        comps.append(Component((vid,), [(v,) for v in range(max(vmin, 1), div // coef + 1)
                                                        if div % (coef * v) == 0 and lo_t <= coef * v <= hi_t]))
                        continue
                    if t is not None and t[1] is not None:
                        first = max(vmin, -(-t[0] // coef))
                        comps.append(Component((vid,), [(v,) for v in range(first, t[1] // coef + 1)]))
                        continue
                    first = max(vmin, -(-t[0] // coef)) if t is not None else vmin
                else:
                    first = vmin
                opened.add(vid)
                comps.append(Component((vid,), [(v,) for v in range(first, first + self.span)]))
        return comps, opened

    def prime_probe(self, site, cls, x, values, env, slots, ints):
        """Which output dim each integer unknown becomes (``dim = coef * value``), by building the
        layer once with large primes for them; None when that build fails."""
        widths = [s for s in slots if s[1] in WIDTH_ARGS]
        primes = {vid: PRIMES[i % len(PRIMES)] + 0 for i, (vid, _, _) in enumerate(ints)}
        for combo in product(*[sorted(set(x))] * len(widths)):
            trial = {**values, **primes, **{w[0]: c for w, c in zip(widths, combo)}}
            for vid, _, _ in slots:
                if vid not in trial:
                    trial[vid] = False
            try:
                entry = replace(site.entry, args=self.concrete_args(site, trial), name=site.name, expect=None)
                layer = cls(entry, Context(self.env(trial), self.no_bias, _no_symbol))
                y = layer.output_shape(x)
            except BUILD_ERRORS:
                continue
            out = {}
            for vid, p in primes.items():
                for i, d in enumerate(y):
                    if is_int(d) and d % p == 0 and 0 < d // p < 1000:
                        out[vid] = (i, d // p)
                        break
            return out, y
        return None, None

    def divisor(self, site, idx, t, relations, y_probe) -> int | None:
        """A number output dim ``idx`` must divide: from its target (a Flatten further on has an
        exact width) and from the dims it is flattened with, less those already known."""
        divs = [t[3]] if t is not None and len(t) > 3 and t[3] else []
        driven = {r[0] for r in relations.values()}
        for dims, total, _ in site.groups:
            if idx in dims and y_probe is not None and all(j < len(y_probe) for j in dims):
                known = 1
                for j in dims:
                    if j not in driven:
                        known *= y_probe[j] if is_int(y_probe[j]) else 1
                divs.append(total // known if total % known == 0 else 0)
        if not divs:
            return None
        return gcd(*divs) if all(divs) else 0
