"""Reading a spec: YAML or TOML text in, :class:`Spec` with file positions out.

Every mapping keeps the position of itself and of each key, so errors can point at the
offending layer entry or argument. tomllib gives no positions; :func:`_toml_positions`
finds them by scanning the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import Pos, SpecError, did_you_mean, show

TOP_KEYS = ("name", "input", "symbols", "blocks", "layers")
# structural entries: how each combines its sub-networks (see README: whole networks)
STRUCTURAL = ("sequential", "residual", "concat", "add", "multiply")
MAX_BYTES = 8 * 1024 * 1024
MAX_ALIASES = 1000
# The most layer entries (items of any layers:, shortcut: or branch list) one file may hold. Reading
# costs ~15 µs and ~2 KB per entry before any check could run (400,000 entries: 5 s and 1 GB), so
# they are counted from the parser's event stream first. Equal to network.MAX_LAYERS: a file with
# more entries than that would expand to more rows than the analysis accepts anyway.
MAX_ENTRIES = 20_000
_LAYER_LISTS = ("layers", "shortcut")  # keys whose value is a list of layer entries


@dataclass
class Entry:
    """One layer as written: its type name, raw arguments and where each came from."""

    type: str
    args: dict[str, Any]
    pos: Pos
    key_pos: dict[str, Pos] = field(default_factory=dict)
    name: str | None = None
    expect: Any = None
    match: str | None = None
    index: int = 0
    kind: str = "layer"  # "layer", "block" (a call of a spec-defined block), or one of STRUCTURAL
    children: list["Entry"] | None = None  # sequential/residual/multiply body, or a block's layers
    branches: list[list["Entry"]] | None = None  # concat/add: parallel branches ([] is the identity)
    shortcut: list["Entry"] | None = None  # residual: the shortcut branch (None: identity)
    shortcut_name: str | None = None
    refs: list[str] | None = None  # concat/add with: earlier named outputs
    repeat: Any = None
    when: Any = None

    def where(self, key: str | None = None) -> Pos:
        """Where an error about this entry (or one of its keys) points: the layer entry itself,
        whose line is the one a reader looks for; the message names the key."""
        return self.pos


@dataclass
class BlockDef:
    """A named, parameterised sub-network defined once under ``blocks:``."""

    name: str
    params: dict[str, Any]  # parameter → default (None: required)
    layers: list[Entry]
    pos: Pos
    key_pos: dict[str, Pos] = field(default_factory=dict)


@dataclass
class Spec:
    input: list
    layers: list[Entry]
    name: str | None = None
    symbols: dict[str, int] = field(default_factory=dict)
    key_pos: dict[str, Pos] = field(default_factory=dict)
    input_pos: list[Pos] = field(default_factory=list)
    blocks: dict[str, BlockDef] = field(default_factory=dict)


class PosDict(dict):
    pos: Pos = (1, 1)
    key_pos: dict

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.key_pos = {}


class PosList(list):
    pos: Pos = (1, 1)
    item_pos: list


# ----------------------------------------------------------------------------- YAML

def _yaml_loader():
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        pass

    def mark(node) -> Pos:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def mapping(loader, node):
        loader.flatten_mapping(node)
        out = PosDict()
        out.pos = mark(node)
        for k_node, v_node in node.value:
            key = loader.construct_object(k_node, deep=True)
            if not isinstance(key, (str, int)):
                raise SpecError("mapping keys must be names", mark(k_node))
            key = str(key)
            if key in out:
                raise SpecError(f"duplicate key {key!r}", mark(k_node))
            out[key] = loader.construct_object(v_node, deep=True)
            out.key_pos[key] = mark(k_node)
        return out

    def sequence(loader, node):
        out = PosList(loader.construct_object(n, deep=True) for n in node.value)
        out.pos = mark(node)
        out.item_pos = [mark(n) for n in node.value]
        return out

    Loader.add_constructor("tag:yaml.org,2002:map", mapping)
    Loader.add_constructor("tag:yaml.org,2002:seq", sequence)
    return Loader


_LOADER = None


def _load_yaml(text: str):
    import yaml

    global _LOADER
    if _LOADER is None:
        _LOADER = _yaml_loader()
    if text.count("*") > MAX_ALIASES and len(re.findall(r"(?<![\w*])\*[A-Za-z_]", text)) > MAX_ALIASES:
        raise SpecError(f"more than {MAX_ALIASES} YAML aliases: refusing a possible alias bomb")
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        pos = (mark.line + 1, mark.column + 1) if mark else None
        raise SpecError(f"invalid YAML: {e.problem or e.context}", pos) from None
    except yaml.YAMLError as e:
        raise SpecError(f"invalid YAML: {e}") from None
    except RecursionError:
        raise SpecError("YAML nesting is too deep") from None


# ----------------------------------------------------------------------------- TOML

_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


def _load_toml(text: str):
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = _TOML_POS.search(str(e))
        msg = _TOML_POS.sub("", str(e)).strip()
        raise SpecError(f"invalid TOML: {msg}", (int(m.group(1)), int(m.group(2))) if m else None) from None
    return _toml_positions(text, data)


def _toml_positions(text: str, data: dict):
    """Attach positions to the parsed TOML by scanning its lines."""
    top = PosDict(data)
    layers = data.get("layers")
    entries: list[PosDict] = []
    tables: dict[str, dict] = {}  # [table] name → key positions
    section = None  # None: top level; int: index of the [[layers]] table we are in; str: another table
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        col = len(line) - len(line.lstrip()) + 1
        if stripped.startswith("[[") and stripped[2:].split("]]")[0].strip() == "layers":
            section = len(entries)
            entries.append(PosDict())
            entries[-1].pos = (lineno, col)
            continue
        if stripped.startswith("["):
            section = stripped.strip("[] ")  # another table, e.g. [symbols]
            tables.setdefault(section, {})
            continue
        m = re.match(r"([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=", stripped)
        if not m:
            continue
        key = m.group(1).strip('"')
        if section is None:
            top.key_pos.setdefault(key, (lineno, col))
        elif isinstance(section, str):
            tables[section].setdefault(key, (lineno, col))
        else:
            entries[section].key_pos.setdefault(key, (lineno, col))
    if isinstance(layers, list):
        out = PosList()
        out.item_pos = []
        inline = _inline_positions(text, top.key_pos.get("layers"))
        for i, item in enumerate(layers):
            if i < len(entries):
                pos = entries[i].pos
            elif i < len(inline):
                pos = inline[i]
            else:
                pos = top.key_pos.get("layers", (1, 1))
            if isinstance(item, dict):
                d = PosDict(item)
                d.pos = pos
                if i < len(entries):
                    d.key_pos = entries[i].key_pos
                out.append(d)
            else:
                out.append(item)
            out.item_pos.append(pos)
        top["layers"] = out
    for name, positions in tables.items():
        if isinstance(top.get(name), dict):
            table = PosDict(top[name])
            table.key_pos = positions
            top[name] = table
    top.pos = (1, 1)
    return top


def _inline_positions(text: str, start: Pos | None) -> list[Pos]:
    """Positions of the items of an inline ``layers = [...]`` array (tables and bare names)."""
    if start is None:
        return []
    out: list[Pos] = []
    lines = text.splitlines()
    square = curly = 0
    quote = None
    for lineno in range(start[0], len(lines) + 1):
        line = lines[lineno - 1]
        col = start[1] - 1 if lineno == start[0] else 0
        while col < len(line):
            ch = line[col]
            if quote:
                if ch == "\\" and quote == '"':
                    col += 1
                elif ch == quote:
                    quote = None
            elif ch == "#":
                break
            elif ch in "\"'":
                if square == 1 and curly == 0:
                    out.append((lineno, col + 1))
                quote = ch
            elif ch == "[":
                square += 1
            elif ch == "]":
                square -= 1
                if square == 0:
                    return out
            elif ch == "{":
                if square == 1 and curly == 0:
                    out.append((lineno, col + 1))
                curly += 1
            elif ch == "}":
                curly -= 1
            col += 1
    return out


# ----------------------------------------------------------------------------- Spec

def parse(text: str, filename: str = "<stdin>") -> Spec:
    """Parse spec text; TOML when the file name ends in ``.toml``, else YAML."""
    if len(text) > MAX_BYTES:
        raise SpecError(f"the spec is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    toml = filename.lower().endswith(".toml")
    _check_entries(text, toml)
    data = _load_toml(text) if toml else _load_yaml(text)
    return from_data(data)


def _too_many_entries(pos: Pos | None = None) -> SpecError:
    return SpecError(f"the spec has more than MAX_ENTRIES = {MAX_ENTRIES} layer entries; netcalc refuses files "
                     "that large: use repeat: or blocks for repeated layers", pos)


def _check_entries(text: str, toml: bool) -> None:
    """Refuse a file with more than MAX_ENTRIES layer entries before building it."""
    if toml:  # each entry written as a [[...]] table costs a header line; inline lists are counted later
        if text.count("[[") > MAX_ENTRIES and len(re.findall(r"^[ \t]*\[\[", text, re.M)) > MAX_ENTRIES:
            raise _too_many_entries()
        return
    if text.count("\n") + text.count(",") <= MAX_ENTRIES:  # every entry needs its own line or a comma
        return
    _count_yaml_entries(text)


def _count_yaml_entries(text: str) -> None:
    """Walk the YAML event stream (C-speed, no objects built) counting items of layer lists:
    values of ``layers:``/``shortcut:`` and the lists inside ``branches:``."""
    import yaml

    events = yaml.CSafeLoader(text) if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader(text)
    stack: list[list] = []  # ["map", expecting_key, last_key] or ["seq", what its items are]
    count = 0
    try:
        while events.check_event():
            ev = events.get_event()
            if isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                stack.pop()
                continue
            if not isinstance(ev, yaml.NodeEvent):
                continue
            role = None  # what this node is: a layer entry, a layer list, a list of branches
            if stack and stack[-1][0] == "map":
                frame = stack[-1]
                if frame[1]:
                    frame[2] = ev.value if isinstance(ev, yaml.ScalarEvent) else None
                else:
                    role = "layers" if frame[2] in _LAYER_LISTS else "branches" if frame[2] == "branches" else None
                frame[1] = not frame[1]
            elif stack:
                item_of = stack[-1][1]
                role = "entry" if item_of == "layers" else "layers" if item_of == "branches" else None
            if role == "entry":
                count += 1
                if count > MAX_ENTRIES:
                    raise _too_many_entries((ev.start_mark.line + 1, ev.start_mark.column + 1))
            if isinstance(ev, yaml.MappingStartEvent):
                stack.append(["map", True, None])
            elif isinstance(ev, yaml.SequenceStartEvent):
                stack.append(["seq", role if role in ("layers", "branches") else None])
    except yaml.YAMLError:
        return  # malformed: the real parse reports it with its position
    finally:
        events.dispose()


def from_data(data) -> Spec:
    if not isinstance(data, dict):
        raise SpecError("a spec is a mapping with 'input' and 'layers' (see README: the spec file)",
                        getattr(data, "pos", None))
    kp = getattr(data, "key_pos", {})
    for key in data:
        if key not in TOP_KEYS:
            raise SpecError(f"unknown top-level key {key!r}{did_you_mean(key, TOP_KEYS)}; "
                            f"a spec has {', '.join(TOP_KEYS)}", kp.get(key))
    if "input" not in data:
        raise SpecError("the spec needs 'input', the input shape, e.g. input: [1, 3, 224, 224]")
    if "layers" not in data:
        raise SpecError("the spec needs 'layers', a list of layers", None)
    raw_input = data["input"]
    if not isinstance(raw_input, list) or not raw_input:
        raise SpecError("'input' must be a non-empty list of dimensions, e.g. [1, 3, 224, 224]", kp.get("input"))
    symbols = data.get("symbols") or {}
    if not isinstance(symbols, dict):
        raise SpecError("'symbols' must be a mapping of names to integers, e.g. {B: 100}", kp.get("symbols"))
    sym_pos = getattr(symbols, "key_pos", {})
    for k, v in symbols.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*", str(k)):
            raise SpecError(f"symbol name {k!r} is not a name (letters, digits, _)", sym_pos.get(k, kp.get("symbols")))
        if isinstance(v, bool) or not isinstance(v, int):
            raise SpecError(f"symbol {k} must have an integer value, got {show(v)}", sym_pos.get(k, kp.get("symbols")))
    blocks = _blocks(data.get("blocks"), kp.get("blocks", (1, 1)))
    entries = _entries(data["layers"], kp.get("layers", (1, 1)), blocks, "'layers'")
    for b in blocks.values():
        b.layers = _entries(b.layers, b.pos, blocks, f"the layers of block {b.name}")
    name = data.get("name")
    if name is not None and not isinstance(name, (str, int, float)):
        raise SpecError(f"the spec's name must be text, got a {type(name).__name__}", kp.get("name"))
    return Spec(input=list(raw_input), layers=entries, name=None if name is None else str(name),
                symbols=dict(symbols), key_pos=dict(kp),
                input_pos=list(getattr(raw_input, "item_pos", None) or [kp.get("input", (1, 1))] * len(raw_input)),
                blocks=blocks)


def _blocks(raw, pos: Pos) -> dict[str, BlockDef]:
    """``blocks: {Name: {args: {param: default}, layers: [...]}}``; layers are parsed later."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SpecError("'blocks' must map block names to {args: {...}, layers: [...]}", pos)
    out = {}
    for name, body in raw.items():
        bpos = getattr(raw, "key_pos", {}).get(name, pos)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*", str(name)):
            raise SpecError(f"block name {name!r} is not a name (letters, digits, _)", bpos)
        if not isinstance(body, dict) or "layers" not in body:
            raise SpecError(f"block {name} needs 'layers:' (and optionally 'args:' with defaults)", bpos)
        for key in body:
            if key not in ("args", "layers"):
                raise SpecError(f"unknown key {key!r} in block {name}{did_you_mean(key, ('args', 'layers'))}",
                                getattr(body, "key_pos", {}).get(key, bpos))
        params = body.get("args") or {}
        if not isinstance(params, dict):
            raise SpecError(f"the args of block {name} must map parameter names to defaults (null: required)",
                            getattr(body, "key_pos", {}).get("args", bpos))
        out[str(name)] = BlockDef(str(name), dict(params), body["layers"], getattr(body, "pos", bpos),
                                  dict(getattr(params, "key_pos", {})))
    return out


def _entries(items, pos: Pos, blocks: dict, what: str) -> list[Entry]:
    if not isinstance(items, list):
        raise SpecError(f"{what} must be a list of layers", pos)
    item_pos = getattr(items, "item_pos", None) or [pos] * len(items)
    return [_entry(item, p, i, blocks) for i, (item, p) in enumerate(zip(items, item_pos), 1)]


def _entry(item, pos: Pos, index: int, blocks: dict | None = None) -> Entry:
    """A layer in any of its three forms: ``ReLU``, ``Conv2d: {...}``, ``{type: Conv2d, ...}``."""
    blocks = blocks or {}
    if isinstance(item, str):
        entry = Entry(type=item, args={}, pos=pos, key_pos={"type": pos}, index=index)
        return _structure(entry, blocks)
    if not isinstance(item, dict) or not item:
        raise SpecError("a layer is a type name, 'Type: {args}', or a mapping with 'type:'", pos)
    item_kp = getattr(item, "key_pos", {})
    pos = getattr(item, "pos", pos)
    if "type" in item:
        type_name, args, key_pos = item["type"], {k: v for k, v in item.items() if k != "type"}, dict(item_kp)
    elif len(item) == 1:
        (type_name, args), = item.items()
        key_pos = {"type": item_kp.get(type_name, pos)}
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise SpecError(f"the arguments of {type_name} must be a mapping, e.g. {type_name}: {{...}}",
                            item_kp.get(type_name, pos))
        key_pos.update(getattr(args, "key_pos", {}))
    else:
        raise SpecError("a layer mapping needs 'type:' (or is a single 'Type: {args}' entry); "
                        f"got keys {', '.join(map(str, item))}", pos)
    if not isinstance(type_name, str):
        raise SpecError(f"a layer type must be a name, got {show(type_name)}", key_pos.get("type", pos))
    args = dict(args)
    name = args.pop("name", None)
    expect = args.pop("expect", None)
    match = args.pop("match", None)
    for key, value in (("name", name), ("match", match)):
        if value is not None and not isinstance(value, (str, int)):
            raise SpecError(f"{key} must be a name, got a {type(value).__name__}", key_pos.get(key, pos))
    # a flat list only: nested lists are never a shape, and walking one (an alias bomb) never ends
    if expect is not None and (not isinstance(expect, list) or any(isinstance(w, (list, dict)) for w in expect)):
        raise SpecError("expect must be a shape, a list like [1, 64, _, _]", key_pos.get("expect", pos))
    entry = Entry(type=type_name, args=args, pos=pos, key_pos=key_pos,
                  name=None if name is None else str(name), expect=expect,
                  match=None if match is None else str(match), index=index,
                  repeat=args.pop("repeat", None), when=args.pop("when", None))
    return _structure(entry, blocks)


def _structure(entry: Entry, blocks: dict) -> Entry:
    """Recognise block calls and structural entries, and parse their sub-networks."""
    key = entry.type.strip().lower()
    by_lower = {b.lower(): b for b in blocks}
    if entry.type in blocks or key in by_lower:
        entry.kind = "block"
        entry.type = entry.type if entry.type in blocks else by_lower[key]
        return entry
    if key not in STRUCTURAL:
        return entry
    entry.kind = key
    args, kp = entry.args, entry.key_pos
    allowed = {"sequential": ("layers",), "residual": ("layers", "shortcut"), "multiply": ("layers",),
               "concat": ("branches", "with", "dim"), "add": ("branches", "with")}[key]
    for k in args:
        if k not in allowed:
            raise SpecError(f"unknown key {k!r} in {key}{did_you_mean(k, allowed)}; it takes {', '.join(allowed)}",
                            kp.get(k, entry.pos))
    if "layers" in allowed:
        if "layers" not in args:
            raise SpecError(f"{key} needs 'layers:', the list of layers it wraps", entry.pos)
        entry.children = _entries(args.pop("layers"), kp.get("layers", entry.pos), blocks, f"the layers of {key}")
    if key == "residual" and "shortcut" in args:
        sc = args.pop("shortcut")
        if isinstance(sc, dict) and "layers" in sc:
            entry.shortcut_name = None if sc.get("name") is None else str(sc.get("name"))
            sc = sc["layers"]
        entry.shortcut = _entries(sc or [], kp.get("shortcut", entry.pos), blocks, "the shortcut")
    if key in ("concat", "add"):
        if "branches" in args:
            raw = args.pop("branches")
            if not isinstance(raw, list) or not all(isinstance(b, list) for b in raw):
                raise SpecError(f"{key} branches must be a list of layer lists ([] is the input itself)",
                                kp.get("branches", entry.pos))
            entry.branches = [_entries(b, kp.get("branches", entry.pos), blocks, "a branch") for b in raw]
        if "with" in args:
            refs = args.pop("with")
            refs = refs if isinstance(refs, list) else [refs]
            if not all(isinstance(r, (str, int)) for r in refs):
                raise SpecError(f"{key} with: must name earlier layers or blocks", kp.get("with", entry.pos))
            entry.refs = [str(r) for r in refs]
        if entry.branches is None and entry.refs is None:
            raise SpecError(f"{key} needs 'branches:' (parallel layer lists) or 'with:' (names of earlier outputs)",
                            entry.pos)
    return entry


def read_text(path: str, stdin_text: str | None = None) -> tuple[str, str]:
    """(text, display name) of a spec path; ``-`` is standard input."""
    import sys

    if path == "-":
        return (stdin_text if stdin_text is not None else sys.stdin.read()), "<stdin>"
    with open(path, encoding="utf-8") as fh:
        text = fh.read(MAX_BYTES + 1)
    return text, path
