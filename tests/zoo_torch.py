"""Shared by the zoo tests: record a plain-torch reference model's leaves in call order, and
compare them and its totals with netcalc's JSON document."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from torch import nn

MERGES = {"Add", "Concat", "Multiply"}
# Modules that netcalc states as one layer although torch builds them from children.
WHOLE = (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.LSTM)


@dataclass
class Rec:
    name: str
    input: tuple
    output: tuple
    params: int


_RECORDS: list[Rec] | None = None


def tap(name: str, x, y, params: int = 0):
    """Record a tensor operation of a forward (not a module) as a leaf; returns ``y``."""
    if _RECORDS is not None:
        _RECORDS.append(Rec(name, tuple(x.shape), tuple(y.shape), params))
    return y


def leaves(model: nn.Module):
    """(name, module) of every leaf: modules without children, and WHOLE modules (not their insides)."""
    inside: list[str] = []
    for name, m in model.named_modules():
        if not name or any(name.startswith(p + ".") for p in inside):
            continue
        if isinstance(m, WHOLE):
            inside.append(name)
            yield name, m
        elif next(m.children(), None) is None:
            yield name, m


@contextlib.contextmanager
def recording(model: nn.Module):
    """Forward hooks on every leaf, plus the ``tap`` calls of the forward, in call order."""
    global _RECORDS
    records: list[Rec] = []

    def hook(name):
        def record(module, args, out):
            out = out[0] if isinstance(out, tuple) else out
            records.append(Rec(name, tuple(args[0].shape), tuple(out.shape),
                               sum(p.numel() for p in module.parameters())))
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in leaves(model)]
    _RECORDS = records
    try:
        yield records
    finally:
        _RECORDS = None
        for h in handles:
            h.remove()


def compared(rows):
    """netcalc leaf rows that hold parameters or change the shape; merges are not torch modules."""
    return [r for r in rows if r["type"] not in MERGES and (r["params"] or r["output_shape"] != r["input_shape"])]


def assert_leaves_match(model: str, doc: dict, records: list[Rec]):
    ours = compared(doc["layers"])
    theirs = [t for t in records if t.params or t.output != t.input]
    assert [r["name"] for r in ours] == [t.name for t in theirs], f"{model}: leaf names differ from torch's"
    for a, t in zip(ours, theirs):
        assert (tuple(a["output_shape"]), a["params"]) == (t.output, t.params), \
            f"{model}: {a['name']}: netcalc {a['output_shape']}, {a['params']} params; torch {list(t.output)}, {t.params}"


def assert_totals_match(model: str, doc: dict, out: tuple, params: int, flops: int):
    assert tuple(doc["output_shape"]) == out
    assert doc["totals"]["params"] == params
    assert 2 * doc["totals"]["macs"] == flops, f"{model}: netcalc MACs {doc['totals']['macs']}, torch {flops / 2}"
