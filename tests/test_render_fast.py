"""The fast renderers print exactly what rich and json.dumps(indent=2) print (issue 6).

render.plain_table draws simple tables without rich and declines everything else;
render.dumps writes JSON without json's pure-Python indenting encoder. Both must be
byte-identical to the reference they replace, on every spec and on awkward names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netcalc import render as R
from netcalc.errors import SpecError
from netcalc.network import analyze, analyze_text
from netcalc.spec import parse, read_text

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").rglob("*") if p.suffix in (".yaml", ".toml"))


def both_tables(monkeypatch, report, command, depth, width):
    monkeypatch.setattr(R, "_width", lambda: width)
    cols = ("index", "name", "type") + R.COLUMNS[command]
    fast = R._table(report, cols, R._items(report, depth))
    with monkeypatch.context() as m:
        m.setattr(R, "plain_table", lambda *a: None)
        reference = R._table(report, cols, R._items(report, depth))
    return fast, reference


def report_of(rel):
    text, _ = read_text(str(ROOT / rel))
    try:
        return analyze(parse(text, rel), {})
    except SpecError:
        pytest.skip("spec needs values or is an error case")


@pytest.mark.parametrize("rel", SPECS)
def test_every_spec_table_and_json_match_the_references(rel, monkeypatch):
    report = report_of(rel)
    doc = report.to_dict()
    assert R.dumps(doc) == json.dumps(doc, indent=2)
    for command, depth, width in (("summary", None, 250), ("summary", 0, 250), ("summary", None, 100),
                                  ("shapes", None, 250), ("rf", 1, 250), ("memory", None, 250)):
        fast, reference = both_tables(monkeypatch, report, command, depth, width)
        assert fast == reference, (command, depth, width)


TITLES = ["plain", "with: colon", "emoji :thumbs_up: x", "[bold]markup[/bold]", "tab\there", "  lead", "trail  ",
          "wide 层", "e\u0301 combining", "x" * 300, "a\nb", "back\\slash", "", "ü ß → ×"]
# names are printable text (a control character in one is refused: tests/test_security.py)
LAYER_NAMES = ["conv", "层1", "a b", "y" * 120, 'quote"x', "[red]x", ":smile:", "trail ", "e\u0301"]


def test_awkward_names_match_rich(monkeypatch):
    pairs = [(t, n) for i, t in enumerate(TITLES) for n in (LAYER_NAMES[i % len(LAYER_NAMES)], "conv")]
    pairs += [("plain", n) for n in LAYER_NAMES]
    for title, name in pairs:
        spec = json.dumps({"name": title, "input": ["B", 3, "H", 32], "layers": [
            {"Conv2d": {"out_channels": 8, "kernel_size": 3, "name": name}}, "ReLU",
            {"residual": {"layers": [{"Conv2d": {"out_channels": 8, "kernel_size": 3, "padding": 1}}]}},
            "Flatten", {"Linear": {"out_features": 5}}]})
        report = analyze_text(spec, "x.yaml")
        doc = report.to_dict()
        assert R.dumps(doc) == json.dumps(doc, indent=2)
        for width in (250, 90):
            fast, reference = both_tables(monkeypatch, report, "summary", None, width)
            assert fast == reference, (title, name, width)


def test_dumps_matches_json_on_odd_values():
    doc = {"a": [], "b": {}, "c": [1, "x", None, True, False, 1.5, float("inf"), float("-inf"), [2, [3, {}]]],
           "d": {"é": "ü\n\"\\", "n": {"m": [[], [[]]]}}, "e": (1, 2), "f": 10**30, "g": -0.0}
    assert R.dumps(doc) == json.dumps(doc, indent=2)
    odd = {1: "int key", "s": {1.5}}  # json's own rules (key conversion, errors) still apply
    assert R.dumps({1: "x"}) == json.dumps({1: "x"}, indent=2)
    with pytest.raises(TypeError):
        R.dumps(odd)


def test_a_large_table_is_drawn_without_rich(monkeypatch):
    layers = "\n".join("  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}" for _ in range(300))
    report = analyze_text(f"input: [1, 4, 16, 16]\nlayers:\n{layers}\n", "x.yaml")
    fast, reference = both_tables(monkeypatch, report, "summary", None, 250)
    assert fast == reference
    monkeypatch.setattr(R, "_rich_table", lambda *a: pytest.fail("rich was used"))
    R._table(report, ("index", "name", "type") + R.COLUMNS["summary"], R._items(report, None))
