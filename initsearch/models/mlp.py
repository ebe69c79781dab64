"""Multi-layer perceptron: the simplest deep network whose per-layer scales are all explicit.

Forward: input -> ``depth`` x [Linear(width) -> BatchNorm1d? -> activation -> dropout?] ->
Linear(num_classes). Vectors and images are flattened. Token sequences go through an
``nn.Embedding(vocab_size, width)`` whose vectors are mean-pooled over time (a bag-of-words
encoder, so the MLP ignores token order; use the transformer or a CNN for order-dependent
tasks).

Scalable layers, in order: [``embed`` (sequences only)], ``hidden.0`` .. ``hidden.{depth-1}``,
``head``. Depth index = position in that list, so the embedding, when present, is depth 0 and
shifts the Linear layers by one. Each hidden Linear's activation is the spec's; the embedding
and the head are "linear".
"""

from __future__ import annotations

import math

import torch
from torch import nn

from initsearch.data.shape import DataShape
from initsearch.models._common import make_activation, make_dropout, named_layers, token_embedding
from initsearch.models.base import ScalableLayer, ScalableModel
from initsearch.models.spec import ModelSpec


class MLP(ScalableModel):
    """Fully connected classifier; see the module docstring for layer order and depth."""

    def __init__(self, spec: ModelSpec, shape: DataShape) -> None:
        super().__init__(spec, shape)
        spec = self.spec
        width = spec.width
        self.embed = token_embedding(shape, width)
        in_features = width if self.embed is not None else math.prod(shape.input_shape)
        sizes = [in_features] + [width] * spec.depth
        bias = not spec.batch_norm  # BN's shift makes a Linear bias redundant
        self.hidden = nn.ModuleList(
            nn.Linear(a, b, bias=bias) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(width) if spec.batch_norm else nn.Identity() for _ in range(spec.depth)
        )
        self.acts = nn.ModuleList(make_activation(spec.activation) for _ in range(spec.depth))
        self.drops = nn.ModuleList(
            make_dropout(spec.dropout, spec.activation) for _ in range(spec.depth)
        )
        self.head = nn.Linear(width, shape.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x).mean(dim=1) if self.embed is not None else x.flatten(1)
        layers = zip(self.hidden, self.norms, self.acts, self.drops, strict=True)
        for linear, norm, act, drop in layers:
            h = drop(act(norm(linear(h))))
        return self.head(h)

    def scalable_layers(self) -> list[ScalableLayer]:
        modules: list[nn.Module] = [] if self.embed is None else [self.embed]
        acts = ["linear"] * len(modules)
        modules += list(self.hidden)
        acts += [self.spec.activation] * len(self.hidden)
        modules.append(self.head)
        acts.append("linear")
        return named_layers(
            self, [(m, i, a) for i, (m, a) in enumerate(zip(modules, acts, strict=True))]
        )
