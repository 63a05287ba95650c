"""docs/examples/netcalc.ipynb runs in a real Jupyter kernel (nbclient) and shows what it says."""

from __future__ import annotations

import os

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat, nbclient, ipykernel (test extra)")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient (test extra)")
pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel (test extra)")

NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "examples",
                        "netcalc.ipynb")


def test_the_example_notebook_runs_and_shows_its_tables():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = [c.outputs for c in nb.cells if c.cell_type == "code"]
    assert all(not any(o.output_type == "error" for o in out) for out in outputs)

    def data(i, kind="text/plain"):
        return outputs[i][-1]["data"][kind]

    html = data(0, "text/html")
    assert html.startswith("<p><b>CPEN455 HW2 Q2</b>") and "<td>H1</td>" in html and "2,836,042" in html
    assert "'params': 2836042" in data(1)
    assert data(2) == "((B, N, floor(H/2 - K/2 + P) + 1, floor(-K/2 + P + W/2) + 1), C*K**2*N + N)"
    assert data(3) == "(1, 64, 112, 112)"
    assert data(4) == "'25,557,032 parameters, 4.09 GMACs'"
    assert "'Conv2d_1.out_channels': 34" in data(5) and "nn.Conv2d(36, 34, kernel_size=3, stride=2)" in data(5)
    assert "'output_padding': 1" in data(6)
