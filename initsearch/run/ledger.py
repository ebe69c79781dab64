"""The driver's bookkeeping on the shared storage: heartbeats, stale trials, failure and
retry, and the budget.

Stale trials: every trial records the driver that runs it, and each driver refreshes a
heartbeat (a study user attribute) while it runs and records where it runs (host, pid:
:mod:`initsearch.run.liveness`). A RUNNING trial is stale when its driver's process is gone
from this machine, or when its driver's heartbeat is older than ``STALE_AFTER`` seconds (env
``INITSEARCH_STALE_AFTER``, default 60; the only test for a driver on another machine).
Drivers look for stale trials when they start and every ``HEARTBEAT_EVERY`` seconds while they
run, fail them and enqueue them again.

Retries: a trial failed for a reason outside itself (interrupted, its driver gone) is always
enqueued again, so a baseline runs to an end exactly once whatever crashes in between; one
whose worker was lost (which the trial may cause itself: out of memory) is retried once.
Each step of a failure is safe to repeat, so a driver killed in the middle of one leaves
nothing a later sweep cannot finish: the failed run, then the retry (unless one exists), then
the FAIL.

Several drivers may run one study at once (e.g. on several machines sharing PostgreSQL). Their
check-then-write steps run under :func:`study_lock`, and the budget is counted on the shared
storage: finished trials plus those running under any live driver. Each driver checks it just
before asking for a trial, so k drivers overshoot the budget by at most k - 1 trials.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from initsearch.contract import (
    DRIVER,
    DRIVER_BEAT_PREFIX,
    DRIVER_PROCESS_PREFIX,
    REASON,
    REQUEUED,
    RETRY_OF,
    RETRY_OF_RUN,
    WORKER_LOSSES,
)
from initsearch.run.liveness import DriverProcess
from initsearch.run.optuna_adapter import set_trial_attr, stored_trial, trial_id
from initsearch.run.record import Recorder
from initsearch.run.signals import deferred_signals
from initsearch.store_locks import study_lock

STALE_AFTER = float(os.environ.get("INITSEARCH_STALE_AFTER", "60"))
HEARTBEAT_EVERY = 10.0
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """Finished trials, except failures that were enqueued again (their retry counts)."""
    return trial.state in FINISHED and not trial.user_attrs.get(REQUEUED, False)


@dataclass(frozen=True)
class DriverSeen:
    """A driver of the study as its attributes show it: last heartbeat, and where it runs
    (None for a driver of an older version, which did not say)."""

    beat: float
    process: DriverProcess | None


class Ledger:
    """One driver's view of who runs what in a study, and what has been spent.

    ``recorder`` gives every trial this ledger fails its FAILED MLflow run."""

    def __init__(
        self, study: optuna.Study, storage_url: str, recorder: Recorder | None = None
    ) -> None:
        self.study = study
        self.storage_url = storage_url
        self.recorder = recorder
        self.driver_id = uuid.uuid4().hex[:12]
        self.process = DriverProcess.this()
        self._last_beat = 0.0
        self._announced = False

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive among the study's drivers, for check-then-write steps (not reentrant)."""
        with study_lock(self.storage_url, self.study.study_name):
            yield

    # ---- heartbeats ----------------------------------------------------------------------
    def heartbeat(self, force: bool = False) -> bool:
        """Beat when due (or ``force``); whether it beat. The first beat says where this
        driver runs, so that its death on this machine is seen at once."""
        now = time.time()
        if not force and now - self._last_beat < HEARTBEAT_EVERY:
            return False
        if not self._announced:
            key = f"{DRIVER_PROCESS_PREFIX}{self.driver_id}"
            self.study.set_user_attr(key, self.process.to_dict())
            self._announced = True
        self.study.set_user_attr(f"{DRIVER_BEAT_PREFIX}{self.driver_id}", now)
        self._last_beat = now
        return True

    def tick(self, keep: tuple[str, ...] = ()) -> int:
        """Beat when due, and with each beat fail the stale trials of other drivers (a driver
        that dies while this one runs); returns how many."""
        return self.clean_stale(keep) if self.heartbeat() else 0

    def stop_beating(self) -> None:
        """Mark this driver gone at once, so its trials need not wait to be found stale."""
        self.study.set_user_attr(f"{DRIVER_BEAT_PREFIX}{self.driver_id}", 0.0)

    def drivers(self) -> dict[str, DriverSeen]:
        """Every driver of the study: its last heartbeat and where it runs."""
        attrs = self.study.user_attrs
        return {
            key.removeprefix(DRIVER_BEAT_PREFIX): DriverSeen(
                float(beat),
                DriverProcess.from_dict(
                    attrs.get(f"{DRIVER_PROCESS_PREFIX}{key.removeprefix(DRIVER_BEAT_PREFIX)}")
                ),
            )
            for key, beat in attrs.items()
            if key.startswith(DRIVER_BEAT_PREFIX)
        }

    def own(self, trial: optuna.Trial) -> None:
        """Tag a trial this driver starts."""
        trial.set_user_attr(DRIVER, self.driver_id)

    def why_stale(
        self, trial: FrozenTrial, drivers: dict[str, DriverSeen], now: float
    ) -> str | None:
        """Why a RUNNING trial is stale, or None while its driver lives. A trial not yet tagged
        with its driver (just asked) is live while younger than ``STALE_AFTER``."""
        owner = trial.user_attrs.get(DRIVER)
        if owner is None:
            started = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
            age = now - started
            return None if age < STALE_AFTER else f"stale: no driver took it in {age:.0f} s"
        if owner == self.driver_id:
            return None
        seen = drivers.get(owner)
        if seen is None:
            return "stale: its driver never beat"
        process = seen.process
        if process is not None and process.gone():
            return f"stale: its driver (pid {process.pid} on {process.host}) is gone"
        age = now - seen.beat
        return None if age < STALE_AFTER else f"stale: its driver stopped beating {age:.0f} s ago"

    def is_live(self, trial: FrozenTrial, drivers: dict[str, DriverSeen], now: float) -> bool:
        """A RUNNING trial whose driver still runs (see :meth:`why_stale`)."""
        return self.why_stale(trial, drivers, now) is None

    # ---- failure and retry ---------------------------------------------------------------
    def retried(self, trial: FrozenTrial) -> bool:
        """Whether a retry of ``trial`` was enqueued already (by a failure cut short)."""
        trials = self.study.get_trials(deepcopy=False)
        return any(t.user_attrs.get(RETRY_OF) == trial.number for t in trials)

    def requeue(self, trial: FrozenTrial, keep: tuple[str, ...], run_id: str | None) -> None:
        """Enqueue a failed trial again with its parameters and the attributes in ``keep``
        (what its source needs to know which work it is); the retry names the trial and the
        MLflow run it repeats."""
        attrs = {k: trial.user_attrs[k] for k in (*keep, WORKER_LOSSES) if k in trial.user_attrs}
        attrs[RETRY_OF] = trial.number
        if run_id:
            attrs[RETRY_OF_RUN] = run_id
        self.study.enqueue_trial(dict(trial.params), user_attrs=attrs, skip_if_exists=False)

    def fail(
        self,
        trial: optuna.Trial | FrozenTrial,
        reason: str,
        retry: bool,
        keep: tuple[str, ...] = (),
        lost_worker: bool = False,
    ) -> None:
        """Fail a RUNNING trial with its reason and its FAILED MLflow run, and enqueue it again
        when ``retry`` (with the attributes in ``keep``). ``lost_worker``: its worker died,
        which the trial may have caused; such work is retried once, not again and again.
        One step that signals wait for; a no-op on a trial that has finished meanwhile."""
        with deferred_signals():
            tid = trial_id(trial)
            stored = stored_trial(self.study, tid)
            if stored.state.is_finished():
                return
            run_id = self.recorder.record_failure(stored, reason) if self.recorder else None
            set_trial_attr(self.study, tid, REASON, reason)
            if lost_worker:
                losses = int(stored.user_attrs.get(WORKER_LOSSES, 0)) + 1
                set_trial_attr(self.study, tid, WORKER_LOSSES, losses)
                retry = retry and losses <= 1
            if retry:
                if not self.retried(stored):
                    self.requeue(stored_trial(self.study, tid), keep, run_id)
                set_trial_attr(self.study, tid, REQUEUED, True)
            self.study.tell(stored.number, state=TrialState.FAIL, skip_if_finished=True)

    def clean_stale(self, keep: tuple[str, ...] = ()) -> int:
        """Fail and re-enqueue RUNNING trials whose driver is gone."""
        with self.lock():  # two drivers: one cleans
            drivers, now, cleaned = self.drivers(), time.time(), 0
            for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                why = self.why_stale(trial, drivers, now)
                if why is None:
                    continue
                self.fail(trial, why, retry=True, keep=keep)
                cleaned += 1
        return cleaned

    def others_running(self) -> int:
        """RUNNING trials of other drivers (live ones, after :meth:`clean_stale`)."""
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return sum(t.user_attrs.get(DRIVER) != self.driver_id for t in running)

    # ---- the budget ----------------------------------------------------------------------
    def used(self) -> int:
        """Finished trials that count toward the budget, by every driver of the study."""
        return sum(counts_toward_budget(t) for t in self.study.get_trials(deepcopy=False))

    def taken(self) -> int:
        """Finished trials plus those running under a live driver (this one included): what
        another trial must not exceed, shared by concurrent drivers."""
        drivers, now, taken = self.drivers(), time.time(), 0
        for t in self.study.get_trials(deepcopy=False):
            if counts_toward_budget(t) or (
                t.state == TrialState.RUNNING and self.is_live(t, drivers, now)
            ):
                taken += 1
        return taken
