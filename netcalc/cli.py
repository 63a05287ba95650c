"""The ``netcalc`` command: a thin layer over :mod:`netcalc.network` and :mod:`netcalc.render`."""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import List, Optional

import typer

from .errors import SpecError, UsageError

app = typer.Typer(
    help="Exact PyTorch network arithmetic: shapes, parameters, MACs/FLOPs and receptive fields "
         "from a YAML or TOML spec, with no framework and no forward pass.\n\n"
         "Example: netcalc summary specs/homework/cpen455_cnn.yaml",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

SpecArg = typer.Argument(..., metavar="SPEC", help="A .yaml/.yml/.toml spec file, or - for YAML on standard input.")
SetOpt = typer.Option(None, "--set", metavar="NAME=VALUE", help="Give a symbol a value (repeatable); overrides symbols:.")
NoBiasOpt = typer.Option(False, "--no-bias", help="Build every layer that takes a bias argument with bias=False.")


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


FormatOpt = typer.Option(Format.table, "--format", "-f", case_sensitive=False, help="Output format.")


def parse_sets(items: list[str] | None) -> dict[str, int]:
    values = {}
    for item in items or []:
        name, eq, raw = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise UsageError(f"--set {item}: expected NAME=VALUE, e.g. --set H=224")
        try:
            values[name] = int(raw.strip())
        except ValueError:
            raise UsageError(f"--set {item}: value must be an integer (symbol {name})") from None
    return values


def guarded(fn):
    """Run ``fn``; turn netcalc's errors into exit codes and one line on stderr, never a traceback."""
    try:
        return fn()
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(2)
    except BrokenPipeError:
        raise typer.Exit(0)
    except (typer.Exit, typer.Abort):
        raise
    except Exception as e:
        if os.environ.get("NETCALC_DEBUG"):
            raise
        print(f"error: internal error: {type(e).__name__}: {e} (rerun with NETCALC_DEBUG=1 and report it)",
              file=sys.stderr)
        raise typer.Exit(1)


def run_report(command: str, spec_path: str, sets, no_bias: bool, fmt) -> None:
    guarded(lambda: _report(command, spec_path, sets, no_bias, fmt.value if isinstance(fmt, Format) else fmt))


def _report(command: str, spec_path: str, sets, no_bias: bool, fmt: str) -> None:
    from .network import analyze
    from .render import render
    from .spec import parse

    values = parse_sets(sets)
    display = "<stdin>" if spec_path == "-" else spec_path
    try:
        text, display = _read(spec_path)
        report = analyze(parse(text, display), values, no_bias)
    except SpecError as e:
        _fail_spec(e, display)
    print(render(report, command, fmt.lower()))


def _read(path: str):
    from .spec import read_text

    try:
        return read_text(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a spec file") from None
    except UnicodeDecodeError:
        raise SpecError("the spec is not UTF-8 text", (1, 1)) from None
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror}") from None


def _fail_spec(e: SpecError, display: str):
    print(e.render(display), file=sys.stderr)
    raise typer.Exit(1)


@app.command()
def shapes(spec: str = SpecArg, set: Optional[List[str]] = SetOpt, no_bias: bool = NoBiasOpt, format: Format = FormatOpt):
    """Input and output shape of every layer (and h_n/c_n for RNNs).

    Example: netcalc shapes spec.yaml --set B=32
    """
    run_report("shapes", spec, set, no_bias, format)


@app.command()
def params(spec: str = SpecArg, set: Optional[List[str]] = SetOpt, no_bias: bool = NoBiasOpt, format: Format = FormatOpt):
    """Weights, biases and total parameters per layer.

    Example: netcalc params spec.yaml --no-bias
    """
    run_report("params", spec, set, no_bias, format)


@app.command()
def flops(spec: str = SpecArg, set: Optional[List[str]] = SetOpt, no_bias: bool = NoBiasOpt, format: Format = FormatOpt):
    """MACs and FLOPs per layer (conventions in the README).

    Example: netcalc flops spec.yaml --format csv
    """
    run_report("flops", spec, set, no_bias, format)


@app.command()
def rf(spec: str = SpecArg, set: Optional[List[str]] = SetOpt, no_bias: bool = NoBiasOpt, format: Format = FormatOpt):
    """Receptive field size, jump (effective stride) and start per spatial axis.

    Example: netcalc rf spec.yaml
    """
    run_report("rf", spec, set, no_bias, format)


@app.command()
def summary(spec: str = SpecArg, set: Optional[List[str]] = SetOpt, no_bias: bool = NoBiasOpt, format: Format = FormatOpt):
    """Everything at once: shapes, parameters, MACs/FLOPs and receptive fields.

    Example: netcalc summary spec.yaml --format json
    """
    run_report("summary", spec, set, no_bias, format)


@app.command("layers")
def list_layers():
    """List the layer types a spec may use.

    Example: netcalc layers
    """
    from .layers.registry import ALIASES, canonical_names

    print("Layer types (torch.nn names, case-insensitive):")
    print("  " + ", ".join(canonical_names()))
    print("Aliases (rank from the incoming tensor):")
    print("  " + ", ".join(f"{a} → {t.replace('{}', 'N')}" for a, t in ALIASES.items()))


def main():
    app()


if __name__ == "__main__":
    main()
