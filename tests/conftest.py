"""Shared fixtures: the seed network, spec files on disk, and the real CLI run in-process."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

SEED = """\
name: seed CNN
input: [100, 3, 512, 512]
layers:
  - Conv2d: {out_channels: 128, kernel_size: 5, stride: 2, padding: 2}
  - ReLU
  - Conv2d: {out_channels: 64, kernel_size: 5, stride: 2, padding: 2}
  - ReLU
  - Conv2d: {out_channels: 32, kernel_size: 3, stride: 2, padding: 1}
  - ReLU
  - Conv2d: {out_channels: 16, kernel_size: 1}
  - ReLU
  - AvgPool2d: {kernel_size: 2, stride: 2}
  - Flatten
  - Linear: {out_features: 10}
"""


@pytest.fixture
def seed_text() -> str:
    """The seed CNN of the project brief, as YAML."""
    return SEED


@pytest.fixture
def spec_file(tmp_path):
    """``spec_file(text, name="spec.yaml")`` writes a spec and returns its path as a string."""

    def write(text: str, name: str = "spec.yaml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


@pytest.fixture
def cli():
    """``cli(*args, input=None)`` runs ``netcalc`` in-process; the result has exit_code, stdout, stderr."""
    from netcalc.cli import app

    runner = CliRunner()

    def run(*args, input: str | None = None):
        return runner.invoke(app, [str(a) for a in args], input=input)

    return run


def pytest_addoption(parser):
    """``--update-golden``: tests/test_specs_golden.py rewrites tests/golden/ (as NETCALC_UPDATE_GOLDEN=1)."""
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="regenerate the golden CLI outputs in tests/golden/ instead of comparing")
