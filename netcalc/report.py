"""The result of an analysis, as plain data: one row per layer and the totals.

Rendering (rich tables, JSON, CSV, Markdown) lives in :mod:`netcalc.render`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .symbolic import to_json, total

QUANTITIES = ("weights", "biases", "params", "macs", "flops")


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

    def to_dict(self) -> dict:
        extra = {} if self.explain is None else {
            "explain": {k: [s.text() for s in steps] for k, steps in self.explain.items()}}
        return {
            "index": self.index, "name": self.name, "type": self.type,
            "input_shape": shape_json(self.input_shape), "output_shape": shape_json(self.output_shape),
            "state_shapes": None if self.state_shapes is None else {k: shape_json(v) for k, v in self.state_shapes.items()},
            **{q: to_json(getattr(self, q)) for q in QUANTITIES},
            "rf": None if self.rf is None else {k: [rf_json(v) for v in vs] for k, vs in self.rf.items()},
            **extra,
        }


@dataclass
class Report:
    name: str | None
    input_shape: tuple
    output_shape: tuple
    layers: list[LayerRow]
    choices: list = field(default_factory=list)  # output_padding: auto decisions
    _totals: dict | None = field(default=None, repr=False)

    @property
    def totals(self) -> dict:
        if self._totals is None:
            self._totals = {q: total(getattr(row, q) for row in self.layers) for q in QUANTITIES}
        return self._totals

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "input_shape": shape_json(self.input_shape),
            "output_shape": shape_json(self.output_shape),
            "layers": [row.to_dict() for row in self.layers],
            "totals": {k: to_json(v) for k, v in self.totals.items()},
        }


def shape_json(shape) -> list:
    return [to_json(d) for d in shape]


def rf_json(v):
    if isinstance(v, (int, float)):
        return v
    return to_json(v)
