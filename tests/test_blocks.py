"""Whole networks: blocks with arguments, repeat, when:, residual/concat/add/multiply, paths, subtotals."""

from __future__ import annotations

import json

import pytest

from netcalc.errors import SpecError
from netcalc.network import analyze_text

RESNETISH = """\
input: [2, 16, 32, 32]
blocks:
  Basic:
    args: {planes: 16, stride: 1}
    layers:
      - residual:
          layers:
            - Conv2d: {out_channels: planes, kernel_size: 3, stride: stride, padding: 1, bias: false, name: conv1}
            - BatchNorm2d: {name: bn1}
            - ReLU: {name: relu}
            - Conv2d: {out_channels: planes, kernel_size: 3, padding: 1, bias: false, name: conv2}
            - BatchNorm2d: {name: bn2}
          shortcut:
            name: downsample
            layers:
              - Conv2d: {out_channels: planes, kernel_size: 1, stride: stride, bias: false, when: "stride != 1 or in_channels != planes"}
              - BatchNorm2d: {when: "stride != 1 or in_channels != planes"}
      - ReLU: {name: relu2}
layers:
  - Basic: {repeat: 2, name: layer1}
  - sequential:
      name: layer2
      layers:
        - Basic: {planes: 32, stride: 2}
        - Basic: {planes: 32, repeat: 2}
  - AdaptiveAvgPool2d: {output_size: 1}
  - Flatten
  - Linear: {out_features: 10, name: fc}
"""


def leaves(report):
    return [r for r in report.layers if r.type not in ("Add", "Concat", "Multiply")]


def test_paths_follow_the_module_tree():
    names = [r.name for r in leaves(analyze_text(RESNETISH))]
    assert names[:5] == ["layer1.0.conv1", "layer1.0.bn1", "layer1.0.relu", "layer1.0.conv2", "layer1.0.bn2"]
    assert "layer1.0.downsample.0" not in names  # stride 1, same width: identity shortcut
    assert "layer2.0.downsample.0" in names and "layer2.0.downsample.1" in names
    assert "layer2.2.conv2" in names and "layer2.3.conv1" not in names
    assert names[-1] == "fc"


def test_counts_equal_the_hand_count():
    report = analyze_text(RESNETISH)
    conv = lambda cin, cout, k: cin * cout * k * k  # noqa: E731
    bn = lambda c: 2 * c  # noqa: E731
    block = lambda cin, c, down: conv(cin, c, 3) + bn(c) + conv(c, c, 3) + bn(c) + (conv(cin, c, 1) + bn(c) if down else 0)  # noqa: E731
    expected = 2 * block(16, 16, False) + block(16, 32, True) + 2 * block(32, 32, False) + 32 * 10 + 10
    assert report.totals["params"] == expected
    assert report.output_shape == (2, 10)
    adds = [r for r in report.layers if r.type == "Add"]
    assert len(adds) == 5 and all(r.flops == r.output_shape[0] * 16 * 32 * 32 for r in adds[:2])


def test_blocks_carry_subtotals_and_the_json_keeps_flat_layers():
    report = analyze_text(RESNETISH)
    doc = report.to_dict()
    blocks = {b["path"]: b for b in doc["blocks"]}
    assert blocks["layer2"]["params"] == sum(r["params"] for r in doc["layers"] if r.get("path", "").startswith("layer2."))
    assert blocks["layer2.0"]["type"] == "Basic" and blocks["layer1"]["depth"] == 0
    assert all("path" in r for r in doc["layers"][:5])
    assert [r["index"] for r in doc["layers"]] == list(range(1, len(doc["layers"]) + 1))


def test_depth_collapses_the_table(cli, spec_file):
    path = spec_file(RESNETISH)
    r = cli("params", path, "--depth", "0")
    assert r.exit_code == 0 and "layer1" in r.stdout and "conv1" not in r.stdout
    r = cli("params", path, "--depth", "1")
    assert "conv1" not in r.stdout and "Basic" in r.stdout
    r = cli("params", path)
    assert "conv1" in r.stdout


def test_concat_branches_and_skips():
    text = """\
input: [1, 8, 16, 16]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1, name: stem}
  - concat:
      branches:
        - []
        - [{Conv2d: {out_channels: 4, kernel_size: 1}}]
        - [{Conv2d: {out_channels: 6, kernel_size: 3, padding: 1}}]
  - MaxPool2d: {kernel_size: 2}
  - ConvTranspose2d: {out_channels: 5, kernel_size: 2, stride: 2}
  - concat: {with: stem}
"""
    report = analyze_text(text)
    assert report.layers[3].type == "Concat" and report.layers[3].output_shape == (1, 18, 16, 16)
    assert report.output_shape == (1, 13, 16, 16)
    assert report.layers[-1].rf is not None  # a channel concat keeps the union of fields


def test_a_mismatched_add_names_both_shapes():
    text = """\
input: [1, 8, 16, 16]
layers:
  - residual:
      layers:
        - Conv2d: {out_channels: 8, kernel_size: 3}
"""
    with pytest.raises(SpecError, match=r"\[1, 8, 14, 14\].*\[1, 8, 16, 16\]") as e:
        analyze_text(text)
    assert e.value.pos == (3, 5)


def test_multiply_broadcasts_a_gate():
    text = """\
input: [2, 16, 8, 8]
layers:
  - multiply:
      layers:
        - AdaptiveAvgPool2d: {output_size: 1}
        - Conv2d: {out_channels: 4, kernel_size: 1}
        - ReLU
        - Conv2d: {out_channels: 16, kernel_size: 1}
        - Sigmoid
"""
    report = analyze_text(text)
    assert report.output_shape == (2, 16, 8, 8) and report.layers[-1].type == "Multiply"
    assert report.totals["params"] == 16 * 4 + 4 + 4 * 16 + 16


@pytest.mark.parametrize("text, needle", [
    ("blocks:\n  A: {args: {x: null}, layers: [ReLU]}\nlayers:\n  - A\n", "needs 'x'"),
    ("blocks:\n  A: {args: {x: 1}, layers: [ReLU]}\nlayers:\n  - A: {y: 2}\n", "unknown argument 'y'"),
    ("layers:\n  - concat: {with: nowhere}\n", "no earlier layer or block is named 'nowhere'"),
    ("layers:\n  - ReLU: {repeat: 0}\n", "repeat must be a positive integer"),
    ("layers:\n  - ReLU: {when: 'x >'}\n", "when:"),
    ("layers:\n  - residual: {layer: []}\n", "did you mean 'layers'"),
])
def test_block_errors(text, needle):
    with pytest.raises(SpecError, match=needle):
        analyze_text("input: [1, 4, 8, 8]\n" + text)


def test_zoo_by_name(cli):
    r = cli("params", "resnet18", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["totals"]["params"] == 11_689_512
    r = cli("params", "resnet19")
    assert r.exit_code == 2 and "did you mean 'resnet18'" in r.stderr


D2L_RESIDUAL = """
input: [1, 3, 32, 32]
blocks:
  {name}:
    args: {{c: 8}}
    layers:
      - residual:
          layers: [{{Conv2d: {{out_channels: c, kernel_size: 3, padding: 1}}}}, ReLU]
layers:
  - Conv2d: {{out_channels: 8, kernel_size: 3, padding: 1}}
  - {call}: {{c: 8}}
"""


@pytest.mark.parametrize("name", ["Residual", "RESIDUAL", "Concat"])
def test_a_block_named_like_a_structural_word_is_still_a_block(name):
    """d2l's own block name: the `residual:` inside it stays structural, whatever the block's case."""
    report = analyze_text(D2L_RESIDUAL.format(name=name, call=name), "x.yaml")
    assert [r.type for r in report.layers] == ["Conv2d", "Conv2d", "ReLU", "Add"]
    assert report.blocks[-1].type == name


def test_a_block_named_exactly_as_a_structural_word_is_refused_at_its_definition():
    with pytest.raises(SpecError, match="structural word residual:.*another name") as e:
        analyze_text(D2L_RESIDUAL.format(name="residual", call="residual"), "x.yaml")
    assert e.value.pos == (4, 3)


FACTORIZED = """
input: [1, 8, 17, 17]
blocks:
  Factorized:
    args: {c: 8, k: [1, 7], p: [0, 3]}
    layers:
      - Conv2d: {out_channels: c, kernel_size: k, padding: p}
      - ReLU
  Twice:
    args: {k: [3, 3]}
    layers:
      - Factorized: {k: k, p: [1, 1]}
      - Factorized: {k: [7, 1], p: [3, 0]}
layers:
  - Factorized
  - Factorized: {c: 16, k: [7, 1], p: [3, 0]}
  - Twice
"""


def test_block_arguments_may_be_lists():
    """Inception's factorised 1×7 and 7×1 convolutions as one block with list arguments (issue 16)."""
    report = analyze_text(FACTORIZED, "x.yaml")
    convs = [r for r in report.layers if r.type == "Conv2d"]
    assert [r.weights for r in convs] == [8 * 8 * 7, 16 * 8 * 7, 8 * 16 * 9, 8 * 8 * 7]
    assert all(r.output_shape[2:] == (17, 17) for r in convs)


def test_a_list_argument_inside_an_expression_is_an_error():
    text = FACTORIZED.replace("padding: p}", "padding: 'p*2'}")
    with pytest.raises(SpecError, match="p is a list .*write it alone as an argument's value"):
        analyze_text(text, "x.yaml")
