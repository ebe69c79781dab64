"""The validation split: a fixed part of a data set's training data, held out for selection.

Studies select on validation and judge on test, so the test split (the data set's own test
set) must never steer a search. The validation split is taken from the training data: a
permutation of the whole training set drawn from a ``torch.Generator`` seeded with
:data:`VAL_SPLIT_SEED`, its first ``round(fraction * n)`` indices to validation and the rest to
train. The seed is a constant, not the trial's seed: every trial, seed and machine trains and
validates on the same samples, so differences between inits are never differences between
splits. Both parts keep the training set's own order (the indices are sorted), so a train
``limit`` is still a prefix of it and does not move the validation split.
"""

from __future__ import annotations

import math
from dataclasses import replace
from numbers import Real

import torch

from initsearch.data.base import Dataset
from initsearch.errors import ConfigError

VAL_SPLIT_SEED = 20_251_124


def _hint(name: str, default: float) -> str:
    return f"pass e.g. val_fraction={default:.3g}, or leave it unset ({default:.3g} for {name})"


def check_fraction(fraction: object, name: str, default: float) -> float:
    """``fraction`` as a float in (0, 1); a ConfigError names a bad value and the fix."""
    hint = _hint(name, default)
    if isinstance(fraction, bool) or not isinstance(fraction, Real):
        raise ConfigError(f"val_fraction must be a number in (0, 1), got {fraction!r}; {hint}")
    value = float(fraction)
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise ConfigError(f"val_fraction must be in (0, 1), got {fraction!r}; {hint}")
    return value


def validation_size(fraction: object, n: int, name: str, default: float) -> int:
    """How many of ``n`` training samples go to validation: ``round(fraction * n)``, which
    must leave both the train and the validation split non-empty."""
    n_val = round(check_fraction(fraction, name, default) * n)
    if not 0 < n_val < n:
        part = "validation" if n_val < 1 else "train"
        raise ConfigError(
            f"val_fraction {fraction!r} of {name}'s {n} training samples leaves an empty "
            f"{part} split; {_hint(name, default)}"
        )
    return n_val


def validation_indices(n: int, n_val: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices) into a training set of ``n``, both sorted."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(VAL_SPLIT_SEED))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def hold_out(ds: Dataset, n_val: int) -> Dataset:
    """``ds`` (validation still inside its training data) with ``n_val`` samples held out."""
    train_idx, val_idx = validation_indices(len(ds.y_train), n_val)
    return replace(
        ds,
        x_train=ds.x_train[train_idx],
        y_train=ds.y_train[train_idx],
        x_val=ds.x_train[val_idx],
        y_val=ds.y_train[val_idx],
    )
