"""netcalc.blanks: the graph solve searches, built by the graph builder's own walk with a letter
per blank: names and edges as every command has them, one unknown per blank as written, when:
conditions a blank decides as variants, and what is refused."""

from __future__ import annotations

import pytest

from netcalc.blanks import MAX_VARIANTS, variants
from netcalc.errors import SpecError
from netcalc.network import analyze_text
from netcalc.solver import solve_text
from netcalc.spec import parse

UNIT = """\
input: [1, 8, 16, 16]
blocks:
  Unit:
    args: {planes: 8, stride: 1}
    layers:
      - residual:
          layers:
            - Conv2d: {out_channels: planes, kernel_size: _, stride: stride, padding: 1, name: conv}
          shortcut:
            layers:
              - Conv2d: {out_channels: planes, kernel_size: 1, stride: stride, when: "stride != 1 or in_channels != planes"}
layers:
  - Unit: {planes: _, stride: 2, name: a}
  - Unit: {planes: 16, repeat: 2, name: b}
  - concat:
      name: mix
      expect: [1, 20, 8, 8]
      branches:
        - [{Conv2d: {out_channels: 4, kernel_size: 1}}]
        - [{MaxPool2d: {kernel_size: 3, stride: 1, padding: 1}}]
"""


def build(text: str, values=None):
    spec = parse(text, "spec.yaml")
    return variants(spec, {**spec.symbols, **(values or {})}, False)


def test_flat_and_structured_specs():
    assert parse("input: [1, 3]\nlayers:\n  - Linear: {out_features: _}\n", "s.yaml").is_plain()
    assert not parse(UNIT, "s.yaml").is_plain()


def test_sites_have_the_names_and_edges_every_command_shows():
    [variant] = build(UNIT.replace("planes: _", "planes: 16"))  # no blank decides a when:
    rows = analyze_text(UNIT.replace("planes: _", "planes: 16").replace("kernel_size: _", "kernel_size: 3")).layers
    assert [s.name for s in variant.sites] == [r.name for r in rows]
    assert [s.sources for s in variant.sites] == [tuple(r.inputs) for r in rows]
    merges = {s.name: (s.op, s.dim) for s in variant.sites if s.op}
    assert merges["mix.concat"] == ("Concat", 1) and merges["a.add"] == ("Add", None)


def test_one_unknown_per_blank_as_written():
    """The body's kernel_size is one unknown for every call and repeat; labels say where it is written."""
    [variant] = build(UNIT.replace("planes: _", "planes: 16"))
    assert sorted(variant.labels.values()) == ["Unit.conv.kernel_size[0]", "Unit.conv.kernel_size[1]"]
    convs = [s for s in variant.sites if s.name.endswith(".conv")]
    assert len(convs) == 3 and len({str(s.entry.args["kernel_size"]) for s in convs}) == 1


def test_a_when_on_a_blank_makes_one_variant_per_truth():
    found = build(UNIT)  # a.planes decides a's shortcut; a's output (planes) decides b.0's
    assert 2 <= len(found) <= MAX_VARIANTS
    assert {tuple(c.truth for c in v.conditions) for v in found} >= {(False,) * len(found[0].conditions)}


def test_solve_answers_through_blocks_repeats_and_merges():
    """b.0's shortcut conv adapts any a.planes to 16 channels (torch builds them all), while the
    concat's 20 channels fix b's 16 and the 8x8 output fixes the kernel."""
    r = solve_text(UNIT)
    assert r.count is None and r.unbounded == ["a.planes"], r.unmet
    assert [s.assignments for s in r.solutions] == [{"a.planes": p, "Unit.conv.kernel_size": 3} for p in range(1, 101)]
    pinned = solve_text(UNIT.replace("name: a}", "name: a, expect: [1, 12, 8, 8]}"))
    assert [s.assignments for s in pinned.solutions] == [{"a.planes": 12, "Unit.conv.kernel_size": 3}]


def test_a_blank_in_a_repeated_call_is_one_unknown():
    text = UNIT.replace("planes: 16, repeat: 2", "planes: 16, stride: _, repeat: 2").replace("planes: _", "planes: 16")
    text = text.replace("[1, 20, 8, 8]", "[1, 20, 2, 2]")
    r = solve_text(text)
    # every call strides 2 (16 → 8 → 4 → 2), and a kernel of 3 or 4 (per axis) keeps that with padding 1
    assert [s.assignments for s in r.solutions] == [{"Unit.conv.kernel_size": k, "b.stride": 2}
                                                    for k in (3, [3, 4], 4, [4, 3])]


@pytest.mark.parametrize("text, message", [
    ("input: [1, _, 8, 8]\nblocks:\n  B: {args: {c: 1}, layers: [{Conv2d: {out_channels: c, kernel_size: 1}}]}\n"
     "layers:\n  - B: {c: in_channels}\n", r"cannot follow the blank input\[1\]"),
    ("input: [1, 4, 8, 8]\nblocks:\n  B: {layers: [{LSTM: {hidden_size: 4, batch_first: _}}]}\nlayers:\n  - Flatten: "
     "{start_dim: 2}\n  - B\n", r"true/false blank \(batch_first\) is solved in a flat list"),
    ("input: [1, 4, 8, 8]\nlayers:\n  - Conv2d: {out_channels: _, kernel_size: 1}\n" + "".join(
        f"  - ReLU: {{when: \"in_channels != {i}\"}}\n" for i in range(1, 7)),
     r"more than 16 variants"),
])
def test_refused_with_a_located_error(text, message):
    with pytest.raises(SpecError, match=message):
        solve_text(text)
