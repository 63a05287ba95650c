"""``netcalc import``: models written in plain torch here, imported, analysed, compared with torch.

For each model the imported spec is analysed by netcalc and compared with what torch's forward
hooks see on the real model: every module call's output shape and parameter count, in order,
and the total parameters against ``sum(p.numel())``. Where the zoo has a reference model
(tests/test_zoo_seq.py), the import must give the zoo spec's numbers row for row.
"""

from __future__ import annotations

import math
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="netcalc import needs torch (pip install torch==2.13.0)")

from torch import nn
from torch.nn import functional as F

from netcalc.importer import ImportFailure, import_model

MERGES = {"Add", "Concat", "Multiply"}


# ----------------------------------------------------------------------------- the comparison

def torch_calls(model, x):
    """(module path, output shape, parameters) of every leaf module call, in call order."""
    calls = []
    whole = (nn.LSTM, nn.GRU, nn.RNN, nn.MultiheadAttention, nn.TransformerEncoderLayer)
    skip = [p for p, m in model.named_modules() if isinstance(m, whole)]
    handles = []
    for path, mod in model.named_modules():
        if not path or any(path.startswith(s + ".") for s in skip):
            continue
        if isinstance(mod, whole) or next(mod.children(), None) is None:
            def hook(m, args, out, path=path):
                out = out[0] if isinstance(out, tuple) else out
                calls.append((path, tuple(out.shape), sum(p.numel() for p in m.parameters())))
            handles.append(mod.register_forward_hook(hook))
    model.eval()
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return calls


def imported(model, x):
    """Import ``model`` and check it against torch's hooks; returns the import result."""
    result = import_model(model, tuple(x.shape))
    rows = result.report.layers
    assert len(result.rows) == len(rows)
    ours = [(o.path, tuple(r.output_shape), r.params) for o, r in zip(result.rows, rows) if o.path]
    theirs = torch_calls(model, x)
    assert ours == theirs
    assert result.report.totals["params"] == sum(p.numel() for p in model.parameters())
    assert tuple(result.report.output_shape) == tuple(model(x).shape)
    return result


def names(result) -> list[str]:
    return [r.name for r in result.report.layers]


# ----------------------------------------------------------------------------- Sequentials

def test_nested_sequential_cnn_names_mirror_module_paths():
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Sequential(nn.Conv2d(16, 32, (3, 5), stride=2, bias=False), nn.BatchNorm2d(32), nn.LeakyReLU(0.2)),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(32, 10))
    result = imported(model, torch.randn(2, 3, 32, 32))
    assert names(result) == [p for p, _ in model.named_modules() if p and not isinstance(_, nn.Sequential)]
    text = result.text
    assert "kernel_size: [3, 5]" in text and "bias: false" in text and "negative_slope: 0.2" in text
    assert "padding_mode" not in text and "dilation" not in text  # defaults are left out
    assert "sequential:" in text and 'name: "3"' in text


def test_mlp():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.GELU(), nn.LayerNorm(256), nn.Linear(256, 10),
                          nn.LogSoftmax(dim=1))
    result = imported(model, torch.randn(4, 1, 28, 28))
    assert result.report.totals["params"] == 784 * 256 + 256 + 512 + 2570


# ----------------------------------------------------------------------------- LeNet-5 and an LSTM

class LeNet5(nn.Module):
    """The classic PyTorch tutorial net: functional relu/max_pool and x.view(-1, 400)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def test_lenet5_functional_ops():
    result = imported(LeNet5(), torch.randn(1, 1, 32, 32))
    types = [r.type for r in result.report.layers]
    assert types == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten",
                     "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert result.report.totals["params"] == 61706


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(1000, 64, padding_idx=0)
        self.lstm = nn.LSTM(64, 128, num_layers=2, batch_first=True, bidirectional=True, dropout=0.1)
        self.head = nn.Linear(256, 5)

    def forward(self, tokens):
        out, (_h, _c) = self.lstm(self.embed(tokens))
        return self.head(out[:, -1])


def test_lstm_model():
    result = imported(LSTMClassifier(), torch.zeros(3, 7, dtype=torch.long))
    assert [r.type for r in result.report.layers] == ["Embedding", "LSTM", "Select", "Linear"]
    assert "bidirectional: true" in result.text and "padding_idx: 0" in result.text
    assert result.report.layers[1].state_shapes["h_n"] == (4, 3, 128)


# ----------------------------------------------------------------------------- ResNet (torch.fx path)

class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet18(nn.Module):
    """torchvision's resnet18, transcribed (no torchvision)."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths, layers, inplanes = (64, 128, 256, 512), [], 64
        for i, planes in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes)))
            inplanes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@pytest.fixture(scope="module")
def resnet18_import():
    model = ResNet18()
    return model, imported(model, torch.randn(1, 3, 224, 224))


def test_resnet_residuals_and_names(resnet18_import):
    _, result = resnet18_import
    text = result.text
    assert text.count("residual:") >= 6 and "shortcut:" in text and "name: downsample" in text
    assert "BasicBlock: {name: \"0\"}" in text  # layer1's two identical blocks share one definition
    got = names(result)
    assert "layer2.0.downsample.0" in got and "layer4.1.conv2" in got
    assert sum(r.type == "Add" for r in result.report.layers) == 8


def test_resnet_agrees_with_the_zoo(resnet18_import):
    from netcalc.api import zoo_path
    from netcalc.network import analyze
    from netcalc.spec import parse

    _, result = resnet18_import
    zoo = analyze(parse(Path(zoo_path("resnet18")).read_text(), "resnet18.yaml"))
    assert result.report.totals == zoo.totals
    assert [(r.type, r.output_shape, r.params, r.rf) for r in result.report.layers] == \
           [(r.type, r.output_shape, r.params, r.rf) for r in zoo.layers]


# ----------------------------------------------------------------------------- other structures

class Inception(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1 = nn.Conv2d(8, 4, 1)
        self.b2 = nn.Sequential(nn.Conv2d(8, 4, 1), nn.Conv2d(4, 6, 3, padding=1))
        self.b3 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(8, 2, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x)], 1)


class SqueezeExcite(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, c // 4, 1), nn.Conv2d(c // 4, c, 1)

    def forward(self, x):
        g = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(g))))


class Mixed(nn.Module):
    """Concat branches, a squeeze-excitation multiply, a top-level residual and tensor ops."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.inc = Inception()
        self.se = SqueezeExcite(12)
        self.refine = nn.Conv2d(12, 12, 3, padding=1)
        self.head = nn.Linear(12, 3)

    def forward(self, x):
        x = self.se(self.inc(F.relu(self.stem(x))))
        x = x + self.refine(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.head(x)


def test_concat_multiply_and_top_level_residual():
    result = imported(Mixed(), torch.randn(2, 3, 16, 16))
    text = result.text
    assert "concat:" in text and "multiply:" in text and "residual:" in text
    assert [r.type for r in result.report.layers if r.type in MERGES] == ["Concat", "Multiply", "Add"]


class UNetish(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.enc2 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ConvTranspose2d(16, 8, 2, 2)
        self.dec = nn.Conv2d(16, 2, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        return self.dec(torch.cat([e1, self.up(self.enc2(self.pool(e1)))], dim=1))


def test_unet_skip_is_a_concat_with_an_identity_branch():
    result = imported(UNetish(), torch.randn(1, 3, 32, 32))
    assert "- []" in result.text  # cat([e1, ...]): e1 itself is the first branch


class TinyViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 32, 8, 8)
        self.cls = nn.Parameter(torch.zeros(1, 1, 32))
        self.pos = nn.Parameter(torch.zeros(1, 17, 32))
        layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, activation="gelu", norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(32), enable_nested_tensor=False)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return self.head(self.encoder(x)[:, 0])


def test_transformer_class_token_and_positional_embedding():
    model = TinyViT()
    result = import_model(model, (2, 3, 32, 32))
    types = [r.type for r in result.report.layers]
    assert types == ["Conv2d", "Flatten", "Transpose", "ClassToken", "PositionalEmbedding",
                     "TransformerEncoderLayer", "TransformerEncoderLayer", "LayerNorm", "Select", "Linear"]
    assert names(result)[5:8] == ["encoder.layers.0", "encoder.layers.1", "encoder.norm"]
    assert result.report.totals["params"] == sum(p.numel() for p in model.parameters())
    assert "norm_first: true" in result.text and "activation: gelu" in result.text


class Branchy(nn.Module):
    """fx cannot trace this (control flow on a value), but the modules form a chain."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = nn.ReLU()

    def forward(self, x):
        if x.sum() > 0:
            return self.act(self.conv(x))
        return self.act(self.conv(x))


def test_untraceable_chain_falls_back_to_hooks():
    result = imported(Branchy(), torch.ones(1, 3, 8, 8))
    assert any("cannot trace" in w for w in result.warnings)


class FunctionalOps(nn.Module):
    """Pads, interpolation, functional pools, a depthwise conv, squeeze/permute, a GRU, softmax."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 8, 3)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.gru = nn.GRU(8, 6, batch_first=True)
        self.bn = nn.BatchNorm1d(6)
        self.lin = nn.Linear(6, 4)

    def forward(self, x):
        x = self.c(F.pad(x, (1, 1, 2, 2)))
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.relu6(self.dw(F.avg_pool2d(x, 3, stride=2, padding=1)))
        x = F.adaptive_max_pool2d(x, (4, 1)).squeeze(-1).permute(0, 2, 1).contiguous()  # (N, 4, 8)
        x, _ = self.gru(x)
        x = F.softmax(self.lin(self.bn(x.mean(dim=1))), dim=-1)
        return x.unsqueeze(1)


class Stack(nn.Module):
    """A ModuleList iterated in forward: its items become a sequential named like the list."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(16 if i == 0 else 32, 32) for i in range(3))
        self.out = nn.Linear(32, 2)

    def forward(self, x):
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return self.out(x)


def test_module_list():
    result = imported(Stack(), torch.randn(5, 16))
    # the loop's tanh calls between the list's items join its group; the last one follows it
    assert names(result) == ["layers.0", "layers.tanh", "layers.1", "layers.tanh_1", "layers.2", "tanh_2", "out"]
    assert "name: layers" in result.text


def test_functional_ops():
    result = imported(FunctionalOps(), torch.randn(2, 3, 16, 16))
    assert [r.type for r in result.report.layers] == [
        "ZeroPad2d", "Conv2d", "Upsample", "AvgPool2d", "Conv2d", "ReLU6", "AdaptiveMaxPool2d", "Reshape", "Permute",
        "GRU", "Mean", "BatchNorm1d", "Linear", "Softmax", "Reshape"]
    assert "groups: 8" in result.text and "mode: bilinear" in result.text



def test_new_layer_kinds_import_through_the_registry():
    """A kind added as one class in netcalc/layers/ imports with no change to the importer."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ChannelShuffle(2), nn.FractionalMaxPool2d(2, output_size=4),
                          nn.CrossMapLRN2d(3), nn.Unfold(2, stride=2), nn.Fold(4, 2, stride=2), nn.Flatten(),
                          nn.GRUCell(128, 16))
    result = imported(model, torch.randn(2, 3, 10, 10))
    assert [r.type for r in result.report.layers] == ["Conv2d", "ChannelShuffle", "FractionalMaxPool2d",
                                                      "CrossMapLRN2d", "Unfold", "Fold", "Flatten", "GRUCell"]
    assert result.report.totals["params"] == sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- the zoo's reference models

@pytest.mark.parametrize("name", ["lenet5", "lstm_lm", "unet", "vit_b_16", "bert_base"])
def test_zoo_reference_models_import_to_the_zoo_numbers(name):
    sys.path.insert(0, str(Path(__file__).parent))
    import test_zoo_seq as zoo_refs

    from netcalc.api import zoo_path
    from netcalc.network import analyze
    from netcalc.spec import parse

    model, x, sets = zoo_refs.REFERENCES[name]()
    result = import_model(model, tuple(x.shape))
    zoo = analyze(parse(Path(zoo_path(name)).read_text(), name), sets)
    assert result.report.totals == zoo.totals
    key = [(r.type, r.output_shape, r.params) for r in result.report.layers if r.type not in MERGES]
    assert key == [(r.type, r.output_shape, r.params) for r in zoo.layers if r.type not in MERGES]


# ----------------------------------------------------------------------------- clear failures

class Dense(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        y = self.a(x)
        return torch.cat([x, y, self.b(torch.cat([x, y], 1))], 1)


class Tangled(Dense):
    def forward(self, x):
        y = self.a(x)
        return torch.cat([y, x, self.b(torch.cat([x, y], 1))], 1)  # no earlier cat is a front of [y, x, ...]


class Positions(nn.Module):
    def __init__(self):
        super().__init__()
        self.pos = nn.Embedding(16, 8)

    def forward(self, x):  # position ids used other than through a table
        ids = torch.arange(x.shape[1], device=x.device).float()
        return torch.cat([x, ids.expand(x.shape[0], -1).unsqueeze(-1)], -1)


def test_cat_over_a_growing_list_is_a_chain_of_concats():
    """cat(x, y, z) after cat(x, y) is cat(cat(x, y), z): DenseNet's torch.cat over a Python list."""
    result = import_model(Dense(), (1, 4, 8, 8))
    assert result.text.count("- concat:") == 2 and result.text.count("- []") == 2
    assert result.report.output_shape == (1, 12, 8, 8)
    assert result.report.totals["params"] == sum(p.numel() for p in Dense().parameters())


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.c(self.c(x))


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(8, 8)

    def forward(self, x):
        return torch.matmul(self.q(x), x.transpose(1, 2))


class Sliced(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return self.c(x)[:, :2]


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return self.c(x) * 0.5


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(4, 4, 1)

    def forward(self, x, y):
        return self.c(x) + y


class Distance(nn.Module):
    def __init__(self):
        super().__init__()
        self.c, self.d = nn.Conv2d(3, 4, 3), nn.PairwiseDistance()

    def forward(self, x):
        x = self.c(x)
        return self.d(x, x)


@pytest.mark.parametrize("model, shape, words", [
    (Tangled(), (1, 4, 8, 8), ["a (nn.Conv2d)", "DenseNet"]),
    (Positions(), (2, 5, 8), ["does not come from the model's input"]),
    (Shared(), (1, 4, 8, 8), ["c (nn.Conv2d)", "2 times", "same weights"]),
    (Sliced(), (1, 4, 8, 8), ["x[:, :2]", "Select"]),
    (TwoInputs(), (1, 4, 8, 8), ["2 inputs (x, y)"]),
    (Distance(), (1, 3, 8, 8), ["d (nn.PairwiseDistance)", "reads a second tensor"]),
    (nn.Sequential(nn.Linear(4, 4)), (1, 3), ["failed at 0 (nn.Linear)", "RuntimeError"]),
])
def test_what_cannot_be_expressed_fails_by_name(model, shape, words):
    with pytest.raises(ImportFailure) as e:
        import_model(model, shape)
    for w in words:
        assert w in str(e.value)


# ----------------------------------------------------------------------------- the command

MODELS_PY = textwrap.dedent("""
    import torch.nn as nn

    def make_net():
        return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 7 * 7, 10))
""")


def test_cli_import_then_summary(cli, tmp_path, monkeypatch):
    (tmp_path / "mymodels.py").write_text(MODELS_PY)
    monkeypatch.chdir(tmp_path)
    r = cli("import", "mymodels.py:make_net", "--input", "1,3,16,16", "-o", "net.yaml")
    assert r.exit_code == 0, r.stderr
    assert "agree with torch" in r.stderr
    r = cli("params", "net.yaml", "--format", "json")
    assert r.exit_code == 0
    import json

    doc = json.loads(r.stdout)
    assert doc["totals"]["params"] == 8 * 3 * 9 + 8 + 392 * 10 + 10
    assert [layer["name"] for layer in doc["layers"]] == ["0", "1", "2", "3"]
    r = cli("import", "mymodels:make_net", "--input", "1,3,16,16")  # a module name works too
    assert r.exit_code == 0 and r.stdout.startswith("# Imported from mymodels:make_net")


@pytest.mark.parametrize("args, message", [
    (["mymodels.py:nope", "--input", "1,3,16,16"], "has no 'nope'"),
    (["missing.py:make_net", "--input", "1,3,16,16"], "no such file"),
    (["mymodels.py", "--input", "1,3,16,16"], "MODULE:FACTORY"),
    (["mymodels.py:make_net", "--input", "1,three"], "--input"),
])
def test_cli_usage_errors(cli, tmp_path, monkeypatch, args, message):
    (tmp_path / "mymodels.py").write_text(MODELS_PY)
    monkeypatch.chdir(tmp_path)
    r = cli("import", *args)
    assert r.exit_code == 2 and message in r.stderr


def test_cli_model_that_cannot_be_imported_exits_1(cli, tmp_path, monkeypatch):
    (tmp_path / "bad.py").write_text("import torch, torch.nn as nn\n"
                                     "class M(nn.Module):\n"
                                     "    def forward(self, x):\n"
                                     "        return x.cumsum(-1)\n")
    monkeypatch.chdir(tmp_path)
    r = cli("import", "bad.py:M", "--input", "2,4,4")
    assert r.exit_code == 1 and "cannot import bad.py:M" in r.stderr and "cumsum" in r.stderr


def test_cli_without_torch(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    r = cli("import", "mymodels.py:make_net", "--input", "1,3,16,16")
    assert r.exit_code == 2
    assert "netcalc import needs PyTorch: pip install 'netcalc[torch]'" in r.stderr


def test_readme_example(cli, tmp_path, monkeypatch):
    """The README's mymodels.py imports to exactly the spec the README shows."""
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    source = re.search(r"```python\n# mymodels.py\n(.*?)```", readme, re.DOTALL).group(1)
    shown = re.search(r"\$ cat net.yaml\n(.*?)```", readme, re.DOTALL).group(1)
    (tmp_path / "mymodels.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    r = cli("import", "mymodels.py:Net", "--input", "1,3,32,32", "-o", "net.yaml")
    assert r.exit_code == 0
    assert r.stderr.strip().endswith("wrote net.yaml: 18 layers, 9,962 parameters (shapes and parameters agree "
                                     "with torch)")
    assert (tmp_path / "net.yaml").read_text() == shown


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "resnet50", "mobilenet_v2", "efficientnet_b0", "densenet121"])
def test_cnn_zoo_reference_models_import_to_the_zoo_numbers(name):
    """The plain-torch transcriptions of torchvision's models (tests/test_zoo_cnn.py) import to
    the zoo specs' totals (DenseNet's torch.cat over a growing Python list included)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import test_zoo_cnn as zoo_refs

    from netcalc.api import zoo_path
    from netcalc.network import analyze
    from netcalc.spec import parse

    with torch.device("meta"):
        model = zoo_refs.REFERENCES[name]().eval()
    result = import_model(model, (1, 3, 224, 224))
    zoo = analyze(parse(Path(zoo_path(name)).read_text(), name))
    assert result.report.totals == zoo.totals
    assert result.report.output_shape == zoo.output_shape


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2", "vit_b_16", "densenet121"])
def test_round_trip_import_export_check(name):
    """import → spec → export → torch on meta → check: every layer agrees."""
    sys.path.insert(0, str(Path(__file__).parent))
    import test_zoo_cnn
    import test_zoo_seq

    from netcalc.check import check_text

    refs = {**test_zoo_cnn.REFERENCES}
    with torch.device("meta"):
        if name in refs:
            model, shape = refs[name]().eval(), (1, 3, 224, 224)
        else:
            model, x, _ = test_zoo_seq.REFERENCES[name]()
            shape = tuple(x.shape)
    spec_text = import_model(model, shape).text
    result = check_text(spec_text, f"{name}.yaml")
    assert result.agree, [r.to_dict() for r in result.layers if not r.agree][:3]


def test_a_frozen_backbone_imports_with_the_same_trainable_split():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
    model[0].requires_grad_(False)
    model[1].requires_grad_(False)
    result = imported(model, torch.randn(2, 3, 8, 8))
    assert "trainable: false" in result.text
    split = result.report.to_dict()["totals"]
    assert split["trainable_params"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert split["frozen_params"] == sum(p.numel() for p in model.parameters() if not p.requires_grad)


class TiedHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.body = nn.Sequential(nn.LayerNorm(16), nn.Linear(16, 16))
        self.head = nn.Linear(16, 100, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, x):
        return self.head(self.body(self.emb(x)))


def test_a_tied_lm_head_imports_as_share_and_counts_once():
    model = TiedHead()
    result = import_model(model, (2, 7))
    assert "share: emb" in result.text and not result.warnings
    assert result.report.totals["params"] == sum(p.numel() for p in model.parameters()) == 1904


# ----------------------------------------------------------------------------- hand-written attention

class NanoAttention(nn.Module):
    """nanoGPT's CausalSelfAttention: split, heads by view/transpose, a scaled QKᵀ, a causal mask
    from a buffer, softmax, AV."""

    def __init__(self, d=32, h=4, block=16):
        super().__init__()
        self.c_attn, self.c_proj, self.n_head = nn.Linear(d, 3 * d), nn.Linear(d, d), h
        self.register_buffer("bias", torch.tril(torch.ones(block, block)).view(1, 1, block, block))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class ChunkSDPA(nn.Module):
    def __init__(self, d=32, h=4):
        super().__init__()
        self.qkv, self.out, self.h = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d), h

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(B, T, C))


class TimmAttention(nn.Module):
    """timm's ViT attention: one reshape/permute to (3, B, h, N, d), unbind, q scaled, q·kᵀ, AV."""

    def __init__(self, d=32, h=4):
        super().__init__()
        self.h, self.scale = h, (d // h) ** -0.5
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.h, C // self.h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = q * self.scale
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class EinsumAttention(nn.Module):
    """Separate q, k and v projections of the input, heads by einsum."""

    def __init__(self, d=32, h=4):
        super().__init__()
        self.q, self.k, self.v, self.h = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d), h

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (f(x).view(B, T, self.h, C // self.h) for f in (self.q, self.k, self.v))
        scores = torch.einsum("bihd,bjhd->bhij", q, k) / math.sqrt(C // self.h)
        return torch.einsum("bhij,bjhd->bihd", scores.softmax(-1), v).reshape(B, T, C)


class TinyGPT(nn.Module):
    def __init__(self, n=2, d=32):
        super().__init__()
        self.blocks = nn.ModuleList(nn.ModuleDict({"ln": nn.LayerNorm(d), "attn": NanoAttention(d)}) for _ in range(n))
        self.head = nn.Linear(d, 10)

    def forward(self, x):
        for b in self.blocks:
            x = x + b["attn"](b["ln"](x))
        return self.head(x)


@pytest.mark.parametrize("make", [NanoAttention, ChunkSDPA, TimmAttention, EinsumAttention, TinyGPT, Attention])
def test_hand_written_attention_imports_with_flopcountermodes_macs(make):
    """Hand-written attention (a qkv linear, split/chunk/unbind, matmul or einsum or SDPA, softmax,
    matmul) imports with the parameters torch has and the MACs FlopCounterMode counts."""
    from torch.utils.flop_counter import FlopCounterMode

    from torch.nn.attention import SDPBackend, sdpa_kernel

    model, x = make().eval(), torch.randn(2, 16, 32 if make is not Attention else 8)
    result = imported(model, x)
    # the math kernel: FlopCounterMode does not count the fused CPU kernel's matmuls
    with FlopCounterMode(display=False) as counter, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        model(x)
    assert result.report.totals["macs"] * 2 == counter.get_total_flops()
    assert any(r.type in ("Matmul", "Einsum", "ScaledDotProductAttention") for r in result.report.layers)


def test_attention_blocks_share_one_definition_and_read_their_own_tensors():
    """Each block's names are looked up in its own call first, so the body is written once."""
    result = import_model(TinyGPT(n=3), (2, 16, 32))
    assert result.text.count("- NanoAttention: {name: attn}") == 3
    assert "from: split_2" in result.text


def test_a_second_read_of_the_input_names_it():
    """x read twice (q(x) @ xᵀ): the spec names the input and reads it with from:."""
    result = import_model(Attention(), (2, 5, 8))
    assert "inputs: {x: [2, 5, 8]}" in result.text and "from: x" in result.text


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin, self.act = nn.Linear(8, 8), nn.ReLU()

    def forward(self, x):
        return self.act(self.lin(x))


class ForkAfterBlocks(nn.Module):
    """Two calls of one module class (one blocks: definition), then q(h) @ k(h)ᵀ on the second's output."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.q, self.k = Twice(), Twice(), nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x):
        h = self.b(self.a(x))
        return self.q(h) @ self.k(h).transpose(1, 2)


def test_a_tensor_read_by_name_after_a_block_call_is_the_calls_name():
    result = imported(ForkAfterBlocks(), torch.randn(2, 5, 8))
    assert "- Twice: {name: b}" in result.text and "from: b" in result.text


class Stacked(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 4), nn.Linear(8, 4)

    def forward(self, x):
        return torch.stack([self.a(x), self.b(x)], dim=1)


def test_torch_stack_of_two_tensors_is_a_stack_entry():
    result = imported(Stacked(), torch.randn(2, 8))
    assert "- Stack: {" in result.text and "other: " in result.text
