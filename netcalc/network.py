"""Walk a spec's layers in order, propagating the shape and receptive field.

:func:`analyze` is the whole computation: a plain loop over layers, no framework, no
forward pass. The result is a :class:`netcalc.report.Report`, pure data.
"""

from __future__ import annotations

from .errors import SpecError, did_you_mean
from .layers import Context, lookup
from .layers.base import fmt_shape, numel
from .layers.registry import UnknownType
from .report import LayerRow, Report
from .rf import Field
from .spec import Spec
from .symbolic import ExprError, is_int, parse_expr, same


def read_dim(raw, values: dict, pos, what: str, make_symbol=None):
    """A dimension as written in the spec: an integer, a name or an expression."""
    from .symbolic import symbol

    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise SpecError(f"{what} must be an integer or an expression, got {raw!r}", pos)
    if is_int(raw):
        value = raw
    else:
        try:
            value = parse_expr(raw, values, make_symbol or symbol)
        except ExprError as e:
            raise SpecError(f"{what}: {e}", pos) from None
    if is_int(value) and value < 0:
        raise SpecError(f"{what} must not be negative, got {value}", pos)
    return value


def input_shape(spec: Spec, values: dict) -> tuple:
    return tuple(read_dim(d, values, p, f"input[{i}]") for i, (d, p) in enumerate(zip(spec.input, spec.input_pos)))


def analyze(spec: Spec, values: dict[str, int] | None = None, no_bias: bool = False,
            strict_auto: bool = True, explain: bool = False) -> Report:
    """Shapes, parameters, costs and receptive fields of every layer of ``spec``.

    ``values`` (from ``--set``) override the spec's ``symbols:`` defaults; names left
    without a value stay symbols. A transposed conv with ``output_padding: auto`` gets the
    value that makes it reproduce its ``match`` layer's input (or, without ``match``, that of
    the strided layer it mirrors); when none works that is an error, or with
    ``strict_auto=False`` a choice with ``output_padding: None`` and the reason.
    """
    values = {**spec.symbols, **(values or {})}
    ctx = Context(values, no_bias)
    x = input_shape(spec, values)
    field: Field | None = Field()
    rows: list[LayerRow] = []
    names: dict[str, int] = {}
    mirror: list[LayerRow] = []  # strided layers not yet undone by a transposed conv, innermost last
    choices: list[dict] = []
    for entry in spec.layers:
        try:
            cls = lookup(entry.type, len(x))
        except UnknownType as e:
            raise SpecError(str(e), entry.key_pos.get("type", entry.pos)) from None
        if entry.name is None:
            entry.name = f"{cls.TYPE}_{entry.index}"
        if entry.name in names:
            raise SpecError(f"duplicate layer name {entry.name!r} (layer {names[entry.name]} has it too); "
                            "names must be unique", entry.key_pos.get("name", entry.pos))
        names[entry.name] = entry.index
        layer = cls(entry, ctx)
        if layer.args.get("output_padding") == "auto":
            choices.append(fit_auto(layer, x, rows, mirror, strict_auto))
        y = layer.output_shape(x)
        params = layer.parameters(x)
        weights = sum(numel(s) for n, s in params.items() if "bias" not in n)
        biases = sum(numel(s) for n, s in params.items() if "bias" in n)
        field_before = field
        field = layer.receptive_field(field) if field is not None else None
        if entry.expect is not None:
            check_expect(entry, y, values)
        rows.append(LayerRow(
            index=entry.index, name=entry.name, type=cls.TYPE, input_shape=x, output_shape=y,
            state_shapes=layer.state_shapes(x), weights=weights, biases=biases, params=weights + biases,
            macs=layer.macs(x, y), flops=layer.flops(x, y),
            rf=field.report(len(y)) if field is not None else None, layer=layer,
            explain=layer.explain(x, y, field_before, field) if explain else None))
        step = getattr(layer, "resampling", lambda: 0)()
        if step > 0:
            mirror.append(rows[-1])
        elif step < 0 and mirror:
            mirror.pop()
        x = y
    return Report(name=spec.name, input_shape=input_shape(spec, values), output_shape=x, layers=rows,
                  choices=choices)


def fit_auto(layer, x, rows: list[LayerRow], mirror: list[LayerRow], strict: bool) -> dict:
    """Pick ``output_padding`` for ``layer`` so its output matches the input of its partner layer."""
    entry = layer.entry
    if entry.match is not None:
        partner = next((r for r in rows if r.name == entry.match), None)
        if partner is None:
            hint = did_you_mean(entry.match, [r.name for r in rows])
            raise SpecError(f"match: no earlier layer is named {entry.match!r}{hint}", entry.key_pos.get("match", entry.pos))
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
        raise SpecError(f"{entry.name}: output_padding: auto {why}", entry.key_pos.get("output_padding", entry.pos))
    choice["why"] = why
    layer.args["output_padding"] = (0,) * layer.rank
    return choice


def check_expect(entry, y, values):
    """The layer's output must have the ``expect:`` shape; ``_`` matches anything."""
    pos = entry.key_pos.get("expect", entry.pos)
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
        raise SpecError(f"{entry.name}: output shape {fmt_shape(y)} does not match expect "
                        f"[{', '.join(map(str, want))}]", pos)



def analyze_text(text: str, filename: str = "spec.yaml", values: dict[str, int] | None = None,
                 no_bias: bool = False) -> Report:
    """Parse spec text and analyze it (YAML, or TOML when ``filename`` ends in .toml)."""
    from .spec import parse

    return analyze(parse(text, filename), values, no_bias)
