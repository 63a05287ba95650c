"""Walk a spec's layers in order, propagating the shape and receptive field.

:func:`analyze` is the whole computation: a plain loop over layers, no framework, no
forward pass. The result is a :class:`netcalc.report.Report`, pure data.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dataclass_field, replace

from .errors import SpecError, did_you_mean, show
from .layers import Context, lookup
from .layers.base import fmt_shape, numel
from .layers.registry import UnknownType
from .report import BlockRow, LayerRow, Report
from .rf import Field, union
from .spec import Spec
from .symbolic import (ExprError, check_formula, check_size, free_names, is_int, parse_condition, parse_expr, same,
                       sympy)

# The most rows (leaf layers plus add/concat/multiply merges) one analysis may produce once
# repeat:, block calls and when: are expanded. Each row costs about 50 µs and 3-5 KB (repeat: 100000
# took 5 s and 520 MB), and a block calling the previous one twice doubles per level, so the count is
# checked before anything is expanded. 20,000 is twice the 10,000-layer benchmark chain and ~30 times
# the largest network in specs/ and netcalc/zoo/.
MAX_LAYERS = 20_000
# Block calls inside block calls: each level costs several Python frames in the walk (a chain of 250
# blocks each calling the next overflowed the interpreter's stack); real networks nest 3 or 4 deep.
MAX_NESTING = 64


@dataclass(slots=True, eq=False)
class Node:
    """One walked occurrence of a spec entry: a layer, a block call, a group or a merge group.
    Its children are :class:`Step` lists, in walk order (the graph every command reads)."""

    entry: object  # the spec entry (its position, name, arguments, as written)
    name: str  # netcalc's name for it (a transparent group: its parent's)
    x: tuple  # input shape
    y: tuple | None = None  # output shape
    layer: object = None  # a layer: the layer object
    row: int | None = None  # a layer: its row; a merge group: its merge row
    merge: str | None = None  # a merge group: its merge row's name
    body: list = dataclass_field(default_factory=list)  # a group's children, a call's layers, a residual's main branch
    shortcut: list | None = None  # a residual's shortcut (None: the identity)
    branches: list | None = None  # a concat's or add's parallel branches
    copies: list | None = None  # a named repeat: one Node per copy
    args: dict | None = None  # a block call: its arguments' values
    dim: object = None  # a concat: its dim as written (before wrapping a negative one)
    transparent: bool = False  # an unnamed group inside a block: its children carry its parent's names


@dataclass(slots=True, eq=False)
class Step:
    """One entry of a sequence as the walk took it (entries a ``when:`` skips have none)."""

    entry: object
    nodes: list  # its node, or one per copy of a repeat: (BlockTemplate: the condition left open)
    scope: dict  # the names the entry's expressions read (values, the incoming tensor's widths)
    copies: int | None = None  # repeat: the count
    cond: object = None  # BlockTemplate: a when: left open (a sympy boolean)


class NotGeneric(Exception):
    """A block cannot be walked once for all its calls (see BlockTemplate)."""


class LimitError(SpecError):
    """A spec refused for its size (MAX_LAYERS, a runaway formula), not for a wrong value:
    ``netcalc sizes`` reports it instead of scanning on."""


def read_dim(raw, values: dict, pos, what: str, make_symbol=None):
    """A dimension as written in the spec: an integer, a name or an expression."""
    from .symbolic import symbol

    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise SpecError(f"{what} must be an integer or an expression, got {show(raw)}", pos)
    try:
        value = check_size(raw) if is_int(raw) else parse_expr(raw, values, make_symbol or symbol)
    except ExprError as e:
        raise SpecError(f"{what}: {e}", pos) from None
    if is_int(value) and value < 0:
        raise SpecError(f"{what} must not be negative, got {value}", pos)
    return value


def read_block_arg(raw, values: dict, pos, what: str, make_symbol=None):
    """A block argument's value: true/false, a dimension, or a list of them (a per-axis kernel)."""
    if isinstance(raw, bool):
        return raw
    if isinstance(values.get(raw), tuple) if isinstance(raw, str) else False:
        return values[raw]  # passed on from the calling block's own list argument
    if isinstance(raw, list):
        if not raw or any(isinstance(v, (list, dict)) for v in raw):
            raise SpecError(f"{what} must be a value or a flat list of values, got {show(raw)}", pos)
        return tuple(read_dim(v, values, pos, f"{what}[{i}]", make_symbol) for i, v in enumerate(raw))
    return read_dim(raw, values, pos, what, make_symbol)


def input_shape(spec: Spec, values: dict) -> tuple:
    return tuple(read_dim(d, values, p, f"input[{i}]") for i, (d, p) in enumerate(zip(spec.input, spec.input_pos)))


def analyze(spec: Spec, values: dict[str, int] | None = None, no_bias: bool = False,
            strict_auto: bool = True, explain: bool = False, dtype: str = "float32",
            shapes_only: bool = False) -> Report:
    """Shapes, parameters, costs and receptive fields of every layer of ``spec``.

    ``values`` (from ``--set``) override the spec's ``symbols:`` defaults; names left
    without a value stay symbols. A transposed conv with ``output_padding: auto`` gets the
    value that makes it reproduce its ``match`` layer's input (or, without ``match``, that of
    the strided layer it mirrors); when none works that is an error, or with
    ``strict_auto=False`` a choice with ``output_padding: None`` and the reason.
    """
    values = {**spec.symbols, **(values or {})}
    walker = Walker(spec, Context(values, no_bias), strict_auto, explain)
    walker.shapes_only = shapes_only
    x, y, inputs = walker.run(values)
    outputs = {}
    for name in spec.outputs:  # several outputs: each a named tensor the network returns
        if name not in walker.saved:
            hint = did_you_mean(name, list(walker.saved))
            raise SpecError(f"outputs: no input or layer is named {name!r}{hint}", spec.key_pos.get("outputs"))
        outputs[name] = walker.saved[name][0]
    return Report(name=spec.name, input_shape=x, output_shape=y, layers=walker.rows,
                  choices=walker.choices, blocks=walker.blocks, dtype=dtype, warnings=walker.warnings,
                  inputs=inputs if len(inputs) > 1 else None, outputs=outputs or None, graph=walker.graph)


class Walker:
    """One pass over the (possibly nested) layers: a plain loop, recursing into blocks and branches."""

    def __init__(self, spec: Spec, ctx: Context, strict_auto: bool, explain: bool):
        self.spec, self.ctx, self.strict_auto, self.explain = spec, ctx, strict_auto, explain
        self.rows: list[LayerRow] = []
        self.blocks: list[BlockRow] = []
        self.choices: list[dict] = []
        self.mirror: list[LayerRow] = []  # strided layers not yet undone by a transposed conv, innermost last
        self.saved: dict[str, tuple] = {}  # name → (output shape, field, source) for `with:` references
        self.source = -1  # the row whose output is the current tensor (-1: the network input)
        self.frozen = 0  # trainable: false groups being walked
        self.top_names: dict[str, int] = {}
        self.calls: list[str] = []  # block calls in progress, to report recursion
        self.warnings: list[str] = []
        self.shapes_only = False  # validity checks (netcalc sizes) need only the shapes
        self.block_rows: dict = {}  # (block, its values) → rows one call adds at most, see rows_of
        self.graph: list[Step] = []  # the top-level sequence, walked
        self.into: list[Node] = []  # where the node being walked goes (its Step's nodes, a named repeat's copies)

    def run(self, values: dict):
        """Walk the whole spec: (input shape, output shape, every named input's shape)."""
        spec = self.spec
        x = input_shape(spec, values)
        inputs = {}
        for k, (name, (dims, positions)) in enumerate(spec.inputs.items()):
            shape = x if k == 0 else tuple(read_dim(d, values, p, f"inputs.{name}[{i}]")
                                           for i, (d, p) in enumerate(zip(dims, positions)))
            inputs[name] = shape
            self.saved[name] = (shape, Field() if k == 0 else None, -1 - k)  # the field is the first input's
        try:
            y, _ = self.sequence(spec.layers, x, Field(), self.ctx, "", self.graph)
        except RecursionError:  # structures nested past what MAX_NESTING and the parsers' limits catch
            raise LimitError("the spec nests blocks and structures too deeply to walk; flatten some of them",
                             spec.layers[0].pos if spec.layers else None) from None
        return x, y, inputs

    # ------------------------------------------------------------------ the MAX_LAYERS budget

    def check_budget(self, entries, ctx):
        """Refuse, before expanding anything, a sequence that would grow past MAX_LAYERS rows;
        the error points at the entry that crosses the limit."""
        total = len(self.rows)
        for entry in entries:
            total += self.rows_of(entry, ctx.values)
            if total > MAX_LAYERS:
                raise LimitError(f"the network expands to more than MAX_LAYERS = {MAX_LAYERS} layers here (repeat:, "
                                "blocks and when: expanded); netcalc refuses networks that large: use a smaller "
                                "repeat: or fewer nested block calls", entry.where("repeat"))

    def rows_of(self, entry, values: dict) -> int:
        """An upper bound on the rows ``entry`` adds, repeats included, computed without expanding
        it: when: conditions count as true; a repeat: that cannot be read yet counts once (it is
        checked again when its sequence is reached, with the values known by then)."""
        if entry.kind == "layer" and entry.repeat is None:
            return 1
        copies = 1
        if entry.repeat is not None:
            try:
                n = read_dim(entry.repeat, values, entry.pos, "repeat", _no_symbol)
            except (SpecError, _Unknown):
                n = 1
            copies = n if is_int(n) and n > 0 else 1
            if copies > MAX_LAYERS:
                return copies  # over the limit already; skip counting the body
        return copies * self.one_copy_rows(entry, values)

    def one_copy_rows(self, entry, values: dict) -> int:
        kind = entry.kind
        if kind == "layer":
            return 1
        if kind == "block":
            return self.block_call_rows(entry, values)
        lists = ([entry.children] if entry.children is not None else []) + (entry.branches or [])
        if entry.shortcut is not None:
            lists.append(entry.shortcut)
        merge = 0 if kind == "sequential" else 1
        return merge + sum(self.rows_of(e, values) for body in lists for e in body)

    def block_call_rows(self, entry, values: dict) -> int:
        block = self.spec.blocks[entry.type]
        inner = dict(values)
        for key, default in block.params.items():
            raw = entry.args.get(key, default)
            try:
                inner[key] = raw if isinstance(raw, bool) else read_dim(raw, values, entry.pos, key, _no_symbol)
            except (SpecError, _Unknown):
                inner.pop(key, None)  # depends on the incoming tensor: unknown until the call runs
        key = (block.name, tuple(sorted(((k, v) for k, v in inner.items() if is_int(v)), key=lambda kv: kv[0])))
        rows = self.block_rows.get(key)
        if rows is None:
            if block.name in self.calls or key in self.block_rows:
                return 1  # a recursive block: call() reports the cycle
            self.check_nesting(entry)
            self.block_rows[key] = 1  # marks the call in progress
            self.calls.append(block.name)
            try:
                rows = sum(self.rows_of(e, inner) for e in block.layers)
            finally:
                self.calls.pop()
            self.block_rows[key] = rows
        return rows

    # ------------------------------------------------------------------ sequences

    def sequence(self, entries, x, field, ctx, prefix: str, into: list | None = None):
        """Walk ``entries`` in order, one :class:`Step` per entry taken into ``into``."""
        self.check_budget(entries, ctx)
        steps = into if into is not None else []
        ordinal = 0
        region = None  # (condition, input) of the last group walked under a condition left open
        for entry in entries:
            cond = None
            if entry.when is not None:
                taken = self.condition(entry, ctx, x)
                if taken is False:
                    continue
                cond = None if taken is True else taken
            if entry.source is not None:  # from: NAME reads a named tensor instead of the previous output
                x, field, self.source = self.tensor(entry.source, entry, "from", prefix)
            copies = self.repeat_count(entry, ctx)
            if cond is not None and not (copies is None and entry.kind in ("layer", "block")):
                if region is not None and self.exclusive(region[0], cond):
                    x = region[1]  # an alternative to the entry before: it sees the same input
                region = (cond, x)
            else:
                region = None
            step = Step(entry, [], {**implicit(x), **ctx.values}, copies, cond)
            steps.append(step)
            if copies is None:
                name = self.name_of(entry, prefix, ordinal)
                self.into = step.nodes
                x, field = self.node(entry, x, field, ctx, name, prefix)
                ordinal += 1
            elif entry.name is None and prefix:  # unnamed repeat: siblings, numbered on (ResNet's layerN)
                for _ in range(copies):
                    self.into = step.nodes
                    x, field = self.node(entry, x, field, ctx, f"{prefix}.{ordinal}", prefix)
                    ordinal += 1
            elif "{i}" in (entry.name or ""):  # a name template: siblings encoder_layer_0, encoder_layer_1, ...
                for k in range(copies):
                    name = entry.name.replace("{i}", str(k))
                    if prefix:
                        name = f"{prefix}.{name}"
                    else:
                        self.claim_top(name, entry)
                    self.into = step.nodes
                    x, field = self.node(entry, x, field, ctx, name, prefix)
                    ordinal += 1
            else:  # a named group whose children are numbered 0..n-1
                group = self.name_of(entry, prefix, ordinal) or self.default_name(entry, self.layer_class(entry, x))
                first, x0 = len(self.rows), x
                holder = Node(entry, group, x, copies=[])
                step.nodes.append(holder)
                for k in range(copies):
                    self.into = holder.copies
                    x, field = self.node(entry, x, field, ctx, f"{group}.{k}", group)
                holder.y = x
                self.block_row(group, f"{entry.type} × {copies}", first, x0, x)
                ordinal += 1
        return x, field

    def exclusive(self, a, b) -> bool:
        """Whether two conditions left open never hold together (BlockTemplate)."""
        return False

    def name_of(self, entry, prefix: str, ordinal: int) -> str:
        if prefix:
            return f"{prefix}.{entry.name if entry.name is not None else ordinal}"
        if entry.name is not None:
            name = entry.name
        elif entry.kind == "layer":
            return ""  # decided in leaf(), which knows the class
        else:
            name = f"{entry.type if entry.kind == 'block' else entry.kind.capitalize()}_{entry.index}"
        self.claim_top(name, entry)
        return name

    def claim_top(self, name, entry):
        if name in self.top_names:
            raise SpecError(f"duplicate layer name {name!r} (layer {self.top_names[name]} has it too); "
                            "names must be unique", entry.where("name"))
        self.top_names[name] = entry.index

    def repeat_count(self, entry, ctx):
        if entry.repeat is None:
            return None
        n = read_dim(entry.repeat, ctx.values, entry.where("repeat"), "repeat")
        if not is_int(n) or n < 1:
            hint = "" if is_int(n) else f"; give {', '.join(sorted(free_names(n)))} a value with --set"
            raise SpecError(f"repeat must be a positive integer, got {n}{hint}", entry.where("repeat"))
        return n

    def condition(self, entry, ctx, x) -> bool:
        try:
            return parse_condition(entry.when, {**implicit(x), **ctx.values}, ctx.make_symbol)
        except ExprError as e:
            raise SpecError(f"when: {e}", entry.where("when")) from None

    # ------------------------------------------------------------------ nodes

    def node(self, entry, x, field, ctx, name: str, prefix: str):
        kind = entry.kind
        if kind == "layer":
            try:
                return self.leaf(entry, x, field, ctx, name)
            except RecursionError:  # sympy on a formula nested deeper than check_formula caught
                raise LimitError(f"{name or entry.type}: a formula nested too deeply to compute; give some letters "
                                "values with --set", entry.pos) from None
        if not entry.trainable:  # a frozen group: every leaf inside is frozen
            self.frozen += 1
            try:
                return self.group(entry, x, field, ctx, name, prefix)
            finally:
                self.frozen -= 1
        return self.group(entry, x, field, ctx, name, prefix)

    def group(self, entry, x, field, ctx, name: str, prefix: str):
        kind = entry.kind
        first, x0, source = len(self.rows), x, self.source
        # an unnamed group inside a block takes its parent's names, except parallel branches, whose
        # numbering (X.0, X.1) would collide with their siblings': they are named by their ordinal
        transparent = kind != "block" and entry.name is None and bool(prefix) and not entry.branches
        inner = prefix if transparent else name
        node = Node(entry, name, x, transparent=transparent)
        self.into.append(node)
        if kind == "block":
            y, field = self.call(entry, x, field, ctx, name, node)
        elif kind == "sequential":
            y, field = self.sequence(entry.children, x, field, ctx, inner, node.body)
        elif kind == "residual":
            y, field = self.residual(entry, x, field, ctx, inner, node)
        elif kind == "multiply":
            gate, _ = self.sequence(entry.children, x, field, ctx, inner, node.body)
            y = self.merge(entry, "Multiply", inner, [("input", x, source), ("gate", gate, self.source)], x, ctx)
            field = None
        else:  # concat, add
            y, field = self.combine(entry, x, field, ctx, inner, node)
        node.y = y
        if kind not in ("block", "sequential"):
            node.row, node.merge = len(self.rows) - 1, self.rows[-1].name
        if not transparent:
            self.block_row(name, entry.type if kind == "block" else kind.capitalize(), first, x0, y)
            self.saved[name] = (y, field, self.source)
        if entry.expect is not None:
            self.expect(entry, y, ctx.values, name)
        return y, field

    def check_nesting(self, entry):
        if len(self.calls) >= MAX_NESTING:
            raise LimitError(f"block calls nest more than MAX_NESTING = {MAX_NESTING} deep here "
                             f"({' → '.join(self.calls[:3])} → ... → {self.calls[-1]} → {entry.type}); "
                             "netcalc refuses networks nested that deeply", entry.pos)

    def call(self, entry, x, field, ctx, name, node: Node):
        block = self.spec.blocks[entry.type]
        self.check_nesting(entry)
        if block.name in self.calls:
            chain = " → ".join(self.calls + [block.name])
            raise SpecError(f"block {block.name} uses itself ({chain}): recursive blocks never end", entry.pos)
        # names its arguments and layers see: outer values < the incoming tensor's widths < its arguments
        scope = {**ctx.values, **implicit(x)}
        values = dict(scope)
        for key, raw in entry.args.items():
            if key not in block.params:
                hint = did_you_mean(key, list(block.params))
                raise SpecError(f"unknown argument {key!r} for block {block.name}{hint or ''}; it takes "
                                f"{', '.join(block.params) or 'no arguments'}", entry.where(key))
        for key, default in block.params.items():
            raw = entry.args.get(key, default)
            if raw is None:
                raise SpecError(f"block {block.name} needs {key!r}", entry.pos)
            pos = entry.pos if key in entry.args else block.key_pos.get(key, entry.pos)
            values[key] = self.block_arg(raw, scope, pos, f"{block.name}.{key}", ctx, f"{name}.{key}")
        node.args = {key: values[key] for key in block.params}
        self.calls.append(block.name)
        y, field = self.sequence(block.layers, x, field, Context(values, ctx.no_bias, ctx.make_symbol), name, node.body)
        self.calls.pop()
        return y, field

    def block_arg(self, raw, scope: dict, pos, what: str, ctx, path: str):
        """The value of one block argument at a call (``path`` is the call's name and the argument's)."""
        return read_block_arg(raw, scope, pos, what, ctx.make_symbol)

    def residual(self, entry, x, field, ctx, prefix, node: Node):
        source = self.source
        y, main_field = self.sequence(entry.children, x, field, ctx, prefix, node.body)
        main, self.source = self.source, source
        if entry.shortcut:
            sc_prefix = f"{prefix}.{entry.shortcut_name}" if entry.shortcut_name and prefix else (
                entry.shortcut_name or prefix)
            first, s_in = len(self.rows), x
            node.shortcut = []
            s, sc_field = self.sequence(entry.shortcut, x, field, ctx, sc_prefix, node.shortcut)
            if entry.shortcut_name and len(self.rows) > first:
                self.block_row(sc_prefix, "shortcut", first, s_in, s)
        else:
            s, sc_field = x, field
        out = self.merge(entry, "Add", prefix, [("the main branch", y, main), ("the shortcut", s, self.source)], x, ctx)
        return out, self.merged_field(self.union(main_field, sc_field), out)

    def combine(self, entry, x, field, ctx, prefix, node: Node):
        parts, fields, source = [], [], self.source
        if entry.branches is not None:
            node.branches = []
            for i, branch in enumerate(entry.branches):
                self.source = source
                node.branches.append([])
                y, f = self.sequence(branch, x, field, ctx, f"{prefix}.{i}" if prefix else f"branch{i}",
                                     node.branches[-1])
                parts.append((f"branch {i}", y, self.source))
                fields.append(f)
        for ref in entry.refs or ():
            if ref not in self.saved:
                hint = did_you_mean(ref, list(self.saved))
                raise SpecError(f"with: no earlier layer or block is named {ref!r}{hint}", entry.where("with"))
            shape, f, ref_source = self.saved[ref]
            parts.insert(0, (ref, shape, ref_source))  # the skip comes first, as in torch.cat([skip, x])
            fields.insert(0, f)
        if entry.branches is None:
            parts.append((self.rows[-1].name if self.rows else "the network input", x, source))
            fields.append(field)
        op = "Concat" if entry.kind == "concat" else "Add"
        if op == "Concat":
            node.dim = self.written_dim(entry, ctx)
        y = self.merge(entry, op, prefix, parts, x, ctx)
        out_field = fields[0]
        for f in fields[1:]:
            out_field = self.union(out_field, f)
        if op == "Concat" and self.concat_dim(entry, ctx, len(y)) >= 2:
            out_field = None  # joined along a spatial axis: units no longer line up
        return y, self.merged_field(out_field, y)

    def union(self, a, b):
        """The receptive field after a merge; branches whose units are spaced differently have none."""
        out = union(a, b)
        if out is None and a is not None and b is not None:
            where = self.rows[-1].name if self.rows else "the input"
            self.warnings.append(f"after {where}: the merged branches' units are spaced differently (their "
                                 "receptive-field jumps differ), so the merge has no single receptive field")
        return out

    def merged_field(self, field, y):
        self.rows[-1].rf = field.report(len(y)) if field is not None else None
        return field

    def written_dim(self, entry, ctx):
        """A concat's dim as written (a negative one counts from the end)."""
        raw = entry.args.get("dim", 1)
        return read_dim(raw, ctx.values, entry.where("dim"), "dim") if not (isinstance(raw, int) and raw < 0) else raw

    def concat_dim(self, entry, ctx, ndim):
        d = self.written_dim(entry, ctx)
        if not is_int(d) or not -ndim <= d < ndim:
            raise SpecError(f"concat dim {d} is out of range for {ndim}-D tensors", entry.where("dim"))
        return d % ndim

    def merge(self, entry, op, prefix, parts, x_in, ctx):
        """Combine branch outputs ``(what, shape, source row)``; shapes must line up (broadcasting
        for Multiply)."""
        (name_a, a, _), rest = parts[0], parts[1:]
        where = prefix or entry.type
        dim = self.concat_dim(entry, ctx, len(a)) if op == "Concat" else None
        y = a
        for name_b, b, _ in rest:
            out = self.merged_shape(op, y, b, dim)
            if out is None:
                verb = {"Concat": "concatenate", "Add": "add", "Multiply": "multiply"}[op]
                raise SpecError(f"{where}: cannot {verb} {name_a}'s output {fmt_shape(a)} and {name_b}'s output "
                                f"{fmt_shape(b)}" + (" (all dims but the concat dim must agree)" if op == "Concat" else ""),
                                entry.pos)
            y = out
        row_name = f"{where}.{op.lower()}"
        k = 1
        while row_name in self.saved:  # a second merge in the same block: add, add_1, ...
            row_name = f"{where}.{op.lower()}_{k}"
            k += 1
        flops = 0 if op == "Concat" else (len(parts) - 1) * numel(y)
        self.add_row(LayerRow(index=len(self.rows) + 1, name=row_name, type=op, input_shape=a, output_shape=y,
                              state_shapes=None, weights=0, biases=0, params=0, macs=0, flops=flops, rf=None,
                              path=row_name if "." in row_name else None, inputs=tuple(p[2] for p in parts)))
        self.saved[row_name] = (y, None, self.source)
        return y

    def merged_shape(self, op, a, b, dim):
        """The shape of merging ``a`` with ``b``, or None when they do not line up."""
        return merged_shape(op, a, b, dim)

    def expect(self, entry, y, values, name=None):
        """An ``expect:`` on a layer or a group, met by its output ``y``."""
        check_expect(entry, y, values, name)

    def tensor(self, name, entry, key: str, prefix: str = ""):
        """(shape, field, source row) of the input or earlier output called ``name``, looked up as in
        a program's nested scopes: in the enclosing group ``prefix`` first (so a block's layers read
        their own call's tensors), then outward, then the full name."""
        if isinstance(name, str):
            scope = prefix
            while scope:
                hit = self.saved.get(f"{scope}.{name}")
                if hit is not None:
                    return hit
                scope = scope.rpartition(".")[0]
        if not isinstance(name, str) or name not in self.saved:
            hint = did_you_mean(str(name), list(self.saved))
            raise SpecError(f"{key}: no input or earlier layer is named {name!r}{hint}", entry.where(key))
        return self.saved[name]

    def leaf(self, entry, x, field, ctx, name):
        cls = self.layer_class(entry, x)
        if not name:
            name = self.default_name(entry, cls)
        if entry.name is None or name != entry.name:
            entry = replace(entry, name=name)
        prefix = name.rpartition(".")[0]
        seconds = {key: self.tensor(entry.args[key], entry, key, prefix) for key in cls.tensor_args()
                   if entry.args.get(key) is not None}
        layer = cls(entry, ctx, {key: t[0] for key, t in seconds.items()})
        if seconds:
            field = None  # several inputs: no single receptive field
        inputs = (self.source, *(t[2] for t in seconds.values()))
        if layer.args.get("output_padding") == "auto":
            self.choices.append(fit_auto(layer, x, self.rows, self.mirror, self.strict_auto))
        y = layer.output_shape(x)
        check_growth(entry, y)
        if entry.expect is not None:
            self.expect(entry, y, ctx.values)
        self.into.append(Node(entry, name, x, y, layer, len(self.rows)))
        if self.shapes_only:
            self.add_row(LayerRow(index=len(self.rows) + 1, name=name, type=cls.TYPE, input_shape=x, output_shape=y,
                                  state_shapes=None, weights=0, biases=0, params=0, macs=0, flops=0, rf=None,
                                  inputs=inputs))
            self.saved[name] = (y, None, self.source)
            self.save_pieces(layer, x, prefix)
            self.track_mirror(layer)
            return y, None
        self.warnings += layer.warnings(x)
        params = layer.parameters(x)
        shared = self.shared_parameters(entry, params) if entry.share is not None else ()
        params = {n: s for n, s in params.items() if n not in shared}
        weights = sum(numel(s) for n, s in params.items() if "bias" not in n)
        biases = sum(numel(s) for n, s in params.items() if "bias" in n)
        field_before = field
        field = layer.receptive_field(field) if field is not None else None
        self.add_row(LayerRow(
            index=len(self.rows) + 1, name=name, type=cls.TYPE, input_shape=x, output_shape=y,
            state_shapes=layer.state_shapes(x), weights=weights, biases=biases, params=weights + biases,
            macs=layer.macs(x, y), flops=layer.flops(x, y),
            rf=field.report(len(y)) if field is not None else None, layer=layer,
            explain=layer.explain(x, y, field_before, field) if self.explain else None,
            path=name if "." in name else None, inputs=inputs, shares=entry.share, shared=shared,
            trainable=entry.trainable and not self.frozen))
        self.saved[name] = (y, field, self.source)
        self.save_pieces(layer, x, prefix)
        self.track_mirror(layer)
        return y, field

    def save_pieces(self, layer, x, prefix: str):
        """A split's named pieces, by their own names and in the enclosing group's scope."""
        for piece, shape in layer.named_outputs(x).items():
            self.saved[piece] = (shape, None, self.source)
            if prefix:
                self.saved[f"{prefix}.{piece}"] = (shape, None, self.source)

    def shared_parameters(self, entry, params: dict) -> tuple:
        """The parameters of ``entry`` that are its ``share:`` layer's (same torch name and shape),
        as ``named_parameters()`` counts a tied weight once; at least one must be."""
        owner = next((r for r in self.rows if r.name == entry.share and r.layer is not None), None)
        if owner is None:
            hint = did_you_mean(entry.share, [r.name for r in self.rows if r.layer is not None])
            raise SpecError(f"share: no earlier layer is named {entry.share!r}{hint}", entry.where("share"))
        theirs = owner.layer.parameters(owner.input_shape)
        shared = tuple(n for n, s in params.items() if n in theirs and len(s) == len(theirs[n])
                       and all(same(a, b) for a, b in zip(s, theirs[n])))
        if not shared:
            mine = ", ".join(f"{n} {fmt_shape(s)}" for n, s in params.items()) or "no parameters"
            other = ", ".join(f"{n} {fmt_shape(s)}" for n, s in theirs.items()) or "no parameters"
            raise SpecError(f"{entry.name}: share: {entry.share} has no parameter of the same name and shape "
                            f"(this layer has {mine}; {entry.share} has {other})", entry.where("share"))
        return shared

    def add_row(self, row: LayerRow):
        """Append a row; its output becomes the current tensor."""
        self.rows.append(row)
        self.source = len(self.rows) - 1

    def track_mirror(self, layer):
        """A strided layer (its row, just added) waits for the transposed conv that undoes it;
        output_padding: auto mirrors the innermost one, in every mode (sizes uses shapes_only)."""
        step = getattr(layer, "resampling", lambda: 0)()
        if step > 0:
            self.mirror.append(self.rows[-1])
        elif step < 0 and self.mirror:
            self.mirror.pop()

    def layer_class(self, entry, x):
        try:
            return lookup(entry.type, len(x))
        except UnknownType as e:
            raise SpecError(str(e), entry.where("type")) from None

    def default_name(self, entry, cls) -> str:
        """An unnamed top-level layer's name: its class and 1-based position, e.g. Conv2d_3."""
        name = f"{cls.TYPE}_{entry.index}"
        self.claim_top(name, entry)
        return name

    def block_row(self, path, type_name, first, x, y):
        self.blocks.append(BlockRow(path=path, type=type_name, start=first, end=len(self.rows),
                                    input_shape=x, output_shape=y))


class BlockTemplate(Walker):
    """One walk of a block's layers for all its calls (``netcalc export`` writes it as one class):
    its arguments and the incoming widths are symbols, a ``when:`` they leave undecided stays open
    on its Step (the entry is walked as if it held), and what one class cannot say for every call
    (a repeat count or concat dim that depends on an argument, a second input, output_padding:
    auto) raises NotGeneric. ``decide(when, scope)`` is the condition as a sympy boolean;
    ``exclusive(a, b)`` says whether two open conditions never hold at the same call."""

    def __init__(self, spec: Spec, ctx: Context, decide, exclusive):
        super().__init__(spec, ctx, strict_auto=True, explain=False)
        self.shapes_only = True
        self.decide, self.alternatives = decide, exclusive

    def walk(self, block, x) -> tuple[list, tuple]:
        """(the block's steps, its output shape), its layers named under ``§``."""
        steps: list = []
        y, _ = self.sequence(block.layers, x, None, self.ctx, "§", steps)
        return steps, y

    def check_budget(self, entries, ctx):
        pass  # the network's own walk checked it, with numbers

    def condition(self, entry, ctx, x):
        sp = sympy()
        c = self.decide(entry.when, {**implicit(x), **ctx.values})
        return True if c == sp.true else False if c == sp.false else c

    def exclusive(self, a, b) -> bool:
        return self.alternatives(a, b) if not self.calls else True  # a callee's: only its shape matters

    def repeat_count(self, entry, ctx):
        if entry.repeat is not None and not is_int(read_dim(entry.repeat, ctx.values, entry.pos, "repeat")):
            raise NotGeneric("repeat depends on a block argument")
        return super().repeat_count(entry, ctx)

    def expect(self, entry, y, values, name=None):
        pass  # checked at every call by the network's walk

    def leaf(self, entry, x, field, ctx, name):
        cls = self.layer_class(entry, x)
        if any(entry.args.get(k) is not None for k in cls.tensor_args()):
            raise NotGeneric("a layer with a second input")
        if entry.args.get("output_padding") == "auto":
            raise NotGeneric("output_padding: auto")
        return super().leaf(entry, x, field, ctx, name)

    def combine(self, entry, x, field, ctx, prefix, node):
        if entry.refs and entry.kind == "concat":
            raise NotGeneric("a concat with a saved output")
        return super().combine(entry, x, field, ctx, prefix, node)

    def merged_shape(self, op, a, b, dim):
        if op != "Concat":
            return a  # what the calls add or multiply lines up at each of them
        if not is_int(dim):
            raise NotGeneric("a concat along a dim that depends on an argument")
        return tuple(p + q if i == dim else p for i, (p, q) in enumerate(zip(a, b)))


def merged_shape(op: str, a: tuple, b: tuple, dim: int | None) -> tuple | None:
    """``a`` merged with ``b``: Add needs equal shapes, Multiply broadcasts ``b``'s 1s, Concat adds
    the ``dim`` sizes and needs the rest equal (torch.cat). None when they do not line up."""
    if len(a) != len(b):
        return None
    if op == "Concat":
        if not all(same(p, q) for i, (p, q) in enumerate(zip(a, b)) if i != dim):
            return None
        return tuple(p + q if i == dim else p for i, (p, q) in enumerate(zip(a, b)))
    if op == "Multiply":
        return a if all(same(p, q) or q == 1 for p, q in zip(a, b)) else None
    return a if all(same(p, q) for p, q in zip(a, b)) else None


class _Unknown(Exception):
    """A name without a value while counting rows (see Walker.rows_of)."""


def _no_symbol(name):
    raise _Unknown(name)


def implicit(x) -> dict:
    """Names a block's expressions and conditions may use for the incoming tensor."""
    out = {}
    if len(x) >= 2:
        out["in_channels"] = x[1]
    if x:
        out["in_features"] = x[-1]
    return out


def fit_auto(layer, x, rows: list[LayerRow], mirror: list[LayerRow], strict: bool) -> dict:
    """Pick ``output_padding`` for ``layer`` so its output matches the input of its partner layer."""
    entry = layer.entry
    if entry.match is not None:
        partner = next((r for r in rows if r.name == entry.match), None)
        if partner is None:
            hint = did_you_mean(entry.match, [r.name for r in rows])
            raise SpecError(f"match: no earlier layer is named {entry.match!r}{hint}", entry.where("match"))
    else:
        partner = mirror[-1] if mirror else None
    choice = {"layer": entry.name, "match": partner.name if partner else None, "output_padding": None}
    if partner is None:
        why = "no strided layer before it to mirror; name the layer to reproduce with match: <layer name>"
    else:
        target = partner.input_shape[-layer.rank:]
        why = layer.fit_output_padding(x, target)
        if why is None:
            choice["output_padding"] = list(layer.args["output_padding"])
            return choice
        why = f"cannot reproduce {partner.name}'s input {fmt_shape(partner.input_shape)}: {why}"
    if strict:
        raise SpecError(f"{entry.name}: output_padding: auto {why}", entry.where("output_padding"))
    choice["why"] = why
    layer.args["output_padding"] = (0,) * layer.rank
    return choice


def refuse_size_free_error(spec: Spec, base: dict, letters, sizes, no_bias: bool = False) -> None:
    """Raise the error a spec has whatever its input letters are: the same error at the same place
    with ``letters`` at each of ``sizes`` (large and not all adjacent, since strided floors map
    neighbours to one size). ``netcalc sizes`` and ``netcalc solve`` use it to refuse what
    ``shapes`` refuses instead of answering "no common value" or "no solution"."""
    errors = []
    for size in sizes:
        try:
            analyze(spec, {**base, **dict.fromkeys(letters, size)}, no_bias, shapes_only=True)
        except SpecError as e:
            errors.append(e)
        else:
            return
    if len({(e.message, e.pos) for e in errors}) == 1:
        raise errors[-1]


def check_growth(entry, y):
    """A layer whose output formula ran away (see symbolic.check_formula) is an error at its line."""
    for d in y:
        if type(d) is not int:
            try:
                check_formula(d)
            except ExprError as e:
                raise LimitError(f"{entry.name}: {e}", entry.pos) from None


def check_expect(entry, y, values, name=None):
    """The layer's output must have the ``expect:`` shape; ``_`` matches anything."""
    pos = entry.where("expect")
    want = entry.expect
    ok = len(want) == len(y)
    if ok:
        for w, got in zip(want, y):
            if w == "_":
                continue
            try:
                w = read_dim(w, values, pos, "expect")
            except SpecError:
                ok = False
                break
            if not same(w, got):
                ok = False
                break
    if not ok:
        raise SpecError(f"{name or entry.name}: output shape {fmt_shape(y)} does not match expect "
                        f"[{', '.join(w if isinstance(w, str) else show(w) for w in want[:16])}]", pos)



def analyze_text(text: str, filename: str = "spec.yaml", values: dict[str, int] | None = None,
                 no_bias: bool = False, **options) -> Report:
    """Parse spec text and analyze it (YAML, or TOML when ``filename`` ends in .toml);
    ``options`` are :func:`analyze`'s (explain, dtype, strict_auto, shapes_only)."""
    from .spec import parse

    return analyze(parse(text, filename), values, no_bias, **options)
