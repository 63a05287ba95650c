"""The Python API (netcalc/__init__.py, netcalc/api.py): every public name, called as a notebook would."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import netcalc
from netcalc.symbolic import symbol

SEED = """name: seed
input: [1, 3, 32, 32]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1, name: conv}
  - ReLU
  - MaxPool2d: {kernel_size: 2}
  - Flatten
  - Linear: {out_features: 10, name: fc}
"""


def test_importing_netcalc_loads_no_heavy_module():
    code = "import sys, netcalc; print([m for m in ('typer', 'rich', 'sympy', 'yaml') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_names():
    assert set(netcalc.__all__) >= {"analyze", "solve", "solve_padding", "from_module", "Report", "SpecError"}
    for name in netcalc.__all__:
        assert getattr(netcalc, name) is not None
    with pytest.raises(AttributeError):
        netcalc.nothing_here  # noqa: B018


@pytest.mark.parametrize("source", ["text", "path", "dict", "zoo"])
def test_analyze_takes_every_kind_of_spec(source, tmp_path):
    import yaml

    if source == "zoo":
        report = netcalc.analyze("lenet5")
        assert report.totals["params"] == 61_706
        return
    path = tmp_path / "seed.yaml"
    path.write_text(SEED)
    spec = {"text": SEED, "path": str(path), "dict": yaml.safe_load(SEED)}[source]
    report = netcalc.analyze(spec)
    assert isinstance(report, netcalc.Report)
    assert report.totals == {"weights": 8 * 27 + 8 * 16 * 16 * 10, "biases": 18,
                             "params": 8 * 27 + 8 * 16 * 16 * 10 + 18, "macs": 8 * 32 * 32 * 27 + 2048 * 10,
                             "flops": report.totals["flops"]}
    conv = report.layers[0]
    assert (conv.name, conv.type, conv.input_shape, conv.output_shape) == ("conv", "Conv2d", (1, 3, 32, 32),
                                                                           (1, 8, 32, 32))
    assert conv.rf == {"size": [3, 3], "jump": [1, 1], "start": [0, 0]}


def test_to_dict_is_the_cli_json(cli, tmp_path):
    path = tmp_path / "seed.yaml"
    path.write_text(SEED)
    result = cli("summary", str(path), "--format", "json")
    assert netcalc.analyze(str(path)).to_dict() == json.loads(result.output)


def test_symbols_stay_sympy_and_set_substitutes():
    import sympy

    text = SEED.replace("[1, 3, 32, 32]", "[B, 3, H, H]")
    report = netcalc.analyze(text)
    assert isinstance(report.totals["macs"], sympy.Expr)
    assert report.layers[0].output_shape[2].free_symbols == {symbol("H")}
    assert netcalc.analyze(text, set={"B": 1, "H": 32}).totals == netcalc.analyze(SEED).totals


def test_no_bias_and_dtype():
    assert netcalc.analyze(SEED, no_bias=True).totals["biases"] == 0
    assert netcalc.analyze(SEED, dtype="float16").to_dict()["totals"]["param_bytes"] == 2 * netcalc.analyze(
        SEED).totals["params"]
    with pytest.raises(ValueError, match="float32"):
        netcalc.analyze(SEED, dtype="float12")


def test_views_of_a_report():
    report = netcalc.analyze(SEED)
    assert "conv" in str(report) and "┏" in str(report)
    assert report._repr_markdown_().startswith("**seed**") and "| conv |" in report._repr_markdown_()
    page = report._repr_html_()
    assert page.startswith("<p><b>seed</b>") and "<td>conv</td>" in page and page.endswith("</table>")
    named = netcalc.analyze(SEED.replace("name: fc", "name: '<b>&x'"))
    assert "&lt;b&gt;&amp;x" in named._repr_html_() and "<b>&x" not in named._repr_html_()


def test_to_dataframe():
    pd = pytest.importorskip("pandas", reason="to_dataframe needs pandas (pip install pandas)")
    frame = netcalc.analyze(SEED).to_dataframe()
    assert isinstance(frame, pd.DataFrame) and list(frame["name"])[:2] == ["conv", "ReLU_2"]
    assert frame.loc[1, "rf_size"] == [3, 3]


def test_spec_errors_carry_file_line_column_and_the_cli_line(cli, tmp_path):
    bad = SEED.replace("kernel_size: 3, padding: 1", "kernel_size: 300")
    with pytest.raises(netcalc.SpecError) as e:
        netcalc.analyze(bad)
    assert (e.value.file, e.value.line, e.value.column) == ("<text>", 4, 5)
    assert str(e.value).startswith("<text>:4:5: error: conv (Conv2d): output size along H")
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    with pytest.raises(netcalc.SpecError) as e:
        netcalc.analyze(str(path))
    assert str(e.value) == cli("shapes", str(path)).stderr.strip()
    with pytest.raises(FileNotFoundError, match="resnet50"):
        netcalc.analyze("resnet5")


def test_solve_and_solve_padding_return_the_contract_documents():
    out = netcalc.solve("input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: _, kernel_size: 3, "
                        "expect: [1, 4, 6, 6]}\n")
    assert out == {"count": 1, "solutions": [{"assignments": {"Conv2d_1.out_channels": 4},
                                              "code": ["nn.Conv2d(3, 4, kernel_size=3)"]}]}
    assert netcalc.solve_padding(size=28, kernel=3, stride=2, padding=1) == {"axes": [
        {"size": 28, "kernel": 3, "stride": 2, "padding": 1, "dilation": 1, "conv_output": 14, "output_padding": 1,
         "same_padding": [0, 1]}]}
    assert [a["conv_output"] for a in netcalc.solve_padding(size=[28, 30], kernel=3)["axes"]] == [26, 28]
    assert netcalc.solve_padding(size="H", kernel=3, stride=2)["axes"][0]["conv_output"] == "ceiling(H/2) - 1"
    with pytest.raises(ValueError, match="does not fit"):
        netcalc.solve_padding(size=2, kernel=5)


def test_from_module_and_check():
    torch = pytest.importorskip("torch", reason="from_module and check need torch==2.13.0")
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(8 * 6 * 6, 10))
    report = netcalc.from_module(model, input_size=(2, 3, 8, 8))
    assert report.totals["params"] == sum(p.numel() for p in model.parameters())
    assert report.layers[-1].output_shape == (2, 10)
    assert report.check().agree
    assert netcalc.analyze(SEED).check().agree
    with pytest.raises(ValueError, match="cannot import"):
        netcalc.from_module(torch.nn.PairwiseDistance(), input_size=(2, 3))


def test_api_names_survive_importing_every_module():
    """A submodule import sets an attribute of the package: no module may share a public name."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(netcalc.__path__):
        if info.name not in ("__main__",):
            importlib.import_module(f"netcalc.{info.name}")
    assert callable(netcalc.solve) and callable(netcalc.analyze) and callable(netcalc.solve_padding)
    assert callable(netcalc.from_module) and isinstance(netcalc.SpecError, type)
