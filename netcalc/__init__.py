"""netcalc: exact shapes, parameters, MACs/FLOPs and receptive fields of PyTorch networks."""

__version__ = "0.1.0"
