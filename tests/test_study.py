"""Studies for real: Optuna journal storage, a local Ray runtime, an MLflow SQLite store.

Covers baselines enqueued exactly once, resume without duplicates, MLflow runs read back
through the MLflow client, and the failure semantics: an exception in a trial, a diverged run,
a worker killed with SIGKILL mid-trial, and stale RUNNING trials left by a dead driver. The
failure tests run twice: on the default journal file and on a real PostgreSQL server
(tests/pg.py), a fresh database each.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import optuna
import pytest
from optuna.trial import TrialState

from initsearch.run.pool import InlinePool, RayPool
from initsearch.search.locate import locate_study
from initsearch.search.study import study_driver
from initsearch.stores import recorded_tracking_uri
from tests.pg import pg_server  # noqa: F401 - fixture
from tests.studyutil import tiny_study

ray = pytest.importorskip("ray")


@pytest.fixture(params=["journal", "postgres"])
def storage(request) -> str | None:
    """The study's storage URL: None for the default journal file, or a fresh PostgreSQL
    database."""
    if request.param == "journal":
        return None
    return request.getfixturevalue("pg_server").create_database()


@pytest.fixture(scope="module")
def ray_runtime():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def run(cfg, pool=None):
    pool = pool or RayPool(workers=2)
    driver = study_driver(cfg, pool)
    driver.run()
    return driver.study


def test_study_runs_baselines_then_search_and_tracks_in_mlflow(tmp_path, ray_runtime):
    from mlflow import MlflowClient

    cfg = tiny_study(tmp_path)
    study = run(cfg)
    trials = study.get_trials()
    assert len(trials) == 6
    assert all(t.state == TrialState.COMPLETE for t in trials)
    baselines = [t.user_attrs.get("baseline") for t in trials[:3]]
    assert baselines == ["kaiming", "xavier", "emergence(alpha=1.1)"]
    assert all("baseline" not in t.user_attrs for t in trials[3:])
    # the emergence baseline is a point of the search space: alpha**(depth - pivot) in logs
    emergence = trials[2]
    assert emergence.params["log_scale_00_hidden.0"] == pytest.approx(-__import__("math").log(1.1))
    assert emergence.params["log_scale_01_hidden.1"] == pytest.approx(0.0)
    # every trial ran on a Ray worker process, not in the driver
    assert {t.user_attrs["pid"] for t in trials} - {os.getpid()} == {
        t.user_attrs["pid"] for t in trials
    }
    # MLflow: one parent, one child per trial, linked both ways, curves as step metrics
    client = MlflowClient(tracking_uri=recorded_tracking_uri(study, cfg.workdir))
    experiment = client.get_experiment_by_name("initsearch/tiny")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("initsearch.role") == "study"]
    children = [r for r in runs if r.data.tags.get("initsearch.kind") == "trial"]
    assert len(parents) == 1 and len(children) == 6
    assert study.user_attrs["mlflow_parent_run_id"] == parents[0].info.run_id
    by_id = {r.info.run_id: r for r in children}
    for t in trials:
        run_ = by_id[t.user_attrs["mlflow_run_id"]]
        assert run_.data.tags["initsearch.study_run"] == parents[0].info.run_id
        assert run_.data.tags["optuna.trial_number"] == str(t.number)
        history = client.get_metric_history(run_.info.run_id, "val_accuracy")
        assert [m.step for m in history] == [1, 2, 3]
        assert history[-1].value == pytest.approx(t.value)
        scales = [k for k in run_.data.params if k.startswith("applied_scale.")]
        assert len(scales) == len(study.user_attrs["layer_names"])
    assert parents[0].info.status in ("RUNNING", "FINISHED")


def test_restart_resumes_without_duplicates(tmp_path, ray_runtime):
    cfg = tiny_study(tmp_path, budget={"trials": 4})
    run(cfg)
    more = tiny_study(tmp_path, budget={"trials": 7})
    study = run(more)
    trials = study.get_trials()
    assert len(trials) == 7
    assert [t.number for t in trials] == list(range(7))
    names = [t.user_attrs["baseline"] for t in trials if "baseline" in t.user_attrs]
    assert sorted(names) == sorted(["kaiming", "xavier", "emergence(alpha=1.1)"])
    # starting again with the budget spent runs nothing
    assert len(run(more).get_trials()) == 7


def test_exception_and_divergence_are_recorded_and_the_study_goes_on(tmp_path, storage):
    cfg = tiny_study(
        tmp_path,
        storage=storage,
        baselines={
            "schemes": ["kaiming", "emergence"],
            "emergence_alphas": [1.1],
            "options": {"emergence": {"pivot": 999}},
        },
        train={"lr": 40.0, "divergence_loss": 20.0},
        budget={"trials": 4},
    )
    study = run(cfg, InlinePool())
    trials = study.get_trials()
    assert len(trials) == 4
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1 and failed[0].user_attrs["baseline"] == "emergence(alpha=1.1)"
    assert "pivot" in failed[0].user_attrs["reason"]
    assert "Traceback" in failed[0].user_attrs["error"]
    diverged = [t for t in trials if t.state == TrialState.PRUNED]
    assert diverged and all(t.user_attrs["reason"].startswith("diverged") for t in diverged)


def test_worker_killed_mid_trial_is_failed_and_retried_once(tmp_path, ray_runtime, storage):
    cfg = tiny_study(
        tmp_path,
        storage=storage,
        train={"epochs": 60},
        budget={"trials": 3},
        baselines={"schemes": ["kaiming"]},
    )
    pool = RayPool(workers=2)
    driver = study_driver(cfg, pool)
    thread = threading.Thread(target=driver.run)
    thread.start()
    storage_study = driver.study
    victim = None
    deadline = time.time() + 120
    while victim is None and time.time() < deadline:
        for t in storage_study.get_trials(states=(TrialState.RUNNING,)):
            if "pid" in t.user_attrs:
                victim = t
                break
        time.sleep(0.2)
    assert victim is not None, "no trial started"
    os.kill(victim.user_attrs["pid"], signal.SIGKILL)
    thread.join(timeout=300)
    assert not thread.is_alive()
    trials = storage_study.get_trials()
    killed = storage_study.get_trials()[victim.number]
    assert killed.state == TrialState.FAIL
    assert "worker lost" in killed.user_attrs["reason"]
    retries = [t for t in trials if t.user_attrs.get("retry_of") == victim.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed.params
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3
    assert not storage_study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


def test_stale_running_trials_of_a_dead_driver_are_cleaned_on_start(tmp_path, monkeypatch, storage):
    import initsearch.run.ledger as driver_mod

    cfg = tiny_study(
        tmp_path, storage=storage, budget={"trials": 3}, baselines={"schemes": ["kaiming"]}
    )
    first = study_driver(cfg, InlinePool())
    first.ledger.heartbeat(force=True)
    first.prepare()
    trial = first.source.next().trial  # the driver "dies" here, its trial stays RUNNING
    first.study.set_user_attr(f"driver:{first.ledger.driver_id}", time.time() - 3600)
    monkeypatch.setattr(driver_mod, "STALE_AFTER", 5.0)
    study = run(cfg, InlinePool())
    stale = study.get_trials()[trial.number]
    assert stale.state == TrialState.FAIL and stale.user_attrs["reason"].startswith("stale")
    retry = [t for t in study.get_trials() if t.user_attrs.get("retry_of") == trial.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert retry[0].user_attrs["baseline"] == "kaiming"
    assert sum(t.state == TrialState.COMPLETE for t in study.get_trials()) == 3


def test_locate_by_name_and_by_file(tmp_path):
    cfg = tiny_study(tmp_path, budget={"trials": 1}, baselines={"schemes": ["kaiming"]})
    run(cfg, InlinePool())
    found_cfg, study = locate_study("tiny", workdir=str(tmp_path))
    assert found_cfg == cfg
    assert isinstance(study, optuna.Study) and len(study.get_trials()) == 1
    from initsearch.errors import ConfigError

    with pytest.raises(ConfigError, match="no study 'nope'"):
        locate_study("nope", workdir=str(tmp_path))
