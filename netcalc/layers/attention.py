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

from ..symbolic import exact_div, is_int, known_positive, same, to_text
from .base import Arg, Layer, fmt_shape
from .registry import register


def dense_flops(outputs, fan_in, bias):
    """FLOPs of ``outputs`` dot products of length ``fan_in``, plus a bias add each."""
    return outputs * (2 * fan_in - 1 + int(bool(bias)))


class SequenceLayer(Layer):
    AUTOCAST = None  # not measured under autocast yet
    FAMILY, LAYOUT, KEEPS = "seq", "seq", "all"
    MEASURED_MACS = True
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

    def other_length(self, t, x, name: str):
        """The length of a second input ``t`` (``(S, N, *)``, ``(N, S, *)`` with batch_first, or unbatched
        ``(S, *)``), which must have the input's number of dims and batch."""
        _, batch, _ = self.dims(x)
        if len(t) != len(x):
            self.error(f"{name} {fmt_shape(t)} must have the same number of dims as the input {fmt_shape(x)}", name)
        if len(t) == 2:
            return t[0]
        s, b = (t[1], t[0]) if self.args["batch_first"] else (t[0], t[1])
        if not same(b, batch):
            self.error(f"{name} {fmt_shape(t)} has batch {to_text(b)}, the input {to_text(batch)}", name)
        return s

    def attention_params(self, e, prefix="", kdim=None, vdim=None):
        bias = self.args["bias"]
        kdim, vdim = kdim or e, vdim or e
        if same(kdim, e) and same(vdim, e):
            p = {prefix + "in_proj_weight": (3 * e, e)}
        else:  # torch keeps separate projections when keys or values are of another width
            p = {prefix + "q_proj_weight": (e, e), prefix + "k_proj_weight": (e, kdim),
                 prefix + "v_proj_weight": (e, vdim)}
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

    def attention_saved(self, x) -> list | None:
        """What torch 2.13's self-attention (``need_weights=False``, as export calls it and the
        transformer layers do) saves for backward, besides its input: the packed q/k/v projection
        and the attention output (the out-projection's input); with dropout the math path's scaled
        q and kᵀ copies, the probabilities, the dropout mask and the dropped probabilities; without,
        the fused kernel's logsumexp per head and query. None where netcalc does not know it
        (add_bias_kv, add_zero_attn, unbatched input, dropout 1)."""
        if not self.attention_modelled(x):
            return None
        a = self.args
        seq, batch, e = self.dims(x)
        h = a[self.HEADS_KEY]
        low = "low" if self.mixed else "act"  # under autocast the projections' outputs are low precision
        out = [((batch, seq, 3 * e), low), ((batch, seq, e), low)]
        if a["dropout"] > 0 and self.mixed:  # under autocast the math path runs in float32: q, kᵀ and v copies
            return [out[1]] + [((batch, seq, e), "stat")] * 3 + [((batch, h, seq, seq), "stat")] * 3
        if a["dropout"] > 0:
            return out + [((batch, seq, e), "act")] * 2 + [((batch, h, seq, seq), "act")] * 3
        return out + [((batch, h, seq), "stat")]  # the logsumexp: float32 under autocast

    def projected(self, what, t):
        """What a projection saves of its input ``what`` ("input" or a second input's index) of shape
        ``t``: with batch_first, attention transposes its inputs to (L, N, E), and the projection
        saves a contiguous copy, unless the transposed tensor is contiguous already (N or L of 1)."""
        if not (self.args["batch_first"] and len(t) == 3) or 1 in (t[0], t[1]):
            return what
        return (t, "act")

    def attention_modelled(self, x) -> bool:
        a = self.args
        return len(x) == 3 and not a.get("add_bias_kv") and not a.get("add_zero_attn") and 0 <= a["dropout"] < 1

    def cross_attention_saved(self, x, length, packed: bool) -> list | None:
        """What attention of ``x`` to keys and values of ``length`` saves besides its inputs (torch
        2.13, need_weights=False): the q projection, the k and v projections (one packed storage
        when key and value are one tensor of d_model's width), the attention output and the fused
        kernel's logsumexp; with dropout, the math path's scaled q and kᵀ copies, three
        probability-sized tensors and v's storage instead of the q and k projections."""
        if not self.attention_modelled(x):
            return None
        seq, batch, e = self.dims(x)
        h = self.args[self.HEADS_KEY]
        q, keys = ((batch, seq, e), "act"), ((batch, length, e), "act")
        kv = [((batch, length, 2 * e), "act")] if packed else [keys, keys]
        if self.args["dropout"] > 0:
            return [q, keys, *[((batch, h, seq, length), "act")] * 3, kv[-1], q]
        return [q, *kv, q, ((batch, h, seq), "act")]

    def attention_cache(self, x, memory=None):
        """K and V after their projections, ``(N, S, E)`` each (S: the keys' length, +1 with
        add_bias_kv, +1 with add_zero_attn), as a decoder's generation cache holds them."""
        seq, batch, e = self.dims(x)
        return 2 * batch * self.keys(seq if memory is None else memory) * e

    def attention_macs(self, x, memory=None, kdim=None, vdim=None):
        """Self-attention on ``x``, or attention of ``x`` to ``memory`` (keys and values of width
        kdim and vdim, default the same)."""
        seq, batch, e = self.dims(x)
        src, kdim, vdim = (seq if memory is None else memory), kdim or e, vdim or e
        tokens, sources = seq * batch, src * batch
        return (tokens * e * e + sources * (kdim + vdim) * e + 2 * batch * seq * self.keys(src) * e
                + tokens * e * e)

    def attention_flops(self, x, memory=None, kdim=None, vdim=None):
        seq, batch, e = self.dims(x)
        src, kdim, vdim = (seq if memory is None else memory), kdim or e, vdim or e
        tokens, sources = seq * batch, src * batch
        s, h, bias = self.keys(src), self.args[self.HEADS_KEY], self.args["bias"]
        scores = batch * h * seq * s
        return (dense_flops(tokens * e, e, bias) + dense_flops(sources * e, kdim, bias)
                + dense_flops(sources * e, vdim, bias)          # Q, K, V projections
                + dense_flops(scores, exact_div(e, h), False)   # QKᵀ
                + 4 * scores                                    # scale, softmax
                + dense_flops(tokens * e, s, False)             # AV
                + dense_flops(tokens * e, e, bias))             # out projection


@register
class MultiheadAttention(SequenceLayer):
    __doc__ = __doc__
    TYPE = "MultiheadAttention"
    AUTOCAST = True  # its projections are Linears (cross-attention under autocast: not measured)
    FORWARD = "{m}({x}, {x}, {x}, need_weights=False)[0]"  # self-attention: (output, weights)
    CALL_KIND = "tuple"
    ARGS = (Arg("embed_dim", None), Arg("num_heads"), Arg("dropout", 0.0, "float"), Arg("bias", True, "bool"),
            Arg("add_bias_kv", False, "bool"), Arg("add_zero_attn", False, "bool"), Arg("kdim", None),
            Arg("vdim", None), Arg("batch_first", False, "bool"), Arg("key", None, "tensor"),
            Arg("value", None, "tensor"))

    def in_order(self, x, inputs):
        """batch_first: the output is the (L, N, E) result transposed back."""
        return not self.args["batch_first"] and all(inputs)

    def sources(self, x):
        """(source length, kdim, vdim): the keys' and values' tensors (key: and value:, each defaulting to
        the other, then to the query itself), checked against the query's batch."""
        key = self.tensors.get("key", self.tensors.get("value", x))
        value = self.tensors.get("value", key)
        lengths = [self.other_length(t, x, name) for name, t in (("key", key), ("value", value))]
        if not same(*lengths):
            self.error(f"key and value must have the same length, got {fmt_shape(key)} and {fmt_shape(value)}", "value")
        widths = []
        for name, t in (("kdim", key), ("vdim", value)):
            self.check_width(name, self.args[name], t[-1], f"the {name[0]}ey's width" if name == "kdim"
                             else "the value's width")
            widths.append(t[-1])
        return lengths[0], widths[0], widths[1]

    def output_shape(self, x):
        self.sources(x)
        return x

    def parameters(self, x):
        _, kdim, vdim = self.sources(x)
        return self.attention_params(self.dims(x)[2], kdim=kdim, vdim=vdim)

    def macs(self, x, y):
        return self.attention_macs(x, *self.sources(x))

    def kv_cache(self, x):
        return self.attention_cache(x, self.sources(x)[0])

    def forward_call(self, module, src, tensors=None):
        """Self-attention ``m(x, x, x)``; with ``key:``/``value:``, each defaulting to the other."""
        tensors = tensors or {}
        key = tensors.get("key", tensors.get("value", src))
        value = tensors.get("value", key)
        return f"{module}({src}, {key}, {value}, need_weights=False)[0]"

    def writes_tensors(self):
        return True

    def autocast_weights(self, x, input_grad):
        """The in-projection's copy when the input needs a gradient; the out-projection's always (its
        input, the attention, depends on the in-projection's weights)."""
        return [s for name, s in self.parameters(x).items()
                if "bias" not in name and (input_grad or name.startswith("out_proj"))]

    def saved(self, x, y):
        """Self-attention's (attention_saved); with key:/value:, the query, the keys' and values'
        tensors and what cross_attention_saved lists."""
        if not self.tensors:
            inner = self.attention_saved(x)
            return None if inner is None else [self.projected("input", x), *inner]
        if self.mixed:
            return None
        length, kdim, vdim = self.sources(x)
        slot = {key: i for i, key in enumerate(self.tensors, 1)}  # the row's inputs: the query, then these
        k, v = slot.get("key", slot.get("value")), slot.get("value", slot.get("key"))
        names = {self.entry.args.get(key) for key in ("key", "value")} - {None}
        e = self.dims(x)[2]
        packed = len(names) == 1 and same(kdim, e) and same(vdim, e)  # one projection of one tensor
        key_t = self.tensors.get("key", self.tensors.get("value"))
        seconds = [self.projected(k, key_t)] + ([] if packed else [self.projected(v, self.tensors.get("value", key_t))])
        inner = self.cross_attention_saved(x, length, packed)
        return None if inner is None else [self.projected("input", x), *seconds, *inner]

    def flops(self, x, y):
        return self.attention_flops(x, *self.sources(x))


@register
class TransformerEncoderLayer(SequenceLayer):
    __doc__ = __doc__
    AUTOCAST = False  # its own saved() gives each tensor's precision under autocast
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

    def kv_cache(self, x):
        return self.attention_cache(x)

    def saved(self, x, y):
        """Self-attention's tensors (see attention_saved), then as torch's layer runs: each dropout's
        mask, each residual sum (LayerNorm's input) and the norms' mean and rstd per token, the
        feed-forward's input (a norm's output), the activation's tensor, and with dropout the
        second Linear's input. norm_first normalises before each block instead: the input and the
        first sum are then LayerNorm inputs, the last sum is nobody's."""
        memory = None
        if isinstance(self, TransformerDecoderLayer):
            memory = (_memory_length(self, x), self.projected(1, self.tensors["memory"]))
        return self.layer_saved(x, "input", memory)

    def layer_saved(self, x, source, memory) -> list | None:
        """One layer on ``x`` whose input is ``source`` (a saved entry); a decoder layer's
        ``memory`` is (its length, its entry, or None when counted already)."""
        inner = self.attention_saved(x)
        if inner is None:
            return None
        seq, batch, e = self.dims(x)
        a, dropped = self.args, self.args["dropout"] > 0
        # under autocast (memory --mixed) the residual sums keep the input's precision ("in"), what the
        # Linears and attention compute is low precision ("low"), the norms' statistics float32
        width, hidden, stats = ((batch, seq, e), "in"), ((batch, seq, a["dim_feedforward"]), "low"), \
            ((batch, seq, 1), "stat")
        low = ((batch, seq, e), "low")  # a norm's output as a Linear reads it (cast), a dropout mask
        mask = [low] if dropped else []
        # the feed-forward block: linear1's input (a norm's output), the activation's tensor (relu: its
        # output, gelu: its input), linear2's input (dropout's output, or gelu's own output), the masks
        ff = [low, hidden] + ([hidden, hidden] if dropped else [hidden] * (a["activation"] == "gelu")) + mask
        # a decoder layer's attention to memory (its second input), whose query is a norm's output
        cross = []
        if memory is not None:
            length, kept = memory
            cross = [width, *([kept] if kept is not None else []), *self.cross_attention_saved(x, length, True),
                     *mask, width, stats, stats]
        if a["norm_first"]:  # x + sa(norm1(x)); [x + mha(norm2(x), memory);] x + ff(norm3(x))
            return [source, stats, stats, low, *inner, *mask, width, stats, stats, *cross, *ff]
        first = (x, "low") if self.mixed == "float32" and source == "input" else self.projected(source, x)
        return [first, *inner, *mask, width, stats, stats, *cross, *ff, width, stats, stats]

    def autocast_weights(self, x, input_grad):
        """Its Linears' weights (attention's in- and out-projection, linear1, linear2), each layer's;
        the first in-projection's when its input needs a gradient (norm_first: always, a norm's output)."""
        first = input_grad or self.args["norm_first"]
        return [s for name, s in self.parameters(x).items()
                if name.endswith(("in_proj_weight", "out_proj.weight", "linear1.weight", "linear2.weight"))
                and (first or name not in ("self_attn.in_proj_weight", "layers.0.self_attn.in_proj_weight"))]

    def flops(self, x, y):
        seq, batch, e = self.dims(x)
        tokens, f, bias = seq * batch, self.args["dim_feedforward"], self.args["bias"]
        norm = 5 + 1 + int(bool(bias))
        return (self.attention_flops(x) + dense_flops(tokens * f, e, bias) + tokens * f
                + dense_flops(tokens * e, f, bias) + 2 * norm * tokens * e + 2 * tokens * e)




@register
class GroupedQueryAttention(Layer):
    """Self-attention as decoder LLMs write it (Llama, Mistral, Qwen2): ``(N, L, E)`` → ``(N, L, E)``.

    ``num_heads`` query heads of ``head_dim`` (default ``E / num_heads``) share
    ``num_key_value_heads`` key/value heads (default ``num_heads``: multi-head; 1: multi-query).
    Parameters as Hugging Face names them: ``q_proj`` ``(H·d, E)``, ``k_proj`` and ``v_proj``
    ``(KV·d, E)``, ``o_proj`` ``(E, H·d)``; ``bias`` puts biases on q/k/v, ``out_bias`` on o.
    MACs: the projections ``N·L·E·(H + 2·KV)·d + N·L·H·d·E`` and QKᵀ, AV ``N·H·L·L·d`` each (the
    shared key/value heads are repeated for every query head, and a causal mask still computes
    every score). FLOPs as MultiheadAttention, plus one per score for the causal mask and, with
    ``rotary``, 3 per query and key element (``x·cos + rotate(x)·sin``)."""
    AUTOCAST = True

    TYPE = "GroupedQueryAttention"
    MEASURED_MACS = True
    FAMILY, LAYOUT, KEEPS = "seq", "seq", "all"
    ARGS = (Arg("embed_dim", None), Arg("num_heads"), Arg("num_key_value_heads", None), Arg("head_dim", None),
            Arg("bias", False, "bool"), Arg("out_bias", False, "bool"), Arg("causal", True, "bool"),
            Arg("rotary", True, "bool"), Arg("rope_theta", 10000.0, "float"), Arg("qk_norm", False, "bool"))
    TORCH_HELPER = '''
        class GroupedQueryAttention(nn.Module):
            """netcalc's GroupedQueryAttention: (N, L, E) self-attention with num_key_value_heads
            key/value heads shared by num_heads query heads, optionally causal and rotary."""

            def __init__(self, embed_dim, num_heads, num_key_value_heads, head_dim, bias=False, out_bias=False,
                         causal=True, rotary=True, rope_theta=10000.0, qk_norm=False):
                super().__init__()
                self.h, self.kv, self.d, self.causal, self.rotary = num_heads, num_key_value_heads, head_dim, causal, rotary
                self.theta = rope_theta
                self.q_proj = nn.Linear(embed_dim, num_heads * head_dim, bias=bias)
                self.k_proj = nn.Linear(embed_dim, num_key_value_heads * head_dim, bias=bias)
                self.v_proj = nn.Linear(embed_dim, num_key_value_heads * head_dim, bias=bias)
                self.o_proj = nn.Linear(num_heads * head_dim, embed_dim, bias=out_bias)
                if qk_norm:  # Qwen3: RMSNorm of each head's queries and keys
                    self.q_norm, self.k_norm = nn.RMSNorm(head_dim), nn.RMSNorm(head_dim)
                self.qk_norm = qk_norm

            def rope(self, t):
                half = self.d // 2
                freq = self.theta ** (-torch.arange(half, device=t.device, dtype=t.dtype) / half)
                angle = torch.arange(t.shape[2], device=t.device, dtype=t.dtype)[:, None] * freq[None, :]
                cos, sin = torch.cat([angle.cos()] * 2, -1), torch.cat([angle.sin()] * 2, -1)
                rotated = torch.cat([-t[..., half:], t[..., :half]], -1)
                return t * cos + rotated * sin

            def forward(self, x):
                n, length, _ = x.shape
                q = self.q_proj(x).view(n, length, self.h, self.d).transpose(1, 2)
                k = self.k_proj(x).view(n, length, self.kv, self.d).transpose(1, 2)
                v = self.v_proj(x).view(n, length, self.kv, self.d).transpose(1, 2)
                if self.qk_norm:
                    q, k = self.q_norm(q), self.k_norm(k)
                if self.rotary:
                    q, k = self.rope(q), self.rope(k)
                k = k.repeat_interleave(self.h // self.kv, dim=1)
                v = v.repeat_interleave(self.h // self.kv, dim=1)
                scores = torch.matmul(q, k.transpose(2, 3)) / self.d ** 0.5
                if self.causal:
                    mask = torch.ones(length, length, dtype=torch.bool, device=x.device).triu(1)
                    scores = scores.masked_fill(mask, float("-inf"))
                out = torch.matmul(scores.softmax(-1), v)
                return self.o_proj(out.transpose(1, 2).reshape(n, length, self.h * self.d))
    '''

    def validate(self):
        a = self.args
        if self.ctx.no_bias:  # --no-bias: no biases anywhere, the output projection's too
            a["out_bias"] = False
        self.check_positive(a["num_heads"], "num_heads", "num_heads")
        if a["num_key_value_heads"] is None:
            a["num_key_value_heads"] = a["num_heads"]
        kv, h = a["num_key_value_heads"], a["num_heads"]
        self.check_positive(kv, "num_key_value_heads", "num_key_value_heads")
        if is_int(h) and is_int(kv) and h % kv:
            self.error(f"num_heads ({h}) must be a multiple of num_key_value_heads ({kv})", "num_key_value_heads")
        if a["head_dim"] is not None:
            self.check_positive(a["head_dim"], "head_dim", "head_dim")

    def torch_ctor(self, x):
        a = self.args
        keywords = [(k, a[k], d) for k, d in (("bias", False), ("out_bias", False), ("causal", True), ("rotary", True),
                                            ("rope_theta", 10000.0), ("qk_norm", False))]
        return self.TYPE, [x[-1], a["num_heads"], a["num_key_value_heads"], self.head_dim(x)], keywords

    def head_dim(self, x):
        e, h, d = x[-1], self.args["num_heads"], self.args["head_dim"]
        if d is not None:
            return d
        if is_int(e) and is_int(h) and e % h:
            self.error(f"embed_dim ({e}) must be divisible by num_heads ({h}), or give head_dim", "num_heads")
        return exact_div(e, h)

    def output_shape(self, x):
        self.check_ndim(x, (3,), "(N, L, E)")
        self.check_width("embed_dim", self.args["embed_dim"], x[-1], "the last incoming dimension")
        if self.args["rotary"] and is_int(d := self.head_dim(x)) and d % 2:
            self.error(f"rotary position embedding needs an even head_dim, got {d}", "head_dim")
        return x

    def parameters(self, x):
        e, a, d = x[-1], self.args, self.head_dim(x)
        p = {}
        for name, heads in (("q_proj", a["num_heads"]), ("k_proj", a["num_key_value_heads"]),
                            ("v_proj", a["num_key_value_heads"])):
            p[name + ".weight"] = (heads * d, e)
            if a["bias"]:
                p[name + ".bias"] = (heads * d,)
        p["o_proj.weight"] = (e, a["num_heads"] * d)
        if a["out_bias"]:
            p["o_proj.bias"] = (e,)
        if a["qk_norm"]:
            p["q_norm.weight"] = p["k_norm.weight"] = (d,)
        return p

    def macs(self, x, y):
        n, length, e = x
        h, kv, d = self.args["num_heads"], self.args["num_key_value_heads"], self.head_dim(x)
        return n * length * e * (h + 2 * kv) * d + 2 * n * h * length * length * d + n * length * h * d * e

    def saved(self, x, y):
        """What the module export writes (TORCH_HELPER) saves, torch 2.13 on the CPU: its input (for
        the q/k/v projections); with qk_norm each RMSNorm's input, rsqrt per head and token and
        normalised input; with rotary the cos and sin tables (L, d) of each of its two calls; q and
        kᵀ as QKᵀ reads them (N·H·L·d each, the shared heads repeated); the causal mask (L, L, bool);
        the probabilities; v repeated; and the output projection's input (N·L·H·d). Hugging Face's
        attention saves other tensors: this is the module netcalc check and export build."""
        n, length, _ = x
        a, d = self.args, self.head_dim(x)
        h, kv = a["num_heads"], a["num_key_value_heads"]
        heads = ((n, h, length, d), "act")
        # under autocast q, k and v_proj each cast a float32 input for itself; qk_norm computes in float32
        out: list = [(x, "low")] * 3 if self.mixed == "float32" else ["input"]
        if a["qk_norm"]:
            for k in (h, kv):
                out += [((n, k, length, d), "stat"), ((n, k, length, 1), "stat"), ((n, k, length, d), "stat")]
        if a["rotary"]:
            out += [((length, d), "act")] * 4
        out += [heads, heads] + ([((length, length), "bool")] if a["causal"] else [])
        return out + [((n, h, length, length), "act"), heads, ((n, length, h * d), "act")]

    def autocast_weights(self, x, input_grad):
        """q/k/v_proj's weight copies when the input needs a gradient, o_proj's always."""
        return [s for name, s in self.parameters(x).items()
                if name.endswith("_proj.weight") and (input_grad or name.startswith("o_proj"))]

    def kv_cache(self, x):
        """K and V of the key/value heads, ``(N, KV, L, d)`` each (after rotary, as Hugging Face caches them)."""
        n, length, _ = x
        return 2 * n * self.args["num_key_value_heads"] * length * self.head_dim(x)

    def flops(self, x, y):
        n, length, e = x
        a, d = self.args, self.head_dim(x)
        h, kv, tokens = a["num_heads"], a["num_key_value_heads"], n * length
        scores = n * h * length * length
        return (dense_flops(tokens * (h + 2 * kv) * d, e, a["bias"])    # Q, K, V projections
                + dense_flops(scores, d, False)                          # QKᵀ
                + (5 if a["causal"] else 4) * scores                     # scale, mask, softmax
                + dense_flops(tokens * h * d, length, False)             # AV
                + dense_flops(tokens * e, h * d, a["out_bias"])          # o_proj
                + (3 * tokens * (h + kv) * d if a["rotary"] else 0)      # rotary on Q and K
                + (4 * tokens * (h + kv) * d if a["qk_norm"] else 0))    # RMSNorm of Q and K (with a weight)


def _layer_norm_params(name, e, bias):
    return {f"{name}.weight": (e,), **({f"{name}.bias": (e,)} if bias else {})}


def stack_helper(kind: str, extra: str = "") -> str:
    """The nn.Module export writes for a TransformerEncoder/Decoder spec layer: torch's stack of
    ``num_layers`` ``{kind}Layer(d_model, nhead, **layer)``, with norm a final nn.LayerNorm(d_model)."""
    return f'''
        class {kind}(nn.{kind}):
            """nn.{kind} of num_layers nn.{kind}Layer(d_model, nhead, **layer), and with norm a final
            nn.LayerNorm(d_model)."""

            def __init__(self, d_model, nhead, num_layers, norm=False, **layer):
                eps, bias = layer.get("layer_norm_eps", 1e-5), layer.get("bias", True)
                super().__init__(nn.{kind}Layer(d_model, nhead, **layer), num_layers,
                                 norm=nn.LayerNorm(d_model, eps=eps, bias=bias) if norm else None{extra})
    '''


class Stack:
    """``num_layers`` copies of the layer kind it is mixed into, then with ``norm: true`` a LayerNorm
    of ``d_model`` (TransformerEncoder, TransformerDecoder): parameters ``layers.{i}.*`` and ``norm.*``."""

    def validate(self):
        super().validate()
        self.check_positive(self.args["num_layers"], "num_layers", "num_layers")

    def count(self) -> int:
        n = self.args["num_layers"]
        if not is_int(n):
            self.error("num_layers must be a number (parameter names depend on it)", "num_layers")
        return n

    def parameters(self, x):
        one = super().parameters(x)
        p = {f"layers.{i}.{name}": shape for i in range(self.count()) for name, shape in one.items()}
        if self.args["norm"]:
            p.update(_layer_norm_params("norm", self.dims(x)[2], self.args["bias"]))
        return p

    def torch_ctor(self, x):
        """``TYPE(d_model, nhead, num_layers, norm=..., **the layer's non-default arguments)``: the helper
        export writes (stack_helper) builds torch's stack and its layers from them."""
        a = self.args
        defaults = {arg.name: arg.default for arg in TransformerEncoderLayer.ARGS}
        keywords = [(k, a[k], d) for k, d in [("norm", False)] + list(defaults.items())
                    if k not in ("d_model", "nhead") and a[k] != d]
        return self.TYPE, [x[-1], a["nhead"], a["num_layers"]], keywords

    def macs(self, x, y):
        return self.count() * super().macs(x, y)

    def kv_cache(self, x):
        return self.count() * super().kv_cache(x)

    def saved(self, x, y):
        """Each layer's, and the input of every layer after the first (the previous one's output,
        which it does not save itself); with norm, the final LayerNorm's input and statistics."""
        one = super().saved(x, y)
        if one is None:
            return None
        seq, batch, e = self.dims(x)
        width, stats = ((batch, seq, e), "act"), ((batch, seq, 1), "stat")
        # a later layer's input is the previous layer's output, a tensor of its own
        out = one + [width if s == "input" else s for s in one] * (self.count() - 1)
        return out + ([width, stats, stats] if self.args["norm"] else [])

    def flops(self, x, y):
        seq, batch, e = self.dims(x)
        norm = (5 + 1 + int(bool(self.args["bias"]))) * seq * batch * e if self.args["norm"] else 0
        return self.count() * super().flops(x, y) + norm


@register
class TransformerEncoder(Stack, TransformerEncoderLayer):
    """``torch.nn.TransformerEncoder``: ``num_layers`` copies of a TransformerEncoderLayer (the spec gives
    the layer's arguments), then, with ``norm: true``, a final LayerNorm of ``d_model`` (torch takes a
    norm module; netcalc's is ``nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)``). Parameters
    ``layers.{i}.*`` and ``norm.*``; costs ``num_layers`` times the layer's, plus the norm's."""

    TYPE = "TransformerEncoder"
    ARGS = TransformerEncoderLayer.ARGS + (Arg("num_layers"), Arg("norm", False, "bool"))
    TORCH_HELPER = stack_helper("TransformerEncoder", ", enable_nested_tensor=False")



def _memory_length(layer, x, key: str = "memory"):
    """The length of the second input (``(S, N, E)``, ``(N, S, E)`` with batch_first, or unbatched
    ``(S, E)``), checked against ``x``'s batch and ``d_model``."""
    t = layer.tensors[key]
    s, e = layer.other_length(t, x, key), layer.dims(x)[2]
    if not same(t[-1], e):
        layer.error(f"{key} {fmt_shape(t)} must have width d_model = {to_text(e)}", key)
    return s


@register
class TransformerDecoderLayer(TransformerEncoderLayer):
    """``torch.nn.TransformerDecoderLayer``: self-attention on the target ``(T, N, E)``, attention to
    ``memory: NAME`` (``(S, N, E)``), then the feed-forward block; three LayerNorms and residual
    adds. MACs: both attentions (QKᵀ and AV included) and the two Linears."""
    AUTOCAST = None  # not measured under autocast yet

    TYPE = "TransformerDecoderLayer"
    ARGS = TransformerEncoderLayer.ARGS + (Arg("memory", kind="tensor"),)
    FORWARD = "{m}({x}, {memory})"

    def output_shape(self, x):
        _memory_length(self, x)
        return x

    def parameters(self, x):
        e = self.dims(x)[2]
        p = super().parameters(x)
        p.update(self.attention_params(e, "multihead_attn."))
        p.update(_layer_norm_params("norm3", e, self.args["bias"]))
        return p

    def macs(self, x, y):
        return super().macs(x, y) + self.attention_macs(x, _memory_length(self, x))

    def kv_cache(self, x):
        """Self-attention's keys and values, and the cross-attention's of the memory."""
        return super().kv_cache(x) + self.attention_cache(x, _memory_length(self, x))

    def flops(self, x, y):
        seq, batch, e = self.dims(x)
        norm = (5 + 1 + int(bool(self.args["bias"]))) * seq * batch * e
        return super().flops(x, y) + self.attention_flops(x, _memory_length(self, x)) + norm + seq * batch * e


@register
class TransformerDecoder(Stack, TransformerDecoderLayer):
    """``torch.nn.TransformerDecoder``: ``num_layers`` TransformerDecoderLayers (the spec gives the
    layer's arguments and ``memory``), then with ``norm: true`` a final LayerNorm of ``d_model``.
    Parameters ``layers.{i}.*`` and ``norm.*``."""

    TYPE = "TransformerDecoder"
    ARGS = TransformerDecoderLayer.ARGS + (Arg("num_layers"), Arg("norm", False, "bool"))
    TORCH_HELPER = stack_helper("TransformerDecoder")


@register
class Transformer(TransformerEncoderLayer):
    """``torch.nn.Transformer``: an encoder of ``num_encoder_layers`` layers on the source (the incoming
    tensor) and a decoder of ``num_decoder_layers`` layers on ``tgt: NAME`` attending to it, each
    ending in a LayerNorm; the output has the target's shape. Parameters ``encoder.*``, ``decoder.*``."""
    AUTOCAST = None  # not measured under autocast yet

    TYPE = "Transformer"
    ARGS = (Arg("d_model", None), Arg("nhead", 8), Arg("num_encoder_layers", 6), Arg("num_decoder_layers", 6),
            Arg("dim_feedforward", 2048), Arg("dropout", 0.1, "float"),
            Arg("activation", "relu", "choice", ("relu", "gelu")), Arg("layer_norm_eps", 1e-5, "float"),
            Arg("batch_first", False, "bool"), Arg("norm_first", False, "bool"), Arg("bias", True, "bool"),
            Arg("tgt", kind="tensor"))
    FORWARD = "{m}({x}, {tgt})"

    def validate(self):
        super().validate()
        for key in ("num_encoder_layers", "num_decoder_layers"):  # torch builds 0 layers but cannot run them
            self.check_positive(self.args[key], key, key)

    def stacks(self, x) -> tuple[int, int, tuple]:
        """(encoder layers, decoder layers, target shape); the target must match the source's layout."""
        a, tgt = self.args, self.tensors["tgt"]
        counts = []
        for key in ("num_encoder_layers", "num_decoder_layers"):
            if not is_int(a[key]):
                self.error(f"{key} must be a number (parameter names depend on it)", key)
            counts.append(a[key])
        self.other_length(tgt, x, "tgt")
        e = self.dims(x)[2]
        if not same(tgt[-1], e):
            self.error(f"tgt {fmt_shape(tgt)} must have width d_model = {to_text(e)}", "tgt")
        return counts[0], counts[1], tgt

    def output_shape(self, x):
        return self.stacks(x)[2]

    def saved(self, x, y):
        """The encoder's layers on the source and its final LayerNorm, then the decoder's layers on
        ``tgt`` (its second input), each attending to the encoder's output (saved once, or copied
        per layer with batch_first), and the decoder's final LayerNorm."""
        enc, dec, tgt = self.stacks(x)
        first = self.layer_saved(x, "input", None)
        if first is None:
            return None
        src_len, batch, e = self.dims(x)
        tgt_len = self.dims(tgt)[0]
        width_s, stats_s = ((batch, src_len, e), "act"), ((batch, src_len, 1), "act")
        width_t, stats_t = ((batch, tgt_len, e), "act"), ((batch, tgt_len, 1), "act")
        out = first + [width_s if s == "input" else s for s in first] * (enc - 1) + [width_s, stats_s, stats_s]
        for i in range(dec):
            kept = self.projected(None if i else width_s, x)  # the encoder's output, the decoder's memory
            out += self.layer_saved(tgt, width_t if i else 1, (src_len, kept))
        return out + [width_t, stats_t, stats_t]

    def parameters(self, x):
        enc, dec, tgt = self.stacks(x)
        e, bias = self.dims(x)[2], self.args["bias"]
        layer = TransformerEncoderLayer.parameters(self, x)
        p = {f"encoder.layers.{i}.{n}": s for i in range(enc) for n, s in layer.items()}
        p.update(_layer_norm_params("encoder.norm", e, bias))
        cross = {**layer, **self.attention_params(e, "multihead_attn."), **_layer_norm_params("norm3", e, bias)}
        p.update({f"decoder.layers.{i}.{n}": s for i in range(dec) for n, s in cross.items()})
        p.update(_layer_norm_params("decoder.norm", e, bias))
        return p

    def macs(self, x, y):
        enc, dec, tgt = self.stacks(x)
        src_len = self.dims(x)[0]
        one_enc = TransformerEncoderLayer.macs(self, x, x)
        one_dec = TransformerEncoderLayer.macs(self, tgt, tgt) + self.attention_macs(tgt, src_len)
        return enc * one_enc + dec * one_dec

    def kv_cache(self, x):
        """The decoder's: its self-attention and its attention to the encoder's output (the encoder
        runs once per sequence; its keys are not cached)."""
        enc, dec, tgt = self.stacks(x)
        return dec * (self.attention_cache(tgt) + self.attention_cache(tgt, self.dims(x)[0]))

    def flops(self, x, y):
        enc, dec, tgt = self.stacks(x)
        src_len = self.dims(x)[0]
        norm = 5 + 1 + int(bool(self.args["bias"]))
        s_tokens, t_tokens = self.dims(x)[0] * self.dims(x)[1], self.dims(tgt)[0] * self.dims(tgt)[1]
        e = self.dims(x)[2]
        one_dec = (TransformerEncoderLayer.flops(self, tgt, tgt) + self.attention_flops(tgt, src_len)
                   + norm * t_tokens * e + t_tokens * e)
        return (enc * TransformerEncoderLayer.flops(self, x, x) + norm * s_tokens * e
                + dec * one_dec + norm * t_tokens * e)
