"""``load_dataset``: one entry point from a data set name to tensors on a device.

Every data set comes in three splits: train, validation (a fixed part of the training data,
:mod:`initsearch.data.split`) and test (the data set's own test set). The validation share
defaults per data set (:data:`DEFAULT_VAL_FRACTION`).
"""

from __future__ import annotations

import operator
import os
from dataclasses import replace
from pathlib import Path

from initsearch.data.base import Dataset
from initsearch.data.digits import load_digits_dataset
from initsearch.data.mnist_1d import load_mnist1d
from initsearch.data.sequence import load_sequence
from initsearch.data.split import check_fraction, hold_out, validation_size
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

DEFAULT_VAL_FRACTION: dict[str, float] = {
    "mnist1d": 0.2,  # 800 of 4,000 (the test set has 1,000)
    "digits": 0.2,  # 288 of 1,438: the same share the loader holds out for testing
    "mnist": 1 / 12,  # 5,000 of 60,000 images: the usual MNIST validation set
    "fashion_mnist": 1 / 12,  # 5,000 of 60,000, as for MNIST
    "cifar10": 0.1,  # 5,000 of 50,000: the usual CIFAR validation set
    "cifar100": 0.1,  # 5,000 of 50,000 (50 per class on average)
    "seq_majority": 0.2,  # 2,000 of 10,000: as large as the test set
    "seq_sorted": 0.2,
}
"""The share of each data set's training data held out for validation when none is given.

Chosen so the validation split resolves differences of about one percent of accuracy (at
least ~300 samples; ~800-5,000 where the data set is large enough), while training keeps 80%
or more of its data. For MNIST and CIFAR they are the 5,000-image validation sets of common
practice; for the small sets the validation split is about as large as the test set.
"""

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
    val_fraction: float | None = None,
) -> Dataset:
    """Load data set ``name`` whole onto ``device``, split into train, validation and test.

    ``root`` is where file-backed sets live (and where MNIST-1D is cached); ``download`` lets
    torchvision fetch missing MNIST/CIFAR files. ``val_fraction`` of the training data is held
    out for validation (None: :data:`DEFAULT_VAL_FRACTION`); the test split is the data set's
    own test set. ``limit`` then keeps only the first ``limit`` samples of the train part
    (validation and test are untouched), for quick runs and tests. Preprocessing statistics
    (the per-channel standardisation of images) come from the whole training set, validation
    included, so neither the limit nor the validation share changes a single pixel.

    No data set depends on a trial's seed: splits and synthetic data use fixed seeds, so all
    trials share the same data.
    """
    key = canonical_name(name)
    n_limit = _check_limit(limit)
    default = DEFAULT_VAL_FRACTION[key]
    fraction = default if val_fraction is None else check_fraction(val_fraction, key, default)
    data_root = Path(root).expanduser() if root is not None else default_root()

    if key == "mnist1d":
        ds = load_mnist1d(data_root)
    elif key == "digits":
        ds = load_digits_dataset()
    elif key.startswith("seq_"):
        ds = load_sequence(key)
    else:
        ds = load_vision(key, data_root, download)
    ds = hold_out(ds, validation_size(fraction, len(ds.y_train), key, default))

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
