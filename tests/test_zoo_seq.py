"""The zoo against reference models written in plain torch here, layer by layer.

Each reference transcribes its source into compact ``nn.Module``s (torchvision's
VisionTransformer / EncoderBlock, milesial's U-Net, a BERT-base built from ``nn.Embedding`` and
``nn.TransformerEncoderLayer``, LeNet-5, pytorch/examples' LSTM language model) and runs on the
meta device: forward hooks still see every shape, nothing is computed, so the file stays fast.

For every model, the netcalc leaf rows that hold parameters or change the shape (merge rows
Add/Concat/Multiply left out) must match, in order, the torch leaves that do (forward hooks on
modules without children, and on MultiheadAttention / TransformerEncoderLayer / LSTM as wholes;
tensor operations in a forward, such as ViT's reshape or class token, are recorded with
:func:`tap`): same name, output shape and parameter count. Totals: parameters equal, output
shape equal, and MACs equal to half the FLOPs torch's FlopCounterMode counts (train mode, SDPA's
math kernel, as CONTRACT.md section 5 says). vit_b_16 must also meet torchvision's published
86,567,656 parameters and 17.564 GMACs (within 1%).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the zoo comparison needs torch==2.13.0 (pip install torch==2.13.0)")

from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode
from zoo_torch import assert_leaves_match, assert_totals_match, recording, tap  # noqa: E402

import netcalc

ZOO = Path(netcalc.__file__).resolve().parent / "zoo"


# ----------------------------------------------------------------------------- recording

def meta(*shape, dtype=None):
    return torch.zeros(*shape, dtype=dtype, device="meta")


# ----------------------------------------------------------------------------- LeNet-5

def lenet5():
    """specs/classics/lenet5.yaml: tanh and average pooling; module names as the spec's layer names."""
    model = nn.Sequential(OrderedDict([
        ("C1", nn.Conv2d(1, 6, 5)), ("Tanh_2", nn.Tanh()), ("S2", nn.AvgPool2d(2)),
        ("C3", nn.Conv2d(6, 16, 5)), ("Tanh_5", nn.Tanh()), ("S4", nn.AvgPool2d(2)),
        ("Flatten_7", nn.Flatten()),
        ("C5", nn.Linear(400, 120)), ("Tanh_9", nn.Tanh()),
        ("F6", nn.Linear(120, 84)), ("Tanh_11", nn.Tanh()),
        ("OUTPUT", nn.Linear(84, 10))]))
    return model, meta(1, 1, 32, 32), {}


# ----------------------------------------------------------------------------- LSTM language model

class RNNModel(nn.Module):
    """pytorch/examples word_language_model.RNNModel (LSTM), without the final view/log_softmax."""

    def __init__(self, ntoken=10000, ninp=650, nhid=650, nlayers=2, dropout=0.5):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, tokens):  # (L, B) indices
        emb = self.drop(self.encoder(tokens))
        output, _ = self.rnn(emb)
        return self.decoder(self.drop(output))


def lstm_lm():
    return RNNModel(), meta(35, 20, dtype=torch.long), {}


# ----------------------------------------------------------------------------- ViT-B/16

class MLPBlock(nn.Sequential):
    """torchvision.ops.MLP(in_dim, [mlp_dim, in_dim], activation_layer=GELU, dropout): 0..4."""

    def __init__(self, in_dim, mlp_dim, dropout):
        super().__init__(nn.Linear(in_dim, mlp_dim), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(mlp_dim, in_dim), nn.Dropout(dropout))


class EncoderBlock(nn.Module):
    def __init__(self, num_heads, hidden_dim, mlp_dim, dropout, attention_dropout):
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(hidden_dim, num_heads, dropout=attention_dropout,
                                                    batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.mlp = MLPBlock(hidden_dim, mlp_dim, dropout)

    def forward(self, input):
        x = self.ln_1(input)
        x, _ = self.self_attention(x, x, x, need_weights=False)
        x = self.dropout(x)
        x = x + input
        y = self.ln_2(x)
        y = self.mlp(y)
        return x + y


class Encoder(nn.Module):
    def __init__(self, seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout, attention_dropout):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, hidden_dim))
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential(OrderedDict(
            (f"encoder_layer_{i}", EncoderBlock(num_heads, hidden_dim, mlp_dim, dropout, attention_dropout))
            for i in range(num_layers)))
        self.ln = nn.LayerNorm(hidden_dim, eps=1e-6)

    def forward(self, input):
        input = tap("encoder.pos_embedding", input, input + self.pos_embedding, self.pos_embedding.numel())
        return self.ln(self.layers(self.dropout(input)))


class VisionTransformer(nn.Module):
    """torchvision.models.vision_transformer.VisionTransformer without conv stem or representation layer."""

    def __init__(self, image_size=224, patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072,
                 dropout=0.0, attention_dropout=0.0, num_classes=1000):
        super().__init__()
        self.patch_size, self.hidden_dim = patch_size, hidden_dim
        self.conv_proj = nn.Conv2d(3, hidden_dim, kernel_size=patch_size, stride=patch_size)
        seq_length = (image_size // patch_size) ** 2 + 1
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        self.encoder = Encoder(seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout, attention_dropout)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(hidden_dim, num_classes)))

    def forward(self, x):
        n, _, h, w = x.shape
        p = self.patch_size
        x = self.conv_proj(x)
        x = tap("reshape", x, x.reshape(n, self.hidden_dim, (h // p) * (w // p)))
        x = tap("permute", x, x.permute(0, 2, 1))
        token = self.class_token.expand(n, -1, -1)
        x = tap("class_token", x, torch.cat([token, x], dim=1), self.class_token.numel())
        x = self.encoder(x)
        x = tap("select", x, x[:, 0])
        return self.heads(x)


def vit_b_16():
    return VisionTransformer(), meta(1, 3, 224, 224), {}


# ----------------------------------------------------------------------------- U-Net

class DoubleConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    """milesial's Up with bilinear=False. milesial F.pads the upsampled x1 to x2's size first; that
    is a no-op when H and W are multiples of 16, and left out here as in the spec, so the skips
    must line up by themselves."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1, x2):
        return self.conv(torch.cat([x2, self.up(x1)], dim=1))


class UNet(nn.Module):
    def __init__(self, n_channels=3, n_classes=2):
        super().__init__()
        self.inc = DoubleConv(n_channels, 64)
        self.down1, self.down2, self.down3, self.down4 = Down(64, 128), Down(128, 256), Down(256, 512), Down(512, 1024)
        self.up1, self.up2, self.up3, self.up4 = Up(1024, 512), Up(512, 256), Up(256, 128), Up(128, 64)
        self.outc = nn.Sequential(OrderedDict(conv=nn.Conv2d(64, n_classes, kernel_size=1)))  # OutConv

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


def unet(size=256):
    return UNet(), meta(1, 3, size, size), {"H": size, "W": size}


# ----------------------------------------------------------------------------- BERT-base

class BertEmbeddings(nn.Module):
    def __init__(self, vocab=30522, hidden=768, max_positions=512, type_vocab=2, eps=1e-12, dropout=0.1):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden, padding_idx=0)
        self.position_embeddings = nn.Embedding(max_positions, hidden)
        self.token_type_embeddings = nn.Embedding(type_vocab, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids):
        b, seq = ids.shape
        positions = torch.arange(seq, device=ids.device).expand(b, seq)
        x = self.word_embeddings(ids)
        x = x + self.position_embeddings(positions) + self.token_type_embeddings(torch.zeros_like(ids))
        return self.dropout(self.LayerNorm(x))


class BertPooler(nn.Module):
    def __init__(self, hidden=768):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.activation = nn.Tanh()

    def forward(self, h):
        return self.activation(self.dense(tap("pooler.first_token", h, h[:, 0])))


class BertBase(nn.Module):
    def __init__(self, layers=12, hidden=768, heads=12, ff=3072):
        super().__init__()
        self.embeddings = BertEmbeddings(hidden=hidden)
        layer = nn.TransformerEncoderLayer(hidden, heads, ff, 0.1, "gelu", 1e-12, batch_first=True, norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.pooler = BertPooler(hidden)

    def forward(self, ids):
        return self.pooler(self.encoder(self.embeddings(ids)))


def bert_base():
    return BertBase(), meta(1, 128, dtype=torch.long), {"B": 1, "L": 128}


REFERENCES = {"lenet5": lenet5, "lstm_lm": lstm_lm, "vit_b_16": vit_b_16, "unet": unet, "bert_base": bert_base}


# ----------------------------------------------------------------------------- netcalc side

def netcalc_doc(cli, model: str, sets: dict) -> dict:
    args = ["summary", model, "--format", "json"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    r = cli(*args)
    assert r.exit_code == 0, f"netcalc {' '.join(args)} exited {r.exit_code}: {r.stderr}"
    return json.loads(r.stdout)



_RUNS: dict = {}


def run(cli, model: str):
    """(netcalc document, torch records, torch output, torch parameter count, torch FLOPs), once per model."""
    if model not in _RUNS:
        with torch.device("meta"):
            ref, x, sets = REFERENCES[model]()
        ref.train()  # no fused inference paths: the hooks and the FLOP counter see every op
        with torch.no_grad(), recording(ref) as records, sdpa_kernel(SDPBackend.MATH), \
                FlopCounterMode(display=False) as counter:
            out = ref(x)
        _RUNS[model] = (netcalc_doc(cli, model, sets), records, tuple(out.shape),
                        sum(p.numel() for p in ref.parameters()), counter.get_total_flops())
    return _RUNS[model]


# ----------------------------------------------------------------------------- tests

@pytest.mark.parametrize("model", sorted(REFERENCES))
def test_leaves_match_torch(cli, model):
    doc, records, _, _, _ = run(cli, model)
    assert_leaves_match(model, doc, records)


@pytest.mark.parametrize("model", sorted(REFERENCES))
def test_totals_match_torch(cli, model):
    doc, _, out, params, flops = run(cli, model)
    assert_totals_match(model, doc, out, params, flops)


@pytest.mark.parametrize("model", sorted(REFERENCES))
def test_comment_states_the_totals(cli, model):
    """The first line, ``# <what it is>: N parameters, ...``, tells the truth."""
    first = (ZOO / f"{model}.yaml").read_text(encoding="utf-8").splitlines()[0]
    m = re.match(r"# .+: ([\d,]+) parameters, ", first)
    assert m, f"{model}.yaml: first line should be '# <what it is>: N parameters, ...', got {first!r}"
    assert int(m.group(1).replace(",", "")) == run(cli, model)[0]["totals"]["params"]


def test_vit_b_16_published_numbers(cli):
    """torchvision's ViT_B_16_Weights meta: num_params 86,567,656, _ops 17.564 (GFLOPS meaning GMACs)."""
    doc = run(cli, "vit_b_16")[0]
    assert doc["totals"]["params"] == 86_567_656
    assert abs(doc["totals"]["macs"] - 17.564e9) / 17.564e9 < 0.01


def test_unet_skips_need_multiples_of_16(cli):
    """At 250×250 the fourth max-pool floors 31 to 15, up1 makes 30, and the skip from down3 is 31:
    netcalc stops at that concat (exit 1, FILE:LINE:COL naming both shapes), as torch.cat does."""
    path = ZOO / "unet.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    line = next(i for i, s in enumerate(lines, 1) if "concat: {with: down3" in s)
    col = lines[line - 1].index("concat") + 1
    r = cli("shapes", str(path), "--set", "H=250", "--set", "W=250")
    assert r.exit_code == 1
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert re.match(rf"{re.escape(str(path))}:{line}:{col}: error: up1: cannot concatenate down3's output "
                    r"\[1, 512, 31, 31\] and up1\.up's output \[1, 512, 30, 30\]", r.stderr), r.stderr
    with torch.device("meta"):
        ref, x, _ = unet(250)
    with pytest.raises(RuntimeError, match=r"Expected (size )?31\b.* got (size )?30\b"):
        ref(x)
    assert cli("shapes", str(path), "--set", "H=240", "--set", "W=272").exit_code == 0
