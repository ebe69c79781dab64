"""At-init diagnostics: the shared contract's keys, their meaning, and no side effects."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from initsearch.data import Dataset, load_dataset
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec, apply
from initsearch.inits.measurement import (
    DIAGNOSTICS_KEYS,
    LAYER_KEYS,
    RELATIVE_THRESHOLD,
    compute_diagnostics,
)
from initsearch.models import ModelSpec, build_model


@pytest.fixture(scope="module")
def digits() -> Dataset:
    data = load_dataset("digits")
    return replace(data, x_train=data.x_train[:300], y_train=data.y_train[:300])


def build(spec: ModelSpec, data: Dataset, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(spec, data)


def test_contract_keys_lengths_and_json(digits: Dataset) -> None:
    model = build(ModelSpec(name="mlp", depth=3, width=16), digits)
    report = apply(model, InitSpec("emergence", options={"alpha": 1.2}), data=digits)
    diag = report.diagnostics
    # the contract, written out once here; other tests import the key sets
    assert {
        "batch_size",
        "threshold",
        "relative_threshold",
        "loss",
        "log_emergence",
        "active_fraction",
        "log_emergence_relative",
        "active_fraction_relative",
        "layers",
    } == DIAGNOSTICS_KEYS
    assert {
        "name",
        "depth",
        "scale",
        "weight_std",
        "activation_std",
        "dead_fraction",
        "grad_norm",
    } == LAYER_KEYS
    assert set(diag) == DIAGNOSTICS_KEYS
    layers = model.scalable_layers()
    assert len(diag["layers"]) == len(layers)
    for entry, layer, scale in zip(diag["layers"], layers, report.applied_scales, strict=True):
        assert set(entry) == LAYER_KEYS
        assert entry["name"] == layer.name and entry["depth"] == layer.depth
        assert entry["scale"] == scale
        assert entry["weight_std"] == pytest.approx(float(layer.weight.detach().std()), rel=1e-6)
    assert diag["batch_size"] == 256 and diag["threshold"] == 0.05
    assert diag["relative_threshold"] == RELATIVE_THRESHOLD
    assert report.log_emergence_relative == diag["log_emergence_relative"]
    # at init the loss is near log(classes) for a kaiming-scale net
    assert 0.5 * math.log(10) < diag["loss"] < 3 * math.log(10)
    assert json.loads(json.dumps(report.to_dict()))["diagnostics"]["loss"] == diag["loss"]


def test_options_batch_threshold_and_off_switch(digits: Dataset) -> None:
    model = build(ModelSpec(name="mlp", depth=2, width=8), digits)
    options = {"diag_batch": 1000, "threshold": 0.05}
    diag = apply(model, InitSpec("kaiming", options=options), data=digits).diagnostics
    assert diag["batch_size"] == 300 and diag["threshold"] == 0.05  # capped at the data set
    off = InitSpec("kaiming", options={"diagnostics": False})
    assert apply(model, off, data=digits).diagnostics == {}
    assert apply(model, InitSpec("kaiming")).diagnostics == {}  # no data, no diagnostics
    for bad in ({"threshold": "high"}, {"diag_batch": 0}, {"diagnostics": "yes"}):
        with pytest.raises(ConfigError):
            apply(model, InitSpec("kaiming", options=bad), data=digits)


def test_dead_fraction_zero_init_versus_kaiming(digits: Dataset) -> None:
    spec = ModelSpec(name="mlp", depth=3, width=32)
    zero = apply(build(spec, digits), InitSpec("zero"), data=digits).diagnostics
    assert all(layer["dead_fraction"] == 1.0 for layer in zero["layers"])
    assert zero["active_fraction"] == 0.0 and zero["log_emergence"] == float("-inf")
    # all activities 0: none exceeds a fraction of the layer's mean 0 either
    assert zero["active_fraction_relative"] == 0.0
    assert zero["log_emergence_relative"] == float("-inf")
    assert zero["loss"] == pytest.approx(math.log(10), rel=1e-6)  # uniform logits
    assert all(layer["grad_norm"] == 0.0 for layer in zero["layers"])
    kaiming = apply(build(spec, digits), InitSpec("kaiming"), data=digits).diagnostics
    assert all(layer["dead_fraction"] < 0.5 for layer in kaiming["layers"])
    assert kaiming["active_fraction"] > 0.5
    assert all(layer["grad_norm"] > 0 for layer in kaiming["layers"])
    assert all(layer["activation_std"] > 0 for layer in kaiming["layers"])


def test_threshold_sets_activity_for_the_measure_not_dead_units(digits: Dataset) -> None:
    spec = ModelSpec(name="mlp", depth=3, width=32)
    low = apply(build(spec, digits), InitSpec("kaiming"), data=digits).diagnostics
    high = apply(
        build(spec, digits), InitSpec("kaiming", options={"threshold": 0.3}), data=digits
    ).diagnostics
    assert high["active_fraction"] < low["active_fraction"]
    assert math.isfinite(high["log_emergence"])  # some units inactive below active paths
    # dead units are those that never fire, whatever the activity threshold
    dead = [[entry["dead_fraction"] for entry in d["layers"]] for d in (low, high)]
    assert dead[0] == dead[1]


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(name="mlp", depth=2, width=16, dropout=0.5),
        ModelSpec(name="mlp", depth=2, width=16, batch_norm=True),
        ModelSpec(name="vgg", depth=11, width=2, batch_norm=True, dropout=0.3),
        ModelSpec(name="transformer", depth=1, width=8, heads=2, dropout=0.2),
    ],
    ids=["mlp-dropout", "mlp-bn", "vgg-bn-dropout", "transformer"],
)
def test_no_side_effects(spec: ModelSpec, digits: Dataset) -> None:
    """RNG stream, train mode, .grad and BatchNorm statistics are as without diagnostics."""
    draws, states = [], []
    for diagnostics in (True, False):
        model = build(spec, digits, seed=3)
        spec_init = InitSpec("kaiming", options={"diagnostics": diagnostics})
        report = apply(model, spec_init, data=digits)
        draws.append(torch.rand(4))
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        assert bool(report.diagnostics) is diagnostics
        assert model.training
        assert all(p.grad is None for p in model.parameters())
    torch.testing.assert_close(draws[0], draws[1], rtol=0, atol=0)
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        torch.testing.assert_close(states[0][key], states[1][key], rtol=0, atol=0)


def test_eval_mode_caller_keeps_its_mode(digits: Dataset) -> None:
    model = build(ModelSpec(name="resnet", depth=8, width=2), digits).eval()
    layers = model.scalable_layers()
    diag = compute_diagnostics(model, layers, digits, [1.0] * len(layers), batch_size=32)
    assert not model.training and diag["batch_size"] == 32
    assert len(diag["layers"]) == len(layers) and math.isfinite(diag["loss"])
    with pytest.raises(ValueError):
        compute_diagnostics(model, layers, digits, [1.0], batch_size=32)
