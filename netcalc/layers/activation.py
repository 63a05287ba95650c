"""Element-wise activations, softmax, dropout: shape-preserving layers.

FLOP convention: an element-wise activation costs 1 per element; Softmax, LogSoftmax,
Softmin and Softmax2d cost 3 per element (exponent, sum, divide or subtract); GLU 2 per
output element (sigmoid and product); Dropout and Identity cost nothing (inference).
"""

from __future__ import annotations

from .base import Arg, Layer, numel
from .linear import dim_index
from .registry import register


class Elementwise(Layer):
    """An element-wise function: output shape = input shape, 1 FLOP per element."""

    PASS_RF = True
    COST = 1
    SAVES = ("input",)  # for its derivative; the kinds whose derivative is a function of the output save that

    def saved(self, x, y):
        extra = [(x, "act")] * SAVES_MORE.get(self.TYPE, 0)
        if self.args.get("inplace"):  # the input is gone: the output (its storage), or a copy made first
            kept = "output" if self.TYPE in INPLACE_SAVES_OUTPUT or extra else (x, "act")
            return extra + [kept]
        return list(SAVES_OUTPUT.get(self.TYPE, self.SAVES)) + extra

    def flops(self, x, y):
        return self.COST * numel(y)


# the torch calls in a forward() each kind stands for (Layer.TORCH_FUNCTIONS: netcalc import reads them)
CALLS = {
    "ReLU": ("F.relu", "torch.relu", ".relu", ".relu_"), "ReLU6": ("F.relu6",), "GELU": ("F.gelu", ".gelu"),
    "Sigmoid": ("torch.sigmoid", "F.sigmoid", ".sigmoid"), "Tanh": ("torch.tanh", "F.tanh", ".tanh"),
    "SiLU": ("F.silu",), "Mish": ("F.mish",), "Hardswish": ("F.hardswish",), "Hardsigmoid": ("F.hardsigmoid",),
    "ELU": ("F.elu",), "LeakyReLU": ("F.leaky_relu",), "Softplus": ("F.softplus",), "LogSigmoid": ("F.logsigmoid",),
    "Softmax": ("F.softmax", "torch.softmax", ".softmax"),
    "LogSoftmax": ("F.log_softmax", "torch.log_softmax", ".log_softmax"),
    "Dropout": ("F.dropout",),
}


# what torch 2.13's autograd saves where it is not the input (measured: tests/test_memory.py)
SAVES_OUTPUT = {"ReLU": ("output",), "Sigmoid": ("output",), "Tanh": ("output",), "Softmax": ("output",),
                "LogSoftmax": ("output",), "Softmin": ("output",), "Softmax2d": ("output",), "Tanhshrink": ()}
SAVES_MORE = {"LogSigmoid": 1, "Softsign": 1, "Tanhshrink": 1, "RReLU": 1}  # full-size intermediates
INPLACE_SAVES_OUTPUT = ("ReLU", "LeakyReLU", "ELU", "CELU", "SELU")  # the rest save a copy of the input


def _elementwise(name, args=(), cost=1, base=Elementwise):
    cls = type(name, (base,), {"TYPE": name, "ARGS": args, "COST": cost, "TORCH_FUNCTIONS": CALLS.get(name, ()),
                               "__doc__": f"``torch.nn.{name}``: element-wise, {cost} FLOP{'s' * (cost > 1)} per element."})
    register(cls)
    return cls


INPLACE = Arg("inplace", False, "bool")
for _name, _args in {
    "ReLU": (INPLACE,), "ReLU6": (INPLACE,), "SELU": (INPLACE,), "SiLU": (INPLACE,), "Mish": (INPLACE,),
    "Hardswish": (INPLACE,), "Hardsigmoid": (INPLACE,),
    "Sigmoid": (), "Tanh": (), "LogSigmoid": (), "Softsign": (), "Tanhshrink": (),
    "LeakyReLU": (Arg("negative_slope", 0.01, "float"), INPLACE),
    "ELU": (Arg("alpha", 1.0, "float"), INPLACE),
    "CELU": (Arg("alpha", 1.0, "float"), INPLACE),
    "GELU": (Arg("approximate", "none", "choice", ("none", "tanh")),),
    "Hardtanh": (Arg("min_val", -1.0, "float"), Arg("max_val", 1.0, "float"), INPLACE),
    "Softplus": (Arg("beta", 1.0, "float"), Arg("threshold", 20.0, "float")),
    "Hardshrink": (Arg("lambd", 0.5, "float"),),
    "Softshrink": (Arg("lambd", 0.5, "float"),),
    "Threshold": (Arg("threshold", kind="float"), Arg("value", kind="float"), INPLACE),
    "RReLU": (Arg("lower", 0.125, "float"), Arg("upper", 1 / 3, "float"), INPLACE),
}.items():
    _elementwise(_name, _args)

class SoftmaxNd(Elementwise):
    """Softmax-like along ``dim``, which must index the input (None: torch's implicit choice)."""

    def output_shape(self, x):
        if self.args.get("dim") is not None:
            dim_index(self, self.args["dim"], len(x), "dim")
        return x

    @classmethod
    def args_from_call(cls, bound, x, y):
        if bound.get("dim") is None:  # torch's implicit dim is deprecated and depends on the rank
            raise ValueError("softmax without dim; give dim explicitly")
        return {"dim": bound["dim"]}


class Softmax2dRule(Elementwise):
    """Softmax over the channels of a ``(N, C, H, W)`` or ``(C, H, W)`` input."""

    def output_shape(self, x):
        self.check_ndim(x, (3, 4), "(N, C, H, W) or unbatched (C, H, W)")
        return x


for _name in ("Softmax", "LogSoftmax", "Softmin"):
    _elementwise(_name, (Arg("dim", None, "dim"),), cost=3, base=SoftmaxNd)
_elementwise("Softmax2d", (), cost=3, base=Softmax2dRule)


@register
class PReLU(Elementwise):
    """``torch.nn.PReLU``: element-wise, weight ``(num_parameters,)``; num_parameters is 1 or the channels."""
    # under autocast prelu runs in the low precision: a float32 input and the weight are cast, and
    # its backward keeps both, for either gradient
    AUTOCAST, KEEPS_WEIGHT = True, True

    TYPE = "PReLU"
    ARGS = (Arg("num_parameters", 1), Arg("init", 0.25, "float"))

    def output_shape(self, x):
        n = self.args["num_parameters"]
        if n != 1:
            channels = x[1] if len(x) >= 2 else x[0] if x else 1
            self.check_width("num_parameters", n, channels, "the incoming channels")
        return x

    def parameters(self, x):
        return {"weight": (self.args["num_parameters"],)}


@register
class GLU(Layer):
    """``torch.nn.GLU``: halves dimension ``dim`` (a ⊗ σ(b)); 2 FLOPs per output element."""

    TYPE = "GLU"
    SAVES = ("input",)
    ARGS = (Arg("dim", -1),)

    def output_shape(self, x):
        d = dim_index(self, self.args["dim"], len(x), "dim")
        if isinstance(x[d], int) and x[d] % 2:
            self.error(f"halves dimension {d}, which must be even, got {x[d]}", "dim")
        return (*x[:d], x[d] // 2 if isinstance(x[d], int) else x[d] / 2, *x[d + 1:])

    def flops(self, x, y):
        return 2 * numel(y)


class Dropout(Layer):
    """Dropout: the input unchanged at inference; no FLOPs counted."""

    PASS_RF = True
    ARGS = (Arg("p", 0.5, "float"), INPLACE)

    def validate(self):
        if not 0 <= self.args["p"] <= 1:
            self.error(f"dropout probability has to be between 0 and 1, got {self.args['p']}", "p")

    def saved(self, x, y):
        """The mask (the CPU's: activation dtype), one value per element, or per channel for the
        channel-wise kinds; p = 0 keeps the input, p = 1 a scalar."""
        p = self.args["p"]
        if p == 0:
            return []
        if p == 1:
            return [((), "act")]
        if self.TYPE == "AlphaDropout":  # the affine mask b·(1 − mask) ...: one tensor of the input's size
            return [(x, "act")]
        if self.TYPE == "FeatureAlphaDropout":  # one per (sample, channel)
            return [((*x[:2], *(1,) * (len(x) - 2)), "act")]
        channel = {"Dropout1d": 1, "Dropout2d": 2, "Dropout3d": 3}.get(self.TYPE)
        if channel is None:
            return [(x, "act")]
        return [((*x[:len(x) - channel], *(1,) * channel), "act")]


class ChannelDropout1d(Dropout):
    """Channel-wise dropout on ``(N, C, L)`` or ``(C, L)``: torch refuses other ranks (Dropout2d/3d only warn)."""

    def output_shape(self, x):
        self.check_ndim(x, (2, 3), "(N, C, L) or unbatched (C, L)")
        return x


for _name in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"):
    _base = ChannelDropout1d if _name == "Dropout1d" else Dropout
    register(type(_name, (_base,), {"TYPE": _name, "__doc__": f"``torch.nn.{_name}``: " + Dropout.__doc__,
                                    "TORCH_FUNCTIONS": CALLS.get(_name, ())}))
