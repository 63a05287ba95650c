"""The spec ``netcalc import`` writes: its entries as data, grouped by module path, and written
out as YAML (netcalc/importer.py turns a traced model into these items).

* Items: a ``Leaf`` is one layer; a ``Merge`` joins branches (residual/add/concat/multiply); a
  ``Join`` is a layer reading tensors besides its input (Matmul's ``other:``), with a branch per
  tensor; a ``PieceRef`` starts a branch at a named piece of a split; a ``Seq`` groups the items of
  one module path (a ``sequential`` entry or a call of a shared ``blocks:`` definition).
* ``Emitter`` writes them as the walker reads them: ``from:`` where an entry does not read the
  previous output, and each tensor read by name under the shortest name the walker's nested scopes
  resolve to it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any


class ImportFailure(Exception):
    """The model cannot be expressed as a spec (or loaded); the message names the module or op."""


class LoadFailure(ImportFailure):
    """The module or factory could not be found or run: a usage problem."""


# ----------------------------------------------------------------------------- the spec as data


@dataclass
class Leaf:
    """One netcalc layer: a module call or a tensor op."""

    type: str
    args: dict
    name: str  # local name inside its scope
    scope: tuple  # module path of the container it belongs in
    shape: tuple  # torch's output shape
    path: str | None = None  # module path for module calls
    module: Any = None
    params: int | None = None  # parameters the row must have (module calls and learned tensors)
    call: int = 0  # k-th call of that module
    reads: dict = field(default_factory=dict)  # a second input's argument → the item whose output it reads
    order: int = 0  # when forward computes it


@dataclass
class Merge:
    """A join of branches: add (residual), cat or mul, at an fx node."""

    kind: str  # "add", "cat", "mul"
    name: str
    scope: tuple
    shape: tuple
    branches: list
    dim: int | None = None


@dataclass
class Join:
    """A layer that reads tensors besides its input (Matmul's ``other:``, attention's ``key:`` and
    ``value:``): its input's branch first, then one branch per extra input, each from the fork."""

    leaf: Leaf
    keys: list  # the argument each extra input fills
    branches: list
    scope: tuple = ()

    def in_order(self) -> list:
        """(index, branch) in the order forward computes them (0: the layer's own input)."""
        return sorted(enumerate(self.branches), key=lambda ib: first_order(ib[1]))


def first_order(items: list) -> int:
    """When forward starts computing ``items`` (-1: nothing to compute)."""
    for it in items:
        if isinstance(it, (Leaf, PieceRef)):
            return it.order
        inner = [first_order(b) for b in getattr(it, "branches", [it.items] if isinstance(it, Seq) else [])]
        inner = [o for o in inner if o >= 0]
        if inner:
            return min(inner)
    return -1


@dataclass(eq=False)
class PieceRef:
    """The start of a branch that reads a named piece of a split (``q, k, v = qkv.split(...)``)."""

    leaf: Leaf  # the Chunk/Split entry
    piece: str
    scope: tuple = ()
    order: int = 0


@dataclass
class Seq:
    name: str
    items: list
    path: str = ""  # the module path it stands for
    block: str | None = None  # set when identical instances of one class share a blocks: definition


# ----------------------------------------------------------------------------- grouping by module path

def _scope(item) -> tuple:
    if isinstance(item, (Leaf, PieceRef)):
        return item.scope
    if isinstance(item, Seq):
        return ()
    scopes = [item.scope] + [_scope(i) for b in item.branches for i in b]
    common = scopes[0]
    for s in scopes[1:]:
        k = 0
        while k < min(len(common), len(s)) and common[k] == s[k]:
            k += 1
        common = common[:k]
    return common


def mark_shared(items: list) -> None:
    """A module using a parameter an earlier module owns (a tied LM head) says ``share:`` that module,
    and its row counts only its own parameters, as ``named_parameters()`` counts a tied weight once."""
    owner: dict[int, str] = {}
    for item in items:
        if not isinstance(item, Leaf) or item.module is None or item.call:
            continue
        params = list(item.module.parameters())
        shared = [p for p in params if id(p) in owner]
        if shared:
            item.args["share"] = owner[id(shared[0])]
            item.params = sum(p.numel() for p in params if id(p) not in owner)
        for p in params:
            owner.setdefault(id(p), item.path)


def group(items: list, scope: tuple) -> list:
    """Consecutive items of a deeper module become a ``sequential`` named by the next path component."""
    out, i = [], 0
    while i < len(items):
        s = _scope(items[i])
        if len(s) > len(scope) and s[:len(scope)] == scope:
            head = s[:len(scope) + 1]
            j = i + 1
            while True:
                while j < len(items) and _scope(items[j])[:len(head)] == head:
                    j += 1
                # tensor ops of the caller between calls of one module's children (a loop over a
                # ModuleList) join the group, so the children stay under one name
                k = j
                while k < len(items) and isinstance(items[k], Leaf) and items[k].path is None \
                        and items[k].scope == scope:
                    k += 1
                if j < k < len(items) and _scope(items[k])[:len(head)] == head:
                    j = k
                    continue
                break
            out.append(Seq(head[-1], group(items[i:j], head), ".".join(head)))
            i = j
            continue
        item = items[i]
        if isinstance(item, (Merge, Join)):
            item.branches = [group(b, scope) for b in item.branches]
        out.append(item)
        i += 1
    return out


def share_blocks(items: list, model) -> dict:
    """Instances of one user-defined module class with identical layers become calls of one block.

    Returns the block definitions (name → a representative Seq); the Seqs that call them get
    ``block`` set. Rows and names stay exactly as they were: a block call is named like the
    sequential it replaces.
    """
    from .layers.registry import REGISTRY
    from .spec import STRUCTURAL

    seqs: list[Seq] = []

    def visit(its):
        for it in its:
            if isinstance(it, Seq):
                visit(it.items)
                seqs.append(it)  # children first, so nested blocks are defined before their users
            elif isinstance(it, (Merge, Join)):
                for b in it.branches:
                    visit(b)

    visit(items)
    groups: dict[tuple, list[Seq]] = {}
    for seq in seqs:
        try:
            mod = model.get_submodule(seq.path)
        except AttributeError:
            continue
        cls = type(mod)
        if cls.__module__.startswith("torch."):
            continue
        try:
            body = "\n".join(emit(seq.items, 0)[0])
        except ImportFailure:
            continue  # it reads a tensor from outside itself by name: its calls cannot share a body
        groups.setdefault((cls.__name__, body), []).append(seq)
    out: dict[str, Seq] = {}
    for (cls, _), members in groups.items():
        if len(members) < 2:
            continue
        name = re.sub(r"\W", "_", cls)
        if name.lower() in REGISTRY or name.lower() in STRUCTURAL:
            name += "_block"
        base, k = name, 1
        while name in out:
            k += 1
            name = f"{base}_{k}"
        out[name] = members[0]
        for seq in members:
            seq.block = name
    # a definition's body must call only blocks defined before it, and never itself
    return {name: Seq(seq.name, seq.items, seq.path) for name, seq in out.items()}


# ----------------------------------------------------------------------------- YAML out

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "none", "~"}


def scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        text = repr(v)
        if "e" in text and "." not in text.split("e")[0]:
            mant, exp = text.split("e")
            text = f"{mant}.0e{exp}"
        return text
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(scalar(x) for x in v) + "]"
    s = str(v)
    if _PLAIN.fullmatch(s) and s.lower() not in _YAML_WORDS:
        return s
    return json.dumps(s)


INPUT = "the network input"  # what the first entry reads
INPUT_NAME = "x"  # its name, when a later entry reads it by name (inputs: {x: [...]})


def output_of(item):
    """The item whose output is ``item``'s: a group's is its last member's."""
    while isinstance(item, Seq):
        item = item.items[-1]
    return item.leaf if isinstance(item, Join) else item


class Emitter:
    """Items → spec lines. An entry that does not read the previous entry's output says ``from:``,
    and a second input (``other:``, ``key:``) names its tensor as the walker looks names up: in the
    enclosing group first, then outward (``Walker.tensor``), with the shortest name that finds it."""

    def __init__(self, input_name: str | None, wanted: set | None = None):
        self.wanted = wanted  # ids of the items read by name (None: the first pass, which finds them)
        self.read: set = set()  # ids this pass read by name
        self.paths: dict = {id(INPUT): input_name} if input_name else {}  # id(item) → its name as saved
        self.known: set = {input_name} if input_name else set()  # every name saved so far
        self.current = INPUT
        self.top: set = {input_name} if input_name else set()  # top-level names in use

    def lines(self, items: list, indent: int, prefix: str | None, start=INPUT) -> list[str]:
        """``items`` as entries at ``indent`` inside the group ``prefix`` (None: the top level), the
        first reading ``start``."""
        out, expected, ordinal = [], start, 0
        for item in items:
            if isinstance(item, PieceRef):
                expected = item
                continue
            before = len(out)
            out += self.item(item, indent, prefix, expected, ordinal)
            ordinal += sum(1 for line in out[before:] if line.startswith(" " * indent + "- "))
            expected = output_of(item)
        return out

    def name_of(self, item, prefix) -> str:
        return _unique(item.name, self.top) if prefix is None else item.name

    def save(self, item, prefix, name) -> str:
        path = f"{prefix}.{name}" if prefix else name
        self.paths[id(item)] = path
        self.known.add(path)
        return path

    def source(self, expected, prefix) -> dict:
        """``{"from": name}`` when the entry's input is not the current tensor."""
        if expected is self.current:
            return {}
        self.current = expected
        return {"from": self.ref(expected, prefix)}

    def ref(self, target, prefix) -> str:
        """The shortest name of ``target`` that the walker, looking from ``prefix``, finds as it."""
        self.read.add(id(target))
        path = self.paths.get(id(target))
        if isinstance(target, PieceRef) and id(target.leaf) in self.paths:
            path = f"{self.paths[id(target.leaf)].rpartition('.')[0]}.{target.piece}".lstrip(".")
        if path is None and self.wanted is None:
            return "?"  # the first pass: it only finds which items are read by name
        if path is None:
            raise ImportFailure(f"{getattr(target, 'name', target)}: another layer reads this tensor, but it is "
                                "inside a concat branch or a shared block, where netcalc import cannot name it yet")
        scopes, parts = (prefix or "").split(".") if prefix else [], path.split(".")
        for k in range(len(parts) - 1, -1, -1):
            name = ".".join(parts[k:])
            found = next((f"{'.'.join(scopes[:j])}.{name}" for j in range(len(scopes), 0, -1)
                          if f"{'.'.join(scopes[:j])}.{name}" in self.known), name)
            if found == path:
                return name
        return path

    def item(self, item, indent, prefix, expected, ordinal) -> list[str]:
        pad = " " * indent
        if isinstance(item, Join):
            return self.join(item, indent, prefix, expected)
        if isinstance(item, Leaf):
            name = self.name_of(item, prefix)
            fields = {**item.args, **self.source(expected, prefix)}
            for key, target in item.reads.items():
                fields[key] = self.ref(target, prefix)
            fields["name"] = name
            self.save(item, prefix, name)
            for piece in item.args.get("names") or ():
                self.known |= {piece, f"{prefix}.{piece}" if prefix else piece}
            self.current = item
            return [f"{pad}- {item.type}: {{" + ", ".join(f"{k}: {scalar(v)}" for k, v in fields.items()) + "}"]
        if isinstance(item, Seq):
            name = self.name_of(item, prefix)
            source = self.source(expected, prefix)
            path = self.save(item, prefix, name)
            if item.block:
                self.paths.setdefault(id(output_of(item)), path)  # the call's output is its last layer's
                fields = {"name": name, **source}
                self.current = output_of(item)
                return [f"{pad}- {item.block}: {{" + ", ".join(f"{k}: {scalar(v)}" for k, v in fields.items()) + "}"]
            head = [f"{pad}- sequential:", f"{pad}    name: {scalar(name)}"]
            head += [f"{pad}    from: {scalar(source['from'])}"] if source else []
            return head + [f"{pad}    layers:"] + self.lines(item.items, indent + 6, path, expected)
        return self.merge(item, indent, prefix, expected, ordinal)

    def join(self, j, indent, prefix, fork) -> list[str]:
        """A layer reading tensors besides its input: each one's branch from the fork, then its own
        input's branch, then the layer (the walker's order)."""
        out, expected = [], fork
        for i, branch in j.in_order():
            out += self.lines(branch, indent, prefix, fork)
            end = fork if not branch else branch[-1] if isinstance(branch[-1], PieceRef) else output_of(branch[-1])
            if i == 0:
                expected = end
            else:
                j.leaf.reads[j.keys[i - 1]] = end
        return out + self.item(j.leaf, indent, prefix, expected, 0)

    def merge(self, m: Merge, indent, prefix, expected, ordinal) -> list[str]:
        pad, inner = " " * indent, " " * (indent + 4)
        kind, branches = merge_layout(m)
        if kind == "multiply" and (len(m.branches) != 2 or (m.branches[0] and m.branches[1])):
            raise ImportFailure(f"{m.name}: multiplies two computed tensors; netcalc's multiply is x * gate(x)")
        named = prefix is None or (self.wanted is not None and id(m) in self.wanted)
        source = self.source(expected, prefix)
        lines = [f"{pad}- {kind}:"]
        if named:
            name = self.name_of(m, prefix)
            lines.append(f"{inner}name: {scalar(name)}")
            inside = self.save(m, prefix, name)
        elif kind in ("residual", "multiply"):
            inside = prefix  # an unnamed residual inside a group is transparent: its layers take the group's names
        else:
            inside = f"{prefix}.{ordinal}"
        if source:
            lines.append(f"{inner}from: {scalar(source['from'])}")
        if kind == "residual":
            lines.append(f"{inner}layers:")
            lines += self.lines(branches[0], indent + 6, inside, expected)
            if branches[1]:
                lines.append(f"{inner}shortcut:")
                self.current = expected  # each branch starts from the merge's input
                lines += self.lines(branches[1], indent + 6, inside, expected)
        elif kind == "multiply":
            lines.append(f"{inner}layers:")
            lines += self.lines(branches[0], indent + 6, inside, expected)
        else:
            if kind == "concat":
                lines.append(f"{inner}dim: {m.dim}")
            lines.append(f"{inner}branches:")
            for i, b in enumerate(branches):
                if not b:
                    lines.append(f"{inner}  - []")
                    continue
                self.current = expected  # each branch starts from the merge's input
                sub = self.lines(b, indent + 8, f"{inside}.{i}", expected)
                sub[0] = f"{inner}  - " + sub[0].lstrip()
                lines += sub
        self.current = m
        return lines


def emit(items: list, indent: int, input_name: str | None = None) -> tuple[list[str], bool]:
    """``items`` as spec lines, and whether they read the network input by name: the top level when
    ``input_name`` names that input, else a block's body (whose input has no name). Two passes:
    the first finds which items are read by name, so that the second names them."""
    first = Emitter(input_name)
    first.lines(items, indent, None if input_name else "")
    second = Emitter(input_name, first.read)
    lines = second.lines(items, indent, None if input_name else "")
    return lines, id(INPUT) in second.read


def merge_layout(m: Merge) -> tuple[str, list]:
    """The entry kind and the branch order the spec uses (the walker's row order follows it)."""
    b = m.branches
    if m.kind == "add" and len(b) == 2 and (b[0] or b[1]):
        return "residual", ([b[0], b[1]] if b[0] else [b[1], b[0]])
    if m.kind == "mul":
        return "multiply", [b[0] or b[1]]
    return ("concat" if m.kind == "cat" else "add"), b


def _unique(name: str, taken: set | None) -> str:
    if taken is None:
        return name
    out, k = name, 1
    while out in taken:
        k += 1
        out = f"{name}_{k}"
    taken.add(out)
    return out


def rows_of(items: list) -> list:
    """Leaves and merges in the order netcalc's walker makes rows."""
    out = []
    for item in items:
        if isinstance(item, Leaf):
            out.append(item)
        elif isinstance(item, Seq):
            out += rows_of(item.items)
        elif isinstance(item, Join):  # Emitter.join's order
            for _, branch in item.in_order():
                out += rows_of(branch)
            out.append(item.leaf)
        elif isinstance(item, PieceRef):
            continue
        else:
            for branch in merge_layout(item)[1]:
                out += rows_of(branch)
            out.append(item)
    return out
