"""``load_dataset``: one entry point from a data set name to tensors on a device."""

from __future__ import annotations

import operator
import os
from dataclasses import replace
from pathlib import Path

from initsearch.data.base import Dataset
from initsearch.data.digits import load_digits_dataset
from initsearch.data.mnist_1d import load_mnist1d
from initsearch.data.sequence import load_sequence
from initsearch.data.vision import load_vision
from initsearch.errors import ConfigError

DATASET_NAMES: tuple[str, ...] = (
    "mnist1d",
    "digits",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "seq_majority",
    "seq_sorted",
)

DATA_ROOT_ENV = "INITSEARCH_DATA"


def default_root() -> Path:
    """``$INITSEARCH_DATA`` if set, else ``~/.cache/initsearch/data``."""
    env = os.environ.get(DATA_ROOT_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "initsearch" / "data"


def canonical_name(name: str) -> str:
    """Accept 'Fashion-MNIST' / 'fashion_mnist' alike; the Dataset carries the canonical name."""
    key = name.strip().lower().replace("-", "_")
    if key not in DATASET_NAMES:
        raise ConfigError(f"unknown data set {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    return key


def _check_limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    try:
        n = operator.index(limit)
    except TypeError:
        n = 0
    if isinstance(limit, bool) or n < 1:
        raise ConfigError(f"limit must be a positive integer, got {limit!r}; pass e.g. limit=512")
    return n


def load_dataset(
    name: str,
    root: str | Path | None = None,
    download: bool = False,
    device: str = "cpu",
    limit: int | None = None,
) -> Dataset:
    """Load data set ``name`` whole onto ``device``.

    ``root`` is where file-backed sets live (and where MNIST-1D is cached); ``download`` lets
    torchvision fetch missing MNIST/CIFAR files. ``limit`` keeps only the first ``limit``
    training samples (the test set is untouched), for quick runs and tests; preprocessing
    statistics still come from the full train set so a limited run sees the same pixels.

    No data set depends on a trial's seed: splits and synthetic data use fixed seeds, so all
    trials share the same data.
    """
    key = canonical_name(name)
    n_limit = _check_limit(limit)
    data_root = Path(root).expanduser() if root is not None else default_root()

    if key == "mnist1d":
        ds = load_mnist1d(data_root)
    elif key == "digits":
        ds = load_digits_dataset()
    elif key.startswith("seq_"):
        ds = load_sequence(key)
    else:
        ds = load_vision(key, data_root, download)

    if n_limit is not None and n_limit < len(ds.y_train):
        # clone() so the full train tensor can be freed rather than kept alive by a view
        ds = replace(ds, x_train=ds.x_train[:n_limit].clone(), y_train=ds.y_train[:n_limit].clone())
    try:
        return ds.to(device)
    except (RuntimeError, AssertionError) as e:
        raise ConfigError(
            f"cannot move data set {key!r} to device {device!r}: {e}. Pick an available "
            f"device, e.g. 'cpu' or 'cuda' on a machine with a GPU."
        ) from e
