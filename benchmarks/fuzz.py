"""The long fuzz run: the generators of tests/test_fuzz_specs.py (tests/spec_gen.py), for N minutes.

    python benchmarks/fuzz.py --minutes 10 [--seed S]

Each round draws one valid spec and one invalid spec in a random format (YAML block/flow, TOML
tables/inline) and checks: the valid one agrees with torch through `check` in-process (when torch
is installed) and runs cleanly through the CLI; the invalid one is exactly one located error on
the faulty layer's line; a garbled copy of each never gives a traceback or an internal error.
Failing specs are written to benchmarks/out/fuzz-<seed>/ (git-ignored) with what went wrong.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import spec_gen as g


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--no-torch", action="store_true", help="skip the comparison with torch")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    r = g.Rand(random.Random(seed))
    torch_ok = False
    if not args.no_torch:
        try:
            import torch  # noqa: F401

            torch_ok = True
        except ImportError:
            print("torch not installed: skipping the comparison with torch", file=sys.stderr)
    out_dir = os.path.join(HERE, "out", f"fuzz-{seed}")
    work = tempfile.mkdtemp(prefix="netcalc-fuzz-")
    counts = dict.fromkeys(["specs", "valid", "invalid", "garbled", "torch agreements", "located errors",
                            "clean runs", "failures"], 0)
    faults: dict[str, int] = {}
    deadline = time.monotonic() + args.minutes * 60
    start = time.monotonic()

    def fail(kind: str, problem: str, text: str, filename: str, model: g.Model):
        counts["failures"] += 1
        os.makedirs(out_dir, exist_ok=True)
        base = os.path.join(out_dir, f"{counts['failures']:04d}-{kind}")
        with open(base + os.path.splitext(filename)[1], "w", encoding="utf-8") as fh:
            fh.write(text)
        with open(base + ".txt", "w", encoding="utf-8") as fh:
            fh.write(f"{kind}\nsets: {g.set_args(model)} no_bias: {model.no_bias}\n{problem}\n")
        print(f"FAILURE {kind}: {problem.splitlines()[0] if problem else ''} -> {base}", file=sys.stderr)

    def write(text, filename):
        path = os.path.join(work, filename)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return path

    while time.monotonic() < deadline:
        fmt = r.choice(g.FORMATS)
        model, _ = g.gen_model(r)
        text, filename, _ = g.render(model, fmt)
        counts["specs"] += 1
        counts["valid"] += 1
        path = write(text, filename)
        extra = g.cli_variant(r, model)
        problem = g.no_crash(path, (), r.choice(["summary", "shapes", "params", "flops", "rf", "memory"]),
                             r.choice(["table", "json", "csv", "markdown"]), extra)
        if problem:
            fail("valid-cli", problem + "\noptions: " + " ".join(extra), text, filename, model)
        else:
            counts["clean runs"] += 1
        if torch_ok:
            problem = g.agrees_with_torch(text, filename, model)
            if problem:
                fail("torch", problem, text, filename, model)
            else:
                counts["torch agreements"] += 1
        bad = g.gen_invalid(r)
        text, filename, spans = g.render(bad, fmt)
        counts["specs"] += 1
        counts["invalid"] += 1
        faults[bad.fault] = faults.get(bad.fault, 0) + 1
        problem = g.located_error(write(text, filename), bad, spans[bad.fault_index])
        if problem:
            fail("located", problem, text, filename, bad)
        else:
            counts["located errors"] += 1
        for src in (model, bad):
            garbled = g.mutate(r, g.render(src, fmt)[0])
            counts["specs"] += 1
            counts["garbled"] += 1
            problem = g.no_crash(write(garbled, filename), g.set_args(src))
            if problem:
                fail("garbled", problem, garbled, filename, src)
            else:
                counts["clean runs"] += 1
    elapsed = time.monotonic() - start
    print(f"netcalc fuzz: seed {seed}, {elapsed / 60:.1f} min, {os.cpu_count()} CPUs ({cpu_model()}), "
          f"torch {'yes' if torch_ok else 'no'}")
    for k, v in counts.items():
        print(f"  {k:<17} {v}")
    print("  faults           " + ", ".join(f"{k} {v}" for k, v in sorted(faults.items())))
    if counts["failures"]:
        print(f"failing specs in {out_dir}")
    return 1 if counts["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
