"""Reading a spec: YAML or TOML text in, :class:`Spec` with file positions out.

Every mapping keeps the position of itself and of each key, so errors can point at the
offending layer entry or argument. tomllib gives no positions; :func:`_toml_positions`
finds them by scanning the text.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import Pos, SpecError, did_you_mean, show
from .escape import printable

TOP_KEYS = ("name", "input", "inputs", "symbols", "blocks", "layers", "outputs")
# structural entries: how each combines its sub-networks (see README: whole networks)
STRUCTURAL = ("sequential", "residual", "concat", "add", "multiply")
MAX_BYTES = 8 * 1024 * 1024
NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")  # symbol, block and --set names: Python-safe identifiers
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
    share: str | None = None  # the layer whose parameters this one uses (a tied LM head)
    source: str | None = None  # from: the named tensor it reads (an input or an earlier output)
    trainable: bool = True  # trainable: false freezes its parameters (everything inside, for a group)
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
    # inputs: name → (dims, positions), the first one being input/input_pos; {} for a spec with input:
    inputs: dict = field(default_factory=dict)
    outputs: list = field(default_factory=list)  # outputs: names of the tensors the network returns

    def read_names(self) -> set[str]:
        """Every name a ``with:`` or ``from:`` reads or ``outputs:`` returns, as written, anywhere in
        the spec (a layer's second inputs are its own: ``Layer.tensors``)."""
        names = set(self.outputs)
        for e in written(self.layers, *(b.layers for b in self.blocks.values())):
            names |= set(e.refs or ()) | ({e.source} if e.source is not None else set())
        return names

    def is_plain(self) -> bool:
        """Whether the layers are a plain list (no groups, blocks, repeat:, when: or from:)."""
        return all(e.kind == "layer" and e.repeat is None and e.when is None and e.source is None
                   for e in self.layers)

    def callees(self, block: str) -> list[str]:
        """The blocks ``block``'s layers call, in the order written (taken or not)."""
        return [e.type for e in written(self.blocks[block].layers) if e.kind == "block"]


def written(*sequences):
    """Every entry of ``sequences`` and of the groups inside them, depth first."""
    for entries in sequences:
        for e in entries or ():
            yield e
            yield from written(e.children, e.shortcut, *(e.branches or []))


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

    def mark(node) -> Pos:  # a node, or an alias's recorded event
        return node.start_mark.line + 1, node.start_mark.column + 1

    def merge(loader, node) -> tuple[int, Pos | None]:
        """Apply ``<<:`` merge keys: how many merged pairs now come first, and where the ``<<`` is."""
        for k_node, _ in node.value:
            if k_node.tag == _YAML_MERGE:
                break
        else:
            return 0, None
        explicit = sum(1 for k, _ in node.value if k.tag != _YAML_MERGE)
        loader.flatten_mapping(node)  # puts the merged pairs first, then the explicit ones
        return len(node.value) - explicit, mark(k_node)

    def mapping(loader, node):
        merged, merge_at = merge(loader, node)
        out = PosDict()
        out.pos = mark(node)
        overridable = set()  # merged keys not yet written here: each may be written once, to override it
        for i, (k_node, v_node) in enumerate(node.value):
            key = loader.construct_object(k_node, deep=True)
            if not isinstance(key, (str, int)):
                raise SpecError("mapping keys must be names", mark(k_node))
            key = str(key)
            if i < merged:
                overridable.add(key)
            elif key in out:
                if key not in overridable:
                    raise SpecError(f"duplicate key {key!r}", mark(k_node))
                overridable.discard(key)
            out[key] = loader.construct_object(v_node, deep=True)
            out.key_pos[key] = mark(k_node) if i >= merged else merge_at
        return out

    def sequence(loader, node):
        out = PosList(loader.construct_object(n, deep=True) for n in node.value)
        out.pos = mark(node)
        aliases = getattr(node, "alias_marks", {})  # an alias item is where the alias is, not the anchor
        out.item_pos = [mark(aliases[i]) if i in aliases else mark(n) for i, n in enumerate(node.value)]
        return out

    Loader.add_constructor("tag:yaml.org,2002:map", mapping)
    Loader.add_constructor("tag:yaml.org,2002:seq", sequence)
    return Loader


_YAML_MERGE = "tag:yaml.org,2002:merge"


def _alias_loader(base):
    """``base`` composing in Python, so that each alias in a list keeps where it was written
    (libyaml's composer returns the anchored node itself, whose position is the anchor's).
    Used only for texts with anchors: it is about a quarter slower."""
    import yaml
    from yaml.composer import Composer

    class AliasLoader(Composer, base):  # type: ignore[misc, valid-type]
        def __init__(self, stream):
            base.__init__(self, stream)
            Composer.__init__(self)

        def compose_node(self, parent, index):
            if isinstance(parent, yaml.SequenceNode) and self.check_event(yaml.AliasEvent):
                if not hasattr(parent, "alias_marks"):
                    parent.alias_marks = {}
                parent.alias_marks[index] = self.peek_event()
            return super().compose_node(parent, index)

    return AliasLoader


_LOADER = None
_ALIAS_LOADER = None


def _load_yaml(text: str):
    import yaml

    global _LOADER, _ALIAS_LOADER
    if _LOADER is None:
        _LOADER = _yaml_loader()
        _ALIAS_LOADER = _alias_loader(_LOADER)
    if text.count("*") > MAX_ALIASES and len(re.findall(r"(?<![\w*])\*[A-Za-z_]", text)) > MAX_ALIASES:
        raise SpecError(f"more than {MAX_ALIASES} YAML aliases: refusing a possible alias bomb")
    try:
        return yaml.load(text, Loader=_ALIAS_LOADER if "&" in text and "*" in text else _LOADER)
    except yaml.reader.ReaderError as e:  # a character YAML does not allow, e.g. a control character
        char = f"#x{e.character:04x}" if isinstance(e.character, int) else repr(e.character)
        raise SpecError(f"invalid YAML: character {char} is not allowed ({e.reason}); "
                        "remove it, or write it as an escape in a double-quoted string",
                        _text_pos(text, e.position)) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        pos = (mark.line + 1, mark.column + 1) if mark else None
        raise SpecError(f"invalid YAML: {_yaml_problem(e)}", pos) from None
    except yaml.YAMLError as e:
        raise SpecError(f"invalid YAML: {' '.join(str(e).split())}") from None
    except RecursionError:
        raise SpecError("YAML nesting is too deep", _deepest_bracket(text)) from None
    except (ValueError, KeyError, TypeError) as e:  # a tagged value that is not one (!!int "abc"), a huge int
        if _big_integer(text):
            raise SpecError(_BIG, _big_integer(text)) from None
        tag = re.search(r"!!\w+", text)
        where = _text_pos(text, tag.start()) if tag else _big_integer(text)
        what = f"{tag.group()} value" if tag else "value"
        raise SpecError(f"invalid YAML: a {what} that cannot be read ({printable(' '.join(str(e).split()))[:200]})",
                        where) from None


def _deepest_bracket(text: str) -> Pos | None:
    """Where the deepest ``[`` or ``{`` opens: the place to look when nesting is too deep."""
    depth, best, where = 0, 0, None
    for i, ch in enumerate(text[:1_000_000]):
        if ch in "[{":
            depth += 1
            if depth > best:
                best, where = depth, i
        elif ch in "]}":
            depth -= 1
    return _text_pos(text, where) if where is not None else None


_BIG = "an integer of more than 4,300 digits; netcalc refuses numbers larger than 2**1024 (MAX_BITS)"


def _big_integer(text: str) -> Pos | None:
    """Where the first integer of more than 4,300 digits (Python's limit for reading one) starts."""
    m = re.search(r"\d{4301,}", text)
    return _text_pos(text, m.start()) if m else None


def _yaml_problem(e) -> str:
    """PyYAML's problem, with its context when that says more (``found duplicate anchor 'x';
    first occurrence`` at line 1, ``second occurrence`` here), on one line."""
    problem = e.problem or e.context or "unreadable YAML"
    if e.context and e.problem and e.context_mark:
        problem = f"{e.context} (line {e.context_mark.line + 1}), {e.problem}"
    return " ".join(str(problem).split())


def _text_pos(text: str, offset: int) -> Pos:
    """(line, column) of a character offset."""
    offset = max(0, min(offset, len(text)))
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


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
    except RecursionError:
        raise SpecError("TOML nesting is too deep", _deepest_bracket(text)) from None
    except ValueError as e:  # an integer past Python's 4,300-digit limit
        raise SpecError(_BIG if _big_integer(text) else f"invalid TOML: {e}", _big_integer(text)) from None
    return _toml_positions(text, data)


def _toml_positions(text: str, data: dict):
    """The parsed TOML with a position on every table, key and array item, found by scanning
    the text (see :class:`_TomlScan`): a key's value is where the key is, a ``[table]`` or
    ``[[array]]`` table is at its header, an inline array's item is where the item starts."""
    try:
        positions = _TomlScan(text).positions()
    except (IndexError, AttributeError):  # text tomllib accepted but the scanner cannot follow
        positions = {}
    try:
        return _with_positions(data, (), (1, 1), positions)
    except RecursionError:
        raise SpecError("TOML nesting is too deep") from None


def _with_positions(value, path: tuple, pos: Pos, positions: dict):
    """``value`` with PosDicts and PosLists; what the scanner missed is at its parent's position."""
    if isinstance(value, dict):
        out = PosDict()
        out.pos = pos
        for key, item in value.items():
            at = positions.get(path + (key,), pos)
            out[key] = _with_positions(item, path + (key,), at, positions) if isinstance(item, (dict, list)) else item
            out.key_pos[key] = at
        return out
    if isinstance(value, list):
        out = PosList()
        out.pos, out.item_pos = pos, []
        for index, item in enumerate(value):
            at = positions.get(path + (index,), pos)
            out.append(_with_positions(item, path + (index,), at, positions))
            out.item_pos.append(at)
        return out
    return value


# what the scanner steps over whole; tomllib has already checked the text, so these only need
# to find where things end, not to validate them
_TOML_SPACE = re.compile(r"(?:[ \t\r\n]|#[^\n]*)*")
_TOML_STRING = re.compile(r'"""(?:[^\\]|\\[\s\S])*?"{3,5}|\'\'\'[\s\S]*?\'{3,5}|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'')
_TOML_BARE_KEY = re.compile(r"[A-Za-z0-9_\-]+")
_TOML_SCALAR = re.compile(r"[^,\]}#\r\n]*")  # numbers, booleans, dates (which may hold a space)


class _TomlScan:
    """Positions in TOML text by path: ``("layers", 2, "kernel_size")`` → (line, column).

    Understands what can hide a ``[[layers]]`` or shift an item: basic, literal and multi-line
    strings, comments, ``[tables]``, ``[[arrays of tables]]`` (nested ones too), dotted and
    quoted keys, inline arrays and inline tables. Iterative, so deep nesting cannot overflow it."""

    def __init__(self, text: str):
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.found: dict[tuple, Pos] = {}
        self.tables_in: dict[tuple, int] = {}  # path of an array of tables → its tables so far

    def at(self, offset: int) -> Pos:
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def skip(self, i: int) -> int:
        return _TOML_SPACE.match(self.text, i).end()

    def positions(self) -> dict[tuple, Pos]:
        text, i, table = self.text, self.skip(0), ()
        while i < len(text):
            start = i
            if text[i] == "[":
                table, i = self.header(i)
            else:
                path, i = self.key(i, table)
                i = self.value(self.skip(i) + 1, path)  # + 1: the '='
            i = self.skip(i)
            if i <= start:  # cannot happen in text tomllib accepted; never loop on it
                raise IndexError(start)
        return self.found

    def key(self, i: int, base: tuple | None) -> tuple[tuple, int]:
        """A dotted key at ``i`` under ``base`` (None: in a header, which places itself): its path
        (each part is at the key) and the end."""
        pos, path, record = self.at(i), base or (), base is not None
        while True:
            m = _TOML_BARE_KEY.match(self.text, i) or _TOML_STRING.match(self.text, i)
            part = m.group()
            if part[0] in "\"'":
                import tomllib
                part = tomllib.loads(f"k = {part}")["k"]  # tomllib unescapes a quoted key
            path += (part,)
            if record:
                self.found.setdefault(path, pos)
            i = _TOML_SPACE.match(self.text, m.end()).end()
            if self.text[i] != ".":
                return path, i
            i = _TOML_SPACE.match(self.text, i + 1).end()

    def header(self, i: int) -> tuple[tuple, int]:
        """``[a.b]`` or ``[[a.b]]`` at ``i``: the path of the table it opens, and the end."""
        many = self.text.startswith("[[", i)
        pos = self.at(i)
        keys, end = self.key(self.skip(i + (2 if many else 1)), None)
        path = ()
        for n, part in enumerate(keys):
            path += (part,)
            self.found.setdefault(path, pos)
            if n < len(keys) - 1 and path in self.tables_in:  # [[a]] then [a.b]: b is in the last a
                path += (self.tables_in[path] - 1,)
        if many:
            self.tables_in[path] = self.tables_in.get(path, 0) + 1
            path += (self.tables_in[path] - 1,)
        self.found[path] = pos
        return path, end + (2 if many else 1)

    def value(self, i: int, path: tuple) -> int:
        """Scan the value at ``i`` for ``path`` (arrays and inline tables item by item); its end."""
        text, open_ = self.text, []  # open arrays [path, items so far] and inline tables [path, None]
        i = self.skip(i)
        if text[i] not in "[{":  # a plain value, the most common: no need for the loop
            self.found.setdefault(path, self.at(i))
            return (_TOML_STRING.match(text, i) or _TOML_SCALAR.match(text, i)).end()
        want = "value"
        while True:
            i = self.skip(i)
            if want == "value":
                self.found.setdefault(path, self.at(i))
                if text[i] in "[{":
                    open_.append([path, 0 if text[i] == "[" else None])
                    want = "item" if text[i] == "[" else "key"
                    i += 1
                    continue
                i = (_TOML_STRING.match(text, i) or _TOML_SCALAR.match(text, i)).end()
                want = "next"
                if not open_:
                    return i
                continue
            inside, count = open_[-1]
            if text[i] in "]}" or (want == "next" and text[i] != ","):
                open_.pop()
                i, want = i + 1, "next"
                if not open_:
                    return i
            elif want == "next":  # a ','
                i, want = i + 1, ("item" if count is not None else "key")
            elif want == "item":
                path, want = inside + (count,), "value"
                open_[-1][1] = count + 1
            else:  # a key of an inline table
                path, i = self.key(i, inside)
                i, want = self.skip(i) + 1, "value"  # + 1: the '='


# ----------------------------------------------------------------------------- Spec

def parse(text: str, filename: str = "<stdin>") -> Spec:
    """Parse spec text; TOML when the file name ends in ``.toml``, else YAML (JSON is YAML). A Hugging
    Face config (a mapping with ``model_type``) is the spec of the network transformers builds for it."""
    if len(text) > MAX_BYTES:
        raise SpecError(f"the spec is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    toml = filename.lower().endswith(".toml")
    _check_entries(text, toml)
    data = _load_toml(text) if toml else _load_yaml(text)  # YAML reads a config.json too
    from . import hf

    if hf.is_config(data):
        data = hf.spec_data(data)
    return from_data(data)


def _too_many_entries(pos: Pos | None = None) -> SpecError:
    return SpecError(f"the spec has more than MAX_ENTRIES = {MAX_ENTRIES} layer entries; netcalc refuses files "
                     "that large: use repeat: or blocks for repeated layers", pos)


def _check_entries(text: str, toml: bool) -> None:
    """Refuse a file with more than MAX_ENTRIES layer entries before building it."""
    if toml:  # each entry written as a [[...]] table costs a header line; inline lists are counted later
        if text.count("[[") > MAX_ENTRIES:
            _count_toml_tables(text)
        return
    if text.count("\n") + text.count(",") <= MAX_ENTRIES:  # every entry needs its own line or a comma
        return
    _count_yaml_entries(text)


def _count_toml_tables(text: str) -> None:
    """Refuse at the first ``[[...]]`` header past MAX_ENTRIES (every array-of-tables entry of a
    spec is a layer entry: of layers, a block's layers or a shortcut)."""
    for count, m in enumerate(re.finditer(r"^[ \t]*\[\[", text, re.M), 1):
        if count > MAX_ENTRIES:
            raise _too_many_entries((text.count("\n", 0, m.start()) + 1, m.end() - m.start() - 1))


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
    inputs = _inputs(data, kp)
    if "input" not in data and not inputs:
        raise SpecError("the spec needs 'input', the input shape, e.g. input: [1, 3, 224, 224] (or 'inputs', "
                        "a mapping of names to shapes)")
    if "layers" not in data:
        raise SpecError("the spec needs 'layers', a list of layers", None)
    raw_input = data["input"] if "input" in data else next(iter(inputs.values()))
    if not isinstance(raw_input, list) or not raw_input:
        raise SpecError("'input' must be a non-empty list of dimensions, e.g. [1, 3, 224, 224]", kp.get("input"))
    symbols = data.get("symbols") or {}
    if not isinstance(symbols, dict):
        raise SpecError("'symbols' must be a mapping of names to integers, e.g. {B: 100}", kp.get("symbols"))
    sym_pos = getattr(symbols, "key_pos", {})
    for k, v in symbols.items():
        if not NAME.fullmatch(str(k)):
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
    def positions(dims, key):
        return list(getattr(dims, "item_pos", None) or [kp.get(key, (1, 1))] * len(dims))

    outputs = data.get("outputs") or []
    if not isinstance(outputs, list) or not all(isinstance(o, str) and o for o in outputs):
        raise SpecError("'outputs' must list the names of the tensors the network returns, e.g. "
                        "outputs: [logits, aux_logits]", kp.get("outputs"))
    return Spec(input=list(raw_input), layers=entries, name=None if name is None else str(name),
                symbols=dict(symbols), key_pos=dict(kp), input_pos=positions(raw_input, "inputs" if inputs else "input"),
                blocks=blocks, inputs={k: (list(v), positions(v, "inputs")) for k, v in inputs.items()},
                outputs=[str(o) for o in outputs])


def _inputs(data: dict, kp: dict) -> dict:
    """``inputs: {src: [S, B, 512], tgt: [T, B, 512]}``: named input tensors, the first one the
    network's input (``input:`` is one unnamed input)."""
    raw = data.get("inputs")
    if raw is None:
        return {}
    pos = kp.get("inputs")
    if "input" in data:
        raise SpecError("give either 'input' (one input) or 'inputs' (named inputs), not both", pos)
    if not isinstance(raw, dict) or not raw:
        raise SpecError("'inputs' must map names to shapes, e.g. inputs: {src: [S, B, 512], tgt: [T, B, 512]}", pos)
    names = getattr(raw, "key_pos", {})
    for name, dims in raw.items():
        if not NAME.fullmatch(str(name)):
            raise SpecError(f"input name {printable(name)!r} is not a name (letters, digits, _)", names.get(name, pos))
        if not isinstance(dims, list) or not dims:
            raise SpecError(f"input {name} must be a non-empty list of dimensions, e.g. [1, 3, 224, 224]",
                            names.get(name, pos))
    return {str(k): v for k, v in raw.items()}


def _blocks(raw, pos: Pos) -> dict[str, BlockDef]:
    """``blocks: {Name: {args: {param: default}, layers: [...]}}``; layers are parsed later."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SpecError("'blocks' must map block names to {args: {...}, layers: [...]}", pos)
    out = {}
    for name, body in raw.items():
        bpos = getattr(raw, "key_pos", {}).get(name, pos)
        if not NAME.fullmatch(str(name)):
            raise SpecError(f"block name {name!r} is not a name (letters, digits, _)", bpos)
        if str(name) in STRUCTURAL:
            raise SpecError(f"block name {name!r} is netcalc's structural word {name}:, so the block could never be "
                            f"called; give it another name (e.g. {str(name).capitalize()}Block)", bpos)
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
        for param in params:  # expressions in the block's layers refer to them by name
            if not NAME.fullmatch(str(param)):
                raise SpecError(f"argument {printable(param)!r} of block {name} is not a name (letters, digits, _)",
                                getattr(params, "key_pos", {}).get(param, bpos))
        out[str(name)] = BlockDef(str(name), dict(params), body["layers"], getattr(body, "pos", bpos),
                                  dict(getattr(params, "key_pos", {})))
    return out


def _entries(items, pos: Pos, blocks: dict, what: str) -> list[Entry]:
    if not isinstance(items, list):
        raise SpecError(f"{what} must be a list of layers", pos)
    item_pos = getattr(items, "item_pos", None) or [pos] * len(items)
    return [_entry_at(item, p, i, blocks) for i, (item, p) in enumerate(zip(items, item_pos), 1)]


def _entry_at(item, pos: Pos, index: int, blocks: dict) -> Entry:
    """:func:`_entry`, and for a YAML alias of a whole layer (``- *L``; the mapping still carries
    the anchor's position) every error points at the alias: that is the layer that failed."""
    aliased = getattr(item, "pos", pos) != pos and isinstance(item, PosDict)
    try:
        entry = _entry(item, pos, index, blocks)
    except SpecError as e:
        if aliased:
            e.pos = pos
        raise
    if aliased:
        _relocate(entry, pos)
    return entry


def _relocate(entry: Entry, pos: Pos) -> None:
    """Point ``entry``, its keys and everything nested in it at ``pos``."""
    entry.pos = pos
    entry.key_pos = dict.fromkeys(entry.key_pos, pos)
    nested = [entry.children, entry.shortcut, *(entry.branches or [])]
    for child in (c for layers in nested if layers for c in layers):
        _relocate(child, pos)


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
    share = args.pop("share", None)
    source = args.pop("from", None)
    trainable = args.pop("trainable", True)
    if not isinstance(trainable, bool):
        raise SpecError(f"trainable must be true or false, got {show(trainable)}", key_pos.get("trainable", pos))
    for key, value in (("name", name), ("match", match), ("share", share), ("from", source)):
        if value is not None and not isinstance(value, (str, int)):
            raise SpecError(f"{key} must be a name, got a {type(value).__name__}", key_pos.get(key, pos))
        _printable_name(value, key, key_pos.get(key, pos))
    # a flat list only: nested lists are never a shape, and walking one (an alias bomb) never ends
    if expect is not None and (not isinstance(expect, list) or any(isinstance(w, (list, dict)) for w in expect)):
        raise SpecError("expect must be a shape, a list like [1, 64, _, _]", key_pos.get("expect", pos))
    entry = Entry(type=type_name, args=args, pos=pos, key_pos=key_pos,
                  name=None if name is None else str(name), expect=expect,
                  match=None if match is None else str(match), share=None if share is None else str(share),
                  source=None if source is None else str(source), trainable=trainable, index=index,
                  repeat=args.pop("repeat", None), when=args.pop("when", None))
    return _structure(entry, blocks)


def _printable_name(value, key: str, pos) -> None:
    """Names reach terminals, SVG and generated Python: a control character (a newline, ESC, NUL)
    in one is never meant, so it is refused here rather than escaped everywhere it would show."""
    if value is not None and not str(value).isprintable():
        bad = next(c for c in str(value) if not c.isprintable())
        raise SpecError(f"{key} {printable(value)!r} contains the control character {printable(bad)!r}; "
                        "names must be printable text", pos)


def _structure(entry: Entry, blocks: dict) -> Entry:
    """Recognise block calls and structural entries, and parse their sub-networks."""
    key = entry.type.strip().lower()
    by_lower = {b.lower(): b for b in blocks}
    # a block's exact name first, then the structural words in any case, then block names in any case:
    # a user's block Residual never turns the residual: inside it into a call of itself
    if entry.type in blocks or (key not in STRUCTURAL and key in by_lower):
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
            _printable_name(entry.shortcut_name, "shortcut name", kp.get("shortcut", entry.pos))
            sc = sc["layers"]
        entry.shortcut = _entries(sc or [], kp.get("shortcut", entry.pos), blocks, "the shortcut")
        if entry.shortcut_name is None and any(e.name is None for e in entry.shortcut):
            # unnamed shortcut layers get paths of their own (X.shortcut.0), never the main branch's (X.0)
            entry.shortcut_name = "shortcut"
    if key in ("concat", "add"):
        if "branches" in args:
            raw = args.pop("branches")
            if not isinstance(raw, list) or not all(isinstance(b, list) for b in raw):
                raise SpecError(f"{key} branches must be a list of layer lists ([] is the input itself)",
                                kp.get("branches", entry.pos))
            if not raw:
                raise SpecError(f"{key} branches is empty: list at least one branch (a branch [] is the input "
                                "itself)", kp.get("branches", entry.pos))
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
