"""Hardening: random specs, valid and invalid, in YAML (block and flow style) and TOML ([[layers]]
tables and an inline array), in all three layer forms, over conv/pool/transposed/depthwise/
pointwise/linear/flatten/norm/activation/dropout/RNN/attention layers with residuals, concats,
blocks and symbols (from ``symbols:`` or ``--set``). The generators live in tests/spec_gen.py and
are shared with the long run, ``benchmarks/fuzz.py``.

1. every valid spec agrees with torch through ``netcalc check`` run in-process (needs torch);
2. every invalid spec (one fault in one layer) makes ``netcalc summary`` exit 1 with exactly one
   stderr line ``FILE:LINE:COL: error: ...`` whose LINE is in the faulty layer's lines;
3. no text, valid, invalid or garbled by random character edits, ever gives a traceback or an
   internal error: exit 0, or exit 1 with one located error line.
"""

from __future__ import annotations

import re

import pytest
import spec_gen as g
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=list(HealthCheck))


def write(tmp_path_factory, text: str, filename: str) -> str:
    path = tmp_path_factory.mktemp("fuzz") / filename
    path.write_text(text, encoding="utf-8")
    return str(path)


def report(problem: str | None, text: str, model: g.Model | None = None):
    if problem:
        extra = f"\n--set {' '.join(g.set_args(model))}" if model and model.sets else ""
        extra += " --no-bias" if model and model.no_bias else ""
        pytest.fail(f"{problem}\n--- spec{extra} ---\n{text}", pytrace=False)


def test_valid_specs_agree_with_torch():
    pytest.importorskip("torch", reason="invariant 1 compares with torch (pip install torch==2.13.0)")

    @settings(FUZZ, max_examples=100)
    @given(st.data(), st.sampled_from(g.FORMATS))
    def agree(data, fmt):
        model, _ = g.gen_model(g.HypothesisRand(data))
        text, filename, _ = g.render(model, fmt)
        report(g.agrees_with_torch(text, filename, model), text, model)

    agree()


@settings(FUZZ, max_examples=120)
@given(data=st.data(), fmt=st.sampled_from(g.FORMATS))
def test_invalid_specs_are_one_located_error(data, fmt, tmp_path_factory):
    model = g.gen_invalid(g.HypothesisRand(data))
    text, filename, spans = g.render(model, fmt)
    path = write(tmp_path_factory, text, filename)
    report(g.located_error(path, model, spans[model.fault_index]), text, model)


@settings(FUZZ, max_examples=100)
@given(data=st.data(), fmt=st.sampled_from(g.FORMATS), command=st.sampled_from(["summary", "shapes", "rf", "memory"]),
       out_format=st.sampled_from(["table", "json", "csv", "markdown"]))
def test_valid_specs_run_cleanly(data, fmt, command, out_format, tmp_path_factory):
    r = g.HypothesisRand(data)
    model, _ = g.gen_model(r)
    text, filename, _ = g.render(model, fmt)
    path = write(tmp_path_factory, text, filename)
    extra = g.cli_variant(r, model)
    report(g.no_crash(path, (), command, out_format, extra), text + "\noptions: " + " ".join(extra), model)


@settings(FUZZ, max_examples=250)
@given(data=st.data(), fmt=st.sampled_from(g.FORMATS), invalid=st.booleans())
def test_garbled_specs_never_crash(data, fmt, invalid, tmp_path_factory):
    r = g.HypothesisRand(data)
    model = g.gen_invalid(r) if invalid else g.gen_model(r)[0]
    text = g.mutate(r, g.render(model, fmt)[0])
    filename = g.render(model, fmt)[1]
    path = write(tmp_path_factory, text, filename)
    report(g.no_crash(path, g.set_args(model)), text, model)


def test_the_generators_cover_every_form_and_fault():
    """The generators reach every layer form, every fault and the structural entries."""
    import random

    r = g.Rand(random.Random(0))
    forms, faults, types = set(), set(), set()
    for _ in range(400):
        model, _ = g.gen_model(r)
        forms |= {layer.form for layer in model.layers}
        types |= {layer.type for layer in model.layers}
        faults.add(g.gen_invalid(r).fault)
    assert forms == {"bare", "onekey", "typekey"}
    assert faults == set(g.FAULTS)
    assert {"residual", "concat", "LSTM", "MultiheadAttention", "Flatten", "ConvTranspose2d"} <= types


BLANKABLE = re.compile(r"\b(kernel_size|stride|padding|out_channels|out_features|hidden_size|groups|c|k|s|p|w)"
                       r"(\s*[:=]\s*)(\d+)\b")


@settings(FUZZ, max_examples=80)
@given(data=st.data(), fmt=st.sampled_from(g.FORMATS), out_format=st.sampled_from(["table", "json"]))
def test_blanked_specs_never_crash_solve(data, fmt, out_format, tmp_path_factory):
    """netcalc solve on random specs (blocks, residuals, concats, repeats) with random integer
    arguments blanked, in layers and in block calls: an answer or one located error, never a
    traceback (solve walks them through the graph builder since issue 9)."""
    r = g.HypothesisRand(data)
    model, _ = g.gen_model(r)
    text, filename, _ = g.render(model, fmt)
    spots = list(BLANKABLE.finditer(text))
    if not spots:
        return
    chosen = sorted({r.int(0, len(spots) - 1) for _ in range(r.int(1, 3))}, reverse=True)
    for i in chosen:
        m = spots[i]
        blank = '"_"' if filename.endswith(".toml") else "_"
        text = text[:m.start(3)] + blank + text[m.end(3):]
    path = write(tmp_path_factory, text, filename)
    report(g.no_crash(path, g.set_args(model), "solve", out_format), text, model)
