"""A researcher's own data: a data factory's return value turned into a :class:`Dataset`.

A data factory (``data: {factory: "package.module:function", kwargs: {...}}`` in a study, or a
callable given to ``initsearch.run_study``) returns one of

- ``{"train": (x, y), "test": (x, y)}``, optionally with ``"val": (x, y)`` and
  ``"num_classes": int``; each split may also be a ``torch.utils.data.Dataset`` of
  ``(x, y)`` items;
- a tuple ``(train, val, test)`` or ``(train, test)`` of such splits;
- an :class:`initsearch.data.Dataset`.

Inputs and labels may be tensors or numpy arrays; labels must be integer class ids. Splits
that are torch Datasets are read once into tensors (the built-in engine indexes whole tensors,
and a user training function gets the same tensors). Without a ``val`` split the validation
split is held out of train exactly as for the built-in data sets (:mod:`initsearch.data.split`,
``val_fraction`` default :data:`DEFAULT_USER_VAL_FRACTION`). The data kind follows the inputs:
integer token ids (N, T) are a sequence, (N, C, H, W) floats an image, anything else a vector.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from initsearch.data.base import DataKind, Dataset
from initsearch.data.split import check_fraction, hold_out, validation_size
from initsearch.errors import ConfigError
from initsearch.factories import FactoryRef, call, ref_name

DEFAULT_USER_VAL_FRACTION = 0.2
SPLITS = ("train", "val", "test")
RETURNS = (
    "return {'train': (x, y), 'test': (x, y)} (optionally 'val' and 'num_classes'), a tuple "
    "(train, val, test) or (train, test) of (x, y) pairs or torch Datasets, or an "
    "initsearch.data.Dataset"
)


def as_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    raise ConfigError(f"{what} is a {type(value).__name__}, not a tensor or numpy array")


def split_tensors(value: Any, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, int64 labels) of one split given as an (x, y) pair or a torch Dataset."""
    if isinstance(value, tuple | list) and len(value) == 2:
        x, y = as_tensor(value[0], f"{where} inputs"), as_tensor(value[1], f"{where} labels")
    elif isinstance(value, torch.utils.data.Dataset):
        items = [value[i] for i in range(len(value))]  # type: ignore[arg-type]
        if not items:
            raise ConfigError(f"{where} is an empty Dataset")
        x = torch.stack([as_tensor(item[0], f"{where} inputs") for item in items])
        y = torch.as_tensor([int(item[1]) for item in items])
    else:
        raise ConfigError(f"{where} is a {type(value).__name__}; give an (x, y) pair or a Dataset")
    if len(x) != len(y) or len(y) == 0:
        raise ConfigError(f"{where} has {len(x)} inputs and {len(y)} labels; both must match, > 0")
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.ndim != 1:
        raise ConfigError(
            f"{where} labels must be a 1-D array of integer class ids, "
            f"got {y.dtype} of shape {tuple(y.shape)}"
        )
    if int(y.min()) < 0:
        raise ConfigError(f"{where} labels must be class ids >= 0, got {int(y.min())}")
    if x.dtype == torch.float64 or x.dtype == torch.float16:
        x = x.float()
    return x, y.long()


def data_kind(x: torch.Tensor) -> DataKind:
    if not x.dtype.is_floating_point:
        return "sequence"
    return "image" if x.ndim == 4 else "vector"


def named_splits(returned: Any, source: str) -> dict[str, Any]:
    """The factory's return value as {split name: value} (plus num_classes when given)."""
    if isinstance(returned, Mapping):
        unknown = set(returned) - {*SPLITS, "num_classes"}
        if unknown or "train" not in returned or "test" not in returned:
            problem = f"unknown keys {sorted(unknown)}" if unknown else "no 'train' or 'test'"
            raise ConfigError(
                f"data factory {source!r} returned a mapping with {problem}; {RETURNS}"
            )
        return dict(returned)
    if isinstance(returned, tuple | list) and len(returned) in (2, 3):
        names = SPLITS if len(returned) == 3 else ("train", "test")
        return dict(zip(names, returned, strict=True))
    raise ConfigError(f"data factory {source!r} returned a {type(returned).__name__}; {RETURNS}")


def to_dataset(
    returned: Any, source: str, val_fraction: float | None = None, limit: int | None = None
) -> Dataset:
    """The factory's return value as a three-split :class:`Dataset`."""
    if isinstance(returned, Dataset):
        ds = returned
        has_val = len(ds.y_val) > 0
    else:
        splits = named_splits(returned, source)
        tensors = {
            name: split_tensors(splits[name], f"data factory {source!r}: split {name!r}")
            for name in SPLITS
            if name in splits
        }
        (x_train, y_train), (x_test, y_test) = tensors["train"], tensors["test"]
        ys = [y for _, y in tensors.values()]
        num_classes = splits.get("num_classes") or int(max(int(y.max()) for y in ys)) + 1
        kind = data_kind(x_train)
        vocab = None
        if kind == "sequence":
            vocab = int(max(int(x.max()) for x, _ in tensors.values())) + 1
        ds = Dataset.unsplit(source, x_train, y_train, x_test, y_test, num_classes, kind, vocab)
        has_val = "val" in tensors
        if has_val:
            ds = replace(ds, x_val=tensors["val"][0], y_val=tensors["val"][1])
    if not has_val:
        default = DEFAULT_USER_VAL_FRACTION
        fraction = (
            default if val_fraction is None else check_fraction(val_fraction, source, default)
        )
        ds = hold_out(ds, validation_size(fraction, len(ds.y_train), source, default))
    if limit is not None and limit < len(ds.y_train):
        ds = replace(ds, x_train=ds.x_train[:limit].clone(), y_train=ds.y_train[:limit].clone())
    return ds


def load_user_data(
    factory: FactoryRef,
    kwargs: Mapping[str, Any],
    val_fraction: float | None = None,
    limit: int | None = None,
    device: str = "cpu",
) -> Dataset:
    """Call the data factory and return its data as a :class:`Dataset` on ``device``."""
    source = ref_name(factory) or "data factory"
    returned = call(factory, "data factory", dict(kwargs))
    return to_dataset(returned, source, val_fraction, limit).to(device)
