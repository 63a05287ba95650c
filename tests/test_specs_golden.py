"""Golden-file tests of the CLI on every runnable spec under ``specs/``.

For each spec, ``netcalc summary SPEC`` (the rich table) and ``netcalc summary SPEC --format
json`` must print exactly what ``tests/golden/<path under specs/ with / as __>.{txt,json}``
holds, e.g. ``specs/homework/cpen455_cnn.yaml`` → ``tests/golden/homework__cpen455_cnn.yaml.txt``.
Specs with ``_`` blanks are questions for ``netcalc solve`` and are not run here.

After an intended change of output, regenerate and review the diff::

    pytest tests/test_specs_golden.py --update-golden      # or NETCALC_UPDATE_GOLDEN=1 pytest ...
    git diff tests/golden/
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from netcalc.cli import app

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOLDEN = Path(__file__).resolve().parent / "golden"
SUFFIXES = (".yaml", ".yml", ".toml")
GOLDEN_NAME = re.compile(r".+\.(yaml|yml|toml)\.(txt|json)$")
# A fixed terminal: rich wraps the table to the terminal width.
ENV = {"COLUMNS": "140", "LINES": "50", "NETCALC_DEBUG": None}
FORMATS = {"txt": [], "json": ["--format", "json"]}

# Valid specs that netcalc cannot run yet, with the reason; kept out of the golden set.
KNOWN_FAILING: dict[str, str] = {}


def load(path: Path):
    text = path.read_text(encoding="utf-8")
    return tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)


def has_blank(node) -> bool:
    """True when the spec has a ``_`` blank anywhere (an argument, a dimension, an expect entry)."""
    if isinstance(node, str):
        return node.strip() == "_"
    if isinstance(node, dict):
        return any(has_blank(v) for v in node.values())
    if isinstance(node, list):
        return any(has_blank(v) for v in node)
    return False


def runnable_specs() -> list[str]:
    """Paths under specs/, relative to it, of every spec without blanks, sorted."""
    out = []
    for path in sorted(SPECS.rglob("*")):
        if path.suffix in SUFFIXES and path.is_file():
            data = load(path)
            if not has_blank({k: data.get(k) for k in ("input", "layers")}):
                out.append(path.relative_to(SPECS).as_posix())
    return out


def golden_path(rel: str, kind: str) -> Path:
    return GOLDEN / f"{rel.replace('/', '__')}.{kind}"


def normalize(text: str) -> str:
    """Trailing spaces (rich pads centred titles) and final newlines are not significant."""
    return "\n".join(line.rstrip() for line in text.rstrip("\n").splitlines()) + "\n"


def updating(config) -> bool:
    return bool(config.getoption("--update-golden")) or os.environ.get("NETCALC_UPDATE_GOLDEN") == "1"


def run_summary(rel: str, kind: str, monkeypatch) -> str:
    monkeypatch.chdir(ROOT)  # relative spec paths: nothing machine-specific in the output
    result = CliRunner().invoke(app, ["summary", f"specs/{rel}", *FORMATS[kind]], env=ENV)
    assert result.exit_code == 0, f"netcalc summary specs/{rel} exited {result.exit_code}:\n{result.stderr}"
    return normalize(result.stdout)


SPEC_IDS = runnable_specs()


def test_specs_found():
    assert len(SPEC_IDS) >= 10, f"expected the specs/ collection, found {SPEC_IDS}"


@pytest.mark.parametrize("kind", sorted(FORMATS))
@pytest.mark.parametrize("rel", SPEC_IDS)
def test_summary_matches_golden(rel, kind, request, monkeypatch):
    if rel in KNOWN_FAILING:
        pytest.skip(f"{rel}: {KNOWN_FAILING[rel]}")
    actual = run_summary(rel, kind, monkeypatch)
    if kind == "json":
        json.loads(actual)  # always a valid document
    path = golden_path(rel, kind)
    if updating(request.config):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no golden file {path.relative_to(ROOT)}; create it with "
                    f"pytest {Path(__file__).relative_to(ROOT)} --update-golden and review it")
    expected = normalize(path.read_text(encoding="utf-8"))
    assert actual == expected, (f"netcalc summary specs/{rel} changed; if intended, rerun with "
                                "--update-golden (or NETCALC_UPDATE_GOLDEN=1) and review git diff tests/golden/")


def test_no_orphan_golden_files(request):
    """Every spec golden file belongs to a runnable spec (deleted or renamed specs leave none behind)."""
    wanted = {golden_path(rel, kind).name for rel in SPEC_IDS if rel not in KNOWN_FAILING for kind in FORMATS}
    orphans = sorted(p for p in GOLDEN.glob("*") if GOLDEN_NAME.match(p.name) and p.name not in wanted)
    if updating(request.config):
        for p in orphans:
            p.unlink()
        return
    assert not orphans, f"golden files without a runnable spec: {[p.name for p in orphans]} (--update-golden removes them)"


# ----------------------------------------------------------------------------- tables at terminal widths

WIDTH_CASES = [("summary", "classics/symbolic.yaml"), ("shapes", "classics/symbolic.yaml"),
               ("summary", "zoo/resnet18.yaml"), ("memory", "classics/transformer_encoder.yaml")]
WIDTH_DIR = GOLDEN / "widths"


@pytest.mark.parametrize("columns", [80, 100, 120])
@pytest.mark.parametrize("command, rel", WIDTH_CASES)
def test_tables_fit_the_terminal(command, rel, columns, request, monkeypatch):
    """Tables at 80, 100 and 120 columns: no line past the width, every column header whole (or
    the one-block-per-layer layout), formulas in textbook form (issue 10)."""
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, [command, f"specs/{rel}", "--depth", "1"], env={**ENV, "COLUMNS": str(columns)})
    assert result.exit_code == 0, result.stderr
    actual = normalize(result.stdout)
    assert max(len(line) for line in actual.splitlines()) <= columns
    path = WIDTH_DIR / f"{command}__{rel.replace('/', '__')}.{columns}.txt"
    if updating(request.config):
        WIDTH_DIR.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path.relative_to(ROOT)}; create it with --update-golden"
    assert actual == normalize(path.read_text(encoding="utf-8")), f"{command} specs/{rel} at {columns} columns changed"
