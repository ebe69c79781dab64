"""A researcher's own data: what a data factory may return, and the errors when it is wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from initsearch.data import Dataset
from initsearch.data.split import validation_indices
from initsearch.data.user import DEFAULT_USER_VAL_FRACTION, load_user_data, to_dataset
from initsearch.errors import ConfigError
from initsearch.train import DataSpec


def blobs(n: int = 50, features: int = 6, classes: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, features, generator=g), torch.randint(classes, (n,), generator=g)


def make_pairs(n: int = 50) -> dict:
    return {"train": blobs(n), "test": blobs(20, seed=1)}


def make_numpy() -> tuple:
    x, y = blobs(40)
    tx, ty = blobs(10, seed=2)
    return (x.numpy(), y.numpy()), (tx.numpy().astype(np.float64), ty.numpy())


def test_a_mapping_of_pairs_gets_the_platforms_validation_split():
    ds = to_dataset(make_pairs(), "mine")
    n_val = round(DEFAULT_USER_VAL_FRACTION * 50)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (50 - n_val, n_val, 20)
    x, _ = blobs(50)
    _, val_idx = validation_indices(50, n_val)
    assert torch.equal(ds.x_val, x[val_idx])  # the same fixed split as the built-in sets
    assert ds.kind == "vector" and ds.num_classes == 3 and ds.name == "mine"


def test_an_explicit_validation_split_and_class_count_are_kept():
    x, y = blobs(30)
    ds = to_dataset({"train": blobs(50), "val": (x, y), "test": blobs(5), "num_classes": 7}, "m")
    assert torch.equal(ds.x_val, x) and len(ds.y_train) == 50 and ds.num_classes == 7


def test_numpy_tuples_torch_datasets_images_and_token_sequences():
    ds = to_dataset(make_numpy(), "np")
    assert ds.x_train.dtype == torch.float32 and ds.x_test.dtype == torch.float32
    images = torch.randn(12, 1, 4, 4)
    labels = torch.arange(12) % 2
    set_ = torch.utils.data.TensorDataset(images, labels)
    ds = to_dataset((set_, set_, set_), "img")
    assert ds.kind == "image" and ds.input_shape == (1, 4, 4) and len(ds.y_val) == 12
    tokens = torch.randint(9, (20, 5))
    ds = to_dataset(
        {"train": (tokens, labels.repeat(2)[:20]), "test": (tokens, labels.repeat(2)[:20])}, "seq"
    )
    assert ds.kind == "sequence" and ds.vocab_size == int(tokens.max()) + 1


def test_the_data_spec_calls_the_factory_by_reference_and_limits_train():
    spec = DataSpec(factory="tests.test_user_data:make_pairs", kwargs={"n": 80}, limit=10)
    ds = spec.load()
    assert len(ds.y_train) == 10 and len(ds.y_val) == round(0.2 * 80)
    assert spec.label == "tests.test_user_data:make_pairs"
    assert spec.shape().input_shape == (6,)


def test_an_initsearch_dataset_is_accepted():
    x, y = blobs(40)
    ds = Dataset.unsplit("own", x, y, x[:5], y[:5], 3, "vector")
    out = to_dataset(ds, "own", val_fraction=0.25)
    assert len(out.y_val) == 10 and len(out.y_train) == 30


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ([1, 2, 3, 4], "returned a list; return {'train': (x, y)"),
        ({"train": blobs()}, "no 'train' or 'test'"),
        ({"train": blobs(), "test": blobs(), "extra": 1}, "unknown keys ['extra']"),
        ({"train": (torch.randn(5, 2), torch.rand(5)), "test": blobs()}, "integer class ids"),
        ({"train": (torch.randn(5, 2), torch.zeros(4).long()), "test": blobs()}, "must match"),
        ({"train": ([1, 2], torch.zeros(2).long()), "test": blobs()}, "not a tensor or numpy"),
        ({"train": "x", "test": blobs()}, "split 'train' is a str"),
    ],
)
def test_wrong_returns_name_the_factory_and_the_fix(returned, message):
    with pytest.raises(ConfigError, match="data factory 'src'") as err:
        to_dataset(returned, "src")
    assert message in str(err.value)


def raises() -> dict:
    raise RuntimeError("disk not mounted")


def test_a_factory_that_raises_or_cannot_be_imported_is_a_config_error():
    with pytest.raises(ConfigError, match=r"data factory 'tests.test_user_data:raises' raised "
                       r"RuntimeError: disk not mounted"):  # fmt: skip
        load_user_data("tests.test_user_data:raises", {})
    with pytest.raises(ConfigError, match="cannot import module 'no_such_module_xyz'"):
        load_user_data("no_such_module_xyz:make", {})
    with pytest.raises(ConfigError, match="has no 'nope'"):
        load_user_data("tests.test_user_data:nope", {})
