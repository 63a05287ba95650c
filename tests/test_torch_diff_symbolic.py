"""Differential tests through netcalc's symbolic path: the spec's input dims and some layer
arguments are letters without values, so netcalc answers with sympy expressions (floors,
Piecewise for ceil_mode); evaluated at the values torch was given, every shape, parameter
shape, count, MAC and FLOP must be torch's."""

import pytest

torch = pytest.importorskip("torch", reason="differential suite needs torch==2.13.0 (pip install torch==2.13.0)")

import torch_oracle as oracle
from hypothesis import strategies as st

from netcalc.errors import SpecError


class Symbols:
    """Draws values and hands out letters for them: ``sym('K', 3)`` is ('K1', 3) with K1 = 3, or (3, 3)."""

    def __init__(self, draw):
        self.draw, self.values = draw, {}

    def __call__(self, stem, values, symbolic=True):
        v = self.draw(values) if not isinstance(values, int) else values
        if v < 1 or not symbolic or not self.draw(st.booleans()):  # every letter is a positive integer
            return v, v
        name = f"{stem}{len(self.values) + 1}"
        self.values[name] = v
        return name, v


@st.composite
def image_nets(draw):
    sym = Symbols(draw)
    rank = draw(st.sampled_from([1, 2]))
    dims = [sym("N", st.integers(1, 2)), sym("C", st.integers(1, 4))] + \
        [sym("H", st.integers(6, 16)) for _ in range(rank)]
    spec_input, torch_input = [d[0] for d in dims], [d[1] for d in dims]
    spec, real = [], []

    def add(kind, spec_args, real_args):
        spec.append((kind, spec_args))
        real.append((kind, real_args))

    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "conv", "maxpool", "avgpool", "transposed", "BatchNorm", "ReLU"]))
        if kind in ("conv", "transposed"):
            (m, mv), (k, kv), (s, sv) = sym("M", st.integers(1, 5)), sym("K", st.integers(1, 4)), \
                sym("S", st.integers(1, 2))
            sa, ra = {"out_channels": m, "kernel_size": k, "stride": s}, {"out_channels": mv, "kernel_size": kv,
                                                                           "stride": sv}
            if kind == "conv" and isinstance(k, str) and draw(st.booleans()):
                sa["padding"], ra["padding"] = f"{k}//2", kv // 2
            elif draw(st.booleans()):
                p, pv = sym("P", st.integers(0, 2))
                sa["padding"], ra["padding"] = p, pv
            if kind == "transposed" and sv > 1 and draw(st.booleans()):
                sa["output_padding"] = ra["output_padding"] = 1
            add(kind, sa, ra)
        elif kind in ("maxpool", "avgpool"):
            k, kv = sym("K", st.integers(1, 3))
            s, sv = sym("S", st.integers(1, 3))
            p, pv = sym("P", st.integers(0, kv // 2))
            ceil = draw(st.booleans())
            add(kind, {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil},
                {"kernel_size": kv, "stride": sv, "padding": pv, "ceil_mode": ceil})
        elif kind == "BatchNorm":
            add(f"BatchNorm{rank}d", {}, {})
        else:
            add(kind, {}, {})
    if draw(st.booleans()):
        o, ov = sym("O", st.integers(1, 6))
        add("Flatten", {}, {})
        add("Linear", {"out_features": o}, {"out_features": ov})
    return spec_input, torch_input, spec, real, sym.values


@st.composite
def sequence_nets(draw):
    sym = Symbols(draw)
    heads = draw(st.integers(1, 2))
    (L, lv), (n, nv) = sym("L", st.integers(1, 4)), sym("B", st.integers(1, 3))
    e, ev = sym("E", st.sampled_from([heads * k for k in range(1, 4)]))
    spec, real = [], []
    wv = ev  # the current width's value
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["LSTM", "GRU", "Linear", "MultiheadAttention", "TransformerEncoderLayer"]))
        if kind in ("LSTM", "GRU"):
            (h, hv) = sym("Hd", st.integers(1, 4))
            args = {"hidden_size": h, "num_layers": draw(st.integers(1, 2)), "bidirectional": draw(st.booleans())}
            spec.append((kind, args))
            real.append((kind, {**args, "hidden_size": hv}))
            mult = 2 if args["bidirectional"] else 1
            wv = mult * hv
        elif kind == "Linear":
            o, ov = sym("O", st.sampled_from([2, 4]))
            spec.append((kind, {"out_features": o}))
            real.append((kind, {"out_features": ov}))
            wv = ov
        elif wv % heads == 0:
            if kind == "MultiheadAttention":
                args = {"num_heads": heads, "add_bias_kv": draw(st.booleans()), "add_zero_attn": draw(st.booleans())}
                spec.append((kind, args))
                real.append((kind, args))
            else:
                f, fv = sym("F", st.integers(1, 8))
                args = {"nhead": heads, "norm_first": draw(st.booleans())}
                spec.append((kind, {**args, "dim_feedforward": f}))
                real.append((kind, {**args, "dim_feedforward": fv}))
    return [L, n, e], [lv, nv, ev], spec, real, sym.values


SYMBOLIC_ROWS = []


def check(case):
    spec_input, torch_input, spec, real, values = case
    try:
        tls = oracle.run_torch(torch_input, real)
    except oracle.TorchRejected:
        return "error"  # netcalc cannot see this without values; the numeric tests cover it
    text = oracle.spec_text(spec_input, spec)
    report = oracle.run_netcalc(text)
    assert not isinstance(report, SpecError), f"torch accepts at {values} but netcalc says: {report}\n{text}"
    for row, tl in zip(report.layers, tls, strict=True):
        oracle.assert_row_matches(row, tl, f"layer {row.index} ({row.type}) at {values}\n{text}", subs=values)
        SYMBOLIC_ROWS.append(not all(isinstance(v, int) for v in (*row.output_shape, row.params, row.macs)))
    with_values = oracle.run_netcalc(text, values=values)  # --set for every letter: plain numbers
    for row, tl in zip(with_values.layers, tls, strict=True):
        oracle.assert_row_matches(row, tl, f"layer {row.index} ({row.type}) with --set {values}\n{text}")
    return "ok"


@pytest.mark.parametrize("nets", [image_nets, sequence_nets])
def test_symbolic_nets_evaluate_to_torch(nets):
    SYMBOLIC_ROWS.clear()
    oracle.run_cases(nets(), check, min_ok=20, max_examples=40)
    assert sum(SYMBOLIC_ROWS) >= len(SYMBOLIC_ROWS) // 3, "too few rows were symbolic to test the symbolic path"



# (symbolic input, values, symbolic layers, the same layers at those values)
EDGES = [
    ("ceil_mode window that would start past the input is dropped", [1, 1, "H"], {"H": 6},
     [("MaxPool1d", {"kernel_size": 1, "stride": 3, "ceil_mode": True})],
     [("MaxPool1d", {"kernel_size": 1, "stride": 3, "ceil_mode": True})]),
    ("ceil_mode window starting inside the left padding is kept", [1, 2, "H", "W"], {"H": 7, "W": 8, "P": 1},
     [("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": "P", "ceil_mode": True})],
     [("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True})]),
    ("chained strided convs", [2, "C", "H"], {"C": 3, "H": 29, "K": 3},
     [("Conv1d", {"out_channels": 4, "kernel_size": "K", "stride": 2, "padding": "K//2"}),
      ("Conv1d", {"out_channels": 5, "kernel_size": "K", "stride": 3}),
      ("ConvTranspose1d", {"out_channels": 2, "kernel_size": "K", "stride": 2, "output_padding": 1})],
     [("Conv1d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1}),
      ("Conv1d", {"out_channels": 5, "kernel_size": 3, "stride": 3}),
      ("ConvTranspose1d", {"out_channels": 2, "kernel_size": 3, "stride": 2, "output_padding": 1})]),
]


@pytest.mark.parametrize("why,shape,values,spec,real", EDGES, ids=[e[0] for e in EDGES])
def test_symbolic_edge_cases(why, shape, values, spec, real):
    torch_shape = [values.get(d, d) for d in shape]
    assert check((shape, torch_shape, spec, real, values)) == "ok", why
