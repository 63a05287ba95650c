"""``netcalc check``: build netcalc's exported module in PyTorch and compare, layer by layer.

The module :func:`netcalc.export.export` writes is executed (netcalc's own generated code, in a
fresh namespace), built on the meta device (no memory, no data) and run once on a meta tensor
of the input shape. Forward hooks on the module of every netcalc layer record its input and
output shapes (and RNN states), a torch function mode records the residual adds, concats and
gates written in the forward methods, and ``torch.utils.flop_counter.FlopCounterMode`` counts
the MACs of every conv, linear and attention module (attention in train mode inside
``sdpa_kernel(SDPBackend.MATH)``, as the contract says). Each is compared with netcalc's row.

PyTorch is imported here only, and only when a check runs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from .export import Export, export
from .symbolic import normalize

TORCH_MISSING = "netcalc check needs PyTorch: pip install 'netcalc[torch]'"
MERGE_FUNCS = {"add": "add", "__add__": "add", "__radd__": "add", "cat": "cat", "concat": "cat",
               "concatenate": "cat", "mul": "mul", "__mul__": "mul", "__rmul__": "mul"}
CPU_LIMIT = 512 * 2**20  # bytes of parameters and activations a CPU fallback may allocate


class TorchMissing(ImportError):
    pass


def import_torch():
    try:
        with warnings.catch_warnings():  # a torch wheel without numpy warns at import; check needs no numpy
            warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
            import torch
    except ImportError:
        raise TorchMissing(TORCH_MISSING) from None
    return torch


@dataclass
class Pair:
    """One quantity as netcalc states it and as torch measured it (None: not measured)."""

    netcalc: object
    torch: object = None
    measured: bool = True

    @property
    def agree(self) -> bool:
        return not self.measured or self.netcalc == self.torch


@dataclass
class LayerCheck:
    index: int
    name: str
    type: str
    module: str  # the torch module path, or the merge written in forward ("+", "cat", "*")
    output_shape: Pair
    state_shapes: Pair | None = None
    params: Pair | None = None  # parameter count (None for merges)
    param_shapes: Pair | None = None  # name → shape
    macs: Pair | None = None  # None where the contract does not define them through FlopCounterMode

    @property
    def differences(self) -> list[str]:
        out = []
        for what, pair in (("output shape", self.output_shape), ("state shapes", self.state_shapes),
                           ("parameters", self.params), ("parameter shapes", self.param_shapes),
                           ("MACs", self.macs)):
            if pair is not None and not pair.agree:
                out.append(f"{what}: netcalc {_text(pair.netcalc)}, torch {_text(pair.torch)}")
        return out

    @property
    def agree(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict:
        def pair(p):
            if p is None:
                return None
            return {"netcalc": _json(p.netcalc), "torch": _json(p.torch) if p.measured else None,
                    "measured": p.measured}

        return {"index": self.index, "name": self.name, "type": self.type, "module": self.module,
                "output_shape": pair(self.output_shape), "state_shapes": pair(self.state_shapes),
                "params": pair(self.params), "macs": pair(self.macs), "agree": self.agree,
                "differences": self.differences}


@dataclass
class CheckResult:
    name: str | None
    torch_version: str
    device: str
    layers: list[LayerCheck] = field(default_factory=list)
    params: Pair | None = None  # the whole model
    error: str | None = None  # torch refused to build or run the module
    note: str | None = None

    @property
    def differences(self) -> int:
        return sum(not r.agree for r in self.layers) + int(self.params is not None and not self.params.agree) + int(
            self.error is not None)

    @property
    def agree(self) -> bool:
        return self.differences == 0

    def counts(self) -> dict:
        """(agreeing, compared) per quantity."""
        out = {}
        for key in ("output_shape", "params", "macs"):
            pairs = [getattr(r, key) for r in self.layers if getattr(r, key) is not None and getattr(r, key).measured]
            out[key] = (sum(p.agree for p in pairs), len(pairs))
        return out

    def to_dict(self) -> dict:
        return {"name": self.name, "torch": self.torch_version, "device": self.device, "agree": self.agree,
                "differences": self.differences, "error": self.error, "note": self.note,
                "totals": {"params": None if self.params is None else {
                    "netcalc": self.params.netcalc, "torch": self.params.torch}},
                "layers": [r.to_dict() for r in self.layers]}


def _json(v):
    if isinstance(v, tuple):
        return [_json(i) for i in v]
    if isinstance(v, dict):
        return {k: _json(i) for k, i in v.items()}
    return v


def _text(v) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(str(i) for i in v) + ")"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_text(i)}" for k, i in v.items()) + "}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


# ----------------------------------------------------------------------------- running

def check(spec, values: dict | None = None, no_bias: bool = False, source: str | None = None) -> CheckResult:
    """Export ``spec`` (every symbol needs a value), run it in torch, compare every layer."""
    import_torch()
    return run(export(spec, values, no_bias, source=source))


def check_text(text: str, filename: str = "spec.yaml", values: dict | None = None, no_bias: bool = False):
    from .spec import parse

    return check(parse(text, filename), values, no_bias, filename)


class GeneratedCodeError(Exception):
    """netcalc's export is not valid Python: netcalc's fault, never reported as a torch difference."""


def build(exp: Export, device: str = "meta"):
    """The exported module, built on ``device``."""
    import torch

    try:  # every input text in the code is escaped (netcalc.escape): failing to compile is netcalc's bug
        code = compile(exp.code, "<netcalc export>", "exec")
    except SyntaxError as e:
        raise GeneratedCodeError(f"netcalc wrote Python that does not compile ({e.msg}, line {e.lineno}); "
                                 "this is a netcalc bug, not a torch difference") from None
    namespace = {"__name__": "netcalc_export"}
    exec(code, namespace)  # noqa: S102 (netcalc's own generated code)
    with torch.device(device), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return namespace[exp.class_name]()


def run(exp: Export) -> CheckResult:
    import torch

    result = CheckResult(exp.report.name, torch.__version__.split("+")[0], "meta")
    size = sum(normalize(r.activation_bytes) + normalize(r.param_bytes) for r in exp.report.layers)
    for device in ("meta", "cpu"):
        try:
            model = build(exp, device)
        except GeneratedCodeError:
            raise
        except Exception as e:  # noqa: BLE001  torch refuses a module netcalc accepted
            result.error = f"torch refused to build the module: {type(e).__name__}: {e}"
            result.device = device
            return result
        probe = Probe(exp, model)
        try:
            probe.run(device)
        except NotImplementedError as e:  # an op without a meta kernel: measure on real zeros if small
            if device == "meta" and size <= CPU_LIMIT:
                continue
            result.note = f"not measured: {type(e).__name__}: {e}"
            probe = None
        except Exception as e:  # noqa: BLE001  torch refuses to run what netcalc accepted
            where = probe.current()
            result.error = f"torch refused to run {where or 'the module'}: {type(e).__name__}: {e}"
        result.device = device
        compare(exp, model, probe, result)
        return result
    return result  # pragma: no cover


class Probe:
    """Hooks on every module a netcalc row maps to, and the merges written in forward methods."""

    def __init__(self, exp: Export, model):
        self.exp, self.model = exp, model
        self.calls: dict[str, list] = {}  # module path → (input shape, output) per call
        self.merges: list[tuple[str, tuple]] = []
        self.depth = 0
        self.stack: list[str] = []
        self.flops: dict = {}

    def current(self):
        return self.stack[-1] if self.stack else None

    def run(self, device: str):
        import torch
        from torch.nn.attention import SDPBackend, sdpa_kernel
        from torch.overrides import TorchFunctionMode
        from torch.utils.flop_counter import FlopCounterMode

        probe = self
        model = self.model
        model.eval()
        for m in model.modules():  # the contract's measuring rule for attention
            if isinstance(m, (torch.nn.MultiheadAttention, torch.nn.TransformerEncoderLayer)):
                m.train()
        handles = []
        for path in dict.fromkeys(r.path for r in self.exp.rows if r.kind == "module"):
            module = model.get_submodule(path)
            self.calls[path] = []

            def pre(mod, args, path=path):
                probe.depth += 1
                probe.stack.append(path)
                probe.calls[path].append([_shape(args[0]) if args else None, None])

            def post(mod, args, out, path=path):
                probe.depth -= 1
                probe.stack.pop()
                probe.calls[path][-1][1] = _outputs(out)

            handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]

        class Merges(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                op = MERGE_FUNCS.get(getattr(func, "__name__", ""))
                if op is not None and probe.depth == 0 and isinstance(out, torch.Tensor):
                    probe.merges.append((op, tuple(out.shape)))
                return out

        dtype = torch.long if self.exp.input_dtype == "long" else torch.float32
        x = torch.zeros(self.exp.input_shape, dtype=dtype, device=device)
        others = [torch.zeros(shape, device=device) for shape in self.exp.other_inputs]  # inputs: after the first
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's notes about oneDNN and padded 'same' convolutions
                with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), torch.backends.mkldnn.flags(enabled=False), \
                        FlopCounterMode(display=False) as counter, Merges():
                    model(x, *others)
        finally:
            for h in handles:
                h.remove()
        prefix = type(model).__name__ + "."
        self.flops = {k[len(prefix):]: sum(v.values()) for k, v in counter.get_flop_counts().items()
                      if k.startswith(prefix)}


def _shape(t):
    return tuple(t.shape) if hasattr(t, "shape") else None


def _outputs(out):
    """(output shape, state shapes or None) of a module's return value."""
    if isinstance(out, tuple):
        first, rest = out[0], out[1:]
        states = None
        if rest and isinstance(rest[0], tuple):  # LSTM: (output, (h_n, c_n))
            states = {"h_n": _shape(rest[0][0]), "c_n": _shape(rest[0][1])}
        elif rest and hasattr(rest[0], "shape"):
            states = {"h_n": _shape(rest[0])}
        return _shape(first), states
    return _shape(out), None


def _ints(shape):
    return tuple(int(normalize(d)) for d in shape)


def compare(exp: Export, model, probe: Probe | None, result: CheckResult):
    used: dict[str, int] = {}
    counted: set[int] = set()  # ids of the parameters already counted
    merges = iter(probe.merges) if probe is not None else iter(())
    macs_by_path: dict[str, int] = {}  # a module called more than once: FlopCounterMode adds its calls up
    for row, where in zip(exp.report.layers, exp.rows):
        if where.kind == "module":
            macs_by_path[where.path] = macs_by_path.get(where.path, 0) + int(normalize(row.macs))
    merge_ok = True
    for row, where in zip(exp.report.layers, exp.rows):
        out = _ints(row.output_shape)
        if where.kind == "merge":
            shape, measured = None, probe is not None and merge_ok
            if measured:
                for _ in range(where.count):
                    op, shape = next(merges, (None, None))
                    if op != where.op:
                        merge_ok = measured = False  # the forward did not run as written: stop pairing
                        break
            symbol = {"add": "+", "cat": "torch.cat", "mul": "*"}[where.op]
            result.layers.append(LayerCheck(row.index, row.name, row.type, symbol,
                                            Pair(out, shape, measured and probe.current() is None)))
            continue
        module = model.get_submodule(where.path)
        k = used.get(where.path, 0)
        used[where.path] = k + 1
        calls = probe.calls.get(where.path, []) if probe is not None else []
        measured = k < len(calls) and calls[k][1] is not None
        shape, states = calls[k][1] if measured else (None, None)
        check = LayerCheck(row.index, row.name, row.type, where.path, Pair(out, shape, measured))
        if row.state_shapes is not None:
            want = {n: _ints(s) for n, s in row.state_shapes.items()}
            check.state_shapes = Pair(want, states, measured)
        torch_params = {n: tuple(p.shape) for n, p in module.named_parameters()}
        layer_params = {n: _ints(s) for n, s in row.layer.parameters(row.input_shape).items()}
        # a parameter an earlier module has (a tied weight) counts there, as named_parameters() does
        count = sum(p.numel() for p in module.parameters() if id(p) not in counted)
        counted |= {id(p) for p in module.parameters()}
        check.params = Pair(int(normalize(row.params)), count)
        check.param_shapes = Pair(layer_params, torch_params)
        if row.layer.MEASURED_MACS and probe is not None:
            if used[where.path] == 1:  # compared once per module, all its calls together
                check.macs = Pair(macs_by_path[where.path], probe.flops.get(where.path, 0) // 2)
        elif row.layer.MEASURED_MACS:
            check.macs = Pair(int(normalize(row.macs)), None, False)
        result.layers.append(check)
    total = sum(p.numel() for p in model.parameters())
    result.params = Pair(int(normalize(exp.report.totals["params"])), total)


# ----------------------------------------------------------------------------- printing

def render(result: CheckResult, fmt: str = "table") -> str:
    from .render import dumps, grid, short

    if fmt == "json":
        return dumps(result.to_dict())
    headers = ["#", "name", "type", "torch module", "output shape", "params", "MACs", "check"]

    def cells(r: LayerCheck, readable: bool):
        shape = r.output_shape
        if not shape.measured:
            s = f"{_dims(shape.netcalc, readable)} (not measured)"
        elif shape.agree:
            s = _dims(shape.netcalc, readable)
        else:
            s = f"netcalc {_dims(shape.netcalc, readable)}, torch {_dims(shape.torch, readable)}"
        if r.state_shapes is not None and not r.state_shapes.agree:
            s += f"; states netcalc {_text(r.state_shapes.netcalc)}, torch {_text(r.state_shapes.torch)}"
        p = r.params
        if p is None:
            ptext = ""
        elif p.agree and (r.param_shapes is None or r.param_shapes.agree):
            ptext = f"{p.netcalc:,}" if readable else str(p.netcalc)
        elif p.agree:
            ptext = f"{p.netcalc:,} (names/shapes differ)"
        else:
            ptext = f"netcalc {p.netcalc:,}, torch {p.torch:,}"
        m = r.macs
        if m is None:
            mtext = "-" if readable else ""
        elif not m.measured:
            mtext = "not measured"
        elif m.agree:
            mtext = (short(m.netcalc) if readable else str(m.netcalc))
        else:
            mtext = f"netcalc {m.netcalc:,}, torch {m.torch:,}"
        module = "=" if r.module == r.name else r.module
        return [str(r.index), r.name, r.type, module, s, ptext, mtext, "ok" if r.agree else "DIFF"]

    counts = result.counts()
    summary = (f"{'all agree' if result.agree else f'{result.differences} difference' + 's' * (result.differences != 1)}"
               f" · output shapes {counts['output_shape'][0]}/{counts['output_shape'][1]}"
               f" · parameters {counts['params'][0]}/{counts['params'][1]}"
               f" · MACs {counts['macs'][0]}/{counts['macs'][1]} (FlopCounterMode)"
               f" · torch {result.torch_version} on {result.device}")
    notes = [n for n in (result.error, result.note) if n]
    notes += [f"{r.name}: " + "; ".join(r.differences) for r in result.layers if not r.agree]
    total = result.params
    totals = ["", "total", "", "", "", "" if total is None else (
        f"{total.netcalc:,}" if total.agree else f"netcalc {total.netcalc:,}, torch {total.torch:,}"), "",
        "" if total is None else ("ok" if total.agree else "DIFF")]
    if fmt == "csv":
        from .render import csv_text

        return csv_text(["index", "name", "type", "module", "netcalc_output_shape", "torch_output_shape",
                         "netcalc_params", "torch_params", "netcalc_macs", "torch_macs", "agree"],
                        [[r.index, r.name, r.type, r.module, _dims(r.output_shape.netcalc, False),
                          _dims(r.output_shape.torch, False) if r.output_shape.measured else "",
                          *(("", "") if r.params is None else (r.params.netcalc, r.params.torch)),
                          *(("", "") if r.macs is None else (r.macs.netcalc, r.macs.torch if r.macs.measured else "")),
                          "true" if r.agree else "false"] for r in result.layers])
    rows = [cells(r, True) for r in result.layers]
    if fmt == "markdown":
        out = [f"**{result.name}**", ""] if result.name else []
        out += ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if h in ("#", "params", "MACs") else "---"
                                                             for h in headers) + "|"]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows + [totals]]
        out += ["", summary] + [f"\n{n}" for n in notes]
        return "\n".join(out)
    from .render import _width

    right = [h in ("#", "params", "MACs") for h in headers]
    width = _width()
    text = grid(result.name or None, summary, headers, right, rows, totals, width)
    return "\n".join([text] + notes)


def _dims(shape, readable=True) -> str:
    if shape is None:
        return "?"
    return (" × " if readable else "x").join(str(d) for d in shape)

