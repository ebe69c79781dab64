"""MNIST-1D (Greydanus & Kowalczyk, 2020), generated locally and cached as .npz.

The ``mnist1d`` package regenerates the authors' data set from its default arguments (fixed
seed 42), so nothing is downloaded. Generation takes a second or two, so the arrays are cached
under ``root/mnist1d/`` keyed by the arguments and the package version; later trials just read
the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from initsearch.data.base import Dataset

NUM_CLASSES = 10
SEQ_LENGTH = 40  # final_seq_length of the package's default args: each example is (40,)


def _default_args() -> dict[str, Any]:
    from mnist1d.data import get_dataset_args

    return get_dataset_args(as_dict=True)


def cache_path(root: Path, args: dict[str, Any]) -> Path:
    """Where the arrays generated from ``args`` are cached (the key covers args and version)."""
    key_src = json.dumps(
        {"args": args, "mnist1d": metadata.version("mnist1d")}, sort_keys=True, default=str
    )
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    return root / "mnist1d" / f"mnist1d_{key}.npz"


def _generate(args: dict[str, Any]) -> dict[str, np.ndarray]:
    """Run the package's generator without disturbing the caller's global RNG state.

    ``make_dataset`` calls ``random.seed``/``np.random.seed(args.seed)``; restoring the state
    afterwards keeps a trial's own seeding independent of whether the cache was warm.
    """
    from mnist1d.data import make_dataset
    from mnist1d.utils import ObjectView

    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(ObjectView(dict(args)))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {
        "x": np.asarray(data["x"], dtype=np.float32),
        "y": np.asarray(data["y"], dtype=np.int64),
        "x_test": np.asarray(data["x_test"], dtype=np.float32),
        "y_test": np.asarray(data["y_test"], dtype=np.int64),
    }


def _write_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write via a temp file + rename so parallel workers never read a half-written cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_mnist1d(root: Path) -> Dataset:
    """MNIST-1D with the package's default args and its own 4000/1000 train/test split
    (``load_dataset`` then holds the validation split out of the 4000).

    Values are kept as the package returns them (it already centres the whole set and scales it
    to unit std), which is what the authors train on.
    """
    args = _default_args()
    path = cache_path(root, args)
    arrays: dict[str, np.ndarray] | None = None
    if path.is_file():
        try:
            with np.load(path) as f:
                arrays = {k: f[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError) as e:  # corrupt cache: regenerate it
            warnings.warn(f"ignoring unreadable MNIST-1D cache {path}: {e}", stacklevel=2)
    if arrays is None:
        arrays = _generate(args)
        try:
            _write_atomic(path, arrays)
        except OSError as e:  # read-only data root: still usable, just not cached
            warnings.warn(f"could not cache MNIST-1D at {path}: {e}", stacklevel=2)
    return Dataset.unsplit(
        name="mnist1d",
        x_train=torch.from_numpy(arrays["x"]),
        y_train=torch.from_numpy(arrays["y"]),
        x_test=torch.from_numpy(arrays["x_test"]),
        y_test=torch.from_numpy(arrays["y_test"]),
        num_classes=NUM_CLASSES,
        kind="vector",
    )
