"""``netcalc import``: a PyTorch ``nn.Module`` in, a netcalc spec out.

The model comes from a factory the user names (``mymodels.py:make_net`` or
``package.module:build``). The import has four steps:

1. **Data flow.** ``torch.fx`` traces ``forward`` with every ``torch.nn`` layer kept as a leaf,
   and the traced graph runs once on fake tensors of the given shape (no arithmetic), so every node
   knows torch's own output shape. When fx cannot trace (Python control flow on
   values), the fallback records the leaf modules' calls with forward hooks and accepts them when
   they form a plain chain.
2. **Structure.** Series-parallel decomposition of the data-flow graph: walking back from the
   output, a node with one input continues the chain; a merge (``+``, ``torch.cat``, ``*``) jumps to
   its immediate dominator (where its branches fork) and becomes a ``residual``/``add``/``concat``/
   ``multiply`` entry whose branches are decomposed the same way. ``torch.cat`` over a growing list
   (DenseNet) becomes a chain of concats: a list whose front was concatenated before is that earlier
   tensor joined with the rest. Position ids (``torch.arange``) looked up in an ``nn.Embedding`` and
   added to the data become a ``Parameter`` of the table's shape. A layer that reads several
   tensors (``q @ k.transpose(-2, -1)``, SDPA) joins like a merge: its branches from the fork are
   written one after another in forward's order, and it reads the others by name (``other:``;
   ``from:`` where its input is not the previous entry's output). A split's pieces are named
   (``names:``). A node that would still have to sit in two branches is not expressible and fails
   by name.
3. **Names.** Entries are grouped by module path, so ``layer1.0.conv1`` becomes the leaf ``conv1``
   of ``sequential 0`` inside ``sequential layer1``: netcalc's names mirror the module paths.
   Constructor arguments are read back from module attributes; only non-default values are written.
4. **Check.** The spec is analysed by netcalc and compared with torch, row by row: every output
   shape, every module's parameter count and the total. A disagreement is an error naming the
   module; a wrong spec is never written.

torch is imported lazily: netcalc itself never needs it.
"""

from __future__ import annotations

import importlib
import importlib.util
import operator
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from .import_spec import (INPUT_NAME, ImportFailure, Join, Leaf, LoadFailure, Merge, PieceRef, emit, group,
                          mark_shared, rows_of, scalar, share_blocks)
from .layers import tensor
from .layers.base import INPUT_WIDTHS, REQUIRED
from .layers.base import plain_value as _plain
from .layers.base import same_value as _same

TORCH_MISSING = "netcalc import needs PyTorch: pip install 'netcalc[torch]'"


# ----------------------------------------------------------------------------- loading


def require_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ImportError(TORCH_MISSING) from None


def load_model(target: str):
    """Call the factory named by ``MODULE:FACTORY`` or ``path/to/file.py:FACTORY``; an nn.Module."""
    from torch import nn

    where, colon, attr = target.rpartition(":")
    if not colon or not where or not attr:
        raise LoadFailure(f"{target}: expected MODULE:FACTORY or path/to/file.py:FACTORY, e.g. mymodels.py:make_net")
    module = _load_module(where)
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(module) if not n.startswith("_")]
            from .errors import did_you_mean

            raise LoadFailure(f"{where} has no {attr!r}{did_you_mean(part, names)}")
        obj = getattr(obj, part)
    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise LoadFailure(f"{target} is neither an nn.Module nor a factory that returns one")
        try:
            obj = obj()
        except Exception as e:  # noqa: BLE001 (the user's code may raise anything)
            raise LoadFailure(f"calling {attr}() failed: {type(e).__name__}: {e} "
                              "(the factory must need no arguments)") from None
    if not isinstance(obj, nn.Module):
        raise LoadFailure(f"{attr}() returned a {type(obj).__name__}, not a torch.nn.Module")
    return obj


def _load_module(where: str):
    is_file = where.endswith(".py") or os.sep in where or "/" in where
    if is_file:
        path = os.path.abspath(where)
        if not os.path.isfile(path):
            raise LoadFailure(f"{where}: no such file")
        folder = os.path.dirname(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)  # so the file can import its neighbours
        name = "netcalc_user_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # noqa: BLE001 (the user's code may raise anything)
            raise LoadFailure(f"importing {where} failed: {type(e).__name__}: {e}") from None
        return module
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as e:
        if e.name and where.startswith(e.name):
            raise LoadFailure(f"no module named {where!r} (give a file path such as models.py:make_net, "
                              "or run from the folder that holds the package)") from None
        raise LoadFailure(f"importing {where} failed: {e}") from None
    except Exception as e:  # noqa: BLE001 (the user's code may raise anything)
        raise LoadFailure(f"importing {where} failed: {type(e).__name__}: {e}") from None


@dataclass
class Origin:
    """Where a netcalc row comes from: the module path and call (None for tensor ops and merges)."""

    path: str | None
    call: int
    type: str
    torch_shape: tuple
    params: int | None


@dataclass
class Imported:
    text: str  # the YAML spec
    rows: list[Origin]  # aligned with the analysed report's layers
    report: Any
    warnings: list[str] = field(default_factory=list)
    total_params: int = 0


# ----------------------------------------------------------------------------- modules → entries

MISSING = object()
UNWRITTEN = ("inplace",)  # arguments with no arithmetic meaning: never written to the spec


def _activation_name(act, where):
    import torch.nn.functional as F
    from torch import nn

    if act is F.relu or isinstance(act, nn.ReLU):
        return "relu"
    if act is F.gelu or isinstance(act, nn.GELU) and act.approximate == "none":
        return "gelu"
    raise ImportFailure(f"{where}: activation {getattr(act, '__name__', type(act).__name__)} is not one netcalc's "
                        "TransformerEncoderLayer knows (relu, gelu)")


def _attr(mod, name, where):
    """The constructor argument ``name`` as the module remembers it (MISSING when it does not)."""
    from torch import nn

    if isinstance(mod, nn.TransformerEncoderLayer):
        sa = mod.self_attn
        return {"d_model": sa.embed_dim, "nhead": sa.num_heads, "dim_feedforward": mod.linear1.out_features,
                "dropout": mod.dropout.p, "activation": _activation_name(mod.activation, where),
                "layer_norm_eps": mod.norm1.eps, "batch_first": sa.batch_first, "norm_first": mod.norm_first,
                "bias": mod.linear1.bias is not None}.get(name, MISSING)
    if isinstance(mod, nn.MultiheadAttention):
        if name == "bias":
            return mod.in_proj_bias is not None
        if name == "add_bias_kv":
            return mod.bias_k is not None
        if name in ("kdim", "vdim"):
            v = getattr(mod, name)
            return MISSING if v == mod.embed_dim else v
    if name in UNWRITTEN:
        return MISSING
    if name == "init" and isinstance(mod, nn.PReLU):
        return MISSING
    v = getattr(mod, name, MISSING)
    if name == "bias" and not isinstance(v, bool) and v is not MISSING:
        v = v is not None
    if name == "bias" and v is False and (getattr(mod, "affine", True) is False
                                          or getattr(mod, "elementwise_affine", True) is False):
        return MISSING  # no affine parameters at all: bias says nothing more
    if callable(v) and not isinstance(v, (bool, int, float, str)):
        return MISSING
    return v


def module_entries(mod, path: str, in_shape: tuple, out_shape: tuple, call: int) -> list[Leaf]:
    """The netcalc layer(s) for a torch.nn leaf module called on ``in_shape``."""
    from torch import nn

    from .layers import lookup
    from .layers.registry import UnknownType

    scope, _, local = path.rpartition(".")
    scope_t = tuple(scope.split(".")) if scope else ()
    cname = type(mod).__name__
    where = f"{path} (nn.{cname})"
    if isinstance(mod, nn.TransformerEncoder):  # a stack of identical layers, plus an optional norm
        out = []
        for i, layer in enumerate(mod.layers):
            out += module_entries(layer, f"{path}.layers.{i}", out_shape, out_shape, call)
        if mod.norm is not None:
            out += module_entries(mod.norm, f"{path}.norm", out_shape, out_shape, call)
        return out
    if not type(mod).__module__.startswith("torch."):
        raise ImportFailure(f"{where}: a custom leaf module netcalc cannot look into")
    try:
        cls = lookup(cname, len(in_shape))
    except UnknownType:
        raise ImportFailure(f"{where}: netcalc has no layer type {cname} (netcalc layers lists them); "
                            "it cannot be imported") from None
    if cls.TYPE != cname:
        raise ImportFailure(f"{where}: netcalc has no layer type {cname}")
    if any(a.kind == "tensor" and a.default is REQUIRED for a in cls.ARGS):
        raise ImportFailure(f"{where}: reads a second tensor; netcalc import follows models of one tensor for now "
                            "(write the spec with inputs: and from:)")
    args = {}
    for a in cls.ARGS:
        v = _attr(mod, a.name, where)
        if v is MISSING:
            continue
        v = _plain(v)
        if v is None:
            continue  # the default, or (BatchNorm momentum=None) no arithmetic meaning where netcalc wants a number
        if a.name in INPUT_WIDTHS:
            if isinstance(v, list) and len(v) == 1:
                v = v[0]
            args[a.name] = v  # written out: netcalc checks it against the incoming shape
            continue
        source = cls.DEFAULT_FROM.get(a.name)  # a pool's stride defaults to its kernel_size
        if source and _same(v, _plain(getattr(mod, source, None))):
            continue
        default = a.default
        if default is not None and not isinstance(default, (int, float, str, bool, tuple, list)):
            default = None  # REQUIRED
        if default is not None and _same(v, _plain(default)):
            continue
        if isinstance(v, list) and v and all(x == v[0] for x in v) and a.kind in ("axes", "padding", "axes_or_auto"):
            v = v[0]
        args[a.name] = v
    params = sum(p.numel() for p in mod.parameters())
    if params and not any(p.requires_grad for p in mod.parameters()):
        args["trainable"] = False  # requires_grad_(False): a frozen layer
    return [Leaf(cls.TYPE, args, local, scope_t, tuple(out_shape), path=path, module=mod, params=params, call=call)]


# ----------------------------------------------------------------------------- fx: functions and methods

def _fn_tables():
    """(torch function or Tensor method name → layer class, merges, pass-throughs) for fx call nodes;
    the layer classes say which torch calls they stand for (``Layer.TORCH_FUNCTIONS``)."""
    import torch

    merges = {operator.add: "add", operator.iadd: "add", torch.add: "add", "add": "add", "add_": "add",
              operator.mul: "mul", operator.imul: "mul", torch.mul: "mul", "mul": "mul", "mul_": "mul",
              torch.cat: "cat", torch.concat: "cat", getattr(torch, "concatenate", torch.cat): "cat"}
    passthrough = {"contiguous", "clone", "detach", "float", "to", "type_as", "requires_grad_", torch.clone,
                   torch.Tensor.contiguous}
    return _call_kinds(), merges, passthrough


def _call_kinds() -> dict:
    """What each torch call named in the registry's TORCH_FUNCTIONS is: ``F.relu`` (the function
    object) → ReLU, ``.relu`` (fx's call_method target, the method name) → ReLU."""
    import torch
    import torch.nn.functional as F

    from .layers import REGISTRY

    namespaces = {"F": F, "torch": torch, "operator": operator}
    kinds: dict = {}
    for cls in REGISTRY.values():
        for call in cls.TORCH_FUNCTIONS:
            where, _, name = call.rpartition(".")
            target = getattr(namespaces[where], name, None) if where else name
            if target is not None:  # None: not in this torch version
                kinds.setdefault(target, cls)  # ranks of one family share F.pad: the first decides
    return kinds


# Tensor methods that take their one list argument as separate arguments too
VARARG_METHODS = ("permute",)


def _bind(node, fn=None):
    """The call's arguments by name (``normalize_function`` where torch knows the schema)."""
    from torch.fx.operator_schemas import normalize_function

    target = fn if fn is not None else node.target
    args = node.args[1:] if node.op == "call_method" else node.args
    if node.op == "call_method":
        import torch

        target = getattr(torch, node.target, None)
        args = node.args
        if node.target in VARARG_METHODS and len(args) > 1 and not isinstance(args[1], (list, tuple)):
            args = (args[0], tuple(args[1:]))  # x.permute(0, 2, 1) is torch.permute(x, (0, 2, 1))
    try:
        pair = normalize_function(target, tuple(args), dict(node.kwargs), normalize_to_only_use_kwargs=True)
    except Exception:  # noqa: BLE001 (torch's schema lookup can fail in many ways)
        pair = None
    if pair is not None:
        return dict(pair.kwargs)
    import inspect

    try:
        return dict(inspect.signature(target).bind(*args, **node.kwargs).arguments)
    except (TypeError, ValueError):
        return dict(node.kwargs)


# ----------------------------------------------------------------------------- the data-flow graph

@dataclass(eq=False)
class Op:
    """A vertex of the simplified data-flow graph: the input, a run of layers, or a merge."""

    kind: str  # "source", "layer", "merge"
    name: str
    order: int
    inputs: list = field(default_factory=list)
    entries: list = field(default_factory=list)  # layer: the Leaf entries, in order
    merge: str | None = None  # "add", "cat", "mul"
    dim: int | None = None
    scope: tuple = ()
    shape: tuple = ()
    node_name: str = ""
    reads: list = field(default_factory=list)  # layer: the argument each of inputs[1:] fills (Matmul's other)
    piece: str | None = None  # piece: the name of this piece of its input's split


@dataclass(eq=False)
class Unbound:
    """``x.unbind(dim)``: its pieces are ``x`` selected at 0, 1, ... along ``dim``."""

    source: Any
    dim: int


@dataclass(eq=False)
class Learned:
    """A tensor the model holds (``self.class_token``), not computed from the input."""

    target: str
    numel: int
    shape: tuple
    is_param: bool
    lookup: bool = False  # an nn.Embedding table looked up with ids not computed from the input (positions)


@dataclass(eq=False)
class Const:
    """A tensor forward builds without the input's values (``torch.arange(L)``, ``torch.zeros_like(ids)``)."""

    name: str


# calls that leave the data's shape and count no MACs when the rest of their arguments are numbers
# or constants: a scaling, a shift, a mask applied (FlopCounterMode counts none of them)
SCALED = {"mul", "truediv", "div", "sub", "rsub", "neg", "pos", "masked_fill", "imul", "itruediv", "isub",
          "floordiv", "true_divide", "multiply", "divide", "subtract"}


def _is_data(held) -> bool | None:
    """Whether a converted value follows the input (True), is the model's own or a constant (False)."""
    if isinstance(held, Op):
        return True
    if isinstance(held, (Const, Learned)):
        return False
    return None


def _is_constant(held) -> bool:
    """A constant, or a buffer (a causal mask): nothing learned, nothing from the input."""
    return isinstance(held, Const) or isinstance(held, Learned) and not held.is_param and not held.lookup


CONST_MAKERS = {"arange", "zeros", "ones", "full", "empty", "zeros_like", "ones_like", "full_like", "empty_like",
                "new_zeros", "new_ones", "new_full", "new_empty"}


def _shape_of(node):
    tm = node.meta.get("tensor_meta")
    if tm is None:
        return None
    if hasattr(tm, "shape"):
        return tuple(int(d) for d in tm.shape)
    if isinstance(tm, (tuple, list)) and tm and hasattr(tm[0], "shape"):
        return tuple(int(d) for d in tm[0].shape)
    return None


def _is_tuple_valued(node) -> bool:
    tm = node.meta.get("tensor_meta")
    return isinstance(tm, (tuple, list)) and not hasattr(tm, "shape")  # TensorMetadata is a NamedTuple


def _scope_of_node(node) -> tuple:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ()
    path = list(stack.values())[-1][0]
    return tuple(path.split(".")) if path else ()


def _nodes_in(arg) -> list:
    from torch.fx import Node

    out = []

    def visit(a):
        if isinstance(a, Node):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            for x in a:
                visit(x)
        elif isinstance(a, dict):
            for x in a.values():
                visit(x)
        elif isinstance(a, slice):
            for x in (a.start, a.stop, a.step):
                visit(x)

    visit(arg)
    return out


class Converter:
    """fx graph → :class:`Op` graph → nested entries."""

    def __init__(self, gm, model):
        self.gm, self.model = gm, model
        self.tables = _fn_tables()
        self.ops: dict = {}  # fx node → Op (pass-through nodes map to their input's Op)
        self.calls: dict[str, int] = {}
        self.used_tensors: dict[str, int] = {}  # get_attr parameters folded into layers → numel
        self.warnings: list[str] = []
        self.order = 0
        self.names: dict = {}  # fx node → its local name
        self.taken: dict[tuple, set] = {}  # module scope → names in use
        self.cats: dict[tuple, Op] = {}  # (dim, ids of the concatenated Ops) → the Op holding that tensor

    def describe(self, node) -> str:
        if node.op == "call_module":
            return f"{node.target} (nn.{type(self.gm.get_submodule(node.target)).__name__})"
        target = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
        kind = "method" if node.op == "call_method" else "function"
        scope = ".".join(_scope_of_node(node))
        return f"{kind} {target} ({node.name}{' in ' + scope if scope else ''})"

    def local_name(self, node, base: str | None = None) -> str:
        """A tensor op's name, numbered within its module (relu, relu_1, ...), so that instances of one
        module class name their ops alike; the module's own children keep their names."""
        scope = _scope_of_node(node)
        if node in self.names:
            return self.names[node]
        if scope not in self.taken:
            try:
                self.taken[scope] = {n for n, _ in self.gm.get_submodule(".".join(scope)).named_children()}
            except AttributeError:
                self.taken[scope] = set()
        taken = self.taken[scope]
        base = base or re.sub(r"_\d+$", "", node.name)
        name, k = base, 0
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        self.names[node] = name
        return name

    def fail(self, node, why: str):
        raise ImportFailure(f"{self.describe(node)}: {why}")

    # ---------------------------------------------------------------- which inputs carry data

    def data_inputs(self, node) -> list:
        merges = self.tables[1]
        if node.op == "call_module":
            mod = self.gm.get_submodule(node.target)
            from torch import nn

            if isinstance(mod, nn.MultiheadAttention):
                return _nodes_in(node.args[:3]) or _nodes_in(list(node.kwargs.values()))
            first = node.args[0] if node.args else next(iter(node.kwargs.values()), None)
            return _nodes_in(first)[:1]
        if node.op == "output":
            return _nodes_in(node.args[0])
        if node.op in ("call_function", "call_method"):
            t = node.target
            if merges.get(t) == "cat":
                tensors = node.args[0] if node.args else node.kwargs.get("tensors", ())
                return _nodes_in(tensors)
            if merges.get(t) in ("add", "mul"):
                return [n for n in _nodes_in(list(node.args[:2]) + list(node.kwargs.values()))
                        if n.op == "get_attr" or _shape_of(n) is not None or _is_tuple_valued(n)]
            if t in ("type_as", "view_as", "expand_as", "reshape_as"):
                return _nodes_in(node.args[0])
            return [n for n in _nodes_in((node.args, node.kwargs))
                    if n.op == "get_attr" or _shape_of(n) is not None or _is_tuple_valued(n)]
        return []

    # ---------------------------------------------------------------- the pass over the graph

    def run(self):
        graph = self.gm.graph
        out_node = next(n for n in graph.nodes if n.op == "output")
        outs = self.data_inputs(out_node)
        if not outs:
            raise ImportFailure("the model's forward returns no tensor")
        result = outs[0]
        if len(outs) > 1:
            self.warnings.append(f"forward returns {len(outs)} tensors; the spec follows the first ({result.name})")
        live, stack = set(), [result]
        while stack:
            n = stack.pop()
            if n in live:
                continue
            live.add(n)
            stack.extend(self.data_inputs(n))
        for node in graph.nodes:
            if node in live:
                self.convert(node)
        end = self.ops[result]
        return self.structure(end)

    def new_op(self, kind, node, **kw) -> Op:
        self.order += 1
        for leaf in kw.get("entries", ()):
            leaf.order = self.order
        return Op(kind, self.describe(node), self.order, scope=_scope_of_node(node), shape=_shape_of(node) or (),
                  node_name=self.local_name(node) if kind == "merge" else node.name, **kw)

    def source_of(self, node) -> Op:
        op = self.ops.get(node)
        if op is None:
            self.fail(node, "is used before it is computed")
        if op == "state":
            self.fail(node, "uses a recurrent layer's state (h_n/c_n); netcalc follows the output sequence only")
        if isinstance(op, Const):
            self.fail(node, "uses a tensor that does not come from the model's input (netcalc follows one input "
                            "tensor; position ids looked up in an nn.Embedding and added to the data are the one "
                            "use it can express)")
        if isinstance(op, Learned) and op.lookup:
            self.fail(node, f"uses the lookup of {op.target} in a table with fixed ids other than by adding it to "
                            "the data; netcalc cannot express that")
        if isinstance(op, Learned):
            self.fail(node, f"uses the tensor self.{op.target} directly in forward; netcalc cannot express that "
                            "(wrap it in a module netcalc knows, e.g. nn.Linear)")
        return op

    def convert(self, node):
        from torch import nn

        merges, passthrough = self.tables[1], self.tables[2]
        if node.op == "placeholder":
            if any(isinstance(o, Op) and o.kind == "source" for o in self.ops.values()):
                self.fail(node, "a second input; netcalc import handles models with one input tensor")
            self.ops[node] = Op("source", node.name, 0)
            return
        if node.op == "get_attr":
            t = self._tensor(node.target)
            self.ops[node] = Learned(node.target, t.numel(), tuple(t.shape), self._is_param(node.target))
            return
        inputs = self.data_inputs(node)
        held = [self.ops.get(n) for n in inputs]
        fname = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
        if node.op in ("call_method", "call_function") and (
                fname in CONST_MAKERS or held and all(isinstance(h, Const) for h in held)):
            self.ops[node] = Const(node.name)  # torch.arange(L).expand(n, L): position ids, not data
            return
        if node.op in ("call_method", "call_function") and held and all(_is_constant(h) for h in held):
            self.ops[node] = Const(node.name)  # self.bias[:, :, :T, :T] == 0: a mask made from a buffer
            return
        if node.op == "call_module" and held and all(isinstance(h, Const) for h in held):
            mod = self.gm.get_submodule(node.target)
            if not isinstance(mod, nn.Embedding):
                self.fail(node, "is applied to a tensor that does not come from the model's input; netcalc can "
                                "express an nn.Embedding looked up with fixed ids (positions) and added to the data")
            self.calls[node.target] = self.calls.get(node.target, 0) + 1
            w = mod.weight
            self.ops[node] = Learned(node.target, w.numel(), tuple(w.shape), True, lookup=True)
            return
        if held and all(isinstance(h, Learned) for h in held) and node.op in ("call_method", "call_function") and \
                (node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")) in (
                    "expand", "repeat", "expand_as", "to", "type_as", "contiguous", "clone"):
            self.ops[node] = held[0]  # self.class_token.expand(n, -1, -1) is still the class token
            return
        if node.op == "call_module":
            mod = self.gm.get_submodule(node.target)
            srcs = [self.source_of(n) for n in inputs]
            if isinstance(mod, nn.MultiheadAttention) and len({id(s) for s in srcs}) > 1:
                self.fail(node, "attention with different query, key and value tensors; netcalc's "
                                "MultiheadAttention is self-attention on one input")
            if not srcs:
                self.fail(node, "has no input tensor")
            call = self.calls.get(node.target, 0)
            self.calls[node.target] = call + 1
            if call and any(True for _ in mod.parameters()):
                self.fail(node, f"is called {call + 1} times with the same weights; netcalc would count its "
                                "parameters once per call, so the totals would be wrong")
            in_shape = srcs[0].shape if srcs[0].kind != "source" else self.input_shape
            entries = module_entries(mod, node.target, in_shape, _shape_of(node), call)
            op = self.new_op("layer", node, inputs=[srcs[0]], entries=entries)
            self.ops[node] = op
            return
        if node.op not in ("call_function", "call_method"):
            self.fail(node, f"unexpected graph node {node.op}")
        t = node.target
        shape = _shape_of(node)
        # getitem: tuple outputs of recurrent layers and attention, or tensor indexing
        if t is operator.getitem:
            src_node = node.args[0]
            held_src = self.ops.get(src_node)
            if isinstance(held_src, Unbound):
                index = node.args[1]
                self.ops[node] = self.select(node, held_src.source, (slice(None),) * held_src.dim + (index,))
                return
            if isinstance(held_src, Op) and held_src.entries and held_src.entries[-1].args.get("names"):
                names = held_src.entries[-1].args["names"]
                i = node.args[1]
                if not isinstance(i, int) or not -len(names) <= i < len(names):
                    self.fail(node, "takes a piece of a split by an index netcalc cannot read")
                i %= len(names)
                self.ops[node] = held_src if i == 0 else self.new_op(
                    "piece", node, inputs=[held_src], piece=names[i])
                return
            if _is_tuple_valued(src_node):
                idx = node.args[1]
                if src_node.op == "call_module" and idx == 0:
                    self.ops[node] = self.source_of(src_node)
                    return
                self.ops[node] = "state"
                return
            self.ops[node] = self.select(node, self.source_of(src_node), node.args[1])
            return
        name = t if isinstance(t, str) else getattr(t, "__name__", "")
        data = [h for h in held if isinstance(h, Op)]
        if name.strip("_") in SCALED and len(data) == 1 and all(_is_constant(h) for h in held if h is not data[0]):
            self.ops[node] = data[0]  # x * scale, x / sqrt(d), att.masked_fill(mask, -inf): no layer, no MACs
            return
        if name == "unbind" and len(data) == 1:
            self.ops[node] = Unbound(data[0], _bind(node).get("dim", 0))
            return
        kind = merges.get(t)
        if kind is not None:
            self.merge_op(node, kind, inputs)
            return
        cls = self.tables[0].get(t)
        if cls is not None and cls.tensor_args():
            self.reading_op(node, cls)
            return
        srcs = [self.source_of(n) for n in inputs]
        if name in ("baddbmm", "linear", "conv1d", "conv2d", "conv3d"):
            self.fail(node, "computes with weights or several tensors directly in forward; netcalc counts layers "
                            "(use nn.Linear / nn.Conv2d / nn.MultiheadAttention modules)")
        if len({id(s) for s in srcs}) != 1:
            self.fail(node, "combines several tensors in a way netcalc cannot express" if srcs else
                      "makes a tensor that does not come from the model's input (netcalc follows one input "
                      "tensor, so position ids or masks built inside forward cannot be expressed)")
        src = srcs[0]
        if t in passthrough:
            self.ops[node] = src
            return
        in_shape = src.shape if src.kind != "source" else self.input_shape
        typ, args = self.function_layer(node, in_shape, shape)
        leaf = Leaf(typ, args, self.local_name(node), _scope_of_node(node), shape)
        if _is_tuple_valued(node):  # a split: its pieces are named, for the entries that read them
            args["names"] = [f"{leaf.name}_{i}" for i in range(len(node.meta["tensor_meta"]))]
        self.ops[node] = self.new_op("layer", node, inputs=[src], entries=[leaf])

    def reading_op(self, node, cls):
        """A call of several tensors (``q @ k.transpose(-2, -1)``, ``F.scaled_dot_product_attention``):
        the first is its input, the others fill its tensor arguments in order; masks built from the
        model's buffers or constants are left out, as FlopCounterMode leaves them."""
        tensors = _nodes_in((node.args, node.kwargs))
        data = [n for n in tensors if isinstance(self.ops.get(n), Op)]
        for n in tensors:
            if _is_data(self.ops.get(n)) is True and n not in data:
                self.source_of(n)  # says why that input cannot be followed
            if isinstance(self.ops.get(n), Learned) and self.ops[n].is_param:
                self.fail(node, f"computes with the parameter self.{self.ops[n].target} directly in forward; "
                                "netcalc counts layers (use nn.Linear / nn.Conv2d modules)")
        keys = [k for k in cls.tensor_args() if any(a.name == k and a.default is REQUIRED for a in cls.ARGS)]
        keys += [k for k in cls.tensor_args() if k not in keys]
        if not data or len(data) - 1 > len(keys) or len(data) - 1 < len(
                [k for k in keys if any(a.name == k and a.default is REQUIRED for a in cls.ARGS)]):
            self.fail(node, f"has {len(data)} input tensors; netcalc's {cls.TYPE} reads "
                            f"{1 + len(cls.tensor_args())} at most")
        main = self.source_of(data[0])
        in_shape = main.shape if main.kind != "source" else self.input_shape
        typ, args = self.function_layer(node, in_shape, _shape_of(node))
        for k in cls.tensor_args():
            args.pop(k, None)
        leaf = Leaf(typ, args, self.local_name(node), _scope_of_node(node), _shape_of(node))
        reads = keys[:len(data) - 1]
        self.ops[node] = self.new_op("layer", node, inputs=[main, *(self.source_of(n) for n in data[1:])],
                                     entries=[leaf], reads=reads)

    def merge_op(self, node, kind, inputs):
        srcs = [self.ops.get(n) for n in inputs]
        learned = [s for s in srcs if isinstance(s, Learned)]
        tensors = [self.source_of(n) for n, s in zip(inputs, srcs) if not isinstance(s, Learned)]
        shape = _shape_of(node)
        if learned and learned[0].lookup:
            t = learned[0]
            if kind != "add" or len(learned) != 1 or len(tensors) != 1 or tuple(shape) != tuple(tensors[0].shape):
                self.fail(node, f"uses the lookup of {t.target} in a table with fixed ids other than by adding it "
                                "to the data; netcalc cannot express that")
            # x + self.position_embeddings(arange(L)): the table is a learned tensor the data passes
            # (netcalc's Parameter, as the zoo's BERT writes it); the addition itself is not counted
            leaf = Leaf(tensor.Parameter.TYPE, {"shape": list(t.shape)}, t.target.rsplit(".", 1)[-1], _scope_of_node(node),
                        shape, path=t.target, module=self.gm.get_submodule(t.target), params=t.numel)
            self.ops[node] = self.new_op("layer", node, inputs=[tensors[0]], entries=[leaf])
            return
        if learned:
            t = learned[0]
            typ = None
            if len(learned) == 1 and len(tensors) == 1 and len(shape) == 3:
                if kind == "add" and t.shape == (1, *shape[1:]):
                    typ = tensor.PositionalEmbedding.TYPE  # x + self.pos_embedding
                elif kind == "cat" and isinstance(srcs[0], Learned) and t.shape == (1, 1, shape[2]) and \
                        _bind(node).get("dim", 0) in (1, -2):
                    typ = tensor.ClassToken.TYPE  # torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
            if typ is None:
                self.fail(node, f"uses the tensor self.{t.target} directly; netcalc can express a learned positional "
                                "embedding added to a (N, L, D) sequence and a class token put in front of it, "
                                "nothing else")
            if t.is_param:
                self.used_tensors[t.target] = t.numel
            leaf = Leaf(typ, {}, t.target.rsplit(".", 1)[-1], _scope_of_node(node), shape,
                        params=t.numel if t.is_param else 0)
            self.ops[node] = self.new_op("layer", node, inputs=[tensors[0]], entries=[leaf])
            return
        dim = None
        if kind == "cat":
            bound = _bind(node)
            dim = bound.get("dim", 0)
            if not isinstance(dim, int):
                self.fail(node, "concatenates along a dimension that is not a constant")
            if len(tensors) == 1:
                self.ops[node] = tensors[0]  # torch.cat([x]) is x
                return
            # torch.cat(features, 1) over a growing list (DenseNet): cat(a, b, c) is cat(cat(a, b), c),
            # so a list whose front was concatenated before joins that earlier tensor with the rest
            axis = dim % len(shape) if shape else dim
            key = (axis, tuple(id(t) for t in tensors))
            for k in range(len(tensors) - 1, 1, -1):
                prev = self.cats.get((axis, key[1][:k]))
                if prev is not None:
                    tensors = [prev] + tensors[k:]
                    break
        if len(tensors) < 2:
            self.fail(node, f"{'adds' if kind == 'add' else 'multiplies'} a tensor and a constant; netcalc has no "
                            "scalar arithmetic op")
        op = self.new_op("merge", node, inputs=tensors, merge=kind, dim=dim)
        self.ops[node] = op
        if kind == "cat":
            self.cats[key] = op

    def _tensor(self, target):
        obj = self.gm
        for part in target.split("."):
            obj = getattr(obj, part)
        return obj

    def _is_param(self, target) -> bool:
        try:
            self.gm.get_parameter(target)
            return True
        except AttributeError:
            return False

    def select(self, node, src: Op, index) -> Op:
        """``x[:, i]`` and friends: Select per integer index; only full slices around them."""
        shape_in = src.shape if src.kind != "source" else self.input_shape
        idx = index if isinstance(index, tuple) else (index,)
        if any(i is Ellipsis for i in idx):
            k = idx.index(Ellipsis)
            before, after = idx[:k], idx[k + 1:]
            if Ellipsis in after:
                self.fail(node, "indexing with two ellipses")
            idx = before + (slice(None),) * (len(shape_in) - len(before) - len(after)) + after
        entries, dim = [], 0
        for i in idx:
            if isinstance(i, slice) and i == slice(None):
                dim += 1
            elif isinstance(i, int) and not isinstance(i, bool):
                entries.append(Leaf(tensor.Select.TYPE, {"dim": dim, "index": i}, self.local_name(node, "select"),
                                    _scope_of_node(node), ()))
            else:
                self.fail(node, f"indexing {_show_index(index)} is not expressible; netcalc has Select for "
                                "x[:, i] (one position of one dimension) and nothing for slices or masks")
        if not entries:
            return src
        # intermediate shapes: drop the selected dims one by one
        shape = list(shape_in)
        for e in entries:
            del shape[e.args["dim"]]
            e.shape = tuple(shape)
        return self.new_op("layer", node, inputs=[src], entries=entries)

    def function_layer(self, node, x: tuple, y: tuple):
        """(netcalc type, args) for a shape-changing function or method call."""
        if y is None:
            self.fail(node, "does not produce a tensor netcalc can follow")
        cls = self.tables[0].get(node.target)
        if cls is None:
            self.fail(node, "is not an operation netcalc can express (it knows the torch.nn layers, +, *, torch.cat, "
                            "reshapes, permute/transpose, mean, x[:, i], interpolate, pad and the common activations)")
        bound = {k: v for k, v in _bind(node).items() if k not in UNWRITTEN}
        try:
            kind, args = cls.from_call(bound, x, y)
        except ValueError as e:
            self.fail(node, str(e))
        return kind.TYPE, args

    # ---------------------------------------------------------------- series-parallel structure

    def structure(self, end: Op) -> list:
        ops = sorted({id(o): o for o in self.ops.values() if isinstance(o, Op)}.values(), key=lambda o: o.order)
        idom = {}
        for op in ops:
            if op.kind == "source":
                idom[op] = op
                continue
            d = op.inputs[0]
            for other in op.inputs[1:]:
                d = self._meet(d, other, idom)
            idom[op] = d
        self.idom = idom
        self.claimed = set()
        source = next(o for o in ops if o.kind == "source")
        return self.chain(source, end)

    @staticmethod
    def _meet(a: Op, b: Op, idom) -> Op:
        while a is not b:
            while a.order > b.order:
                a = idom[a]
            while b.order > a.order:
                b = idom[b]
        return a

    def chain(self, start: Op, end: Op) -> list:
        items = []
        op = end
        while op is not start:
            if id(op) in self.claimed:
                raise ImportFailure(f"{op.name}: its output feeds branches that join at different places "
                                    "(DenseNet-style reuse); netcalc's residual/concat/add entries cannot express "
                                    "this data flow")
            self.claimed.add(id(op))
            if op.kind == "source":
                raise ImportFailure(f"internal: the walk from {end.name} passed the network input before {start.name}")
            if op.kind == "piece":
                items.append(PieceRef(op.inputs[0].entries[-1], op.piece, op.scope, op.order))
                op = op.inputs[0]
                continue
            if op.kind == "layer" and op.reads:
                fork = self.idom[op]
                branches = [self.chain(fork, i) for i in op.inputs]
                items.append(Join(op.entries[-1], op.reads, branches, op.entries[-1].scope))
                op = fork
                continue
            if op.kind == "layer":
                items.extend(reversed(op.entries))
                op = op.inputs[0]
                continue
            fork = self.idom[op]
            branches = [self.chain(fork, i) for i in op.inputs]
            items.append(Merge(op.merge, op.node_name, op.scope, op.shape, branches, op.dim))
            op = fork
        return items[::-1]


def _show_index(index) -> str:
    def one(i):
        if isinstance(i, slice):
            parts = ["" if v is None else str(v) for v in (i.start, i.stop)]
            s = ":".join(parts)
            return s + (f":{i.step}" if i.step is not None else "")
        if i is Ellipsis:
            return "..."
        if i is None:
            return "None"
        return str(i) if isinstance(i, int) else type(i).__name__
    idx = index if isinstance(index, tuple) else (index,)
    return "x[" + ", ".join(one(i) for i in idx) + "]"


# ----------------------------------------------------------------------------- hooks fallback: plain chains

def chain_by_hooks(model, x, input_shape) -> list:
    """Leaf module calls recorded with forward hooks, accepted when each call consumes the previous output."""
    import torch

    calls = []
    handles = []
    from torch import nn

    leaves = [(p, m) for p, m in model.named_modules() if p and not any(True for _ in m.children())
              or isinstance(m, nn.TransformerEncoder)]
    skip_inside = {p for p, m in leaves if isinstance(m, nn.TransformerEncoder)}
    leaves = [(p, m) for p, m in leaves if not any(p.startswith(s + ".") for s in skip_inside)]
    for path, mod in leaves:
        def hook(m, args, out, path=path):
            calls.append((path, m, args[0] if args else None, out))
        handles.append(mod.register_forward_hook(hook))
    try:
        with torch.no_grad():  # real tensors: a model fx cannot trace may branch on values
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    if isinstance(out, (tuple, list)):
        out = out[0]
    items, prev, counts = [], x, {}
    for path, mod, inp, y in calls:
        first = y[0] if isinstance(y, (tuple, list)) else y
        if inp is not prev:
            raise ImportFailure(f"{path} (nn.{type(mod).__name__}) does not take the previous layer's output "
                                "(forward does more than chain modules)")
        k = counts.get(path, 0)
        counts[path] = k + 1
        if k and any(True for _ in mod.parameters()):
            raise ImportFailure(f"{path} (nn.{type(mod).__name__}) is called {k + 1} times with the same weights; "
                                "netcalc would count its parameters once per call")
        in_shape = tuple(prev.shape)
        items += module_entries(mod, path, in_shape, tuple(first.shape), k)
        prev = first
    if out is not prev:
        raise ImportFailure("the model's output is not the last module's output (forward computes after it)")
    return items


# ----------------------------------------------------------------------------- the whole import

def parse_input(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        dims = ()
    if not dims or any(d < 1 for d in dims):
        raise ValueError(f"--input {text}: expected positive integers separated by commas, e.g. 1,3,224,224")
    return dims


def import_model(model, input_shape: tuple, source: str | None = None) -> Imported:
    """The spec for ``model`` on an input of ``input_shape``, checked against torch."""
    from torch import fx

    model.eval()
    warnings: list[str] = []
    used_tensors: dict[str, int] = {}
    try:
        shadow = meta_copy(model)
        graph = shape_tracer(input_shape).trace(shadow)
        gm = fx.GraphModule(shadow, graph)
        traced, trace_error = True, None
    except Exception as e:  # noqa: BLE001 (the user's code may raise anything)
        traced, trace_error = False, _first_line(e)
    if traced:
        needed = [n.target for n in gm.graph.nodes if n.op == "placeholder" and not n.args]
        if len(needed) > 1:
            raise ImportFailure(f"forward takes {len(needed)} inputs ({', '.join(needed)}); netcalc import handles "
                                "models with one input tensor")
    x = _example_input(model, gm.graph if traced else None, input_shape)
    if traced:
        propagate(gm, x, input_shape)
        conv = Converter(gm, model)
        conv.input_shape = tuple(input_shape)
        items = conv.run()
        warnings += conv.warnings
        used_tensors = conv.used_tensors
    else:
        warnings.append(f"torch.fx cannot trace {type(model).__name__} ({trace_error}); its modules form a plain "
                        "chain, so the spec follows their calls")
        try:
            items = chain_by_hooks(model, x, input_shape)
        except ImportFailure as e:
            raise ImportFailure(f"torch.fx cannot trace {type(model).__name__} ({trace_error}), and {e}") from None
        except Exception as e:  # noqa: BLE001 (the user's code may raise anything)
            raise ImportFailure(f"running the model on an input of shape {list(input_shape)} failed: "
                                f"{_first_line(e)}") from None
    if not items:
        raise ImportFailure("the model's output is its input: there are no layers to write")
    mark_shared(items)
    items = group(items, ())
    blocks = share_blocks(items, model)
    layers, input_read = emit(items, 2, INPUT_NAME)
    shape = scalar(list(input_shape))
    header = [f"# Imported from {source} by netcalc import" if source else "# Imported by netcalc import",
              f"name: {scalar(type(model).__name__)}",
              f"inputs: {{{INPUT_NAME}: {shape}}}" if input_read else f"input: {shape}"]
    if blocks:
        header.append("blocks:")
        for name, seq in blocks.items():
            header += [f"  {name}:", "    layers:"] + emit(seq.items, 6)[0]
    text = "\n".join(header + ["layers:"] + layers) + "\n"
    report, origins = check(text, items, model, used_tensors, warnings)
    total = sum(p.numel() for p in model.parameters())
    return Imported(text, origins, report, warnings, total)


def shape_tracer(input_shape):
    """torch.fx's tracer, with each traced value's meta tensor alongside, so that forward reads
    sizes as the numbers they are when it runs: ``math.sqrt(k.size(-1))`` and
    ``self.bias[:, :, :T, :T]`` (nanoGPT's attention) trace, where plain fx fails (as Hugging Face's
    HFTracer does). Buffers become graph nodes too, so a causal mask is seen as the model's own tensor."""
    import torch
    from torch import fx, nn
    from torch.fx.node import map_aggregate

    class MetaProxy(fx.Proxy):
        def __getattr__(self, k):
            val = self.tracer.values.get(self.node)
            if isinstance(val, torch.Tensor) and k in ("shape", "ndim", "size", "dim", "numel"):
                return getattr(val, k)
            return super().__getattr__(k)

    class ShapeTracer(fx.Tracer):
        proxy_buffer_attributes = True

        def __init__(self):
            super().__init__()
            self.values: dict = {}  # fx node → its meta value, when it could be computed
            self.evaluating = False  # computing a meta value: modules run plainly, nothing is recorded

        def call_module(self, m, forward, args, kwargs):
            return forward(*args, **kwargs) if self.evaluating else super().call_module(m, forward, args, kwargs)

        def getattr(self, attr, attr_val, parameter_proxy_cache):
            return attr_val if self.evaluating else super().getattr(attr, attr_val, parameter_proxy_cache)

        def proxy(self, node):
            return MetaProxy(node, self)

        def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
            proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
            self.evaluating = True
            try:
                self.values[proxy.node] = self.evaluate(kind, target, args, kwargs)
            except Exception:  # noqa: BLE001 (no meta value: its sizes stay graph nodes, as plain fx)
                pass
            finally:
                self.evaluating = False
            return proxy

        def evaluate(self, kind, target, args, kwargs):
            def value(a):
                if isinstance(a, fx.Proxy):
                    return self.values[a.node]
                return a

            args, kwargs = map_aggregate(args, value), map_aggregate(kwargs, value)
            if kind == "placeholder":
                return torch.empty(input_shape, device="meta")
            if kind == "get_attr":
                obj = self.root
                for part in target.split("."):
                    obj = getattr(obj, part)
                return obj
            if kind == "call_module":
                mod = self.root.get_submodule(target)
                if isinstance(mod, nn.Embedding) and args and args[0].is_floating_point():
                    args = (args[0].long(), *args[1:])  # token ids
                return mod(*args, **kwargs)
            if kind == "call_method":
                return getattr(args[0], target)(*args[1:], **kwargs)
            return target(*args, **kwargs)

    return ShapeTracer()


def meta_copy(model):
    """The model with every parameter and buffer on the meta device: shapes without data or arithmetic."""
    import copy

    import torch

    memo = {}
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in memo:
            m = torch.empty_like(t, device="meta")
            memo[id(t)] = torch.nn.Parameter(m, requires_grad=t.requires_grad) if isinstance(
                t, torch.nn.Parameter) else m
    return copy.deepcopy(model, memo)


def propagate(gm, x, input_shape):
    """Run the traced graph on fake tensors and store each node's output shape as ``tensor_meta``."""
    import torch
    from torch import fx
    from torch.fx.node import map_aggregate
    from torch.fx.passes.shape_prop import _extract_tensor_metadata

    failure: list[str] = []

    class Shapes(fx.Interpreter):
        def run_node(self, n):
            try:
                result = super().run_node(n)
            except Exception as e:
                if n.op == "call_module":
                    desc = f"{n.target} (nn.{type(self.module.get_submodule(n.target)).__name__})"
                else:
                    desc = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", n.name)
                failure.append(f"running the model on an input of shape {list(input_shape)} failed at {desc}: "
                               f"{_first_line(e)}")
                raise
            found = []

            def meta(obj):
                if isinstance(obj, torch.Tensor):
                    found.append(obj)
                    return _extract_tensor_metadata(obj)
                return obj

            tm = map_aggregate(result, meta)
            if found:
                n.meta["tensor_meta"] = tm
            return result

    try:
        with torch.no_grad():
            Shapes(gm).run(x.to("meta"))
    except Exception as e:  # noqa: BLE001 (the user's code may raise anything)
        raise ImportFailure(failure[0] if failure else f"running the model failed: {_first_line(e)}") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"


def _example_input(model, graph, shape):
    """Random floats, or token ids (zeros) when the input goes straight into an Embedding."""
    import torch
    from torch import nn

    long_input = False
    if graph is not None:
        ph = next((n for n in graph.nodes if n.op == "placeholder"), None)
        for user in (ph.users if ph is not None else ()):
            if user.op == "call_module" and isinstance(model.get_submodule(user.target), nn.Embedding):
                long_input = True
    else:
        first = next((m for m in model.modules() if not any(True for _ in m.children())), None)
        long_input = isinstance(first, nn.Embedding)
    if long_input:
        return torch.zeros(shape, dtype=torch.long)
    return torch.randn(shape)


def check(text: str, items: list, model, used_tensors: dict, warnings: list):
    """Analyse the spec with netcalc and compare every row with torch; raise on any difference."""
    from .errors import SpecError
    from .network import analyze
    from .spec import parse

    try:
        report = analyze(parse(text, "imported.yaml"))
    except SpecError as e:
        raise ImportFailure(f"netcalc rejects the imported spec ({e.render('imported.yaml')}); "
                            "nothing was written (please report this)") from None
    rows = rows_of(items)
    if len(rows) != len(report.layers):
        raise ImportFailure(f"internal: {len(rows)} entries but netcalc made {len(report.layers)} rows")
    origins = []
    for item, row in zip(rows, report.layers):
        where = getattr(item, "path", None) or item.name
        want = tuple(item.shape)
        got = tuple(row.output_shape)
        if want and got != want:
            raise ImportFailure(f"{where} ({row.type}): netcalc gives output {list(got)} but torch gives "
                                f"{list(want)}; nothing was written (please report this)")
        params = item.params if isinstance(item, Leaf) else 0
        if isinstance(item, Leaf) and item.params is None:
            params = 0
        if params is not None and row.params != params:
            raise ImportFailure(f"{where} ({row.type}): netcalc counts {row.params} parameters but torch has "
                                f"{params}; nothing was written (please report this)")
        origins.append(Origin(item.path if isinstance(item, Leaf) else None,
                              item.call if isinstance(item, Leaf) else 0, row.type, want, params))
    called = {o.path for o in origins if o.path}
    counted = sum(o.params or 0 for o in origins if o.path and o.call == 0) + sum(used_tensors.values())
    total = sum(p.numel() for p in model.parameters())
    if counted != total:
        unused = [p for p, m in model.named_modules() if p and not any(True for _ in m.children())
                  and p not in called and not any(c.startswith(p + ".") or p.startswith(c + ".") for c in called)
                  and any(True for _ in m.parameters())]
        missing = total - counted
        warnings.append(f"{missing:,} of the model's {total:,} parameters are never used by forward"
                        + (f" ({', '.join(unused[:5])}{', ...' if len(unused) > 5 else ''})" if unused else "")
                        + "; the spec counts what forward computes")
    return report, origins
