"""The netcalc command: every spec command and format, options, stdin, --help, exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

COMMANDS = ["shapes", "params", "flops", "rf", "summary"]
FORMATS = ["table", "json", "csv", "markdown"]
LAYER_KEYS = {"index", "name", "type", "input_shape", "output_shape", "state_shapes", "weights", "biases",
              "params", "macs", "flops", "rf"}


@pytest.fixture
def seed(spec_file, seed_text):
    return spec_file(seed_text, "seed.yaml")


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    assert result.stderr == ""
    return result.stdout


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_and_format(cli, seed, command, fmt):
    out = ok(cli(command, seed, "--format", fmt))
    assert "Conv2d_1" in out and "Linear_11" in out
    if fmt == "json":
        json.loads(out)
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(out)))
        assert len(rows) == 1 + 11 + 1 and rows[-1][1] == "total"


def test_json_has_every_key_on_every_layer(cli, seed):
    doc = json.loads(ok(cli("summary", seed, "--format", "json")))
    assert {"name", "input_shape", "output_shape", "layers", "totals"} <= set(doc)
    assert len(doc["layers"]) == 11
    for i, layer in enumerate(doc["layers"], 1):
        assert LAYER_KEYS <= set(layer), LAYER_KEYS - set(layer)
        assert layer["index"] == i
    assert {"weights", "biases", "params", "macs", "flops"} <= set(doc["totals"])


def test_json_seed_numbers(cli, seed):
    doc = json.loads(ok(cli("params", seed, "-f", "json")))
    convs = [doc["layers"][i] for i in (0, 2, 4, 6)]
    assert [c["output_shape"] for c in convs] == [[100, 128, 256, 256], [100, 64, 128, 128], [100, 32, 64, 64],
                                                  [100, 16, 64, 64]]
    assert [c["weights"] for c in convs] == [9600, 204800, 18432, 512]
    assert [c["biases"] for c in convs] == [128, 64, 32, 16]
    assert doc["layers"][8]["output_shape"] == [100, 16, 32, 32]
    assert doc["layers"][9]["output_shape"] == [100, 16384]
    assert doc["layers"][10]["weights"] == 163840 and doc["layers"][10]["biases"] == 10
    assert [doc["layers"][i]["rf"]["size"] for i in (0, 2, 4, 6, 8)] == [[5, 5], [13, 13], [21, 21], [21, 21],
                                                                        [29, 29]]
    assert doc["layers"][9]["rf"] is None and doc["layers"][1]["state_shapes"] is None
    assert doc["totals"]["params"] == 397434


def test_json_is_the_same_for_every_command(cli, seed):
    docs = {c: ok(cli(c, seed, "--format", "json")) for c in COMMANDS}
    assert len(set(docs.values())) == 1


def test_no_bias(cli, seed):
    with_bias = json.loads(ok(cli("summary", seed, "--format", "json")))
    without = json.loads(ok(cli("summary", seed, "--format", "json", "--no-bias")))
    assert without["totals"]["biases"] == 0 and without["totals"]["params"] == 397184
    assert without["totals"]["macs"] == with_bias["totals"]["macs"]
    conv = without["layers"][0]
    assert conv["flops"] == 100 * 128 * 256 * 256 * (2 * 75 - 1)
    assert with_bias["layers"][0]["flops"] == 100 * 128 * 256 * 256 * 2 * 75


def test_no_bias_overrides_bias_true(cli, spec_file):
    path = spec_file("input: [2, 8]\nlayers:\n  - Linear: {out_features: 4, bias: true}\n")
    assert json.loads(ok(cli("params", path, "--no-bias", "-f", "json")))["totals"]["params"] == 32


SYMBOLIC = "input: [B, 3, H, W]\nsymbols: {B: 1}\nlayers:\n  - Conv2d: {out_channels: 8, kernel_size: 3}\n"


def test_set_gives_values(cli, spec_file):
    path = spec_file(SYMBOLIC)
    doc = json.loads(ok(cli("shapes", path, "--set", "H=10", "--set", "W=12", "-f", "json")))
    assert doc["layers"][0]["output_shape"] == [1, 8, 8, 10]
    assert all(isinstance(doc["totals"][k], int) for k in doc["totals"])
    doc = json.loads(ok(cli("shapes", path, "--set", "H=10", "--set", "B=4", "-f", "json")))
    assert doc["layers"][0]["output_shape"][:3] == [4, 8, 8]
    assert isinstance(doc["layers"][0]["output_shape"][3], str)              # W left symbolic
    assert doc["layers"][0]["weights"] == 216 and isinstance(doc["layers"][0]["macs"], str)


@pytest.mark.parametrize("arg, needle", [
    ("H=abc", "H"), ("H=1.5", "H"), ("W=", "W"), ("H", "NAME=VALUE"), ("=3", "NAME=VALUE"),
])
def test_bad_set_is_a_usage_error(cli, spec_file, arg, needle):
    result = cli("shapes", spec_file(SYMBOLIC), "--set", arg)
    assert result.exit_code == 2
    assert result.stdout == ""
    line, = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and needle in line and "Traceback" not in result.stderr


def test_set_h_abc_message(cli, spec_file):
    result = cli("summary", spec_file(SYMBOLIC), "--set", "H=abc")
    assert result.exit_code == 2
    assert "--set H=abc" in result.stderr and "integer" in result.stderr and "H" in result.stderr


def test_stdin(cli, seed_text):
    doc = json.loads(ok(cli("shapes", "-", "--format", "json", input=seed_text)))
    assert doc["output_shape"] == [100, 10]


def test_stdin_errors_are_named_stdin(cli):
    result = cli("shapes", "-", input="input: [1, 2]\nlayers:\n  - ReLU\n  - Relu7\n")
    assert result.exit_code == 1
    line, = result.stderr.splitlines()
    assert line.startswith("<stdin>:4:5: error: unknown layer type 'Relu7' (did you mean 'ReLU")


def test_toml_file(cli, spec_file):
    path = spec_file('input = [2, 8]\n\n[[layers]]\ntype = "Linear"\nout_features = 3\n', "net.toml")
    assert json.loads(ok(cli("params", path, "-f", "json")))["totals"]["params"] == 27


def test_missing_file_is_a_usage_error(cli, tmp_path):
    result = cli("shapes", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_bad_format_is_a_usage_error(cli, seed):
    assert cli("shapes", seed, "--format", "xml").exit_code == 2


def registered_commands() -> list[str]:
    from netcalc.cli import app

    return [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands]


def test_the_spec_commands_are_registered():
    assert set(COMMANDS) <= set(registered_commands())


@pytest.mark.parametrize("command", registered_commands())
def test_help_of_each_command(cli, command):
    result = cli(command, "--help")
    assert result.exit_code == 0, result.stderr
    assert "Usage" in result.stdout and "Example" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_the_common_options(cli, command):
    out = cli(command, "--help").stdout
    for option in ("--set", "--no-bias", "--format"):
        assert option in out


def test_top_level_help_lists_commands(cli):
    out = cli("--help").stdout
    for command in COMMANDS:
        assert command in out


def test_layers_command(cli):
    out = ok(cli("layers"))
    assert "Conv2d" in out and "TransformerEncoderLayer" in out and "depthwise" in out


def test_table_output_shape(cli, seed):
    out = ok(cli("summary", seed))
    assert "100 × 128 × 256 × 256" in out and "total" in out and "397,434" in out


def test_markdown_output(cli, seed):
    lines = ok(cli("params", seed, "--format", "markdown")).splitlines()
    assert lines[0] == "**seed CNN**: input 100 × 3 × 512 × 512"
    assert any(line.startswith("| 1 | Conv2d_1 | Conv2d | 100 × 128 × 256 × 256 | 9,600 | 128 | 9,728 |")
               for line in lines)


# ------------------------------------------------------------------- the real process

def netcalc(*args, input=None):
    return subprocess.run([sys.executable, "-m", "netcalc", *map(str, args)], check=False, input=input,
                          capture_output=True, text=True, timeout=60)


def test_real_process_success(seed):
    p = netcalc("summary", seed, "--format", "csv")
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout.splitlines()[1].startswith("1,Conv2d_1,Conv2d,100x128x256x256,9600,128,9728,")


def test_real_process_spec_error_and_usage_error(spec_file):
    path = spec_file("input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernal_size: 3}\n")
    p = netcalc("shapes", path)
    assert p.returncode == 1 and p.stdout == "" and "Traceback" not in p.stderr
    assert p.stderr == f"{path}:3:5: error: unknown argument 'kernal_size' for Conv2d (did you mean 'kernel_size'?)\n"
    p = netcalc("shapes", path, "--set", "H=abc")
    assert p.returncode == 2 and "H" in p.stderr and "Traceback" not in p.stderr


def test_real_process_stdin(seed_text):
    p = netcalc("params", "-", "-f", "json", input=seed_text)
    assert p.returncode == 0 and json.loads(p.stdout)["totals"]["params"] == 397434


def test_format_is_case_insensitive(cli, seed):
    assert json.loads(ok(cli("shapes", seed, "--format", "JSON")))["output_shape"] == [100, 10]


def test_layers_accounts_for_every_torch_nn_module(cli):
    """Every public torch.nn module class is a spec layer or is named with the reason it is not."""
    nn = pytest.importorskip("torch.nn", reason="the list of torch.nn classes comes from torch")
    import inspect
    import re

    out = cli("layers").output
    named = set(re.findall(r"[A-Za-z0-9]+", out))
    modules = [n for n, c in vars(nn).items() if inspect.isclass(c) and issubclass(c, nn.Module)
               and not n.startswith("_") and n not in ("Module", "RNNBase", "RNNCellBase")]
    missing = [n for n in modules if n not in named and "Loss" not in n and not n.startswith("Lazy")]
    assert not missing, missing


def test_help_reflows_to_the_terminal_and_keeps_brackets(monkeypatch):
    """Docstring paragraphs wrap to the width, not where the source broke them; [..] stays text (issue 10)."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "netcalc", "solve-padding", "--help"], capture_output=True,
                         text=True, env={**__import__("os").environ, "COLUMNS": "200"})
    assert "the least [before, after] padding" in run.stdout
    assert "ConvTranspose give back the input size, and the least [before, after] padding giving" in run.stdout
