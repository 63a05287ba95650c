"""The result of an analysis, as plain data: one row per layer and the totals.

Rendering (rich tables, JSON, CSV, Markdown) lives in :mod:`netcalc.render`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .symbolic import to_json, total

QUANTITIES = ("weights", "biases", "params", "macs", "flops")
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1, "float64": 8}


@dataclass
class LayerRow:
    index: int
    name: str
    type: str
    input_shape: tuple
    output_shape: tuple
    state_shapes: dict | None
    weights: Any
    biases: Any
    params: Any
    macs: Any
    flops: Any
    rf: dict | None
    layer: Any = field(default=None, repr=False)
    explain: dict | None = field(default=None, repr=False)  # concern → [explain.Step]
    path: str | None = None  # dotted position inside blocks, e.g. layer1.0.conv2
    inputs: tuple = ()  # the rows (0-based) whose outputs it reads, in order; -1 is the network input
    saved_bytes: Any = None  # memory --training: bytes autograd saves here (netcalc/memory.py)
    trainable: bool = True  # false: its parameters are frozen (trainable: false, requires_grad=False)
    shares: str | None = None  # share: the row whose parameters it uses ...
    shared: tuple = ()  # ... and which of its parameters those are (not counted again)
    dtype_bytes: int = 4
    param_dtype_bytes: int | None = None  # memory --mixed: float32 parameters beside low-precision activations

    @property
    def param_bytes(self):
        return self.params * (self.param_dtype_bytes or self.dtype_bytes)

    @property
    def activation_bytes(self):
        """Bytes of the forward output (and RNN states) this layer keeps, e.g. for backward."""
        from .layers.base import numel
        from .symbolic import times

        tensors = [self.output_shape] + list((self.state_shapes or {}).values())
        out = numel(tensors[0])
        for t in tensors[1:]:
            out = out + numel(t)
        return times(self.dtype_bytes, out)

    @property
    def kv_cache_bytes(self):
        """Bytes of the keys and values its attention computes: a generation cache (Layer.kv_cache)."""
        if self.layer is None:
            return 0
        return self.layer.kv_cache(self.input_shape) * self.dtype_bytes

    @property
    def depth(self) -> int:
        return self.name.count(".") if self.path else 0

    def to_dict(self, activation_bytes=None) -> dict:
        """The contract's layer object; ``activation_bytes`` when the caller has it already."""
        if activation_bytes is None:
            activation_bytes = self.activation_bytes
        extra = {} if self.explain is None else {
            "explain": {k: [s.text() for s in steps] for k, steps in self.explain.items()}}
        return {
            "index": self.index, "name": self.name, "type": self.type,
            "input_shape": shape_json(self.input_shape), "output_shape": shape_json(self.output_shape),
            "state_shapes": None if self.state_shapes is None else {k: shape_json(v) for k, v in self.state_shapes.items()},
            **{q: to_json(getattr(self, q)) for q in QUANTITIES},
            "rf": None if self.rf is None else {k: [rf_json(v) for v in vs] for k, vs in self.rf.items()},
            "param_bytes": to_json(self.param_bytes), "activation_bytes": to_json(activation_bytes),
            **({"path": self.path} if self.path else {}),
            **({} if self.saved_bytes is None else {"saved_bytes": to_json(self.saved_bytes)}),
            **({} if not (cache := self.kv_cache_bytes) else {"kv_cache_bytes": to_json(cache)}),
            **({} if self.trainable or self.params == 0 else {"trainable": False}),
            **extra,
        }


@dataclass
class BlockRow:
    """A block, repeat group or named branch: the leaf rows ``start:end`` and their subtotals."""

    path: str
    type: str
    start: int
    end: int
    input_shape: tuple
    output_shape: tuple

    @property
    def kv_cache_bytes(self):
        """Bytes of the keys and values its attention computes: a generation cache (Layer.kv_cache)."""
        if self.layer is None:
            return 0
        return self.layer.kv_cache(self.input_shape) * self.dtype_bytes

    @property
    def depth(self) -> int:
        return self.path.count(".")

    def totals(self, rows) -> dict:
        return {q: total(getattr(r, q) for r in rows[self.start:self.end]) for q in QUANTITIES}

    def to_dict(self, rows) -> dict:
        return {"path": self.path, "type": self.type, "depth": self.depth,
                "first_index": self.start + 1, "last_index": self.end,
                "input_shape": shape_json(self.input_shape), "output_shape": shape_json(self.output_shape),
                **{k: to_json(v) for k, v in self.totals(rows).items()}}


@dataclass
class Report:
    name: str | None
    input_shape: tuple
    output_shape: tuple
    layers: list[LayerRow]
    choices: list = field(default_factory=list)  # output_padding: auto decisions
    blocks: list = field(default_factory=list)  # BlockRow, in the order they finish
    dtype: str = "float32"
    warnings: list = field(default_factory=list)

    def __post_init__(self):
        for row in self.layers:
            row.dtype_bytes = DTYPE_BYTES[self.dtype]
    _totals: dict | None = field(default=None, repr=False)
    source: Any = field(default=None, repr=False)  # (Spec, values, no_bias, name) when netcalc.analyze made it
    training: Any = None  # memory --training: netcalc.memory.TrainingMemory
    inputs: dict | None = None  # inputs: name → shape, when the spec names several
    outputs: dict | None = None  # outputs: name → shape, when the spec names the tensors it returns
    graph: list | None = field(default=None, repr=False)  # the walked network: netcalc.network.Step list

    # ------------------------------------------------------------------ views (rendering lives in render.py)

    def __repr__(self) -> str:
        t = self.totals
        return (f"<netcalc.Report {self.name or 'network'!r}: {len(self.layers)} layers, params {t['params']}, "
                f"MACs {t['macs']}>")

    def __str__(self) -> str:
        """The terminal table of ``netcalc summary``."""
        from .render import render

        return render(self, "summary", "table")

    def _repr_markdown_(self) -> str:
        from .render import render

        return render(self, "summary", "markdown")

    def _repr_html_(self) -> str:
        from .render import html

        return html(self)

    def to_dataframe(self):
        """One pandas row per layer (the JSON layer objects, rf flattened); needs pandas."""
        import pandas as pd

        rows = []
        for layer in self.to_dict()["layers"]:
            rf = layer.pop("rf") or {}
            rows.append({**layer, **{f"rf_{k}": v for k, v in rf.items()}})
        return pd.DataFrame(rows).set_index("index")

    def check(self):
        """Build the network in torch and compare every layer (``netcalc check``); needs torch.
        A :class:`netcalc.check.CheckResult`: ``.agree``, ``.differences``, ``.to_dict()``."""
        from .check import check

        if self.source is None:
            raise ValueError("this report was not made by netcalc.analyze or netcalc.from_module")
        spec, values, no_bias, name = self.source
        return check(spec, values, no_bias, source=name)

    @property
    def totals(self) -> dict:
        if self._totals is None:
            self._totals = {q: total(getattr(row, q) for row in self.layers) for q in QUANTITIES}
        return self._totals

    @property
    def kv_cache_bytes(self):
        """The generation cache of every attention layer: keys and values for the input's tokens."""
        return total(r.kv_cache_bytes for r in self.layers)

    def trainable_split(self) -> dict:
        """``trainable_params`` and ``frozen_params`` (as torchinfo), when some parameters are frozen."""
        if all(r.trainable for r in self.layers):
            return {}
        frozen = total(r.params for r in self.layers if not r.trainable)
        return {"trainable_params": to_json(self.totals["params"] - frozen), "frozen_params": to_json(frozen)}

    def to_dict(self) -> dict:
        activations = [r.activation_bytes for r in self.layers]  # once per row: a product of the shape
        return {
            "name": self.name,
            "input_shape": shape_json(self.input_shape),
            "output_shape": shape_json(self.output_shape),
            **({} if self.inputs is None else {"inputs": {k: shape_json(v) for k, v in self.inputs.items()}}),
            **({} if self.outputs is None else {"outputs": {k: shape_json(v) for k, v in self.outputs.items()}}),
            "layers": [row.to_dict(a) for row, a in zip(self.layers, activations)],
            "totals": {**{k: to_json(v) for k, v in self.totals.items()},
                       "param_bytes": to_json(total(r.param_bytes for r in self.layers)),
                       "activation_bytes": to_json(total(activations)),
                       **({} if not (cache := self.kv_cache_bytes) else {"kv_cache_bytes": to_json(cache)}),
                       **self.trainable_split(),
                       **({} if self.training is None else {
                           k: to_json(getattr(self.training, k))
                           for k in ("saved_bytes", "grad_bytes", "optimizer_bytes", "total_bytes")})},
            "dtype": self.dtype,
            **({"warnings": list(self.warnings)} if self.warnings else {}),
            **({"blocks": [b.to_dict(self.layers) for b in self.blocks]} if self.blocks else {}),
        }


def shape_json(shape) -> list:
    return [to_json(d) for d in shape]


def rf_json(v):
    if isinstance(v, (int, float)):
        return v
    return to_json(v)
