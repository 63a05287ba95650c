"""Attention: MultiheadAttention (self-attention on the one incoming tensor) and
TransformerEncoderLayer.

Input ``(L, N, E)`` (``(N, L, E)`` with batch_first) or unbatched ``(L, E)``; output the same.
MACs count every matmul: the in-projection ``L*N*E*3E``, QKᵀ and AV ``N*L*S*E`` each
(``S = L``, +1 with add_bias_kv, +1 with add_zero_attn), the out-projection ``L*N*E*E``, and
for the encoder layer its two feed-forward Linears.

FLOPs: every matmul output element costs ``2*inner - 1`` (+1 with a bias, as Linear); each
attention score 4 more (scale, exp, sum, divide); the encoder layer adds its activation
(1 per element), two LayerNorms (norm convention) and two residual adds.
"""

from __future__ import annotations

from ..symbolic import exact_div, is_int, known_positive, to_text
from .base import Arg, Layer
from .registry import register


def dense_flops(outputs, fan_in, bias):
    """FLOPs of ``outputs`` dot products of length ``fan_in``, plus a bias add each."""
    return outputs * (2 * fan_in - 1 + int(bool(bias)))


class SequenceLayer(Layer):
    FAMILY, LAYOUT, KEEPS = "seq", "seq", "all"
    WIDTH_KEY = "embed_dim"
    HEADS_KEY = "num_heads"

    def dims(self, x):
        """(seq_len, batch, width) of the incoming tensor; batch 1 when unbatched."""
        self.check_ndim(x, (2, 3), "(L, N, E) or unbatched (L, E)")
        if len(x) == 2:
            seq, batch = x[0], 1
        else:
            seq, batch = (x[1], x[0]) if self.args["batch_first"] else (x[0], x[1])
        self.check_width(self.WIDTH_KEY, self.args[self.WIDTH_KEY], x[-1], "the last incoming dimension")
        e, h = x[-1], self.args[self.HEADS_KEY]
        if is_int(e) and is_int(h) and e % h:
            self.error(f"{self.WIDTH_KEY} ({e}) must be divisible by {self.HEADS_KEY} ({h})", self.HEADS_KEY)
        return seq, batch, e

    def validate(self):
        self.check_positive(self.args[self.HEADS_KEY], self.HEADS_KEY, self.HEADS_KEY)

    def attention_params(self, e, prefix=""):
        bias = self.args["bias"]
        p = {prefix + "in_proj_weight": (3 * e, e)}
        if bias:
            p[prefix + "in_proj_bias"] = (3 * e,)
        if self.args.get("add_bias_kv"):
            p[prefix + "bias_k"] = (1, 1, e)
            p[prefix + "bias_v"] = (1, 1, e)
        p[prefix + "out_proj.weight"] = (e, e)
        if bias:
            p[prefix + "out_proj.bias"] = (e,)
        return p

    def keys(self, seq):
        return seq + int(bool(self.args.get("add_bias_kv"))) + int(bool(self.args.get("add_zero_attn")))

    def attention_macs(self, x):
        seq, batch, e = self.dims(x)
        tokens = seq * batch
        return tokens * e * 3 * e + 2 * batch * seq * self.keys(seq) * e + tokens * e * e

    def attention_flops(self, x):
        seq, batch, e = self.dims(x)
        tokens, s, h, bias = seq * batch, self.keys(seq), self.args[self.HEADS_KEY], self.args["bias"]
        scores = batch * h * seq * s
        return (dense_flops(tokens * 3 * e, e, bias)            # Q, K, V projections
                + dense_flops(scores, exact_div(e, h), False)   # QKᵀ
                + 4 * scores                                    # scale, softmax
                + dense_flops(tokens * e, s, False)             # AV
                + dense_flops(tokens * e, e, bias))             # out projection


@register
class MultiheadAttention(SequenceLayer):
    __doc__ = __doc__
    TYPE = "MultiheadAttention"
    FORWARD = "{m}({x}, {x}, {x}, need_weights=False)[0]"  # self-attention: (output, weights)
    CALL_KIND = "tuple"
    ARGS = (Arg("embed_dim", None), Arg("num_heads"), Arg("dropout", 0.0, "float"), Arg("bias", True, "bool"),
            Arg("add_bias_kv", False, "bool"), Arg("add_zero_attn", False, "bool"), Arg("kdim", None),
            Arg("vdim", None), Arg("batch_first", False, "bool"))

    def output_shape(self, x):
        _, _, e = self.dims(x)
        for key in ("kdim", "vdim"):
            self.check_width(key, self.args[key], e, "the incoming width (self-attention: keys and values are the input)")
        return x

    def parameters(self, x):
        return self.attention_params(self.dims(x)[2])

    def macs(self, x, y):
        return self.attention_macs(x)

    def flops(self, x, y):
        return self.attention_flops(x)


@register
class TransformerEncoderLayer(SequenceLayer):
    __doc__ = __doc__
    TYPE = "TransformerEncoderLayer"
    WIDTH_KEY = "d_model"
    HEADS_KEY = "nhead"
    ARGS = (Arg("d_model", None), Arg("nhead"), Arg("dim_feedforward", 2048), Arg("dropout", 0.1, "float"),
            Arg("activation", "relu", "choice", ("relu", "gelu")), Arg("layer_norm_eps", 1e-5, "float"),
            Arg("batch_first", False, "bool"), Arg("norm_first", False, "bool"), Arg("bias", True, "bool"))

    def validate(self):
        super().validate()
        f = self.args["dim_feedforward"]
        if known_positive(f + 1) is False:  # torch builds Linear(d_model, 0) but no negative width
            self.error(f"dim_feedforward is {to_text(f)}, but must be at least 0", "dim_feedforward")

    def output_shape(self, x):
        self.dims(x)
        return x

    def parameters(self, x):
        e, f, bias = self.dims(x)[2], self.args["dim_feedforward"], self.args["bias"]
        p = self.attention_params(e, "self_attn.")
        for name, shape in (("linear1", (f, e)), ("linear2", (e, f))):
            p[name + ".weight"] = shape
            if bias:
                p[name + ".bias"] = shape[:1]
        for name in ("norm1", "norm2"):
            p[name + ".weight"] = (e,)
            if bias:
                p[name + ".bias"] = (e,)
        return p

    def macs(self, x, y):
        seq, batch, e = self.dims(x)
        return self.attention_macs(x) + 2 * seq * batch * e * self.args["dim_feedforward"]

    def flops(self, x, y):
        seq, batch, e = self.dims(x)
        tokens, f, bias = seq * batch, self.args["dim_feedforward"], self.args["bias"]
        norm = 5 + 1 + int(bool(bias))
        return (self.attention_flops(x) + dense_flops(tokens * f, e, bias) + tokens * f
                + dense_flops(tokens * e, f, bias) + 2 * norm * tokens * e + 2 * tokens * e)


