"""The graph ``netcalc solve`` searches: the spec walked once, each blank a letter of its own.

A spec with blocks, ``repeat:``, ``when:``, residuals or concats is expanded by the graph
builder (:class:`netcalc.network.Walker`) exactly as every other command expands it: the same
names, the same edges. Each ``_`` stands for a letter while it walks, so what the blanks decide
stays visible: a ``when:`` or a block argument that depends on one is refused (solve would have
to branch on the structure), everything else becomes one :class:`Site` per layer or merge, its
arguments rewritten in the spec's own syntax over the spec's symbols and the blanks of block
arguments (``stage1.out: _`` becomes the letter ``blank__stage1__out``, reported as
``stage1.out``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from .errors import SpecError
from .layers import Context
from .layers.base import INPUT_WIDTHS
from .network import Walker, implicit
from .spec import Entry, Spec
from .symbolic import ExprError, _tokens, free_names, is_int, parse_expr, spec_text, symbol

BLANK = "_"
WORDS = ("same", "valid", "auto")  # argument values that are not expressions
PREFIX = "blank__"  # letters that stand for blanks while the spec is walked


@dataclass
class Site:
    """One layer (or merge) of the network, with what the static pass learnt about it."""

    index: int                     # 1-based position in the walk
    entry: Entry | None            # None for a merge
    name: str = ""
    sources: tuple = ()            # positions (0-based) of the sites it reads; -1 is the network input
    op: str | None = None          # a merge: "Add", "Concat", "Multiply"
    dim: int | None = None         # a Concat's dim
    ndim_in: int | None = None
    cls: type | None = None
    later: tuple | None = None     # target for the output from later layers: ((lo, hi, src[, div]) | None, ...)
    groups: list = field(default_factory=list)  # (dims, product, src): output dims that multiply to a number
    symbols: list = field(default_factory=list)  # symbols first seen here (args), in order
    expect_symbols: list = field(default_factory=list)  # symbols first seen in this layer's expect
    shape: tuple | None = None  # the output as the graph builder found it (ints: the same whatever the blanks)
    ties: list = field(default_factory=list)  # merges further on that join its output with an earlier tensor


@dataclass
class Condition:
    """A ``when:`` the blanks decide, taken as ``truth`` in one variant of the network: a solution
    of that variant counts only if the condition, evaluated with its values, is ``truth``."""

    text: str
    scope: dict      # the names it reads → values over the blank letters
    truth: bool


class Undecided(Exception):
    """A ``when:`` that depends on a blank, met in a walk that has not assumed its value."""


# variants of the network that when: conditions on blanks make: 2 ** (conditions, counted once per
# distinct condition and values) walks and searches
MAX_VARIANTS = 16


def has_blank(raw) -> bool:
    return raw == BLANK or (isinstance(raw, list) and BLANK in raw)


def per_axis_kind(kind: str) -> bool:
    """Argument kinds that take one value per spatial axis."""
    return kind in ("axes", "padding") or kind.startswith("axes")


def check_blank_kind(cls, arg, entry) -> None:
    """Solve finds integers and true/false: a blank in any other argument is an error."""
    raw, kind = entry.args.get(arg.name), arg.kind
    if has_blank(raw) and kind not in ("dim", "dims", "bool") and not per_axis_kind(kind):
        takes = "a number" if kind == "float" else "a choice"
        raise SpecError(f"{cls.TYPE}: {arg.name} cannot be a blank: solve finds integers (and true/false), and "
                        f"{arg.name} takes {takes}", entry.key_pos.get(arg.name, entry.pos))


class BlankWalker(Walker):
    """The graph builder, with letters for blanks and no shape checks that letters cannot pass
    (solve checks every candidate with numbers)."""

    def __init__(self, spec: Spec, ctx: Context, assume: dict):
        super().__init__(spec, ctx, strict_auto=True, explain=False)
        self.assume = assume  # (condition, the values it reads) → taken as true or false
        self.conditions: list[Condition] = []
        self.written: dict[int, tuple] = {}  # row position → (entry as written, its scope)
        self.labels: dict[str, str] = {}     # letter → the blank it stands for ("stage1.out")
        self.places: dict[tuple, str] = {}   # (entry, argument) → its letter
        self.calling = None                  # the block call whose arguments are being read
        self.expects: dict[int, list] = {}   # row position → [(raw expect, scope, entry)]
        self.dims: dict[int, int] = {}       # merge row position → concat dim

    def letter(self, entry, key: str, name: str = ""):
        """The letter of the blank written at ``entry``'s ``key`` (``key[i]``: one axis): one unknown
        however many times the entry is walked (a block's layer at every call, each repeat)."""
        place = (id(entry), key)
        if place not in self.places:
            label = f"{self.written_name(entry, name)}.{key}"
            letter = PREFIX + re.sub(r"\W", "_", label)
            while letter in self.labels:
                letter += "_"
            self.labels[letter] = label
            self.places[place] = letter
        return self.places[place]

    def written_name(self, entry, name: str) -> str:
        """Where an entry is written: in a block, ``Block.<its name or position>``; at the top, the
        name every command shows (``Conv2d_3`` when unnamed, ``layer2.0`` inside a group)."""
        if self.calls:
            return f"{self.calls[-1]}.{entry.name if entry.name is not None else entry.index}"
        if entry.repeat is not None:  # every copy: the entry's own name, or the group its copies are in
            return entry.name.replace("{i}", "") if entry.name is not None else name.rsplit(".", 1)[0]
        return name

    def block_arg(self, raw, scope, pos, what, ctx, path):
        entry = self.calling
        if raw == BLANK:
            return symbol(self.letter(entry, path.rsplit(".", 1)[1], path.rsplit(".", 1)[0]))
        if isinstance(raw, list) and BLANK in raw:
            key = path.rsplit(".", 1)[1]
            raw = [self.letter(entry, f"{key}[{i}]", path.rsplit(".", 1)[0]) if v == BLANK else v
                   for i, v in enumerate(raw)]
        return super().block_arg(raw, scope, pos, what, ctx, path)

    def call(self, entry, x, field, ctx, name, node):
        self.calling = entry
        return super().call(entry, x, field, ctx, name, node)

    def condition(self, entry, ctx, x) -> bool:
        try:
            return super().condition(entry, ctx, x)
        except SpecError:
            scope = {**implicit(x), **ctx.values}
            names = [v for k, v in _tokens(str(entry.when)) if k == "name" and v in scope]
            lettered = {n: scope[n] for n in names if not is_int(scope[n]) and hasattr(scope[n], "free_symbols")
                        and any(s.name.startswith(PREFIX) for s in scope[n].free_symbols)}
            if not lettered:
                raise  # not the blanks' doing
            key = (str(entry.when), tuple((n, str(scope[n])) for n in names))
            if key not in self.assume:
                raise Undecided(key) from None
            self.conditions.append(Condition(str(entry.when), {n: scope[n] for n in names}, self.assume[key]))
            return self.assume[key]

    def expect(self, entry, y, values, name=None):
        self.expects.setdefault(self.source, []).append((entry.expect, values, entry))

    def merged_shape(self, op, a, b, dim):
        self.dims[len(self.rows)] = dim
        if op == "Concat" and len(a) == len(b) and dim is not None:
            return tuple(p + q if i == dim else p for i, (p, q) in enumerate(zip(a, b)))
        return a

    def leaf(self, entry, x, field, ctx, name):
        cls = self.layer_class(entry, x)
        if not name:
            name = self.default_name(entry, cls)
        second = [key for key in cls.tensor_args() if entry.args.get(key) is not None]
        if second:
            raise SpecError(f"netcalc solve works on layers of one input; {second[0]}: reads another tensor", entry.pos)
        kinds = {a.name: a.kind for a in cls.ARGS}
        for arg in cls.ARGS:
            check_blank_kind(cls, arg, entry)
        lettered = any(n.startswith(PREFIX) for d in x if not is_int(d) for n in free_names(d))
        written, walked = {}, {}  # the arguments solve reads (letters for blanks); those the walk reads
        for key, raw in entry.args.items():
            if key in INPUT_WIDTHS and (lettered or has_blank(raw)):
                written[key] = raw  # a width the layer reads off its input, as solve does: checked with numbers
                continue
            if not has_blank(raw):
                written[key] = walked[key] = raw
            elif kinds.get(key) == "bool":
                if key != "bias":  # true/false may change the shape, which later layers would then depend on
                    raise SpecError(f"{name}: a true/false blank ({key}) is solved in a flat list of layers only",
                                    entry.where(key))
                written[key], walked[key] = raw, False  # bias: one unknown per layer, the shape the same
            elif raw == BLANK and not per_axis_kind(kinds.get(key, "")):
                written[key] = walked[key] = self.letter(entry, key, name)
            else:
                items = raw if isinstance(raw, list) else [BLANK] * cls.rank
                written[key] = walked[key] = [self.letter(entry, f"{key}[{i}]", name) if v == BLANK else v
                                              for i, v in enumerate(items)]
        y, field = super().leaf(replace(entry, args=walked, expect=None), x, field, ctx, name)
        self.written[len(self.rows) - 1] = (replace(entry, args=written), ctx.values)
        if entry.expect is not None:
            self.expects.setdefault(len(self.rows) - 1, []).append((entry.expect, ctx.values, entry))
        return y, field


@dataclass
class Variant:
    """One way the network can be, given the truth of the when: conditions its blanks decide."""

    sites: list[Site]
    labels: dict[str, str]  # letters of block arguments' blanks → what they are reported as
    conditions: list[Condition]
    unknowns: dict[str, str]  # letter → the solver's unknown it stands for (its var id)


def variants(spec: Spec, values: dict, no_bias: bool) -> list[Variant]:
    """Every variant of the network: one, unless a when: depends on a blank (then one for each
    truth of each such condition the walk meets, at most MAX_VARIANTS)."""
    done, pending = [], [{}]
    while pending:
        assume = pending.pop(0)
        try:
            done.append(variant(spec, values, no_bias, assume))
        except Undecided as e:
            pending += [{**assume, e.args[0]: False}, {**assume, e.args[0]: True}]
            if len(done) + len(pending) > MAX_VARIANTS:
                raise SpecError(f"netcalc solve: the blanks decide more than {MAX_VARIANTS} variants of the network "
                                f"through when: conditions (MAX_VARIANTS); give some of those blanks a value",
                                spec.key_pos.get("layers")) from None
    return done


def variant(spec: Spec, values: dict, no_bias: bool, assume: dict) -> Variant:
    """The network's layers and merges in walk order, arguments rewritten over global names,
    with the when: conditions on blanks as ``assume`` says."""
    letters = {}
    raw_input = []
    for i, d in enumerate(spec.input):
        if d == BLANK:
            letters[f"{PREFIX}input_{i}"] = i
            d = f"{PREFIX}input_{i}"
        raw_input.append(d)
    walker = BlankWalker(replace(spec, input=raw_input), Context(values, no_bias), assume)
    walker.run(values)
    out: list[Site] = []
    for pos, row in enumerate(walker.rows):
        sources = tuple(s if s >= 0 else -1 for s in row.inputs)
        if row.layer is None:
            site = Site(pos + 1, None, row.name, sources, op=row.type, dim=walker.dims.get(pos),
                        ndim_in=len(row.input_shape))
        else:
            written, scope = walker.written[pos]
            entry = replace(written, name=row.name, args={k: rewrite(v, scope, k, row.layer) for k, v in
                                                          written.args.items()}, expect=None)
            site = Site(pos + 1, entry, row.name, sources, cls=type(row.layer), ndim_in=len(row.input_shape))
        site.shape = row.output_shape
        out.append(site)
    for pos, found in walker.expects.items():
        if pos < 0:
            raise SpecError("netcalc solve: an expect: on a group that adds no layer", found[0][2].where("expect"))
        site = out[pos]
        dims = [[BLANK if w == BLANK else rewrite(w, scope, "expect", None) for w in raw] for raw, scope, _ in found]
        if len(dims) > 1 and any(d != dims[0] for d in dims[1:]):
            raise SpecError(f"netcalc solve: {site.name}'s output has two different expect: shapes "
                            "(the layer's and its group's); keep one", found[-1][2].where("expect"))
        if site.entry is None:
            site.entry = Entry(type=site.op, args={}, pos=found[0][2].pos, name=site.name)
        site.entry = replace(site.entry, expect=dims[0])
    # the input's blanks are solved where they stand; a layer reading one (a block argument of
    # in_channels) would need it solved as a symbol instead
    used = {n for site in out if site.entry is not None for n in names_of(site.entry)}
    leaked = used & set(letters)
    if leaked:
        raise SpecError(f"netcalc solve cannot follow the blank input[{letters[min(leaked)]}] into a block's "
                        "arguments (in_channels, in_features); give it a value, or pass the block its widths as "
                        "numbers", spec.key_pos.get("layers"))
    unknowns = {f"{PREFIX}input_{i}": f"input.{i}" for i in letters.values()}
    unknowns.update((n, "$" + n) for n in walker.labels)
    return Variant(out, dict(walker.labels), walker.conditions, unknowns)


def names_of(entry: Entry) -> set[str]:
    found = set()
    for raw in [*entry.args.values(), *(entry.expect or [])]:
        for item in raw if isinstance(raw, list) else [raw]:
            if isinstance(item, str) and PREFIX in item:
                found |= set(re.findall(PREFIX + r"\w*", item))
    return found


def rewrite(raw, scope: dict, key: str, layer):
    """A raw argument over the spec's symbols and the blank letters, with the block's own names
    (its arguments, the incoming widths) replaced by their values."""
    if isinstance(raw, list):
        return [rewrite(v, scope, key, layer) for v in raw]
    if not isinstance(raw, str) or raw == BLANK:
        return raw
    text = raw.strip()
    if text in scope and not is_int(scope[text]) and not hasattr(scope[text], "free_symbols"):
        value = scope[text]  # true/false, or a list argument
        return list(value) if isinstance(value, tuple) else value
    kind = next((a.kind for a in type(layer).ARGS if a.name == key), "any") if layer is not None else "dim"
    if text.lower() in WORDS or not (kind in ("dim", "dims", "padding") or kind.startswith("axes")):
        return raw
    try:
        value = parse_expr(text, scope, symbol)
        return value if is_int(value) else spec_text(value)
    except ExprError:
        return raw  # the layer reports it when solve builds it
