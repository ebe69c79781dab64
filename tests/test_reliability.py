"""No lost, torn or doubled trials under crashes and signals (issue 15), each fault made for
real: ``kill -9`` of a running ``study start`` (its whole process group, Ray included) and a
restart at once, SIGTERM to the driver as a scheduler sends it, a dead driver's process on this
machine, and Ctrl-C landing in the middle of a trial's record.

What must hold after any of them: every baseline counted exactly once, the budget exact,
nothing left RUNNING or WAITING, and every trial with exactly one MLflow run in its final state
(a failed one carrying its reason, a retry naming the trial and run it repeats).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import optuna
import pytest
from optuna.trial import TrialState

from initsearch.contract import DRIVER, DRIVER_BEAT_PREFIX, DRIVER_PROCESS_PREFIX
from initsearch.run.driver import StudyProgress
from initsearch.run.ledger import counts_toward_budget
from initsearch.run.liveness import DriverProcess, process_running
from initsearch.run.pool import InlinePool
from initsearch.run.signals import (
    Terminated,
    exit_code,
    honour_stop_signals,
    keep_stop_signals,
)
from initsearch.run.worker import execute
from initsearch.search.study import study_driver
from initsearch.stores import recorded_tracking_uri
from tests.studyutil import tiny_study
from tests.test_study_cli import (
    RUN_TIMEOUT_S,
    baseline_counts,
    cli,
    journal_study,
    wait_until,
    write_study,
)

STOP_EXIT_S = 60  # signal to exit code


# ---- what every test checks at the end ------------------------------------------------------
def mlflow_runs(cfg, study: optuna.Study) -> tuple[list, dict[int, list]]:
    """The study's parent runs, and its child runs by trial number, read back from MLflow."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=recorded_tracking_uri(study, cfg.workdir))
    experiment = client.get_experiment_by_name(f"initsearch/{cfg.name}")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("initsearch.role") == "study"]
    children: dict[int, list] = {}
    for r in runs:
        if r.data.tags.get("initsearch.kind") == "trial":
            children.setdefault(int(r.data.tags["optuna.trial_number"]), []).append(r)
    return parents, children


def check_one_run_per_trial(cfg, study: optuna.Study) -> None:
    """Each finished trial has exactly one MLflow run, linked both ways, in the trial's state;
    a failed one carries its reason, a retry names the trial and the run it repeats."""
    _, children = mlflow_runs(cfg, study)
    trials = study.get_trials()
    finished = [t for t in trials if t.state.is_finished()]
    assert sorted(children) == [t.number for t in finished], Counter(t.state for t in trials)
    run_of = {}
    for t in finished:
        [run] = children[t.number]
        run_of[t.number] = run.info.run_id
        assert t.user_attrs["mlflow_run_id"] == run.info.run_id
        assert run.data.tags["initsearch.state"] == t.state.name
        if t.state == TrialState.FAIL:
            assert run.info.status == "FAILED"
            assert run.data.tags["initsearch.reason"] == t.user_attrs["reason"]
        else:
            assert run.info.status == "FINISHED"
    for t in finished:
        if "retry_of" in t.user_attrs:
            tags = children[t.number][0].data.tags
            assert tags["initsearch.retry_of"] == str(t.user_attrs["retry_of"])
            assert tags["initsearch.retry_of_run"] == run_of[t.user_attrs["retry_of"]]


def check_complete(cfg, study: optuna.Study, budget: int, baselines: list[str]) -> None:
    trials = study.get_trials()
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert sum(counts_toward_budget(t) for t in trials) == budget
    assert baseline_counts(trials) == dict.fromkeys(baselines, 1)
    for t in trials:
        if t.state == TrialState.FAIL:  # failed by the fault, enqueued again, re-run
            assert t.user_attrs["requeued"] is True
            [retry] = [r for r in trials if r.user_attrs.get("retry_of") == t.number]
            assert retry.params == t.params
            assert retry.user_attrs.get("baseline") == t.user_attrs.get("baseline")
    check_one_run_per_trial(cfg, study)


def cli_study(tmp_path):
    """Two baselines and two searched trials, one trial per task, a few seconds each."""
    cfg = tiny_study(
        tmp_path,
        train={"epochs": 40},
        budget={"trials": 4},
        baselines={"schemes": ["kaiming", "xavier"]},
        ray={"pack": 1},
    )
    return cfg, write_study(cfg, tmp_path / "tiny.yaml")


def running_on_workers(cfg, baselines: bool, at_least: int = 1) -> list[optuna.trial.FrozenTrial]:
    """RUNNING trials a worker has started (baselines, or searched ones); none until there
    are ``at_least``."""
    study = journal_study(cfg)
    if study is None:
        return []
    found = [
        t
        for t in study.get_trials(states=(TrialState.RUNNING,))
        if "pid" in t.user_attrs and ("baseline" in t.user_attrs) == baselines
    ]
    return found if len(found) >= at_least else []


# ---- the faults, for real --------------------------------------------------------------------
def test_kill_9_in_the_baselines_then_sigterm_in_the_search_lose_and_double_nothing(
    tmp_path, monkeypatch
):
    """One study through two faults, each followed by a start at once (one flow: a start of
    Ray and its workers costs most of the time here).

    1. ``kill -9`` of the driver's whole process group (its Ray with it) while both baselines
       run. The next start, with a heartbeat window far longer than the test, sees that
       driver's process gone and re-runs its trials at once.
    2. SIGTERM to that driver while searched trials run: exit 143 without a stack dump, the
       running trials failed as interrupted and enqueued again, the MLflow parent run KILLED.
    3. The last start completes: exit 0, every baseline counted once, the budget exact,
       nothing RUNNING or WAITING, one MLflow run per trial.
    """
    cfg, file = cli_study(tmp_path)
    with cli("study", "start", str(file), "--workers", "2", cwd=tmp_path) as run:
        killed = wait_until(
            lambda: running_on_workers(cfg, baselines=True, at_least=2), RUN_TIMEOUT_S
        )
        assert killed, f"the baselines did not start:\n{run.err[-3000:]}"
        run.kill()
        run.proc.wait(timeout=30)  # reaped, as the shell that started it would
    monkeypatch.setenv("INITSEARCH_STALE_AFTER", "600")  # only its pid can tell it is dead

    with cli("study", "start", str(file), "--workers", "2", cwd=tmp_path) as run:
        stopped = wait_until(lambda: running_on_workers(cfg, baselines=False), RUN_TIMEOUT_S)
        assert stopped, f"no searched trial started:\n{run.err[-3000:]}"
        os.kill(run.proc.pid, signal.SIGTERM)  # the driver only, as `kill PID` or a scheduler
        assert run.wait(STOP_EXIT_S) == 143, run.err[-3000:]
        assert "terminated (SIGTERM)" in run.err
        for dump in ("Traceback", "*** SIG", "Stack trace", "PC: @"):
            assert dump not in run.err, run.err[-3000:]
        assert wait_until(lambda: not run.leftovers(), 30) is True, run.leftovers()
    study = journal_study(cfg)
    trials = study.get_trials()
    for victim in killed:
        failed = trials[victim.number]
        assert failed.state == TrialState.FAIL and failed.user_attrs["requeued"] is True
        assert failed.user_attrs["reason"].startswith("stale: its driver (pid")
        assert failed.user_attrs["reason"].endswith("is gone")
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    interrupted = [t for t in trials if t.user_attrs.get("reason", "").startswith("interrupted")]
    assert {v.number for v in stopped} <= {t.number for t in interrupted}
    for t in interrupted:
        assert t.state == TrialState.FAIL and t.user_attrs["requeued"] is True
        [retry] = [r for r in trials if r.user_attrs.get("retry_of") == t.number]
        assert retry.state == TrialState.WAITING
    parents, _ = mlflow_runs(cfg, study)
    assert [p.info.status for p in parents] == ["KILLED"]
    check_one_run_per_trial(cfg, study)

    with cli("study", "start", str(file), "--workers", "2", cwd=tmp_path) as again:
        assert again.wait(RUN_TIMEOUT_S) == 0, again.err[-3000:]
    study = journal_study(cfg)
    check_complete(cfg, study, 4, ["kaiming", "xavier"])
    parents, _ = mlflow_runs(cfg, study)
    assert [p.info.status for p in parents] == ["FINISHED"]


# ---- the parts, one at a time ----------------------------------------------------------------
def test_a_driver_process_gone_from_this_machine_is_dead_at_once(tmp_path):
    """Heartbeats all fresh: the trial of a driver whose process on this machine has ended is
    failed (with its MLflow run) and enqueued again; a live process, or a driver on another
    machine, keeps its trials until its heartbeat is older than the window."""
    cfg = tiny_study(tmp_path, baselines={"schemes": ["kaiming"]})
    driver = study_driver(cfg, InlinePool())
    study, ledger = driver.study, driver.ledger
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    living = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        here = DriverProcess.this()
        drivers = {
            "dead": DriverProcess(here.host, here.boot, ended.pid),
            "live": DriverProcess(here.host, here.boot, living.pid),
            "remote": DriverProcess("elsewhere", "another-boot", ended.pid),
        }
        numbers = {}
        for name, process in drivers.items():
            study.set_user_attr(f"{DRIVER_BEAT_PREFIX}{name}", time.time())
            study.set_user_attr(f"{DRIVER_PROCESS_PREFIX}{name}", process.to_dict())
            trial = study.ask()
            trial.set_user_attr(DRIVER, name)
            numbers[name] = trial.number
        ledger.heartbeat(force=True)
        assert ledger.clean_stale() == 1
        trials = study.get_trials()
        dead = trials[numbers["dead"]]
        assert dead.state == TrialState.FAIL
        assert dead.user_attrs["reason"] == (
            f"stale: its driver (pid {ended.pid} on {here.host}) is gone"
        )
        assert [trials[numbers[n]].state for n in ("live", "remote")] == [TrialState.RUNNING] * 2
        assert ledger.taken() == 2  # the live two; the retry waits, the failure does not count
        # past the window, a live process and another machine's driver are dead too
        for name in ("live", "remote"):
            study.set_user_attr(f"{DRIVER_BEAT_PREFIX}{name}", time.time() - 3600)
        assert ledger.clean_stale() == 2
        assert ledger.taken() == 0
        # each failure has its FAILED run with the reason, each retry waits
        _, children = mlflow_runs(cfg, study)
        for number in numbers.values():
            [run] = children[number]
            assert run.info.status == "FAILED"
            assert run.data.tags["initsearch.reason"].startswith("stale")
        waiting = study.get_trials(states=(TrialState.WAITING,))
        assert sorted(t.user_attrs["retry_of"] for t in waiting) == sorted(numbers.values())
    finally:
        living.kill()
        living.wait()


def test_a_zombie_process_is_not_running():
    """An ended child its parent has not reaped yet still answers ``kill(pid, 0)``."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        assert wait_until(lambda: not process_running(child.pid), 30)
    finally:
        child.wait()
    assert process_running(os.getpid())


@pytest.fixture
def stop_signals():
    """The command's handlers for the test, the test runner's back after it."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    honour_stop_signals()
    yield
    for s, handler in before.items():
        signal.signal(s, handler)


def test_sigterm_is_a_keyboard_interrupt_with_exit_143_even_after_ray_took_it(stop_signals):
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))  # as ray.init does
    keep_stop_signals()
    with pytest.raises(Terminated) as stopped:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises long before
    assert isinstance(stopped.value, KeyboardInterrupt) and exit_code(stopped.value) == 143
    with pytest.raises(KeyboardInterrupt) as interrupted:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
    assert exit_code(interrupted.value) == 130


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_the_middle_of_a_record_waits_until_it_is_written(
    tmp_path, stop_signals, signum
):
    """The signal is sent while the trial's MLflow run is being written: it is raised once the
    whole record is done (run FINISHED, trial COMPLETE and linked), not in between. The same
    for a failure: its FAILED run, the FAIL and the retry are written before the signal."""
    cfg = tiny_study(
        tmp_path, train={"epochs": 1}, budget={"trials": 2}, baselines={"schemes": ["kaiming"]}
    )
    handlers = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
    driver = study_driver(cfg, InlinePool())
    driver.ledger.heartbeat(force=True)
    driver.prepare()
    dataset = driver.limits.probe.data.load()
    asked = driver.source.next()
    outcome = execute(asked.job, dataset)
    client = driver.recorder.tracker.client
    log_batch = client.log_batch

    def log_batch_signalled(*args, **kwargs):
        os.kill(os.getpid(), signum)  # lands now, between the run's creation and its end
        time.sleep(0.2)  # unheld, the handler raises here
        return log_batch(*args, **kwargs)

    client.log_batch = log_batch_signalled
    expected = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
    with pytest.raises(expected):
        driver.record(asked, outcome)
    recorded = driver.study.get_trials()[asked.trial.number]
    assert recorded.state == TrialState.COMPLETE
    # a failure, as the driver writes it when stopped: interrupted trials fail and run again
    failing = driver.source.next()
    with pytest.raises(expected):
        driver.ledger.fail(failing.trial, "interrupted by the user", retry=True, keep=("baseline",))
    client.log_batch = log_batch
    trials = driver.study.get_trials()
    assert trials[failing.trial.number].state == TrialState.FAIL
    assert trials[failing.trial.number].user_attrs["requeued"] is True
    [retry] = [t for t in trials if t.user_attrs.get("retry_of") == failing.trial.number]
    assert retry.state == TrialState.WAITING
    _, children = mlflow_runs(cfg, driver.study)
    assert children[asked.trial.number][0].info.status == "FINISHED"
    assert children[failing.trial.number][0].info.status == "FAILED"
    assert len(children[asked.trial.number]) == len(children[failing.trial.number]) == 1
    check_one_run_per_trial(cfg, driver.study)
    assert [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)] == handlers


def test_a_waiting_retry_runs_even_when_the_budget_is_spent(tmp_path):
    """Two drivers overshoot the budget by one; then the one running the baseline dies. Its
    retry must run although the budget is taken: the baseline would otherwise stay missing,
    its retry WAITING for good."""
    cfg = tiny_study(
        tmp_path, train={"epochs": 1}, budget={"trials": 2}, baselines={"schemes": ["kaiming"]}
    )
    dead = study_driver(cfg, InlinePool())
    dead.ledger.heartbeat(force=True)
    dead.prepare()
    baseline = dead.source.next()
    for _ in range(2):  # another driver's searched trials, both asked before the budget check
        searched = dead.study.ask()
        dead.study.tell(searched, 0.5)
    dead.ledger.stop_beating()  # the baseline's driver is gone
    driver = study_driver(cfg, InlinePool())
    driver.run()
    trials = driver.study.get_trials()
    assert trials[baseline.trial.number].state == TrialState.FAIL
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert baseline_counts(trials) == {"kaiming": 1}
    [retry] = [t for t in trials if t.user_attrs.get("retry_of") == baseline.trial.number]
    assert retry.state == TrialState.COMPLETE
    assert sum(counts_toward_budget(t) for t in trials) == 3  # the overshoot, nothing more


def test_work_interrupted_again_and_again_runs_once_a_lost_worker_is_retried_once(tmp_path):
    """Each retry of interrupted work is interrupted too: there is always one more retry, so
    the baseline still ends exactly once. Work whose worker died twice (it may kill its
    worker itself) is not retried a second time."""
    cfg = tiny_study(tmp_path, baselines={"schemes": ["kaiming"]})
    driver = study_driver(cfg, InlinePool())
    driver.ledger.heartbeat(force=True)
    driver.prepare()
    ledger, keep = driver.ledger, driver.source.kept_attrs
    numbers = []
    for _ in range(3):
        asked = driver.source.next()  # the baseline, then each retry of it
        assert asked.trial.user_attrs["baseline"] == "kaiming"
        numbers.append(asked.trial.number)
        ledger.fail(asked.trial, "interrupted by the user", retry=True, keep=keep)
    trials = driver.study.get_trials()
    assert [trials[n].user_attrs.get("retry_of") for n in numbers] == [None, *numbers[:2]]
    assert baseline_counts(trials) == {"kaiming": 1}  # its last retry, waiting: once
    first = driver.source.next()
    ledger.fail(first.trial, "worker lost: killed", retry=True, keep=keep, lost_worker=True)
    second = driver.source.next()
    assert second.trial.user_attrs["worker_losses"] == 1
    ledger.fail(second.trial, "worker lost: killed", retry=True, keep=keep, lost_worker=True)
    trials = driver.study.get_trials()
    assert not trials[second.trial.number].user_attrs.get("requeued")
    assert baseline_counts(trials) == {"kaiming": 1}  # failed for good, counted once
    assert not driver.study.get_trials(states=(TrialState.WAITING, TrialState.RUNNING))
    check_one_run_per_trial(cfg, driver.study)


def test_a_driver_that_dies_while_another_runs_has_its_trials_rerun_before_the_end(
    tmp_path, monkeypatch
):
    """Stale trials are looked for while a study runs, not only when it starts: the trial of
    a driver on another machine that stops beating in the middle of the search is re-run in
    the middle of the search."""
    import initsearch.run.ledger as ledger_mod

    monkeypatch.setattr(ledger_mod, "HEARTBEAT_EVERY", 0.0)  # beat (and look) every round
    cfg = tiny_study(
        tmp_path,
        train={"epochs": 1},
        budget={"trials": 8},
        baselines={"schemes": ["kaiming"]},
        ray={"pack": 1},  # a trial per task: progress after each
    )
    beat = f"{DRIVER_BEAT_PREFIX}remote"

    def remote_dies_after_three(progress: StudyProgress) -> None:
        if progress.done == 3:
            study.set_user_attr(beat, time.time() - 3600)

    driver = study_driver(cfg, InlinePool(), on_progress=remote_dies_after_three)
    study = driver.study
    remote = DriverProcess("elsewhere", "another-boot", 1)
    study.set_user_attr(f"{DRIVER_PROCESS_PREFIX}remote", remote.to_dict())
    orphan = study.ask()
    orphan.set_user_attr(DRIVER, "remote")
    study.set_user_attr(beat, time.time())  # alive when this driver starts
    driver.run()
    trials = study.get_trials()
    assert trials[orphan.number].user_attrs["reason"].startswith("stale: its driver stopped")
    [retry] = [t for t in trials if t.user_attrs.get("retry_of") == orphan.number]
    assert retry.state == TrialState.COMPLETE
    last_started = max(t.datetime_start for t in trials)
    assert retry.datetime_start < last_started  # re-run during the search, not after it
    assert sum(counts_toward_budget(t) for t in trials) == 8
