"""Linear, Bilinear, Embedding, and the reshaping layers Flatten, Unflatten, Identity."""

from __future__ import annotations

from ..symbolic import is_int, known_positive, prod, same, times, to_text
from .base import Arg, Layer, fmt_shape, numel
from .registry import register


@register
class Linear(Layer):
    """``torch.nn.Linear``: ``(*, in_features) → (*, out_features)``.

    weight ``(out, in)``, bias ``(out,)``; MACs = output elements × in_features;
    FLOPs per output element ``2*in_features - 1 (+1 bias)``.
    """
    AUTOCAST = True

    TYPE = "Linear"
    MEASURED_MACS = True
    SAVES = ("input",)
    FAMILY, LAYOUT, KEEPS = "linear", "seq", "all_but_last"
    ARGS = (Arg("in_features", None), Arg("out_features"), Arg("bias", True, "bool"))

    def validate(self):
        self.check_positive(self.args["out_features"], "out_features", "out_features")

    def in_features(self, x):
        if len(x) < 1:
            self.error("expects an input with at least one dimension (*, in_features)")
        self.check_width("in_features", self.args["in_features"], x[-1], "the last incoming dimension")
        return x[-1]

    def output_shape(self, x):
        self.in_features(x)
        return (*x[:-1], self.args["out_features"])

    def parameters(self, x):
        p = {"weight": (self.args["out_features"], self.in_features(x))}
        if self.has_bias:
            p["bias"] = (self.args["out_features"],)
        return p

    def macs(self, x, y):
        return times(self.in_features(x), numel(y))

    def explain_cost(self, x, y):
        from .. import explain as ex

        fan, outs = ex.term(self.in_features(x)), ex.times(*y)
        bias = " + 1" if self.has_bias else ""
        return [ex.Step("MACs", f"{outs} outputs · {fan} in_features", self.macs(x, y)),
                ex.Step("FLOPs", f"{outs}·(2·{fan} − 1{bias})", self.flops(x, y))]

    def flops(self, x, y):
        return times(2 * self.in_features(x) - 1 + int(self.has_bias), numel(y))


@register
class Embedding(Layer):
    """``torch.nn.Embedding``: indices ``(*)`` → ``(*, embedding_dim)``; weight ``(num_embeddings, embedding_dim)``.
    A lookup: no MACs, no FLOPs."""

    TYPE = "Embedding"
    FAMILY, LAYOUT = "seq", "seq"
    INPUT_DTYPE = "long"  # token ids
    SAVES = ("input",)  # the indices
    ARGS = (Arg("num_embeddings"), Arg("embedding_dim"), Arg("padding_idx", None), Arg("max_norm", None, "float"),
            Arg("norm_type", 2.0, "float"), Arg("scale_grad_by_freq", False, "bool"), Arg("sparse", False, "bool"))

    def validate(self):
        a = self.args
        self.check_positive(a["num_embeddings"], "num_embeddings", "num_embeddings")
        self.check_positive(a["embedding_dim"], "embedding_dim", "embedding_dim")
        p, n = a["padding_idx"], a["num_embeddings"]
        if isinstance(p, int) and isinstance(n, int) and not -n <= p < n:
            self.error(f"padding_idx must be within num_embeddings ({n}), got {p}", "padding_idx")

    def output_shape(self, x):
        return (*x, self.args["embedding_dim"])

    def parameters(self, x):
        return {"weight": (self.args["num_embeddings"], self.args["embedding_dim"])}


@register
class EmbeddingBag(Embedding):
    """``torch.nn.EmbeddingBag``: bags of indices ``(B, N)`` → ``(B, embedding_dim)``, each bag's rows
    reduced by ``mode``; weight ``(num_embeddings, embedding_dim)``. A 1-D input needs ``offsets`` (a
    second tensor), which a spec does not feed. FLOPs per output element: sum ``N − 1`` additions,
    mean ``N`` (and the division), max ``N − 1`` comparisons; no MACs."""

    TYPE = "EmbeddingBag"
    FAMILY, LAYOUT = "seq", "flat"
    ARGS = (Arg("num_embeddings"), Arg("embedding_dim"), Arg("max_norm", None, "float"),
            Arg("norm_type", 2.0, "float"), Arg("scale_grad_by_freq", False, "bool"),
            Arg("mode", "mean", "choice", ("sum", "mean", "max")), Arg("sparse", False, "bool"),
            Arg("include_last_offset", False, "bool"), Arg("padding_idx", None))

    def output_shape(self, x):
        self.check_ndim(x, (2,), "(B, N) of bags (a 1-D input needs offsets, which netcalc does not feed)")
        return (x[0], self.args["embedding_dim"])

    def flops(self, x, y):
        per_output = x[1] if self.args["mode"] == "mean" else x[1] - 1
        return numel(y) * per_output

    def saved(self, x, y):
        """torch's embedding_bag keeps, all int64: the indices (the input, flattened), each bag's offset
        (B), offset2bag (B·N + 1, empty for a sum without padding_idx), each bag's size (B) and
        max_indices ((B, D) for max, else B)."""
        b, n = x
        mode = self.args["mode"]
        offset2bag = [] if mode == "sum" and self.args["padding_idx"] is None else [((b * n + 1,), "int64")]
        return ["input", ((b,), "int64"), *offset2bag, ((b,), "int64"), (y if mode == "max" else (b,), "int64")]


def dim_index(layer, dim, ndim, key):
    """A possibly negative dim as an index into a shape of ``ndim`` dims (torch's wrap rule)."""
    if not isinstance(dim, int):
        layer.error(f"{key} must be an integer, got {to_text(dim)}", key)
    n = max(ndim, 1)
    if not -n <= dim < n:
        layer.error(f"{key}={dim} is out of range for a {ndim}-D input (expected {-n} to {n - 1})", key)
    return dim % n


def check_shape_entries(layer, sizes, key, infer: bool = True):
    """torch's rule for a shape argument: each entry is a size (0 or more), or -1 (once, where ``infer``)
    for "the rest"; -1 next to a 0 is refused, since nothing could say how big the rest is."""
    minus_ones = sum(1 for v in sizes if is_int(v) and v == -1)
    for v in sizes:
        if is_int(v) and (v < -1 or v == -1 and not infer):
            allowed = "at least 0, or -1 for the rest" if infer else "at least 0"
            layer.error(f"{key} {fmt_shape(sizes)} has the size {v}, but sizes must be {allowed}", key)
    if minus_ones > 1:
        layer.error(f"only one entry of {key} may be -1, got {fmt_shape(sizes)}", key)
    if minus_ones and any(is_int(v) and v == 0 for v in sizes):
        layer.error(f"{key} {fmt_shape(sizes)} has a 0 next to the -1, so the -1 cannot be worked out "
                    f"(torch refuses it); give that size", key)


@register
class Flatten(Layer):
    """``torch.nn.Flatten``: dims ``start_dim..end_dim`` become one (their product)."""

    VIEW, SAVES = True, ()  # memory: a view of its input

    TYPE = "Flatten"
    FAMILY, LAYOUT = "tensor", "flat"
    ARGS = (Arg("start_dim", 1), Arg("end_dim", -1))
    TORCH_FUNCTIONS = ("torch.flatten", ".flatten")

    @classmethod
    def args_from_call(cls, bound, x, y):
        # torch.flatten's start_dim defaults to 0, nn.Flatten's (and so netcalc's) to 1
        start, end = bound.get("start_dim", 0), bound.get("end_dim", -1)
        return {**({"start_dim": start} if start != 1 else {}), **({"end_dim": end} if end != -1 else {})}

    def output_shape(self, x):
        if len(x) == 0:
            return (1,)
        s = dim_index(self, self.args["start_dim"], len(x), "start_dim")
        e = dim_index(self, self.args["end_dim"], len(x), "end_dim")
        if s > e:
            self.error(f"start_dim ({self.args['start_dim']}) cannot come after end_dim ({self.args['end_dim']}) "
                       f"for input {fmt_shape(x)}", "start_dim")
        return (*x[:s], prod(x[s:e + 1]), *x[e + 1:])

    def explain_shape(self, x, y):
        from .. import explain as ex

        s = dim_index(self, self.args["start_dim"], len(x), "start_dim") if x else 0
        e = dim_index(self, self.args["end_dim"], len(x), "end_dim") if x else 0
        return [ex.Step(f"dims {s}..{e}", ex.times(*x[s:e + 1]), y[s])] if x and e > s else []


@register
class Unflatten(Layer):
    """``torch.nn.Unflatten``: dim ``dim`` becomes ``unflattened_size`` (one entry may be -1)."""

    VIEW, SAVES = True, ()  # memory: a view of its input

    TYPE = "Unflatten"
    FAMILY = "tensor"
    ARGS = (Arg("dim"), Arg("unflattened_size", kind="dims"))

    def output_shape(self, x):
        d = dim_index(self, self.args["dim"], len(x), "dim")
        sizes = list(self.args["unflattened_size"])
        check_shape_entries(self, sizes, "unflattened_size")
        known = prod(v for v in sizes if v != -1)
        if -1 in sizes:
            sizes[sizes.index(-1)] = x[d] // known if isinstance(x[d], int) and isinstance(known, int) else x[d] / known
            known = prod(sizes)
        if not same(known, x[d]):
            self.error(f"unflattened_size {fmt_shape(sizes)} (product {to_text(known)}) does not match "
                       f"dim {d} of size {to_text(x[d])}", "unflattened_size")
        return (*x[:d], *sizes, *x[d + 1:])


@register
class Identity(Layer):
    """``torch.nn.Identity``: the input, unchanged."""

    VIEW, SAVES = True, ()  # memory: a view of its input

    TYPE = "Identity"
    FAMILY = "tensor"
    PASS_RF = True


@register
class Bilinear(Layer):
    """``torch.nn.Bilinear`` applied to the incoming tensor twice (``x1 = x2 = x``):
    weight ``(out, in1, in2)``; MACs = output elements × in1 × (in2 + 1)."""
    AUTOCAST = None  # not measured under autocast yet

    TYPE = "Bilinear"
    FAMILY, LAYOUT, KEEPS = "linear", "seq", "all_but_last"
    FORWARD = "{m}({x}, {x})"  # both inputs are the incoming tensor
    ARGS = (Arg("in1_features", None), Arg("in2_features", None), Arg("out_features"), Arg("bias", True, "bool"))
    SAVES = ("input",)  # both of its inputs: the incoming tensor

    def validate(self):
        self.check_positive(self.args["out_features"], "out_features", "out_features")

    def widths(self, x):
        self.check_width("in1_features", self.args["in1_features"], x[-1], "the last incoming dimension")
        self.check_width("in2_features", self.args["in2_features"], x[-1], "the last incoming dimension")
        return x[-1], x[-1]

    def output_shape(self, x):
        self.widths(x)
        return (*x[:-1], self.args["out_features"])

    def parameters(self, x):
        i1, i2 = self.widths(x)
        p = {"weight": (self.args["out_features"], i1, i2)}
        if self.has_bias:
            p["bias"] = (self.args["out_features"],)
        return p

    def macs(self, x, y):
        i1, i2 = self.widths(x)
        return numel(y) * i1 * (i2 + 1)

    def flops(self, x, y):
        i1, i2 = self.widths(x)
        return numel(y) * (2 * i1 * (i2 + 1) - 1 + int(self.has_bias))


@register
class GatedMLP(Layer):
    """The gated feed-forward of LLMs (SwiGLU, GeGLU): ``down(act(gate(x)) · up(x))`` on ``(*, E)``.

    Parameters as Hugging Face names them: ``gate_proj`` and ``up_proj`` ``(I, E)``, ``down_proj``
    ``(E, I)`` (``I = intermediate_size``), with biases when ``bias``. MACs ``tokens · 3·E·I``;
    FLOPs the three Linears', plus the activation and the product, one each per ``I`` element."""
    AUTOCAST = True

    TYPE = "GatedMLP"
    MEASURED_MACS = True
    FAMILY, LAYOUT = "linear", "flat"
    ARGS = (Arg("in_features", None), Arg("intermediate_size"), Arg("bias", False, "bool"),
            Arg("activation", "silu", "choice", ("silu", "gelu", "gelu_tanh", "relu")))
    TORCH_HELPER = '''
        class GatedMLP(nn.Module):
            """netcalc's GatedMLP: down(act(gate(x)) * up(x)), SwiGLU with act = silu."""

            def __init__(self, in_features, intermediate_size, bias=False, activation="silu"):
                super().__init__()
                self.gate_proj = nn.Linear(in_features, intermediate_size, bias=bias)
                self.up_proj = nn.Linear(in_features, intermediate_size, bias=bias)
                self.down_proj = nn.Linear(intermediate_size, in_features, bias=bias)
                self.act = {"silu": nn.SiLU(), "gelu": nn.GELU(), "gelu_tanh": nn.GELU("tanh"), "relu": nn.ReLU()}[activation]

            def forward(self, x):
                return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))
    '''

    def validate(self):
        i = self.args["intermediate_size"]
        if known_positive(i + 1) is False:  # torch builds Linear(E, 0), but no negative width
            self.error(f"intermediate_size is {to_text(i)}, but must be at least 0", "intermediate_size")

    def torch_ctor(self, x):
        a = self.args
        return self.TYPE, [x[-1], a["intermediate_size"]], [("bias", a["bias"], False),
                                                           ("activation", a["activation"], "silu")]

    def output_shape(self, x):
        if not x:
            self.error("expects an input with a feature dimension (*, in_features), got a scalar")
        self.check_width("in_features", self.args["in_features"], x[-1], "the last incoming dimension")
        return x

    def parameters(self, x):
        e, i = x[-1], self.args["intermediate_size"]
        p = {}
        for name, shape in (("gate_proj", (i, e)), ("up_proj", (i, e)), ("down_proj", (e, i))):
            p[name + ".weight"] = shape
            if self.args["bias"]:
                p[name + ".bias"] = shape[:1]
        return p

    def macs(self, x, y):
        return numel(x[:-1]) * 3 * x[-1] * self.args["intermediate_size"]

    def saved(self, x, y):
        """The input (both projections read it), the gate's output (for the activation; relu keeps its
        own output instead), the activation's and the up projection's (for the product), and the
        product (for down_proj's weight)."""
        hidden = ((*x[:-1], self.args["intermediate_size"]), "act")
        # under autocast each projection casts a float32 input for itself: two low-precision copies
        first = [(x, "low")] * 2 if self.mixed == "float32" else ["input"]
        return first + [hidden] * (3 if self.args["activation"] == "relu" else 4)

    def autocast_weights(self, x, input_grad):
        """gate_proj's and up_proj's weight copies when the input needs a gradient, down_proj's always."""
        return [s for name, s in self.parameters(x).items()
                if "bias" not in name and (input_grad or name.startswith("down_proj"))]

    def flops(self, x, y):
        tokens, e, i, bias = numel(x[:-1]), x[-1], self.args["intermediate_size"], self.args["bias"]
        per_token = 2 * i * (2 * e - 1 + bias) + e * (2 * i - 1 + bias) + 2 * i
        return tokens * per_token


def broadcast(layer, a, b, key: str) -> tuple:
    """torch's broadcast of two shapes (trailing dims equal or 1), or an error at ``key``."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        p = a[-i] if i <= len(a) else 1
        q = b[-i] if i <= len(b) else 1
        if same(p, q) or q == 1:
            out.append(p)
        elif p == 1:
            out.append(q)
        else:
            layer.error(f"the input {fmt_shape(a)} and {key} {fmt_shape(b)} do not broadcast (dims {to_text(p)} "
                        f"and {to_text(q)})", key)
    return tuple(reversed(out))


class PairOp(Layer):
    """A function of the input and a second tensor ``x2: NAME``, broadcast together."""
    AUTOCAST = None  # not measured under autocast yet

    FAMILY, LAYOUT = "tensor", "flat"
    FORWARD = "{m}({x}, {x2})"
    SAVES = None

    def common(self, x):
        return broadcast(self, x, self.tensors["x2"], "x2")


@register
class CosineSimilarity(PairOp):
    """``torch.nn.CosineSimilarity(dim=1)``: cosine of the input and ``x2`` along ``dim`` of their
    broadcast shape, which goes away. No MACs (no weights); 6·D FLOPs per output element (three dot
    products of length D, the norms and the division)."""

    TYPE = "CosineSimilarity"
    ARGS = (Arg("dim", 1), Arg("eps", 1e-8, "float"), Arg("x2", kind="tensor"))

    def saved(self, x, y):
        """torch's composite: both inputs, each one's normalised copy and four norms along dim. Inputs
        of two shapes (broadcast): not measured."""
        common = self.common(x)
        if tuple(x) != tuple(self.tensors["x2"]):
            return None
        reduced = tuple(1 if i == self.args["dim"] % len(common) else d for i, d in enumerate(common))
        return ["input", 1, (common, "act"), (common, "act")] + [(reduced, "act")] * 4

    def output_shape(self, x):
        common = self.common(x)
        d = dim_index(self, self.args["dim"], len(common), "dim")
        return common[:d] + common[d + 1:]

    def flops(self, x, y):
        common = self.common(x)
        return 6 * common[dim_index(self, self.args["dim"], len(common), "dim")] * numel(y)


@register
class PairwiseDistance(PairOp):
    """``torch.nn.PairwiseDistance(p=2)``: the p-norm of the difference along the last dim of the
    broadcast shape (kept as 1 with ``keepdim``). No MACs; 4·D FLOPs per output element."""

    TYPE = "PairwiseDistance"
    ARGS = (Arg("p", 2.0, "float"), Arg("eps", 1e-6, "float"), Arg("keepdim", False, "bool"),
            Arg("x2", kind="tensor"))

    def saved(self, x, y):
        """The difference x1 − x2 + eps and its norm (not the inputs)."""
        common = self.common(x)
        return [(common, "act"), (common[:-1], "act")]

    def output_shape(self, x):
        common = self.common(x)
        return common[:-1] + ((1,) if self.args["keepdim"] else ())

    def flops(self, x, y):
        return 4 * self.common(x)[-1] * numel(y)
