"""VGG-style CNN (Simonyan & Zisserman 2015) with a CIFAR-style global-average-pool classifier.

Configs 11/13/16/19 use the standard per-stage conv counts; stage channels are
``width * (1, 2, 4, 8, 8)`` (64, 128, 256, 512, 512 at width 64). Each conv is 3x3 (3 in 1-D),
padding 1, followed by optional BatchNorm, the activation and, at the end of each of the first
four stages, a 2x max-pool. A pool is skipped along any spatial axis already of size 1, so 8x8
digits and length-40 MNIST-1D work. After the last stage: global average pool, optional dropout,
one Linear.

Input adaptation: images (C, H, W) use Conv2d; vectors (L,) use Conv1d with one input channel;
token sequences (T,) go through ``nn.Embedding(vocab_size, width)`` and Conv1d over time.

Scalable layers, in order: [``embed`` (sequences only)], ``convs.0`` .. ``convs.{k-1}``,
``head``; k = depth - 3 (8 convs for VGG11). Depth index = position in that list (the embedding,
when present, is depth 0 and shifts the rest by one). Convs carry the spec's activation; the
embedding and head are "linear".
"""

from __future__ import annotations

import torch
from torch import nn

from initsearch.data.shape import DataShape
from initsearch.models._common import (
    batch_norm_cls,
    conv_cls,
    conv_input,
    make_activation,
    make_dropout,
    named_layers,
    to_channels,
    token_embedding,
)
from initsearch.models.base import ScalableLayer, ScalableModel
from initsearch.models.spec import ModelSpec

# Convs per stage for each VGG depth (depth = convs + 3 fully connected layers of the original).
VGG_STAGES: dict[int, tuple[int, ...]] = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}
STAGE_MULTIPLIERS = (1, 2, 4, 8, 8)


def _pool(dims: int, sizes: tuple[int, ...]) -> tuple[nn.Module, tuple[int, ...]]:
    """A 2x max-pool over the axes that can still be halved, and the sizes after it."""
    kernel = tuple(2 if s >= 2 else 1 for s in sizes)
    after = tuple(s // k for s, k in zip(sizes, kernel, strict=True))
    if all(k == 1 for k in kernel):
        return nn.Identity(), sizes
    pool = nn.MaxPool2d(kernel) if dims == 2 else nn.MaxPool1d(kernel[0])
    return pool, after


class VGG(ScalableModel):
    """VGG-11/13/16/19; see the module docstring for layer order and depth."""

    def __init__(self, spec: ModelSpec, shape: DataShape) -> None:
        super().__init__(spec, shape)
        spec = self.spec
        dims, in_channels, sizes = conv_input(shape, spec.width)
        self.embed = token_embedding(shape, spec.width)
        conv, bn = conv_cls(dims), batch_norm_cls(dims)
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.acts = nn.ModuleList()
        self.pools = nn.ModuleList()
        stages = VGG_STAGES[spec.depth]
        for stage, (count, mult) in enumerate(zip(stages, STAGE_MULTIPLIERS, strict=True)):
            channels = spec.width * mult
            for i in range(count):
                self.convs.append(
                    conv(in_channels, channels, 3, padding=1, bias=not spec.batch_norm)
                )
                self.norms.append(bn(channels) if spec.batch_norm else nn.Identity())
                self.acts.append(make_activation(spec.activation))
                last_in_stage = i == count - 1
                if last_in_stage and stage < len(stages) - 1:
                    pool, sizes = _pool(dims, sizes)
                else:
                    pool = nn.Identity()
                self.pools.append(pool)
                in_channels = channels
        self.drop = make_dropout(spec.dropout, spec.activation)
        self.head = nn.Linear(in_channels, shape.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = to_channels(x, self.kind, self.embed)
        layers = zip(self.convs, self.norms, self.acts, self.pools, strict=True)
        for conv, norm, act, pool in layers:
            h = pool(act(norm(conv(h))))
        h = h.flatten(2).mean(dim=2)
        return self.head(self.drop(h))

    def scalable_layers(self) -> list[ScalableLayer]:
        entries: list[tuple[nn.Module, int, str]] = []
        if self.embed is not None:
            entries.append((self.embed, 0, "linear"))
        offset = len(entries)
        entries += [(c, offset + i, self.spec.activation) for i, c in enumerate(self.convs)]
        entries.append((self.head, len(entries), "linear"))
        return named_layers(self, entries)
