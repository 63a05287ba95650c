"""What every layer kind states, and how its constructor arguments are read.

A layer class lists its ``torch.nn`` constructor arguments in order (:class:`Arg`), and
answers, for an incoming shape ``x``:

* :meth:`Layer.output_shape` (and :meth:`Layer.state_shapes` for recurrent layers),
* :meth:`Layer.parameters`: each parameter's torch name and shape (a name containing
  ``bias`` is a bias, everything else a weight, exactly as ``named_parameters()``),
* :meth:`Layer.macs` and :meth:`Layer.flops`,
* :meth:`Layer.receptive_field`.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

from ..errors import Pos, SpecError, did_you_mean
from ..rf import Field
from ..symbolic import Dim, ExprError, check_size, is_int, known_positive, parse_expr, prod, same, to_text

Shape = tuple  # of Dim

REQUIRED = object()
# torch's names for widths of the incoming tensor: torch needs them, a spec may leave them out
INPUT_WIDTHS = ("in_channels", "in_features", "input_size", "d_model", "embed_dim", "num_features", "num_channels",
                "normalized_shape", "in1_features", "in2_features")
RESERVED_KEYS = ("type", "name", "expect", "match", "share", "from", "trainable")


class Arg:
    """One constructor argument: its torch name, default, and how to read a spec value."""

    def __init__(self, name: str, default=REQUIRED, kind: str = "dim", choices=None):
        self.name, self.default, self.kind, self.choices = name, default, kind, choices


class Context:
    """What reading values needs: the symbol table and the ``--no-bias`` switch."""

    def __init__(self, values: dict[str, int] | None = None, no_bias: bool = False, make_symbol=None):
        from ..symbolic import symbol

        self.values = values or {}
        self.no_bias = no_bias
        self.make_symbol = make_symbol or symbol


class Layer:
    """Base of every layer kind. Subclasses set ``ARGS`` and override the rules."""

    TYPE: ClassVar[str] = ""  # canonical torch.nn class name
    ARGS: ClassVar[tuple[Arg, ...]] = ()
    rank: ClassVar[int] = 0  # spatial axes, for ConvNd/PoolNd families
    PASS_RF: ClassVar[bool] = False  # shape-preserving layers pass the field through
    # "dims" arguments whose entries may be null (torch: an adaptive pool's None keeps that input size)
    NULL_ENTRIES: ClassVar[tuple[str, ...]] = ()

    # What the commands built on the graph need of a kind (export, check, draw, solve, import).
    FORWARD: ClassVar[str] = "{m}({x})"  # how forward() calls module m on tensor x
    CALL_KIND: ClassVar[str] = "plain"  # "rnn": returns (output, state); "tuple": (output, extra)
    INPUT_DTYPE: ClassVar[str] = "float32"  # what a network that starts with this kind is fed
    # arguments whose torch default is another argument's value (a pool's stride is its kernel_size)
    DEFAULT_FROM: ClassVar[dict[str, str]] = {}
    TORCH_HELPER: ClassVar[str | None] = None  # source (indented as written) of the nn.Module export writes for a kind torch lacks
    FAMILY: ClassVar[str] = "act"  # draw: colour family (conv, tconv, pool, norm, act, linear, seq, tensor)
    # draw: the layout a kind's output has: "cf" channels first, "seq" a sequence (and its input is one
    # too), "to_seq" a sequence made from any layout, "flat" a sequence when under 3-D; None: as its input
    LAYOUT: ClassVar[str | None] = None
    # solve: the output dims that repeat input dims ("all", "all_but_last"; PASS_RF kinds: all)
    KEEPS: ClassVar[str | None] = None
    # import: the torch calls in a forward() this kind stands for: "F.relu" (torch.nn.functional.relu),
    # "torch.relu", ".relu" (the Tensor method); ranked families write the rank as {} ("F.max_pool{}d")
    # and the registry fills it like TYPE. Strings, because netcalc itself never imports torch.
    TORCH_FUNCTIONS: ClassVar[tuple[str, ...]] = ()
    # check: the kind's MACs are its matmuls as FlopCounterMode counts them (FLOPs / 2), so check compares them
    MEASURED_MACS: ClassVar[bool] = False
    # memory --training: the output is a view of the input (it shares the input's storage)
    VIEW: ClassVar[bool] = False
    OUTPUT_DTYPE: ClassVar[str | None] = None  # None: the activation dtype
    # under autocast (memory --training --mixed): True, torch runs it in the low precision (a conv, a
    # Linear: their input and weight cast); False, in its input's dtype; None, not measured yet
    AUTOCAST: ClassVar[bool | None] = False
    KEEPS_WEIGHT: ClassVar[bool] = False  # its backward keeps the weight even for an input without a gradient
    # float32 out under autocast: it joins the data with a float32 parameter, or autocast runs it in float32
    PROMOTES: ClassVar[bool] = False
    mixed: str | bool = False  # under --mixed, set by netcalc.memory to the input's dtype while it asks saved()
    inputs_in_order: list | tuple = ()  # memory: whether each input is laid out in order, set before it asks saved()
    input_dtypes: list | tuple = ()  # memory --mixed: each input's dtype ("act", "float32"), set before it asks saved()
    # what its autograd node saves, when it is that simple: ("input",), ("output",), () (see saved())
    SAVES: ClassVar[tuple | None] = None
    # memory: its output may not be laid out in order (row-major) though its input is: a permute, a
    # transpose, a select, a chunk (see in_order)
    STRIDED: ClassVar[bool] = False

    def __init__(self, entry, ctx: Context, tensors: dict | None = None):
        self.entry = entry
        self.ctx = ctx
        self.name = entry.name
        self.args = self._read_args(entry, ctx)
        self.tensors = tensors or {}  # shapes of the second inputs its "tensor" arguments name
        self.validate()

    @classmethod
    def tensor_args(cls) -> tuple[str, ...]:
        """The arguments that name a second input tensor (``memory``, ``key``, ``value``)."""
        return tuple(a.name for a in cls.ARGS if a.kind == "tensor")

    # ---------------------------------------------------------------- reading arguments

    def _read_args(self, entry, ctx) -> dict[str, Any]:
        known = {a.name: a for a in self.ARGS}
        for key in entry.args:
            if key not in known:
                hint = did_you_mean(key, list(known)) or (
                    f"; {self.TYPE} takes " + ", ".join(known) if known else f"; {self.TYPE} takes no arguments")
                raise SpecError(f"unknown argument {key!r} for {self.TYPE}{hint}", entry.where(key))
        values = {}
        for a in self.ARGS:
            if a.name in entry.args:
                values[a.name] = self._read(a, entry.args[a.name], entry.where(a.name), ctx)
            elif a.default is REQUIRED:
                raise SpecError(f"{self.TYPE} needs {a.name!r}", entry.pos)
            else:
                values[a.name] = self._expand(a, a.default) if a.default is not None else None
        if "bias" in values and ctx.no_bias:
            values["bias"] = False
        return values

    def _read(self, arg: Arg, raw, pos: Pos, ctx: Context):
        if isinstance(raw, str) and isinstance(ctx.values.get(raw.strip()), tuple):
            raw = list(ctx.values[raw.strip()])  # a list-valued block argument (kernel_size: k, k = [1, 7])
        try:
            reader: Callable = getattr(self, "_read_" + arg.kind)
            return reader(arg, raw, ctx)
        except (ExprError, ValueError, TypeError) as e:
            raise SpecError(f"{self.TYPE}: {arg.name}: {e}", pos) from None

    def _expand(self, arg: Arg, value):
        if arg.kind in ("axes", "padding", "axes_or_auto") and not isinstance(value, (tuple, str)):
            return (value,) * self.rank
        return value

    def _read_dim(self, arg, raw, ctx):
        if raw is None and arg.default is None:
            return None
        if isinstance(raw, bool) or isinstance(raw, float) or raw is None or isinstance(raw, (list, dict)):
            raise ValueError(f"expected an integer or an expression, got {_show(raw)}")
        return check_size(raw) if is_int(raw) else parse_expr(str(raw), ctx.values, ctx.make_symbol)

    def _read_axes(self, arg, raw, ctx):
        if raw is None and arg.default is None:
            return None
        if isinstance(raw, list):
            if len(raw) != self.rank:
                raise ValueError(f"expected {self.rank} value{'s' * (self.rank > 1)} (one per spatial axis), got {len(raw)}")
            return tuple(self._read_dim(arg, v, ctx) for v in raw)
        return (self._read_dim(arg, raw, ctx),) * self.rank

    def _read_padding(self, arg, raw, ctx):
        if isinstance(raw, str) and raw.strip().lower() in ("same", "valid"):
            return raw.strip().lower()
        return self._read_axes(arg, raw, ctx)

    def _read_axes_or_auto(self, arg, raw, ctx):
        if isinstance(raw, str) and raw.strip().lower() == "auto":
            return "auto"
        return self._read_axes(arg, raw, ctx)

    def _read_bool(self, arg, raw, ctx):
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise ValueError(f"expected true or false, got {_show(raw)}")

    def _read_float(self, arg, raw, ctx):
        if raw is None and arg.default is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise ValueError(f"expected a number, got {_show(raw)}")
        return float(raw)

    def _read_choice(self, arg, raw, ctx):
        if raw not in arg.choices:
            opts = ", ".join(repr(c) for c in arg.choices)
            hint = did_you_mean(raw, [str(c) for c in arg.choices]) if isinstance(raw, str) else ""
            raise ValueError(f"expected one of {opts}, got {_show(raw)}{hint}")
        return raw

    def _read_dims(self, arg, raw, ctx):
        """A list of dims (a single int is a one-element list); ``null`` entries stay None where the kind
        lists the argument in NULL_ENTRIES, and are refused elsewhere (they are no size)."""
        if raw is None and arg.default is None:
            return None
        items = raw if isinstance(raw, list) else [raw]
        if None in items and arg.name not in self.NULL_ENTRIES:
            raise ValueError(f"expected integers or expressions, got null{' in the list' * (raw is not None)}")
        return tuple(None if v is None else self._read_dim(arg, v, ctx) for v in items)

    def _read_any(self, arg, raw, ctx):
        return raw

    def _read_tensor(self, arg, raw, ctx):
        """The name of a second input (``memory: enc``): an input or an earlier layer's output, whose
        shape the walk puts in ``self.tensors``."""
        if raw is None:
            return None
        if not isinstance(raw, str) or not raw:
            raise ValueError(f"expected the name of an input or an earlier layer, got {_show(raw)}")
        return raw

    # ---------------------------------------------------------------- helpers for rules

    def error(self, message: str, key: str | None = None):
        pos = self.entry.where(key)
        raise SpecError(f"{self.name} ({self.TYPE}): {message}", pos)

    def check_positive(self, value: Dim, what: str, key: str | None = None, formula: str = ""):
        if known_positive(value) is False:
            why = f" = {formula}" if formula else ""
            self.error(f"{what} is {to_text(value)}{why}, but must be at least 1", key)

    def check_width(self, key: str, given, actual, what: str = "the incoming shape"):
        """An explicit input width must agree with what flows in."""
        if given is not None and not same(given, actual):
            self.error(f"{key}={to_text(given)} disagrees with {what} ({to_text(actual)}); "
                       f"remove {key} or set it to {to_text(actual)}", key)

    def check_ndim(self, x: Shape, allowed: tuple[int, ...], layout: str):
        if len(x) not in allowed:
            self.error(f"expects a {' or '.join(f'{n}-D' for n in allowed)} input {layout}, "
                       f"got {len(x)}-D shape {fmt_shape(x)}")

    # ---------------------------------------------------------------- the rules

    def validate(self) -> None:
        """Checks that need only the arguments (torch's constructor checks)."""

    def output_shape(self, x: Shape) -> Shape:
        return x

    def state_shapes(self, x: Shape) -> dict | None:
        return None

    def named_outputs(self, x: Shape) -> dict:
        """Tensors besides the output that later entries may read with ``from:`` (Chunk's pieces)."""
        return {}

    def warnings(self, x: Shape) -> list[str]:
        """Things that are legal but probably not meant (a floor dropping input rows, say)."""
        return []

    def parameters(self, x: Shape) -> dict[str, Shape]:
        return {}

    def macs(self, x: Shape, y: Shape) -> Dim:
        return 0

    def flops(self, x: Shape, y: Shape) -> Dim:
        return 0

    def receptive_field(self, field: Field | None) -> Field | None:
        return field if self.PASS_RF else None

    def kv_cache(self, x: Shape) -> Dim:
        """Elements of the keys and values the kind's attention computes for ``x``'s tokens: what a
        generation cache holds (``netcalc memory``); 0 for kinds without attention."""
        return 0

    def runs_float32(self, x: Shape) -> bool:
        """memory --mixed: whether the output is float32 under autocast: the kind joins the data with a
        float32 parameter (PROMOTES), or torch's CPU autocast runs it in float32 (its float32 list:
        3-D pools, fractional max pools, reflection and replication padding), casting a
        low-precision input (see kept_input)."""
        return self.PROMOTES

    def kept_input(self, x: Shape):
        """What a kind that keeps its input keeps: "input", or under autocast, where it runs in float32
        on a low-precision input, the float32 copy autocast made."""
        return (x, "float32") if self.mixed == "act" and self.runs_float32(x) else "input"

    def runs_low(self, x: Shape) -> bool:
        """memory --mixed: whether autocast runs the kind in the low precision (AUTOCAST; Einsum's
        answer depends on its equation)."""
        return bool(self.AUTOCAST)

    def autocast_weights(self, x: Shape, input_grad: bool) -> list:
        """The weights whose low-precision copies an AUTOCAST kind keeps under autocast: a Linear's
        when its input needs a gradient (for that gradient), a conv's always (KEEPS_WEIGHT)."""
        if not self.runs_low(x) or not (self.KEEPS_WEIGHT or input_grad):
            return []
        return [shape for name, shape in self.parameters(x).items() if "bias" not in name]

    def in_order(self, x: Shape, inputs: list) -> bool:
        """memory: whether the output is laid out in order (contiguous, row-major), given whether each
        input is (what Einsum's reshapes depend on). A new tensor from inputs in order is in order, and
        a view of one (a reshape) too; a STRIDED kind's output may not be, nor anything made from an
        input out of order (an activation keeps its input's strides): not known, so False."""
        return not self.STRIDED and all(inputs)

    def saved(self, x: Shape, y: Shape) -> list | None:
        """What the kind's autograd node saves in a training-mode forward (netcalc/memory.py):
        "input", "output", or a new tensor ``(shape, dtype)`` ("act": the activation dtype);
        None where netcalc does not know it."""
        return None if self.SAVES is None else list(self.SAVES)

    # ---------------------------------------------------------------- worked answers (--explain)

    def explain(self, x: Shape, y: Shape, rf_before, rf_after) -> dict:
        """Formula steps per concern (shapes, params, flops, rf) with the numbers put in."""
        from .. import explain as ex

        return {"shapes": self.explain_shape(x, y), "params": ex.parameters(self.parameters(x)),
                "flops": self.explain_cost(x, y), "rf": self.explain_rf(x, y, rf_before, rf_after)}

    def explain_shape(self, x: Shape, y: Shape) -> list:
        return []

    def explain_cost(self, x: Shape, y: Shape) -> list:
        from ..explain import Step

        return [Step("MACs", "", self.macs(x, y)), Step("FLOPs", "", self.flops(x, y))]

    def explain_rf(self, x: Shape, y: Shape, before, after) -> list:
        return []

    # ---------------------------------------------------------------- what torch code needs

    @classmethod
    def width_args(cls) -> tuple[str, ...]:
        """The kind's arguments that are widths of the incoming tensor, in torch's order."""
        return tuple(a.name for a in cls.ARGS if a.name in INPUT_WIDTHS)

    @classmethod
    def input_width_axis(cls, arg: str, ndim: int) -> int:
        """The axis of an ``ndim``-D input that the width argument ``arg`` (one of INPUT_WIDTHS) is:
        channels before a ranked kind's spatial axes, features at 1 (0 unbatched), else the last."""
        if arg == "in_channels":
            return ndim - getattr(cls, "rank", 0) - 1
        if arg in ("num_features", "num_channels"):
            return 1 if ndim > 1 else 0
        return ndim - 1

    def input_width(self, arg: str, x: Shape) -> Dim:
        """The value of the width argument ``arg`` (one of INPUT_WIDTHS) for the incoming shape."""
        return x[self.input_width_axis(arg, len(x))]

    def torch_ctor(self, x: Shape) -> tuple[str, list, list] | None:
        """``(callee, positional, keywords[, names of the positional values])`` of the constructor
        call when it is not the generic one (``nn.TYPE`` with ARGS in torch's order); keywords are
        ``(name, value, default)``."""
        return None

    def forward_call(self, module: str, src: str, tensors: dict | None = None) -> str:
        """The call in forward(): ``module`` on the variable ``src``, and ``tensors`` the variables of
        its second inputs by argument (``{"memory": "enc"}``)."""
        template = "{m}({x})[0]" if self.args.get("return_indices") else self.FORWARD  # (output, indices)
        return template.format(m=module, x=src, **(tensors or {}))

    def writes_tensors(self) -> bool:
        """Whether forward_call writes every second input this layer reads (export can write it)."""
        return all("{" + key + "}" in self.FORWARD for key in self.tensors)

    def call_kind(self) -> str:
        return "tuple" if self.args.get("return_indices") else self.CALL_KIND

    @classmethod
    def chains(cls) -> bool:
        """Whether the kind can be one member of an nn.Sequential (its forward is ``module(x)``)."""
        return cls.FORWARD == Layer.FORWARD

    @classmethod
    def args_from_call(cls, bound: dict, x: tuple, y: tuple) -> dict:
        """The spec arguments for a call of one of TORCH_FUNCTIONS with arguments ``bound`` (torch's
        names) on input shape ``x`` giving ``y``: every one of ARGS whose value is not its default.
        Raises ValueError (the message says why) for a call netcalc cannot express."""
        out = {}
        for a in cls.ARGS:
            v = plain_value(bound.get(a.name))
            if v is None or v == []:  # torch's schemas write "the default" as None or []
                continue
            source = cls.DEFAULT_FROM.get(a.name)
            default = plain_value(bound.get(source)) if source else a.default
            if default is not REQUIRED and default is not None and same_value(v, plain_value(default)):
                continue
            if a.kind == "float" and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if a.kind in ("axes", "padding", "axes_or_auto") and isinstance(v, list) and v and v.count(v[0]) == len(v):
                v = v[0]  # one value for every axis
            out[a.name] = v
        return out

    @classmethod
    def from_call(cls, bound: dict, x: tuple, y: tuple) -> tuple[type, dict]:
        """``(kind, spec arguments)`` for a call of one of TORCH_FUNCTIONS: this kind, unless one torch
        call stands for several kinds (``F.pad`` for every pad layer, ``x.view`` for Flatten too)."""
        return cls, cls.args_from_call(bound, x, y)

    @property
    def has_bias(self) -> bool:
        return bool(self.args.get("bias", False))


def axes_value(v):
    """A per-axis argument as torch's constructors take it: one value when every axis agrees."""
    if isinstance(v, tuple) and v and len(set(v)) == 1:
        return v[0]
    return v


_NUMEL: dict = {}  # ids of a shape's sizes → (shape, its numel), for symbolic shapes: see numel


def numel(shape: Shape) -> Dim:
    """The product of the dims. A symbolic shape's product is built once per set of size objects: a
    layer's output is multiplied out for its MACs, its FLOPs and its bytes (the entry keeps the sizes
    alive, so their ids are not reused)."""
    if all(type(d) is int for d in shape):
        return prod(shape)
    key = tuple(map(id, shape))  # a new tuple of the same sizes (a stride-1 layer's output) hits too
    hit = _NUMEL.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], shape)):
        return hit[1]
    out = prod(shape)
    _NUMEL[key] = (tuple(shape), out)
    return out


def plain_value(v):
    """An argument value as spec data: tuples (torch.Size too) become lists."""
    if isinstance(v, (tuple, list)):
        return [plain_value(item) for item in v]
    return v


def same_value(a, b) -> bool:
    """Whether two argument values mean the same: ``[2, 2]`` is ``2``, ``0.1`` is ``0.1000000000001``,
    but ``True`` is not ``1``."""
    if isinstance(a, list) and a and a.count(a[0]) == len(a):
        a = a[0]
    if isinstance(b, list) and b and b.count(b[0]) == len(b):
        b = b[0]
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool) and abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))
    return a == b and type(a) is type(b) or (a == b and not isinstance(a, bool) and not isinstance(b, bool))


def fmt_shape(shape) -> str:
    return "[" + ", ".join(to_text(d) for d in shape) + "]"


def _show(raw) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if raw is None:
        return "null"
    if isinstance(raw, (list, dict)):  # never repr a container: it may be a YAML alias bomb
        return f"a {'list' if isinstance(raw, list) else 'mapping'} of {len(raw)} items"
    return repr(raw) if isinstance(raw, str) else str(raw)
