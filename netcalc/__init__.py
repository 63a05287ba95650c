"""netcalc: exact shapes, parameters, MACs/FLOPs and receptive fields of PyTorch networks.

The Python API (docs/api.md)::

    import netcalc
    report = netcalc.analyze("resnet50")          # a path, a zoo name, spec text or a dict
    report.totals["params"], report.layers[0].output_shape
    netcalc.solve_padding(size=28, kernel=3, stride=2, padding=1)

Names are imported when first used, so ``import netcalc`` loads neither typer, rich nor sympy.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["analyze", "solve", "solve_padding", "from_module", "Report", "SpecError", "__version__"]

_WHERE = {"analyze": "api", "solve": "api", "solve_padding": "api", "from_module": "api",
          "Report": "report", "SpecError": "errors"}


def __getattr__(name: str):
    if name in _WHERE:
        from importlib import import_module

        value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'netcalc' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
