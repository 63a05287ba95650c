"""Every kind of spec error: exit code 1 and one line ``FILE:LINE:COL: error: ...`` on stderr.

Each case is a spec, the line the error must point at, and words the message must contain.
"""

from __future__ import annotations

import re

import pytest

from netcalc.errors import SpecError, did_you_mean

# (id, file name, spec text, line, words in the message). Errors about a layer point at the
# layer entry (its first line), the line a reader looks for; the message names the key.
CASES = [
    ("unknown-type", "s.yaml", """\
input: [1, 3, 8, 8]
layers:
  - ReLU
  - Conv2: {out_channels: 4, kernel_size: 3}
""", 4, ["unknown layer type 'Conv2'", "did you mean 'Conv2d'"]),
    ("unknown-type-lowercase", "s.yaml", """\
input: [1, 3, 8, 8]
layers:
  - maxpol2d: {kernel_size: 2}
""", 3, ["unknown layer type 'maxpol2d'", "did you mean 'MaxPool2d'"]),
    ("unknown-argument", "s.yaml", """\
input: [1, 3, 8, 8]
layers:
  - ReLU
  - Conv2d:
      out_channels: 4
      kernal_size: 3
""", 4, ["unknown argument 'kernal_size'", "did you mean 'kernel_size'"]),
    ("in-channels-mismatch", "s.yaml", """\
input: [1, 3, 8, 8]
layers:
  - Conv2d:
      in_channels: 4
      out_channels: 4
      kernel_size: 3
""", 3, ["in_channels=4", "3"]),
    ("in-features-mismatch", "s.yaml", """\
input: [2, 30]
layers:
  - Linear: {in_features: 20, out_features: 3}
""", 3, ["in_features=20", "30"]),
    ("size-not-positive", "s.yaml", """\
input: [1, 3, 8, 8]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3}
  - Conv2d: {out_channels: 4, kernel_size: 7, name: big}
""", 4, ["big", "output size", "0"]),
    ("pool-size-not-positive", "s.yaml", """\
input: [1, 3, 4, 4]
layers:
  - MaxPool2d: {kernel_size: 2}
  - MaxPool2d: {kernel_size: 2}
  - MaxPool2d: {kernel_size: 2}
""", 5, ["MaxPool2d_3", "output size"]),
    ("groups", "s.yaml", """\
input: [1, 6, 8, 8]
layers:
  - Conv2d:
      out_channels: 4
      kernel_size: 3
      groups: 4
""", 3, ["divisible by groups", "6", "4"]),
    ("nhead", "s.yaml", """\
input: [10, 2, 30]
layers:
  - TransformerEncoderLayer:
      nhead: 4
""", 3, ["d_model (30)", "nhead (4)", "divisible"]),
    ("expect", "s.yaml", """\
input: [1, 3, 8, 8]
layers:
  - Conv2d:
      out_channels: 4
      kernel_size: 3
      expect: [1, 4, 8, 8]
""", 3, ["Conv2d_1", "[1, 4, 6, 6]", "expect"]),
    ("bad-yaml", "s.yaml", """\
input: [1, 3, 8, 8]
layers:
  - Conv2d: {out_channels: 4]
  - ReLU
""", 3, ["invalid YAML"]),
    ("bad-yaml-indent", "s.yaml", """\
input: [1, 3, 8, 8]
layers:
  - ReLU
 - Tanh
""", 4, ["invalid YAML"]),
    ("bad-toml", "s.toml", """\
input = [1, 3, 8, 8]

[[layers]]
type = "Conv2d"
out_channels = = 4
""", 5, ["invalid TOML"]),
    ("bad-toml-later-line", "s.toml", """\
name = "x"
input = [1, 3, 8, 8]

[[layers]]
type = "ReLU"

[[layers]]
type = "Tanh"
oops
""", 9, ["invalid TOML"]),
    ("duplicate-names", "s.yaml", """\
input: [1, 3, 8, 8]
layers:
  - ReLU: {name: act}
  - ReLU: {name: act}
""", 4, ["duplicate layer name 'act'"]),
    ("duplicate-names-toml", "s.toml", """\
input = [1, 3, 8, 8]

[[layers]]
type = "ReLU"
name = "act"

[[layers]]
type = "Tanh"
name = "act"
""", 7, ["duplicate layer name 'act'"]),
    ("non-integer-slash", "s.yaml", """\
input: [1, 3, H, H]
symbols: {H: 9}
layers:
  - Conv2d: {out_channels: "H/2", kernel_size: 3}
""", 4, ["H/2", "not an integer", "//"]),
    ("non-integer-slash-input", "s.yaml", """\
input: [1, 3, "10/4", 8]
layers: [ReLU]
""", 1, ["10/4", "not an integer"]),
    ("unknown-top-level-key", "s.yaml", """\
input: [1, 3, 8, 8]
layers: [ReLU]
symbls: {H: 2}
""", 3, ["unknown top-level key 'symbls'", "did you mean 'symbols'"]),
    ("bad-expression", "s.yaml", """\
input: [1, 3, 8, 8]
layers:
  - Linear: {out_features: "__import__('os')"}
""", 3, ["out_features"]),
    ("toml-unknown-argument", "s.toml", """\
input = [1, 3, 8, 8]

[[layers]]
type = "Conv2d"
out_channels = 4
kernel_sise = 3
""", 3, ["unknown argument 'kernel_sise'", "did you mean 'kernel_size'"]),
]

LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): error: (?P<msg>.+)$")


@pytest.mark.parametrize("name, text, line, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_spec_error_is_one_located_line(cli, spec_file, name, text, line, words):
    path = spec_file(text, name)
    result = cli("summary", path)
    assert result.exit_code == 1, result.stdout
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    m = LINE.match(lines[0])
    assert m, lines[0]
    assert m["file"] == path
    assert int(m["line"]) == line, lines[0]
    assert int(m["col"]) >= 1
    assert "internal error" not in m["msg"]
    for word in words:
        assert word in m["msg"], (word, m["msg"])


@pytest.mark.parametrize("command", ["shapes", "params", "flops", "rf", "summary"])
def test_every_command_reports_spec_errors(cli, spec_file, command):
    path = spec_file(CASES[0][2], "s.yaml")
    result = cli(command, path, "--format", "json")
    assert result.exit_code == 1 and result.stderr.startswith(f"{path}:4:5: error: ")


def test_stdin_error_line(cli):
    result = cli("params", "-", input=CASES[2][2])
    assert result.exit_code == 1
    assert result.stderr.startswith("<stdin>:4:5: error: unknown argument 'kernal_size'")


def test_expect_mismatch_with_set(cli, spec_file):
    path = spec_file("input: [1, 3, H, H]\nlayers:\n"
                     "  - Conv2d: {out_channels: 4, kernel_size: 3, expect: [1, 4, 8, 8]}\n")
    assert cli("shapes", path, "--set", "H=10").exit_code == 0
    result = cli("shapes", path, "--set", "H=11")
    assert result.exit_code == 1 and f"{path}:3:" in result.stderr and "[1, 4, 9, 9]" in result.stderr


def test_non_utf8_file(cli, tmp_path):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"input: [1]\nlayers: [\xff\xfe]\n")
    result = cli("shapes", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert LINE.match(result.stderr.strip())


def test_render_and_did_you_mean():
    assert SpecError("bad", (3, 7)).render("a.yaml") == "a.yaml:3:7: error: bad"
    assert SpecError("bad").render("<stdin>") == "<stdin>:1:1: error: bad"
    assert did_you_mean("kernal_size", ["kernel_size", "stride"]) == " (did you mean 'kernel_size'?)"
    assert did_you_mean("CONV2D", ["Conv2d", "Conv3d"]).startswith(" (did you mean 'Conv2d'")
    assert did_you_mean("zzz", ["kernel_size"]) == ""
