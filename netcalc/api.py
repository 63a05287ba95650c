"""netcalc from Python: the functions ``netcalc/__init__.py`` exports (docs/api.md).

Every function takes a spec as a path, a zoo name, spec text (YAML, TOML or a config.json's JSON)
or a dict shaped like a loaded spec file, and returns what the CLI prints, as Python data:
:class:`~netcalc.report.Report` for :func:`analyze`, the contract's JSON documents as dicts for
:func:`solve` and :func:`solve_padding`. A bad spec raises :class:`~netcalc.errors.SpecError`
with ``file``, ``line`` and ``column`` set and ``str(error)`` the CLI's ``FILE:LINE:COL: error:``
line. Symbols stay sympy expressions; ``set`` gives them values.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from .errors import SpecError, UsageError

SpecSource = Any  # str (path, zoo name or spec text), os.PathLike, or a dict in the spec format


# ----------------------------------------------------------------------------- the zoo

def zoo_dir() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "zoo")


def zoo_names() -> list[str]:
    try:
        return sorted(f[:-5] for f in os.listdir(zoo_dir()) if f.endswith(".yaml"))
    except OSError:
        return []


def zoo_path(name: str) -> str | None:
    """The built-in spec for a model name such as ``resnet50``."""
    key = name.lower().removesuffix(".yaml")
    return os.path.join(zoo_dir(), key + ".yaml") if key in zoo_names() else None


def read_source(path: str) -> tuple[str, str]:
    """(text, display name) of a spec file, ``-`` (standard input) or a zoo name; a path that is
    neither is a UsageError naming the closest zoo model."""
    from .spec import read_text

    try:
        return read_text(path)
    except FileNotFoundError:
        zoo = zoo_path(path)
        if zoo is not None:
            return read_text(zoo)[0], path
        from .errors import did_you_mean

        hint = did_you_mean(path, zoo_names())
        raise UsageError(f"{path}: no such file, and no built-in model of that name{hint} (netcalc zoo lists them)") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a spec file") from None
    except UnicodeDecodeError:
        raise SpecError("the spec is not UTF-8 text", (1, 1)) from None
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror}") from None


# ----------------------------------------------------------------------------- specs from anything

def load(spec: SpecSource):
    """``(Spec, display name)`` of any spec source; a SpecError carries the file and position."""
    from .spec import from_data, parse

    if isinstance(spec, Mapping):
        name = "<dict>"
        work = lambda: from_data(_with_config(dict(spec)))  # noqa: E731
    else:
        source = os.fspath(spec) if isinstance(spec, os.PathLike) else spec
        if not isinstance(source, str):
            raise TypeError(f"spec must be a path, a zoo name, spec text or a dict, not {type(spec).__name__}")
        if "\n" in source or (not os.path.exists(source) and zoo_path(source) is None and ":" in source):
            text, name = source, "<text>"
            toml = "[[layers]]" in source and "layers:" not in source
            work = lambda: parse(text, "<text>.toml" if toml else "<text>")  # noqa: E731
        else:
            try:
                text, name = read_source(source)
            except UsageError as e:
                raise FileNotFoundError(str(e)) from None
            work = lambda: parse(text, name)  # noqa: E731
    try:
        return work(), name
    except SpecError as e:
        raise located(e, name) from None


def _with_config(data: dict) -> dict:
    from . import hf

    return hf.spec_data(data) if hf.is_config(data) else data


def located(error: SpecError, name: str) -> SpecError:
    """``error`` with ``file``, ``line`` and ``column``, its text the CLI's one line."""
    error.file = name
    error.line, error.column = error.pos or (1, 1)
    error.args = (error.render(name),)
    return error


# ----------------------------------------------------------------------------- the public functions

def analyze(spec: SpecSource, *, set: Mapping[str, int] | None = None, no_bias: bool = False,  # noqa: A002
            dtype: str = "float32"):
    """Shapes, parameters, MACs/FLOPs and receptive fields of every layer: a
    :class:`~netcalc.report.Report` (``.totals``, ``.layers``, ``.to_dict()``, ...)."""
    from .network import analyze as run
    from .report import DTYPE_BYTES

    if dtype not in DTYPE_BYTES:
        raise ValueError(f"dtype {dtype!r}: expected one of {', '.join(DTYPE_BYTES)}")
    parsed, name = load(spec)
    values = dict(set or {})
    try:
        report = run(parsed, values, no_bias, dtype=dtype)
    except SpecError as e:
        raise located(e, name) from None
    report.source = (parsed, values, no_bias, name)
    return report


def solve(spec: SpecSource, *, set: Mapping[str, int] | None = None, no_bias: bool = False) -> dict:  # noqa: A002
    """Fill in the blanks (``_``) and unset symbols: the contract's ``netcalc solve`` document."""
    from .solver import solve_spec

    parsed, name = load(spec)
    try:
        return solve_spec(parsed, dict(set or {}), no_bias).to_dict()
    except SpecError as e:
        raise located(e, name) from None


def solve_padding(*, size, kernel, stride=1, padding=0, dilation=1) -> dict:
    """Per axis: the conv output size, the transposed conv's output_padding back to ``size`` and the
    'same' padding; each argument one value for every axis or a list with one per axis (ints or
    symbol names). The contract's ``netcalc solve-padding`` document."""
    from . import padding as pad

    def text(v):
        return ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)

    try:
        axes = pad.solve({"size": text(size), "kernel": text(kernel), "stride": text(stride),
                          "padding": text(padding), "dilation": text(dilation)})
    except UsageError as e:
        raise ValueError(str(e)) from None
    return {"axes": [a.to_dict() for a in axes]}


def from_module(module, input_size):
    """Import a live ``torch.nn.Module`` (like ``torchinfo.summary(model, input_size)``): the
    :class:`~netcalc.report.Report` of the spec ``netcalc import`` writes for it, checked against torch.
    Needs torch; raises ``ValueError`` (with the reason) for a module netcalc cannot express."""
    from . import importer

    try:
        result = importer.import_model(module, tuple(input_size), type(module).__name__)
    except importer.ImportFailure as e:
        raise ValueError(f"cannot import {type(module).__name__}: {e}") from None
    from .spec import parse

    report = result.report
    report.source = (parse(result.text, "imported.yaml"), {}, False, type(module).__name__)
    return report
