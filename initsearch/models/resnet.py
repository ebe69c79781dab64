"""CIFAR ResNet (He et al. 2016, section 4.2): depth 6n+2, three stages of n BasicBlocks.

Stem conv3x3(width) -> stages of n blocks with width, 2*width, 4*width channels (stride 2 at the
first block of stages 2 and 3) -> global average pool -> optional dropout -> Linear. A block is
conv -> BN? -> act -> conv -> BN? -> (+ shortcut) -> act. Shortcuts are option A: parameter-free
(stride-2 subsample, zero-pad the new channels), so no projection weights appear among the
scalable layers. Without ``batch_norm`` the convs keep their biases.

Input adaptation as in VGG: images use Conv2d, vectors (L,) Conv1d over one channel, token
sequences an ``nn.Embedding(vocab_size, width)`` followed by Conv1d over time.

Scalable layers and depth index (longest path; the identity shortcut adds no depth):
[``embed`` 0 (sequences only, shifting everything below by one)], ``stem`` 0,
block b's ``conv1`` 1+2b and ``conv2`` 2+2b (blocks numbered 0..3n-1 across stages, e.g.
``stages.1.0.conv1``), ``head`` 6n+1. ResNet-20 lists 1 + 18 + 1 = 20 layers. conv2 carries the
activation applied after the residual sum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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


class ShortcutA(nn.Module):
    """Option-A shortcut: subsample by ``stride`` and zero-pad channels; no weights to scale."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, dims: int) -> None:
        super().__init__()
        self.stride = stride
        self.dims = dims
        extra = out_channels - in_channels
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = (slice(None), slice(None)) + (slice(None, None, self.stride),) * self.dims
        return F.pad(x[index], (0, 0) * self.dims + self.pad)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection."""

    def __init__(
        self, in_channels: int, channels: int, stride: int, dims: int, spec: ModelSpec
    ) -> None:
        super().__init__()
        conv, bn = conv_cls(dims), batch_norm_cls(dims)
        bias = not spec.batch_norm
        self.conv1 = conv(in_channels, channels, 3, stride=stride, padding=1, bias=bias)
        self.bn1 = bn(channels) if spec.batch_norm else nn.Identity()
        self.act1 = make_activation(spec.activation)
        self.conv2 = conv(channels, channels, 3, padding=1, bias=bias)
        self.bn2 = bn(channels) if spec.batch_norm else nn.Identity()
        self.act2 = make_activation(spec.activation)
        self.shortcut: nn.Module = (
            ShortcutA(in_channels, channels, stride, dims)
            if stride != 1 or in_channels != channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act1(self.bn1(self.conv1(x)))
        return self.act2(self.bn2(self.conv2(h)) + self.shortcut(x))


class ResNet(ScalableModel):
    """CIFAR ResNet-(6n+2); see the module docstring for layer order and depth."""

    def __init__(self, spec: ModelSpec, shape: DataShape) -> None:
        super().__init__(spec, shape)
        spec = self.spec
        n = (spec.depth - 2) // 6
        dims, in_channels, _ = conv_input(shape, spec.width)
        self.embed = token_embedding(shape, spec.width)
        conv, bn = conv_cls(dims), batch_norm_cls(dims)
        self.stem = conv(in_channels, spec.width, 3, padding=1, bias=not spec.batch_norm)
        self.stem_bn = bn(spec.width) if spec.batch_norm else nn.Identity()
        self.stem_act = make_activation(spec.activation)
        self.stages = nn.ModuleList()
        channels_in = spec.width
        for stage in range(3):
            channels = spec.width * 2**stage
            blocks = nn.ModuleList()
            for b in range(n):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(BasicBlock(channels_in, channels, stride, dims, spec))
                channels_in = channels
            self.stages.append(blocks)
        self.drop = make_dropout(spec.dropout, spec.activation)
        self.head = nn.Linear(channels_in, shape.num_classes)

    def blocks(self) -> list[BasicBlock]:
        """All blocks in forward order."""
        return [block for stage in self.stages for block in stage]  # type: ignore[union-attr]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem_act(self.stem_bn(self.stem(to_channels(x, self.kind, self.embed))))
        for block in self.blocks():
            h = block(h)
        h = h.flatten(2).mean(dim=2)
        return self.head(self.drop(h))

    def scalable_layers(self) -> list[ScalableLayer]:
        act = self.spec.activation
        entries: list[tuple[nn.Module, int, str]] = []
        if self.embed is not None:
            entries.append((self.embed, 0, "linear"))
        base = len(entries)
        entries.append((self.stem, base, act))
        blocks = self.blocks()
        for b, block in enumerate(blocks):
            entries.append((block.conv1, base + 1 + 2 * b, act))
            entries.append((block.conv2, base + 2 + 2 * b, act))
        entries.append((self.head, base + 1 + 2 * len(blocks), "linear"))
        return named_layers(self, entries)
