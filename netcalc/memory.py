"""Training memory: what autograd keeps for backward, plus gradients and optimizer state.

``netcalc memory SPEC --training`` walks the graph the analysis built (rows and their input
edges) as a training-mode forward runs in torch, tensor by tensor:

* every row's output is a new storage, except for views (Flatten, reshapes, permutes, Identity)
  and in-place layers (``inplace: true``), which share their input's;
* a tensor requires grad when it comes from a layer with parameters or from one that does; a
  layer records an autograd node (and saves tensors) only when its input requires grad or it has
  parameters of its own;
* each layer kind states what its node saves (``Layer.saved``): its input, its output, and new
  tensors such as max-pool indices (int64), BatchNorm's per-channel statistics, LayerNorm's mean
  and rstd, dropout's mask;
* a storage saved by two layers (a conv's output that BatchNorm saves, a residual input) counts
  once, at the first layer that saves it.

``saved_bytes`` is the sum over those storages, as ``torch.autograd.graph.saved_tensors_hooks``
sees them on the CPU (tests/test_memory.py measures torch 2.13). Parameters are not counted
there: they are ``param_bytes``; their gradients are ``grad_bytes``; optimizer state is
``optimizer_bytes`` (SGD none, momentum one buffer per parameter, Adam/AdamW two).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .report import DTYPE_BYTES, Report
from .symbolic import prod, total

OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
ELEMENT_BYTES = {"int64": 8, "long": 8, "bool": 1, "uint8": 1, "float32": 4}


class NotModelled(Exception):
    """A layer kind whose saved tensors netcalc does not know yet."""


@dataclass
class TrainingMemory:
    saved: list  # bytes per row
    param_bytes: object
    grad_bytes: object
    optimizer_bytes: object
    optimizer: str
    notes: list = field(default_factory=list)
    mixed: bool = False  # float32 parameters, the forward under autocast

    @property
    def saved_bytes(self):
        return total(self.saved)

    @property
    def total_bytes(self):
        return self.param_bytes + self.grad_bytes + self.optimizer_bytes + self.saved_bytes


def annotate(report: Report, optimizer: str = "adam", mixed: bool = False) -> Report:
    """``report`` with ``saved_bytes`` on every row and its ``training`` totals."""
    memory = training_memory(report, optimizer, mixed)
    for row, saved in zip(report.layers, memory.saved):
        row.saved_bytes = saved
        if mixed:
            row.param_dtype_bytes = ELEMENT_BYTES["float32"]
    report.training = memory
    return report


def training_memory(report: Report, optimizer: str = "adam", mixed: bool = False) -> TrainingMemory:
    """Bytes autograd saves per row of ``report`` (at its dtype), and the totals. ``mixed``: float32
    parameters, gradients and optimizer state, the forward under ``torch.autocast`` to the report's
    dtype (see :func:`_dtype_after`)."""
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"optimizer {optimizer!r}: expected one of {', '.join(OPTIMIZER_STATES)}")
    act = DTYPE_BYTES[report.dtype]
    rows = report.layers
    first = rows[0].layer if rows and rows[0].layer is not None else None
    input_dtype = first.INPUT_DTYPE if first is not None else "float32"
    inputs = list((report.inputs or {"input": report.input_shape}).values())
    data = "float32" if mixed else "act"  # the network's input: the data as it comes
    # row → the storage its output lives in (-1, -2, ...: the network's inputs)
    storage = {-1 - k: -1 - k for k in range(len(inputs))}
    shape_of = {-1 - k: tuple(shape) for k, shape in enumerate(inputs)}
    dtype_of = {-1 - k: "long" if input_dtype == "long" and k == 0 else data for k in range(len(inputs))}
    grad = dict.fromkeys(storage, False)  # storage → requires grad
    in_order = dict.fromkeys(storage, True)  # row → its output laid out in order (Layer.in_order)
    counted: set = set()
    saved = []

    def nbytes(shape, dtype, given=None):
        """``given``: what "in" (the layer's input precision) is under autocast."""
        if dtype in ("act", "low") or dtype == "in" and not mixed:
            size = act
        elif dtype == "in":
            return nbytes(shape, given)
        elif dtype == "stat":
            size = 4 if mixed else act
        else:
            size = ELEMENT_BYTES[dtype]
        return prod(shape) * size

    def entry_bytes(what, row, i: int, ins: list):
        """Bytes of one thing row ``i`` saves: an input (its index), "output", a new tensor
        ``(shape, dtype)``, or ``("needs", j, what)``: that, when input j needs a gradient. A storage
        counted before counts 0."""
        if isinstance(what, tuple) and len(what) == 3 and what[0] == "needs":
            return entry_bytes(0 if what[2] == "input" else what[2], row, i, ins) if grad[ins[what[1]]] else 0
        if isinstance(what, tuple):  # under autocast "act" is the row's own precision
            shape, dtype = what
            return nbytes(shape, dtype_of[i] if mixed and dtype == "act" else dtype, dtype_of[ins[0]])
        layer = row.layer
        if (isinstance(what, int) and mixed and layer is not None and layer.runs_low(tuple(row.input_shape))
                and dtype_of[ins[what]] == "float32"):  # autocast casts a float32 input: the copy is saved
            return nbytes(tuple(row.input_shape) if what == 0 else list(layer.tensors.values())[what - 1], "act")
        s = ins[what] if isinstance(what, int) else storage[i]
        if s in counted:
            return 0
        counted.add(s)
        src = next((r for r, st in storage.items() if st == s), -1) if s != -1 else -1
        return nbytes(shape_of[src] if s == -1 else shape_of[s], dtype_of[src if s == -1 else s])

    for i, row in enumerate(rows):
        sources = list(row.inputs) or [i - 1]
        ins = [storage[s] for s in sources]
        trainable = row.params != 0 and row.trainable
        node = trainable or any(grad[s] for s in ins)
        layer = row.layer
        view = layer is not None and (layer.VIEW or bool(layer.args.get("inplace")))
        storage[i] = ins[0] if view else i
        shape_of[i] = tuple(row.output_shape)
        if mixed:
            if layer is not None:  # under autocast some kinds save and return other dtypes: they read their inputs'
                layer.mixed, layer.input_dtypes = dtype_of[ins[0]], [dtype_of[s] for s in ins]
            dtype_of[i] = _dtype_after(row, [dtype_of[s] for s in ins])
        else:
            dtype_of[i] = "act" if layer is None or layer.OUTPUT_DTYPE is None else layer.OUTPUT_DTYPE
        # a view's output needs a gradient as its input does (a Parameter's weight does not join the data)
        grad[storage[i]] = any(grad[s] for s in ins) if view and layer.VIEW else node
        ordered = [in_order[s] for s in sources]
        in_order[i] = all(ordered) if layer is None else layer.in_order(tuple(row.input_shape), ordered)
        here = 0
        if node:
            if layer is not None:
                layer.mixed = dtype_of[ins[0]] if mixed else False
                layer.input_dtypes = [dtype_of[s] for s in ins] if mixed else []
                layer.inputs_in_order = ordered  # what a view saves depends on the strides (Einsum)
            here = total(entry_bytes(what, row, i, ins) for what in _saved(row, ins, grad))
            if mixed and layer is not None:  # low-precision copies of its weights
                here += total(nbytes(shape, "act") for shape in layer.autocast_weights(tuple(row.input_shape),
                                                                                         grad[ins[0]]))
        saved.append(here)
    wide = 4 if mixed else act  # parameters, gradients and optimizer state
    param_bytes = total(r.params for r in rows) * wide
    trained = total(r.params for r in rows if r.trainable) * wide  # frozen parameters get no gradient or state
    return TrainingMemory(saved, param_bytes, trained, OPTIMIZER_STATES[optimizer] * trained, optimizer, mixed=mixed)


def _dtype_after(row, dtypes: list) -> str:
    """The dtype of a row's output under autocast: "act" (the low precision) after a kind torch
    runs in it (conv, Linear), the promoted dtype after a merge or a kind of several inputs (float32
    + low is float32: a Stack), else its input's. Kinds not measured under autocast are refused."""
    layer = row.layer
    if layer is None:
        return "float32" if "float32" in dtypes else dtypes[0]
    if layer.AUTOCAST is None:
        raise NotModelled(f"{row.name} ({row.type}): netcalc has not measured what this layer kind saves under "
                          "mixed precision (autocast) yet; drop --mixed to count it at one dtype")
    if layer.OUTPUT_DTYPE is not None:
        return layer.OUTPUT_DTYPE
    if layer.runs_float32(tuple(row.input_shape)):
        return "float32"
    if layer.runs_low(tuple(row.input_shape)):
        return "act"
    if dtypes[0] not in ("act", "float32"):
        return "float32"  # token ids → a float32 table's rows
    return "float32" if "float32" in dtypes else dtypes[0]


def _saved(row, ins, grad) -> list:
    """What the row's autograd node saves: 0, 1, ... (its inputs), "output", or (shape, dtype)."""
    if row.layer is None:  # a merge row
        if row.type == "Multiply":  # x * g saves g for x's gradient and x for g's
            return [k for k, other in ((0, 1), (1, 0)) if grad[ins[other]]]
        return []  # Add and Concat need only sizes
    saves = row.layer.saved(tuple(row.input_shape), tuple(row.output_shape))
    row.layer.mixed = False
    if saves is None:
        raise NotModelled(f"{row.name} ({row.type}): netcalc does not know yet what autograd saves for this "
                          "layer kind, so memory --training cannot count it")
    return [0 if s == "input" else s for s in saves]


UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text: str) -> int:
    """``24GiB``, ``1.5 GB``, ``500MiB``, ``1000000`` → bytes."""
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in UNITS:
        raise ValueError(f"{text!r}: expected a size like 24GiB, 16GB, 512MiB or a number of bytes")
    return int(float(m.group(1)) * UNITS[m.group(2).lower()])


@dataclass
class Budget:
    """The largest value of the batch letter whose training step fits in ``budget`` bytes."""

    budget: int
    symbol: str
    largest: int | None  # None: not even a batch of 1 fits
    fixed_bytes: int  # what does not grow with the batch (parameters, gradients, optimizer state, statistics)
    bytes_per_sample: int
    total_at_largest: int | None
    total_at_next: int

    def to_dict(self) -> dict:
        return {"budget_bytes": self.budget, "batch_symbol": self.symbol, "largest_batch": self.largest,
                "total_bytes_at_largest": self.total_at_largest, "total_bytes_at_next": self.total_at_next,
                "fixed_bytes": self.fixed_bytes, "bytes_per_sample": self.bytes_per_sample}


def largest_batch(analyze_at, symbol: str, budget: int) -> Budget:
    """``analyze_at(b)`` is the annotated report at batch ``b``. Every saved tensor's size is linear in
    the batch, so two points give the line; the answer is then checked at itself and at one more."""
    def total_at(b):
        return analyze_at(b).training.total_bytes

    one, two = total_at(1), total_at(2)
    per, fixed = two - one, 2 * one - two
    if per <= 0:
        raise ValueError(f"memory does not grow with {symbol}: is it the batch dimension?")
    largest = (budget - fixed) // per if budget >= one else 0
    while largest > 0 and total_at(largest) > budget:  # the line is exact; this only guards it
        largest -= 1
    while total_at(largest + 1) <= budget:
        largest += 1
    return Budget(budget, symbol, largest or None, fixed, per, total_at(largest) if largest else None,
                  total_at(largest + 1))
