"""The driver loop: ask a trial source for work, hand it to the pool, record what comes back.

Why one driver process does Optuna's ask/tell rather than ``study.optimize`` inside each
worker: baselines are enqueued exactly once by one process, the driver knows which trial every
worker runs (so a worker killed mid-trial is marked failed and retried, never left RUNNING),
and MLflow logging has a single writer. Workers still report each epoch to the shared storage,
so pruning works.

Which trials run is the source's business (:mod:`initsearch.run.source`); heartbeats, stale
trials, retries and the budget are the ledger's (:mod:`initsearch.run.ledger`); how a finished
trial is written down is the recorder's (:mod:`initsearch.run.record`).

Stopping: Ctrl-C and SIGTERM (:mod:`initsearch.run.signals`) fail the running trials as
interrupted (they run again on the next start) and mark the MLflow parent run KILLED; a crash
of the driver fails them too and marks it FAILED. Handing out a trial and recording one are
steps a signal waits for, so no trial is left between two states. A driver ends when it has
no work left and no other driver runs a trial of the study: the study never ends with a trial
RUNNING, nor with the retry of a dead driver's trial WAITING.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import optuna
from optuna.trial import TrialState

from initsearch.data import Dataset
from initsearch.run.job import PackJob, TrialOutcome
from initsearch.run.ledger import HEARTBEAT_EVERY, Ledger
from initsearch.run.pool import TrialPool, WorkerLost
from initsearch.run.record import Recorder
from initsearch.run.signals import deferred_signals, keep_stop_signals, stop_reason
from initsearch.run.source import Asked, TrialSource
from initsearch.run.timing import mark
from initsearch.train import TrialSpec
from initsearch.train.pack_size import auto_pack_size

WAIT_FOR_OTHERS = 2.0  # seconds between looks while only other drivers' trials run


@dataclass(frozen=True)
class DriveLimits:
    """How long to drive and how to pack: the study's time limit and ``ray.pack``.

    ``probe`` is a trial spec of the study: its data set is loaded once and shared by the
    workers, and ``pack: auto`` is sized for its model where the trials run.
    """

    probe: TrialSpec
    timeout_minutes: float | None = None
    pack: int | Literal["auto"] = "auto"


@dataclass
class StudyProgress:
    """What a progress display needs after each finished trial."""

    done: int
    total: int | None
    best: float | None
    states: dict[str, int] = field(default_factory=dict)
    last: TrialOutcome | None = None


class Driver:
    """Runs a source's trials to the end of its work; safe to start again (resumes)."""

    def __init__(
        self,
        study: optuna.Study,
        source: TrialSource,
        pool: TrialPool,
        ledger: Ledger,
        recorder: Recorder,
        limits: DriveLimits,
        total: int | None,
        on_progress: Callable[[StudyProgress], None] | None = None,
    ) -> None:
        self.study = study
        self.source = source
        self.pool = pool
        self.ledger = ledger
        self.recorder = recorder
        self.limits = limits
        self.total = total
        self.on_progress = on_progress
        self.pack_size = 1

    def done(self) -> int:
        """Finished trials of the source's work (what a progress bar starts from)."""
        return self.source.done()

    def prepare(self) -> list[str]:
        """The source's fixed work, enqueued under the study lock (two drivers starting
        together would otherwise both see none and both enqueue)."""
        with self.ledger.lock():
            return self.source.prepare()

    # ---- packs -------------------------------------------------------------------------
    def resolve_pack_size(self, dataset: Dataset) -> int:
        """``ray.pack``; ``auto`` is sized where the trials run (a worker of the pool, with
        the task's resources), since the driver's machine may have no GPU. A researcher's own
        training function trains one model at a time: packs are the built-in engine's."""
        if self.limits.probe.loop.function is not None:
            return 1
        if self.limits.pack != "auto":
            return int(self.limits.pack)
        return int(self.pool.run_once(auto_pack_size, self.limits.probe, dataset))

    def pack_limit(self, free_slots: int, seeds: int) -> int:
        """Trials for the next pack: a pack holds at most ``pack_size`` members (a trial of N
        seeds is N members), and the remaining trials are spread over the free slots, so that
        40 trials on 4 GPUs make 4 packs of 10, not one of 40."""
        per_pack = max(1, self.pack_size // max(seeds, 1))
        left = self.source.remaining() if per_pack > 1 else None
        if left is None:
            return per_pack
        # called after the pack's first trial was started: it counts as one of the trials
        return max(1, min(per_pack, math.ceil((left + 1) / max(free_slots, 1))))

    def submit_next(self, free_slots: int = 1) -> tuple[Any, list[Asked]] | None:
        """Start up to a pack of trials and submit them as one task; None when the source had
        nothing after all. A lone trial goes as a pack of one when its seeds fit in a pack
        (its N seeds then train together), else as a plain trial."""
        first = self.source.next()
        if first is None:
            return None
        seeds = len(first.job.seeds)
        limit = self.pack_limit(free_slots, seeds) if self.pack_size > 1 else 1
        asked: list[Asked] = [first]
        while len(asked) < limit and self.source.has_next():
            one = self.source.next()
            if one is None:
                break
            asked.append(one)
        jobs = tuple(a.job for a in asked)
        packs_seeds = 1 < seeds <= self.pack_size
        task = PackJob(jobs) if len(jobs) > 1 or packs_seeds else jobs[0]
        return self.pool.submit(task), asked

    # ---- the loop --------------------------------------------------------------------
    def run(self) -> StudyProgress:
        keep_stop_signals()  # the pool started Ray, and ray.init takes SIGTERM for itself
        keep = self.source.kept_attrs
        self.ledger.heartbeat(force=True)
        self.ledger.clean_stale(keep)
        self.prepare()
        minutes = self.limits.timeout_minutes
        deadline = time.time() + minutes * 60 if minutes else math.inf
        dataset = self.limits.probe.data.load()
        self.pool.start(dataset)
        self.pack_size = self.resolve_pack_size(dataset)
        inflight: dict[Any, list[Asked]] = {}
        done = self.source.done()
        mark("driver-ready")
        status = "FINISHED"
        try:
            while True:
                self.ledger.tick(keep)  # a driver that dies meanwhile: its trials run again
                self.fill(inflight, deadline)
                if not inflight:
                    if time.time() < deadline and self.others_pending():
                        continue
                    break
                for ref, outcome in self.pool.wait(list(inflight), timeout=HEARTBEAT_EVERY):
                    with deferred_signals():  # a task taken out of inflight is recorded whole
                        members = inflight.pop(ref)
                        if self.finish_task(members, outcome):
                            # one read of the shared storage per finished task
                            done = self.source.done()
                            self.report(done, outcome[-1] if isinstance(outcome, list) else outcome)
        except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM
            status = "KILLED"
            self.stop(inflight, stop_reason(err))
            raise
        except BaseException as err:
            status = "FAILED"
            # what failed may be the storage itself: then a later start finds them stale
            with contextlib.suppress(Exception):
                self.stop(inflight, f"driver failed: {type(err).__name__}: {err}"[:2000])
            raise
        finally:
            self.recorder.tracker.finish(status)
            self.ledger.stop_beating()
        return self.progress(done)

    def fill(self, inflight: dict[Any, list[Asked]], deadline: float) -> None:
        """Start tasks while workers are free and the source has work (the budget is read
        from the storage before each ask: other drivers share it)."""
        while (
            len(inflight) < self.pool.workers and time.time() < deadline and self.source.has_next()
        ):
            with deferred_signals():  # a started trial is in inflight, or no signal came yet
                submitted = self.submit_next(self.pool.workers - len(inflight))
                if submitted is not None:
                    inflight[submitted[0]] = submitted[1]
            if submitted is None:
                return

    def others_pending(self) -> bool:
        """With no work of its own, whether this driver should stay: it failed stale trials
        just now (their retries may be its work), or other drivers still run trials (one of
        them may die and leave work behind). Waits a little in the second case."""
        if self.ledger.clean_stale(self.source.kept_attrs):
            return True
        if self.ledger.others_running():
            self.ledger.heartbeat()
            time.sleep(WAIT_FOR_OTHERS)
            return True
        return False

    def finish_task(self, members: list[Asked], outcome: Any) -> bool:
        """Record what a task gave back; a lost worker fails its trials (retried). Whether
        outcomes were recorded."""
        if isinstance(outcome, WorkerLost):
            for asked in members:
                self.ledger.fail(
                    asked.trial,
                    outcome.reason,
                    retry=True,
                    keep=self.source.kept_attrs,
                    lost_worker=True,
                )
            return False
        outcomes = outcome if isinstance(outcome, list) else [outcome]
        for asked, one in zip(members, outcomes, strict=True):
            self.record(asked, one)
        return True

    def stop(self, inflight: dict[Any, list[Asked]], reason: str) -> None:
        """Cancel the running tasks and fail their trials (each retried on the next start);
        a signal waits until all are failed."""
        with deferred_signals():
            for ref, members in inflight.items():
                self.pool.cancel(ref)
                for asked in members:
                    self.ledger.fail(asked.trial, reason, retry=True, keep=self.source.kept_attrs)

    def record(self, asked: Asked, outcome: TrialOutcome) -> None:
        seeds = self.source.seeds(asked.trial)
        self.recorder.record(asked.trial, outcome, asked.init, seeds, self.source.annotate)

    def progress(self, done: int, last: TrialOutcome | None = None) -> StudyProgress:
        trials = self.study.get_trials(deepcopy=False)
        states: dict[str, int] = {}
        for t in trials:
            states[t.state.name] = states.get(t.state.name, 0) + 1
        best = None
        if len(self.study.directions) == 1 and any(t.state == TrialState.COMPLETE for t in trials):
            best = self.study.best_value
        return StudyProgress(done, self.total, best, states, last)

    def report(self, done: int, outcome: TrialOutcome) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress(done, outcome))
