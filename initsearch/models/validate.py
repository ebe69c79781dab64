"""Spec and data checks shared by ``build_model`` and the model constructors.

Every failure is a ConfigError naming the field, the bad value and the values that would work,
so a typo in a study config is caught before any GPU time is spent.
"""

from __future__ import annotations

from initsearch.data.shape import DATA_KINDS, DataShape
from initsearch.errors import ConfigError
from initsearch.models.spec import ACTIVATIONS, NORM_POSITIONS, ModelSpec

VGG_DEPTHS = (11, 13, 16, 19)
PATCH = 4  # transformer image patch side, used when H >= PATCH_MIN_HEIGHT
PATCH_MIN_HEIGHT = 16


def validate_shape(shape: DataShape) -> None:
    """Reject data shapes no model can take (wrong rank for the kind, missing vocab size)."""
    if shape.kind not in DATA_KINDS:
        raise ConfigError(
            f"unknown data kind {shape.kind!r}; DataShape.kind must be one of "
            f"{', '.join(DATA_KINDS)}"
        )
    rank = 3 if shape.kind == "image" else 1
    layout = "(C, H, W)" if shape.kind == "image" else "(L,)" if shape.kind == "vector" else "(T,)"
    if len(shape.input_shape) != rank or any(int(s) < 1 for s in shape.input_shape):
        raise ConfigError(
            f"{shape.kind} data needs input_shape {layout} with positive sizes, got "
            f"{tuple(shape.input_shape)}; fix the data set's tensor layout"
        )
    if shape.num_classes < 2:
        raise ConfigError(f"num_classes={shape.num_classes}; a classifier needs at least 2 classes")
    if shape.kind == "sequence" and (shape.vocab_size is None or shape.vocab_size < 1):
        raise ConfigError(
            f"sequence data needs vocab_size >= 1 for the token embedding, got "
            f"{shape.vocab_size!r}; set Dataset.vocab_size"
        )


def validate_spec(spec: ModelSpec, shape: DataShape) -> ModelSpec:
    """Check ``spec`` against itself and ``shape``; return it with defaults filled in."""
    validate_shape(shape)
    spec = spec.resolved()  # raises on an unknown name
    assert spec.depth is not None and spec.width is not None
    if spec.activation not in ACTIVATIONS:
        raise ConfigError(
            f"unknown activation {spec.activation!r}; set ModelSpec.activation to one of "
            f"{', '.join(ACTIVATIONS)}"
        )
    if spec.norm_position not in NORM_POSITIONS:
        raise ConfigError(
            f"unknown norm_position {spec.norm_position!r}; set ModelSpec.norm_position to one of "
            f"{', '.join(NORM_POSITIONS)}"
        )
    if not 0.0 <= spec.dropout < 1.0:
        raise ConfigError(f"ModelSpec.dropout={spec.dropout} must be in [0, 1)")
    if spec.width < 1:
        raise ConfigError(f"ModelSpec.width={spec.width} must be >= 1")
    _check_depth(spec)
    if spec.name == "transformer":
        _check_transformer(spec, shape)
    return spec


def _check_depth(spec: ModelSpec) -> None:
    depth = spec.depth
    assert depth is not None
    if spec.name == "vgg" and depth not in VGG_DEPTHS:
        raise ConfigError(
            f"ModelSpec.depth={depth} is not a VGG configuration; choose one of "
            f"{', '.join(map(str, VGG_DEPTHS))}"
        )
    if spec.name == "resnet" and (depth < 8 or (depth - 2) % 6 != 0):
        raise ConfigError(
            f"ModelSpec.depth={depth} is not a CIFAR ResNet depth; use 6n+2 with n >= 1 "
            "(8, 14, 20, 32, 44, 56, 110, ...)"
        )
    if spec.name in ("mlp", "transformer") and depth < 1:
        what = "hidden layers" if spec.name == "mlp" else "blocks"
        raise ConfigError(f"ModelSpec.depth={depth} {what} for {spec.name}; use depth >= 1")


def _check_transformer(spec: ModelSpec, shape: DataShape) -> None:
    assert spec.width is not None
    if spec.heads < 1 or spec.width % spec.heads != 0:
        divisors = [h for h in range(1, spec.width + 1) if spec.width % h == 0]
        raise ConfigError(
            f"ModelSpec.heads={spec.heads} must be >= 1 and divide width={spec.width}; "
            f"valid heads: {', '.join(map(str, divisors))}"
        )
    if spec.batch_norm:
        raise ConfigError(
            "ModelSpec.batch_norm=True has no meaning for the transformer (it uses LayerNorm, "
            "placed by norm_position); set batch_norm=False"
        )
    if shape.kind == "image":
        _, h, w = shape.input_shape
        if h >= PATCH_MIN_HEIGHT and (h % PATCH or w % PATCH):
            raise ConfigError(
                f"transformer cuts images with H >= {PATCH_MIN_HEIGHT} into {PATCH}x{PATCH} "
                f"patches, but input_shape {tuple(shape.input_shape)} has H or W not divisible "
                f"by {PATCH}; resize or crop the images to a multiple of {PATCH}"
            )
