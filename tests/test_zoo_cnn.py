"""The CNN zoo against torchvision's architectures, transcribed into plain torch here, layer by layer.

torchvision itself is not imported (installing it replaces torch); each reference below is its
model code (torchvision 0.29: alexnet.py, vgg.py, resnet.py, mobilenetv2.py, efficientnet.py,
densenet.py, ops/misc.py) cut down to the default configuration, with the same module names.
The models are built and run on the meta device, in eval mode under no_grad, on a
(1, 3, 224, 224) input: forward hooks still see every shape and nothing is computed, so the file
stays fast.

For every model, the netcalc leaf rows that hold parameters or change the shape (merge rows
Add/Concat/Multiply left out) must match, in order, the torch leaf modules that do: same name
(path), output shape and parameter count. Tensor operations in a forward that netcalc states as
layers (torch.flatten, F.adaptive_avg_pool2d) are recorded with :func:`tap`. Totals: parameters
and output shape equal to torch's, MACs equal to half the FLOPs torch's FlopCounterMode counts
(convolutions and matmuls only, as netcalc's MACs), parameters equal to the number torchvision
publishes and MACs within 1% of its published GFLOPS (which are GMACs).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the zoo comparison needs torch==2.13.0 (pip install torch==2.13.0)")

from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode
from zoo_torch import assert_leaves_match, assert_totals_match, recording, tap  # noqa: E402

import netcalc

ZOO = Path(netcalc.__file__).resolve().parent / "zoo"

# torchvision's weights meta for each model: num_params and _ops (GFLOPS meaning GMACs) at 224×224.
PUBLISHED = {
    "alexnet": (61_100_840, 0.714),
    "vgg16": (138_357_544, 15.47),
    "resnet50": (25_557_032, 4.089),
    "mobilenet_v2": (3_504_872, 0.301),
    "efficientnet_b0": (5_288_548, 0.386),
    "densenet121": (7_978_856, 2.834),
}


# ----------------------------------------------------------------------------- recording

def conv_norm_act(cin, cout, kernel=3, stride=1, groups=1, act=nn.ReLU):
    """torchvision.ops.Conv2dNormActivation: padding (k-1)//2, a bias-free conv (a norm follows),
    BatchNorm2d, then ``act(inplace=True)`` unless ``act`` is None; children named 0, 1, 2."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------- AlexNet

class AlexNet(nn.Module):
    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(tap("flatten", x, torch.flatten(x, 1)))


# ----------------------------------------------------------------------------- VGG-16

VGG_D = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG(nn.Module):
    def __init__(self, cfg=VGG_D, num_classes=1000, dropout=0.5):
        super().__init__()
        layers, cin = [], 3
        for v in cfg:  # make_layers(cfg, batch_norm=False)
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(cin, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(tap("flatten", x, torch.flatten(x, 1)))


# ----------------------------------------------------------------------------- ResNet-50

class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=1, bias=False)  # v1.5: stride here
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * self.expansion:  # ResNet._make_layer's condition
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * self.expansion, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes * self.expansion))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, layers=(3, 4, 6, 3), num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)

    def _make_layer(self, planes, blocks, stride=1):
        layers = [Bottleneck(self.inplanes, planes, stride)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        return self.fc(tap("flatten", x, torch.flatten(x, 1)))


# ----------------------------------------------------------------------------- MobileNetV2

class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden_dim = round(inp * expand_ratio)  # int(round(...)) in torchvision
        self.use_res_connect = stride == 1 and inp == oup
        layers = [conv_norm_act(inp, hidden_dim, 1, act=nn.ReLU6)] if expand_ratio != 1 else []
        layers += [conv_norm_act(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim, act=nn.ReLU6),
                   nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """width_mult 1.0, where _make_divisible(c, 8) leaves every width as it is."""

    SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
               (6, 320, 1, 1))  # t, c, n, s

    def __init__(self, num_classes=1000, dropout=0.2, last_channel=1280):
        super().__init__()
        cin = 32
        features = [conv_norm_act(3, cin, stride=2, act=nn.ReLU6)]
        for t, c, n, s in self.SETTING:
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, expand_ratio=t))
                cin = c
        features.append(conv_norm_act(cin, last_channel, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(last_channel, num_classes))

    def forward(self, x):
        x = self.features(x)
        x = tap("avgpool", x, F.adaptive_avg_pool2d(x, (1, 1)))
        return self.classifier(tap("flatten", x, torch.flatten(x, 1)))


# ----------------------------------------------------------------------------- EfficientNet-B0

class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation with activation=SiLU: x * sigmoid(fc2(silu(fc1(avgpool(x)))))."""

    def __init__(self, input_channels, squeeze_channels):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = nn.SiLU(inplace=True)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x):
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth(p, "row"): no parameters, and the identity in eval mode."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        assert not self.training, "only the inference path is transcribed"
        return x


class MBConv(nn.Module):
    def __init__(self, expand_ratio, kernel, stride, input_channels, out_channels, stochastic_depth_prob):
        super().__init__()
        self.use_res_connect = stride == 1 and input_channels == out_channels
        expanded = input_channels * expand_ratio  # _make_divisible(., 8) leaves B0's widths as they are
        layers = [conv_norm_act(input_channels, expanded, 1, act=nn.SiLU)] if expanded != input_channels else []
        layers += [conv_norm_act(expanded, expanded, kernel, stride, groups=expanded, act=nn.SiLU),
                   SqueezeExcitation(expanded, max(1, input_channels // 4)),
                   conv_norm_act(expanded, out_channels, 1, act=None)]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob)

    def forward(self, x):
        result = self.block(x)
        if self.use_res_connect:
            result = self.stochastic_depth(result) + x
        return result


class EfficientNetB0(nn.Module):
    # expand_ratio, kernel, stride, input_channels, out_channels, num_layers (width and depth 1.0)
    SETTING = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
               (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))

    def __init__(self, dropout=0.2, stochastic_depth_prob=0.2, num_classes=1000):
        super().__init__()
        layers = [conv_norm_act(3, 32, 3, 2, act=nn.SiLU)]
        total, block_id = sum(s[-1] for s in self.SETTING), 0
        for expand, kernel, stride, cin, cout, n in self.SETTING:
            stage = []
            for i in range(n):
                stage.append(MBConv(expand, kernel, stride if i == 0 else 1, cin if i == 0 else cout, cout,
                                    stochastic_depth_prob * block_id / total))
                block_id += 1
            layers.append(nn.Sequential(*stage))
        layers.append(conv_norm_act(320, 4 * 320, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True), nn.Linear(4 * 320, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(tap("flatten", x, torch.flatten(x, 1)))


# ----------------------------------------------------------------------------- DenseNet-121

class DenseLayer(nn.Module):
    """_DenseLayer (drop_rate 0): concatenates the earlier feature maps, returns growth_rate new channels."""

    def __init__(self, num_input_features, growth_rate, bn_size):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)

    def forward(self, features):  # a list of (N, C_i, H, W)
        x = self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))
        return self.conv2(self.relu2(self.norm2(x)))


class DenseBlock(nn.ModuleDict):
    def __init__(self, num_layers, num_input_features, bn_size, growth_rate):
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}", DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size))

    def forward(self, init_features):
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    def __init__(self, num_input_features, num_output_features):
        super().__init__(OrderedDict(
            norm=nn.BatchNorm2d(num_input_features), relu=nn.ReLU(inplace=True),
            conv=nn.Conv2d(num_input_features, num_output_features, kernel_size=1, stride=1, bias=False),
            pool=nn.AvgPool2d(kernel_size=2, stride=2)))


class DenseNet(nn.Module):
    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, bn_size=4,
                 num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(OrderedDict(
            conv0=nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3, bias=False),
            norm0=nn.BatchNorm2d(num_init_features), relu0=nn.ReLU(inplace=True),
            pool0=nn.MaxPool2d(kernel_size=3, stride=2, padding=1)))
        n = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}", DenseBlock(num_layers, n, bn_size, growth_rate))
            n += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", Transition(n, n // 2))
                n //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(n))
        self.classifier = nn.Linear(n, num_classes)

    def forward(self, x):
        out = F.relu(self.features(x), inplace=True)
        out = tap("avgpool", out, F.adaptive_avg_pool2d(out, (1, 1)))
        return self.classifier(tap("flatten", out, torch.flatten(out, 1)))


# ----------------------------------------------------------------------------- both sides

REFERENCES = {"alexnet": AlexNet, "vgg16": VGG, "resnet50": ResNet, "mobilenet_v2": MobileNetV2,
              "efficientnet_b0": EfficientNetB0, "densenet121": DenseNet}



_RUNS: dict = {}


def run(cli, model: str):
    """(netcalc document, torch records, torch output shape, torch parameter count, torch FLOPs), once per model."""
    if model not in _RUNS:
        r = cli("summary", model, "--format", "json")
        assert r.exit_code == 0, f"netcalc summary {model} exited {r.exit_code}: {r.stderr}"
        with torch.device("meta"):
            ref = REFERENCES[model]().eval()
            x = torch.zeros(1, 3, 224, 224)
        with torch.no_grad(), recording(ref) as records, FlopCounterMode(display=False) as counter:
            out = ref(x)
        _RUNS[model] = (json.loads(r.stdout), records, tuple(out.shape),
                        sum(p.numel() for p in ref.parameters()), counter.get_total_flops())
    return _RUNS[model]


# ----------------------------------------------------------------------------- tests

@pytest.mark.parametrize("model", list(REFERENCES))
def test_leaves_match_torch(cli, model):
    doc, records, _, _, _ = run(cli, model)
    assert_leaves_match(model, doc, records)


@pytest.mark.parametrize("model", list(REFERENCES))
def test_totals_match_torch(cli, model):
    doc, _, out, params, flops = run(cli, model)
    assert out == (1, 1000)
    assert_totals_match(model, doc, out, params, flops)


@pytest.mark.parametrize("model", list(REFERENCES))
def test_published_numbers(cli, model):
    """torchvision's num_params exactly, and its _ops (GMACs at 224×224) within 1%."""
    doc = run(cli, model)[0]
    params, gmacs = PUBLISHED[model]
    assert doc["totals"]["params"] == params
    assert abs(doc["totals"]["macs"] / 1e9 - gmacs) / gmacs < 0.01, f"{model}: {doc['totals']['macs']} MACs"


@pytest.mark.parametrize("model", list(REFERENCES))
def test_comment_states_the_totals(model):
    """The first line, ``# torchvision.models.X: N parameters, G GMACs at 224×224.``, tells the truth."""
    first = (ZOO / f"{model}.yaml").read_text(encoding="utf-8").splitlines()[0]
    m = re.fullmatch(rf"# torchvision\.models\.{model}: ([\d,]+) parameters, ([\d.]+) GMACs at 224×224\.", first)
    assert m, f"{model}.yaml: unexpected first line {first!r}"
    assert (int(m.group(1).replace(",", "")), float(m.group(2))) == PUBLISHED[model]
