"""The worker: a trial's seeds train together, the pruner sees their mean curve, a pruned or
diverged seed ends the whole trial, and a pack trains every trial x seed as one pack."""

from __future__ import annotations

import statistics
from dataclasses import replace

import optuna
import pytest

from initsearch.data import load_dataset
from initsearch.inits import InitSpec
from initsearch.models import ModelSpec
from initsearch.run.job import PackJob, TrialJob
from initsearch.run.objective import seed_values, test_metric
from initsearch.run.optuna_adapter import trial_id
from initsearch.run.worker import execute
from initsearch.stores import JOURNAL_PREFIX, open_storage
from initsearch.train import Budget, DataSpec, OptimizerSpec, TrialSpec

SPEC = TrialSpec(
    model=ModelSpec("mlp", depth=2, width=16),
    data=DataSpec("digits"),
    budget=Budget(epochs=3, batch_size=64),
)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


class PruneFrom(optuna.pruners.BasePruner):
    """Prunes every trial from a given step on."""

    def __init__(self, step: int) -> None:
        self.step = step

    def prune(self, study, trial) -> bool:
        return (trial.last_step or 0) >= self.step


def new_study(tmp_path, name: str = "w") -> tuple[optuna.Study, str]:
    url = f"{JOURNAL_PREFIX}{tmp_path / f'{name}.journal'}"
    return optuna.create_study(study_name=name, storage=open_storage(url)), url


def job_for(study: optuna.Study, url: str, spec: TrialSpec, seeds, **kwargs) -> TrialJob:
    trial = study.ask()
    return TrialJob(
        study_name=study.study_name,
        storage_url=url,
        trial_id=trial_id(trial),
        trial_number=trial.number,
        spec=replace(spec, seed=seeds[0]),
        seeds=tuple(seeds),
        metrics=kwargs.pop("metrics", ("val_accuracy",)),
        prune=kwargs.pop("prune", False),
        pruner=kwargs.pop("pruner", None),
    )


def reported(study: optuna.Study, job: TrialJob) -> dict[int, float]:
    return study._storage.get_trial(job.trial_id).intermediate_values


@pytest.mark.parametrize("packed", [False, True])
def test_a_two_seed_trial_reports_the_mean_of_its_seeds(tmp_path, digits, packed):
    study, url = new_study(tmp_path)
    job = job_for(study, url, SPEC, (0, 1))
    outcome = execute(PackJob((job,)) if packed else job, digits)
    if packed:
        (outcome,) = outcome
    assert outcome.state == "complete", outcome.reason
    assert [r.spec["seed"] for r in outcome.results] == [0, 1]
    assert outcome.results[0].curve.val_accuracy != outcome.results[1].curve.val_accuracy
    assert outcome.pack_size == (2 if packed else 1)
    means = [
        statistics.fmean(values)
        for values in zip(*(r.curve.val_accuracy for r in outcome.results), strict=True)
    ]
    values = reported(study, job)
    assert sorted(values) == [1, 2, 3]
    assert [values[e] for e in (1, 2, 3)] == pytest.approx(means)
    per_seed = seed_values("val_accuracy", outcome.results)
    assert per_seed == [r.summary.final_accuracy for r in outcome.results]
    assert outcome.values == [pytest.approx(statistics.fmean(per_seed))]


def test_the_pruner_decides_on_the_mean_and_stops_every_seed(tmp_path, digits):
    study, url = new_study(tmp_path)
    job = job_for(study, url, SPEC, (0, 1, 2), prune=True, pruner=PruneFrom(2))
    outcome = execute(job, digits)
    assert outcome.state == "pruned" and outcome.reason == "pruned by the study's pruner"
    assert [r.status for r in outcome.results] == ["stopped"] * 3
    assert [r.curve.epochs_done for r in outcome.results] == [2, 2, 2]
    assert sorted(reported(study, job)) == [1, 2]


def test_a_diverging_seed_ends_its_trial(tmp_path, digits):
    """lr 1.0, depth 3, scales 0.8: seed 1 trains on, seed 4 blows up in its second epoch
    (tests/test_pack.py); the trial stops seed 1 there and is pruned as diverged."""
    spec = replace(
        SPEC,
        model=ModelSpec("mlp", depth=3, width=32),
        init=InitSpec("kaiming", scales=[0.8] * 4),
        optimizer=OptimizerSpec(lr=1.0),
    )
    study, url = new_study(tmp_path)
    job = job_for(study, url, spec, (1, 4))
    outcome = execute(job, digits)
    assert outcome.state == "pruned" and outcome.reason.startswith("diverged: training loss")
    assert [r.status for r in outcome.results] == ["stopped", "diverged"]
    assert outcome.results[0].curve.epochs_done == 2  # stopped with the epoch seed 4 died in
    assert sorted(reported(study, job)) == [1]  # the mean needs every seed


def test_a_pack_of_trials_trains_every_trial_and_seed_together(tmp_path, digits):
    study, url = new_study(tmp_path)
    jobs = [
        job_for(study, url, replace(SPEC, init=InitSpec(s)), (0, 1)) for s in ("xavier", "kaiming")
    ]
    outcomes = execute(PackJob(tuple(jobs)), digits)
    assert [o.trial_number for o in outcomes] == [j.trial_number for j in jobs]
    for job, outcome in zip(jobs, outcomes, strict=True):
        assert outcome.state == "complete" and outcome.pack_size == 4
        assert [r.init.scheme for r in outcome.results] == [job.spec.init.scheme] * 2
        assert sorted(reported(study, job)) == [1, 2, 3]


def test_test_metric_names_the_test_figure():
    assert test_metric("val_accuracy") == "test_accuracy"
    assert test_metric("first_epoch_accuracy") == "first_epoch_test_accuracy"
    assert test_metric("val_loss") == "test_loss"
    assert test_metric("area_under_loss") == "area_under_loss"
    assert test_metric("seconds_to_target") == "seconds_to_target"
