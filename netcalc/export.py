"""``netcalc export``: a spec as a runnable PyTorch module, written as text (torch is never imported here).

The generator reads the graph the analysis built (``Report.graph``: every entry the walk took,
with its name, shapes, layer object and children) and writes, per scope, the ``__init__`` lines
that build the modules and the ``forward`` lines that run them:

* every leaf layer becomes a ``torch.nn`` module registered under netcalc's name for it, so that
  ``named_parameters()`` mirror netcalc's paths (``layer1.0.conv1.weight``); an intermediate
  name (``up1`` in ``up1.up``) is a plain ``nn.Module()`` holding its children, and a group whose
  members only chain (``layer1``, ``double_conv``) is an ``nn.Sequential``;
* every spec block becomes one ``nn.Module`` class whose ``__init__`` takes the block's arguments
  (and the incoming ``in_channels``/``in_features`` it needs), or one class per distinct call
  where that cannot be (see :mod:`netcalc.export_blocks`);
* residual adds, concats with branches or saved skips, multiply gates and netcalc's tensor ops
  become forward expressions or small helper modules defined at the top of the file.

:func:`export` also returns where every netcalc layer row lives in the module (``Export.rows``),
which ``netcalc check`` uses to compare the two.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from .errors import SpecError
from .escape import py_comment, py_docstring, py_str
from .export_blocks import BlockClasses, holds
from .layers import REGISTRY
from .network import NotGeneric, analyze
from .pycode import (
    NN_ATTRS,
    assign,
    attr,
    attr_name,
    condition,
    layer_ctor,
    note,
    py,
    shape_comment,
    var_name,
)
from .report import Report
from .spec import Spec
from .symbolic import free_names, is_int, normalize, symbol, sympy

TOP_CLASS = "Net"
INDENT = "    "


@dataclass
class Mapped:
    """Where one netcalc layer row lives in the exported module."""

    name: str  # netcalc's row name
    kind: str  # "module" (a registered module) or "merge" (an expression in a forward)
    path: str | None = None  # module: its path from the model root, as in named_modules()
    call: str = "plain"  # module: "plain", "rnn" (returns (output, states)) or "tuple" (output first)
    op: str | None = None  # merge: "add", "cat" or "mul"
    count: int = 1  # merge: torch calls that make it (adding n tensors is n - 1 adds)


@dataclass
class Export:
    code: str
    class_name: str
    input_shape: tuple
    input_dtype: str  # "float32", or "long" when the network starts with an Embedding
    rows: list[Mapped]  # one per report row, in the same order
    report: Report
    on_meta: bool  # the __main__ block builds the model on the meta device (too big to run)
    other_inputs: list = field(default_factory=list)  # shapes of forward's arguments after x (inputs:)


def export(spec: Spec, values: dict[str, int] | None = None, no_bias: bool = False,
           report: Report | None = None, source: str | None = None) -> Export:
    """The spec as PyTorch source code; every symbol must have a value."""
    report = report if report is not None else analyze(spec, values, no_bias)
    require_numbers(spec, report)
    refuse_several_inputs(spec, report)
    gen = Generator(spec, report, {**spec.symbols, **(values or {})}, no_bias)
    return gen.run(source)


def export_text(text: str, filename: str = "spec.yaml", values: dict | None = None, no_bias: bool = False) -> Export:
    from .spec import parse

    return export(parse(text, filename), values, no_bias, source=filename)


def refuse_several_inputs(spec: Spec, report: Report) -> None:
    """What export cannot write yet: a second input of a kind whose forward call netcalc does not
    state (the tensor ops), and the named pieces of a split (Chunk, Split; a pool's indices) read
    by another entry. Named inputs, ``from:``, two-input torch.nn layers and ``outputs:`` it writes
    at the top level of the network (see Generator.tensor_var)."""
    pieces = {}
    for row in report.layers:
        if row.layer is not None:
            pieces.update(dict.fromkeys(row.layer.named_outputs(row.input_shape), row.name))
    for row in report.layers:
        layer = row.layer
        if layer is None:
            continue
        read = [layer.entry.args[k] for k in layer.tensors] + ([layer.entry.source] if layer.entry.source else [])
        if layer.tensors and not layer.writes_tensors():
            key = next(iter(layer.tensors))
            raise SpecError(f"{row.name}: export (and check) do not write {row.type} yet ({key}: reads another "
                            "tensor)", layer.entry.where(key))
        for name in read:
            if name in pieces:
                raise SpecError(f"{row.name}: export (and check) do not write a read of {name} yet (a piece of "
                                f"{pieces[name]}'s output)", layer.entry.pos)


def require_numbers(spec: Spec, report: Report) -> None:
    """A located error for the first symbol (or ``_`` blank) that has no value."""
    def complaint(names):
        name = "_" if "_" in names else min(names)
        if name == "_":
            return "export needs numbers, but the spec has a blank _ (fill it in, e.g. with netcalc solve)"
        return (f"export needs a value for every symbol, and {name} has none; add it to symbols: "
                f"or pass --set {name}=VALUE")

    for i, d in enumerate(report.input_shape):
        if not is_int(normalize(d)):
            pos = spec.input_pos[i] if i < len(spec.input_pos) else spec.key_pos.get("input")
            raise SpecError(complaint(free_names(d)), pos)
    for row in report.layers:
        names = set()
        for v in (*row.input_shape, *row.output_shape, row.params, row.macs):
            names |= free_names(normalize(v))
        if names:
            pos = row.layer.entry.pos if row.layer is not None else None
            raise SpecError(complaint(names), pos)


def chains(node) -> bool:
    """Whether a walked node can be one member of an nn.Sequential (its forward is ``module(x)``)."""
    if node.copies is not None:  # a named repeat: its copies are alike
        return not node.copies or chains(node.copies[0])
    kind = node.entry.kind
    if kind == "layer":
        return node.layer.chains() and not node.entry.args.get("return_indices")
    if kind == "block":
        return True
    if kind == "sequential":
        return node.entry.name is not None and all(member_ok(s) for s in node.body)
    return False


def member_ok(step) -> bool:
    """Whether a step of a group can be a member of the group's nn.Sequential."""
    entry = step.entry
    if entry.name is not None and "." in str(entry.name):
        return False
    if entry.source is not None or (entry.when is not None and (entry.repeat is not None or entry.kind == "sequential")):
        return False
    return all(chains(n) for n in step.nodes)


def output_of(steps, x):
    """The output shape of a walked sequence (its input when nothing was taken)."""
    return steps[-1].nodes[-1].y if steps and steps[-1].nodes else x


def scope_of(node) -> str:
    """The name a group's members are named under: a transparent group's parent's."""
    return node.name.rpartition(".")[0] if node.transparent else node.name


# ----------------------------------------------------------------------------- generated classes

@dataclass
class Cond:
    """A ``when:`` condition left open in a block's class: its Python text and sympy form."""

    text: str
    expr: object


class Seq:
    """An nn.Sequential being written: (torch key, value, comment, condition) per member, where a
    value is constructor text or a nested Seq."""

    def __init__(self, path: str):
        self.path = path  # torch path from the class root
        self.items: list[list] = []

    def ordinal(self) -> bool:
        return [k for k, *_ in self.items] == [str(i) for i in range(len(self.items))]

    def lines(self, indent: int) -> list[str]:
        """The expression over one or more lines (the first not indented), comments after members."""
        if any(item[3] is not None for item in self.items):
            raise NotGeneric("a condition inside a nested group")
        if not self.items:
            return ["nn.Sequential()"]
        pad = INDENT * (indent + 1)
        named = not self.ordinal()
        out = ["nn.Sequential(OrderedDict([" if named else "nn.Sequential("]
        for key, value, comment, *_ in self.items:
            sub = value.lines(indent + 1) if isinstance(value, Seq) else [value]
            body = [f"({py(key)}, {sub[0]}" if named else sub[0]] + sub[1:]
            body[-1] += ")," if named else ","
            body[-1] += note(comment)
            out += [pad + body[0]] + body[1:]
        out.append(INDENT * indent + ("]))" if named else ")"))
        return out


class ClassCode:
    """One generated class: the model, a block's class, or one call of a block as walked."""

    def __init__(self, root: str, torch_root: str = "", generic: bool = False, names: dict | None = None,
                 shape_only: bool = False):
        self.root = root  # netcalc name of the class's instance ("" for the model, "§" for a block's class)
        self.torch_root = torch_root  # the instance's module path in the model
        self.generic = generic
        self.shape_only = shape_only  # only the output shape is wanted (a call inside a block's class)
        self.names = names or {}  # symbol → Python name (a block's class)
        self.init: list[tuple[int, str]] = []
        self.fwd: list[tuple[int, str]] = []
        self.tree: dict = {}  # torch name → subtree (a namespace) or None (a module)
        self.records: list = []  # what was built, to compare a block's class with each call
        self.shapes: dict = {}  # relative netcalc name → output shapes, one per use (a call: for comments)
        self.uses: dict = {}  # a block's class: relative name → conditions of its uses so far
        self.states: dict = {}  # relative netcalc name → RNN state shapes, as text
        self.live: set = set()
        self.saved: dict = {}  # netcalc name → the variable holding that output
        self.calls: list = []  # a block's class: its calls (for shape comments)
        self.implicit: list = []  # a block's class: in_channels / in_features if used
        self.merges: set = set()  # merge names used (a block's class)
        self.ioff = self.foff = 0  # indentation of the region being written (a condition left open)
        self.conds: list = []  # the open regions' conditions (sympy)
        self.flags: set = set()
        self.sequential = False  # the class is an nn.Sequential of its members (no forward of its own)

    def add_init(self, depth: int, text: str):
        self.init.append((self.ioff + depth, text))

    def add_fwd(self, depth: int, text: str):
        self.fwd.append((self.foff + depth, text))

    def cond_with(self, cond):
        """The condition under which something is built: the open regions' and its own."""
        parts = list(self.conds) + ([cond.expr] if cond is not None else [])
        return sympy().And(*parts) if parts else None

    def flag(self, base: str) -> str:
        name, k = base, 1
        while name in self.flags or name in self.tree or name in NN_ATTRS:
            k += 1
            name = f"{base}{k}"
        self.flags.add(name)
        return name

    def rel(self, name: str) -> str:
        return name[len(self.root) + 1:] if self.root else name

    def temp(self, base: str) -> str:
        k = 1
        while (var := base if k == 1 else f"{base}{k}") in self.live:
            k += 1
        self.live.add(var)
        return var


class Generator:
    def __init__(self, spec: Spec, report: Report, values: dict, no_bias: bool):
        self.spec, self.report, self.values, self.no_bias = spec, report, values, no_bias
        self.rows = report.layers
        self.mapped: list[Mapped | None] = [None] * len(self.rows)
        self.helpers: set[str] = set()
        self.refs: set = spec.read_names()
        for row in self.rows:  # the second inputs two-input layers read
            if row.layer is not None:
                self.refs |= {row.layer.entry.args[k] for k in row.layer.tensors}
        # the named inputs (inputs:), one of them too: a from: may read it by name
        self.inputs = dict(report.inputs or ({next(iter(spec.inputs)): report.input_shape} if spec.inputs else {}))
        self.blocks = BlockClasses(self, {TOP_CLASS})

    # ------------------------------------------------------------------ the file

    def run(self, source: str | None) -> Export:
        top = ClassCode("")
        x = tuple(normalize(d) for d in self.report.input_shape)
        names = list(self.inputs)
        self.arguments = ["x"]
        for k, name in enumerate(names):  # the first input is x; the others are forward's next arguments
            v = "x" if k == 0 else var_name(name)
            while k and (v in self.arguments or v in ("self", "torch", "nn")):
                v += "_"
            if k == 0 and name in self.refs:  # x is overwritten as layers run: keep the input under its name
                v = var_name(name) if var_name(name) != "x" else "x_input"
                top.add_fwd(0, f"{v} = x")
            elif k:
                self.arguments.append(v)
            top.saved[name] = v
            top.live.add(v)
        var = self.sequence(self.report.graph, top, "x", "x")
        if None in self.mapped:
            raise AssertionError(f"export wrote {len(self.mapped) - self.mapped.count(None)} of {len(self.rows)} rows")
        if self.spec.outputs:
            top.add_fwd(0, f"return {', '.join(top.saved[n] for n in self.spec.outputs)}"
                           + ("," if len(self.spec.outputs) == 1 else ""))
        else:
            top.add_fwd(0, f"return {var}")
        self._tie(top)
        order = self.blocks.order()
        for name in order:
            self.blocks.decide(name)
        first = self.rows[0] if self.rows else None
        dtype = first.layer.INPUT_DTYPE if first is not None and first.layer is not None and tuple(
            normalize(d) for d in first.input_shape) == x else "float32"
        size = sum(normalize(r.activation_bytes) + normalize(r.param_bytes) for r in self.rows)
        on_meta = size > 2**30
        body = [textwrap.dedent(k.TORCH_HELPER).strip() for k in REGISTRY.values() if k in self.helpers]
        for name in order:
            body += self.blocks.render(name)
        doc = f'"""{self.report.name or "The spec"}: input {shape_comment(x)}."""'
        body.append(self.render_class(top, TOP_CLASS, doc, x, arguments=self.arguments[1:]))
        code = "\n\n\n".join(["\n".join(self._header(source)), *body, "\n".join(self._main(x, dtype, on_meta))])
        code = self.blocks.resolve(code) + "\n"
        if "OrderedDict(" in code:
            code = code.replace("\nimport torch\n", "\nfrom collections import OrderedDict\n\nimport torch\n", 1)
        others = [tuple(normalize(d) for d in shape) for shape in list(self.inputs.values())[1:]]
        return Export(code=code, class_name=TOP_CLASS, input_shape=x, input_dtype=dtype, rows=self.mapped,
                      report=self.report, on_meta=on_meta, other_inputs=others)

    def _tie(self, top: ClassCode):
        """``share:``: the layer's parameters become its owner's, after every module is built;
        ``trainable: false``: its parameters need no gradient."""
        path = {row.name: m.path for row, m in zip(self.rows, self.mapped)}
        for row, m in zip(self.rows, self.mapped):
            if not row.trainable and row.params:
                top.add_init(0, f"self.get_submodule({py_str(m.path)}).requires_grad_(False)")
            for p in row.shared:  # torch parameter names from the layer classes: dotted identifiers
                top.add_init(0, f"self.get_submodule({py_str(m.path)}).{p} = "
                                f"self.get_submodule({py_str(path[row.shares])}).{p}")

    def _header(self, source) -> list[str]:
        lines = [f"# Generated by netcalc export{f' from {py_comment(source)}' if source else ''}."]
        if self.values:
            lines.append("# Symbols: " + py_comment(", ".join(f"{k}={v}" for k, v in self.values.items())) + ".")
        if self.no_bias:
            lines.append("# --no-bias: every layer that takes a bias is built with bias=False.")
        total = normalize(self.report.totals["params"])
        lines.append(f"# Comments give the output shapes netcalc computes; netcalc counts {total:,} parameters.")
        return lines + ["import torch", "from torch import nn"]

    def _main(self, x, dtype, on_meta) -> list[str]:
        zeros = f"torch.zeros({', '.join(str(d) for d in x)}{', dtype=torch.long' if dtype == 'long' else ''})"
        made = [f"x = {zeros}"] + [f"{v} = torch.zeros({', '.join(str(normalize(d)) for d in shape)})"
                                   for v, shape in zip(self.arguments[1:], list(self.inputs.values())[1:])]
        total = normalize(self.report.totals["params"])
        lines = ['if __name__ == "__main__":']
        if on_meta:
            lines += [f"{INDENT}# Too big to run on zeros here: built and run on the meta device (shapes only).",
                      f'{INDENT}with torch.device("meta"):', f"{INDENT * 2}model = {TOP_CLASS}().eval()"]
            lines += [INDENT * 2 + m for m in made]
        else:
            lines += [f"{INDENT}model = {TOP_CLASS}().eval()"] + [INDENT + m for m in made]
        lines += [f"{INDENT}with torch.no_grad():", f"{INDENT * 2}y = model({', '.join(self.arguments)})"]
        if self.spec.outputs:
            shapes = ", ".join(shape_comment(s) for s in (self.report.outputs or {}).values())
            lines.append(f"{INDENT}print([tuple(t.shape) for t in y])  # netcalc: {shapes}")
        else:
            lines.append(f"{INDENT}print(tuple(y.shape))  # netcalc: {shape_comment(self.report.output_shape)}")
        return lines + [f"{INDENT}print(sum(p.numel() for p in model.parameters()))  # netcalc: {total}"]

    def render_class(self, cc: ClassCode, cls: str, doc: str, x, signature: str = "", arguments=()) -> str:
        lines = [f"class {cls}(nn.{'Sequential' if cc.sequential else 'Module'}):"]
        if doc:
            text = py_docstring(doc[3:-3])
            lines += [f'{INDENT}"""{text}"""', ""]
        lines += [f"{INDENT}def __init__(self{signature}):", f"{INDENT * 2}super().__init__()"]
        lines += [INDENT * (2 + d) + text for d, text in cc.init]
        if not cc.sequential:
            more = "".join(f", {a}" for a in arguments)
            lines += ["", f"{INDENT}def forward(self, x{more}):  # {shape_comment(x)}"]
            lines += [INDENT * (2 + d) + text for d, text in cc.fwd]
        return "\n".join(lines)

    # ------------------------------------------------------------------ the graph, as code

    def cond(self, step, cc) -> Cond | None:
        """A ``when:`` a block's class leaves open, as Python text and sympy."""
        if step is None or step.cond is None:
            return None
        _, text = condition(step.entry.when, step.scope, symbol, cc.names)
        return Cond(text or "", step.cond)

    def sequence(self, steps, cc, src, dst) -> str:
        """Write walked steps into ``cc``'s methods; the variable holding their output."""
        cur = src
        for step in steps:
            entry = step.entry
            cond = self.cond(step, cc)
            if entry.source is not None:  # from: NAME: the entry reads that tensor
                cur = self.tensor_var(cc, entry.source, entry)
            if cond is None or (step.copies is None and entry.kind in ("layer", "block")):
                cur = self.step(step, cc, cur, dst, cond)
                continue
            # a block's class: a structure built only under a condition, in an `if` region of both methods
            flag = cc.flag("use_" + (var_name(entry.name) if entry.name is not None else entry.kind))
            cc.add_init(0, f"self.{flag} = {cond.text}")
            cc.add_init(0, f"if self.{flag}:")
            if cur != dst:
                cc.add_fwd(0, f"{dst} = {cur}")
                cur = dst
            cc.add_fwd(0, f"if self.{flag}:")
            marks = len(cc.init), len(cc.fwd)
            cc.ioff, cc.foff = cc.ioff + 1, cc.foff + 1
            cc.conds.append(cond.expr)
            try:
                cur = self.step(step, cc, cur, dst, None)
                if cur != dst:
                    cc.add_fwd(0, f"{dst} = {cur}")
                    cur = dst
            finally:
                cc.ioff, cc.foff = cc.ioff - 1, cc.foff - 1
                cc.conds.pop()
            if len(cc.init) == marks[0]:
                cc.add_init(1, "pass")
            if len(cc.fwd) == marks[1]:
                cc.add_fwd(1, "pass")
        return cur

    def step(self, step, cc, cur, dst, cond) -> str:
        """One entry: its node, its copies as siblings, or its copies as a named group."""
        for node in step.nodes:
            if node.copies is not None:
                cur = self.group(cc, node.name, cur, dst, node.y, copies=node.copies)
            else:
                cur = self.node(node, cc, cur, dst, cond)
        return cur

    def body(self, steps, cc):
        """A block's layers into its class: an nn.Sequential subclass when they only chain."""
        if self.chain_body(steps):
            seq = Seq("")
            self.fill(seq, cc, steps=steps)
            cc.init = self.statements(seq, "self")
            cc.sequential = True
            return
        var = self.sequence(steps, cc, "x", "x")
        cc.add_fwd(0, f"return {var}")

    def node(self, node, cc, src, dst, cond) -> str:
        kind = node.entry.kind
        if kind == "layer":
            var = self.leaf(node, cc, src, dst, cond)
        elif kind == "block":
            var = self.call(node, cc, src, dst, cond)
        elif kind == "sequential":
            var = self.sequence(node.body, cc, src, dst) if node.transparent else self.group(
                cc, node.name, src, dst, node.y, steps=node.body)
        elif kind == "residual":
            var = self.residual(node, cc, src, dst)
        elif kind == "multiply":
            gate = cc.temp("gate")
            if node.transparent:
                gv = self.sequence(node.body, cc, src, gate)
            else:  # the gate's layers are named under the multiply's name: an nn.Sequential there
                gv = self.group(cc, node.name, src, gate, output_of(node.body, node.x), steps=node.body)
            self.merge(node, "Multiply", cc, dst, f"{src} * {gv}", "mul", 1)
            cc.live.discard(gate)
            var = dst
        else:
            var = self.combine(node, cc, src, dst)
        if node.name in self.refs:
            v = var_name(node.name)
            while v in cc.live:
                v += "_"
            cc.add_fwd(0, f"{v} = {var}")
            cc.saved[node.name] = v
            cc.live.add(v)
        return var

    def comment(self, cc, name, y, dyn=None, cond=None) -> str:
        """The shape comment of a forward line (a block's class: at its first call that has it)."""
        if cc.shape_only:
            return ""
        rel = cc.rel(name)
        if not cc.generic:  # a name used twice (one module called twice) keeps a shape per use
            cc.shapes.setdefault(rel, []).append(y)
            return shape_comment(y) + (f"; {cc.states[rel]}" if rel in cc.states else "")
        when = cc.cond_with(cond)
        before = cc.uses.setdefault(rel, [])
        before.append(when)
        for i, inst in enumerate(cc.calls):
            try:
                subs = self.blocks.subs(inst)
                if when is not None and not holds(when, subs):
                    continue
                at = rel
                if dyn is not None:
                    at = rel.rsplit(".", 1)[0] + "." + str(sum(1 for c in dyn if c is None or holds(c, subs)))
                use = sum(1 for c in before[:-1] if c is None or holds(c, subs))
            except NotGeneric:
                continue
            if use < len(inst.code.shapes.get(at, ())):
                text = shape_comment(inst.code.shapes[at][use])
                text += f"; {inst.code.states[at]}" if at in inst.code.states else ""
                return text if i == 0 else f"{text} at {inst.path}"
        return ""

    def forward(self, cc, call, dst, comment, cond, acc, src):
        if cond is None:
            cc.add_fwd(0, f"{dst} = {call}{note(comment)}")
            return
        if src != dst:
            cc.add_fwd(0, f"{dst} = {src}")
        cc.add_fwd(0, f"if {acc} is not None:")
        cc.add_fwd(1, f"{dst} = {call}{note(comment)}")

    def register(self, cc, rel: str, value: str, cond: Cond | None = None, shared: bool = False):
        """Register a module under the netcalc path ``rel`` (a plain ``nn.Module()`` for each part
        before the last dot); returns its torch path and the expression that reaches it. A name
        used again for the same parameter-free layer (``shared``) is the same module, called again."""
        comps = [attr_name(c) for c in rel.split(".")]
        node, base, path = cc.tree, "self", []
        for comp in comps[:-1]:
            name, k = comp, 1
            while name in node and not isinstance(node[name], dict):  # a module: it cannot hold children
                k += 1
                name = f"{comp}_{k}"
            if name not in node:
                node[name] = {}
                cc.add_init(0, assign(base, name, "nn.Module()"))
            node, base = node[name], attr(base, name)
            path.append(name)
        where = tuple(str(c) for c in cc.conds) + ((str(cond.expr),) if cond else ())
        name, k = comps[-1], 1
        while name in node:
            old = node[name]
            if shared and not isinstance(old, dict) and old[1] == where and old[0] == value:
                return ".".join(path + [name]), attr(base, name)  # the same module again (called twice)
            if not isinstance(old, dict) and old[1] and where and old[1] != where and cc.generic:
                break  # the same name under another condition: alternatives, as netcalc names them
            k += 1
            name = f"{comps[-1]}_{k}"
        node[name] = (value, where)
        path.append(name)
        cc.add_init(0, assign(base, name, f"{value} if {cond.text} else None" if cond else value))
        return ".".join(path), attr(base, name)

    def tensor_var(self, cc, name: str, entry) -> str:
        """The forward() variable holding the input or output called ``name``."""
        if name not in cc.saved:
            raise SpecError(f"export (and check) write a read of {name!r} only where it is written: at the network's "
                            "top level (not inside a block or group), after it", entry.pos)
        return cc.saved[name]

    def leaf(self, node, cc, src, dst, cond, seq: Seq | None = None, key: str | None = None, dyn=None,
             numbered=False) -> str:
        layer, name = node.layer, node.name
        if cc.generic:
            x, y = node.x, node.y
        else:
            row = self.rows[node.row]
            x, y = tuple(normalize(d) for d in row.input_shape), tuple(normalize(d) for d in row.output_shape)
            if row.state_shapes:
                cc.states[cc.rel(name)] = "; ".join(f"{k} {shape_comment(v)}" for k, v in row.state_shapes.items())
        if layer.TORCH_HELPER:
            self.helpers.add(type(layer))
        ctor = layer_ctor(layer, x)
        text = ctor.code(cc.names if cc.generic else None)
        comment = self.comment(cc, name, y, dyn, cond)
        if seq is not None:
            path = _join(seq.path, key)
            seq.items.append([key, text, comment, cond, numbered])
        else:
            path, acc = self.register(cc, cc.rel(name), text, cond, shared=not layer.parameters(x))
            tensors = {k: self.tensor_var(cc, layer.entry.args[k], node.entry) for k in layer.tensors}
            self.forward(cc, layer.forward_call(acc, dst if cond else src, tensors), dst, comment, cond, acc, src)
        cc.records.append(("leaf", cc.rel(name), path, ctor, cc.cond_with(cond), x, dyn))
        if not cc.generic:
            self.mapped[node.row] = Mapped(name, "module", _join(cc.torch_root, path), layer.call_kind())
        return dst

    # ------------------------------------------------------------------ groups: nn.Sequential or inline

    def chain_body(self, steps) -> bool:
        """Whether walked steps can be the members of one nn.Sequential."""
        steps, _ = self.flat(steps)
        return bool(steps) and all(member_ok(s) and not self._referenced(s.entry) for s in steps)

    @staticmethod
    def flat(steps):
        """A group holding just one unnamed ``sequential`` holds its layers (netcalc numbers them the
        same); its ``when:`` then applies to each of them. (steps, the sequential's step or None)."""
        if len(steps) == 1 and steps[0].entry.kind == "sequential" and steps[0].entry.name is None \
                and steps[0].copies is None and steps[0].nodes[0].body:
            return steps[0].nodes[0].body, steps[0]
        return steps, None

    def group(self, cc, name, src, dst, y, steps=None, copies=None) -> str:
        """A named group (a named ``sequential``, or the copies of a named repeat) with output ``y``:
        one nn.Sequential when its members only chain, else its members inline."""
        ok = self.chain_body(steps) if steps is not None else not copies or chains(copies[0])
        if not ok:
            if steps is not None:
                return self.sequence(steps, cc, src, dst)
            cur = src
            for node in copies:
                cur = self.node(node, cc, cur, dst, None)
            return cur
        path, acc = self.register(cc, cc.rel(name), "§SEQ§")
        seq = Seq(path)
        self.fill(seq, cc, steps, copies)
        at = max(i for i, (_, t) in enumerate(cc.init) if "§SEQ§" in t)
        off, line = cc.init[at]
        head, tail = line.split("§SEQ§")
        if any(item[3] is not None for item in seq.items):  # a block's class: members built under if
            cc.init[at:at + 1] = [(off, f"{head}nn.Sequential(){tail}")] + [
                (off + d, t) for d, t in self.statements(seq, acc)]
        else:
            text = seq.lines(0)
            text[0], text[-1] = head + text[0], text[-1] + tail
            cc.init[at:at + 1] = [(off, t) for t in text]
        comment = self.comment(cc, name, y)
        cc.add_fwd(0, f"{dst} = {acc}({src})" + note(comment))
        return dst

    @staticmethod
    def statements(seq: Seq, acc: str) -> list[tuple[int, str]]:
        """The members of ``seq`` added one by one to the nn.Sequential ``acc`` (under ``if`` where
        a block's class builds them under a condition)."""
        lines, prev = [], None
        for key, value, comment, c, numbered in seq.items:
            d = 1 if c is not None else 0
            if c is not None and (prev is None or c.text != prev.text):
                lines.append((0, f"if {c.text}:"))
            sub = value.lines(0) if isinstance(value, Seq) else [value]
            how = f"{acc}.append(" if numbered else f"{acc}.add_module({py(key)}, "
            stmt = [how + sub[0]] + sub[1:]
            stmt[-1] += ")" + note(comment)
            lines += [(d, t) for t in stmt]
            prev = c
        return lines

    def _referenced(self, entry) -> bool:
        """Whether a later ``with:`` may name this entry (it must then be a variable in forward)."""
        return entry.name is not None and any(r == entry.name or r.endswith("." + str(entry.name)) for r in self.refs)

    def fill(self, seq: Seq, cc, steps=None, copies=None):
        """Write the members of a chain group into ``seq``. In a block's class a member may be
        built under a condition; the members after it are then numbered as they are appended
        (``prior``: the conditions of the members before, for comparing with each call)."""
        if copies is not None:
            for k, node in enumerate(copies):
                self.member(seq, cc, node, str(k), None, None, True)
            return
        steps, holder = self.flat(steps)
        outer = self.cond(holder, cc)
        prior: list = []
        for step in steps:
            entry = step.entry
            cond = self.cond(step, cc)
            if outer is not None:
                cond = outer if cond is None else Cond(f"({outer.text}) and ({cond.text})",
                                                       sympy().And(outer.expr, cond.expr))
            dyn = tuple(prior) if any(c is not None for c in prior) else None
            unnamed = entry.name is None
            if step.copies is None:
                node = step.nodes[0]
                self.member(seq, cc, node, attr_name(node.name.rpartition(".")[2]), cond,
                            dyn if unnamed else None, unnamed)
                prior.append(cond.expr if cond is not None else None)
            elif unnamed or "{i}" in str(entry.name):  # siblings, numbered on or by a template
                for node in step.nodes:
                    self.member(seq, cc, node, attr_name(node.name.rpartition(".")[2]), None,
                                dyn if unnamed else None, unnamed)
                    prior.append(None)
                    dyn = tuple(prior) if dyn is not None else None
            else:
                holder_node = step.nodes[0]
                key = attr_name(str(entry.name))
                sub = Seq(_join(seq.path, key))
                self.fill(sub, cc, copies=holder_node.copies)
                seq.items.append([key, sub, self.comment(cc, holder_node.name, holder_node.y), None, False])
                prior.append(None)

    def member(self, seq, cc, node, key, cond, dyn, numbered):
        if node.entry.kind == "layer":
            self.leaf(node, cc, None, None, cond, seq=seq, key=key, dyn=dyn, numbered=numbered)
        elif node.entry.kind == "block":
            self.call(node, cc, None, None, cond, seq=seq, key=key, dyn=dyn, numbered=numbered)
        else:
            if dyn is not None:
                raise NotGeneric("a group numbered after a condition")
            sub = Seq(_join(seq.path, key))  # a named sequential
            self.fill(sub, cc, steps=node.body)
            seq.items.append([key, sub, self.comment(cc, node.name, node.y), None, numbered])

    # ------------------------------------------------------------------ block calls

    def call(self, node, cc, src, dst, cond, seq: Seq | None = None, key: str | None = None, dyn=None,
             numbered=False) -> str:
        entry, name, args = node.entry, node.name, node.args
        block = self.spec.blocks[entry.type]
        if cc.generic:
            text = self.blocks.call_code(block, node.x, args, set(entry.args), cc.names)
        else:
            inst = self.blocks.called(block, node)
            text = f"§CALL{inst.ident}§"
        if seq is not None:
            path = _join(seq.path, key)
            item = [key, text, "", cond, numbered]
            seq.items.append(item)
        else:
            path, acc = self.register(cc, cc.rel(name), text, cond)
        if not cc.generic:
            inst.torch_path = _join(cc.torch_root, path)
            inst.code = ClassCode(name, inst.torch_path)
            self.body(node.body, inst.code)
        y = node.y if cc.generic else tuple(normalize(d) for d in node.y)
        comment = self.comment(cc, name, y, dyn, cond)
        cc.records.append(("call", cc.rel(name), path, (block.name, tuple(args[p] for p in block.params)),
                           cc.cond_with(cond), node.x, dyn))
        if seq is not None:
            item[2] = comment
        else:
            self.forward(cc, f"{acc}({dst if cond else src})", dst, comment, cond, acc, src)
        return dst

    # ------------------------------------------------------------------ merges

    def residual(self, node, cc, src, dst) -> str:
        entry = node.entry
        out = cc.temp("out")
        main = self.sequence(node.body, cc, src, out)
        s = src
        if node.shortcut is not None:
            ident = cc.temp("identity")
            if entry.shortcut_name:
                prefix = scope_of(node)
                name = f"{prefix}.{entry.shortcut_name}" if prefix else entry.shortcut_name
                if node.shortcut:  # a named shortcut that builds nothing is the identity
                    s = self.group(cc, name, src, ident, output_of(node.shortcut, node.x), steps=node.shortcut)
            else:
                s = self.sequence(node.shortcut, cc, src, ident)
            cc.live.discard(ident)
        self.merge(node, "Add", cc, dst, f"{main} + {s}", "add", 1)
        cc.live.discard(out)
        return dst

    def combine(self, node, cc, src, dst) -> str:
        entry, prefix = node.entry, scope_of(node)
        parts, temps = [], []
        for i, branch in enumerate(node.branches or ()):
            if branch:
                var = cc.temp(f"b{i}")
                temps.append(var)
                v = self.group(cc, f"{prefix}.{i}" if prefix else f"branch{i}", src, var, output_of(branch, node.x),
                               steps=branch)
            else:
                v = src
            parts.append(v)
        for ref in reversed(entry.refs or ()):
            if ref not in cc.saved:
                raise SpecError(f"export: with: {ref} names an output outside the block this concat is in, which "
                                "the block's class cannot see", entry.pos)
            parts.insert(0, cc.saved[ref])
        if node.branches is None:
            parts.append(src)
        if entry.kind == "concat":
            expr = f"torch.cat([{', '.join(parts)}], dim={py(node.dim, cc.names)})"
            self.merge(node, "Concat", cc, dst, expr, "cat", 1)
        else:
            self.merge(node, "Add", cc, dst, " + ".join(parts), "add", len(parts) - 1)
        for t in temps:
            cc.live.discard(t)
        return dst

    def merge(self, node, op, cc, dst, expr, torch_op, count):
        if cc.generic:
            y = node.y
        else:
            y = tuple(normalize(d) for d in self.rows[node.row].output_shape)
            self.mapped[node.row] = Mapped(node.merge, "merge", op=torch_op, count=count)
        comment = self.comment(cc, node.merge, y)
        cc.add_fwd(0, f"{dst} = {expr}" + note(comment))


def _join(root: str, path: str) -> str:
    return f"{root}.{path}" if root else path
