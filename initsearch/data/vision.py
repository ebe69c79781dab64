"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100, read through torchvision's own classes.

torchvision parses the files (IDX for MNIST, pickled batches for CIFAR) and, with
``download=True``, fetches them through its real download path. The whole set is then held as
one float tensor standardised per channel with the statistics of the whole training set
(validation included: ``load_dataset`` holds the validation split out afterwards).

torchvision's CIFAR classes MD5 the full-size batch files on every load. The subclasses made by
:func:`_existence_checked` replace only that integrity check with "do the expected files
exist", so loading is fast, a missing file can be named in the error, and the parsing stays
torchvision's.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch

from initsearch.data._common import standardize_channels
from initsearch.data.base import Dataset
from initsearch.errors import ConfigError

# name -> (torchvision class name, number of classes)
VISION_SETS: dict[str, tuple[str, int]] = {
    "mnist": ("MNIST", 10),
    "fashion_mnist": ("FashionMNIST", 10),
    "cifar10": ("CIFAR10", 10),
    "cifar100": ("CIFAR100", 100),
}
# name -> per-example (C, H, W), as the files define it
VISION_SHAPES: dict[str, tuple[int, int, int]] = {
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "cifar100": (3, 32, 32),
}


def _is_cifar(tv_name: str) -> bool:
    return tv_name.startswith("CIFAR")


@functools.cache
def _existence_checked(tv_name: str) -> type:
    """A torchvision CIFAR class whose integrity check only tests that the files exist.

    The meta file's md5 is dropped too, since torchvision's ``_load_meta`` checks it separately;
    ``download()`` still verifies the archive's md5 when it fetches it.
    """
    import torchvision.datasets as tvd

    base: Any = getattr(tvd, tv_name)

    def _check_integrity(self: Any) -> bool:
        return not missing_files(tv_name, Path(self.root))

    return type(
        f"ExistenceChecked{tv_name}",
        (base,),
        {"meta": {**base.meta, "md5": None}, "_check_integrity": _check_integrity},
    )


def _tv_class(tv_name: str) -> Any:
    if _is_cifar(tv_name):
        return _existence_checked(tv_name)
    import torchvision.datasets as tvd

    return getattr(tvd, tv_name)


def expected_folder(tv_name: str, root: Path) -> Path:
    """The folder torchvision reads this data set's files from."""
    if _is_cifar(tv_name):
        return root / _tv_class(tv_name).base_folder
    return root / tv_name / "raw"  # torchvision's MNIST.raw_folder: root/<ClassName>/raw


def expected_files(tv_name: str) -> list[str]:
    """File names torchvision needs in :func:`expected_folder` (uncompressed)."""
    cls = _tv_class(tv_name)
    if _is_cifar(tv_name):
        return [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    return [Path(f).stem if f.endswith(".gz") else f for f, _ in cls.resources]


def missing_files(tv_name: str, root: Path) -> list[str]:
    folder = expected_folder(tv_name, root)
    return [f for f in expected_files(tv_name) if not (folder / f).is_file()]


def _open(tv_name: str, name: str, root: Path, train: bool, download: bool) -> Any:
    """Construct the torchvision data set, turning 'files not there' into a ConfigError."""
    cls = _tv_class(tv_name)
    folder = expected_folder(tv_name, root)
    try:
        return cls(str(root), train=train, download=download)
    except (RuntimeError, OSError) as e:
        missing = missing_files(tv_name, root)
        if download:
            raise ConfigError(
                f"could not download {name} into {folder}: {e}. Check network access, or put "
                f"the files ({', '.join(expected_files(tv_name))}) there yourself / set "
                f"--data-root to a folder that has them."
            ) from e
        if not missing:
            raise
        form = "" if _is_cifar(tv_name) else " (uncompressed)"
        raise ConfigError(
            f"{name} files not found: torchvision looks in {folder} for "
            f"{', '.join(expected_files(tv_name))}{form}; missing: {', '.join(missing)}. "
            f"Pass --download to fetch them, or put the files there / set --data-root."
        ) from e


def _as_float_images(ds: Any, tv_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, H, W) float32 in [0, 1] and int64 labels from a torchvision data set."""
    if _is_cifar(tv_name):
        x_u8 = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # HWC -> CHW
    else:
        x_u8 = ds.data.unsqueeze(1)
    x = x_u8.to(torch.float32).div_(255.0)
    y = torch.as_tensor(ds.targets, dtype=torch.int64)
    return x, y


def load_vision(name: str, root: Path, download: bool) -> Dataset:
    """Load one of :data:`VISION_SETS` whole, standardised per channel with train stats."""
    tv_name, num_classes = VISION_SETS[name]
    train = _open(tv_name, name, root, train=True, download=download)
    test = _open(tv_name, name, root, train=False, download=False)
    x_train, y_train = _as_float_images(train, tv_name)
    x_test, y_test = _as_float_images(test, tv_name)
    del train, test
    x_train, x_test = standardize_channels(x_train, x_test)
    return Dataset.unsplit(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=num_classes,
        kind="image",
    )
