#!/usr/bin/env python3
"""netcalc's speed benchmark (issue 6): whole processes, medians, peak memory, torchinfo side by side.

    python benchmarks/bench.py            # every case, 7 timed runs each (after one warm-up run)
    python benchmarks/bench.py --quick    # 3 timed runs each

Run it with the Python of the environment netcalc is installed in (it finds the `netcalc`
script next to that interpreter). Every case is a fresh process, timed from the outside
(wall clock around the child) with its own peak RSS (os.wait4's rusage of that child).
The large specs are generated into benchmarks/out/ (git-ignored). torchinfo is run on a
ResNet-50 written in plain torch below (a transcription of torchvision's architecture;
torchvision itself is never imported), in the same run, when torch and torchinfo import.

The Markdown table goes to standard output and to benchmarks/RESULTS.md, with the date and
the machine. Targets are benchmark figures, not assertions: the exit code is 0 either way.
See benchmarks/README.md for what each case means.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
PY = sys.executable
NETCALC = shutil.which("netcalc", path=os.path.dirname(PY)) or shutil.which("netcalc")


# ----------------------------------------------------------------------------- generated specs

NUMERIC_CYCLE = [  # 10 layers that keep [8, 32, 64, 64]: every cost and field rule on each pass
    "Conv2d: {out_channels: 32, kernel_size: 3, padding: 1}",
    "BatchNorm2d",
    "ReLU",
    "Conv2d: {out_channels: 32, kernel_size: 3, padding: 1, bias: false}",
    "BatchNorm2d",
    "ReLU",
    "MaxPool2d: {kernel_size: 2, stride: 2}",
    "ConvTranspose2d: {out_channels: 32, kernel_size: 2, stride: 2}",
    "ReLU",
    "Dropout: {p: 0.1}",
]


def numeric_spec(n: int) -> str:
    """A flat chain of ``n`` numeric layers (no symbols: sympy must never be imported)."""
    lines = [f"name: generated numeric chain ({n} layers)", "input: [8, 32, 64, 64]", "layers:"]
    lines += [f"  - {NUMERIC_CYCLE[i % len(NUMERIC_CYCLE)]}" for i in range(n)]
    return "\n".join(lines) + "\n"


def symbolic_spec(n: int, stages: int = 5) -> str:
    """A chain of ``n`` layers on input [N, C, H, W]: conv-BN-ReLU triples at widths C, 2C, 4C, ...
    with ``stages`` evenly spaced downsamplings (stride-2 convs and 2×2 max pools alternating),
    then global pooling and a classifier. Like a real CNN, the number of distinct resolutions
    stays fixed as ``n`` grows, so the printed expressions should not grow with ``n``."""
    lines = [f"name: generated symbolic chain ({n} layers)", "input: [N, C, H, W]", "layers:"]
    body = n - 3
    per = body // (stages + 1)
    width, k = "C", 0
    for i in range(body):
        if i and i % per == 0 and k < stages:
            k += 1
            width = f"{2 ** k}*C"
            lines.append(f"  - Conv2d: {{out_channels: '{width}', kernel_size: 3, stride: 2, padding: 1}}" if k % 2
                         else "  - MaxPool2d: {kernel_size: 2, stride: 2}")
            continue
        lines.append([f"  - Conv2d: {{out_channels: '{width}', kernel_size: 3, padding: 1, bias: false}}",
                      "  - BatchNorm2d", "  - ReLU"][i % 3])
    lines += ["  - AdaptiveAvgPool2d: {output_size: 1}", "  - Flatten", "  - Linear: {out_features: 10}"]
    return "\n".join(lines) + "\n"


def strided_spec(n: int, symbolic: bool) -> str:
    """Issue 10's chain: ``n`` convs alternating k3 s2 p1 and k3 s1 p1 on [1, 16, H, W] (symbolic)
    or [1, 16, 4096, 4096]; the sizes are ⌈H/2ᵏ⌉, the case where nested floors used to grow."""
    size = "H, W" if symbolic else "4096, 4096"
    lines = [f"name: strided chain ({n} layers)", f"input: [1, 16, {size}]", "layers:"]
    for i in range(n):
        lines.append(f"  - Conv2d: {{out_channels: 16, kernel_size: 3, stride: {2 - i % 2}, padding: 1}}")
    return "\n".join(lines) + "\n"


def write(name: str, text: str) -> str:
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


# ----------------------------------------------------------------------------- torchinfo side

TORCH_RESNET = r'''
import sys, torch, torch.nn as nn, torchinfo

def conv3x3(i, o, s=1): return nn.Conv2d(i, o, 3, s, 1, bias=False)
def conv1x1(i, o, s=1): return nn.Conv2d(i, o, 1, s, bias=False)

class BasicBlock(nn.Module):
    expansion = 1
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(inplanes, planes, stride), nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2, self.bn2 = conv3x3(planes, planes), nn.BatchNorm2d(planes)
        self.downsample = downsample
    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + idt)

class Bottleneck(nn.Module):  # torchvision's ResNet v1.5: the stride sits on the 3x3 conv
    expansion = 4
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1, self.bn1 = conv1x1(inplanes, planes), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes, stride), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = conv1x1(planes, planes * 4), nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + idt)

class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1, self.relu = nn.BatchNorm2d(64), nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make(block, 64, layers[0])
        self.layer2 = self._make(block, 128, layers[1], 2)
        self.layer3 = self._make(block, 256, layers[2], 2)
        self.layer4 = self._make(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
    def _make(self, block, planes, blocks, stride=1):
        down = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            down = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                 nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, down)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)
    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))

arch = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet50": (Bottleneck, [3, 4, 6, 3])}[sys.argv[1]]
torchinfo.summary(ResNet(*arch), input_size=(1, 3, 224, 224), device="cpu")
'''


def torchinfo_available() -> str | None:
    """torch and torchinfo versions when both import in this interpreter, else None."""
    code = "import torch, torchinfo, importlib.metadata as m; print(torch.__version__, m.version('torchinfo'))"
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=child_env())
    return r.stdout.strip() if r.returncode == 0 else None


# ----------------------------------------------------------------------------- running

def child_env() -> dict:
    """The environment of every timed child.

    A netcalc installed from a wheel has its bytecode compiled at install time. An editable
    install under PYTHONDONTWRITEBYTECODE=1 (as on some CI machines) would recompile every
    netcalc module on every run, which is not what a user sees; children therefore write and
    reuse bytecode under benchmarks/out/pycache, and the warm-up run fills it."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(OUT, "pycache")
    env.pop("COLUMNS", None)  # tables as when piped: full width
    return env


class Run:
    def __init__(self, seconds: float, cpu: float, rss_mib: float, code: int, out_path: str):
        self.seconds, self.cpu, self.rss_mib, self.code, self.out_path = seconds, cpu, rss_mib, code, out_path


def run_once(argv: list[str], env: dict, stdin_path: str | None = None) -> Run:
    """One whole process: wall time around it, its own peak RSS, exit code; stdout kept in a file."""
    fd, out_path = tempfile.mkstemp(prefix="stdout-", dir=OUT)
    with os.fdopen(fd, "wb") as out, open(stdin_path or os.devnull, "rb") as inp:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=inp, stdout=out, stderr=subprocess.PIPE, env=env, cwd=ROOT)
        err = p.stderr.read()
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        p.stderr.close()
    if p.returncode != 0:
        sys.stderr.write(f"warning: {' '.join(argv)} exited {p.returncode}: {err.decode(errors='replace')[-500:]}\n")
    cpu = usage.ru_utime + usage.ru_stime  # steadier than wall time on a busy machine
    return Run(seconds, cpu, usage.ru_maxrss / 1024, p.returncode, out_path)  # ru_maxrss is in KiB on Linux


class Case:
    def __init__(self, key, label, argv, target=None, check=None, runs=None):
        self.key, self.label, self.argv = key, label, argv
        self.target, self.check = target, check  # target: (seconds or None, MiB or None) caps
        self.runs = runs
        self.results: list[Run] = []
        self.note = ""

    @property
    def median(self):
        return statistics.median(r.seconds for r in self.results)

    @property
    def cpu(self):
        return statistics.median(r.cpu for r in self.results)

    @property
    def spread(self):
        s = [r.seconds for r in self.results]
        return min(s), max(s)

    @property
    def rss(self):
        return max(r.rss_mib for r in self.results)

    @property
    def ok(self):
        return all(r.code == 0 for r in self.results)


def measure(case: Case, runs: int, env: dict):
    run_once(case.argv, env)  # warm-up: bytecode, page cache; not timed
    for _ in range(case.runs or runs):
        r = run_once(case.argv, env)
        case.results.append(r)
    if case.check and case.results:
        case.note = case.check(case.results[-1].out_path)
    for r in case.results[:-1]:
        os.unlink(r.out_path)
    sys.stderr.write(f"  {case.label}: median {case.median:.3f} s (CPU {case.cpu:.3f} s), peak {case.rss:.0f} MiB\n")


# ----------------------------------------------------------------------------- checks on the output

def strings_in(doc):
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for v in doc.values():
            yield from strings_in(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from strings_in(v)


def longest_expression(path: str) -> int:
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    return max((len(s) for s in strings_in(doc.get("layers", [])) if "*" in s or "floor" in s or "+" in s), default=0), \
        max((len(s) for s in strings_in(doc.get("totals", {}))), default=0)


def json_params(path: str):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)["totals"]["params"]


def torchinfo_params(path: str):
    with open(path, encoding="utf-8", errors="replace") as fh:
        m = re.search(r"Total params:\s*([\d,]+)", fh.read())
    return int(m.group(1).replace(",", "")) if m else None


def imported(argv: list[str], env: dict) -> set[str]:
    """Top-level packages a run imports (from python -X importtime)."""
    r = subprocess.run([PY, "-X", "importtime", "-m", "netcalc", *argv], capture_output=True, text=True, env=env,
                       cwd=ROOT)
    names = set()
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


# ----------------------------------------------------------------------------- the report

def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, "
            f"Python {platform.python_version()} ({platform.python_implementation()}), {platform.system()} "
            f"{platform.release()}; load average at the start {load}")


def fmt_s(x: float) -> str:
    return f"{x:.3f}"


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**no**")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 timed runs per case instead of 7")
    ap.add_argument("--runs", type=int, default=None, help="timed runs per case (overrides --quick)")
    ap.add_argument("--no-write", action="store_true", help="print the table but leave RESULTS.md alone")
    opts = ap.parse_args()
    runs = opts.runs or (3 if opts.quick else 7)
    if NETCALC is None:
        sys.exit("netcalc is not installed next to this Python (pip install -e . first)")
    os.makedirs(OUT, exist_ok=True)
    env = child_env()
    started = time.time()

    model = "resnet50"
    have50 = subprocess.run([NETCALC, "shapes", model, "--format", "json"], capture_output=True, env=env,
                            cwd=ROOT).returncode == 0
    notes = []
    if not have50:
        model = "resnet18"
        notes.append("netcalc has no built-in resnet50 yet: the ResNet cases use resnet18 on both sides "
                     "(rerun when netcalc/zoo/resnet50.yaml lands).")
    paths = {n: write(f"numeric_{n}.yaml", numeric_spec(n)) for n in (1000, 10000)}
    paths.update({f"sym{n}": write(f"symbolic_{n}.yaml", symbolic_spec(n)) for n in (100, 1000)})
    for n in (100, 1000, 10000):
        paths[f"strided_sym{n}"] = write(f"strided_symbolic_{n}.yaml", strided_spec(n, True))
        paths[f"strided_num{n}"] = write(f"strided_numeric_{n}.yaml", strided_spec(n, False))

    nc = [NETCALC]
    cases = [
        Case("floor", "floor: python -c pass (interpreter start-up)", [PY, "-c", "pass"]),
        Case("cli_import", "floor: python -c 'import netcalc.cli' (typer and its pydantic coercion)",
             [PY, "-c", "import netcalc.cli\ntry:\n    import typer._adapters  # what typer loads to parse arguments\n"
                         "except ImportError:\n    pass"]),
        Case("yaml_import", "floor: python -c 'import yaml'", [PY, "-c", "import yaml"]),
        Case("api_import", "python -c 'import netcalc' (the Python API; names load when used)",
             [PY, "-c", "import netcalc"]),
        Case("zoo_table", f"netcalc summary {model}", nc + ["summary", model], (0.3, 60)),
        Case("zoo_json", f"netcalc summary {model} --format json", nc + ["summary", model, "--format", "json"],
             (0.3, 60), check=lambda p: f"params {json_params(p):,}"),
    ]
    versions = torchinfo_available()
    if versions:
        torch_case = Case("torchinfo", f"torchinfo.summary({model}) (python -c: import torch + torchinfo, summarise)",
                          [PY, "-c", TORCH_RESNET, model], check=lambda p: f"params {torchinfo_params(p):,}")
        cases.append(torch_case)
    else:
        notes.append("torch or torchinfo does not import here: no torchinfo comparison "
                     "(pip install torchinfo 'torch==2.13.0').")
    cases += [
        Case("n1k", "numeric chain, 1,000 layers, --format json", nc + ["summary", paths[1000], "--format", "json"]),
        Case("n10k", "numeric chain, 10,000 layers, --format json", nc + ["summary", paths[10000], "--format", "json"],
             (2.0, None)),
        Case("n10k_table", "numeric chain, 10,000 layers, table", nc + ["summary", paths[10000]], (2.0, None)),
        Case("s100", "symbolic chain [N, C, H, W], 100 layers, --format json",
             nc + ["summary", paths["sym100"], "--format", "json"], check=longest_expression),
        Case("s1k", "symbolic chain [N, C, H, W], 1,000 layers, --format json",
             nc + ["summary", paths["sym1000"], "--format", "json"], (3.0, None), check=longest_expression),
        Case("s1k_table", "symbolic chain [N, C, H, W], 1,000 layers, table", nc + ["summary", paths["sym1000"]],
             (3.0, None)),
    ]
    for n in (100, 1000, 10000):  # issue 10: strided symbolic chains against their numeric twins
        cases += [Case(f"ss{n}", f"strided symbolic chain [1, 16, H, W], {n:,} layers, --format json",
                       nc + ["summary", paths[f"strided_sym{n}"], "--format", "json"], check=longest_expression,
                       runs=1 if n == 10000 else None),
                  Case(f"sn{n}", f"strided numeric chain [1, 16, 4096, 4096], {n:,} layers, --format json",
                       nc + ["summary", paths[f"strided_num{n}"], "--format", "json"],
                       runs=1 if n == 10000 else None)]
    has_solve = subprocess.run([NETCALC, "solve", "--help"], capture_output=True, env=env).returncode == 0
    fills = sorted(glob.glob(os.path.join(ROOT, "specs", "homework", "fill_*.yaml")))
    if has_solve:
        for f in fills:
            name = os.path.relpath(f, ROOT)
            cases.append(Case("solve", f"netcalc solve {name}", nc + ["solve", f], (0.5, None)))
    else:
        notes.append("netcalc has no `solve` command yet: the fill-in-the-blank cases are skipped.")

    sys.stderr.write(f"netcalc: {NETCALC}; {runs} timed runs per case after one warm-up\n")
    for case in cases:
        measure(case, runs, env)

    # imports: a numeric spec never imports sympy; JSON and CSV never import rich
    checks = []
    for label, argv, banned in (
            (f"summary {model} --format json", ["summary", model, "--format", "json"], ("sympy", "rich")),
            (f"summary {model} --format csv", ["summary", model, "--format", "csv"], ("sympy", "rich")),
            (f"summary {model} (table)", ["summary", model], ("sympy",)),
            ("numeric chain 10,000, --format json", ["summary", paths[10000], "--format", "json"], ("sympy", "rich"))):
        mods = imported(argv, env)
        heavy = sorted(m for m in ("sympy", "rich", "typer", "pydantic", "yaml", "torch") if m in mods)
        checks.append((label, heavy, not any(b in mods for b in banned), banned))

    by = {c.key: c for c in cases}
    lines = []
    lines.append("| case | runs | median s | min–max s | median CPU s | peak RSS MiB | target | met | note |")
    lines.append("|---|---:|---:|---:|---:|---:|---|---|---|")
    for c in cases:
        t_s, t_m = c.target or (None, None)
        target = " and ".join(x for x in ((f"≤ {t_s:g} s" if t_s else ""), (f"≤ {t_m} MiB" if t_m else "")) if x)
        met = None if c.target is None else ((t_s is None or c.median <= t_s) and (t_m is None or c.rss <= t_m))
        note = c.note
        if (c.key in ("s100", "s1k") or c.key.startswith("ss")) and isinstance(c.note, tuple):
            note = f"longest expression {c.note[0]} chars in a layer, {c.note[1]} in the totals"
        if not c.ok:
            note = (note + "; " if note else "") + "**exit code not 0**"
        lo, hi = c.spread
        lines.append(f"| {c.label} | {len(c.results)} | {fmt_s(c.median)} | {fmt_s(lo)}–{fmt_s(hi)} | {fmt_s(c.cpu)} | "
                     f"{c.rss:.1f} | "
                     f"{target or '—'} | {verdict(met)} | {note} |")

    derived = ["", "| derived figure | value | target | met |", "|---|---:|---|---|"]
    if "torchinfo" in by:
        t = by["torchinfo"].median
        for key in ("zoo_table", "zoo_json"):
            ratio = t / by[key].median
            derived.append(f"| torchinfo / {by[key].label} (medians) | {ratio:.1f}× | ≥ 10× | {verdict(ratio >= 10)} |")
    cost = by["api_import"].median / by["yaml_import"].median
    derived.append(f"| `import netcalc` / `import yaml` (medians) | {cost:.2f}× | ≤ 1.5× | {verdict(cost <= 1.5)} |")
    growth = by["n10k"].median / by["n1k"].median
    derived.append(f"| numeric chain time, 10,000 / 1,000 layers (json) | {growth:.2f} | ≤ 12 | {verdict(growth <= 12)} |")
    if isinstance(by["s100"].note, tuple) and isinstance(by["s1k"].note, tuple):
        a, b = by["s100"].note[0], by["s1k"].note[0]
        derived.append(f"| longest layer expression, symbolic 1,000 vs 100 layers | {b} vs {a} chars | bounded "
                       f"(not growing with depth) | {verdict(b <= 2 * a)} |")
    for n in (100, 1000, 10000):
        ratio = by[f"ss{n}"].median / by[f"sn{n}"].median
        derived.append(f"| strided chain of {n:,} layers: symbolic / numeric time (medians) | {ratio:.1f}× | ≤ 3× "
                       f"| {verdict(ratio <= 3)} |")
    per = [by[f"ss{n}"].median / n for n in (1000, 10000)]
    derived.append(f"| strided symbolic chain: time per layer at 10,000 / at 1,000 layers | {per[1] / per[0]:.2f} | "
                   f"flat (≤ 1.5) | {verdict(per[1] / per[0] <= 1.5)} |")
    if isinstance(by["ss1000"].note, tuple):
        longest = by["ss1000"].note[0]
        derived.append(f"| strided symbolic chain, 1,000 layers: longest shape formula | {longest} chars | < 200 | "
                       f"{verdict(longest < 200)} |")
    solves = [c for c in cases if c.key == "solve"]
    if solves:
        worst = max(solves, key=lambda c: c.median)
        derived.append(f"| slowest `netcalc solve` of {len(solves)} fill_*.yaml (median) | {worst.median:.3f} s "
                       f"({os.path.basename(worst.argv[-1])}) | < 0.5 s each | {verdict(worst.median < 0.5)} |")
    for label, heavy, good, banned in checks:
        derived.append(f"| imports of `netcalc {label}` | {', '.join(heavy) or 'none of the heavy ones'} | "
                       f"no {' or '.join(banned)} | {verdict(good)} |")

    header = [
        "# netcalc benchmark results",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {machine()}",
        f"- netcalc: {NETCALC} (git {git_head()})",
        f"- torch / torchinfo: {versions or 'not available'}",
        f"- method: every figure is a whole process (`python benchmarks/bench.py{' --quick' if opts.quick else ''}`), "
        f"{runs} timed runs after one untimed warm-up; median and min–max of wall time, median CPU time "
        f"(user + system) and peak RSS of the child (os.wait4 rusage; RSS max over runs); bytecode cached "
        f"(see README). Targets are judged on the wall-time median. On a shared machine wall time is noisy "
        f"(see the load average above): compare medians, and CPU time, not single runs.",
        f"- took {time.time() - started:.0f} s",
    ] + [f"- note: {n}" for n in notes] + [""]
    text = "\n".join(header + lines + derived) + "\n"
    print(text)
    if not opts.no_write:
        with open(os.path.join(HERE, "RESULTS.md"), "w", encoding="utf-8") as fh:
            fh.write(text)
    for c in cases:
        if c.results:
            os.unlink(c.results[-1].out_path)
    return 0


def git_head() -> str:
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "netcalc"],
                           capture_output=True, text=True).stdout.strip()
    return (r.stdout.strip() or "unknown") + (" + uncommitted changes in netcalc/" if dirty else "")


if __name__ == "__main__":
    sys.exit(main())
