"""netcalc check: netcalc's exported module built by torch on the meta device, compared layer by
layer. Every runnable spec under specs/ (the zoo included) must agree; a netcalc rule made wrong
on purpose must be caught (exit 3); without torch the command says how to install it (exit 2)."""

from __future__ import annotations

import json
import sys

import pytest

torch = pytest.importorskip("torch", reason="netcalc check needs torch==2.13.0 (pip install 'netcalc[torch]')")

from test_export import FEATURES, IDS, RUNNABLE, SPECS

from netcalc.check import check, check_text, render
from netcalc.spec import parse


def assert_agrees(result):
    assert result.error is None and result.note is None, result.error or result.note
    bad = [f"{r.name}: {'; '.join(r.differences)}" for r in result.layers if not r.agree]
    assert not bad, "\n".join(bad)
    assert result.agree and result.params.agree
    for r in result.layers:  # everything was measured, not skipped
        assert r.output_shape.measured and r.output_shape.torch is not None, r.name


@pytest.mark.parametrize("path", RUNNABLE, ids=IDS)
def test_every_runnable_spec_agrees_with_torch(path):
    result = check(parse(path.read_text(), str(path)), source=str(path))
    assert_agrees(result)
    if any(r.type.startswith(("Conv", "Linear")) for r in result.layers):
        assert any(r.macs is not None and r.macs.measured for r in result.layers)


@pytest.mark.parametrize("name", FEATURES)
def test_feature_specs_agree_with_torch(name):
    assert_agrees(check_text(FEATURES[name]))


def test_no_bias_and_set_values_are_checked():
    path = SPECS / "zoo" / "resnet18.yaml"
    result = check(parse(path.read_text(), str(path)), {"B": 3}, no_bias=True)
    assert_agrees(result)
    assert result.layers[0].output_shape.torch == (3, 64, 112, 112)
    assert result.params.torch == result.params.netcalc == 11689512 - 1000 - 4800  # fc's bias and BatchNorm's beta


def test_a_wrong_parameter_rule_is_a_difference(monkeypatch, cli):
    from netcalc.layers.linear import Linear

    right = Linear.parameters

    def wrong(self, x):  # one bias too many
        p = dict(right(self, x))
        p["bias"] = (self.args["out_features"] + 1,)
        return p

    monkeypatch.setattr(Linear, "parameters", wrong)
    result = check_text((SPECS / "homework" / "fashion_mlp.yaml").read_text())
    assert not result.agree
    bad = [r for r in result.layers if not r.agree]
    assert [r.name for r in bad] == ["Linear_1", "Linear_3", "Linear_5", "Linear_7"]
    assert bad[0].differences[0] == "parameters: netcalc 25,121, torch 25,120"
    r = cli("check", SPECS / "homework" / "fashion_mlp.yaml")
    assert r.exit_code == 3
    assert "DIFF" in r.stdout and "Linear_1: parameters: netcalc 25,121, torch 25,120" in r.stdout


def test_a_wrong_shape_rule_is_a_difference(monkeypatch):
    from netcalc.layers.pool import MaxPoolNd

    right = MaxPoolNd.output_shape

    def wrong(self, x):  # one row too many
        y = right(self, x)
        return (*y[:-1], y[-1] + 1)

    monkeypatch.setattr(MaxPoolNd, "output_shape", wrong)
    text = "input: [1, 2, 8, 8]\nlayers:\n  - MaxPool2d: {kernel_size: 2}\n  - ReLU\n"
    result = check_text(text)
    assert not result.agree
    assert result.layers[0].differences == ["output shape: netcalc (1, 2, 4, 5), torch (1, 2, 4, 4)"]


def test_torch_refusing_the_module_is_a_difference(monkeypatch):
    from netcalc.layers.linear import Flatten

    right = Flatten.output_shape
    monkeypatch.setattr(Flatten, "output_shape", lambda self, x: (*right(self, x)[:-1], right(self, x)[-1] + 1))
    text = "input: [2, 3, 4]\nlayers:\n  - Flatten\n  - Linear: {out_features: 5}\n"
    result = check_text(text)  # the exported Linear expects 13 inputs, torch gives it 12
    assert not result.agree and "torch refused to run Linear_2" in result.error


def test_merges_are_compared():
    text = ("input: [1, 4, 8, 8]\nlayers:\n  - residual:\n      layers:\n        - Conv2d: {out_channels: 4, "
            "kernel_size: 3, padding: 1}\n  - concat: {branches: [[], [ReLU]]}\n")
    result = check_text(text)
    assert_agrees(result)
    merges = {r.type: r for r in result.layers if r.module in ("+", "torch.cat")}
    assert merges["Add"].output_shape.torch == (1, 4, 8, 8)
    assert merges["Concat"].output_shape.torch == (1, 8, 8, 8)


def test_attention_macs_are_measured_in_train_mode():
    text = "input: [3, 7, 16]\nlayers:\n  - TransformerEncoderLayer: {nhead: 4, dim_feedforward: 32, batch_first: true}\n"
    result = check_text(text)
    assert_agrees(result)
    macs = result.layers[0].macs
    assert macs.measured and macs.torch == macs.netcalc > 0


def test_formats(cli):
    path = SPECS / "homework" / "cnn_40730.yaml"
    r = cli("check", path, "--format", "json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["agree"] is True and doc["differences"] == 0 and doc["device"] == "meta"
    assert doc["layers"][0]["output_shape"] == {"netcalc": [64, 12, 28, 28], "torch": [64, 12, 28, 28],
                                                "measured": True}
    assert doc["totals"]["params"] == {"netcalc": 40730, "torch": 40730}
    r = cli("check", path, "--format", "csv")
    assert r.exit_code == 0 and r.stdout.splitlines()[1].endswith(",true")
    r = cli("check", path, "--format", "markdown")
    assert r.exit_code == 0 and r.stdout.count("| ok |") == 12  # 11 layers and the total
    r = cli("check", path)
    assert r.exit_code == 0 and "all agree" in r.stdout and "parameters 11/11" in r.stdout


def test_exit_codes(cli, spec_file, monkeypatch):
    path = SPECS / "homework" / "mlp.yaml"
    assert cli("check", path).exit_code == 0
    assert cli("check", path, "--set", "B=x").exit_code == 2
    r = cli("check", spec_file("input: [B, 4]\nlayers:\n  - Linear: {out_features: 2}\n"))
    assert r.exit_code == 1 and ":1:9: error: export needs a value for every symbol, and B has none" in r.stderr
    assert cli("check", spec_file("input: [1, 4]\nlayers:\n  - Linear: {out_features: 0}\n")).exit_code == 1
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    r = cli("check", path)
    assert r.exit_code == 2 and "netcalc check needs PyTorch: pip install 'netcalc[torch]'" in r.stderr
    assert cli("export", path).exit_code == 0  # export never needs torch


def test_render_shows_differences_only_where_they_are():
    result = check_text((SPECS / "homework" / "midterm_conv20.yaml").read_text())
    text = render(result)
    assert "DIFF" not in text and "all agree" in text


def test_an_op_without_a_meta_kernel_is_measured_on_the_cpu_or_said_unmeasured(monkeypatch):
    import netcalc.check as chk

    real = chk.Probe.run

    def no_meta(self, device):
        if device == "meta":
            raise NotImplementedError("no meta kernel for this op")
        return real(self, device)

    monkeypatch.setattr(chk.Probe, "run", no_meta)
    text = (SPECS / "homework" / "cnn_40730.yaml").read_text()
    result = check_text(text)  # small: run on real zeros on the CPU
    assert result.device == "cpu"
    assert_agrees(result)
    monkeypatch.setattr(chk, "CPU_LIMIT", 0)  # too big for the CPU: nothing measured, and said so
    result = check_text(text)
    assert result.agree and result.note.startswith("not measured: NotImplementedError")
    assert not any(r.output_shape.measured for r in result.layers)
    assert "not measured" in render(result)


def test_a_tied_weight_is_exported_tied_and_counted_once():
    text = ("input: [2, 7]\nlayers:\n  - Embedding: {num_embeddings: 50, embedding_dim: 8, name: embed}\n"
            "  - Linear: {out_features: 50, bias: false, name: lm_head, share: embed}\n")
    result = check_text(text, "tied.yaml")
    assert result.differences == 0, render(result)
    assert (result.params.netcalc, result.params.torch) == (400, 400)


def test_unnamed_shortcut_layers_have_paths_of_their_own():
    """Every leaf path is unique and is the exported module's path in named_modules() (issue 16)."""
    text = ("input: [1, 4, 8, 8]\nlayers:\n  - residual:\n      layers: [ReLU, {Conv2d: {out_channels: 4, kernel_size: 1}}]\n"
            "      shortcut: [{Conv2d: {out_channels: 4, kernel_size: 1}}]\n")
    result = check_text(text, "res.yaml")
    assert result.differences == 0, render(result)
    names = [r.name for r in result.layers]
    assert len(names) == len(set(names)) and "Residual_1.shortcut.0" in names


def test_nested_concat_paths_are_unique_and_the_exported_modules():
    """A concat inside a branch is named by its ordinal, so its branches never reuse a sibling's path
    (issue 16; export used to rename one of them 0_2)."""
    text = ("input: [1, 4, 8, 8]\nlayers:\n  - concat:\n      branches:\n"
            "        - [{Conv2d: {out_channels: 2, kernel_size: 1}}, {concat: {branches: [[{Conv2d: {out_channels: 2, "
            "kernel_size: 1}}], [ReLU]]}}]\n        - [{Conv2d: {out_channels: 2, kernel_size: 1}}]\n")
    result = check_text(text, "nested.yaml")
    assert result.differences == 0, render(result)
    names = [r.name for r in result.layers]
    assert len(names) == len(set(names)) and "Concat_1.0.1.0.0" in names
    from netcalc.export import export_text

    assert "0_2" not in export_text(text, "nested.yaml").code


SEVERAL = {
    "decoder reads memory": """
inputs: {tgt: [6, 2, 16], mem: [9, 2, 16]}
layers:
  - Linear: {out_features: 16, name: proj}
  - TransformerDecoderLayer: {nhead: 4, dim_feedforward: 32, memory: mem, name: dec}
  - TransformerDecoder: {nhead: 2, dim_feedforward: 8, num_layers: 2, norm: true, memory: dec, from: proj}
""",
    "transformer reads tgt": """
inputs: {src: [2, 9, 8], tgt: [2, 5, 8]}
layers:
  - Transformer: {nhead: 2, num_encoder_layers: 1, num_decoder_layers: 2, dim_feedforward: 16, batch_first: true, tgt: tgt}
  - Linear: {out_features: 3}
""",
    "cross-attention with kdim and vdim": """
inputs: {q: [5, 2, 8], k: [7, 2, 6], v: [7, 2, 4]}
layers:
  - MultiheadAttention: {num_heads: 2, key: k, value: v, kdim: 6, vdim: 4}
  - MultiheadAttention: {num_heads: 4, name: self_attention}
""",
    "tensor ops": """
inputs: {a: [2, 3, 4], b: [2, 4, 5], q: [2, 4, 6, 8], k: [2, 2, 5, 8], v: [2, 2, 5, 3]}
outputs: [bik, attn]
layers:
  - Linear: {out_features: 4}
  - Matmul: {other: b}
  - Einsum: {equation: "bik,bkj->bij", other: b, from: a, name: bik}
  - Stack: {other: bik, dim: 1}
  - ScaledDotProductAttention: {key: k, value: v, is_causal: true, enable_gqa: true, from: q, name: attn}
""",
    "pairs, from: and outputs:": """
inputs: {x: [4, 3, 8]}
outputs: [cos, dist]
layers:
  - Linear: {out_features: 8, name: a}
  - Linear: {out_features: 8, from: x, name: b}
  - CosineSimilarity: {dim: 2, x2: a, name: cos}
  - PairwiseDistance: {keepdim: true, x2: a, from: b, name: dist}
""",
}


@pytest.mark.parametrize("name", list(SEVERAL))
def test_several_inputs_and_outputs_agree_with_torch(name):
    """export writes forward(self, x, ...) with the named inputs, reads named tensors (from:,
    memory:, tgt:, key:/value:, x2:) and returns outputs:; torch agrees row by row (issue 11)."""
    result = check_text(SEVERAL[name], "x.yaml")
    assert result.agree, render(result, "table")


def test_what_export_does_not_write_yet_is_a_located_error():
    from netcalc.errors import SpecError

    text = "inputs: {a: [2, 6]}\nlayers:\n  - Chunk: {chunks: 2, dim: 1, names: [p, q]}\n  - Linear: {out_features: 2, from: q}\n"
    with pytest.raises(SpecError, match="do not write a read of q yet") as e:
        check_text(text, "x.yaml")
    assert e.value.pos[0] == 4
    inside = ("inputs: {a: [5, 2, 8], m: [7, 2, 8]}\nblocks:\n  D: {layers: [{TransformerDecoderLayer: {nhead: 2, "
              "memory: m}}]}\nlayers:\n  - D\n")
    with pytest.raises(SpecError, match="only where it is written"):
        check_text(inside, "x.yaml")
