"""Data sets as whole in-memory tensors: ``load_dataset(name)`` returns a :class:`Dataset`
with train, validation and test splits.

``data_shape(name)`` says what a model needs to know about a data set (input shape, kind,
classes, vocabulary) without loading it. Only torch and numpy are imported here; torchvision,
mnist1d and scikit-learn are imported by the loader that needs them, so e.g. the sequence tasks
work on a machine without them.
"""

from __future__ import annotations

from initsearch.data.base import Dataset
from initsearch.data.loader import (
    DATASET_NAMES,
    DEFAULT_VAL_FRACTION,
    default_root,
    load_dataset,
)
from initsearch.data.shape import DATA_KINDS, DataShape, data_shape

__all__ = [
    "DATASET_NAMES",
    "DATA_KINDS",
    "DEFAULT_VAL_FRACTION",
    "DataShape",
    "Dataset",
    "data_shape",
    "default_root",
    "load_dataset",
]
