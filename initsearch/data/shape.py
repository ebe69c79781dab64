"""The four facts about a data set that a model's architecture depends on, known without it.

Models are built from a ``DataShape`` rather than a ``Dataset`` so a spec can be validated, and a
model built (or its layers listed), on a machine that has not loaded (or cannot load) the
tensors. :func:`data_shape` gives the shape of every named data set from a table; tests check
it against the loaded sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from initsearch.data.base import DataKind, Dataset
from initsearch.data.digits import IMAGE_SHAPE as DIGITS_SHAPE
from initsearch.data.digits import NUM_CLASSES as DIGITS_CLASSES
from initsearch.data.loader import canonical_name
from initsearch.data.mnist_1d import NUM_CLASSES as MNIST1D_CLASSES
from initsearch.data.mnist_1d import SEQ_LENGTH as MNIST1D_LENGTH
from initsearch.data.sequence import SEQ_LEN, SEQUENCE_TASKS
from initsearch.data.vision import VISION_SETS, VISION_SHAPES

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


def _known_shapes() -> dict[str, DataShape]:
    """Every named data set's shape, from the constants its loader builds it with."""
    shapes = {
        "mnist1d": DataShape((MNIST1D_LENGTH,), "vector", MNIST1D_CLASSES),
        "digits": DataShape(DIGITS_SHAPE, "image", DIGITS_CLASSES),
    }
    for name, (_, num_classes) in VISION_SETS.items():
        shapes[name] = DataShape(VISION_SHAPES[name], "image", num_classes)
    for name, task in SEQUENCE_TASKS.items():
        shapes[name] = DataShape((SEQ_LEN,), "sequence", task.num_classes, task.vocab_size)
    return shapes


_SHAPES = _known_shapes()


def data_shape(name: str) -> DataShape:
    """The shape of data set ``name`` (any spelling ``load_dataset`` accepts), without loading
    it; ``limit`` and the data root do not change it."""
    return _SHAPES[canonical_name(name)]
