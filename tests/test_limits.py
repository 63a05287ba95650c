"""Hangs and memory blow-ups (issue 15, round two): each is refused quickly with one located
error line that names the limit, or is simply fast.

Every case runs the real CLI in a child process under RLIMIT_AS = 1 GiB and RLIMIT_CPU = 10 s
(plus a wall-clock timeout), so a regression fails here instead of hanging the suite.

The limits (name, value, why):

- ``netcalc.network.MAX_LAYERS = 20_000``: rows (leaf layers plus add/concat/multiply merges)
  after ``repeat:``, block calls and ``when:`` are expanded, counted before anything is expanded
  (``when:`` counted as true). Each row costs ~50 µs and 3-5 KB (``repeat: 100000`` took 5.6 s);
  blocks that call the previous one twice double per level. 2 × the 10,000-layer benchmark chain,
  ~50 × the largest spec in specs/ and netcalc/zoo/ (427 rows).
- ``netcalc.spec.MAX_ENTRIES = 20_000``: layer entries in one file (items of ``layers:``,
  ``shortcut:`` and ``branches:`` lists), counted from the YAML event stream before any object is
  built (TOML: ``[[...]]`` table headers). A 3.6 MB file of 400,000 entries took 16 s and 1.1 GB.
- ``netcalc.symbolic.MAX_EXPR_NAMES = 100``: name occurrences in one expression; each symbolic
  ``+``/``*`` re-sorts what was built so far (a padding of 1,500 letters: 6.6 s, and ``solve``
  hung on it).
- ``netcalc.symbolic.MAX_FORMULA_NODES = 2_000``, ``MAX_FORMULA_DEPTH = 64`` and
  ``MAX_FORMULA_LETTERS = 64``: size, nesting and distinct letters of one layer's
  output-dimension formula, checked after every layer (``netcalc.network.check_growth``).
  sympy's printer recurses ~4 frames a level (120 convs with a symbolic stride:
  RecursionError); 40 convs with their own symbolic kernel, stride, padding and dilation took
  5 s, 60 convs each padding with 50 new letters > 25 s. The specs in specs/ and netcalc/zoo/
  need at most 6 nodes and 4 levels. The error says to give letters values with ``--set``;
  a RecursionError that still happens in a layer becomes a located error too.
- ``netcalc.sizes.MAX_SCAN = 4096``: the largest ``netcalc sizes --max`` (one shapes-only
  analysis per value per letter; ``--max 1000000000`` never ended). A usage error, exit 2.
- ``netcalc.rf.MAX_RF_PERIOD = 65536``: phases of an exact receptive field; a transposed step
  multiplies the period by its stride. Beyond it the field is not computed (``rf: null``).
  (The Upsample ``scale_factor: 10000`` slowness, 22 s, was not the period but visiting every
  kernel tap of every phase; now only the taps that land on an input unit are visited.)

- ``netcalc.network.MAX_NESTING = 64``: block calls inside block calls (a chain of 250 blocks each
  calling the next overflowed the interpreter's stack).
- ``netcalc.symbolic.MAX_BITS = 1024``: the largest number a spec, ``--set`` or an expression may
  hold is 2**1024 (integers of more than 4,300 digits could not even be printed; products of a few
  2**1024 numbers stay far below that).

Existing limits kept: ``spec.MAX_BYTES`` (8 MiB), ``spec.MAX_ALIASES`` (1000),
``symbolic.MAX_EXPR`` (10,000 characters). A nested list in ``expect:`` (an alias bomb there hung
``solve``) is now an error in every command.
"""

from __future__ import annotations

import random
import re
import resource
import subprocess
import sys
import time
from fractions import Fraction

import pytest

from netcalc.network import MAX_LAYERS
from netcalc.rf import MAX_RF_PERIOD, ExactAxis
from netcalc.sizes import MAX_SCAN
from netcalc.spec import MAX_ENTRIES
from netcalc.symbolic import MAX_EXPR_NAMES, MAX_FORMULA_DEPTH

GiB = 1 << 30
CPU_SECONDS = 10  # the child is killed past this; the cases need well under one
WALL_SECONDS = 60  # generous: the machine is shared by other test runs


def limited():
    resource.setrlimit(resource.RLIMIT_AS, (GiB, GiB))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def netcalc(*args):
    """Run the CLI under the limits; (process, CPU seconds the child used)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([sys.executable, "-m", "netcalc", *map(str, args)], capture_output=True, text=True,
                       timeout=WALL_SECONDS, preexec_fn=limited)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return p, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


HEAD = "input: [1, 3, 8, 8]\nlayers:\n"


def convs(n: int, args: str, input_shape: str = "[1, 3, H, W]") -> str:
    return f"input: {input_shape}\nlayers:\n" + "".join(f"  - Conv2d: {{out_channels: 4, {args.format(i=i)}}}\n"
                                                        for i in range(n))


def doubling_blocks(levels: int) -> str:
    """Block B_k calls B_(k-1) twice: 2**levels leaves from a few lines."""
    lines = ["input: [1, 3, 8, 8]", "blocks:", "  B0: {layers: [ReLU]}"]
    lines += [f"  B{k}: {{layers: [B{k - 1}, B{k - 1}]}}" for k in range(1, levels + 1)]
    return "\n".join(lines + ["layers:", f"  - B{levels}"]) + "\n"


def bomb_in_expect() -> str:
    """YAML 'billion laughs' (9**9 leaves) used as a layer's expect:."""
    lines = ["blocks:", "  X:", "    args:", "      a0: &a0 [" + ", ".join(["x"] * 9) + "]"]
    lines += [f"      a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines + ["    layers: [ReLU]", "input: [1, 3, 8, 8]", "layers:",
                              "  - ReLU: {expect: *a9}"]) + "\n"


LETTERS = "+".join(f"x{i}" for i in range(1500))

# id, command, spec text, extra args, exit code, message pattern, LINE:COL of the error (None: no position)
REFUSED = [
    ("repeat-1e9", "shapes", HEAD + "  - ReLU: {repeat: 1000000000}\n", [], 1, r"MAX_LAYERS = \d+", "3:5"),
    ("repeat-2**64", "shapes", HEAD + "  - ReLU: {repeat: \"2**64\"}\n", [], 1, r"MAX_LAYERS", "3:5"),
    ("repeat-1e5", "summary", HEAD + "  - ReLU\n  - ReLU: {repeat: 100000}\n", [], 1, r"MAX_LAYERS", "4:5"),
    ("repeat-symbol", "shapes", HEAD + "  - ReLU: {repeat: R}\n", [], 1, r"got R; give R a value with --set", "3:5"),
    ("repeat-set-1e9", "shapes", HEAD + "  - ReLU: {repeat: R}\n", ["--set", "R=1000000000"], 1, r"MAX_LAYERS",
     "3:5"),
    ("repeat-in-block", "shapes", "input: [1, 3, 8, 8]\nblocks:\n  B: {args: {n: 1}, layers: [{ReLU: {repeat: n}}]}\n"
     "layers:\n  - ReLU\n  - B: {n: 1000000000}\n", [], 1, r"MAX_LAYERS", "6:5"),
    ("doubling-blocks", "shapes", doubling_blocks(20), [], 1, r"MAX_LAYERS", "25:5"),
    ("doubling-blocks-solve", "solve", doubling_blocks(20), [], 1, r"MAX_LAYERS", "25:5"),
    ("doubling-blocks-sizes", "sizes", doubling_blocks(20).replace("[1, 3, 8, 8]", "[1, 3, H, H]"), [], 1,
     r"MAX_LAYERS", "25:5"),
    ("symbolic-k-s-p-d", "summary", convs(40, "kernel_size: K{i}, stride: S{i}, padding: P{i}, dilation: D{i}"), [], 1,
     r"Conv2d_\d+: this formula grew past \d+ letters \(MAX_FORMULA_LETTERS\); give some letters values with --set",
     None),
    ("many-new-letters", "shapes", convs(60, "kernel_size: 3, padding: \"" + "+".join(f"p{{i}}_{j}" for j in range(50)) + "\""),
     [], 1, r"Conv2d_2: this formula grew past \d+ letters \(MAX_FORMULA_LETTERS\)", "4:5"),
    ("symbolic-stride-120", "shapes", convs(120, "kernel_size: 1, stride: S"), [], 1,
     r"MAX_FORMULA_DEPTH\); give some letters values with --set", None),
    ("symbolic-stride-sizes", "sizes", convs(120, "kernel_size: 1, stride: S"), [], 1, r"MAX_FORMULA_DEPTH", None),
    ("padding-1500-letters", "shapes", HEAD + f"  - Conv2d: {{out_channels: 4, kernel_size: 3, padding: \"{LETTERS}\"}}\n",
     [], 1, r"padding: the expression uses 1500 names, more than MAX_EXPR_NAMES = 100", "3:5"),
    ("padding-1500-letters-solve", "solve",
     HEAD + f"  - Conv2d: {{out_channels: 4, kernel_size: 3, padding: \"{LETTERS}\"}}\n", [], 1, r"MAX_EXPR_NAMES",
     "3:5"),
    ("alias-bomb-expect-solve", "solve", bomb_in_expect(), [], 1, r"expect must be a shape", "17:12"),
    ("alias-bomb-expect-shapes", "shapes", bomb_in_expect(), [], 1, r"expect must be a shape", "17:12"),
    ("400k-entries", "shapes", HEAD + "  - ReLU\n" * 400_000, [], 1, r"more than MAX_ENTRIES = \d+ layer entries",
     f"{MAX_ENTRIES + 3}:5"),
    ("400k-entries-flow", "shapes", "input: [1, 3, 8, 8]\nlayers: [" + "ReLU, " * 400_000 + "ReLU]\n", [], 1,
     r"MAX_ENTRIES", None),
    ("int-5000-digits", "shapes", HEAD + "  - Conv2d: {out_channels: " + "9" * 5000 + ", kernel_size: 3}\n", [], 1,
     r"more than 4,300 digits; netcalc refuses numbers larger than 2\*\*1024 \(MAX_BITS\)", "3:28"),
    ("int-1000-digits", "summary", HEAD + "  - Conv2d: {out_channels: 1" + "0" * 999 + ", kernel_size: 3}\n", [], 1,
     r"out_channels: the number is larger than 2\*\*1024 \(MAX_BITS\)", "3:5"),
    ("power-2**32768", "summary", HEAD + "  - Conv2d: {out_channels: \"2**32768\", kernel_size: 3}\n", [], 1,
     r"MAX_BITS", "3:5"),
    ("product-past-max-bits", "summary", HEAD + "  - Conv2d: {out_channels: \"" + "*".join(["2**1000"] * 3)
     + "\", kernel_size: 3}\n", [], 1, r"MAX_BITS", "3:5"),
    ("set-5000-digits", "shapes", HEAD + "  - Conv2d: {out_channels: C, kernel_size: 3}\n", ["--set", "C=" + "9" * 5000],
     2, r"^error: --set C=\.\.\.: the value has 5000 characters; .*MAX_BITS", None),
    ("int-tag-abc", "shapes", HEAD + "  - Conv2d: {out_channels: !!int \"abc\", kernel_size: 3}\n", [], 1,
     r"invalid YAML: a !!int value that cannot be read", "3:28"),
    ("block-chain-600", "shapes", "input: [1, 3, 8, 8]\nblocks:\n  B0: {layers: [ReLU]}\n"
     + "".join(f"  B{k}: {{layers: [B{k - 1}]}}\n" for k in range(1, 600)) + "layers: [B599]\n", [], 1,
     r"block calls nest more than MAX_NESTING = 64 deep", None),
    ("concat-no-branches", "shapes", HEAD + "  - concat: {branches: []}\n", [], 1, r"concat branches is empty", None),
    ("export-o-missing-dir", "export", HEAD + "  - ReLU\n", ["-o", "/nonexistent/dir/x.py"], 2,
     r"^error: -o /nonexistent/dir/x.py: cannot write it \(No such file or directory\)", None),
    ("export-o-a-directory", "export", HEAD + "  - ReLU\n", ["-o", "/tmp"], 2, r"cannot write it \(Is a directory\)",
     None),
    ("export-o-dev-full", "export", HEAD + "  - ReLU\n", ["-o", "/dev/full"], 2, r"cannot write it", None),
    ("draw-o-missing-dir", "draw", HEAD + "  - ReLU\n", ["-o", "/nonexistent/x.svg"], 2, r"cannot write it", None),
    ("solve-error-after-a-blank", "solve", HEAD + "  - Conv2d: {out_channels: _, kernel_size: 3, expect: [1, 4, 6, 6]}\n"
     "  - PixelShuffle: {upscale_factor: -1}\n", [], 1, r"upscale_factor is -1, but must be at least 1", "4:5"),
    ("solve-stride-0-beside-a-blank", "solve",
     HEAD + "  - Conv2d: {out_channels: _, kernel_size: 3, stride: 0, expect: [1, 4, 6, 6]}\n", [], 1,
     r"stride must be at least 1, got 0", "3:5"),
    ("solve-bad-argument-beside-a-blank", "solve",
     HEAD + "  - Conv2d: {out_channels: _, kernel_size: [[3, 3], 3], expect: [1, 4, 6, 6]}\n", [], 1,
     r"kernel_size: expected an integer or an expression", "3:5"),
    ("solve-bad-input-dim", "solve", "input: [[1, 1], 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: _, kernel_size: 3}\n",
     [], 1, r"input\[0\] must be an integer or an expression", "1:9"),
    ("sizes-max-1e9", "sizes", "input: [1, 3, H, H]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3}\n",
     ["--max", "1000000000"], 2, r"^error: --max 1000000000: the scan is limited to MAX_SCAN = \d+", None),
]


@pytest.mark.parametrize("command, text, extra, code, message, where",
                         [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_refused_quickly_with_one_located_line(tmp_path, command, text, extra, code, message, where):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    p, cpu = netcalc(command, path, *extra)
    assert p.returncode == code, p.stderr[-2000:]
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr[-2000:]
    if code == 1:
        m = re.fullmatch(rf"{re.escape(str(path))}:(\d+:\d+): error: (.*)", lines[0])
        assert m, lines[0]
        if where is not None:
            assert m.group(1) == where
        assert re.search(message, m.group(2)), m.group(2)
    else:
        assert re.search(message, lines[0]), lines[0]
    assert cpu < 5, f"took {cpu:.1f} s of CPU"


def test_upsample_by_10000_is_fast(tmp_path):
    """Used to take 22 s: the receptive field visited every kernel tap of every phase."""
    path = tmp_path / "up.yaml"
    path.write_text(HEAD + "  - Upsample: {scale_factor: 10000}\n  - Conv2d: {out_channels: 2, kernel_size: 3}\n")
    p, cpu = netcalc("summary", path, "--format", "json")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    import json

    up, conv = json.loads(p.stdout)["layers"]
    assert up["output_shape"] == [1, 3, 80000, 80000]
    assert up["rf"] == {"size": [1, 1], "jump": [0.0001, 0.0001], "start": [0, 0]}
    assert conv["rf"]["size"] == [2, 2]  # three output units of 1/10000 px span at most two input pixels
    assert cpu < 5


def test_an_rf_period_past_the_limit_is_null(tmp_path):
    scale = int(MAX_RF_PERIOD ** 0.5) + 1  # twice: the period is scale**2 > MAX_RF_PERIOD
    path = tmp_path / "up.yaml"
    path.write_text(HEAD + f"  - Upsample: {{scale_factor: {scale}}}\n  - Upsample: {{scale_factor: {scale}}}\n")
    p, _ = netcalc("rf", path, "--format", "json")
    assert p.returncode == 0, p.stderr
    import json

    first, second = json.loads(p.stdout)["layers"]
    assert first["rf"] is not None and second["rf"] is None


def brute_transposed(axis: ExactAxis, kernel, stride, padding, dilation):
    """Every tap of every phase, as the field was computed before (slow, obviously right)."""
    spans = []
    for o in range(axis.period * stride):
        hit = [axis.span((o + padding - dilation * t) // stride) for t in range(kernel)
               if (o + padding - dilation * t) % stride == 0]
        hit = [s for s in hit if s is not None]
        spans.append((min(s[0] for s in hit), max(s[1] for s in hit)) if hit else None)
    return spans


def test_transposed_taps_agree_with_visiting_every_tap():
    rng = random.Random(15)
    for _ in range(400):
        axis = ExactAxis.identity()
        for _ in range(rng.randint(0, 2)):
            axis = axis.window(rng.randint(1, 4), rng.randint(1, 3), rng.randint(0, 2), rng.randint(1, 2))
        k, s, p, d = rng.randint(1, 7), rng.randint(1, 5), rng.randint(0, 4), rng.randint(1, 4)
        out = axis.transposed(k, s, p, d)
        want = brute_transposed(axis, k, s, p, d)
        got = [out.span(o) for o in range(len(want))]
        assert got == want, (axis, k, s, p, d)
        assert isinstance(out.jump, Fraction)


@pytest.mark.parametrize("copies, refused", [(MAX_LAYERS - 1, False), (MAX_LAYERS, True)])
def test_max_layers_boundary(tmp_path, copies, refused):
    """One ReLU plus ``copies`` repeats: MAX_LAYERS rows pass, one more is refused."""
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + f"  - ReLU\n  - ReLU: {{repeat: {copies}}}\n")
    p, _ = netcalc("shapes", path, "--format", "csv")
    assert p.returncode == (1 if refused else 0), p.stderr
    if not refused:
        assert sum(line[:1].isdigit() for line in p.stdout.splitlines()) == MAX_LAYERS  # one line per row


@pytest.mark.parametrize("entries, refused", [(MAX_ENTRIES, False), (MAX_ENTRIES + 1, True)])
def test_max_entries_boundary_counts_blocks_and_branches(tmp_path, entries, refused):
    """Entries in a block's list, a residual's layers and shortcut, and concat branches all count."""
    fixed = 8  # `- B`, the residual with its ReLU and shortcut ReLU, the concat with three branch layers
    block = ", ".join(["ReLU"] * (entries - fixed))
    text = (f"input: [1, 3, 8, 8]\nblocks:\n  B: {{layers: [{block}]}}\nlayers:\n  - B\n"
            "  - residual: {layers: [ReLU], shortcut: [ReLU]}\n  - concat: {branches: [[ReLU], [ReLU, ReLU]]}\n")
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    p, _ = netcalc("shapes", path, "--format", "csv")
    if refused:
        assert p.returncode == 1 and "MAX_ENTRIES" in p.stderr, p.stderr
    else:
        assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("names, refused", [(MAX_EXPR_NAMES, False), (MAX_EXPR_NAMES + 1, True)])
def test_max_expr_names_boundary(tmp_path, names, refused):
    padding = "+".join(["P"] * names)  # one letter, many occurrences: the limit counts occurrences
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + f"  - Conv2d: {{out_channels: 4, kernel_size: 3, padding: \"{padding}\"}}\n")
    p, _ = netcalc("shapes", path, "--set", "P=0")
    assert p.returncode == (1 if refused else 0), p.stderr
    assert ("MAX_EXPR_NAMES" in p.stderr) == refused


def test_sizes_max_at_the_limit_runs(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("input: [1, 3, H, H]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3, stride: 2}\n")
    p, _ = netcalc("sizes", path, "--max", MAX_SCAN)
    assert p.returncode == 0, p.stderr
    assert "H ≥ 3" in p.stdout and f"scanned 1..{MAX_SCAN}" in p.stdout


def test_symbolic_chains_below_the_formula_limit_still_work(tmp_path):
    """Numeric strides merge floors, so a long symbolic-size chain stays shallow."""
    n = 4 * MAX_FORMULA_DEPTH
    path = tmp_path / "spec.yaml"
    path.write_text(convs(n, "kernel_size: 3, padding: 1", "[N, 3, H, W]"))
    start = time.perf_counter()
    p, _ = netcalc("shapes", path, "--format", "csv")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[-1].split(",")[-1] == "Nx4xHxW"
    assert time.perf_counter() - start < WALL_SECONDS


def test_an_unnamed_top_level_repeat_is_a_group_with_the_default_name(tmp_path):
    """Found while counting expansions: its rows were named .0, .1, ... (an empty group name)."""
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + "  - ReLU\n  - ReLU: {repeat: 3}\n  - Conv2d: {out_channels: 4, kernel_size: 1, repeat: 2}\n")
    p, _ = netcalc("shapes", path, "--format", "csv")
    assert p.returncode == 0, p.stderr
    names = [line.split(",")[1] for line in p.stdout.splitlines()[1:] if line[:1].isdigit()]
    assert names == ["ReLU_1", "ReLU_2.0", "ReLU_2.1", "ReLU_2.2", "Conv2d_3.0", "Conv2d_3.1"]


@pytest.mark.parametrize("text, message, where", [
    ("input = [1, 3, 8, 8]\nx = " + "[" * 1000 + "]" * 1000 + "\n[[layers]]\ntype = \"ReLU\"\n",
     "TOML nesting is too deep", "2:"),
    ("input = [1, 3, 8, 8]\n[[layers]]\ntype = \"Conv2d\"\nout_channels = " + "9" * 5000 + "\n",
     "more than 4,300 digits", "4:16"),
])
def test_toml_past_the_parser_limits_is_one_located_line(tmp_path, text, message, where):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    p, cpu = netcalc("shapes", path)
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1, p.stderr[-2000:]
    assert p.stderr.startswith(f"{path}:{where}") and message in p.stderr, p.stderr
    assert cpu < 5
