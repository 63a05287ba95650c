"""Walk a spec's layers in order, propagating the shape and receptive field.

:func:`analyze` is the whole computation: a plain loop over layers, no framework, no
forward pass. The result is a :class:`netcalc.report.Report`, pure data.
"""

from __future__ import annotations

from .errors import SpecError
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


def analyze(spec: Spec, values: dict[str, int] | None = None, no_bias: bool = False) -> Report:
    """Shapes, parameters, costs and receptive fields of every layer of ``spec``.

    ``values`` (from ``--set``) override the spec's ``symbols:`` defaults; names left
    without a value stay symbols.
    """
    values = {**spec.symbols, **(values or {})}
    ctx = Context(values, no_bias)
    x = input_shape(spec, values)
    field: Field | None = Field()
    rows: list[LayerRow] = []
    names: dict[str, int] = {}
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
        y = layer.output_shape(x)
        params = layer.parameters(x)
        weights = sum(numel(s) for n, s in params.items() if "bias" not in n)
        biases = sum(numel(s) for n, s in params.items() if "bias" in n)
        field = layer.receptive_field(field) if field is not None else None
        if entry.expect is not None:
            check_expect(entry, y, values)
        rows.append(LayerRow(
            index=entry.index, name=entry.name, type=cls.TYPE, input_shape=x, output_shape=y,
            state_shapes=layer.state_shapes(x), weights=weights, biases=biases, params=weights + biases,
            macs=layer.macs(x, y), flops=layer.flops(x, y),
            rf=field.report(len(y)) if field is not None else None, layer=layer))
        x = y
    return Report(name=spec.name, input_shape=input_shape(spec, values), output_shape=x, layers=rows)


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
