"""A Hugging Face config.json as a spec (netcalc/hf.py), against transformers itself: the model
built from the same config on the meta device for the parameters (each counted once, as
``parameters()`` does), and a small CPU model with eager attention under FlopCounterMode for the
MACs of one forward on ``[B, T]`` token ids."""

from __future__ import annotations

import json
import warnings

import pytest

torch = pytest.importorskip("torch", reason="the transformers oracle needs torch==2.13.0")
transformers = pytest.importorskip("transformers", reason="the LLM oracle needs transformers (test extra)")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from netcalc.errors import SpecError
from netcalc.network import analyze_text

CAUSAL = {"llama", "mistral", "qwen2", "qwen3", "gemma", "phi3", "gpt2"}


def transformers_numbers(config: dict, batch: int, length: int) -> tuple[int, int]:
    """(parameters, MACs) of the model transformers builds for ``config``."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    kind = config["model_type"]
    cfg = AutoConfig.for_model(kind, **{k: v for k, v in config.items() if k != "model_type"})
    auto = AutoModelForCausalLM if kind in CAUSAL else AutoModel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transformers.logging.set_verbosity_error()
        with torch.device("meta"):
            params = sum(p.numel() for p in auto.from_config(cfg, attn_implementation="eager").parameters())
        model = auto.from_config(cfg, attn_implementation="eager").eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(input_ids=torch.zeros(batch, length, dtype=torch.long))
    return params, counter.get_total_flops() // 2


def netcalc_numbers(config: dict, batch: int, length: int) -> tuple[int, int]:
    report = analyze_text(json.dumps(config), "config.json", {"B": batch, "T": length})
    return report.totals["params"], report.totals["macs"]


@st.composite
def configs(draw):
    kind = draw(st.sampled_from(sorted(CAUSAL | {"bert"})))
    heads = draw(st.integers(1, 4))
    width = heads * draw(st.sampled_from([2, 4, 8]))
    vocab = draw(st.integers(8, 64))
    layers = draw(st.integers(1, 2))
    context = draw(st.integers(8, 16))
    if kind == "gpt2":
        config = {"n_embd": width, "n_head": heads, "n_layer": layers, "vocab_size": vocab, "n_positions": context}
        if draw(st.booleans()):
            config["n_inner"] = draw(st.integers(1, 40))
        if draw(st.booleans()):
            config["tie_word_embeddings"] = draw(st.booleans())
    else:
        config = {"hidden_size": width, "num_attention_heads": heads, "num_hidden_layers": layers,
                  "intermediate_size": draw(st.integers(1, 40)), "vocab_size": vocab,
                  "max_position_embeddings": context}
        if kind == "bert":
            config["type_vocab_size"] = draw(st.integers(1, 3))
        else:
            config["num_key_value_heads"] = draw(st.sampled_from([h for h in range(1, heads + 1) if heads % h == 0]))
            if draw(st.booleans()):
                config["tie_word_embeddings"] = draw(st.booleans())
            if draw(st.booleans()):
                config["head_dim"] = draw(st.sampled_from([2, 4, 6]))
        if kind == "phi3":
            config["pad_token_id"] = 0  # Phi3Config's default, 32000, is past these small vocabularies
        if kind in ("qwen3", "gemma"):
            config["head_dim"] = draw(st.sampled_from([2, 4, 6]))  # their defaults (128, 256) are too large here
            if draw(st.booleans()):
                config["attention_bias"] = draw(st.booleans())
        if kind == "llama":
            for key in ("attention_bias", "mlp_bias"):
                if draw(st.booleans()):
                    config[key] = draw(st.booleans())
    return {"model_type": kind, **config}, draw(st.integers(1, 2)), draw(st.integers(1, 8))


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_configs_match_transformers(case):
    config, batch, length = case
    assert netcalc_numbers(config, batch, length) == transformers_numbers(config, batch, length), config


@pytest.mark.parametrize("config", [
    {"model_type": "gpt2"},  # GPT-2 small: every value a default of GPT2Config
    {"model_type": "bert"},
    {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_attention_heads": 14,
     "num_key_value_heads": 2, "num_hidden_layers": 24, "vocab_size": 151936, "tie_word_embeddings": True},
    {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
     "num_key_value_heads": 8, "num_hidden_layers": 32, "vocab_size": 128256, "max_position_embeddings": 131072},
    {"model_type": "gemma", "hidden_size": 2048, "intermediate_size": 16384, "num_attention_heads": 8,
     "num_key_value_heads": 1, "head_dim": 256, "num_hidden_layers": 18},
    {"model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072, "num_attention_heads": 16,
     "num_key_value_heads": 8, "head_dim": 128, "num_hidden_layers": 28, "tie_word_embeddings": True},
    {"model_type": "phi3"},  # Phi-3-mini: every value a default
], ids=["gpt2", "bert-base", "qwen2-0.5b", "llama-3-8b", "gemma-2b", "qwen3-0.6b", "phi3-mini"])
def test_published_sizes_match_transformers_parameters(config):
    """Full-size configs: parameters on the meta device (their forward is too large to run here)."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    cfg = AutoConfig.for_model(config["model_type"], **{k: v for k, v in config.items() if k != "model_type"})
    auto = AutoModelForCausalLM if config["model_type"] in CAUSAL else AutoModel
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = sum(p.numel() for p in auto.from_config(cfg).parameters())
    assert netcalc_numbers(config, 1, 8)[0] == expected


def test_the_context_length_is_the_default_sequence():
    report = analyze_text('{"model_type": "gpt2", "n_layer": 1}', "config.json")
    assert report.input_shape == (1, 1024)
    with pytest.raises(SpecError, match="num_positions"):  # learned positions end at n_positions
        analyze_text('{"model_type": "gpt2", "n_layer": 1}', "config.json", {"T": 1025})


@pytest.mark.parametrize("text, message, line", [
    ('{"model_type": "t5"}', "model_type 't5' is not one netcalc can build; it builds bert, gemma, gpt2, llama", 1),
    ('{"model_type": "lama"}', "(did you mean 'llama'?)", 1),
    ('{"model_type": "llama",\n "hidden_size": "big"}', "config hidden_size must be an integer", 2),
    ('{"model_type": "llama",\n "num_hidden_layers": 0}', "config num_hidden_layers must be at least 1", 2),
    ('{"model_type": "llama",\n "hidden_act": "tanh"}', "config hidden_act 'tanh' is not one netcalc knows", 2),
    ('{"model_type": "llama",\n "hidden_size": 100, "num_attention_heads": 3}', "divisible by num_heads", 2),
])
def test_bad_configs_are_located_errors(text, message, line):
    with pytest.raises(SpecError, match=None) as e:
        analyze_text(text, "config.json")
    assert message in e.value.message and e.value.pos[0] == line, (e.value.message, e.value.pos)


def test_the_cli_reads_a_config_json(cli, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llama", "hidden_size": 64, "intermediate_size": 96,
                                "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
                                "vocab_size": 100, "max_position_embeddings": 32}))
    result = cli("summary", str(path), "--set", "B=2", "--set", "T=7", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert (doc["totals"]["params"], doc["totals"]["macs"]) == transformers_numbers(
        json.loads(path.read_text()), 2, 7)
    assert doc["layers"][0]["path"] == "model.embed_tokens" and doc["layers"][-1]["name"] == "lm_head"


@pytest.mark.parametrize("name, published", [("gpt2", 124_439_808), ("llama2_7b", 6_738_415_616),
                                             ("tinyllama", 1_100_048_384)])
def test_zoo_llms_have_their_published_sizes(name, published):
    """The zoo's LLMs are config.json files (as YAML): netcalc's count, transformers' count on the
    meta device and the published figure agree."""
    import yaml
    from transformers import AutoConfig, AutoModelForCausalLM

    from netcalc.api import zoo_path

    with open(zoo_path(name), encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    assert netcalc_numbers(config, 1, 8)[0] == published
    cfg = AutoConfig.for_model(config["model_type"], **{k: v for k, v in config.items()
                                                        if k not in ("model_type", "_name_or_path")})
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert sum(p.numel() for p in AutoModelForCausalLM.from_config(cfg).parameters()) == published


def transformers_cache(config: dict, batch: int, length: int) -> int:
    """Elements of the keys and values transformers caches in one forward with use_cache."""
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model(config["model_type"], **{k: v for k, v in config.items() if k != "model_type"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transformers.logging.set_verbosity_error()
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
        with torch.no_grad():
            cache = model(input_ids=torch.zeros(batch, length, dtype=torch.long), use_cache=True).past_key_values
    return sum(layer.keys.numel() + layer.values.numel() for layer in cache.layers)


@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(configs().filter(lambda case: case[0]["model_type"] in CAUSAL))
def test_kv_cache_matches_what_transformers_caches(case):
    """netcalc memory's KV cache is the keys and values transformers' DynamicCache holds."""
    config, batch, length = case
    report = analyze_text(json.dumps(config), "config.json", {"B": batch, "T": length})
    assert report.kv_cache_bytes == 4 * transformers_cache(config, batch, length), config
