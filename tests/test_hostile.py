"""Hostile input: every case is refused quickly with a located error, or computed exactly."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from netcalc.errors import SpecError
from netcalc.network import analyze_text


def bomb(levels: int = 9, width: int = 9) -> list[str]:
    """YAML 'billion laughs': ``width**levels`` leaves through aliases."""
    lines = ["    a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"    a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return lines


def with_bomb(use: str) -> str:
    """A spec whose block args hold the bomb's anchors, and ``use`` somewhere referring to *a9."""
    return ("blocks:\n  X:\n    args:\n" + "\n".join("  " + line for line in bomb()) + "\n    layers: [ReLU]\n"
            + "input: [1, 3, 8, 8]\n" + use)


@pytest.mark.parametrize("use", [
    "layers:\n  - Conv2d: {out_channels: *a9, kernel_size: 3}\n",
    "layers:\n  - Conv2d: {out_channels: 4, kernel_size: *a9}\n",
    "layers:\n  - X: {a0: *a9}\n",
    "name: *a9\nlayers: [ReLU]\n",
    "layers:\n  - ReLU: {expect: *a9}\n",
    "layers:\n  - Conv2d: {out_channels: 4, kernel_size: 3, padding_mode: *a9}\n",
    "layers:\n  - {type: ReLU, name: *a9}\n",
    "layers:\n  - ReLU: {when: *a9}\n",
    "layers: *a9\n",
    "symbols: {B: *a9}\nlayers: [ReLU]\n",
])
def test_alias_bombs_are_refused_quickly(use):
    start = time.perf_counter()
    with pytest.raises(SpecError) as e:
        analyze_text(with_bomb(use))
    assert time.perf_counter() - start < 5
    assert len(str(e.value)) < 400


def test_expressions_nested_or_long_are_refused():
    deep = "(" * 6000 + "4" + ")" * 6000
    with pytest.raises(SpecError, match="longer than"):
        analyze_text(f"input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {{out_channels: '{deep}', kernel_size: 3}}\n")
    deep = "(" * 1500 + "4" + ")" * 1500
    with pytest.raises(SpecError, match="nested too deeply|longer than"):
        analyze_text(f"input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {{out_channels: '{deep}', kernel_size: 3}}\n")


@pytest.mark.parametrize("expr", ["9**9**9**9", "10**100000", "H**100"])
def test_enormous_powers_are_refused(expr):
    with pytest.raises(SpecError, match="too large|larger than 2\\*\\*1024 \\(MAX_BITS\\)"):
        analyze_text(f"input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {{out_channels: '{expr}', kernel_size: 3}}\n")


def test_deep_yaml_nesting_is_refused():
    text = "input: [1, 3, 8, 8]\nlayers: " + "[" * 20000 + "]" * 20000 + "\n"
    with pytest.raises(SpecError):
        analyze_text(text)


def test_huge_numbers_stay_exact():
    big = 10**30
    row = analyze_text(f"input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {{out_channels: {big}, kernel_size: 3}}\n").layers[0]
    assert row.weights == big * 3 * 3 * 3 and row.biases == big
    assert row.macs == big * 6 * 6 * 27
    assert row.to_dict()["params"] == big * 28


def test_recursive_blocks_are_a_cycle():
    text = "input: [1, 3, 8, 8]\nblocks:\n  A: {layers: [B]}\n  B: {layers: [A]}\nlayers:\n  - A\n"
    with pytest.raises(SpecError, match="A → B → A"):
        analyze_text(text)


def test_odd_symbol_names_are_only_names(tmp_path):
    """Names are symbols of their own, and anything that is not our grammar is refused."""
    marker = tmp_path / "pwned"
    report = analyze_text("input: [1, 3, __import__, os]\nlayers:\n  - Conv2d: {out_channels: exec, kernel_size: 1}\n")
    assert report.layers[0].to_dict()["output_shape"] == [1, "exec", "__import__", "os"]
    for text in [f"__import__('os').system('touch {marker}')", "os.system('x')", "lambda: 1", "[1][0]", "a if b else c"]:
        with pytest.raises(SpecError):
            analyze_text(f"input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {{out_channels: \"{text}\", kernel_size: 3}}\n")
    assert not marker.exists()


def test_a_huge_file_is_refused_quickly(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("input: [1, 3, 8, 8]\nlayers:\n" + "  - ReLU\n" * 1_300_000)
    start = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "netcalc", "shapes", str(path)], capture_output=True, text=True)
    assert p.returncode == 1 and "larger than" in p.stderr and "Traceback" not in p.stderr
    assert time.perf_counter() - start < 15
