"""The driver's bookkeeping on the shared storage: heartbeats, stale trials, failure and
retry, and the budget.

Stale trials: every trial records the driver that runs it, and each driver refreshes a
heartbeat (a study user attribute) while it runs. On start, RUNNING trials whose driver's
heartbeat is older than ``STALE_AFTER`` seconds (env ``INITSEARCH_STALE_AFTER``, default 60)
are failed and enqueued again once.

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

import optuna
from optuna.trial import FrozenTrial, TrialState

from initsearch.contract import DRIVER, DRIVER_BEAT_PREFIX, REASON, REQUEUED, RETRY_OF
from initsearch.run.optuna_adapter import set_trial_attr, stored_trial, trial_id
from initsearch.store_locks import study_lock

STALE_AFTER = float(os.environ.get("INITSEARCH_STALE_AFTER", "60"))
HEARTBEAT_EVERY = 10.0
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """Finished trials, except failures that were enqueued again (their retry counts)."""
    return trial.state in FINISHED and not trial.user_attrs.get(REQUEUED, False)


class Ledger:
    """One driver's view of who runs what in a study, and what has been spent."""

    def __init__(self, study: optuna.Study, storage_url: str) -> None:
        self.study = study
        self.storage_url = storage_url
        self.driver_id = uuid.uuid4().hex[:12]
        self._last_beat = 0.0

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive among the study's drivers, for check-then-write steps (not reentrant)."""
        with study_lock(self.storage_url, self.study.study_name):
            yield

    # ---- heartbeats ----------------------------------------------------------------------
    def heartbeat(self, force: bool = False) -> None:
        now = time.time()
        if force or now - self._last_beat >= HEARTBEAT_EVERY:
            self.study.set_user_attr(f"{DRIVER_BEAT_PREFIX}{self.driver_id}", now)
            self._last_beat = now

    def stop_beating(self) -> None:
        """Mark this driver gone at once, so its trials need not wait to be found stale."""
        self.study.set_user_attr(f"{DRIVER_BEAT_PREFIX}{self.driver_id}", 0.0)

    def beats(self) -> dict[str, float]:
        """Last heartbeat of every driver of the study."""
        return {
            k.removeprefix(DRIVER_BEAT_PREFIX): v
            for k, v in self.study.user_attrs.items()
            if k.startswith(DRIVER_BEAT_PREFIX)
        }

    def own(self, trial: optuna.Trial) -> None:
        """Tag a trial this driver starts."""
        trial.set_user_attr(DRIVER, self.driver_id)

    def is_live(self, trial: FrozenTrial, beats: dict[str, float], now: float) -> bool:
        """A RUNNING trial whose driver still beats. A trial not yet tagged with its driver
        (just asked) is live while younger than ``STALE_AFTER``."""
        owner = trial.user_attrs.get(DRIVER)
        if owner is None:
            started = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
            return now - started < STALE_AFTER
        return owner == self.driver_id or now - beats.get(owner, 0.0) < STALE_AFTER

    # ---- failure and retry ---------------------------------------------------------------
    def requeue(self, trial: FrozenTrial, keep: tuple[str, ...]) -> None:
        """Enqueue a failed trial again with its parameters and the attributes in ``keep``
        (what its source needs to know which work it is)."""
        attrs = {k: trial.user_attrs[k] for k in keep if k in trial.user_attrs}
        attrs[RETRY_OF] = trial.number
        self.study.enqueue_trial(dict(trial.params), user_attrs=attrs, skip_if_exists=False)

    def fail(
        self,
        trial: optuna.Trial | FrozenTrial,
        reason: str,
        retry: bool,
        keep: tuple[str, ...] = (),
    ) -> None:
        """Fail a trial with its reason; retry it once (with the attributes in ``keep``)
        unless it is itself a retry."""
        tid = trial_id(trial)
        set_trial_attr(self.study, tid, REASON, reason)
        again = retry and RETRY_OF not in stored_trial(self.study, tid).user_attrs
        if again:
            set_trial_attr(self.study, tid, REQUEUED, True)
        self.study.tell(trial.number, state=TrialState.FAIL)
        if again:
            self.requeue(stored_trial(self.study, tid), keep)

    def clean_stale(self, keep: tuple[str, ...] = ()) -> int:
        """Fail and re-enqueue RUNNING trials whose driver stopped beating."""
        with self.lock():  # two drivers: one cleans
            beats, now, cleaned = self.beats(), time.time(), 0
            for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if self.is_live(trial, beats, now):
                    continue
                self.fail(trial, "stale: its driver stopped", retry=True, keep=keep)
                cleaned += 1
        return cleaned

    # ---- the budget ----------------------------------------------------------------------
    def used(self) -> int:
        """Finished trials that count toward the budget, by every driver of the study."""
        return sum(counts_toward_budget(t) for t in self.study.get_trials(deepcopy=False))

    def taken(self) -> int:
        """Finished trials plus those running under a live driver (this one included): what
        another trial must not exceed, shared by concurrent drivers."""
        beats, now, taken = self.beats(), time.time(), 0
        for t in self.study.get_trials(deepcopy=False):
            if counts_toward_budget(t) or (
                t.state == TrialState.RUNNING and self.is_live(t, beats, now)
            ):
                taken += 1
        return taken
