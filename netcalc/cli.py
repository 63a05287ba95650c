"""The ``netcalc`` command: a thin layer over :mod:`netcalc.network` and :mod:`netcalc.render`."""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import List, Optional

import typer

from .api import read_source, zoo_dir, zoo_names
from .errors import SpecError, UsageError
from .escape import printable, printable_lines
from .spec import NAME as SYMBOL_NAME
from .symbolic import MAX_BITS, ExprError, check_size

app = typer.Typer(
    help="Exact PyTorch network arithmetic: shapes, parameters, MACs/FLOPs and receptive fields "
         "from a YAML or TOML spec, with no framework and no forward pass.\n\n"
         "Example: netcalc summary specs/homework/cpen455_cnn.yaml",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

SpecArg = typer.Argument(..., metavar="SPEC", help="A .yaml/.yml/.toml spec file, - for YAML on standard input, or a built-in model name (netcalc zoo).")
SetOpt = typer.Option(None, "--set", metavar="NAME=VALUE", help="Give a symbol a value (repeatable); overrides symbols:.")
NoBiasOpt = typer.Option(False, "--no-bias", help="Build every layer that takes a bias argument with bias=False.")


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


DepthOpt = typer.Option(None, "--depth", "-d", min=0, help="Show blocks down to this depth (0: top level only).")
DtypeOpt = typer.Option("float32", "--dtype", help="Element type for memory figures: float32, float16, bfloat16, int8, float64.")
AsciiOpt = typer.Option(False, "--ascii", help="Formulas in plain ASCII (floor(H/2), K^2) instead of ⌊H/2⌋, K².")
ExplainOpt = typer.Option(False, "--explain", help="Show each formula with the numbers put in, as a worked answer.")
FormatOpt = typer.Option(Format.table, "--format", "-f", case_sensitive=False, help="Output format.")


def parse_sets(items: list[str] | None) -> dict[str, int]:
    values = {}
    for item in items or []:
        name, eq, raw = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise UsageError(f"--set {printable(item)}: expected NAME=VALUE, e.g. --set H=224")
        if not SYMBOL_NAME.fullmatch(name):
            raise UsageError(f"--set {printable(item)}: '{printable(name)}' is not a symbol name "
                             "(letters, digits and _, not starting with a digit)")
        raw = raw.strip()
        if len(raw) > 400:  # past MAX_BITS for sure, and int() refuses 4,300 digits with a confusing message
            raise UsageError(f"--set {name}=...: the value has {len(raw)} characters; netcalc refuses numbers "
                             f"larger than 2**{MAX_BITS} (MAX_BITS)")
        try:
            values[name] = check_size(int(raw))
        except ValueError:
            raise UsageError(f"--set {printable(item)}: value must be an integer (symbol {name})") from None
        except ExprError as e:
            raise UsageError(f"--set {name}: {e}") from None
    return values


def write_output(path: str, text: str) -> None:
    """Write ``-o``'s file; a path that cannot be written is a usage error (exit 2), not a crash."""
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as e:
        raise UsageError(f"-o {printable(path)}: cannot write it ({e.strerror or e})") from None


def emit(text: str) -> None:
    """Print a command's result: spec text in it never reaches the terminal as control codes."""
    print(printable_lines(text))


def guarded(fn):
    """Run ``fn``; turn netcalc's errors into exit codes and one line on stderr, never a traceback."""
    try:
        return fn()
    except UsageError as e:
        print(printable(f"error: {e}"), file=sys.stderr)
        raise typer.Exit(2)
    except BrokenPipeError:
        raise typer.Exit(0)
    except (typer.Exit, typer.Abort):
        raise
    except Exception as e:
        if os.environ.get("NETCALC_DEBUG"):
            raise
        print(printable(f"error: internal error: {type(e).__name__}: {e} (rerun with NETCALC_DEBUG=1 and report it)"),
              file=sys.stderr)
        raise typer.Exit(1)


def math_style(ascii: bool = False) -> None:
    """Formulas in Unicode (⌊(H + 2·P − K)/S⌋ + 1) unless asked not to or the terminal cannot show them."""
    from . import render

    render.ASCII = ascii or (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "") != "utf8"


def run_report(command: str, spec_path: str, sets, no_bias: bool, fmt, explain: bool = False,
               depth: int | None = None, dtype: str = "float32", optimizer: str | None = None,
               budget: str | None = None, ascii: bool = False, mixed: bool = False) -> None:
    fmt = fmt.value if isinstance(fmt, Format) else fmt
    math_style(ascii)
    if mixed and (optimizer is None or dtype not in ("bfloat16", "float16")):
        guarded(lambda: _refuse("--mixed is for --training (or --budget) with --dtype bfloat16 or float16: float32 "
                                "parameters, the forward autocast to that dtype"))
        return
    if budget is not None:
        guarded(lambda: _budget(spec_path, sets, no_bias, fmt, dtype, optimizer or "adam", budget, mixed))
        return
    guarded(lambda: _report(command, spec_path, sets, no_bias, fmt, explain, depth, dtype, optimizer, mixed))


def _refuse(message: str):
    raise UsageError(message)


def _budget(spec_path: str, sets, no_bias: bool, fmt: str, dtype: str, optimizer: str, budget: str,
            mixed: bool = False) -> None:
    """memory --budget: the largest batch whose training step fits."""
    import json

    from . import memory
    from .network import analyze

    try:
        limit = memory.parse_bytes(budget)
    except ValueError as e:
        raise UsageError(f"--budget {e}") from None
    values = parse_sets(sets)

    def work(spec):
        batch = spec.input[0] if spec.input else None
        if not isinstance(batch, str) or not SYMBOL_NAME.fullmatch(batch) or batch in values:
            raise UsageError("--budget finds the largest batch: the spec's input must start with a letter "
                             "without a --set value (input: [B, 3, 224, 224])")

        def at(b):
            try:
                return memory.annotate(analyze(spec, {**values, batch: b}, no_bias, dtype=dtype), optimizer, mixed)
            except memory.NotModelled as e:
                raise UsageError(f"memory --budget: {e}") from None

        try:
            return memory.largest_batch(at, batch, limit)
        except ValueError as e:
            raise UsageError(f"--budget: {e}") from None

    answer = with_spec(spec_path, work)
    if fmt == "json":
        emit(json.dumps(answer.to_dict(), indent=2))
        return
    from .render import short_bytes

    if answer.largest is None:
        emit(f"not even {answer.symbol}=1 fits in {short_bytes(limit)}: a step at {answer.symbol}=1 needs "
             f"{short_bytes(answer.total_at_next)} ({optimizer}, {dtype})")
        return
    emit(f"largest {answer.symbol} that fits in {short_bytes(limit)}: {answer.largest} "
         f"({short_bytes(answer.total_at_largest)}; {answer.symbol}={answer.largest + 1} needs "
         f"{short_bytes(answer.total_at_next)})\n"
         f"memory = {short_bytes(answer.fixed_bytes)} + {short_bytes(answer.bytes_per_sample)} × {answer.symbol} "
         f"(parameters, gradients and {optimizer} state, plus what each sample saves for backward; {dtype}"
         f"{' autocast, float32 parameters' if mixed else ''})")


def _report(command: str, spec_path: str, sets, no_bias: bool, fmt: str, explain: bool,
            depth: int | None, dtype: str, optimizer: str | None = None, mixed: bool = False) -> None:
    from .report import DTYPE_BYTES

    if dtype not in DTYPE_BYTES:
        raise UsageError(f"--dtype {dtype}: expected one of {', '.join(DTYPE_BYTES)}")
    from .network import analyze
    from .render import render

    values = parse_sets(sets)
    report = with_spec(spec_path, lambda spec_: analyze(spec_, values, no_bias, explain=explain, dtype=dtype))
    if optimizer is not None:  # memory --training
        from . import memory

        if optimizer not in memory.OPTIMIZER_STATES:
            raise UsageError(f"--optimizer {optimizer}: expected one of {', '.join(memory.OPTIMIZER_STATES)}")
        try:
            memory.annotate(report, optimizer, mixed)
        except memory.NotModelled as e:
            raise UsageError(f"memory --training: {e}") from None
    if command == "shapes" and fmt.lower() != "json":  # JSON always carries them in "warnings"
        for w in report.warnings:
            print(printable(f"{display_name(spec_path)}: warning: {w}"), file=sys.stderr)
    emit(render(report, command, fmt.lower(), depth))


def display_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def with_spec(path: str, work):
    """Read and parse the spec at ``path`` (a file, ``-``, or a zoo name) and return ``work(spec)``;
    any SpecError on the way ends the command with exit 1 and ``FILE:LINE:COL: error: ...``."""
    from .spec import parse

    display = display_name(path)
    try:
        text, display = read_source(path)
        return work(parse(text, display))
    except SpecError as e:
        _fail_spec(e, display)


def _fail_spec(e: SpecError, display: str):
    print(e.render(display), file=sys.stderr)
    raise typer.Exit(1)


# command → help (first line, then an example); each prints the same analysis, its own columns
REPORTS = {
    "shapes": "Input and output shape of every layer (and h_n/c_n for RNNs).\n\nExample: netcalc shapes spec.yaml --set B=32",
    "params": "Weights, biases and total parameters per layer.\n\nExample: netcalc params spec.yaml --no-bias",
    "flops": "MACs and FLOPs per layer, exact (conventions in the README).\n\nExample: netcalc flops spec.yaml --format csv",
    "rf": "Receptive field size, jump (effective stride) and start per spatial axis.\n\nExample: netcalc rf spec.yaml",
    "summary": "Everything at once: shapes, parameters, MACs/FLOPs and receptive fields.\n\n"
               "Example: netcalc summary spec.yaml --format json",
    "memory": "Parameter bytes and forward activation bytes per layer, for an element type; with\n"
              "--training, also the bytes autograd saves for backward, gradients and optimizer state.\n\n"
              "Example: netcalc memory resnet50 --training --optimizer adam",
}


def _report_command(name: str, doc: str):
    def command(spec: str = SpecArg, set: Optional[List[str]] = SetOpt, no_bias: bool = NoBiasOpt,
                format: Format = FormatOpt, explain: bool = ExplainOpt, depth: Optional[int] = DepthOpt,
                dtype: str = DtypeOpt, ascii: bool = AsciiOpt):
        run_report(name, spec, set, no_bias, format, explain, depth, dtype, ascii=ascii)

    def memory_command(spec: str = SpecArg, set: Optional[List[str]] = SetOpt, no_bias: bool = NoBiasOpt,
                       format: Format = FormatOpt, explain: bool = ExplainOpt, depth: Optional[int] = DepthOpt,
                       dtype: str = DtypeOpt,
                       training: bool = typer.Option(False, "--training", help="Add what a training step keeps: "
                                                     "the tensors autograd saves for backward, gradients and "
                                                     "optimizer state."),
                       optimizer: str = typer.Option("adam", "--optimizer", help="sgd, momentum, adam or adamw."),
                       budget: Optional[str] = typer.Option(None, "--budget", metavar="SIZE", help="The largest "
                                                            "batch (the input's first letter) whose training step "
                                                            "fits in SIZE, e.g. 24GiB."),
                       mixed: bool = typer.Option(False, "--mixed", help="Mixed precision: float32 parameters, "
                                                  "gradients and optimizer state, the forward under "
                                                  "torch.autocast to --dtype (bfloat16 or float16)."),
                       ascii: bool = AsciiOpt):
        run_report(name, spec, set, no_bias, format, explain, depth, dtype,
                   optimizer if training or budget else None, budget, ascii, mixed)

    if name == "memory":
        command = memory_command
    command.__doc__ = doc
    command.__name__ = name
    app.command(name)(command)


for _name, _doc in REPORTS.items():
    _report_command(_name, _doc)


@app.command("solve-padding")
def solve_padding(
    spec: Optional[str] = typer.Argument(None, metavar="[SPEC]", help="A spec whose ConvTranspose layers say output_padding: auto."),
    size: Optional[str] = typer.Option(None, "--size", help="Input size per axis: 28, or 28,32, or H."),
    kernel: Optional[str] = typer.Option(None, "--kernel", help="Kernel size per axis."),
    stride: Optional[str] = typer.Option(None, "--stride", help="Stride per axis (default 1)."),
    padding: Optional[str] = typer.Option(None, "--padding", help="Padding per axis (default 0)."),
    dilation: Optional[str] = typer.Option(None, "--dilation", help="Dilation per axis (default 1)."),
    set: Optional[List[str]] = SetOpt, no_bias: bool = NoBiasOpt, format: Format = FormatOpt,
):
    """The padding and output_padding that make sizes come out right.

    With options: per axis, the conv output size, the output_padding that makes the matching
    ConvTranspose give back the input size, and the least [before, after] padding giving
    ceil(size/stride). Any value may be a symbol.

    Example: netcalc solve-padding --size 28 --kernel 3 --stride 2 --padding 1

    With a SPEC: chooses output_padding for every ConvTranspose layer that says
    output_padding: auto (match: <layer name> names the layer whose input it must reproduce;
    without it, the strided layer it mirrors).

    Example: netcalc solve-padding specs/classics/autoencoder.yaml
    """
    fmt = format.value if isinstance(format, Format) else format
    math_style()

    def run():
        from . import padding as pad

        if spec is None:
            print(pad.render(pad.solve({"size": size, "kernel": kernel, "stride": stride, "padding": padding,
                                        "dilation": dilation}), fmt))
            return
        if any(v is not None for v in (size, kernel, stride, padding, dilation)):
            raise UsageError("give either a SPEC or --size/--kernel/... options, not both")
        from .network import analyze

        report = with_spec(spec, lambda spec_: analyze(spec_, parse_sets(set), no_bias, strict_auto=False))
        emit(pad.render_choices(report.choices, fmt))

    guarded(run)


@app.command()
def sizes(spec: str = SpecArg, set: Optional[List[str]] = SetOpt,
          check: Optional[str] = typer.Option(None, "--check", metavar="H=250,W=250",
                                              help="Is this input size valid? If not, the nearest valid ones."),
          limit: int = typer.Option(512, "--max", min=1, help="Scan each letter from 1 to this value."),
          format: Format = FormatOpt):
    """The input sizes a network accepts, when its input shape has letters.

    Every size must stay positive and every add/concat must line up; netcalc scans each letter
    and states the pattern (e.g. H and W multiples of 16 for a U-Net).

    Example: netcalc sizes specs/zoo/unet.yaml --check H=250,W=250
    """
    fmt = format.value if isinstance(format, Format) else format

    def run():
        from . import sizes as sz

        checked = parse_sets(check.split(",")) if check else None
        result = with_spec(spec, lambda spec_: sz.solve_sizes(spec_, parse_sets(set), limit, checked))
        emit(sz.render(result, fmt))

    guarded(run)


@app.command()
def zoo():
    """List the built-in models, usable by name in place of a spec file.

    Example: netcalc summary resnet50
    """
    import re

    for name in zoo_names():
        with open(os.path.join(zoo_dir(), name + ".yaml"), encoding="utf-8") as fh:
            first = fh.readline().strip()
        about = re.sub(r"^#\s*", "", first) if first.startswith("#") else ""
        print(f"{name:<20} {about}")


@app.command("layers")
def list_layers():
    """List the layer types a spec may use.

    Example: netcalc layers
    """
    from .layers.registry import ALIASES, NOT_LAYERS, canonical_names

    print("Layer types (torch.nn names, case-insensitive):")
    print("  " + ", ".join(canonical_names()))
    print("Aliases (rank from the incoming tensor):")
    print("  " + ", ".join(f"{a} → {t.replace('{}', 'N')}" for a, t in ALIASES.items()))
    print("torch.nn classes that are not spec layers:")
    for names, why in NOT_LAYERS.items():
        print(f"  {names}: {why}")


@app.command()
def solve(spec: str = SpecArg, set: Optional[List[str]] = SetOpt, no_bias: bool = NoBiasOpt, format: Format = FormatOpt):
    """Fill in the blanks: the values of `_` and unset symbols that meet every expect: shape.

    `_` is an unknown argument or input size (one per axis for kernel_size, stride, ...).
    Lists every solution PyTorch accepts, with the completed torch.nn calls.

    Example: netcalc solve specs/homework/fill_conv2d_a.yaml
    """
    fmt = format.value if isinstance(format, Format) else format

    def run():
        from .solve_render import render_solve
        from .solver import solve_spec

        result = with_spec(spec, lambda spec_: solve_spec(spec_, parse_sets(set), no_bias))
        emit(render_solve(result, fmt))

    guarded(run)


@app.command("import")
def import_model(
    target: str = typer.Argument(..., metavar="MODULE:FACTORY",
                                 help="A module or .py file and the function (or class) that builds the model."),
    input: str = typer.Option(..., "--input", "-i", metavar="1,3,224,224", help="The input shape, batch included."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the spec here (default: standard output)."),
):
    """Turn a PyTorch model into a spec (needs torch).

    Calls the factory, traces forward with torch.fx, and writes the layers, blocks and
    residual/concat structure with names mirroring the module paths. The spec is checked
    against torch (every shape and parameter count) before it is written.

    Example: netcalc import mymodels.py:make_net --input 1,3,224,224 -o net.yaml
    """

    def run():
        try:
            from . import importer
            importer.require_torch()
        except ImportError as e:
            raise UsageError(str(e)) from None
        try:
            shape = importer.parse_input(input)
        except ValueError as e:
            raise UsageError(str(e)) from None
        try:
            model = importer.load_model(target)
        except importer.LoadFailure as e:
            raise UsageError(str(e)) from None
        try:
            result = importer.import_model(model, shape, target)
        except importer.ImportFailure as e:
            print(printable(f"error: cannot import {target}: {e}"), file=sys.stderr)
            raise typer.Exit(1)
        for w in result.warnings:
            print(printable(f"warning: {w}"), file=sys.stderr)
        if output and output != "-":
            write_output(output, result.text)
            t = result.report.totals
            print(f"wrote {output}: {len(result.report.layers)} layers, {t['params']:,} parameters "
                  "(shapes and parameters agree with torch)", file=sys.stderr)
        else:
            sys.stdout.write(result.text)

    guarded(run)


@app.command()
def draw(spec: str = SpecArg,
         output: Optional[str] = typer.Option(None, "--output", "-o", help="net.svg or net.png (default: SVG on standard output)."),
         depth: Optional[int] = DepthOpt, rf: bool = typer.Option(False, "--rf", help="Plot receptive-field size and jump by layer instead."),
         set: Optional[List[str]] = SetOpt, no_bias: bool = NoBiasOpt):
    """Draw the architecture as SVG (or PNG): one box per layer, sized by the tensor, skips as arcs.

    Box height and slant grow with the spatial size and thickness with the channels (log
    scale); labels give name, type, output shape and parameters. --depth N draws blocks at
    depth N as single boxes; --rf draws receptive-field size and jump by layer instead.

    Example: netcalc draw resnet18 --depth 1 -o resnet18.svg
    """

    def run():
        from . import draw as dr
        from .network import analyze

        if output and output != "-" and not output.lower().endswith((".svg", ".png")):
            raise UsageError(f"-o {output}: the picture must be .svg or .png")
        report = with_spec(spec, lambda spec_: analyze(spec_, parse_sets(set), no_bias))
        svg = dr.draw_rf(report) if rf else dr.draw(report, depth)
        if not output or output == "-":
            sys.stdout.write(svg)
        elif output.lower().endswith(".png"):
            try:
                dr.to_png(svg, output)
            except (dr.NoConverter, RuntimeError) as e:
                raise UsageError(f"-o {printable(output)}: {e}") from None
            except OSError as e:
                raise UsageError(f"-o {printable(output)}: cannot write it ({e.strerror or e})") from None
        else:
            write_output(output, svg)

    guarded(run)


@app.command("export")
def export_command(spec: str = SpecArg, set: Optional[List[str]] = SetOpt, no_bias: bool = NoBiasOpt,
                   output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the code here (default: standard output).")):
    """Write the spec as a runnable PyTorch module (torch is not needed to write it).

    One nn.Module class per spec block, the top module Net with submodules named as netcalc
    names the layers (named_parameters() mirror netcalc's paths), a real forward with every
    line commented with netcalc's output shape, and a __main__ that runs it on zeros. Every
    symbol needs a value (symbols: or --set).

    Example: netcalc export resnet18 -o resnet18.py && python resnet18.py
    """

    def run():
        from .export import export

        result = with_spec(spec, lambda spec_: export(spec_, parse_sets(set), no_bias, source=display_name(spec)))
        if output and output != "-":
            write_output(output, result.code)
            print(f"wrote {output}: class {result.class_name}, {result.report.totals['params']:,} parameters",
                  file=sys.stderr)
        else:
            sys.stdout.write(result.code)

    guarded(run)


@app.command("check")
def check_command(spec: str = SpecArg, set: Optional[List[str]] = SetOpt, no_bias: bool = NoBiasOpt,
                  format: Format = FormatOpt):
    """Build the exported module in PyTorch and compare every layer with netcalc (needs torch).

    Runs it on the meta device (no memory, no data): output shapes and parameter counts of
    every layer, and conv/linear/attention MACs against torch's FlopCounterMode. Exit 0 when
    everything agrees, 3 on any difference.

    Example: netcalc check resnet18 --set B=8
    """
    fmt = format.value if isinstance(format, Format) else format

    def run():
        from .check import TorchMissing, check, import_torch, render

        try:
            import_torch()
        except TorchMissing as e:
            raise UsageError(str(e)) from None
        result = with_spec(spec, lambda spec_: check(spec_, parse_sets(set), no_bias, source=display_name(spec)))
        emit(render(result, fmt))
        if not result.agree:
            raise typer.Exit(3)

    guarded(run)


def reflow(doc: str | None) -> str | None:
    """A docstring's paragraphs as single lines, so help wraps them to the terminal's width instead
    of breaking where the source did; paragraphs (blank lines) stay."""
    import inspect
    import re

    if not doc:
        return doc
    text = re.sub(r"(?<=\S)\n(?=\S)", " ", inspect.cleandoc(doc))
    return text.replace("[", "\\[")  # typer shows help through rich: "[before, after]" is no markup tag


for _command in app.registered_commands:
    _command.callback.__doc__ = reflow(_command.callback.__doc__)


def main():
    import gc

    gc.disable()  # a short-lived process: collection cycles cost a quarter of a 10,000-layer run
    app()


if __name__ == "__main__":
    main()
