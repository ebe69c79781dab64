"""Models: shapes, scalable-layer order/depth/naming, options, and every ConfigError path."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from initsearch.data.base import Dataset
from initsearch.errors import ConfigError
from initsearch.models import (
    MODEL_NAMES,
    DataShape,
    ModelSpec,
    ScalableLayer,
    ScalableModel,
    build_model,
    layer_list,
)

SHAPES = {
    "vector": DataShape((40,), "vector", 10),  # MNIST-1D-like
    "digits": DataShape((1, 8, 8), "image", 10),  # sklearn digits: pools must be skipped
    "image16": DataShape((3, 16, 12), "image", 4),  # non-square; transformer uses 4x4 patches
    "sequence": DataShape((12,), "sequence", 5, vocab_size=20),
}


def tiny(name: str, **kw: object) -> ModelSpec:
    """A spec small enough that the whole file runs in seconds."""
    base: dict[str, object] = {"name": name, "width": 8 if name == "transformer" else 4}
    if name == "transformer":
        base["heads"] = 2
    base.update(kw)
    return ModelSpec(**base)  # type: ignore[arg-type]


def batch(shape: DataShape, n: int = 3) -> torch.Tensor:
    torch.manual_seed(0)
    if shape.kind == "sequence":
        assert shape.vocab_size is not None
        return torch.randint(0, shape.vocab_size, (n, *shape.input_shape))
    return torch.randn(n, *shape.input_shape)


def call_order(model: nn.Module, layers: list[ScalableLayer], x: torch.Tensor) -> list[str]:
    """Names of the scalable modules in the order they first run during one forward pass."""
    order: list[str] = []
    handles = []
    for layer in layers:

        def hook(_m: nn.Module, _i: object, _o: object, name: str = layer.name) -> None:
            if name not in order:
                order.append(name)

        handles.append(layer.module.register_forward_hook(hook))
    model(x)
    for h in handles:
        h.remove()
    return order


def depth_groups(names: list[str], depth: dict[str, int]) -> list[tuple[int, frozenset[str]]]:
    return [(d, frozenset(g)) for d, g in itertools.groupby(names, key=depth.__getitem__)]


# Every model x data kind, with and without BatchNorm (the transformer has LayerNorm only).
CASES = [
    (m, s, bn)
    for m in MODEL_NAMES
    for s in SHAPES
    for bn in ((False,) if m == "transformer" else (False, True))
]


@pytest.mark.parametrize(("model_name", "shape_name", "batch_norm"), CASES)
def test_forward_order_and_backward(model_name: str, shape_name: str, batch_norm: bool) -> None:
    shape = SHAPES[shape_name]
    torch.manual_seed(0)
    model = build_model(tiny(model_name, batch_norm=batch_norm), shape)
    assert isinstance(model, ScalableModel)
    x = batch(shape)
    layers = model.scalable_layers()

    # Forward order, allowing ties within one depth (q/k/v).
    model.eval()
    with torch.no_grad():
        order = call_order(model, layers, x)
    depth = {layer.name: layer.depth for layer in layers}
    listed = [layer.name for layer in layers]
    assert sorted(order) == sorted(listed), "every scalable layer must run exactly in forward"
    assert depth_groups(order, depth) == depth_groups(listed, depth)
    depths = [layer.depth for layer in layers]
    assert depths == sorted(depths)
    assert sorted(set(depths)) == list(range(max(depths) + 1)), "depths are contiguous from 0"

    # Every listed module has a matrix-or-higher weight; names are module paths.
    modules = dict(model.named_modules())
    for layer in layers:
        assert isinstance(layer.module.weight, nn.Parameter)
        assert layer.weight.dim() >= 2
        assert modules[layer.name] is layer.module
        assert layer.activation in ("linear", "relu")
    assert len(set(listed)) == len(listed)
    assert layers[-1].activation == "linear"

    # Output shape and gradients on every scalable weight.
    model.train()
    out = model(x)
    assert out.shape == (x.shape[0], shape.num_classes)
    out.square().mean().backward()
    for layer in layers:
        grad = layer.weight.grad
        assert grad is not None, layer.name
        assert torch.isfinite(grad).all(), layer.name
    # Per layer a zero grad can be legitimate (all units of a width-4 ReLU layer dead).
    assert sum(layer.weight.grad.abs().sum() for layer in layers) > 0


@pytest.mark.parametrize("model_name", MODEL_NAMES)
def test_names_stable_across_builds(model_name: str) -> None:
    shape = SHAPES["vector"]
    a = build_model(tiny(model_name), shape).scalable_layers()
    b = build_model(tiny(model_name), shape).scalable_layers()
    assert [(x.name, x.depth, x.activation) for x in a] == [
        (x.name, x.depth, x.activation) for x in b
    ]
    assert [tuple(x.weight.shape) for x in a] == [tuple(x.weight.shape) for x in b]


@pytest.mark.parametrize(
    ("spec", "shape_name", "count"),
    [
        (tiny("mlp", depth=4), "vector", 5),
        (tiny("mlp", depth=4), "sequence", 6),  # + token embedding
        (tiny("mlp", depth=1), "digits", 2),
        (tiny("vgg", depth=11), "digits", 9),
        (tiny("vgg", depth=13), "vector", 11),
        (tiny("vgg", depth=16), "vector", 14),
        (tiny("vgg", depth=19), "vector", 17),
        (tiny("vgg", depth=11), "sequence", 10),
        (tiny("resnet", depth=20), "digits", 20),
        (tiny("resnet", depth=56, width=2), "vector", 56),
        (tiny("resnet", depth=20), "sequence", 21),
        (tiny("transformer", depth=2), "vector", 14),
        (tiny("transformer", depth=3), "sequence", 20),
    ],
)
def test_layer_counts(spec: ModelSpec, shape_name: str, count: int) -> None:
    assert build_model(spec, SHAPES[shape_name]).num_scalable() == count


@pytest.mark.parametrize(("model_name", "shape_name"), list(itertools.product(MODEL_NAMES, SHAPES)))
def test_layer_list_without_weights_matches_the_built_model(
    model_name: str, shape_name: str
) -> None:
    spec, shape = tiny(model_name), SHAPES[shape_name]
    rng = torch.random.get_rng_state()
    listed = layer_list(spec, shape)
    assert torch.equal(torch.random.get_rng_state(), rng)  # a meta build draws nothing
    layers = build_model(spec, shape).scalable_layers()
    assert listed == [(layer.name, layer.depth) for layer in layers]


def test_layer_list_of_a_large_model_allocates_nothing() -> None:
    spec = ModelSpec(name="vgg", depth=19, width=4096)  # ~10^10 weights: 40 GB if allocated
    assert len(layer_list(spec, DataShape((3, 32, 32), "image", 10))) == 17
    with pytest.raises(ConfigError, match="VGG"):
        layer_list(ModelSpec(name="vgg", depth=12), SHAPES["digits"])


def test_resnet110_builds_with_expected_depths() -> None:
    layers = build_model(tiny("resnet", depth=110, width=2), SHAPES["vector"]).scalable_layers()
    assert len(layers) == 110
    assert [layer.depth for layer in layers] == list(range(110))
    assert layers[0].name == "stem" and layers[-1].name == "head"
    assert layers[1].name == "stages.0.0.conv1" and layers[2].name == "stages.0.0.conv2"


def test_depth_indices_mlp_vgg_resnet() -> None:
    mlp = build_model(tiny("mlp", depth=3), SHAPES["vector"]).scalable_layers()
    assert [(x.name, x.depth, x.activation) for x in mlp] == [
        ("hidden.0", 0, "relu"),
        ("hidden.1", 1, "relu"),
        ("hidden.2", 2, "relu"),
        ("head", 3, "linear"),
    ]
    vgg = build_model(tiny("vgg"), SHAPES["sequence"]).scalable_layers()
    assert (vgg[0].name, vgg[0].depth) == ("embed", 0)
    assert [x.depth for x in vgg] == list(range(10))
    res = build_model(tiny("resnet", depth=8), SHAPES["digits"]).scalable_layers()
    assert [(x.name, x.depth) for x in res] == [
        ("stem", 0),
        ("stages.0.0.conv1", 1),
        ("stages.0.0.conv2", 2),
        ("stages.1.0.conv1", 3),
        ("stages.1.0.conv2", 4),
        ("stages.2.0.conv1", 5),
        ("stages.2.0.conv2", 6),
        ("head", 7),
    ]


def test_transformer_depth_indices() -> None:
    layers = build_model(tiny("transformer", depth=2, activation="gelu"), SHAPES["vector"])
    got = [(x.name, x.depth, x.activation) for x in layers.scalable_layers()]
    expected = [("embed", 0, "linear")]
    for i in range(2):
        d = 1 + 4 * i
        p = f"blocks.{i}"
        expected += [(f"{p}.attn.{n}", d, "linear") for n in "qkv"]
        expected += [(f"{p}.attn.out", d + 1, "linear"), (f"{p}.ff1", d + 2, "gelu")]
        expected += [(f"{p}.ff2", d + 3, "linear")]
    expected.append(("head", 9, "linear"))
    assert got == expected


def test_vgg_channels_scale_with_width() -> None:
    model = build_model(ModelSpec(name="vgg", depth=11, width=64), SHAPES["digits"])
    convs = [x.module for x in model.scalable_layers()[:-1]]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert isinstance(convs[0], nn.Conv2d)
    one_d = build_model(tiny("vgg"), SHAPES["vector"]).scalable_layers()[0].module
    assert isinstance(one_d, nn.Conv1d) and one_d.in_channels == 1


def test_resnet_stage_channels_and_shortcut_is_parameter_free() -> None:
    model = build_model(tiny("resnet", width=4), SHAPES["digits"])
    convs = [x.module for x in model.scalable_layers()[1:-1]]
    assert {c.out_channels for c in convs} == {4, 8, 16}
    weights = {id(x.weight) for x in model.scalable_layers()}
    bias_or_norm = [
        p for n, p in model.named_parameters() if id(p) not in weights and n.endswith("weight")
    ]
    assert bias_or_norm == []  # without BN: only scalable weights plus biases


@pytest.mark.parametrize("model_name", ["mlp", "vgg", "resnet"])
def test_batch_norm_toggles(model_name: str) -> None:
    def norms(model: nn.Module) -> int:
        return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())

    off = build_model(tiny(model_name), SHAPES["digits"])
    on = build_model(tiny(model_name, batch_norm=True), SHAPES["digits"])
    assert norms(off) == 0
    hidden = on.scalable_layers()[:-1]
    assert norms(on) == len(hidden)
    assert all(x.module.bias is None for x in hidden)  # BN's shift replaces the bias
    assert all(x.module.bias is not None for x in off.scalable_layers())


def test_dropout_kinds() -> None:
    selu = build_model(tiny("mlp", activation="selu", dropout=0.1), SHAPES["vector"])
    relu = build_model(tiny("mlp", dropout=0.1), SHAPES["vector"])
    none = build_model(tiny("mlp"), SHAPES["vector"])
    assert any(isinstance(m, nn.AlphaDropout) for m in selu.modules())
    assert any(type(m) is nn.Dropout for m in relu.modules())
    assert not any(isinstance(m, nn.Dropout | nn.AlphaDropout) for m in none.modules())


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "selu"])
def test_activations(activation: str) -> None:
    model = build_model(tiny("mlp", activation=activation), SHAPES["vector"])
    assert model.scalable_layers()[0].activation == activation
    assert model(batch(SHAPES["vector"])).shape == (3, 10)


def test_pre_and_post_ln_differ_in_structure() -> None:
    shape = SHAPES["sequence"]
    x = batch(shape)
    orders = {}
    for pos in ("pre", "post"):
        torch.manual_seed(0)
        model = build_model(tiny("transformer", norm_position=pos, depth=1), shape).eval()
        block = model.blocks[0]
        seen: list[str] = []
        for name, mod in [("norm1", block.norm1), ("q", block.attn.q), ("out", block.attn.out)]:
            mod.register_forward_hook(lambda *_a, n=name, out=seen: out.append(n))
        with torch.no_grad():
            orders[pos] = (seen, model(x))
    assert orders["pre"][0] == ["norm1", "q", "out"]
    assert orders["post"][0] == ["q", "out", "norm1"]
    assert not torch.allclose(orders["pre"][1], orders["post"][1])


def test_a_transformer_without_normalisation_has_no_layer_norm() -> None:
    """norm_position none: the pre-LN block with its norms removed, and none before the head;
    the same weights as the pre-LN model, since a LayerNorm holds no random draws."""
    shape, x = SHAPES["sequence"], batch(SHAPES["sequence"])
    torch.manual_seed(0)
    plain = build_model(tiny("transformer", norm_position="none", depth=2), shape).eval()
    torch.manual_seed(0)
    pre = build_model(tiny("transformer", norm_position="pre", depth=2), shape).eval()
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in plain.modules())
    assert [lay.name for lay in plain.scalable_layers()] == [
        lay.name for lay in pre.scalable_layers()
    ]
    for module in pre.modules():  # identity norms: the pre-LN model computes what `plain` does
        if isinstance(module, torch.nn.LayerNorm):
            module.forward = lambda h: h
    with torch.no_grad():
        assert torch.allclose(plain(x), pre(x), atol=1e-6)


def test_transformer_image_tokenisation() -> None:
    rows = build_model(tiny("transformer"), SHAPES["digits"])
    assert rows.max_tokens == 8 and rows.embed.in_features == 1 * 8
    patches = build_model(tiny("transformer"), SHAPES["image16"])
    assert patches.max_tokens == 4 * 3 and patches.embed.in_features == 3 * 16


def test_build_from_dataset_and_defaults() -> None:
    data = Dataset.unsplit(
        name="toy",
        x_train=torch.randn(6, 40),
        y_train=torch.zeros(6, dtype=torch.long),
        x_test=torch.randn(2, 40),
        y_test=torch.zeros(2, dtype=torch.long),
        num_classes=3,
        kind="vector",
    )
    assert DataShape.from_dataset(data) == DataShape((40,), "vector", 3, None)
    model = build_model(ModelSpec(), data)
    assert model.spec.depth == 4 and model.spec.width == 256
    assert model(data.x_test).shape == (2, 3)
    assert ModelSpec(name="resnet").resolved().depth == 20
    assert ModelSpec(name="transformer").resolved().width == 64


@pytest.mark.parametrize(
    ("spec", "shape", "fragment"),
    [
        (ModelSpec(name="lstm"), SHAPES["vector"], "ModelSpec.name"),
        (tiny("mlp", activation="swish"), SHAPES["vector"], "ModelSpec.activation"),
        (tiny("mlp", depth=0), SHAPES["vector"], "ModelSpec.depth"),
        (tiny("mlp", width=0), SHAPES["vector"], "ModelSpec.width"),
        (tiny("mlp", dropout=1.0), SHAPES["vector"], "ModelSpec.dropout"),
        (tiny("mlp", norm_position="middle"), SHAPES["vector"], "ModelSpec.norm_position"),
        (tiny("vgg", depth=12), SHAPES["vector"], "11, 13, 16, 19"),
        (tiny("resnet", depth=21), SHAPES["vector"], "6n+2"),
        (tiny("resnet", depth=2), SHAPES["vector"], "6n+2"),
        (tiny("transformer", depth=0), SHAPES["vector"], "ModelSpec.depth"),
        (tiny("transformer", heads=3), SHAPES["vector"], "valid heads: 1, 2, 4, 8"),
        (tiny("transformer", heads=0), SHAPES["vector"], "ModelSpec.heads"),
        (tiny("transformer", batch_norm=True), SHAPES["vector"], "ModelSpec.batch_norm"),
        (tiny("transformer"), DataShape((1, 18, 18), "image", 3), "divisible by 4"),
        (tiny("mlp"), DataShape((12,), "sequence", 3), "vocab_size"),
        (tiny("mlp"), DataShape((8, 8), "image", 3), "(C, H, W)"),
        (tiny("mlp"), DataShape((40,), "vector", 1), "num_classes"),
        (tiny("mlp"), DataShape((40,), "graph", 3), "DataShape.kind"),  # type: ignore[arg-type]
    ],
)
def test_config_errors(spec: ModelSpec, shape: DataShape, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_model(spec, shape)
    assert fragment in str(info.value)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        build_model(ModelSpec(name="lstm"), SHAPES["vector"])
    assert all(name in str(info.value) for name in MODEL_NAMES)


def test_transformer_accepts_shorter_sequences_only() -> None:
    model = build_model(tiny("transformer"), SHAPES["sequence"])
    assert model(torch.randint(0, 20, (2, 7))).shape == (2, 5)
    with pytest.raises(ValueError, match="at most 12"):
        model(torch.randint(0, 20, (2, 13)))
