"""Where errors point, through the real CLI: one ``FILE:LINE:COL: error:`` line at the offending
layer (YAML aliases and merge keys, control characters, TOML tables, strings and inline arrays),
and solve/sizes refusing what shapes refuses, with the same line and exit code."""

from __future__ import annotations

import pytest


def one_error(result, path: str) -> str:
    """The single error line of a refused run, without the file name."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(path + ":"), lines[0]
    return lines[0][len(path) + 1:]


ALIASES = [
    # the anchor sits on the key, so the alias is the bare name "Conv2d", which lacks its arguments
    ("alias of a key", "input: [1, 3, 8, 8]\nlayers:\n  - &L Conv2d: {out_channels: 4, kernel_size: 3}\n"
     "  - ReLU\n  - *L\n", "5:5", "needs 'out_channels'"),
    ("alias of a mapping", "input: [1, 3, 8, 8]\nlayers:\n"
     "  - &L {type: Conv2d, in_channels: 3, out_channels: 4, kernel_size: 3}\n  - ReLU\n  - *L\n",
     "5:5", "in_channels=3 disagrees"),
    ("alias of a residual", "input: [1, 3, 8, 8]\nlayers:\n  - &R\n    residual:\n      layers:\n"
     "        - Conv2d: {in_channels: 3, out_channels: 3, kernel_size: 3, padding: 1}\n"
     "  - Conv2d: {out_channels: 4, kernel_size: 1}\n  - *R\n", "8:5", "in_channels=3 disagrees"),
    ("anchor in a block, alias in layers", "blocks:\n  B:\n    layers:\n"
     "      - &L {type: Conv2d, out_channels: 4, kernel_size: 3, stride: 0}\n"
     "input: [1, 3, 8, 8]\nlayers:\n  - ReLU\n  - *L\n", "8:5", "stride"),
    ("refused while reading, at the alias", "blocks:\n  B:\n    layers:\n      - &L {type: ReLU, name: [1]}\n"
     "input: [1, 3, 8, 8]\nlayers:\n  - Tanh\n  - *L\n", "8:5", "name must be a name"),
    ("the anchored layer itself still at the anchor", "input: [1, 3, 8, 8]\nlayers:\n"
     "  - &L {type: Conv2d, in_channels: 5, out_channels: 4, kernel_size: 3}\n  - *L\n", "3:5", "in_channels=5"),
    ("duplicate anchor", "input: [1, 3, 8, 8]\nlayers:\n  - &L ReLU\n  - &L Tanh\n", "4:5",
     "first occurrence (line 3), second occurrence"),
]

MERGES = [
    ("duplicate key", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3, out_channels: 8}\n",
     "3:47", "duplicate key 'out_channels'"),
    ("duplicate key after a merge", "input: [1, 3, 8, 8]\nlayers:\n  - &a Conv2d: &b {out_channels: 4, kernel_size: 3}\n"
     "  - Conv2d: {<<: *b, out_channels: 8, out_channels: 9}\n", "4:39", "duplicate key 'out_channels'"),
]

CONTROL = [
    ("bell", "input: [1, 3, 8, 8]\nlayers:\n  - ReLU\n  - \x07Tanh\n", "4:5"),
    ("escape in a name", "input: [1, 3, 8, 8]\nlayers:\n  - {type: ReLU, name: \"a\x1bb\"}\n", "3:26"),
    ("NUL on the first line", "name: x\x00\ninput: [1]\nlayers: [ReLU]\n", "1:8"),
]


@pytest.mark.parametrize("case, text, where, message", ALIASES + MERGES, ids=[c[0] for c in ALIASES + MERGES])
def test_yaml_errors_point_at_the_layer(cli, spec_file, case, text, where, message):
    path = spec_file(text)
    line = one_error(cli("shapes", path), path)
    assert line.startswith(where + ": error:") and message in line, line


@pytest.mark.parametrize("case, text, where", CONTROL, ids=[c[0] for c in CONTROL])
def test_yaml_control_characters_are_one_located_line(cli, spec_file, case, text, where):
    path = spec_file(text)
    line = one_error(cli("shapes", path), path)
    assert line.startswith(where + ": error: invalid YAML: character #x") and "not allowed" in line, line


@pytest.mark.parametrize("merge, channels", [
    ("{<<: *b, out_channels: 8}", 8),   # an explicit key overrides the merged one
    ("{out_channels: 8, <<: *b}", 8),   # wherever the merge is written
    ("{<<: *b}", 4),
])
def test_yaml_merge_keys_can_be_overridden(cli, spec_file, merge, channels):
    path = spec_file("input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: &b {out_channels: 4, kernel_size: 3}\n"
                     f"  - Conv2d: &c {{out_channels: 6, kernel_size: 1}}\n  - Conv2d: {merge}\n")
    result = cli("shapes", path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    import json

    assert json.loads(result.stdout)["layers"][-1]["output_shape"][1] == channels


TOML = [
    ("[[layers]] inside a multi-line string", 'name = """a\n[[layers]]\nb"""\ninput = [1, 3, 8, 8]\n\n'
     '[[layers]]\ntype = "ReLU"\n\n[[layers]]\ntype = "Bogus"\n', "9:1"),
    ("[[layers]] inside a literal multi-line string", "name = '''\n[[layers]]\n'''\ninput = [1, 3, 8, 8]\n\n"
     '[[layers]]\ntype = "Bogus"\n', "6:1"),
    ("[[layers]] inside a string and a comment", 'name = "a # [[layers]]" # [[layers]] "\ninput = [1, 3, 8, 8]\n'
     '[[layers]]\ntype = "ReLU"\n[[layers]]\ntype = "Bogus"\n', "5:1"),
    ("[[blocks.B.layers]]", 'input = [1, 3, 8, 8]\nlayers = [{type = "B"}]\n\n[blocks.B]\nargs = {}\n\n'
     '[[blocks.B.layers]]\ntype = "ReLU"\n\n[[blocks.B.layers]]\ntype = "Bogus"\n', "10:1"),
    ("inline block layers", 'input = [1, 3, 8, 8]\nlayers = ["B"]\n[blocks.B]\nlayers = [\n  "ReLU",\n  "Bogus",\n]\n',
     "6:3"),
    ("a [layers] table", 'input = [1, 3, 8, 8]\n\n[layers]\ntype = "ReLU"\n', "3:1"),
    ("multi-line string items", 'input = [1, 3, 8, 8]\nlayers = ["""ReLU""", "Bogus"]\n', "2:23"),
    ("literal string items", "input = [1, 3, 8, 8]\nlayers = ['''ReLU''', 'Tanh', 'Bogus']\n", "2:31"),
    ("a comment with quotes and brackets", 'input = [1, 3, 8, 8]\nlayers = [\n  "ReLU",  # "x" [y] {z\n'
     '  {type = "Conv2d", out_channels = 4, kernel_size = 3},\n'
     '  {type = "Conv2d", in_channels = 3, out_channels = 4, kernel_size = 3},\n]\n', "5:3"),
    ("an escaped quote before the item", 'input = [1, 3, 8, 8]\nlayers = [{type = "ReLU", name = "a\\"["}, "Bogus"]\n',
     "2:43"),
    ("a symbol in [symbols]", 'input = [1, 3, 8, 8]\nlayers = ["ReLU"]\n\n[symbols]\nH = 2\nW = "x"\n', "6:1"),
    ("a quoted key", 'input = [1, 3, 8, 8]\n\n[[layers]]\n"type" = "Bogus"\n', "3:1"),
    ("a bad argument in a dotted table", 'input = [1, 3, 8, 8]\n\n[[layers]]\ntype = "Conv2d"\nout_channels = 4\n'
     'kernel_size = 3\n\n[[layers]]\ntype = "Conv2d"\nout_channels = 4\nkernel_size = 3\nstride = 0\n', "8:1"),
]


@pytest.mark.parametrize("case, text, where", TOML, ids=[c[0] for c in TOML])
def test_toml_errors_point_at_the_layer(cli, spec_file, case, text, where):
    path = spec_file(text, "spec.toml")
    line = one_error(cli("shapes", path), path)
    assert line.startswith(where + ": error:"), line


REFUSED = [
    ("unknown layer type", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3}\n  - Bogus\n"),
    ("shape mismatch", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3}\n"
     "  - Linear: {in_features: 5, out_features: 3}\n"),
    ("bad argument value", "input: [1, 3, 8, 8]\nlayers:\n  - ReLU\n  - Conv2d: {out_channels: 4, kernel_size: 3, stride: 0}\n"),
    ("kernel larger than the input", "input: [1, 3, 4, 4]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 9}\n"),
    ("bad argument value, input letters", "input: [1, 3, H, W]\nlayers:\n  - ReLU\n"
     "  - Conv2d: {out_channels: 4, kernel_size: 3, stride: 0}\n"),
    ("unknown type, input letters", "input: [1, 3, H, H]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3}\n"
     "  - Bogus\n"),
]

# solve only: the mismatch is before the blank, so no value of the blank can mend it
BEFORE_A_BLANK = [
    ("shape mismatch before a blank", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3}\n"
     "  - Linear: {in_features: 5, out_features: 3}\n  - Linear: {out_features: _, expect: [1, 4, 6, 2]}\n", "4:5"),
]


@pytest.mark.parametrize("command", ["solve", "sizes"])
@pytest.mark.parametrize("fmt", ["table", "json"])
@pytest.mark.parametrize("case, text", REFUSED, ids=[c[0] for c in REFUSED])
def test_solve_and_sizes_refuse_what_shapes_refuses(cli, spec_file, command, fmt, case, text):
    path = spec_file(text)
    expected = one_error(cli("shapes", path), path)
    assert one_error(cli(command, path, "--format", fmt), path) == expected


@pytest.mark.parametrize("case, text, where", BEFORE_A_BLANK, ids=[c[0] for c in BEFORE_A_BLANK])
def test_solve_refuses_a_known_layer_before_the_blanks(cli, spec_file, case, text, where):
    path = spec_file(text)
    line = one_error(cli("solve", path, "--format", "json"), path)
    assert line.startswith(where + ": error:"), line


def test_solve_still_answers_unmet_expects_with_no_solution(cli, spec_file):
    path = spec_file("input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3, expect: [1, 4, 5, 5]}\n")
    result = cli("solve", path, "--format", "json")
    import json

    assert result.exit_code == 0 and json.loads(result.stdout)["count"] == 0


# sizes with letters: an error no size changes is the spec's, refused as shapes refuses it
SIZE_FREE = [
    ("unknown type after a conv", "input: [1, 3, H, H]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3}\n"
     "  - Bogus\n", "4:5"),
    ("stride 0", "input: [1, 3, H, H]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3, stride: 0}\n", "3:5"),
]


@pytest.mark.parametrize("case, text, where", SIZE_FREE, ids=[c[0] for c in SIZE_FREE])
def test_sizes_refuses_an_error_no_size_changes(cli, spec_file, case, text, where):
    path = spec_file(text)
    line = one_error(cli("sizes", path), path)
    assert line.startswith(where + ": error:") and line == one_error(cli("shapes", path), path)


@pytest.mark.parametrize("text, valid", [
    # every size too small for the kernel: the answer is "none", not an error
    ("input: [1, 3, H]\nlayers:\n  - Conv1d: {out_channels: 4, kernel_size: 1000}\n", False),
    # output_padding: auto mirrors the strided conv in the scan too (it found no size at all)
    ("input: [1, 1, H, H]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3, stride: 2, padding: 1}\n"
     "  - ConvTranspose2d: {out_channels: 1, kernel_size: 3, stride: 2, padding: 1, output_padding: auto}\n", True),
])
def test_sizes_still_scans_size_dependent_specs(cli, spec_file, text, valid):
    import json

    result = cli("sizes", spec_file(text), "--check", "H=27", "--format", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["check"]["valid"] is valid and bool(out["smallest"]) is valid


def test_solve_still_finds_an_input_letter_that_mends_a_mismatch(cli, spec_file):
    import json

    path = spec_file("input: [1, 3, H]\nlayers:\n  - Linear: {in_features: 5, out_features: 3}\n")
    result = cli("solve", path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["count"] == 1 and out["solutions"][0]["assignments"] == {"H": 5}
