"""Tests for initsearch.data: every loader, on tiny files written in the real on-disk formats,
and the validation split held out of each data set's training data.

Nothing is downloaded: MNIST-style IDX files and CIFAR-style Python-2 pickles are written under
a tmp root in the folder layout torchvision expects, then read back through torchvision's own
classes via ``load_dataset``.
"""

from __future__ import annotations

import pickle
import struct
import sys
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch

from initsearch.data import (
    DATASET_NAMES,
    DEFAULT_VAL_FRACTION,
    Dataset,
    DataShape,
    data_shape,
    default_root,
    load_dataset,
)
from initsearch.data.split import VAL_SPLIT_SEED, validation_indices
from initsearch.errors import ConfigError

# --------------------------------------------------------------------------- file writers


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the IDX format: magic 0x0000_08_<ndim>, big-endian int32 dims."""
    assert array.dtype == np.uint8
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">i", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    path.write_bytes(header + array.tobytes())


def write_mnist(root: Path, folder: str, rng: np.random.Generator, n_train: int, n_test: int):
    """Tiny MNIST-layout files under ``root/<folder>/raw``; returns the arrays written."""
    raw = root / folder / "raw"
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        arrays[prefix] = (images, labels)
    return arrays


class Py2Str(bytes):
    """Marks bytes to pickle as a Python 2 ``str`` (what the CIFAR files were written with)."""


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler lets us add an opcode writer
    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2str(self, obj: Py2Str) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + bytes(obj))
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + bytes(obj))
        self.memoize(obj)

    dispatch[Py2Str] = save_py2str


def py2_pickle(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        _Py2Pickler(f, protocol=2).dump(obj)


def _cifar_batch(rng: np.random.Generator, n: int, label_key: str, num_classes: int):
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = rng.integers(0, num_classes, n).tolist()
    batch = {
        Py2Str(b"batch_label"): Py2Str(b"tiny batch"),
        Py2Str(label_key.encode()): labels,
        Py2Str(b"data"): data,
        Py2Str(b"filenames"): [Py2Str(f"img_{i}.png".encode()) for i in range(n)],
    }
    if label_key == "fine_labels":
        batch[Py2Str(b"coarse_labels")] = [lab // 5 for lab in labels]
    return batch, data, labels


def write_cifar10(root: Path, rng: np.random.Generator, per_batch: int, n_test: int):
    folder = root / "cifar-10-batches-py"
    train_data, train_labels = [], []
    for i in range(1, 6):
        batch, data, labels = _cifar_batch(rng, per_batch, "labels", 10)
        py2_pickle(folder / f"data_batch_{i}", batch)
        train_data.append(data)
        train_labels += labels
    batch, test_data, test_labels = _cifar_batch(rng, n_test, "labels", 10)
    py2_pickle(folder / "test_batch", batch)
    names = [Py2Str(f"class{i}".encode()) for i in range(10)]
    meta = {
        Py2Str(b"num_cases_per_batch"): per_batch,
        Py2Str(b"label_names"): names,
        Py2Str(b"num_vis"): 3072,
    }
    py2_pickle(folder / "batches.meta", meta)
    return (np.concatenate(train_data), train_labels), (test_data, test_labels)


def write_cifar100(root: Path, rng: np.random.Generator, n_train: int, n_test: int):
    folder = root / "cifar-100-python"
    train, train_data, train_labels = _cifar_batch(rng, n_train, "fine_labels", 100)
    test, test_data, test_labels = _cifar_batch(rng, n_test, "fine_labels", 100)
    py2_pickle(folder / "train", train)
    py2_pickle(folder / "test", test)
    meta = {
        Py2Str(b"fine_label_names"): [Py2Str(f"fine{i}".encode()) for i in range(100)],
        Py2Str(b"coarse_label_names"): [Py2Str(f"coarse{i}".encode()) for i in range(20)],
    }
    py2_pickle(folder / "meta", meta)
    return (train_data, train_labels), (test_data, test_labels)


def split_rows(array, name: str, fraction: float | None = None):
    """(train rows, validation rows) of a whole training set, as ``load_dataset`` splits it."""
    n = len(array)
    fraction = DEFAULT_VAL_FRACTION[name] if fraction is None else fraction
    train_idx, val_idx = validation_indices(n, round(fraction * n))
    return array[train_idx.numpy()], array[val_idx.numpy()]


def standardized(x_train_u8: np.ndarray, x_test_u8: np.ndarray):
    """Reference preprocessing: [0, 1], then per-channel train mean/std (N, C, H, W)."""
    tr = x_train_u8.astype(np.float64) / 255.0
    te = x_test_u8.astype(np.float64) / 255.0
    mean = tr.mean(axis=(0, 2, 3), keepdims=True)
    std = tr.std(axis=(0, 2, 3), keepdims=True)
    return (tr - mean) / std, (te - mean) / std


# --------------------------------------------------------------------------- registry / API


def test_dataset_names_and_unknown_name() -> None:
    assert set(DATASET_NAMES) >= {
        "mnist1d",
        "digits",
        "mnist",
        "fashion_mnist",
        "cifar10",
        "cifar100",
        "seq_majority",
    }
    with pytest.raises(ConfigError) as exc:
        load_dataset("imagenet")
    msg = str(exc.value)
    assert "imagenet" in msg
    assert all(name in msg for name in DATASET_NAMES)


def test_import_is_light() -> None:
    """``import initsearch.data`` must not pull in torchvision, mnist1d or sklearn."""
    import subprocess

    code = (
        "import sys, initsearch.data; "
        "print(sorted(m for m in ('torchvision', 'mnist1d', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", ["mnist1d", "digits", "seq_majority", "seq_sorted"])
def test_data_shape_without_loading_equals_the_loaded_shape(name: str) -> None:
    assert data_shape(name) == DataShape.from_dataset(load_dataset(name))


def test_data_shape_names_every_data_set() -> None:
    for name in DATASET_NAMES:
        assert data_shape(name).kind in ("vector", "image", "sequence")
    assert data_shape("Fashion-MNIST") == data_shape("fashion_mnist")
    with pytest.raises(ConfigError, match="imagenet"):
        data_shape("imagenet")


def test_default_root_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INITSEARCH_DATA", str(tmp_path / "d"))
    assert default_root() == tmp_path / "d"
    monkeypatch.delenv("INITSEARCH_DATA")
    assert default_root() == Path.home() / ".cache" / "initsearch" / "data"


@pytest.mark.parametrize("bad", [0, -3, True, 2.5, "10"])
def test_bad_limit(bad: object) -> None:
    with pytest.raises(ConfigError, match="limit"):
        load_dataset("seq_sorted", limit=bad)  # type: ignore[arg-type]


def test_bad_device() -> None:
    with pytest.raises(ConfigError, match="device"):
        load_dataset("seq_sorted", device="not-a-device")


# --------------------------------------------------------------------------- mnist1d


def test_mnist1d_shapes_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mnist1d.data

    calls = []
    real_make = mnist1d.data.make_dataset

    def counting_make(*args, **kwargs):
        calls.append(1)
        return real_make(*args, **kwargs)

    monkeypatch.setattr(mnist1d.data, "make_dataset", counting_make)
    np_state = np.random.get_state()[1].copy()

    ds = load_dataset("mnist1d", root=tmp_path)
    assert len(calls) == 1
    # make_dataset reseeds numpy's global RNG; the loader must put the caller's state back
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert ds.kind == "vector" and ds.num_classes == 10 and ds.vocab_size is None
    assert ds.input_shape == (40,)
    assert ds.x_train.shape == (3200, 40) and ds.x_val.shape == (800, 40)
    assert ds.x_test.shape == (1000, 40)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert set(ds.y_train.unique().tolist()) == set(range(10))
    # the package centres/scales the whole set itself; we keep its values
    x_all = torch.cat([ds.x_train, ds.x_val, ds.x_test])
    assert abs(x_all.mean().item()) < 1e-3 and abs(x_all.std().item() - 1) < 1e-2

    cached = list((tmp_path / "mnist1d").glob("*.npz"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns

    ds2 = load_dataset("mnist1d", root=tmp_path, limit=100)
    assert len(calls) == 1, "second load regenerated instead of reading the cache"
    assert cached[0].stat().st_mtime_ns == mtime
    assert torch.equal(ds2.x_train, ds.x_train[:100])
    assert torch.equal(ds2.x_val, ds.x_val) and torch.equal(ds2.y_val, ds.y_val)
    assert torch.equal(ds2.x_test, ds.x_test) and torch.equal(ds2.y_test, ds.y_test)


# --------------------------------------------------------------------------- digits


def test_digits() -> None:
    ds = load_dataset("digits")
    assert ds.kind == "image" and ds.input_shape == (1, 8, 8) and ds.num_classes == 10
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 1797
    assert abs(len(ds.y_test) - 0.2 * 1797) < 10
    assert len(ds.y_val) == round(0.2 * (1797 - len(ds.y_test)))
    # stratified: every class is in the test set in proportion
    counts = torch.bincount(ds.y_test, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38
    # standardised with the statistics of the whole training set (validation included)
    x_fit = torch.cat([ds.x_train, ds.x_val])
    assert abs(x_fit.mean().item()) < 1e-5
    assert abs(x_fit.std(correction=0).item() - 1) < 1e-5
    assert abs(ds.x_test.mean().item()) < 0.1

    # the split does not depend on the trial seed
    torch.manual_seed(12345)
    again = load_dataset("digits")
    for a, b in zip(
        (ds.x_train, ds.y_train, ds.x_val, ds.y_val, ds.x_test, ds.y_test),
        (again.x_train, again.y_train, again.x_val, again.y_val, again.x_test, again.y_test),
        strict=True,
    ):
        assert torch.equal(a, b)

    # together, train, validation and test are exactly sklearn's images and labels
    from sklearn.datasets import load_digits

    bunch = load_digits()
    n_unique = torch.cat([ds.x_train, ds.x_val, ds.x_test]).flatten(1).unique(dim=0).shape[0]
    assert n_unique == np.unique(bunch.data, axis=0).shape[0]
    labels = torch.bincount(torch.cat([ds.y_train, ds.y_val, ds.y_test]), minlength=10)
    assert labels.tolist() == np.bincount(bunch.target, minlength=10).tolist()


# --------------------------------------------------------------------------- MNIST / Fashion

MNIST_LIKE = [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")]


@pytest.mark.parametrize(("name", "folder"), MNIST_LIKE)
def test_mnist_idx_round_trip(tmp_path: Path, name: str, folder: str) -> None:
    rng = np.random.default_rng(0)
    arrays = write_mnist(tmp_path, folder, rng, n_train=12, n_test=5)
    ds = load_dataset(name, root=tmp_path)
    (tr_x, tr_y), (te_x, te_y) = arrays["train"], arrays["t10k"]
    assert ds.kind == "image" and ds.input_shape == (1, 28, 28) and ds.num_classes == 10
    assert DataShape.from_dataset(ds) == data_shape(name)
    assert ds.x_train.dtype == torch.float32
    assert len(ds.y_val) == 1  # 1/12 of 12 training images
    labels_train, labels_val = split_rows(tr_y.astype(np.int64), name)
    assert ds.y_train.tolist() == labels_train.tolist() and ds.y_val.tolist() == labels_val.tolist()
    assert torch.equal(ds.y_test, torch.from_numpy(te_y.astype(np.int64)))
    # standardised with the whole training set's statistics, then split
    ref_tr, ref_te = standardized(tr_x[:, None], te_x[:, None])
    ref_train, ref_val = split_rows(ref_tr, name)
    assert np.allclose(ds.x_train.numpy(), ref_train, atol=1e-5)
    assert np.allclose(ds.x_val.numpy(), ref_val, atol=1e-5)
    assert np.allclose(ds.x_test.numpy(), ref_te, atol=1e-5)

    limited = load_dataset(name, root=tmp_path, limit=4)
    assert limited.x_train.shape == (4, 1, 28, 28)
    # the limit does not change preprocessing (stats from the full train set) nor validation
    assert torch.equal(limited.x_train, ds.x_train[:4])
    assert torch.equal(limited.x_val, ds.x_val)
    assert torch.equal(limited.x_test, ds.x_test)


@pytest.mark.parametrize(("name", "folder"), MNIST_LIKE)
def test_mnist_missing_files_message(tmp_path: Path, name: str, folder: str) -> None:
    write_mnist(tmp_path, folder, np.random.default_rng(0), 3, 2)
    (tmp_path / folder / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(ConfigError) as exc:
        load_dataset(name, root=tmp_path)
    msg = str(exc.value)
    assert str(tmp_path / folder / "raw") in msg
    for f in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        assert f in msg
    assert "missing: t10k-labels-idx1-ubyte." in msg
    assert "--download" in msg and "--data-root" in msg


def test_mnist_download_uses_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """download=True goes through torchvision's own downloader (stubbed: no network here)."""
    import torchvision.datasets.mnist as tv_mnist

    urls = []

    def offline(url, *args, **kwargs):
        urls.append(url)
        raise URLError("offline")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    with pytest.raises(ConfigError, match="could not download mnist"):
        load_dataset("mnist", root=tmp_path, download=True)
    assert urls and urls[0].endswith("train-images-idx3-ubyte.gz")


# --------------------------------------------------------------------------- CIFAR


def test_cifar10_pickle_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    (tr_x, tr_y), (te_x, te_y) = write_cifar10(tmp_path, rng, per_batch=3, n_test=4)
    # our fixture is the documented format: bytes keys when read the way the CIFAR page says
    with (tmp_path / "cifar-10-batches-py" / "data_batch_1").open("rb") as f:
        assert set(pickle.load(f, encoding="bytes")) >= {b"data", b"labels"}

    ds = load_dataset("cifar10", root=tmp_path)
    assert ds.kind == "image" and ds.input_shape == (3, 32, 32) and ds.num_classes == 10
    assert DataShape.from_dataset(ds) == data_shape("cifar10")
    assert ds.x_train.shape == (13, 3, 32, 32) and ds.x_val.shape == (2, 3, 32, 32)
    assert ds.x_test.shape == (4, 3, 32, 32)
    labels_train, labels_val = split_rows(np.asarray(tr_y), "cifar10")
    assert ds.y_train.tolist() == labels_train.tolist() and ds.y_val.tolist() == labels_val.tolist()
    assert ds.y_test.tolist() == te_y
    # rows are 1024 R, then G, then B values, each row-major 32x32
    ref_tr, ref_te = standardized(tr_x.reshape(-1, 3, 32, 32), te_x.reshape(-1, 3, 32, 32))
    ref_train, ref_val = split_rows(ref_tr, "cifar10")
    assert np.allclose(ds.x_train.numpy(), ref_train, atol=1e-5)
    assert np.allclose(ds.x_val.numpy(), ref_val, atol=1e-5)
    assert np.allclose(ds.x_test.numpy(), ref_te, atol=1e-5)
    x_fit = torch.cat([ds.x_train, ds.x_val])
    assert torch.allclose(x_fit.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)


def test_cifar100_pickle_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    (tr_x, tr_y), (te_x, te_y) = write_cifar100(tmp_path, rng, n_train=7, n_test=3)
    ds = load_dataset("cifar100", root=tmp_path, limit=5)
    assert ds.num_classes == 100 and ds.input_shape == (3, 32, 32)
    assert DataShape.from_dataset(ds) == data_shape("cifar100")
    labels_train, labels_val = split_rows(np.asarray(tr_y), "cifar100")  # 6 and 1 of 7
    assert ds.y_train.tolist() == labels_train[:5].tolist()
    assert ds.y_val.tolist() == labels_val.tolist() and ds.y_test.tolist() == te_y
    ref_tr, ref_te = standardized(tr_x.reshape(-1, 3, 32, 32), te_x.reshape(-1, 3, 32, 32))
    ref_train, ref_val = split_rows(ref_tr, "cifar100")
    assert np.allclose(ds.x_train.numpy(), ref_train[:5], atol=1e-5)
    assert np.allclose(ds.x_val.numpy(), ref_val, atol=1e-5)
    assert np.allclose(ds.x_test.numpy(), ref_te, atol=1e-5)


def test_cifar_loads_through_real_torchvision_classes(tmp_path: Path) -> None:
    """Only the integrity check is ours; parsing and meta come from torchvision's classes."""
    import torchvision.datasets as tvd

    from initsearch.data.vision import _existence_checked

    write_cifar100(tmp_path, np.random.default_rng(3), 2, 2)
    cls = _existence_checked("CIFAR100")
    assert issubclass(cls, tvd.CIFAR100)
    assert "__init__" not in vars(cls) and "_load_meta" not in vars(cls)
    ds = cls(str(tmp_path), train=True)
    assert ds.classes[:2] == ["fine0", "fine1"] and len(ds.classes) == 100
    # the stock class refuses our tiny files (md5), which is why the check is replaced
    with pytest.raises(RuntimeError):
        tvd.CIFAR100(str(tmp_path), train=True)


@pytest.mark.parametrize(
    ("name", "folder", "files"),
    [
        (
            "cifar10",
            "cifar-10-batches-py",
            [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"],
        ),
        ("cifar100", "cifar-100-python", ["train", "test", "meta"]),
    ],
)
def test_cifar_missing_files_message(
    tmp_path: Path, name: str, folder: str, files: list[str]
) -> None:
    with pytest.raises(ConfigError) as exc:
        load_dataset(name, root=tmp_path)
    msg = str(exc.value)
    assert str(tmp_path / folder) in msg
    assert all(f in msg for f in files)
    assert "--download" in msg and "--data-root" in msg


def test_cifar_missing_meta_is_named(tmp_path: Path) -> None:
    write_cifar10(tmp_path, np.random.default_rng(4), 2, 2)
    (tmp_path / "cifar-10-batches-py" / "batches.meta").unlink()
    with pytest.raises(ConfigError, match=r"missing: batches\.meta\."):
        load_dataset("cifar10", root=tmp_path)


def test_cifar_download_uses_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.cifar as tv_cifar

    urls = []

    def offline(url, *args, **kwargs):
        urls.append((url, kwargs.get("md5")))
        raise URLError("offline")

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", offline)
    with pytest.raises(ConfigError, match="could not download cifar10"):
        load_dataset("cifar10", root=tmp_path, download=True)
    # torchvision's real archive URL, with its md5 still verified on download
    assert urls == [("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", urls[0][1])]
    assert urls[0][1]


# --------------------------------------------------------------------------- sequences


@pytest.mark.parametrize("name", ["seq_majority", "seq_sorted"])
def test_sequence_tasks(name: str) -> None:
    torch.manual_seed(0)
    ds = load_dataset(name)
    torch.manual_seed(99)
    other = load_dataset(name)  # the trial seed does not change the data
    assert torch.equal(ds.x_train, other.x_train) and torch.equal(ds.y_test, other.y_test)
    assert ds.kind == "sequence" and ds.x_train.dtype == torch.int64
    assert ds.x_train.ndim == 2 and ds.x_train.shape[1] == 32
    assert ds.vocab_size is not None
    assert ds.x_train.min() >= 0 and ds.x_train.max() < ds.vocab_size
    # exactly balanced: the test set, and the training data before validation is held out
    for y in (torch.cat([ds.y_train, ds.y_val]), ds.y_test):
        counts = torch.bincount(y, minlength=ds.num_classes)
        assert counts.min() == counts.max() == len(y) // ds.num_classes


def test_seq_majority_labels() -> None:
    ds = load_dataset("seq_majority")
    counts = torch.nn.functional.one_hot(ds.x_train, ds.vocab_size).sum(1)
    top2 = counts.topk(2, dim=1).values
    assert bool((top2[:, 0] > top2[:, 1]).all())  # the mode is unique
    assert torch.equal(counts.argmax(1), ds.y_train)
    # non-trivial: the first token alone is a poor guess of the label
    assert (ds.x_train[:, 0] == ds.y_train).float().mean() < 0.3


def test_seq_sorted_labels() -> None:
    ds = load_dataset("seq_sorted")
    x = torch.cat([ds.x_train, ds.x_val, ds.x_test])
    y = torch.cat([ds.y_train, ds.y_val, ds.y_test])
    is_sorted = (x[:, 1:] >= x[:, :-1]).all(dim=1)
    assert torch.equal(is_sorted.long(), y)
    # negatives hold the same tokens as a sorted sequence: only order differs
    assert torch.equal(x.sort(dim=1).values[y == 1], x[y == 1])


def test_to_device_and_limit() -> None:
    ds = load_dataset("seq_sorted", limit=64, device="cpu")
    assert isinstance(ds, Dataset)
    assert ds.x_train.shape == (64, 32) and len(ds.y_train) == 64
    assert len(ds.y_val) == 2000 and len(ds.y_test) == 2000  # validation and test untouched
    assert ds.device == torch.device("cpu")
    moved = ds.to("cpu")
    assert moved.device.type == "cpu" and torch.equal(moved.x_train, ds.x_train)
    assert torch.equal(moved.x_val, ds.x_val)
    big = load_dataset("seq_sorted", limit=10**9)
    assert len(big.y_train) == 8_000
    assert ds.describe().startswith("seq_sorted: 64 train / 2000 val / 2000 test")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_to_cuda() -> None:
    ds = load_dataset("digits", device="cuda")
    assert ds.x_train.is_cuda and ds.x_val.is_cuda and ds.y_test.is_cuda


# --------------------------------------------------------------------------- validation split


def test_validation_split_is_fixed_and_disjoint_from_train() -> None:
    """The split depends on nothing a trial sets: not the seed, not the limit."""
    from initsearch.data.digits import load_digits_dataset

    torch.manual_seed(0)
    ds = load_dataset("digits")
    torch.manual_seed(12345)
    limited = load_dataset("digits", limit=50)
    assert torch.equal(ds.x_val, limited.x_val) and torch.equal(ds.y_val, limited.y_val)
    assert torch.equal(limited.x_train, ds.x_train[:50])

    whole = load_digits_dataset()  # the training data before validation is held out
    n = len(whole.y_train)
    train_idx, val_idx = validation_indices(n, len(ds.y_val))
    assert sorted(train_idx.tolist() + val_idx.tolist()) == list(range(n))  # disjoint, complete
    assert train_idx.tolist() == sorted(train_idx.tolist())  # the training set's own order
    assert torch.equal(ds.x_train, whole.x_train[train_idx])
    assert torch.equal(ds.x_val, whole.x_train[val_idx])
    assert torch.equal(ds.x_test, whole.x_test)
    # no validation image is a training image (digits has no duplicate images)
    train_rows = {tuple(r) for r in ds.x_train.flatten(1).tolist()}
    assert not any(tuple(r) in train_rows for r in ds.x_val.flatten(1).tolist())
    # the permutation comes from a constant, documented seed
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(VAL_SPLIT_SEED))
    assert set(val_idx.tolist()) == set(perm[: len(val_idx)].tolist())


@pytest.mark.parametrize("fraction", [0.05, 0.25, 0.5, 0.9])
def test_validation_size_follows_the_fraction(fraction: float) -> None:
    ds = load_dataset("seq_sorted", val_fraction=fraction)
    assert len(ds.y_val) == round(fraction * 10_000)
    assert len(ds.y_train) == 10_000 - len(ds.y_val)
    assert len(ds.y_test) == 2000


def test_every_data_set_has_a_default_fraction() -> None:
    assert set(DEFAULT_VAL_FRACTION) == set(DATASET_NAMES)
    assert all(0 < f < 1 for f in DEFAULT_VAL_FRACTION.values())
    ds = load_dataset("digits")
    n = len(ds.y_train) + len(ds.y_val)
    assert len(ds.y_val) == round(DEFAULT_VAL_FRACTION["digits"] * n)


@pytest.mark.parametrize("bad", [0, 1, 0.0, 1.0, -0.2, 1.5, float("nan"), True, "0.2"])
def test_bad_val_fraction(bad: object) -> None:
    with pytest.raises(ConfigError) as exc:
        load_dataset("digits", val_fraction=bad)  # type: ignore[arg-type]
    msg = str(exc.value)
    assert "val_fraction" in msg and repr(bad) in msg
    assert "val_fraction=0.2" in msg  # the fix: a fraction that works


@pytest.mark.parametrize(("fraction", "empty"), [(1e-4, "validation"), (0.9999, "train")])
def test_val_fraction_leaving_an_empty_split(fraction: float, empty: str) -> None:
    with pytest.raises(ConfigError, match=f"empty {empty} split"):
        load_dataset("digits", val_fraction=fraction)
