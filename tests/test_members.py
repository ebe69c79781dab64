"""run_members: a trial's seeds (and a pack's trials) trained together, seen once per epoch.

Interleaved solo runs give exactly ``run_trial``'s curves (each run keeps its own batch order
and its own state of the global generators, so dropout masks match too); as a pack, the
members match their solo runs within tests/test_pack.py's tolerances.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from initsearch.data import load_dataset
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec
from initsearch.models import ModelSpec
from initsearch.train import Budget, TrialSpec, run_members, run_trial
from tests.test_pack import assert_same_run


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def seed_specs(**model) -> list[TrialSpec]:
    """Three members: one init on seeds 1 and 2, another init on seed 1."""
    base = TrialSpec(
        model=ModelSpec("mlp", depth=2, width=24, **model), budget=Budget(epochs=3, batch_size=64)
    )
    return [
        replace(base, seed=1),
        replace(base, seed=2),
        replace(base, seed=1, init=InitSpec("xavier")),
    ]


def curves_without_time(result) -> dict:
    curve = result.curve.to_dict()
    curve.pop("epoch_seconds")
    return curve


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_interleaved_members_equal_their_solo_runs_exactly(digits, dropout):
    specs = seed_specs(dropout=dropout)
    results = run_members(specs, digits, pack=False)
    for spec, result in zip(specs, results, strict=True):
        solo = run_trial(spec, digits)
        assert result.status == solo.status == "completed"
        assert curves_without_time(result) == curves_without_time(solo)
        assert result.summary.final_accuracy == solo.summary.final_accuracy


@pytest.mark.parametrize("pack", [False, True])
def test_the_callback_sees_every_running_member_once_per_epoch_and_stops_some(digits, pack):
    specs = seed_specs()
    calls: list[tuple[int, list[int]]] = []

    def on_epoch(epoch: int, curves) -> set[int]:
        calls.append((epoch, sorted(curves)))
        assert all(curve.epochs_done == epoch for curve in curves.values())
        return {1} if epoch == 1 else set()

    results = run_members(specs, digits, on_epoch=on_epoch, pack=pack)
    assert calls == [(1, [0, 1, 2]), (2, [0, 2]), (3, [0, 2])]
    assert [r.status for r in results] == ["completed", "stopped", "completed"]
    assert [r.curve.epochs_done for r in results] == [3, 1, 3]
    stopped = run_trial(specs[1], digits, on_epoch=lambda epoch, curve: False)
    if pack:
        assert_same_run(stopped, results[1], len(digits.y_val))
    else:
        assert curves_without_time(results[1]) == curves_without_time(stopped)


def test_a_diverged_member_is_not_shown_to_the_callback(digits):
    base = TrialSpec(
        model=ModelSpec("mlp", depth=3, width=32), budget=Budget(epochs=3, batch_size=64)
    )
    big = replace(base, init=InitSpec("kaiming", scales=[40.0] * 4), seed=2)
    calls: list[list[int]] = []
    results = run_members(
        [replace(base, seed=1), big], digits, on_epoch=lambda e, c: calls.append(sorted(c)) or ()
    )
    assert [r.status for r in results] == ["completed", "diverged"]
    assert calls == [[0], [0], [0]]


def test_members_must_share_all_but_init_and_seed(digits):
    a, b, _ = seed_specs()
    with pytest.raises(ConfigError, match="differs from member 0"):
        run_members([a, replace(b, budget=Budget(epochs=1))], digits)
