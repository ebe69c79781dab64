"""The in-memory data set every trial trains on.

Small data sets live as whole tensors on the training device, so a training step is an index
into a tensor rather than a trip through DataLoader worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
)

from initsearch.errors import ConfigError

DataKind = Literal["vector", "image", "sequence"]
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test tensors plus what a model needs to adapt to their shape.

    ``x_*`` are float32 of shape (N, *input_shape) for vectors and images, int64 token ids of
    shape (N, T) for sequences; ``y_*`` are int64 class labels of shape (N,). The validation
    split is a fixed part of the data set's training data (``initsearch.data.split``); the test
    split is the data set's own test set.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    kind: DataKind
    vocab_size: int | None = None

    @classmethod
    def unsplit(
        cls,
        name: str,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        x_test: torch.Tensor,
        y_test: torch.Tensor,
        num_classes: int,
        kind: DataKind,
        vocab_size: int | None = None,
    ) -> Dataset:
        """A data set whose validation split is still inside its training data (empty
        ``x_val``/``y_val``): what a loader returns before ``load_dataset`` holds it out."""
        empty_x, empty_y = x_train[:0], y_train[:0]
        return cls(
            name, x_train, y_train, empty_x, empty_y, x_test, y_test, num_classes, kind, vocab_size
        )

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
            x_val=self.x_val.to(device),
            y_val=self.y_val.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
        )

    def describe(self) -> str:
        return (
            f"{self.name}: {len(self.y_train)} train / {len(self.y_val)} val / "
            f"{len(self.y_test)} test, input {self.input_shape}, {self.num_classes} classes"
        )

    def loader(
        self, split: str, batch_size: int, shuffle: bool = False, seed: int | None = None
    ) -> DataLoader:
        """Batches ``(x, y)`` of one split (``"train"``, ``"val"`` or ``"test"``), for a
        researcher's own training function.

        Each batch is one index into the split's tensors (no per-sample collation, no worker
        processes), so it stays on the data's device and costs what the built-in engine's
        batches cost. ``shuffle``: a new order every pass, drawn from a generator seeded by
        ``seed`` (the same orders on every run), or from torch's global generator when
        ``seed`` is None. The last batch may be smaller.
        """
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; choose one of {SPLITS}")
        if batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {batch_size}")
        tensors = TensorDataset(getattr(self, f"x_{split}"), getattr(self, f"y_{split}"))
        if shuffle:
            generator = None if seed is None else torch.Generator().manual_seed(seed)
            order = RandomSampler(tensors, generator=generator)
        else:
            order = SequentialSampler(tensors)
        batches = BatchSampler(order, batch_size, drop_last=False)
        return DataLoader(tensors, batch_size=None, sampler=batches)
