"""What each spec block becomes in ``netcalc export``'s file.

A block called several times is written once, as a class whose ``__init__`` takes the block's
arguments (and the incoming ``in_channels``/``in_features`` it needs): its body is walked once
for all calls by :class:`netcalc.network.BlockTemplate`, the arguments as symbols and a ``when:``
they leave open written as an ``if``. Each call is then checked against that class (the same
modules with the same constructor arguments at the same names). When one class cannot say every
call (a width that depends on spatial sizes, a list argument, a repeat count that depends on an
argument, ...), each distinct call gets a class of its own with the values filled in.
"""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass

from .layers import REGISTRY, Context
from .network import BlockTemplate, NotGeneric, implicit
from .pycode import condition, number, param_name, py, strip_comments
from .symbolic import is_int, normalize, symbol, sympy


@dataclass
class Instance:
    """One call of a spec block, as netcalc walked it."""

    block: object  # BlockDef
    path: str  # netcalc name, e.g. layer1.0
    x: tuple
    args: dict  # parameter → value
    given: set  # parameters the call spells out
    ident: int
    torch_path: str = ""
    code: object = None  # its ClassCode, as written for this call


class BlockClasses:
    """The block calls of one export, and the class (or classes) each block becomes. ``gen`` is
    the export's Generator: it writes walked steps into a class (``body``) and renders one."""

    def __init__(self, gen, reserved: set):
        self.gen, self.spec = gen, gen.spec
        self.instances: list[Instance] = []
        self.decided: dict[str, tuple] = {}  # block → ("generic", ClassCode) or ("calls", {ident: class name})
        self.classes = self._class_names(reserved)

    def _class_names(self, reserved: set) -> dict:
        taken = {"nn", "torch", "OrderedDict", *reserved, *(k.TYPE for k in REGISTRY.values() if k.TORCH_HELPER)}
        out = {}
        for name in self.spec.blocks:
            # a class name must not be a keyword or shadow a builtin the generated code calls (print, sum,
            # super), and one starting with __ would be mangled inside the class that uses it
            cls = "Block" + name if name.startswith("__") else name
            cls = cls + "_" if keyword.iskeyword(cls) or hasattr(builtins, cls) else cls
            while cls in taken:
                cls += "_"
            taken.add(cls)
            out[name] = cls
        return out

    def called(self, block, node) -> Instance:
        """Record a call the network's walk made (its node in the graph)."""
        inst = Instance(block, node.name, tuple(normalize(d) for d in node.x), node.args, set(node.entry.args),
                        len(self.instances))
        self.instances.append(inst)
        return inst

    def order(self) -> list[str]:
        """The blocks that are called, callees first."""
        used = {i.block.name for i in self.instances}
        order: list[str] = []

        def visit(name):
            if name not in order:
                for callee in self.spec.callees(name):
                    visit(callee)
                order.append(name)

        for name in self.spec.blocks:
            if name in used:
                visit(name)
        return [n for n in order if n in used]

    def decide(self, name: str):
        calls = [i for i in self.instances if i.block.name == name]
        try:
            self.decided[name] = ("generic", self.generic(calls[0].block, calls))
        except AssertionError:
            raise
        except Exception:  # noqa: BLE001  NotGeneric, or a rule that needs numbers: one class per distinct call
            seen: dict[str, str] = {}
            names = {}
            for inst in calls:
                text = strip_comments(self.resolve(self.gen.render_class(inst.code, "C", "", inst.x)))
                if text not in seen:
                    seen[text] = self.classes[name] if not seen else f"{self.classes[name]}{len(seen) + 1}"
                names[inst.ident] = seen[text]
            self.decided[name] = ("calls", names)

    @staticmethod
    def _implicit_names(params):
        ic = "in_channels" if "in_channels" not in params else "in_channels_"
        inf = "in_features" if "in_features" not in params else "in_features_"
        return ic, inf

    def _input_symbols(self, n, params):
        ic, inf = self._implicit_names(params)
        dims = [symbol(f"__x{i}") for i in range(n)]
        if n >= 3:
            dims[1], dims[-1] = symbol(ic), symbol(inf)
        elif n:
            dims[-1] = symbol(inf)
        return tuple(dims)

    def subs(self, inst: Instance) -> dict:
        """The symbols of its block's class at one call: arguments and input widths."""
        params = list(inst.block.params)
        ic, inf = self._implicit_names(params)
        subs = {symbol(p): inst.args[p] for p in params}
        if len(inst.x) >= 3:
            subs[symbol(ic)] = inst.x[1]
        if inst.x:
            subs[symbol(inf)] = inst.x[-1]
        return subs

    def exclusive(self, calls, a, b) -> bool:
        """Whether two conditions never hold together at any of ``calls``."""
        for inst in calls:
            subs = self.subs(inst)
            if holds(a, subs) and holds(b, subs):
                return False
        return True

    def generic(self, block, calls):
        """One class for every call of ``block``: its arguments and input widths as symbols."""
        from .export import ClassCode

        params = list(block.params)
        if any(isinstance(i.args.get(p), (bool, tuple)) for i in calls for p in params):
            raise NotGeneric("a block argument is a boolean or a list")
        if len({len(i.x) for i in calls}) > 1:
            raise NotGeneric("calls with inputs of different ranks")
        ic, inf = self._implicit_names(params)
        names = {p: param_name(p, params) for p in params}
        names[ic], names[inf] = ic, inf
        x = self._input_symbols(len(calls[0].x), params)
        values = {**self.gen.values, **implicit(x), **{p: symbol(p) for p in params}}
        cc = ClassCode("§", generic=True, names=names)
        cc.calls = calls
        template = BlockTemplate(self.spec, Context(values, self.gen.no_bias), lambda when, scope: condition(
            when, scope, symbol)[0], lambda a, b: self.exclusive(calls, a, b))
        steps, _ = template.walk(block, x)
        self.gen.body(steps, cc)
        for inst in calls:  # each call must build exactly what the class builds with its arguments
            subs = self.subs(inst)
            want = [r for r in (self._record_at(rec, subs) for rec in cc.records) if r is not None]
            got = [self._record_at(rec, {}) for rec in inst.code.records]
            if want != got:
                raise NotGeneric(f"the call at {inst.path} builds something else")
        text = "\n".join(t for _, t in cc.init)
        cc.implicit = [k for k in (ic, inf) if re.search(rf"\b{k}\b", text)]
        return cc

    def _record_at(self, record, subs):
        """A record at one call's values (None where its condition is false)."""
        kind, rel, path, what, cond, x, dyn = record
        if cond is not None and not holds(cond, subs):
            return None
        if dyn is not None:  # numbered as appended: after the members built at this call
            k = str(sum(1 for c in dyn if c is None or holds(c, subs)))
            rel, path = rel.rsplit(".", 1)[0] + "." + k, path.rsplit(".", 1)[0] + "." + k
        if kind == "leaf":
            return kind, rel, path, what.at(subs)
        block, args = what
        callee = self.decided[block][1]
        if self.decided[block][0] != "generic":
            raise NotGeneric(f"block {block} has one class per call")
        widths = tuple(number(v, subs) for v in self.implicit_values(callee, x))
        return kind, rel, path, block, widths, tuple(number(v, subs) for v in args)

    def render(self, name: str) -> list[str]:
        """The class (or classes) block ``name`` becomes."""
        block = self.spec.blocks[name]
        calls = [i for i in self.instances if i.block.name == name]
        how, data = self.decided[name]

        def where(insts):
            return ", ".join(i.path for i in insts[:4]) + (", ..." if len(insts) > 4 else "")

        if how == "generic":
            cc = data
            sig = "".join(f", {k}" for k in cc.implicit)
            kws = [f"{cc.names[p]}={d!r}" if is_int(d) or isinstance(d, bool) else cc.names[p]
                   for p, d in block.params.items()]
            if kws:
                sig += ", *, " + ", ".join(kws)
            n = len(calls)
            doc = (f'"""Block {name}, called {"once" if n == 1 else f"{n} times"} ({where(calls)}); '
                   f'shape comments at {calls[0].path}."""')
            return [self.gen.render_class(cc, self.classes[name], doc, calls[0].x, sig)]
        out, done = [], set()
        for inst in calls:
            cls = data[inst.ident]
            if cls not in done:
                done.add(cls)
                same = [i for i in calls if data[i.ident] == cls]
                args = ", ".join(f"{k}={v}" for k, v in inst.args.items())
                doc = f'"""Block {name}({args}) as called at {where(same)}."""'
                out.append(self.gen.render_class(inst.code, cls, doc, inst.x))
        return out

    def call_code(self, block, x, args: dict, given: set, names: dict | None = None) -> str:
        """Constructing block's class for one call inside another block's class (``names``: its
        symbols' Python names there), or, when every block is decided, at a call of the model."""
        how, callee = self.decided.get(block.name, ("calls", None))
        if how != "generic":
            raise NotGeneric(f"block {block.name} has one class per call")
        return f"{self.classes[block.name]}(" + ", ".join(
            [py(v, names) for v in self.implicit_values(callee, x)]
            + [f"{callee.names[p]}={py(args[p], names)}" for p in block.params
               if p in given or not (is_int(block.params[p]) or isinstance(block.params[p], bool))]) + ")"

    def resolve(self, code: str) -> str:
        """Write every block call of the model (known once every block is decided)."""
        def call(m):
            inst = self.instances[int(m.group(1))]
            how, data = self.decided[inst.block.name]
            if how == "calls":
                return f"{data[inst.ident]}()"
            return self.call_code(inst.block, inst.x, inst.args, inst.given)

        return re.sub(r"§CALL(\d+)§", call, code)

    @staticmethod
    def implicit_values(cc, x) -> list:
        """The input widths a block's class takes, at an input of shape ``x``."""
        return [x[1] if k.startswith("in_channels") else x[-1] for k in cc.implicit]


def holds(cond, subs) -> bool:
    c = cond.subs(subs)
    if c not in (sympy().true, sympy().false):
        raise NotGeneric(f"condition {cond} undecided at a call")
    return c == sympy().true
