"""Small pieces the models share: activations, dropout, and naming of scalable layers."""

from __future__ import annotations

import torch
from torch import nn

from initsearch.data.shape import DataShape
from initsearch.models.base import ScalableLayer

_ACTIVATION_MODULES: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "selu": nn.SELU,
}


def make_activation(name: str) -> nn.Module:
    """A fresh (not in-place) activation module, so hooks see each layer's own output."""
    return _ACTIVATION_MODULES[name]()


def token_embedding(shape: DataShape, width: int) -> nn.Embedding | None:
    """An ``nn.Embedding(vocab_size, width)`` for token sequences, None for other data."""
    if shape.kind != "sequence":
        return None
    assert shape.vocab_size is not None  # validate_shape guarantees it
    return nn.Embedding(shape.vocab_size, width)


def make_dropout(p: float, activation: str) -> nn.Module:
    """Dropout that keeps SELU self-normalising (AlphaDropout); Identity when ``p`` is 0."""
    if p == 0.0:
        return nn.Identity()
    return nn.AlphaDropout(p) if activation == "selu" else nn.Dropout(p)


def named_layers(
    model: nn.Module, entries: list[tuple[nn.Module, int, str]]
) -> list[ScalableLayer]:
    """Turn (module, depth, activation) triples into ScalableLayers named by module path.

    Using the attribute path (e.g. ``blocks.0.attn.q``) makes names unique, stable across builds
    and directly usable as ``state_dict`` prefixes.
    """
    paths = {id(module): path for path, module in model.named_modules()}
    return [ScalableLayer(paths[id(m)], m, depth, act) for m, depth, act in entries]


def conv_input(shape: DataShape, width: int) -> tuple[int, int, tuple[int, ...]]:
    """How a CNN sees the data: (spatial dims, input channels, spatial sizes).

    Images (C, H, W) -> 2-D convs over C channels. Vectors (L,) -> 1-D convs over one channel.
    Token sequences (T,) -> 1-D convs over the ``width`` channels of a token embedding.
    """
    if shape.kind == "image":
        c, h, w = shape.input_shape
        return 2, c, (h, w)
    (length,) = shape.input_shape
    return 1, (width if shape.kind == "sequence" else 1), (length,)


def to_channels(x: torch.Tensor, kind: str, embed: nn.Module | None) -> torch.Tensor:
    """Put a batch in (N, C, *spatial) layout for the convolutions (see ``conv_input``)."""
    if kind == "image":
        return x
    if kind == "sequence":
        assert embed is not None
        return embed(x).transpose(1, 2)
    return x.unsqueeze(1)


def conv_cls(dims: int) -> type[nn.Conv1d] | type[nn.Conv2d]:
    return nn.Conv2d if dims == 2 else nn.Conv1d


def batch_norm_cls(dims: int) -> type[nn.BatchNorm1d] | type[nn.BatchNorm2d]:
    return nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
