"""The in-memory data set every trial trains on.

Small data sets live as whole tensors on the training device, so a training step is an index
into a tensor rather than a trip through DataLoader worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import torch

DataKind = Literal["vector", "image", "sequence"]


@dataclass(frozen=True)
class Dataset:
    """Train and test tensors plus what a model needs to adapt to their shape.

    ``x_*`` are float32 of shape (N, *input_shape) for vectors and images, int64 token ids of
    shape (N, T) for sequences; ``y_*`` are int64 class labels of shape (N,).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    kind: DataKind
    vocab_size: int | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def to(self, device: str | torch.device) -> Dataset:
        return replace(
            self,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
        )

    def describe(self) -> str:
        return (
            f"{self.name}: {len(self.y_train)} train / {len(self.y_test)} test, "
            f"input {self.input_shape}, {self.num_classes} classes"
        )
