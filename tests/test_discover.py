"""Discovering the scalable layers of any nn.Module by tracing, and initialising such a module."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from initsearch.data.base import Dataset
from initsearch.errors import ConfigError
from initsearch.inits import InitReport, InitSpec, apply
from initsearch.inits.schemes.gradinit import gradinit_scales
from initsearch.models import (
    MODEL_NAMES,
    DataShape,
    ModelSpec,
    build_model,
    discover_layers,
    layer_list,
    model_layers,
    sample_input,
)

IMAGE = (2, 3, 32, 32)
SHAPES = {
    "vector": DataShape((40,), "vector", 10),
    "digits": DataShape((1, 8, 8), "image", 10),
    "image16": DataShape((3, 16, 12), "image", 4),
    "sequence": DataShape((12,), "sequence", 5, vocab_size=20),
}


def make_net(width: int = 8, classes: int = 10) -> nn.Module:
    """A factory for the tests: a small CNN for 1-channel images."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, classes),
    )


def triples(model: nn.Module, x: torch.Tensor, **kw: object) -> list[tuple[str, int, str]]:
    found = discover_layers(model, x, **kw)  # type: ignore[arg-type]
    return [(layer.name, layer.depth, layer.activation) for layer in found.layers]


# ------------------------------------------------------------------ torchvision models


def test_resnet18_layers_depths_and_activations():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    found = discover_layers(model, torch.randn(*IMAGE))
    layers = {layer.name: layer for layer in found.layers}
    assert len(found.layers) == 21
    assert found.layers[0].name == "conv1" and found.layers[-1].name == "fc"
    assert sum(".downsample." in name for name in layers) == 3
    assert sum(name.endswith(("conv1", "conv2")) and "." in name for name in layers) == 16
    for stage in (2, 3, 4):
        block = f"layer{stage}.0"
        assert layers[f"{block}.downsample.0"].depth == layers[f"{block}.conv1"].depth
        assert layers[f"{block}.conv2"].depth == layers[f"{block}.conv1"].depth + 1
    assert layers["conv1"].depth == 0 and layers["fc"].depth == 17
    assert all(layer.activation == "relu" for layer in found.layers[:-1])
    assert layers["fc"].activation == "linear"
    assert found.reused == found.unused == found.unsupported == []


def test_vgg11_layers_in_order():
    with torch.device("meta"):  # 130M parameters: allocate without torchvision's slow init
        model = torchvision.models.vgg11(num_classes=10)
    model = model.to_empty(device="cpu")
    got = triples(model, torch.randn(*IMAGE))
    assert [d for _, d, _ in got] == list(range(11))
    assert [n for n, _, _ in got][:8] == [f"features.{i}" for i in (0, 3, 6, 8, 11, 13, 16, 18)]
    assert [n for n, _, _ in got][8:] == ["classifier.0", "classifier.3", "classifier.6"]
    assert [a for _, _, a in got] == ["relu"] * 10 + ["linear"]


# ------------------------------------------------------------------ attention


class MHABlock(nn.Module):
    """A pre-LN ViT block around nn.MultiheadAttention."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.embed = nn.Linear(6, width)
        self.norm1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, 2, batch_first=True)
        self.norm2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)
        self.head = nn.Linear(width, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        y = self.norm1(h)
        h = h + self.attn(y, y, y, need_weights=False)[0]
        h = h + self.fc2(F.gelu(self.fc1(self.norm2(h))))
        return self.head(h.mean(dim=1))


class QKVBlock(nn.Module):
    """timm-style attention: separate q/k/v Linears, softmax(q k^T) v, then a projection."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.q, self.k, self.v = (nn.Linear(width, width) for _ in range(3))
        self.proj = nn.Linear(width, width)
        self.fc = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        att = (self.q(x) @ self.k(x).transpose(-2, -1) / math.sqrt(x.shape[-1])).softmax(dim=-1)
        x = x + self.proj(att @ self.v(x))
        return self.fc(x).relu()


def test_multihead_attention_is_one_unit_of_two_layers():
    model = MHABlock()
    found = discover_layers(model, torch.randn(2, 5, 6))
    assert [(layer.name, layer.depth, layer.activation) for layer in found.layers] == [
        ("embed", 0, "linear"),
        ("attn.in_proj", 1, "linear"),
        ("attn.out_proj", 2, "linear"),
        ("fc1", 3, "gelu"),
        ("fc2", 4, "linear"),
        ("head", 5, "linear"),
    ]
    in_proj, out_proj = found.layers[1], found.layers[2]
    assert in_proj.module is model.attn and in_proj.weight is model.attn.in_proj_weight
    assert out_proj.module is model.attn and out_proj.weight is model.attn.out_proj.weight
    assert in_proj.bias is model.attn.in_proj_bias and out_proj.bias is model.attn.out_proj.bias
    assert found.unused == [] and found.unsupported == []


def test_separate_qkv_linears_share_a_depth():
    got = triples(QKVBlock(), torch.randn(2, 5, 16))
    assert got == [
        ("q", 0, "linear"),
        ("k", 0, "linear"),
        ("v", 0, "linear"),
        ("proj", 1, "linear"),
        ("fc", 2, "relu"),
    ]


def test_torch_encoder_layer_and_cross_attention():
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)  # its fast path is skipped
    model = nn.Sequential(nn.Linear(6, 16), layer, nn.Linear(16, 3))
    assert triples(model, torch.randn(2, 5, 6)) == [
        ("0", 0, "linear"),
        ("1.self_attn.in_proj", 1, "linear"),
        ("1.self_attn.out_proj", 2, "linear"),
        ("1.linear1", 3, "relu"),
        ("1.linear2", 4, "linear"),
        ("2", 5, "linear"),
    ]

    class Cross(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.query = nn.Linear(4, 8)
            self.memory = nn.Sequential(nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 6))
            self.attn = nn.MultiheadAttention(8, 2, kdim=6, vdim=6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            m = self.memory(torch.ones(7, 2, 6))
            return self.attn(self.query(x), m, m)[0]

    assert triples(Cross(), torch.randn(3, 2, 4)) == [
        ("memory.0", 0, "tanh"),
        ("memory.2", 1, "linear"),
        ("query", 0, "linear"),
        ("attn.q_proj", 1, "linear"),
        ("attn.k_proj", 2, "linear"),
        ("attn.v_proj", 2, "linear"),
        ("attn.out_proj", 3, "linear"),
    ]


# ------------------------------------------------------------------ what is not a plain layer


class Odd(nn.Module):
    """Defined last-to-first, one layer reused, one never run, an LSTM and a bare parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.out = nn.Linear(8, 2)
        self.spare = nn.Linear(3, 3)
        self.shared = nn.Linear(8, 8)
        self.lstm = nn.LSTM(8, 8)
        self.scale = nn.Parameter(torch.ones(8))
        self.first = nn.Linear(4, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.first(x))
        h = torch.tanh(self.shared(h))
        h = self.shared(h).sigmoid()
        return self.out(h * self.scale)


def test_reused_unused_unsupported_and_forward_order():
    found = discover_layers(Odd(), torch.randn(2, 4))
    assert [(layer.name, layer.depth, layer.activation) for layer in found.layers] == [
        ("first", 0, "relu"),
        ("shared", 1, "tanh"),  # the activation and depth of its first use
        ("out", 3, "linear"),  # after shared's second use, two deeper
    ]
    assert found.reused == ["shared"]
    assert found.unused == ["spare"]
    assert found.unsupported == ["<model> (Odd)", "lstm (LSTM)"]


def test_functional_activations_and_override():
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.c, self.d = (nn.Linear(4, 4) for _ in range(4))
            self.norm = nn.BatchNorm1d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = F.relu(self.norm(self.a(x)))  # through a norm layer
            h = torch.tanh(self.b(h))
            h = self.c(h)
            h.relu_()  # in place
            return F.leaky_relu(self.d(h))  # no known gain: keeps its name

    model = Functional()
    assert triples(model, torch.randn(3, 4)) == [
        ("a", 0, "relu"),
        ("b", 1, "tanh"),
        ("c", 2, "relu"),
        ("d", 3, "leaky_relu"),
    ]
    override = {"d": "linear", "a": "selu"}
    assert [a for _, _, a in triples(model, torch.randn(3, 4), activations=override)] == [
        "selu",
        "tanh",
        "relu",
        "linear",
    ]
    with pytest.raises(ConfigError, match=r"'e'.*a, b, c, d"):
        discover_layers(model, torch.randn(3, 4), {"e": "relu"})


@pytest.mark.parametrize(
    ("name", "shape_name", "kw"),
    [
        (m, s, kw)
        for m in MODEL_NAMES
        for s in SHAPES
        for kw in (
            ({"norm_position": "pre"}, {"norm_position": "post", "activation": "gelu"})
            if m == "transformer"
            else ({}, {"batch_norm": True, "activation": "tanh"})
        )
    ],
)
def test_discovery_matches_every_built_in_family(name, shape_name, kw):
    shape = SHAPES[shape_name]
    base = {"width": 8, "heads": 2} if name == "transformer" else {"width": 4}
    model = build_model(ModelSpec(name, **base, **kw), shape)
    want = [(layer.name, layer.depth, layer.activation) for layer in model.scalable_layers()]
    assert triples(model, sample_input(shape)) == want


# ------------------------------------------------------------------ the trace's manners


def test_trace_restores_modes_and_random_state_and_names_a_failing_forward():
    model = Odd()
    model.train()
    model.out.eval()
    sample = torch.randn(2, 4)
    state = torch.get_rng_state()
    discover_layers(model, sample)
    assert model.training and model.first.training and not model.out.training
    torch.testing.assert_close(torch.get_rng_state(), state)
    with pytest.raises(
        ConfigError, match=r"model Odd: forward on a sample batch of shape \(2, 5\)"
    ):
        discover_layers(model, torch.randn(2, 5))
    assert model.training


def test_sample_input_and_model_layers():
    image = sample_input(SHAPES["digits"])
    assert image.shape == (2, 1, 8, 8) and image.dtype == torch.float32
    torch.testing.assert_close(image, sample_input(SHAPES["digits"]))
    tokens = sample_input(SHAPES["sequence"], n=3)
    assert tokens.shape == (3, 12) and tokens.dtype == torch.int64
    built_in = build_model(ModelSpec("mlp", depth=2, width=4), SHAPES["vector"])
    found = model_layers(built_in)  # listed, not traced: no sample needed
    assert [layer.name for layer in found.layers] == ["hidden.0", "hidden.1", "head"]
    with pytest.raises(ConfigError, match="a plain nn.Module needs a sample batch"):
        model_layers(make_net())


def test_layer_list_of_a_factory_model():
    spec = ModelSpec(factory="tests.test_discover:make_net", kwargs={"width": 4})
    state = torch.get_rng_state()
    assert layer_list(spec, SHAPES["digits"]) == [("0", 0), ("2", 1), ("6", 2)]
    torch.testing.assert_close(torch.get_rng_state(), state)
    assert layer_list(ModelSpec("mlp", depth=2), SHAPES["vector"])[-1] == ("head", 2)


# ------------------------------------------------------------------ initialising a plain module


def big_mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(800, 1000), nn.ReLU(), nn.Linear(1000, 600), nn.Tanh(), nn.Linear(600, 10)
    )


def test_apply_needs_a_sample_for_a_plain_module():
    with pytest.raises(ConfigError, match=r"pass apply\(model, spec, sample_batch\) or a Dataset"):
        apply(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)), InitSpec("kaiming"))
    report = apply(Odd(), InitSpec("kaiming"), torch.randn(2, 4))
    assert isinstance(report, InitReport)
    assert report.layer_names == ["first", "shared", "out"]
    assert (report.reused, report.unused) == (["shared"], ["spare"])
    assert report.unsupported == ["<model> (Odd)", "lstm (LSTM)"]
    assert InitReport.from_dict(report.to_dict()) == report
    old = {
        k: v for k, v in report.to_dict().items() if k not in ("reused", "unused", "unsupported")
    }
    assert InitReport.from_dict(old).unsupported == []


def test_kaiming_and_xavier_statistics_on_a_plain_module():
    sample = torch.randn(4, 800)
    model = big_mlp()
    apply(model, InitSpec("kaiming"), sample)
    gains = (math.sqrt(2), 5 / 3, 1.0)
    for layer, gain in zip((model[0], model[2], model[4]), gains, strict=True):
        std = gain / math.sqrt(layer.in_features)
        assert float(layer.weight.detach().std()) == pytest.approx(std, rel=0.03)
        assert float(layer.bias.detach().abs().max()) == 0.0
    apply(model, InitSpec("xavier"), sample)
    for layer, gain in zip((model[0], model[2], model[4]), gains, strict=True):
        std = gain * math.sqrt(2 / (layer.in_features + layer.out_features))
        assert float(layer.weight.detach().std()) == pytest.approx(std, rel=0.03)
    conv = nn.Sequential(nn.Conv2d(64, 128, 3), nn.ReLU(), nn.Flatten(), nn.Linear(128 * 9, 3))
    apply(conv, InitSpec("kaiming"), torch.randn(1, 64, 5, 5))
    assert float(conv[0].weight.detach().std()) == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.03)


def test_discovered_init_equals_torch_init_under_the_same_seed():
    sample = torch.randn(2, 800)
    model, reference = big_mlp(), big_mlp()
    torch.manual_seed(7)
    apply(model, InitSpec("kaiming_uniform"), sample)
    torch.manual_seed(7)
    for index, nonlinearity in ((0, "relu"), (2, "tanh"), (4, "linear")):
        nn.init.kaiming_uniform_(reference[index].weight, nonlinearity=nonlinearity)
    for index in (0, 2, 4):
        torch.testing.assert_close(model[index].weight, reference[index].weight, rtol=0, atol=0)


def fake_data(n: int = 96) -> Dataset:
    torch.manual_seed(0)
    x, y = torch.randn(n, 5, 6), torch.randint(0, 3, (n,))
    return Dataset.unsplit("fake", x, y, x[:8], y[:8], 3, "vector")


def test_attention_model_with_data_gets_diagnostics_and_reset_biases():
    model = MHABlock()
    with torch.no_grad():
        model.attn.in_proj_bias.fill_(1.0)
        model.attn.out_proj.bias.fill_(1.0)
    report = apply(model, InitSpec("kaiming"), fake_data())
    assert float(model.attn.in_proj_bias.detach().abs().max()) == 0.0
    assert float(model.attn.out_proj.bias.detach().abs().max()) == 0.0
    rows = report.diagnostics["layers"]
    assert [row["name"] for row in rows] == report.layer_names
    assert all(row["activation_std"] > 0 and row["grad_norm"] > 0 for row in rows)


def test_data_schemes_on_a_plain_module():
    data = fake_data()
    model = MHABlock()
    result = gradinit_scales(model, data, {"iters": 2, "batch_size": 16, "progress": False})
    assert len(result.per_layer) == 6
    report = apply(
        MHABlock(),
        InitSpec("updater", options={"outer_iters": 1, "unroll_steps": 2, "check_unrolls": 0}),
        data,
    )
    assert len(report.applied_scales) == 6
    with pytest.raises(ConfigError, match="cannot infer the input shape of a MHABlock"):
        apply(MHABlock(), InitSpec("lps"), torch.randn(2, 5, 6))
