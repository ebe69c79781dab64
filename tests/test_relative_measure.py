"""The scale-free emergence measure: blind to per-layer rescaling, close to the absolute one at
Kaiming scale, and still able to move where the rule is more than a rescaling (residuals)."""

from __future__ import annotations

import random

import pytest
import torch

from initsearch.data import Dataset, load_dataset
from initsearch.inits import InitReport, InitSpec, apply
from initsearch.inits.measurement import RELATIVE_THRESHOLD, LayerActivity
from initsearch.models import ModelSpec, build_model

DEEP = ModelSpec(name="mlp", depth=16, width=64)


@pytest.fixture(scope="module")
def mnist1d() -> Dataset:
    return load_dataset("mnist1d")


def report(spec: ModelSpec, data: Dataset, init: InitSpec, seed: int = 0) -> InitReport:
    torch.manual_seed(seed)
    return apply(build_model(spec, data), init, data=data)


def test_active_relative_is_a_fraction_of_the_layer_mean() -> None:
    activity = torch.tensor([0.0, 0.05, 0.2, 1.0, 2.0, float("nan")], dtype=torch.float64)
    finite = LayerActivity("h", 0, activity[:5], 1.0)  # mean 0.65: threshold 0.065 at 0.1
    assert finite.active_relative(0.1).tolist() == [False, False, True, True, True]
    scaled = LayerActivity("h", 0, activity[:5] * 7.3, 1.0)
    assert torch.equal(scaled.active_relative(0.1), finite.active_relative(0.1))
    assert finite.active(0.05).tolist() == [False, False, True, True, True]
    assert not LayerActivity("h", 0, activity, 1.0).active_relative(0.1).any()  # NaN mean


def test_rule_on_a_bias_free_relu_mlp_moves_only_the_absolute_measure(mnist1d) -> None:
    """Depth 16, alpha 1.2 (the issue's case): the rule only rescales each layer's output, so
    the relative measure is exactly Kaiming's while the absolute one collapses (55 -> ~12)."""
    base = report(DEEP, mnist1d, InitSpec("kaiming"))
    ruled = report(DEEP, mnist1d, InitSpec("emergence", options={"alpha": 1.2}))
    assert ruled.log_emergence_relative == pytest.approx(base.log_emergence_relative, abs=1e-9)
    assert (
        ruled.diagnostics["active_fraction_relative"]
        == base.diagnostics["active_fraction_relative"]
    )
    assert ruled.log_emergence < base.log_emergence - 10


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "bn"])
def test_any_positive_per_layer_factors_leave_the_relative_measure(mnist1d, batch_norm) -> None:
    spec = ModelSpec(name="mlp", depth=6, width=32, batch_norm=batch_norm)
    rng = random.Random(1)
    factors = tuple(rng.uniform(0.2, 5.0) for _ in range(7))
    base = report(spec, mnist1d, InitSpec("kaiming"), seed=2)
    scaled = report(spec, mnist1d, InitSpec("kaiming", scales=factors), seed=2)
    assert scaled.log_emergence_relative == pytest.approx(base.log_emergence_relative, abs=1e-9)
    assert scaled.log_emergence != pytest.approx(base.log_emergence, abs=1e-3)


@pytest.mark.parametrize("depth", [4, 16])
def test_at_kaiming_scale_relative_flags_about_what_absolute_flags(mnist1d, depth) -> None:
    """Why RELATIVE_THRESHOLD is 0.1: a Kaiming layer's mean activity is ~0.5, so 0.1 x mean
    sits near the absolute 0.05 and both pick nearly the same units."""
    assert RELATIVE_THRESHOLD == 0.1
    for seed in range(2):
        diag = report(ModelSpec("mlp", depth=depth, width=64), mnist1d, InitSpec("kaiming"), seed)
        assert (
            abs(diag.diagnostics["active_fraction_relative"] - diag.diagnostics["active_fraction"])
            < 0.05
        )
        assert diag.log_emergence_relative == pytest.approx(diag.log_emergence, rel=0.1)


def test_residual_sums_let_the_rule_move_the_relative_measure() -> None:
    """ResNet: the shortcut skips the scaled convs, so the rule is no pure rescaling there."""
    digits = load_dataset("digits")
    spec = ModelSpec(name="resnet", depth=8, width=4)
    changes = [
        report(spec, digits, InitSpec("emergence", options={"alpha": 1.5}), seed).diagnostics[
            "log_emergence_relative"
        ]
        - report(spec, digits, InitSpec("kaiming"), seed).diagnostics["log_emergence_relative"]
        for seed in range(4)
    ]
    assert max(abs(c) for c in changes) > 0.5


def test_reports_stored_before_the_relative_measure_still_load() -> None:
    old = {
        "scheme": "kaiming",
        "applied_scales": [1.0, 1.0],
        "layer_names": ["hidden.0", "head"],
        "diagnostics": {"log_emergence": 3.2, "active_fraction": 0.9, "layers": []},
    }
    loaded = InitReport.from_dict(old)
    assert loaded.log_emergence == 3.2 and loaded.log_emergence_relative is None
