"""The four facts about a data set that a model's architecture depends on.

Models are built from a ``DataShape`` rather than a ``Dataset`` so a spec can be validated, and a
model built, on a machine that has not loaded (or cannot load) the tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

from initsearch.data.base import DataKind, Dataset

DATA_KINDS = ("vector", "image", "sequence")


@dataclass(frozen=True)
class DataShape:
    """Per-example input shape, data kind, class count and (for sequences) vocabulary size.

    ``input_shape`` excludes the batch dimension: (L,) for vectors, (C, H, W) for images, (T,)
    for token sequences.
    """

    input_shape: tuple[int, ...]
    kind: DataKind
    num_classes: int
    vocab_size: int | None = None

    @classmethod
    def from_dataset(cls, data: Dataset) -> DataShape:
        """The shape of a loaded data set."""
        return cls(
            input_shape=tuple(int(s) for s in data.input_shape),
            kind=data.kind,
            num_classes=int(data.num_classes),
            vocab_size=None if data.vocab_size is None else int(data.vocab_size),
        )
