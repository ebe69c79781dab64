"""scikit-learn's bundled 8x8 digits (1797 images): a real image task that needs no files."""

from __future__ import annotations

import numpy as np
import torch

from initsearch.data._common import standardize_channels
from initsearch.data.base import Dataset

# The split seed is fixed on purpose: every trial must train and test on the same images, or
# differences between inits would be confounded with differences between splits.
SPLIT_SEED = 20240601
TEST_FRACTION = 0.2
NUM_CLASSES = 10
IMAGE_SHAPE = (1, 8, 8)


def stratified_split(
    y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled train/test indices holding ``test_fraction`` of every class out for testing.

    Implemented here (not sklearn's train_test_split) so the split cannot drift with a
    scikit-learn upgrade.
    """
    rng = np.random.default_rng(seed)
    train_idx: list[np.ndarray] = []
    test_idx: list[np.ndarray] = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_fraction * len(idx)))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    # Shuffle across classes so a prefix (``limit``) is still class-balanced-ish.
    return rng.permutation(np.concatenate(train_idx)), rng.permutation(np.concatenate(test_idx))


def load_digits_dataset() -> Dataset:
    """Digits as (1, 8, 8) images scaled to [0, 1], then standardised with train mean/std."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.images, dtype=np.float32) / 16.0  # pixel values are 0..16
    y = np.asarray(bunch.target, dtype=np.int64)
    train_idx, test_idx = stratified_split(y, TEST_FRACTION, SPLIT_SEED)
    x_t = torch.from_numpy(x).unsqueeze(1)  # (N, 1, 8, 8)
    tr, te = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
    x_train, x_test = standardize_channels(x_t[tr], x_t[te])  # indexing copies
    return Dataset.unsplit(
        name="digits",
        x_train=x_train,
        y_train=torch.from_numpy(y[train_idx]),
        x_test=x_test,
        y_test=torch.from_numpy(y[test_idx]),
        num_classes=NUM_CLASSES,
        kind="image",
    )
