"""netcalc solve against torch 2.13: for generated conv, pool and transposed-conv layers, blank
some arguments, put the true output shape (from torch) in ``expect``, and check that (1) every
solution netcalc lists builds a torch layer with exactly that output and (2) the values the
layer was made with are among the solutions. Then the fill-in-the-blank homework specs."""

from __future__ import annotations

import glob
import os
import re
import warnings

import pytest

torch = pytest.importorskip("torch", reason="the solve differential tests need torch==2.13.0 "
                                            "(pip install torch==2.13.0)")

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

from netcalc.solver import solve_text

# SOLVE_EXAMPLES=600 SOLVE_RANDOM=1 run a longer, random search
SETTINGS = settings(max_examples=int(os.environ.get("SOLVE_EXAMPLES", "45")), deadline=None, database=None,
                    derandomize=not os.environ.get("SOLVE_RANDOM"),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKED = 12  # solutions built in torch per example (the first and the last ones)


def torch_shape(module, shape):
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = module(torch.zeros(shape))
    return list((out[0] if isinstance(out, tuple) else out).shape)


def build(code: str):
    return eval(code, {"nn": nn})


@st.composite
def layers(draw):
    """(kind, rank, input shape, spec args, per-axis arg names) of a layer torch accepts."""
    kind = draw(st.sampled_from(["conv", "conv", "pool", "avgpool", "transposed"]))
    # AvgPool3d is left out: torch also wants each input size >= the kernel there, which
    # netcalc's AvgPool3d does not check yet (AvgPool1d/2d and MaxPool3d do not need it)
    rank = draw(st.sampled_from([1, 2, 2] if kind == "avgpool" else [1, 2, 2, 3]))
    size = 9 if rank < 3 else 6
    shape = [1, draw(st.sampled_from([1, 2, 4, 6])), *[draw(st.integers(1, size)) for _ in range(rank)]]

    def axes(lo, hi):
        return [draw(st.integers(lo, hi)) for _ in range(rank)]

    args = {"kernel_size": axes(1, 4), "stride": axes(1, 3)}
    if kind == "conv":
        g = draw(st.sampled_from([1, 1, 2]))
        assume(shape[1] % g == 0)
        args.update(out_channels=g * draw(st.integers(1, 3)), padding=axes(0, 2), dilation=axes(1, 2), groups=g)
    elif kind == "pool":
        args.update(padding=[draw(st.integers(0, k // 2)) for k in args["kernel_size"]], dilation=axes(1, 2),
                    ceil_mode=draw(st.booleans()))
    elif kind == "avgpool":
        args.update(padding=[draw(st.integers(0, k // 2)) for k in args["kernel_size"]],
                    ceil_mode=draw(st.booleans()))
    else:
        args.update(out_channels=draw(st.integers(1, 3)), padding=axes(0, 2), dilation=axes(1, 2))
        args["output_padding"] = [draw(st.integers(0, max(s, d) - 1)) for s, d in zip(args["stride"], args["dilation"])]
    cls = {"conv": "Conv", "pool": "MaxPool", "avgpool": "AvgPool", "transposed": "ConvTranspose"}[kind]
    type_name = f"{cls}{rank}d"
    try:
        kw = dict(args)
        if kind in ("conv", "transposed"):
            module = getattr(nn, type_name)(shape[1], **kw)
        else:
            module = getattr(nn, type_name)(**kw)
        out = torch_shape(module, shape)
    except (RuntimeError, ValueError):
        assume(False)
    assume(all(v > 0 for v in out))
    per_axis = [a for a in ("kernel_size", "stride", "padding", "dilation", "output_padding") if a in args]
    blanks = draw(st.lists(st.sampled_from(per_axis + [a for a in ("out_channels", "groups", "ceil_mode")
                                                       if a in args]), min_size=1, max_size=3, unique=True))
    spec_args = dict(args)
    truth = {}
    for a in blanks:
        if a in per_axis and rank > 1 and draw(st.booleans()):
            axis = draw(st.integers(0, rank - 1))  # blank one axis only
            spec_args[a] = ["_" if i == axis else v for i, v in enumerate(args[a])]
        else:
            spec_args[a] = "_"
        truth[a] = args[a]
    return type_name, rank, shape, spec_args, truth, out


def flat(v, rank):
    return tuple(v) if isinstance(v, list) else (v,) * rank if rank and not isinstance(v, bool) else (v,)


@SETTINGS
@given(layers())
def test_solutions_are_exactly_what_torch_builds(case):
    type_name, rank, shape, spec_args, truth, out = case
    text = yaml.safe_dump({"input": shape, "layers": [{type_name: {**spec_args, "expect": out}}]},
                          default_flow_style=True)
    result = solve_text(text)
    doc = result.to_dict()
    assert doc["count"] != 0, (text, doc.get("unmet"))
    sols = doc["solutions"]
    for sol in sols[:CHECKED // 2] + sols[-CHECKED // 2:]:
        [code] = sol["code"]
        assert torch_shape(build(code), shape) == out, (text, code)
    name = f"{type_name}_1"
    want = {f"{name}.{a}": v for a, v in truth.items()}
    keys = list(sols[0]["assignments"])
    assert set(keys) == set(want), (keys, want)
    per_axis = {k: rank if k.split(".")[1] not in ("out_channels", "groups", "ceil_mode") else 0 for k in keys}
    key_of = [lambda s, k=k: flat(s[k], per_axis[k]) for k in keys]
    truth_key = tuple(f(want) for f in key_of)
    listed = [tuple(f(s["assignments"]) for f in key_of) for s in sols]
    assert listed == sorted(listed), text
    if doc["count"] is not None or truth_key <= listed[-1]:
        assert truth_key in listed, (text, truth_key, listed[:5])


# ---------------------------------------------------------------- the homework's fill-in-the-blank specs

FILL_SPECS = sorted(glob.glob(os.path.join(ROOT, "specs", "homework", "fill_*.yaml")))


def answer_in_comment(text: str) -> str | None:
    """The ``nn.X(...)`` call after ``answer (torch ...):`` in the spec's comment, if any."""
    comment = " ".join(line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#"))
    m = re.search(r"answer[^:]*:\s*(nn\.\w+\()", comment)
    if not m:
        return None
    start, depth = m.start(1), 0
    for i in range(m.end(1) - 1, len(comment)):
        depth += {"(": 1, ")": -1}.get(comment[i], 0)
        if depth == 0:
            return comment[start:i + 1]
    return None


@pytest.mark.skipif(not FILL_SPECS, reason="no specs/homework/fill_*.yaml yet")
@pytest.mark.parametrize("path", FILL_SPECS, ids=os.path.basename)
def test_fill_in_the_blank_specs(path):
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    spec = yaml.safe_load(text)
    result = solve_text(text, path)
    assert result.count == 1, (result.count, result.unmet)
    sol = result.solutions[0]
    meta = torch.device("meta")  # shapes without the arithmetic: the inputs here are large
    x = torch.zeros(spec["input"], device=meta)
    for code, (name, x_in, y, states) in zip(sol.code, sol.shapes):
        module = build(code).to(meta)
        with torch.no_grad():
            if states:  # a recurrent layer: feed h_0 (and c_0) of the state shapes netcalc reports
                h = tuple(torch.zeros(list(states[k]), device=meta) for k in ("h_n", "c_n") if k in states)
                out, _ = module(x, h if len(h) > 1 else h[0])
            else:
                out = module(x)
        assert list(out.shape) == list(y), (code, out.shape, y)
        x = out
    layer = spec["layers"][-1]
    expect = next(iter(layer.values()))["expect"] if isinstance(layer, dict) else None
    assert list(x.shape) == [v for v in expect], (path, x.shape, expect)
    answer = answer_in_comment(text)
    if answer is not None and len(sol.code) == 1:
        assert str(build(answer)) == str(build(sol.code[0])), (answer, sol.code[0])


# ---------------------------------------------------------------- blanks in blocks, repeats and merges

STRUCTURED = """\
input: [1, {c0}, {h}, {h}]
blocks:
  Unit:
    args: {{planes: 8, stride: 1}}
    layers:
      - residual:
          layers:
            - Conv2d: {{out_channels: planes, kernel_size: 3, stride: stride, padding: 1, bias: false, name: conv1}}
            - BatchNorm2d: {{name: bn1}}
            - ReLU: {{name: relu}}
            - Conv2d: {{out_channels: planes, kernel_size: 3, padding: 1, bias: false, name: conv2}}
          shortcut:
            name: downsample
            layers:
              - Conv2d: {{out_channels: planes, kernel_size: 1, stride: stride, bias: false,
                         when: "stride != 1 or in_channels != planes"}}
      - ReLU: {{name: out}}
layers:
  - Conv2d: {{out_channels: {c1}, kernel_size: <<stem.kernel_size>>, padding: {p1}, name: stem}}
  - Unit: {{planes: <<u1.planes>>, stride: <<u1.stride>>, repeat: {n1}, name: u1}}
  - Unit: {{planes: <<u2.planes>>, stride: <<u2.stride>>, name: u2}}
  - concat:
      name: mix
      branches:
        - [{{Conv2d: {{out_channels: <<mix.0.0.out_channels>>, kernel_size: 1}}}}]
        - [{{MaxPool2d: {{kernel_size: 3, stride: 1, padding: 1}}}}]
  - AdaptiveAvgPool2d: {{output_size: 2}}
  - Flatten: {{}}
  - Linear: {{out_features: 5, expect: {expect}}}
"""
SLOTS = ("stem.kernel_size", "u1.planes", "u1.stride", "u2.planes", "u2.stride", "mix.0.0.out_channels")


def fill(template: str, values: dict) -> str:
    for key, v in values.items():
        template = template.replace(f"<<{key}>>", str(v))
    return template


def exported_shape(text: str):
    from netcalc.export import export_text

    e = export_text(text)
    namespace = {"__name__": "exported"}
    exec(compile(e.code, "<export>", "exec"), namespace)  # noqa: S102 (netcalc's own generated code)
    with torch.device("meta"):
        model = namespace["Net"]().eval()
    with torch.no_grad():
        return list(model(torch.zeros(e.input_shape, device="meta")).shape)


@st.composite
def structured(draw):
    """A small ResNet-like spec, its true values, and some of them blanked."""
    h = draw(st.integers(6, 20))
    k = draw(st.sampled_from([1, 3, 5]))
    truth = {"stem.kernel_size": k, "u1.planes": draw(st.sampled_from([4, 8])), "u1.stride": draw(st.integers(1, 2)),
             "u2.planes": draw(st.sampled_from([4, 8, 12])), "u2.stride": draw(st.integers(1, 2)),
             "mix.0.0.out_channels": draw(st.integers(1, 6))}
    blanks = draw(st.lists(st.sampled_from(SLOTS), min_size=1, max_size=3, unique=True))
    template = STRUCTURED.format(c0=draw(st.integers(1, 3)), h=h, c1=draw(st.sampled_from([4, 8])), p1=k // 2,
                                 n1=draw(st.integers(1, 2)), expect="<<expect>>")
    true_text = fill(template, {**truth, "expect": "[1, 5]"})
    return template, truth, blanks, true_text


@settings(max_examples=int(os.environ.get("SOLVE_EXAMPLES", "30")), deadline=None, database=None,
          derandomize=not os.environ.get("SOLVE_RANDOM"), suppress_health_check=[HealthCheck.too_slow])
@given(structured())
def test_blanks_in_blocks_and_merges_are_solved_as_torch_builds(case):
    """Blank arguments of block calls (one unknown per call), of a layer in a concat branch and of
    the stem; the expect on the last layer alone does not fix everything, so an expect on the
    concat's output comes from torch too. Every listed solution, filled in, must build in torch
    with exactly the expected output; the true values must be among them when all are listed."""
    template, truth, blanks, true_text = case
    from netcalc.network import analyze_text

    true_shape = exported_shape(true_text)
    mix = next(r for r in analyze_text(true_text).layers if r.name == "mix.concat").output_shape
    text = fill(template.replace("name: mix\n", f"name: mix\n      expect: {list(mix)}\n"),
                {**{k: "_" for k in blanks}, **{k: v for k, v in truth.items() if k not in blanks},
                 "expect": str(true_shape)})
    result = solve_text(text)
    assert result.count != 0, (text, result.unmet)
    sols = result.solutions
    for sol in sols[:3] + sols[-3:]:
        filled = fill(template.replace("name: mix\n", f"name: mix\n      expect: {list(mix)}\n"),
                      {**truth, **sol.assignments, "expect": str(true_shape)})
        assert exported_shape(filled) == true_shape, (text, sol.assignments)
        assert next(r for r in analyze_text(filled).layers if r.name == "mix.concat").output_shape == mix
    if result.count is not None:
        listed = [{k: v for k, v in s.assignments.items()} for s in sols]
        want = {k: truth[k] for k in blanks}
        assert any(all(flat(s[k], 2) == flat(want[k], 2) if k == "stem.kernel_size" else s[k] == want[k]
                       for k in want) for s in listed), (text, want, listed[:5])
