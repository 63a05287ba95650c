"""netcalc sizes: the valid input sizes of a network with letters in its input shape."""

from __future__ import annotations

import json

from netcalc.sizes import pattern, solve_sizes
from netcalc.spec import parse

UNET = """\
input: [1, 3, H, W]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1, name: e1}
  - MaxPool2d: {kernel_size: 2}
  - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1, name: e2}
  - MaxPool2d: {kernel_size: 2}
  - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
  - ConvTranspose2d: {out_channels: 16, kernel_size: 2, stride: 2}
  - concat: {with: e2}
  - ConvTranspose2d: {out_channels: 8, kernel_size: 2, stride: 2}
  - concat: {with: e1}
"""


def test_pattern_reading():
    assert pattern("H", list(range(4, 101, 4)), 100).condition() == "H ≥ 4 and H a multiple of 4"
    assert pattern("H", list(range(7, 101)), 100).condition() == "H ≥ 7"
    assert pattern("H", list(range(5, 101, 4)), 100).condition() == "H ≥ 5 and H ≡ 1 (mod 4)"
    assert pattern("H", [], 100).condition() == "no value of H up to 100 works"


def test_unet_needs_multiples_of_four():
    result = solve_sizes(parse(UNET), {}, limit=64, check={"H": 30, "W": 32})
    assert [p.condition() for p in result.patterns] == ["H ≥ 4 and H a multiple of 4", "W ≥ 4 and W a multiple of 4"]
    assert result.smallest == {"H": 4, "W": 4}
    assert result.check["valid"] is False and result.check["nearest"]["H"] == [28, 32]
    assert "[1, 16, 15, 16]" in result.check["error"]


def test_a_plain_cnn_needs_only_a_minimum():
    text = "input: [1, 3, H, 32]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 5}\n  - MaxPool2d: {kernel_size: 3, stride: 2}\n"
    result = solve_sizes(parse(text), {}, limit=50)
    assert [p.condition() for p in result.patterns] == ["H ≥ 7"]


def test_cli(cli, spec_file):
    path = spec_file(UNET)
    r = cli("sizes", path, "--check", "H=32,W=32", "--max", "40", "--format", "json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and doc["check"]["valid"] is True and doc["smallest"] == {"H": 4, "W": 4}
    r = cli("sizes", path, "--check", "H=abc")
    assert r.exit_code == 2


def test_a_size_dependent_error_is_scanned_not_refused(cli, tmp_path):
    """Strided floors map the two largest sizes to one flattened width: a third probe tells that
    the error depends on the size (it refused this valid spec)."""
    path = tmp_path / "n1.yaml"
    path.write_text("input: [1, 3, H, W]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3, stride: 2}\n"
                    "  - Flatten\n  - Linear: {out_features: 10, in_features: 16}\n")
    result = cli("sizes", str(path))
    assert result.exit_code == 0 and "H in {5, 6}" in result.output, result.output
