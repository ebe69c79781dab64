"""Studies on a real PostgreSQL server (tests/pg.py): Ray workers reporting to it, and several
drivers sharing one study.

Two drivers started together must share the budget and enqueue the baselines once. The race on
the baselines (both look, see none, both enqueue) is forced deterministically below: the first
driver is held between its look and its write while the second one tries to enqueue.
"""

from __future__ import annotations

import threading
from collections import Counter

import optuna
import pytest
from optuna.trial import TrialState

from initsearch.run.ledger import counts_toward_budget
from initsearch.run.pool import InlinePool, RayPool
from initsearch.search.locate import locate_study
from initsearch.search.study import study_driver
from initsearch.stores import open_storage, recorded_tracking_uri
from tests import pg
from tests.studyutil import tiny_study
from tests.test_study_cli import RUN_TIMEOUT_S, baseline_counts, cli, wait_until, write_study

ray = pytest.importorskip("ray")

BASELINES = ["kaiming", "xavier", "emergence(alpha=1.1)"]
pg_server = pg.pg_server  # the fixtures: a server per session, a fresh database per test
pg_url = pg.pg_url


def open_together(url: str, together: threading.Barrier, errors: list[str]) -> None:
    together.wait(timeout=30)
    try:
        open_storage(url)
    except Exception as err:  # noqa: BLE001 - collected and shown
        errors.append(f"{type(err).__name__}: {err}")


def test_storages_opened_at_once_on_a_fresh_database(pg_server):
    """Optuna creates its tables when a storage opens; two processes doing it at once on a new
    PostgreSQL database collide on ``pg_type`` (unique violation) unless serialised."""
    for _ in range(2):
        url, together, errors = pg_server.create_database(), threading.Barrier(4), []
        threads = [
            threading.Thread(target=open_together, args=(url, together, errors)) for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors[0]
        assert open_storage(url).get_all_studies() == []


@pytest.mark.parametrize("kind", ["postgres", "journal"])
def test_racing_drivers_enqueue_the_baselines_once(tmp_path, request, kind):
    url = request.getfixturevalue("pg_url") if kind == "postgres" else None
    cfg = tiny_study(tmp_path, storage=url)
    first, second = study_driver(cfg, InlinePool()), study_driver(cfg, InlinePool())
    added: dict[str, list[str]] = {}
    second_done = threading.Event()

    def second_enqueues() -> None:
        added["second"] = second.prepare()
        second_done.set()

    other = threading.Thread(target=second_enqueues, daemon=True)
    look = first.study.get_trials

    def look_then_let_the_second_in(*args, **kwargs):
        seen = look(*args, **kwargs)  # the first driver has looked: no baseline yet
        if not other.is_alive() and not second_done.is_set():
            other.start()  # unguarded, the second driver enqueues all of them now...
            second_done.wait(timeout=3.0)  # ...and the first one enqueues them again
        return seen

    first.study.get_trials = look_then_let_the_second_in
    try:
        added["first"] = first.prepare()
    finally:
        del first.study.get_trials
    other.join(timeout=60)
    assert not other.is_alive()
    assert added == {"first": BASELINES, "second": []}
    trials = first.study.get_trials()
    assert Counter(t.user_attrs["baseline"] for t in trials) == dict.fromkeys(BASELINES, 1)
    assert all(t.state == TrialState.WAITING for t in trials)


def test_two_drivers_at_once_share_the_budget_and_the_baselines(tmp_path, pg_url):
    """Two ``study start`` processes (one worker each) on one PostgreSQL study. Each driver
    checks the shared budget (finished + running under live drivers) just before it asks, so
    they can overshoot by at most one trial: both pass the check in the same instant."""
    budget = 6
    # 120 epochs of batches of 8 (3-4 s per trial, measured): one driver alone would need
    # 20 s or more, longer than the other's start-up lags behind under load; moderate scales
    # and lr so no trial diverges. One trial per task (no packs): the test is about two
    # drivers interleaving their asks.
    cfg = tiny_study(
        tmp_path,
        storage=pg_url,
        train={"epochs": 120, "batch_size": 8, "lr": 0.02},
        search={"scale_low": 0.5, "scale_high": 2.0},
        budget={"trials": budget},
        ray={"pack": 1},
    )
    file = write_study(cfg, tmp_path / "tiny.yaml")
    with (
        cli("study", "start", str(file), "--workers", "1", cwd=tmp_path) as a,
        cli("study", "start", str(file), "--workers", "1", cwd=tmp_path) as b,
    ):
        for run in (a, b):
            assert run.wait(RUN_TIMEOUT_S) == 0, run.err[-3000:]
        for run in (a, b):
            assert wait_until(lambda run=run: not run.leftovers(), 30) is True, run.leftovers()
    study = optuna.load_study(study_name="tiny", storage=pg_url)
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == list(range(len(trials)))  # no number twice
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert baseline_counts(trials) == dict.fromkeys(BASELINES, 1)
    assert budget <= sum(counts_toward_budget(t) for t in trials) <= budget + 1
    assert all(t.state == TrialState.COMPLETE for t in trials)
    drivers = {k for k in study.user_attrs if k.startswith("driver:")}
    assert len(drivers) == 2
    assert len({t.user_attrs["driver"] for t in trials}) == 2, "one driver ran every trial"
    # one MLflow experiment and parent run (created under the study lock), a child per trial
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=recorded_tracking_uri(study, cfg.workdir))
    runs = client.search_runs([client.get_experiment_by_name("initsearch/tiny").experiment_id])
    roles = Counter(r.data.tags.get("initsearch.kind") for r in runs)
    assert roles == {"study": 1, "trial": len(trials)}


def test_ray_workers_run_a_study_on_postgres(tmp_path, pg_url):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        # a pruner, so that workers report every epoch to the server; its warm-up outlasts the
        # 3 epochs, so no trial is pruned (which trial would be depends on timing)
        pruner = {"name": "median", "warmup_epochs": 100}
        # one trial per task, so that both workers get trials
        cfg = tiny_study(tmp_path, storage=pg_url, pruner=pruner, ray={"pack": 1})
        driver = study_driver(cfg, RayPool(workers=2))
        driver.run()
    finally:
        ray.shutdown()
    study = driver.study
    assert isinstance(study._storage._backend, optuna.storages.RDBStorage)
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(6))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert [t.user_attrs.get("baseline") for t in trials[:3]] == BASELINES
    assert all("baseline" not in t.user_attrs for t in trials[3:])
    # two Ray worker processes ran trials and reported each epoch to the server
    assert len({t.user_attrs["pid"] for t in trials}) >= 2
    for t in trials:
        assert sorted(t.intermediate_values) == [1, 2, 3]
        assert t.intermediate_values[3] == pytest.approx(t.value)
    found_cfg, found = locate_study("tiny", storage=pg_url)
    assert found_cfg == cfg and len(found.get_trials()) == 6


def test_a_trial_just_asked_by_another_driver_is_not_taken_for_stale(tmp_path, pg_url, monkeypatch):
    """Between ``ask`` and tagging the trial with its driver, a trial has no owner; a driver
    starting then must neither fail it nor leave it out of the budget."""
    import initsearch.run.ledger as driver_mod

    cfg = tiny_study(tmp_path, storage=pg_url, baselines={"schemes": ["kaiming"]})
    first = study_driver(cfg, InlinePool())
    asked = first.study.ask()  # not tagged yet
    second = study_driver(cfg, InlinePool())
    assert second.ledger.clean_stale() == 0
    assert second.ledger.taken() == 1
    assert second.study.get_trials()[asked.number].state == TrialState.RUNNING
    monkeypatch.setattr(driver_mod, "STALE_AFTER", 0.0)  # now it is old: its driver is gone
    assert second.ledger.clean_stale() == 1
    stale = second.study.get_trials()[asked.number]
    assert stale.state == TrialState.FAIL and stale.user_attrs["reason"].startswith("stale")
    assert second.ledger.taken() == 0
