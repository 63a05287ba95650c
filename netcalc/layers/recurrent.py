"""Recurrent layers: RNN, LSTM, GRU, and their one-step cells RNNCell, LSTMCell, GRUCell.

Input ``(L, N, H_in)`` (``(N, L, H_in)`` with batch_first) or unbatched ``(L, H_in)``;
output ``(…, D*H_out)`` with ``D = 2`` when bidirectional and ``H_out = proj_size or
hidden_size``; ``h_n`` is ``(D*num_layers, N, H_out)`` (never batch-first), LSTM's ``c_n``
``(D*num_layers, N, hidden_size)``.

Per layer ``l`` and direction: ``weight_ih_l{l}`` ``(G*H, in_l)``, ``weight_hh_l{l}``
``(G*H, H_out)``, ``bias_ih``/``bias_hh`` ``(G*H,)``, LSTM's ``weight_hr_l{l}`` ``(P, H)``,
with gates G = 1 (RNN), 4 (LSTM), 3 (GRU), ``in_0 = H_in`` and ``in_l = D*H_out`` after.

Cost convention, per time step, batch element, layer and direction: MACs are the weight
matmuls ``G*H*(in_l + H_out)`` (+ ``P*H`` projection); FLOPs are ``2*MACs``, plus one per
bias element, plus the gate arithmetic per hidden unit: RNN 1, GRU 9, LSTM 9.
"""

from __future__ import annotations

from ..symbolic import ceil_div, is_int, smax
from .base import Arg, Layer, numel
from .registry import register


class Recurrent(Layer):
    AUTOCAST = None  # not measured under autocast yet
    FORWARD = "{m}({x})[0]"  # (output, h_n) or (output, (h_n, c_n))
    CALL_KIND = "rnn"
    FAMILY, LAYOUT, KEEPS = "seq", "seq", "all_but_last"
    GATES = 1
    GATE_FLOPS = 1
    ARGS = (Arg("input_size", None), Arg("hidden_size"), Arg("num_layers", 1), Arg("bias", True, "bool"),
            Arg("batch_first", False, "bool"), Arg("dropout", 0.0, "float"), Arg("bidirectional", False, "bool"))

    def in_order(self, x, inputs):
        """batch_first: the output is the (L, N, H) result transposed back."""
        return not self.args["batch_first"] and all(inputs)

    def autocast_weights(self, x, input_grad):
        """Under autocast every step's matmuls cast the weights to the low precision (one copy of each
        for the whole forward: autocast caches a parameter's cast), and keep weight_ih's for the
        gradient of the layer's input (the first layer's when it needs one, a later layer's always)
        and weight_hh's for the gradient of h, from the second step on (the zero h needs none)."""
        seq = self.dims(x)[0]
        return [shape for name, shape in self.parameters(x).items()
                if name.startswith("weight_ih") and (input_grad or not name.startswith("weight_ih_l0"))
                or name.startswith("weight_hh") and not (is_int(seq) and seq == 1)]

    def validate(self):
        a = self.args
        self.check_positive(a["hidden_size"], "hidden_size", "hidden_size")
        self.check_positive(a["num_layers"], "num_layers", "num_layers")
        if not 0 <= a["dropout"] <= 1:
            self.error(f"dropout should be a number in range [0, 1], got {a['dropout']}", "dropout")
        p = a.get("proj_size", 0)
        if is_int(p) and p < 0:
            self.error("proj_size should be a positive integer or zero to disable projections", "proj_size")
        if is_int(p) and is_int(a["hidden_size"]) and p >= a["hidden_size"] and p:
            self.error(f"proj_size ({p}) has to be smaller than hidden_size ({a['hidden_size']})", "proj_size")

    def dims(self, x):
        """(seq_len, batch or None, input features)."""
        self.check_ndim(x, (2, 3), "(L, N, H_in) or unbatched (L, H_in)")
        a = self.args
        if len(x) == 2:
            seq, batch = x[0], None
        else:
            seq, batch = (x[1], x[0]) if a["batch_first"] else (x[0], x[1])
        self.check_width("input_size", a["input_size"], x[-1], "the last incoming dimension")
        return seq, batch, x[-1]

    @property
    def directions(self):
        return 2 if self.args["bidirectional"] else 1

    @property
    def h_out(self):
        return self.args.get("proj_size", 0) or self.args["hidden_size"]

    def output_shape(self, x):
        self.dims(x)
        return (*x[:-1], self.directions * self.h_out)

    def state_shapes(self, x):
        _, batch, _ = self.dims(x)
        lead = (self.directions * self.args["num_layers"],) + ((batch,) if batch is not None else ())
        states = {"h_n": (*lead, self.h_out)}
        if self.TYPE == "LSTM":
            states["c_n"] = (*lead, self.args["hidden_size"])
        return states

    def parameters(self, x):
        _, _, h_in = self.dims(x)
        a = self.args
        gh, proj = self.GATES * a["hidden_size"], a.get("proj_size", 0)
        params = {}
        for layer in range(a["num_layers"] if is_int(a["num_layers"]) else self._symbolic_layers()):
            width = h_in if layer == 0 else self.directions * self.h_out
            for suffix in ("", "_reverse")[: self.directions]:
                params[f"weight_ih_l{layer}{suffix}"] = (gh, width)
                params[f"weight_hh_l{layer}{suffix}"] = (gh, self.h_out)
                if a["bias"]:
                    params[f"bias_ih_l{layer}{suffix}"] = (gh,)
                    params[f"bias_hh_l{layer}{suffix}"] = (gh,)
                if proj:
                    params[f"weight_hr_l{layer}{suffix}"] = (proj, a["hidden_size"])
        return params

    def _symbolic_layers(self):
        self.error("num_layers must be a number (parameter names depend on it)", "num_layers")

    def steps(self, x):
        seq, batch, _ = self.dims(x)
        return seq * (batch if batch is not None else 1)

    def macs(self, x, y):
        return self.steps(x) * sum(numel(s) for n, s in self.parameters(x).items() if n.startswith("weight"))

    def flops(self, x, y):
        biases = sum(numel(s) for n, s in self.parameters(x).items() if "bias" in n)
        units = self.args["num_layers"] * self.directions * self.args["hidden_size"]
        return 2 * self.macs(x, y) + self.steps(x) * (biases + self.GATE_FLOPS * units)

    def input_copy(self, x) -> list:
        """batch_first and bidirectional: the reverse direction reads a contiguous copy of the input,
        unless the transposed input is contiguous already (one step, or one sequence)."""
        seq, batch, _ = self.dims(x)
        if not (self.args["batch_first"] and self.directions == 2 and batch is not None):
            return []
        return [] if 1 in (seq, batch) else [(x, "act")]

    def inputs_kept(self, x) -> list:
        """The input (and the batch_first copy); under autocast, of a float32 input, each direction's
        own low-precision cast (autocast caches only parameters' casts)."""
        if self.mixed == "float32":
            return [(x, "low")] * self.directions
        return ["input", *self.input_copy(x)]

    def between_layers(self, x) -> list:
        """From the second layer on: its input, the previous layer's outputs side by side, and with
        dropout the mask before it."""
        seq, batch, _ = self.dims(x)
        n, width = batch if batch is not None else 1, self.directions * self.h_out
        return [((seq, n, width), "act")] * (1 + (self.args["dropout"] > 0)) * (self.args["num_layers"] - 1)


@register
class RNN(Recurrent):
    __doc__ = __doc__
    TYPE = "RNN"
    AUTOCAST = True  # torch's loop of linears: each casts its input and weights, and runs in the low precision
    ARGS = Recurrent.ARGS[:3] + (Arg("nonlinearity", "tanh", "choice", ("tanh", "relu")),) + Recurrent.ARGS[3:]

    def saved(self, x, y):
        """torch's CPU loop, step by step: the input, the zero initial state of every layer and
        direction (one tensor), every step's output (tanh or relu keeps it, the next step's matmul
        reads it), and from the second layer on its input, the previous layer's outputs side by
        side, with dropout also the mask before it."""
        seq, batch, _ = self.dims(x)
        n, runs = batch if batch is not None else 1, self.args["num_layers"] * self.directions
        return (self.inputs_kept(x) + [((runs, n, self.h_out), "act"), ((runs * seq, n, self.h_out), "act")]
                + self.between_layers(x))


@register
class LSTM(Recurrent):
    __doc__ = __doc__
    TYPE = "LSTM"
    GATES = 4
    GATE_FLOPS = 9
    ARGS = Recurrent.ARGS + (Arg("proj_size", 0),)

    def saved(self, x, y):
        """torch's CPU LSTM runs oneDNN once per layer and direction: the input, the zero initial h
        and c of every layer and direction, and per call its output (T, N, H), last h and c, and
        oneDNN's workspace (``lstm_workspace``), without biases copies of its two weights; then the
        later layers' inputs (and dropout masks). With proj_size: see ``projected``."""
        if self.args.get("proj_size"):
            return self.projected(x)
        seq, batch, width = self.dims(x)
        n, h, d = batch if batch is not None else 1, self.h_out, self.directions
        runs = self.args["num_layers"] * d
        calls = [((seq, n, h), "act"), ((n, h), "act"), ((n, h), "act")]
        # batch_first: oneDNN reads a contiguous (T, N, in) copy, unless the transpose is one already
        copied = self.args["batch_first"] and batch is not None and 1 not in (seq, batch)
        out = [(x, "act") if copied else "input", ((runs, n, h), "act"), ((runs, n, h), "act")]
        for layer in range(self.args["num_layers"]):
            wide = width if layer == 0 else d * h
            ws = ((lstm_workspace(wide, h, seq, n),), "uint8")
            # without biases torch hands oneDNN copies of the weights, which it keeps
            copies = [] if self.args["bias"] else [((4 * h, wide), "act"), ((4 * h, h), "act")]
            out += (copies + calls + [ws]) * d
        # a later layer reads the previous one's output itself, or both directions' side by side (a
        # new tensor); with dropout, dropout's mask and output instead
        between = [((seq, n, d * h), "act")] * (2 if self.args["dropout"] > 0 else int(d == 2))
        return out + between * (self.args["num_layers"] - 1)

    def projected(self, x):
        """With proj_size torch leaves oneDNN (which has no projections) for its own loop over the steps
        (aten's LSTMCell): per layer and direction, the input projection of the whole sequence keeps the
        layer's input (both directions read the one tensor), and every step keeps the gates (N·4H, one
        storage: the sigmoids and the tanh run in place on its chunks), tanh of the new cell and the
        hidden state before its projection (N·H each); every step but the last hands the next one its
        projected h (N·P, for the next matmul) and its cell (N·H, for the forget gate's product). Then
        the zero initial h (P wide) and c of every layer and direction, the batch_first copy, and from
        the second layer on its input: the steps' outputs stacked (both directions side by side), with
        dropout its mask and output."""
        seq, batch, _ = self.dims(x)
        n, h, p = batch if batch is not None else 1, self.args["hidden_size"], self.h_out
        runs = self.args["num_layers"] * self.directions
        return (["input", *self.input_copy(x), ((runs, n, p), "act"), ((runs, n, h), "act"),
                 ((runs * seq, n, 4 * h), "act"), ((runs * seq * 2, n, h), "act"),
                 ((runs * (seq - 1), n, p + h), "act")] + self.between_layers(x))



def lstm_workspace(width, hidden, steps, batch):
    """Bytes of the workspace oneDNN's LSTM keeps for backward (one layer and direction, float32):
    seven parts, each rounded up to a 4 KiB page: the gates (T·N·ld(4H)), the hidden states
    (T·N·ld(H)), the layer and iteration states and their gradients ((T + 1)·N·ld(max(in, H)) for
    two layers of states each), and the cell states and their gradients ((T + 1)·N·H, two layers).
    ld rounds a width up to 16 floats, and past a multiple of 256 (oneDNN's get_good_ld)."""
    def ld(v):
        v = ceil_div(v, 16) * 16
        return v + 16 if is_int(v) and v % 256 == 0 else v

    def page(elements):
        return 4096 * ceil_div(4 * elements, 4096)

    wide, states = ld(smax(width, hidden)), 2 * (steps + 1) * batch
    parts = [steps * batch * ld(4 * hidden), steps * batch * ld(hidden), states * wide, states * wide,
             states * hidden, states * wide, states * hidden]
    return sum(page(p) for p in parts)


@register
class GRU(Recurrent):
    __doc__ = __doc__
    TYPE = "GRU"
    AUTOCAST = True  # torch's loop of linears: each casts its input and weights, and runs in the low precision
    GATES = 3
    GATE_FLOPS = 9

    def saved(self, x, y):
        """torch's CPU loop, step by step, as RNN's: the input, the zero initial states, and per step
        the storage of the three gates' input projections (N, 3H), three (N, H) tensors of the
        update, and the step's output but for the last step (the next step's matmul reads it); then
        the later layers' inputs (and dropout masks).

        Under autocast the gates run in the low precision; so does h on a low-precision input, but on a
        float32 input the zero h is float32 and h stays float32 (h − n promotes, step after step): of
        the three (N, H) tensors one (h − n) is float32, the next step's matmul keeps its own
        low-precision cast of h, the output is float32, and a later layer keeps each direction's cast
        of its float32 input (and a float32 dropout mask)."""
        seq, batch, _ = self.dims(x)
        n, runs, h = batch if batch is not None else 1, self.args["num_layers"] * self.directions, self.h_out
        if not self.runs_float32(x):
            return (["input", *self.input_copy(x), ((runs, n, h), "act"), ((runs * seq, n, 3 * h), "act"),
                     ((3 * runs * seq, n, h), "act"), ((runs * (seq - 1), n, h), "act")] + self.between_layers(x))
        wide, d = self.directions * h, self.directions
        between = [((seq, n, wide), "low")] * d + [((seq, n, wide), "float32")] * (self.args["dropout"] > 0)
        return (self.inputs_kept(x) + [((runs, n, h), "low"), ((runs * seq, n, 3 * h), "low"),
                                       ((2 * runs * seq, n, h), "low"), ((runs * seq, n, h), "float32"),
                                       ((runs * (seq - 1), n, h), "low")] + between * (self.args["num_layers"] - 1))

    def runs_float32(self, x):
        return self.mixed == "float32"  # under autocast its h, and so its output, stays float32 (see saved)




class Cell(Layer):
    """One time step: ``torch.nn.RNNCell``/``LSTMCell``/``GRUCell``, input ``(N, input_size)`` or
    unbatched ``(input_size,)`` → ``h'`` of the same batch and ``hidden_size`` (LSTMCell returns
    ``(h', c')``, both that shape; the spec follows ``h'``). ``weight_ih`` ``(G*H, input_size)``,
    ``weight_hh`` ``(G*H, H)``, ``bias_ih``/``bias_hh`` ``(G*H,)``; costs as one step of the
    full layer (module docstring), the zero initial state included, as torch computes it.

    Under autocast its linears cast the input and the weights to the low precision (a float32 input's
    copy is kept); the zero state has the input's dtype, so on a float32 input GRUCell's and
    LSTMCell's state math promotes to float32, and so does their output (see runs_float32)."""
    AUTOCAST = True

    FAMILY, LAYOUT = "seq", "seq"
    GATES, GATE_FLOPS = 1, 1
    ARGS = (Arg("input_size", None), Arg("hidden_size"), Arg("bias", True, "bool"))

    def validate(self):
        self.check_positive(self.args["hidden_size"], "hidden_size", "hidden_size")

    def output_shape(self, x):
        self.check_ndim(x, (1, 2), "(N, input_size) or unbatched (input_size)")
        self.check_width("input_size", self.args["input_size"], x[-1], "the last incoming dimension")
        return (*x[:-1], self.args["hidden_size"])

    def parameters(self, x):
        gh, h = self.GATES * self.args["hidden_size"], self.args["hidden_size"]
        params = {"weight_ih": (gh, x[-1]), "weight_hh": (gh, h)}
        if self.args["bias"]:
            params.update(bias_ih=(gh,), bias_hh=(gh,))
        return params

    def macs(self, x, y):
        return numel(x[:-1]) * self.GATES * self.args["hidden_size"] * (x[-1] + self.args["hidden_size"])

    def autocast_weights(self, x, input_grad):
        """weight_ih's low-precision copy, for the input's gradient; weight_hh's is not kept (the zero
        state it multiplies needs no gradient)."""
        return [self.parameters(x)["weight_ih"]] if input_grad else []

    def runs_float32(self, x):
        return self.TYPE != "RNNCell" and self.mixed == "float32"

    def flops(self, x, y):
        steps = numel(x[:-1])
        biases = 2 * self.GATES * self.args["hidden_size"] if self.args["bias"] else 0
        return 2 * self.macs(x, y) + steps * (biases + self.GATE_FLOPS * self.args["hidden_size"])


@register
class RNNCell(Cell):
    __doc__ = Cell.__doc__
    TYPE = "RNNCell"
    ARGS = Cell.ARGS + (Arg("nonlinearity", "tanh", "choice", ("tanh", "relu")),)

    def saved(self, x, y):
        """The input, the zero initial state and the output (tanh or relu keeps it)."""
        return ["input", (y, "act"), "output"]


@register
class LSTMCell(Cell):
    __doc__ = Cell.__doc__
    TYPE = "LSTMCell"
    FORWARD = "{m}({x})[0]"  # (h', c')
    CALL_KIND = "tuple"
    GATES, GATE_FLOPS = 4, 9

    def saved(self, x, y):
        """The input, the zero state (one tensor for h and c), the gates (N, 4H) and the new cell; under
        autocast on a float32 input the zero h's cast and the float32 zero c, and the new cell is
        float32."""
        if self.runs_float32(x):
            return ["input", (y, "low"), (y, "float32"), ((*y[:-1], 4 * y[-1]), "low"), (y, "float32")]
        return ["input", (y, "act"), ((*y[:-1], 4 * y[-1]), "act"), (y, "act")]


@register
class GRUCell(Cell):
    __doc__ = Cell.__doc__
    TYPE = "GRUCell"
    GATES, GATE_FLOPS = 3, 9

    def saved(self, x, y):
        """The input, the zero state, the gates' input projections (N, 3H) and three (N, H) tensors;
        under autocast on a float32 input the zero state's cast, and h − n is float32."""
        if self.runs_float32(x):
            return ["input", (y, "low"), ((*y[:-1], 3 * y[-1]), "low"), (y, "low"), (y, "low"), (y, "float32")]
        return ["input", (y, "act"), ((*y[:-1], 3 * y[-1]), "act")] + [(y, "act")] * 3
