"""netcalc.network: the walk over layers, the seed network, symbols and expectations."""

from __future__ import annotations

import re

import pytest
import sympy as sp

from netcalc.errors import SpecError
from netcalc.network import analyze_text
from netcalc.symbolic import symbol

B, C, H, W, K, M, N = (symbol(n) for n in "BCHWKMN")


def simplified_equal(a, b) -> bool:
    return sp.simplify(sp.sympify(a) - sp.sympify(b)) == 0


# --------------------------------------------------------------------- the seed network

SEED_SHAPES = [
    (100, 128, 256, 256),   # ⌊(512 + 4 - 5)/2⌋ + 1 = 256
    (100, 128, 256, 256),
    (100, 64, 128, 128),    # ⌊(256 + 4 - 5)/2⌋ + 1 = 128
    (100, 64, 128, 128),
    (100, 32, 64, 64),      # ⌊(128 + 2 - 3)/2⌋ + 1 = 64
    (100, 32, 64, 64),
    (100, 16, 64, 64),      # 1x1
    (100, 16, 64, 64),
    (100, 16, 32, 32),      # ⌊(64 - 2)/2⌋ + 1 = 32
    (100, 16384),           # 16·32·32
    (100, 10),
]
SEED_WEIGHTS = [128 * 3 * 25, 0, 64 * 128 * 25, 0, 32 * 64 * 9, 0, 16 * 32, 0, 0, 0, 10 * 16384]
SEED_BIASES = [128, 0, 64, 0, 32, 0, 16, 0, 0, 0, 10]


def test_seed_shapes(seed_text):
    report = analyze_text(seed_text)
    assert [row.output_shape for row in report.layers] == SEED_SHAPES
    assert report.input_shape == (100, 3, 512, 512) and report.output_shape == (100, 10)
    assert report.name == "seed CNN"


def test_seed_parameters(seed_text):
    report = analyze_text(seed_text)
    assert [row.weights for row in report.layers] == SEED_WEIGHTS
    assert SEED_WEIGHTS[::2][:4] + [SEED_WEIGHTS[10]] == [9600, 204800, 18432, 512, 163840]
    assert [row.biases for row in report.layers] == SEED_BIASES
    assert [row.params for row in report.layers] == [w + b for w, b in zip(SEED_WEIGHTS, SEED_BIASES)]
    assert report.totals["weights"] == 397184
    assert report.totals["biases"] == 250
    assert report.totals["params"] == 397434


def test_seed_without_bias(seed_text):
    report = analyze_text(seed_text, no_bias=True)
    assert [row.params for row in report.layers] == SEED_WEIGHTS
    assert report.totals["biases"] == 0 and report.totals["params"] == 397184


def test_seed_macs_and_flops(seed_text):
    report = analyze_text(seed_text)
    outputs = [100 * 128 * 256 * 256, 100 * 64 * 128 * 128, 100 * 32 * 64 * 64, 100 * 16 * 64 * 64]
    fan_in = [3 * 25, 128 * 25, 64 * 9, 32]
    convs = [report.layers[i] for i in (0, 2, 4, 6)]
    assert [r.macs for r in convs] == [o * f for o, f in zip(outputs, fan_in)]
    assert [r.flops for r in convs] == [o * 2 * f for o, f in zip(outputs, fan_in)]      # 2f - 1 + 1 (bias)
    assert report.layers[10].macs == 100 * 10 * 16384
    assert convs[0].macs == 62_914_560_000
    assert report.totals["macs"] == sum(o * f for o, f in zip(outputs, fan_in)) + 100 * 10 * 16384
    no_bias = analyze_text(seed_text, no_bias=True)
    assert [no_bias.layers[i].macs for i in (0, 2, 4, 6)] == [r.macs for r in convs]
    assert [no_bias.layers[i].flops for i in (0, 2, 4, 6)] == [o * (2 * f - 1) for o, f in zip(outputs, fan_in)]


def test_seed_receptive_fields(seed_text):
    report = analyze_text(seed_text)
    assert [report.layers[i].rf["size"] for i in (0, 2, 4, 6, 8)] == [[5, 5], [13, 13], [21, 21], [21, 21], [29, 29]]


def test_seed_default_names_and_types(seed_text):
    report = analyze_text(seed_text)
    assert [r.name for r in report.layers][:3] == ["Conv2d_1", "ReLU_2", "Conv2d_3"]
    assert report.layers[-1].name == "Linear_11"
    assert [r.index for r in report.layers] == list(range(1, 12))


# ------------------------------------------------------------------------------ symbols

GROUPED = """
input: [B, C, H, W]
layers:
  - Conv2d: {out_channels: N, kernel_size: K, groups: M, bias: false}
"""


def test_symbolic_grouped_conv_params():
    row = analyze_text(GROUPED).layers[0]
    assert simplified_equal(row.params, C * K ** 2 * N / M)
    assert row.biases == 0
    assert simplified_equal(row.output_shape[2], H - K + 1) and simplified_equal(row.output_shape[3], W - K + 1)
    for c, k, n, m in ((4, 3, 8, 2), (6, 5, 9, 3), (1, 1, 1, 1)):
        assert sp.sympify(row.params).subs({C: c, K: k, N: n, M: m}) == c * k * k * n // m


def test_symbolic_grouped_conv_macs():
    row = analyze_text(GROUPED).layers[0]
    assert simplified_equal(row.macs, B * N * (H - K + 1) * (W - K + 1) * C / M * K ** 2)


def test_values_fill_symbols():
    report = analyze_text(GROUPED, values=dict(B=2, C=4, H=10, W=12, N=8, K=3, M=2))
    row = report.layers[0]
    assert row.output_shape == (2, 8, 8, 10)
    assert row.params == 8 * 2 * 9 and type(row.params) is int
    d = report.to_dict()
    for key in ("weights", "biases", "params", "macs", "flops"):
        assert type(d["layers"][0][key]) is int and type(d["totals"][key]) is int


def test_partial_values_stay_symbolic():
    row = analyze_text(GROUPED, values=dict(C=4, M=2)).layers[0]
    assert simplified_equal(row.params, 2 * K ** 2 * N)


def test_set_overrides_symbols_block():
    text = "input: [B, 8]\nsymbols: {B: 3}\nlayers:\n  - Linear: {out_features: 2}\n"
    assert analyze_text(text).output_shape == (3, 2)
    assert analyze_text(text, values={"B": 7}).output_shape == (7, 2)


def test_input_expressions():
    report = analyze_text("input: [1, \"2*C\", \"H/4\", \"H//3 + 1\"]\nlayers: [ReLU]\n", values={"C": 3, "H": 12})
    assert report.input_shape == (1, 6, 3, 5)


STRIDED = """
input: [B, 3, H, W]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
  - MaxPool2d: {kernel_size: 3, stride: 2, padding: 1}
  - Conv2d: {out_channels: 8, kernel_size: 5, stride: 2, padding: 2}
  - AvgPool2d: {kernel_size: 2}
  - Conv2d: {out_channels: 8, kernel_size: 7, stride: 3, padding: 3}
  - Conv2d: {out_channels: 8, kernel_size: 4, stride: 2, padding: 1}
  - MaxPool2d: {kernel_size: 2, stride: 2}
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2}
"""


def test_strided_chain_stays_bounded():
    report = analyze_text(STRIDED)
    for row in report.layers:
        for d in row.output_shape[2:]:
            e = sp.sympify(d)
            assert len(e.atoms(sp.floor)) <= 1          # nested floors collapse
            assert sp.count_ops(e) <= 8 and len(str(e)) < 60


@pytest.mark.parametrize("h", [537, 538, 600, 777, 1023, 1024, 4097])  # 537: the smallest that fits
def test_strided_chain_agrees_with_numbers(h):
    symbolic = analyze_text(STRIDED)
    numeric = analyze_text(STRIDED, values={"B": 2, "H": h, "W": h + 5})
    for s_row, n_row in zip(symbolic.layers, numeric.layers):
        dims = [sp.sympify(d).subs({H: h, W: h + 5, B: 2}) for d in s_row.output_shape]
        assert dims == list(n_row.output_shape)


def test_numeric_chain_by_hand():
    # 100 → ⌊99/2⌋+1 = 50 → ⌊(50+2-3)/2⌋+1 = 25 → ⌊(25+4-5)/2⌋+1 = 13 → ⌊(13-2)/2⌋+1 = 6
    #     → ⌊(6+6-7)/3⌋+1 = 2 → ⌊(2+2-4)/2⌋+1 = 1 → the 2x2 pool does not fit
    with pytest.raises(SpecError, match="MaxPool2d_7") as info:
        analyze_text(STRIDED, values={"B": 1, "H": 100, "W": 100})
    assert "does not fit" in info.value.message


# ---------------------------------------------------------------------- expectations

def test_expect_met():
    report = analyze_text("""
input: [B, 3, H, W]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1, expect: [B, 4, H, W]}
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1, expect: [_, 4, "H + 2 - 2", _]}
""")
    assert len(report.layers) == 2


def test_expect_met_numerically():
    report = analyze_text("input: [1, 3, 9, 9]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 2, stride: 2, "
                          "expect: [1, 4, \"H//2\", 4]}\n", values={"H": 9})
    assert report.output_shape == (1, 4, 4, 4)


def test_expect_met_in_an_equivalent_symbolic_form():
    analyze_text("input: [B, 3, H, W]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 2, stride: 2, "
                 "expect: [_, 4, \"H//2\", _]}\n")


def test_expect_not_met_points_at_the_layer():
    with pytest.raises(SpecError) as info:
        analyze_text("input: [1, 3, 8, 8]\nlayers:\n  - Conv2d:\n      out_channels: 4\n      kernel_size: 3\n"
                     "      expect: [1, 4, 8, 8]\n")
    assert info.value.pos == (3, 5)
    assert "[1, 4, 6, 6]" in info.value.message and "Conv2d_1" in info.value.message


def test_expect_wrong_rank():
    with pytest.raises(SpecError, match="does not match expect"):
        analyze_text("input: [1, 3]\nlayers:\n  - ReLU: {expect: [1, 3, 1]}\n")


# ------------------------------------------------------------------------------ misc

def test_explicit_widths_that_agree_are_fine():
    report = analyze_text("input: [2, 3, 8, 8]\nlayers:\n"
                          "  - Conv2d: {in_channels: 3, out_channels: 5, kernel_size: 1}\n"
                          "  - Flatten\n  - Linear: {in_features: 320, out_features: 2}\n")
    assert report.output_shape == (2, 2)


def test_negative_input_dimension():
    with pytest.raises(SpecError, match="must not be negative"):
        analyze_text("input: [1, \"2 - 5\"]\nlayers: []\n")


def test_empty_layers():
    report = analyze_text("input: [1, 2]\nlayers: []\n")
    assert report.output_shape == (1, 2) and report.layers == []
    assert report.totals == {"weights": 0, "biases": 0, "params": 0, "macs": 0, "flops": 0}


def test_toml_spec_analyzes_like_yaml(seed_text):
    toml = "\n".join([
        'name = "seed CNN"', "input = [100, 3, 512, 512]",
        *(f'[[layers]]\ntype = "Conv2d"\nout_channels = {c}\nkernel_size = {k}\nstride = {s}\npadding = {p}\n'
          f'[[layers]]\ntype = "ReLU"' for c, k, s, p in ((128, 5, 2, 2), (64, 5, 2, 2), (32, 3, 2, 1), (16, 1, 1, 0))),
        '[[layers]]\ntype = "AvgPool2d"\nkernel_size = 2\nstride = 2',
        '[[layers]]\ntype = "Flatten"', '[[layers]]\ntype = "Linear"\nout_features = 10', ""])
    assert analyze_text(toml, "seed.toml").to_dict() == analyze_text(seed_text).to_dict()


def test_explicit_symbolic_width_in_an_equivalent_form():
    analyze_text("input: [B, 3, H, H]\nlayers:\n  - Conv2d: {out_channels: 16, kernel_size: 2, stride: 2}\n"
                 "  - Flatten\n  - Linear: {in_features: \"16*(H//2)**2\", out_features: 10}\n")


def test_types_are_canonical_names():
    report = analyze_text("input: [1, 3, 8, 8]\nlayers:\n  - conv: {out_channels: 4, kernel_size: 3}\n"
                          "  - depthwise: {kernel_size: 3}\n  - pointwise: {out_channels: 2}\n  - RELU\n"
                          "  - maxpool: {kernel_size: 2}\n  - flatten\n  - linear: {out_features: 2}\n")
    assert [r.type for r in report.layers] == ["Conv2d", "DepthwiseConv2d", "PointwiseConv2d", "ReLU", "MaxPool2d",
                                               "Flatten", "Linear"]
    assert [r.name for r in report.layers][:2] == ["Conv2d_1", "DepthwiseConv2d_2"]
    # 8 → 6 → 4 (depthwise 3x3, groups 4) → 4 → 2
    assert [r.output_shape for r in report.layers][-1] == (1, 2)
    assert [r.params for r in report.layers][:3] == [4 * 27 + 4, 4 * 9 + 4, 2 * 4 + 2]


def test_symbolic_recurrent_and_encoder_params():
    E = symbol("E")
    report = analyze_text("input: [T, B, E]\nlayers:\n"
                          "  - LSTM: {hidden_size: 2*E, num_layers: 2, bidirectional: true}\n"
                          "  - encoder: {nhead: 4}\n")
    lstm, enc = report.layers
    # per direction: layer 0 4·2E·(E + 2E) + 2·4·2E, layer 1 4·2E·(4E + 2E) + 2·4·2E
    assert simplified_equal(lstm.params, 2 * (24 * E ** 2 + 16 * E) + 2 * (48 * E ** 2 + 16 * E))
    assert simplified_equal(lstm.output_shape[2], 4 * E)
    d = 4 * E   # attention 4d² + 4d, FFN 2·2048·d + 2048 + d, norms 4d
    assert simplified_equal(enc.params, 4 * d ** 2 + 4 * d + 2 * 2048 * d + 2048 + d + 4 * d)


def test_rows_record_the_rows_they_read():
    """The walk is the graph: every row names the rows whose outputs it reads (-1: the input),
    through branches, shortcuts, gates, `with:` references and skipped `when:` entries."""
    report = analyze_text("""
input: [1, 4, 8, 8]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1, name: stem}
  - residual:
      layers: [ReLU, {Conv2d: {out_channels: 4, kernel_size: 1}}]
      shortcut: [{Conv2d: {out_channels: 4, kernel_size: 1}}]
  - concat: {branches: [[ReLU], [{Conv2d: {out_channels: 2, kernel_size: 1}}, {Identity: {when: "in_channels > 100"}}]]}
  - multiply: {layers: [{AdaptiveAvgPool2d: {output_size: 1}}, Sigmoid]}
  - concat: {with: stem}
""", "x.yaml")
    def name(i):
        return report.layers[i].name if i >= 0 else "input"

    edges = [(r.name, [name(i) for i in r.inputs]) for r in report.layers]
    assert edges == [
        ("stem", ["input"]),
        ("Residual_2.0", ["stem"]), ("Residual_2.1", ["Residual_2.0"]),
        ("Residual_2.shortcut.0", ["stem"]),  # the shortcut's conv: a path of its own (issue 16)
        ("Residual_2.add", ["Residual_2.1", "Residual_2.shortcut.0"]),
        ("Concat_3.0.0", ["Residual_2.add"]), ("Concat_3.1.0", ["Residual_2.add"]),
        ("Concat_3.concat", ["Concat_3.0.0", "Concat_3.1.0"]),
        ("Multiply_4.0", ["Concat_3.concat"]), ("Multiply_4.1", ["Multiply_4.0"]),
        ("Multiply_4.multiply", ["Concat_3.concat", "Multiply_4.1"]),
        ("Concat_5.concat", ["stem", "Multiply_4.multiply"]),
    ]
    assert report.layers[4].inputs == (2, 3)


TIED = """
input: [2, 7]
layers:
  - Embedding: {num_embeddings: 100, embedding_dim: 16, name: embed}
  - Linear: {out_features: 100, name: lm_head, share: embed}
"""


def test_a_shared_weight_is_counted_once():
    """share: NAME uses NAME's parameters of the same name and shape (a tied LM head): they count
    there, as named_parameters() counts a tied weight once; the bias of its own still counts."""
    report = analyze_text(TIED, "x.yaml")
    head = report.layers[1]
    assert (head.weights, head.biases, head.params, head.shared) == (0, 100, 100, ("weight",))
    assert report.totals["params"] == 100 * 16 + 100
    assert head.macs == 2 * 7 * 16 * 100  # the matmul still runs


@pytest.mark.parametrize("old, new, message", [
    ("num_embeddings: 100", "num_embeddings: 99", "share: embed has no parameter of the same name and shape"),
    ("share: embed}", "share: embedd}", "no earlier layer is named 'embedd' (did you mean 'embed'?)"),
])
def test_share_errors_are_located(old, new, message):
    with pytest.raises(SpecError, match=re.escape(message)) as e:
        analyze_text(TIED.replace(old, new), "x.yaml")
    assert e.value.pos[0] == 5


SEQ2SEQ = """
inputs: {src: [S, B, 16], tgt: [T, B, 16]}
symbols: {S: 10, T: 7, B: 2}
layers:
  - TransformerEncoder: {nhead: 4, dim_feedforward: 32, num_layers: 2, name: encoder}
  - TransformerDecoderLayer: {nhead: 4, dim_feedforward: 32, memory: encoder, from: tgt, name: decoder}
  - Linear: {out_features: 5, name: head}
"""


def test_several_inputs_from_and_memory():
    """inputs: names the tensors; from: reads one; memory: is a decoder's second input (contract 6)."""
    report = analyze_text(SEQ2SEQ, "x.yaml")
    assert report.inputs == {"src": (10, 2, 16), "tgt": (7, 2, 16)}
    assert report.input_shape == (10, 2, 16) and report.output_shape == (7, 2, 5)
    decoder = report.layers[1]
    assert decoder.input_shape == (7, 2, 16) and decoder.inputs == (-2, 0)  # tgt (input 2), then the encoder
    doc = report.to_dict()
    assert doc["inputs"] == {"src": [10, 2, 16], "tgt": [7, 2, 16]}
    assert "inputs" not in analyze_text("input: [1, 4]\nlayers: [ReLU]", "x.yaml").to_dict()


@pytest.mark.parametrize("old, new, message, line", [
    ("from: tgt", "from: tgtt", "from: no input or earlier layer is named 'tgtt' (did you mean 'tgt'?)", 6),
    ("memory: encoder, ", "", "TransformerDecoderLayer needs 'memory'", 6),
    ("inputs: {src: [S, B, 16], tgt: [T, B, 16]}", "input: [1, 2]\ninputs: {a: [1, 2]}",
     "give either 'input' (one input) or 'inputs'", 3),
    ("tgt: [T, B, 16]}", "tgt: [T, B, 8]}", "memory [10, 2, 16] must have width d_model = 8", 6),
])
def test_several_inputs_errors(old, new, message, line):
    with pytest.raises(SpecError) as e:
        analyze_text(SEQ2SEQ.replace(old, new), "x.yaml")
    assert message in e.value.message and e.value.pos[0] == line, (e.value.message, e.value.pos)


def test_export_writes_several_inputs_and_check_agrees():
    """forward(self, x, tgt): the decoder reads tgt (from:) and the encoder's output (memory:)."""
    pytest.importorskip("torch", reason="check runs the exported code in torch")
    from netcalc.check import check_text
    from netcalc.export import export
    from netcalc.spec import parse

    code = export(parse(SEQ2SEQ, "x.yaml")).code
    assert "def forward(self, x, tgt):" in code and "self.decoder(tgt, encoder)" in code
    result = check_text(SEQ2SEQ, "x.yaml")
    assert result.agree, result.to_dict()


def test_trainable_false_freezes_a_group():
    report = analyze_text("""
input: [2, 3, 8, 8]
layers:
  - sequential: {name: backbone, trainable: false, layers: [{Conv2d: {out_channels: 4, kernel_size: 3}}, ReLU]}
  - Flatten
  - Linear: {out_features: 2, trainable: true}
""", "x.yaml")
    assert [r.trainable for r in report.layers] == [False, False, True, True]
    assert report.to_dict()["totals"]["frozen_params"] == 4 * 27 + 4
    assert report.to_dict()["layers"][0]["trainable"] is False and "trainable" not in report.to_dict()["layers"][1]
    with pytest.raises(SpecError, match="trainable must be true or false"):
        analyze_text("input: [1, 4]\nlayers: [{Linear: {out_features: 2, trainable: 0}}]", "x.yaml")


AUX_HEAD = """
input: [2, 3, 32, 32]
outputs: [logits, aux_head]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1, name: stem}
  - sequential:
      name: aux_head
      layers:
        - AdaptiveAvgPool2d: {output_size: 1}
        - Flatten
        - Linear: {out_features: 10, name: aux}
  - Conv2d: {out_channels: 16, kernel_size: 3, stride: 2, padding: 1, from: stem}
  - AdaptiveAvgPool2d: {output_size: 1}
  - Flatten
  - Linear: {out_features: 10, name: logits}
"""


def test_several_outputs_a_side_head_counted_and_reported():
    """Inception's auxiliary head: a branch that never merges back, read off with from: (issue 16)."""
    report = analyze_text(AUX_HEAD, "x.yaml")
    assert report.outputs == {"logits": (2, 10), "aux_head": (2, 10)}
    assert report.to_dict()["outputs"] == {"logits": [2, 10], "aux_head": [2, 10]}
    assert report.totals["params"] == (3 * 9 * 8 + 8) + (8 * 10 + 10) + (8 * 9 * 16 + 16) + (16 * 10 + 10)
    assert report.layers[4].input_shape == (2, 8, 32, 32)  # the main path goes on from the stem
    with pytest.raises(SpecError, match="outputs: no input or layer is named 'aux2'"):
        analyze_text(AUX_HEAD.replace("[logits, aux_head]", "[logits, aux2]"), "x.yaml")


def test_names_are_looked_up_in_the_enclosing_group_first():
    """A block's layers read their own call's tensors by their short names (a program's nested
    scopes): each call's kt is its own, and a name not in the group is found outside it."""
    text = """
input: [2, 8, 16]
blocks:
  Attn:
    args: {d: 16}
    layers:
      - Linear: {out_features: 3*d, name: qkv}
      - Chunk: {chunks: 3, dim: -1, names: [q, k, v]}
      - Transpose: {dim0: -2, dim1: -1, from: k, name: kt}
      - Matmul: {other: kt, from: q, name: scores}
      - Matmul: {other: stem, name: mixed}
layers:
  - Linear: {out_features: 8, name: stem}
  - Attn: {d: 4, name: a}
  - Attn: {d: 2, name: b}
"""
    report = analyze_text(text, "scopes.yaml")
    rows = {r.name: r for r in report.layers}
    assert rows["a.scores"].output_shape == (2, 8, 8) and rows["a.scores"].macs == 2 * 8 * 8 * 4
    assert rows["b.scores"].macs == 2 * 8 * 8 * 2  # b's own kt, not a's
    assert rows["b.mixed"].output_shape == (2, 8, 8)  # stem, found at the top level
    with pytest.raises(SpecError, match="no input or earlier layer is named 'kt'"):
        analyze_text(text.replace("from: k, name: kt", "from: k, name: k2"), "scopes.yaml")


# --------------------------------------------------------------------- the graph every command reads

def _graph_rows(steps, seen):
    """Every row the walked steps name, in walk order (a layer's, then a merge group's after its parts)."""
    for step in steps:
        for node in step.nodes:
            for copy in node.copies if node.copies is not None else [node]:
                for part in [copy.body, copy.shortcut or [], *(copy.branches or [])]:
                    _graph_rows(part, seen)
                if copy.row is not None:
                    seen.append(copy.row)
    return seen


@pytest.mark.parametrize("name", ["resnet18", "unet", "inception_v3", "densenet121", "gpt2", "lstm_lm"])
def test_the_graph_holds_every_row_once_in_order(name):
    from pathlib import Path

    from netcalc.api import zoo_dir

    report = analyze_text((Path(zoo_dir()) / f"{name}.yaml").read_text(), f"{name}.yaml")
    assert _graph_rows(report.graph, []) == list(range(len(report.layers)))


DOWN = """
input: [1, 8, 16, 16]
blocks:
  Down:
    args: {out: null, stride: 2}
    layers:
      - Conv2d: {out_channels: out, kernel_size: 3, stride: stride, padding: 1, name: conv}
      - ReLU: {when: "stride > 1"}
layers:
  - Down: {out: 16, name: d1}
"""


def test_the_graph_keeps_names_shapes_and_block_arguments():
    report = analyze_text(DOWN + "  - Down: {out: 32, stride: 1, repeat: 2, name: stage}\n")
    first, second = report.graph
    call = first.nodes[0]
    assert (call.name, call.args, call.x, call.y) == ("d1", {"out": 16, "stride": 2}, (1, 8, 16, 16), (1, 16, 8, 8))
    assert [n.name for s in call.body for n in s.nodes] == ["d1.conv", "d1.1"]
    group = second.nodes[0]
    assert second.copies == 2 and [c.name for c in group.copies] == ["stage.0", "stage.1"]
    assert [len(c.body) for c in group.copies] == [1, 1]  # stride 1: the ReLU's when: is false
    assert group.y == report.output_shape == (1, 32, 8, 8)


def test_a_block_template_leaves_undecided_conditions_open():
    from dataclasses import replace

    from netcalc.layers import Context
    from netcalc.network import BlockTemplate, NotGeneric
    from netcalc.pycode import condition
    from netcalc.spec import parse

    spec = parse(DOWN)
    out, stride = symbol("out"), symbol("stride")
    values = {"out": out, "stride": stride}
    template = BlockTemplate(spec, Context(values), lambda when, scope: condition(when, scope, symbol)[0],
                             lambda a, b: False)
    block = spec.blocks["Down"]
    steps, y = template.walk(block, (1, 8, H, W))
    assert steps[0].cond is None and steps[1].cond == sp.Gt(stride, 1)
    assert y[1] == out
    block.layers.append(replace(block.layers[1], when=None, repeat="stride"))
    with pytest.raises(NotGeneric, match="repeat"):
        template.walk(block, (1, 8, H, W))
