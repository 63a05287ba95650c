"""netcalc.spec: YAML and TOML in, entries with file positions out."""

from __future__ import annotations

import io
import re

import pytest

from netcalc.errors import SpecError
from netcalc.network import analyze_text
from netcalc.spec import parse, read_text

YAML = """\
name: demo
input: [1, 3, 32, 32]
symbols: {B: 4}
layers:
  - ReLU
  - Conv2d: {out_channels: 8, kernel_size: 3}
  - type: MaxPool2d
    kernel_size: 2
  - Linear:
      out_features: 10
      name: head
"""

TOML = """\
name = "demo"
input = [1, 3, "H", "2*H"]

[symbols]
H = 16

[[layers]]
type = "Conv2d"
out_channels = 8
kernel_size = 3

[[layers]]
type = "ReLU"
name = "act"
"""


def error_of(text: str, filename: str = "spec.yaml") -> SpecError:
    with pytest.raises(SpecError) as info:
        analyze_text(text, filename)
    return info.value


# ------------------------------------------------------------------------------- YAML

def test_yaml_three_layer_forms():
    spec = parse(YAML, "spec.yaml")
    assert spec.name == "demo"
    assert spec.input == [1, 3, 32, 32]
    assert spec.symbols == {"B": 4}
    assert [e.type for e in spec.layers] == ["ReLU", "Conv2d", "MaxPool2d", "Linear"]
    assert [e.args for e in spec.layers] == [{}, {"out_channels": 8, "kernel_size": 3}, {"kernel_size": 2},
                                             {"out_features": 10}]
    assert [e.name for e in spec.layers] == [None, None, None, "head"]
    assert [e.index for e in spec.layers] == [1, 2, 3, 4]


def test_yaml_positions_of_entries_and_keys():
    spec = parse(YAML, "spec.yaml")
    relu, conv, pool, linear = spec.layers
    assert relu.pos == (5, 5)
    assert conv.pos == (6, 5) and conv.key_pos["type"] == (6, 5)
    assert conv.key_pos["out_channels"] == (6, 14) and conv.key_pos["kernel_size"] == (6, 31)
    assert pool.pos == (7, 5) and pool.key_pos["type"] == (7, 5) and pool.key_pos["kernel_size"] == (8, 5)
    assert linear.pos == (9, 5) and linear.key_pos["out_features"] == (10, 7) and linear.key_pos["name"] == (11, 7)
    assert spec.key_pos == {"name": (1, 1), "input": (2, 1), "symbols": (3, 1), "layers": (4, 1)}
    assert spec.input_pos == [(2, 9), (2, 12), (2, 15), (2, 19)]


def test_yaml_bare_and_null_forms_are_the_same_layer():
    a = parse("input: [1, 2]\nlayers:\n  - ReLU\n  - ReLU:\n  - {type: ReLU}\n  - ReLU: {}\n")
    assert [(e.type, e.args) for e in a.layers] == [("ReLU", {})] * 4


def test_name_expect_match_are_not_arguments():
    spec = parse("input: [1, 2]\nlayers:\n  - Linear: {out_features: 3, name: fc, expect: [1, 3], match: x}\n")
    e = spec.layers[0]
    assert e.args == {"out_features": 3} and e.name == "fc" and e.expect == [1, 3] and e.match == "x"


@pytest.mark.parametrize("text, line, col, match", [
    ("input: [1]\nlayers: []\nlayer: []\n", 3, 1, r"unknown top-level key 'layer' \(did you mean 'layers'\?\)"),
    ("input: [1]\nlayers: []\nsymbol: {B: 1}\n", 3, 1, "did you mean 'symbols'"),
    ("input: [1]\nlayers: []\ninput: [2]\n", 3, 1, "duplicate key 'input'"),
    ("input: [1, 2]\nlayers:\n  - Linear: {out_features: 3, out_features: 4}\n", 3, 31, "duplicate key"),
    ("input: [1, 2]\nlayers:\n  - Linear: {out_features: 3}\n    ReLU: {}\n", 3, 5, "needs 'type:'"),
    ("input: [1, 2]\nlayers:\n  - ReLU\n  - Linear: 3\n", 4, 5, "must be a mapping"),
    ("input: [1, 2]\nlayers:\n  - ReLU\n  - type: 3\n", 4, 5, "must be a name"),
    ("input: [1, 2]\nlayers:\n  - ReLU\n  - []\n", 4, 5, "a layer is a type name"),
    ("input: [1, 2]\nlayers:\n  - Linear: {out_features: 3, expect: 3}\n", 3, 31, "expect must be a shape"),
    ("input: 5\nlayers: []\n", 1, 1, "'input' must be a non-empty list"),
    ("input: [1]\nlayers: {a: 1}\n", 2, 1, "'layers' must be a list"),
    ("input: [1]\nsymbols: {B: x}\nlayers: []\n", 2, 11, "symbol B must have an integer value"),
    ("input: [1]\nsymbols: {B: true}\nlayers: []\n", 2, 11, "integer value"),
    ("input: [1]\nsymbols: [B]\nlayers: []\n", 2, 1, "'symbols' must be a mapping"),
])
def test_yaml_structure_errors_point_at_the_key(text, line, col, match):
    e = error_of(text)
    assert e.pos == (line, col)
    assert e.render("f.yaml").startswith(f"f.yaml:{line}:{col}: error: ")
    assert re.search(match, e.message)


@pytest.mark.parametrize("text, match", [
    ("layers: []\n", "needs 'input'"),
    ("input: [1]\n", "needs 'layers'"),
    ("- 1\n- 2\n", "a spec is a mapping"),
    ("just text\n", "a spec is a mapping"),
])
def test_missing_parts(text, match):
    assert match in error_of(text).message


def test_duplicate_layer_names():
    e = error_of("input: [1, 2]\nlayers:\n  - ReLU: {name: a}\n  - Tanh\n  - Sigmoid: {name: a}\n")
    assert "duplicate layer name 'a'" in e.message and "layer 1" in e.message
    assert e.pos == (5, 5)


def test_explicit_name_colliding_with_a_default_name():
    e = error_of("input: [1, 2]\nlayers:\n  - ReLU: {name: Tanh_2}\n  - Tanh\n")
    assert "duplicate layer name 'Tanh_2'" in e.message and e.pos == (4, 5)


def test_invalid_yaml_has_a_position():
    e = error_of("input: [1, 2]\nlayers:\n  - Conv2d: {out_channels: 4]\n  - ReLU\n")
    assert e.message.startswith("invalid YAML") and e.pos[0] == 3


def test_yaml_alias_bomb_is_refused():
    text = "a: &a [1]\n" + "".join(f"k{i}: *a\n" for i in range(1100)) + "input: [1]\nlayers: []\n"
    with pytest.raises(SpecError, match="alias"):
        parse(text)


# ------------------------------------------------------------------------------- TOML

def test_toml_layers_tables():
    spec = parse(TOML, "net.toml")
    assert spec.name == "demo" and spec.input == [1, 3, "H", "2*H"] and spec.symbols == {"H": 16}
    assert [(e.type, e.args, e.name) for e in spec.layers] == [
        ("Conv2d", {"out_channels": 8, "kernel_size": 3}, None), ("ReLU", {}, "act")]


def test_toml_positions_in_layers_tables():
    spec = parse(TOML, "net.toml")
    conv, relu = spec.layers
    assert conv.pos == (7, 1)
    assert conv.key_pos["type"] == (8, 1) and conv.key_pos["out_channels"] == (9, 1)
    assert conv.key_pos["kernel_size"] == (10, 1)
    assert relu.pos == (12, 1) and relu.key_pos["name"] == (14, 1)
    assert spec.key_pos["name"] == (1, 1) and spec.key_pos["input"] == (2, 1)


def test_toml_indented_tables():
    text = 'input = [1, 3, 8, 8]\n\n  [[layers]]\n  type = "Conv2d"\n  out_channels = 2\n  kernal_size = 3\n'
    e = error_of(text, "x.toml")
    assert e.pos == (3, 3) and "did you mean 'kernel_size'" in e.message  # the [[layers]] table


def test_toml_inline_tables_positions():
    text = ('input = [1, 3, 8, 8]\nlayers = [\n  {type = "ReLU"},\n'
            '  {type = "Conv2d", out_channels = 2, kernel_size = 1},\n  {type = "Foo"},\n]\n')
    spec = parse(text, "x.toml")
    assert [e.pos for e in spec.layers] == [(3, 3), (4, 3), (5, 3)]
    e = error_of(text, "x.toml")
    assert e.pos == (5, 3) and "unknown layer type 'Foo'" in e.message


def test_toml_expressions_and_blanks_are_strings():
    report = analyze_text(TOML, "net.toml")
    assert report.input_shape == (1, 3, 16, 32)
    assert report.layers[0].output_shape == (1, 8, 14, 30)


def test_toml_unknown_top_level_key():
    e = error_of('input = [1]\nlayers = []\nnme = "x"\n', "x.toml")
    assert e.pos == (3, 1) and "unknown top-level key 'nme'" in e.message and "did you mean 'name'" in e.message


def test_toml_duplicate_layer_names():
    text = 'input = [1, 2]\n\n[[layers]]\ntype = "ReLU"\nname = "a"\n\n[[layers]]\ntype = "Tanh"\nname = "a"\n'
    e = error_of(text, "x.toml")
    assert e.pos == (7, 1) and "duplicate layer name 'a'" in e.message


@pytest.mark.parametrize("text, line", [
    ('input = [1, 3, 8, 8]\n\n[[layers]]\ntype = "Conv2d"\nout_channels = = 4\n', 5),
    ('input = [1, 3\nlayers = []\n', 2),
    ('input = [1]\ninput = [2]\nlayers = []\n', 2),
    ('name = "unterminated\ninput = [1]\n', 1),
])
def test_invalid_toml_reports_its_line(text, line):
    e = error_of(text, "x.toml")
    assert e.message.startswith("invalid TOML") and e.pos is not None and e.pos[0] == line


def test_file_name_picks_the_format():
    assert parse(TOML, "NET.TOML").name == "demo"
    with pytest.raises(SpecError) as info:
        parse(TOML, "spec.yml")      # TOML text read as YAML
    assert "TOML" not in info.value.message


def test_toml_inline_string_layers_positions():
    text = 'input = [1, 3, 8, 8]\nlayers = [\n  "ReLU",\n  "Foo",\n]\n'
    assert error_of(text, "x.toml").pos == (4, 3)


def test_toml_symbols_table_positions():
    text = 'input = [1]\n[symbols]\nB = "x"\n[[layers]]\ntype = "ReLU"\n'
    assert error_of(text, "x.toml").pos[0] == 3


# ------------------------------------------------------------------------------ stdin

def test_dash_reads_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("input: [1]\nlayers: []\n"))
    assert read_text("-") == ("input: [1]\nlayers: []\n", "<stdin>")
    assert read_text("-", stdin_text="x") == ("x", "<stdin>")


def test_stdin_is_yaml_and_named_stdin():
    e = error_of("input: [1, 2]\nlayers: [Foo]\n", "<stdin>")
    assert e.render("<stdin>") == "<stdin>:2:10: error: " + e.message


def test_read_text_of_a_file(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("input: [1]\nlayers: []\n")
    assert read_text(str(p)) == ("input: [1]\nlayers: []\n", str(p))
