"""A Hugging Face ``config.json`` as a spec: the network transformers builds for it, in netcalc's layers.

``spec_data(config)`` returns a mapping in the spec format (what a YAML spec file loads to) for
the model class transformers instantiates: ``*ForCausalLM`` for the decoders (gpt2, llama,
mistral, qwen2), ``*Model`` for the encoders (bert). The input is ``[B, T]`` token ids; ``B``
defaults to 1 and ``T`` to the config's context length. Every parameter is counted once (a tied
LM head is ``share:``) and every matmul of the forward is a MAC: the projections, QKᵀ and AV,
the MLPs and the LM head.

Missing keys take the defaults of transformers' config classes, so a config.json that lists
only what differs from them reads as transformers reads it. transformers is never imported.
"""

from __future__ import annotations

import re

from .errors import Pos, SpecError, did_you_mean
from .layers.attention import GroupedQueryAttention, MultiheadAttention, TransformerEncoderLayer
from .layers.linear import Embedding, GatedMLP, Linear
from .layers.norm import LayerNorm, RMSNorm
from .layers.tensor import Parameter, PositionalEmbedding, Select

JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")

# hidden_act → GatedMLP activation (transformers' ACT2FN names)
GATED_ACTIVATIONS = {"silu": "silu", "swish": "silu", "gelu": "gelu", "gelu_pytorch_tanh": "gelu_tanh",
                     "gelu_new": "gelu_tanh", "relu": "relu"}


class Config:
    """The config's values with transformers' defaults, each read with the position of its key."""

    def __init__(self, data: dict, defaults: dict):
        self.data, self.defaults = data, defaults
        self.key_pos = getattr(data, "key_pos", {})

    def pos(self, key: str) -> Pos | None:
        return self.key_pos.get(key, self.key_pos.get("model_type"))

    def get(self, key: str, kind=int, minimum: int | None = 1):
        value = self.data.get(key)
        if value is None:
            value = self.defaults.get(key)
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise SpecError(f"config {key} must be an integer, got {value!r}", self.pos(key))
            if minimum is not None and value < minimum:
                raise SpecError(f"config {key} must be at least {minimum}, got {value}", self.pos(key))
        elif kind is float:
            if isinstance(value, str) and JSON_NUMBER.fullmatch(value):
                value = float(value)  # YAML 1.1, which reads the file, takes JSON's 1e-05 for a string
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SpecError(f"config {key} must be a number, got {value!r}", self.pos(key))
            value = float(value)
        elif kind is bool:
            if not isinstance(value, bool):
                raise SpecError(f"config {key} must be true or false, got {value!r}", self.pos(key))
        return value

    def layers(self, items: list) -> list:
        """A list of layer entries, each located where it says (a structural entry: at model_type)."""
        from .spec import PosList

        out = PosList(items)
        out.item_pos = [getattr(item, "pos", None) or self.pos("model_type") or (1, 1) for item in items]
        return out

    def entry(self, kind, key: str, **args) -> dict:
        """A layer entry whose errors point at the config key that decides it: ``kind`` is a layer
        class (its TYPE is the spec's name), or the name of a block the builder defines."""
        from .spec import PosDict

        type_name = kind if isinstance(kind, str) else kind.TYPE
        inner = PosDict(args)
        inner.key_pos = dict.fromkeys(args, self.pos(key))
        outer = PosDict({type_name: inner})
        outer.pos = self.pos(key) or (1, 1)
        outer.key_pos = {type_name: outer.pos}
        return outer


def _activation(config: Config, key: str, table: dict) -> str:
    act = config.get(key, str, None)
    if act not in table:
        raise SpecError(f"config {key} {act!r} is not one netcalc knows for this model; it knows "
                        f"{', '.join(sorted(table))}", config.pos(key))
    return table[act]


def _llama_like(config: Config, qkv_bias: bool, out_bias: bool, mlp_bias: bool, qk_norm: bool = False,
                act_key: str = "hidden_act") -> dict:
    """LlamaForCausalLM and the models written like it (Mistral, Qwen2/3, Gemma, Phi-3): RMSNorm pre-norm
    decoder layers with grouped-query attention, rotary positions and a gated MLP. Phi-3 fuses q/k/v
    and gate/up into one Linear each: the same parameters and MACs."""
    width, heads = config.get("hidden_size"), config.get("num_attention_heads")
    kv = config.data.get("num_key_value_heads") or config.defaults.get("num_key_value_heads") or heads
    head_dim = config.data.get("head_dim") or config.defaults.get("head_dim") or None
    eps = config.get("rms_norm_eps", float)
    vocab = config.get("vocab_size")
    attention = dict(num_heads=heads, num_key_value_heads=kv, bias=qkv_bias, out_bias=out_bias, causal=True,
                     rotary=True, name="self_attn", **({"qk_norm": True} if qk_norm else {}))
    if head_dim is not None:
        attention["head_dim"] = head_dim
    seq = config.layers
    mlp = config.entry(GatedMLP, "intermediate_size", intermediate_size=config.get("intermediate_size", minimum=0),
                       bias=mlp_bias, activation=_activation(config, act_key, GATED_ACTIVATIONS), name="mlp")
    decoder = {"layers": seq([
        {"residual": {"layers": seq([
            config.entry(RMSNorm, "rms_norm_eps", eps=eps, name="input_layernorm"),
            config.entry(GroupedQueryAttention, "num_attention_heads", **attention)])}},
        {"residual": {"layers": seq([
            config.entry(RMSNorm, "rms_norm_eps", eps=eps, name="post_attention_layernorm"), mlp])}},
    ])}
    head = dict(out_features=vocab, bias=False, name="lm_head")
    if config.get("tie_word_embeddings", bool):
        head["share"] = "model.embed_tokens"
    model = seq([
        config.entry(Embedding, "vocab_size", num_embeddings=vocab, embedding_dim=width, name="embed_tokens"),
        config.entry("DecoderLayer", "num_hidden_layers", name="layers", repeat=config.get("num_hidden_layers")),
        config.entry(RMSNorm, "rms_norm_eps", eps=eps, name="norm"),
    ])
    return {"context": config.get("max_position_embeddings"), "blocks": {"DecoderLayer": decoder},
            "layers": seq([{"sequential": {"name": "model", "layers": model}}, config.entry(Linear, "vocab_size", **head)])}


def llama(config: Config) -> dict:
    return _llama_like(config, config.get("attention_bias", bool), config.get("attention_bias", bool),
                       config.get("mlp_bias", bool))


def mistral(config: Config) -> dict:
    return _llama_like(config, False, False, False)


def qwen2(config: Config) -> dict:
    return _llama_like(config, True, False, False)  # Qwen2Attention: q/k/v with bias, o_proj without


def qwen3(config: Config) -> dict:
    bias = config.get("attention_bias", bool)
    return _llama_like(config, bias, bias, False, qk_norm=True)  # RMSNorm of each head's q and k


def gemma(config: Config) -> dict:
    bias = config.get("attention_bias", bool)  # the embedding is scaled by sqrt(hidden): no parameters
    return _llama_like(config, bias, bias, False)


def phi3(config: Config) -> dict:
    return _llama_like(config, False, False, False)


def gpt2(config: Config) -> dict:
    """GPT2LMHeadModel: learned positions, pre-norm blocks with fused-QKV attention (Conv1D, a Linear
    transposed) and a GELU MLP of n_inner (default 4·n_embd); the LM head is tied to wte."""
    width, eps = config.get("n_embd"), config.get("layer_norm_epsilon", float)
    inner = config.data.get("n_inner") or 4 * width
    act = _activation(config, "activation_function", {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh",
                                                       "gelu": "none", "relu": None})
    activation = config.entry("ReLU", "activation_function") if act is None else config.entry(
        "GELU", "activation_function", approximate=act)
    seq = config.layers
    block = {"layers": seq([
        {"residual": {"layers": seq([
            config.entry(LayerNorm, "layer_norm_epsilon", eps=eps, name="ln_1"),
            config.entry(MultiheadAttention, "n_head", num_heads=config.get("n_head"), batch_first=True,
                         name="attn")])}},
        {"residual": {"layers": seq([
            config.entry(LayerNorm, "layer_norm_epsilon", eps=eps, name="ln_2"),
            {"sequential": {"name": "mlp", "layers": seq([
                config.entry(Linear, "n_inner", out_features=inner, name="c_fc"),
                activation,
                config.entry(Linear, "n_embd", out_features=width, name="c_proj")])}}])}},
    ])}
    head = dict(out_features=config.get("vocab_size"), bias=False, name="lm_head")
    if config.get("tie_word_embeddings", bool):
        head["share"] = "transformer.wte"
    positions = config.get("n_positions")
    transformer = seq([
        config.entry(Embedding, "vocab_size", num_embeddings=config.get("vocab_size"), embedding_dim=width,
                     name="wte"),
        config.entry(PositionalEmbedding, "n_positions", num_positions=positions, name="wpe"),
        config.entry("GPT2Block", "n_layer", name="h", repeat=config.get("n_layer")),
        config.entry(LayerNorm, "layer_norm_epsilon", eps=eps, name="ln_f"),
    ])
    return {"context": positions, "blocks": {"GPT2Block": block},
            "layers": seq([{"sequential": {"name": "transformer", "layers": transformer}},
                           config.entry(Linear, "vocab_size", **head)])}


def bert(config: Config) -> dict:
    """BertModel: word + position + token-type embeddings, LayerNorm, post-norm encoder layers, and the
    pooler (Linear + Tanh on the first token). The token-type table is looked up with zeros, not with
    the data: a learned tensor (Parameter) whose addition is not counted."""
    width, eps = config.get("hidden_size"), config.get("layer_norm_eps", float)
    act = _activation(config, "hidden_act", {"gelu": "gelu", "gelu_new": "gelu", "gelu_pytorch_tanh": "gelu",
                                             "relu": "relu"})
    positions = config.get("max_position_embeddings")
    pad = config.data.get("pad_token_id", 0)
    embedding = dict(num_embeddings=config.get("vocab_size"), embedding_dim=width, name="word_embeddings")
    if isinstance(pad, int) and not isinstance(pad, bool):
        embedding["padding_idx"] = pad
    seq = config.layers
    embeddings = seq([
        config.entry(Embedding, "vocab_size", **embedding),
        config.entry(PositionalEmbedding, "max_position_embeddings", num_positions=positions,
                     name="position_embeddings"),
        config.entry(Parameter, "type_vocab_size", shape=[config.get("type_vocab_size"), width],
                     name="token_type_embeddings"),
        config.entry(LayerNorm, "layer_norm_eps", eps=eps, name="LayerNorm")])
    encoder = config.entry(TransformerEncoderLayer, "num_hidden_layers", nhead=config.get("num_attention_heads"),
                           dim_feedforward=config.get("intermediate_size"), activation=act, layer_norm_eps=eps,
                           batch_first=True, norm_first=False, name="encoder.layer",
                           repeat=config.get("num_hidden_layers"))
    pooler = seq([
        config.entry(Select, "hidden_size", dim=1, index=0, name="first_token"),
        config.entry(Linear, "hidden_size", out_features=width, name="dense"),
        config.entry("Tanh", "hidden_size", name="activation")])
    return {"context": positions,
            "layers": seq([{"sequential": {"name": "embeddings", "layers": embeddings}}, encoder,
                           {"sequential": {"name": "pooler", "layers": pooler}}])}


LLAMA = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
             num_attention_heads=32, hidden_act="silu", max_position_embeddings=2048, rms_norm_eps=1e-6,
             tie_word_embeddings=False, attention_bias=False, mlp_bias=False)
# model_type → (builder, transformers' class, that config class's defaults)
MODELS = {
    "llama": (llama, "LlamaForCausalLM", LLAMA),
    "mistral": (mistral, "MistralForCausalLM", {**LLAMA, "intermediate_size": 14336, "num_key_value_heads": 8,
                                               "max_position_embeddings": 131072}),
    "qwen2": (qwen2, "Qwen2ForCausalLM", {**LLAMA, "vocab_size": 151936, "intermediate_size": 22016,
                                         "max_position_embeddings": 32768}),
    "qwen3": (qwen3, "Qwen3ForCausalLM", {**LLAMA, "vocab_size": 151936, "intermediate_size": 22016,
                                         "max_position_embeddings": 32768, "head_dim": 128}),
    "gemma": (gemma, "GemmaForCausalLM", {**LLAMA, "vocab_size": 256000, "hidden_size": 3072,
                                         "intermediate_size": 24576, "num_hidden_layers": 28,
                                         "num_attention_heads": 16, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
                                         "max_position_embeddings": 8192, "tie_word_embeddings": True}),
    "phi3": (phi3, "Phi3ForCausalLM", {**LLAMA, "vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192,
                                       "max_position_embeddings": 4096, "rms_norm_eps": 1e-5}),
    "gpt2": (gpt2, "GPT2LMHeadModel", dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
                                          activation_function="gelu_new", layer_norm_epsilon=1e-5,
                                          tie_word_embeddings=True)),
    "bert": (bert, "BertModel", dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                     intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512,
                                     type_vocab_size=2, layer_norm_eps=1e-12)),
}


def is_config(data) -> bool:
    """Whether loaded spec data is a Hugging Face config (a mapping with ``model_type``)."""
    return isinstance(data, dict) and "model_type" in data and "layers" not in data


def spec_data(data: dict) -> dict:
    """The spec (as loaded data) of the network transformers builds for ``data``."""
    model_type = data.get("model_type")
    key_pos = getattr(data, "key_pos", {})
    if model_type not in MODELS:
        hint = did_you_mean(str(model_type), list(MODELS))
        raise SpecError(f"model_type {model_type!r} is not one netcalc can build{hint}; it builds "
                        f"{', '.join(sorted(MODELS))}", key_pos.get("model_type"))
    build, class_name, defaults = MODELS[model_type]
    config = Config(data, defaults)
    built = build(config)
    name = data.get("_name_or_path") or model_type
    return {"name": f"{name} ({class_name})" if isinstance(name, str) else class_name,
            "input": ["B", "T"], "symbols": {"B": 1, "T": built.pop("context")}, **built}
