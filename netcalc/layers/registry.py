"""Spec type names → layer classes.

Type names are the ``torch.nn`` class names, matched case-insensitively, plus netcalc's
own kinds and the short aliases, whose rank comes from the incoming tensor.
"""

from __future__ import annotations

from ..errors import did_you_mean

REGISTRY: dict[str, type] = {}

# alias → canonical name; "{}" is the rank, the incoming number of dimensions minus 2
ALIASES = {
    "conv": "Conv{}d", "depthwise": "DepthwiseConv{}d", "pointwise": "PointwiseConv{}d",
    "transposed": "ConvTranspose{}d", "maxpool": "MaxPool{}d", "avgpool": "AvgPool{}d",
    "linear": "Linear", "rnn": "RNN", "lstm": "LSTM", "gru": "GRU",
    "encoder": "TransformerEncoderLayer",
}


def register(cls):
    """Class decorator: make ``cls.TYPE`` a spec type name."""
    REGISTRY[cls.TYPE.lower()] = cls
    return cls


def ranked(base, *ranks, **attrs):
    """Register ``base`` for each rank as ``{base.TYPE with {} filled}``: ConvNd → Conv1d/2d/3d (and its
    TORCH_FUNCTIONS filled alike)."""
    for r in ranks or (1, 2, 3):
        name = base.TYPE.format(r)
        calls = tuple(call.format(r) for call in base.TORCH_FUNCTIONS)  # "F.max_pool{}d" → F.max_pool2d
        register(type(name, (base,), {"TYPE": name, "rank": r, "__doc__": base.__doc__, "TORCH_FUNCTIONS": calls,
                                      **attrs}))
    return base


class UnknownType(LookupError):
    pass


def lookup(type_name: str, ndim: int | None):
    """The class for a spec type name, given the incoming number of dimensions."""
    key = type_name.strip().lower()
    if key in ALIASES:
        template = ALIASES[key]
        if "{}" in template:
            rank = (ndim or 0) - 2
            if rank not in (1, 2, 3):
                raise UnknownType(
                    f"alias {type_name!r} takes its rank from a batched input of 3 to 5 dimensions, "
                    f"but the incoming tensor has {ndim}; write {template.format('N')!r} with N = 1, 2 or 3")
            template = template.format(rank)
        key = template.lower()
    if key in REGISTRY:
        return REGISTRY[key]
    names = sorted({c.TYPE for c in REGISTRY.values()} | set(ALIASES))
    hint = did_you_mean(type_name, names)
    raise UnknownType(f"unknown layer type {type_name!r}{hint or '; see netcalc layers for the list'}")


def kind_of(type_name: str):
    """The class of a report row's canonical type name (None for merge rows such as Add)."""
    return REGISTRY.get(type_name.lower())


def canonical_names() -> list[str]:
    return sorted(c.TYPE for c in REGISTRY.values())


# torch.nn classes that are not spec layers, and why (netcalc layers prints them)
NOT_LAYERS = {
    "AdaptiveLogSoftmaxWithLoss and the *Loss classes": "losses take targets and end a training step; they are "
                                                        "not part of the network",
    "LazyLinear, LazyConvNd, LazyConvTransposeNd, LazyBatchNormNd, LazyInstanceNormNd": "write the class they "
        "become (Linear, ConvNd, ...): netcalc infers the input width as they do",
    "Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict, Container": "containers: write sequential:, "
        "blocks: and repeat:",
    "DataParallel": "a wrapper for running, not a layer",
}
