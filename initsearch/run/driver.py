"""The study driver: Optuna ask/tell in one process, trials executed by Ray workers.

Why ask/tell in the driver rather than ``study.optimize`` inside each worker: baselines are
enqueued exactly once by one process, the driver knows which trial every worker runs (so a
worker killed mid-trial is marked failed and retried, never left RUNNING), and MLflow logging
has a single writer. Workers still report each epoch to the shared storage, so pruning works.

Stale trials: every trial records the driver that runs it, and each driver refreshes a
heartbeat (a study user attribute) while it runs. On start, RUNNING trials whose driver's
heartbeat is older than ``STALE_AFTER`` seconds (env ``INITSEARCH_STALE_AFTER``, default 60)
are failed and enqueued again once.

Several drivers may run one study at once (e.g. on several machines sharing PostgreSQL). Their
check-then-write steps (enqueue the baselines, fail stale trials, create the MLflow experiment)
run under :func:`~initsearch.search.storage.study_lock`, and the budget is counted on the shared
storage: finished trials plus those running under any live driver. Each driver checks it just
before asking for a trial, so k drivers overshoot the budget by at most k - 1 trials (those
asked between another driver's check and its ask).
"""

from __future__ import annotations

import math
import os
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from initsearch.config import StudyConfig
from initsearch.data import Dataset, load_dataset
from initsearch.inits import InitSpec
from initsearch.run.job import PackJob, TrialJob, TrialOutcome
from initsearch.run.pool import TrialPool, WorkerLost
from initsearch.search.algorithms import build_pruner, build_sampler
from initsearch.search.baselines import Baseline, study_baselines
from initsearch.search.space import LayerInfo, distributions, layer_info, suggest
from initsearch.search.storage import (
    check_workers,
    open_storage,
    resolve_storage_url,
    study_lock,
)
from initsearch.tracking.mlflow_runs import StudyTracker, default_tracking_uri, trial_params
from initsearch.train.pack_size import auto_pack_size

STALE_AFTER = float(os.environ.get("INITSEARCH_STALE_AFTER", "60"))
HEARTBEAT_EVERY = 10.0
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass
class StudyHandle:
    """The opened pieces of a study: its config, storage, Optuna study and layers."""

    cfg: StudyConfig
    storage_url: str
    study: optuna.Study
    info: LayerInfo
    tracking_uri: str


def open_study(cfg: StudyConfig, create: bool = True) -> StudyHandle:
    storage_url = resolve_storage_url(cfg.storage, cfg.workdir, cfg.name)
    info = layer_info(cfg)
    dists = distributions(cfg, info)
    storage = open_storage(storage_url)
    sampler = build_sampler(cfg.sampler, dists)
    pruner = build_pruner(cfg.pruner, cfg.train.epochs)
    if create:
        study = optuna.create_study(
            study_name=cfg.name,
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            directions=cfg.objective.directions,
            load_if_exists=True,
        )
        with warnings.catch_warnings():  # experimental in Optuna, stable in use since 3.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(cfg.objective.metrics)
        study.set_user_attr("config", cfg.model_dump(mode="json"))
        study.set_user_attr("layer_names", list(info.names))
        study.set_user_attr("layer_depths", list(info.depths))
    else:
        study = optuna.load_study(study_name=cfg.name, storage=storage, sampler=sampler)
    tracking_uri = cfg.tracking_uri or default_tracking_uri(cfg.workdir, cfg.name)
    return StudyHandle(cfg, storage_url, study, info, tracking_uri)


def counts_toward_budget(trial: optuna.trial.FrozenTrial) -> bool:
    """Finished trials, except failures that were enqueued again (their retry counts)."""
    return trial.state in FINISHED and not trial.user_attrs.get("requeued", False)


@dataclass
class StudyProgress:
    """What a progress display needs after each finished trial."""

    done: int
    total: int | None
    best: float | None
    states: dict[str, int] = field(default_factory=dict)
    last: TrialOutcome | None = None


class StudyDriver:
    """Runs a study to its budget; safe to start again (resumes)."""

    def __init__(
        self,
        cfg: StudyConfig,
        pool: TrialPool,
        on_progress: Callable[[StudyProgress], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.pool = pool
        self.on_progress = on_progress
        self.driver_id = uuid.uuid4().hex[:12]
        url = resolve_storage_url(cfg.storage, cfg.workdir, cfg.name)
        check_workers(url, pool.workers)
        open_storage(url)  # before the lock: on PostgreSQL the lock needs the storage's engine
        with study_lock(url, cfg.name):  # MLflow's get-or-create of experiment and parent run
            self.handle = open_study(cfg)
            self.study = self.handle.study
            self.tracker = StudyTracker(
                self.handle.tracking_uri, cfg.name, storage_url=self.handle.storage_url
            )
            self.study.set_user_attr("mlflow_parent_run_id", self.tracker.parent_run_id)
            self.study.set_user_attr("tracking_uri", self.handle.tracking_uri)
        self.baselines = {b.name: b for b in study_baselines(cfg, self.handle.info)}
        self._last_beat = 0.0
        self.pack_size = 1

    # ---- bookkeeping on the shared storage -------------------------------------------
    def heartbeat(self, force: bool = False) -> None:
        now = time.time()
        if force or now - self._last_beat >= HEARTBEAT_EVERY:
            self.study.set_user_attr(f"driver:{self.driver_id}", now)
            self._last_beat = now

    def requeue(self, trial: optuna.trial.FrozenTrial) -> None:
        attrs = {k: trial.user_attrs[k] for k in ("baseline",) if k in trial.user_attrs}
        attrs["retry_of"] = trial.number
        self.study.enqueue_trial(dict(trial.params), user_attrs=attrs, skip_if_exists=False)

    def fail(self, trial_id: int, number: int, reason: str, retry: bool) -> None:
        storage = self.study._storage
        storage.set_trial_user_attr(trial_id, "reason", reason)
        trial = storage.get_trial(trial_id)
        again = retry and "retry_of" not in trial.user_attrs
        if again:
            storage.set_trial_user_attr(trial_id, "requeued", True)
        self.study.tell(number, state=TrialState.FAIL)
        if again:
            self.requeue(storage.get_trial(trial_id))

    def beats(self) -> dict[str, float]:
        """Last heartbeat of every driver of the study."""
        return {
            k.split(":", 1)[1]: v
            for k, v in self.study.user_attrs.items()
            if k.startswith("driver:")
        }

    def is_live(self, trial: optuna.trial.FrozenTrial, beats: dict[str, float], now: float) -> bool:
        """A RUNNING trial whose driver still beats. A trial not yet tagged with its driver
        (just asked) is live while younger than ``STALE_AFTER``."""
        owner = trial.user_attrs.get("driver")
        if owner is None:
            started = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
            return now - started < STALE_AFTER
        return owner == self.driver_id or now - beats.get(owner, 0.0) < STALE_AFTER

    def clean_stale(self) -> int:
        """Fail and re-enqueue RUNNING trials whose driver stopped beating."""
        with study_lock(self.handle.storage_url, self.cfg.name):  # two drivers: one cleans
            beats, now, cleaned = self.beats(), time.time(), 0
            for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if self.is_live(trial, beats, now):
                    continue
                self.fail(trial._trial_id, trial.number, "stale: its driver stopped", retry=True)
                cleaned += 1
        return cleaned

    def enqueue_baselines(self) -> list[str]:
        """Enqueue each baseline that no trial of the study carries yet. Under the study lock:
        two drivers starting together would otherwise both see none and both enqueue."""
        with study_lock(self.handle.storage_url, self.cfg.name):
            trials = self.study.get_trials(deepcopy=False)
            present = {t.user_attrs.get("baseline") for t in trials}
            added = []
            for name, baseline in self.baselines.items():
                if name in present:
                    continue
                self.study.enqueue_trial(
                    baseline.params or {}, user_attrs={"baseline": name}, skip_if_exists=False
                )
                added.append(name)
        return added

    def budget_used(self) -> int:
        """Finished trials that count toward the budget, by every driver of the study."""
        return sum(counts_toward_budget(t) for t in self.study.get_trials(deepcopy=False))

    def budget_taken(self) -> int:
        """Finished trials plus those running under a live driver (this one included): what
        another trial must not exceed, shared by concurrent drivers."""
        beats, now, taken = self.beats(), time.time(), 0
        for t in self.study.get_trials(deepcopy=False):
            if counts_toward_budget(t) or (
                t.state == TrialState.RUNNING and self.is_live(t, beats, now)
            ):
                taken += 1
        return taken

    def has_next(self, total: int | None) -> bool:
        """Whether to ask for another trial now: while the shared budget lasts. A subclass
        with a fixed work list (``initsearch.compare``) answers from its queue instead."""
        return total is None or self.budget_taken() < total

    # ---- one trial -------------------------------------------------------------------
    def next_job(self) -> tuple[TrialJob, optuna.Trial, dict[str, Any]]:
        trial = self.study.ask()
        baseline: Baseline | None = self.baselines.get(trial.user_attrs.get("baseline", ""))
        if baseline is not None:
            if baseline.params:
                suggest(trial, self.cfg, self.handle.info)  # records the enqueued point
            init = baseline.init
        else:
            init = suggest(trial, self.cfg, self.handle.info)
        trial.set_user_attr("driver", self.driver_id)
        trial.set_user_attr("init", init.to_dict())
        cfg = self.cfg
        metrics = tuple(cfg.objective.metrics)
        job = TrialJob(
            study_name=cfg.name,
            storage_url=self.handle.storage_url,
            trial_id=trial._trial_id,
            trial_number=trial.number,
            spec=cfg.trial_spec(init, seed=cfg.budget.seeds[0]),
            seeds=cfg.budget.seeds,
            metrics=metrics,
            # baselines are reference points: they always run their full budget
            prune=len(metrics) == 1 and cfg.pruner.name != "none" and baseline is None,
            pruner=cfg.pruner.model_dump(),
        )
        return job, trial, {"init": init, "started": time.time()}

    def trial_seeds(self, trial: optuna.Trial) -> list[int]:
        """The seeds a trial trains (all of the study's; a comparison runs one per trial)."""
        return list(self.cfg.budget.seeds)

    def record(self, trial: optuna.Trial, outcome: TrialOutcome, init: InitSpec) -> None:
        """Log the trial to MLflow, link both ways, and tell Optuna how it ended."""
        attrs = dict(trial.user_attrs)
        for key, value in (("reason", outcome.reason), ("node_id", outcome.node_id)):
            if value:
                attrs[key] = value
        if outcome.error:
            attrs["error"] = outcome.error
        state = {"complete": "COMPLETE", "pruned": "PRUNED"}.get(outcome.state, "FAIL")
        init_dict = outcome.results[0]["init"] if outcome.results else init.to_dict()
        init_dict = {**init.to_dict(), "scales": init_dict.get("scales") or init.scales or []}
        params = trial_params(init_dict, self.trial_seeds(trial), trial.number)
        if outcome.results:  # how it was trained: alone (1) or in a pack of K
            params["pack_size"] = outcome.results[0].get("pack_size", 1)
        run_id = self.tracker.log_trial(
            trial.number,
            state,
            params,
            outcome.results,
            attrs,
            outcome.started,
            outcome.finished,
        )
        trial.set_user_attr("mlflow_run_id", run_id)
        # The worker stored pid and node_id when it started; writing them again would cost two
        # synced storage writes per trial (benchmarks/platform_overhead.py), so only fill gaps.
        stored = self.study._storage.get_trial_user_attrs(trial._trial_id)
        if stored.get("pid") != outcome.pid:
            trial.set_user_attr("pid", outcome.pid)
        if outcome.node_id and stored.get("node_id") != outcome.node_id:
            trial.set_user_attr("node_id", outcome.node_id)
        if outcome.results:
            first = outcome.results[0]
            trial.set_user_attr("scales", first["init"]["scales"])
            diag = first["init"].get("diagnostics") or {}
            log_e = diag.get("log_emergence")
            if log_e is not None and math.isfinite(log_e):  # -inf (E = 0) is not valid JSON
                trial.set_user_attr("log_emergence", log_e)
            trial.set_user_attr("val_accuracy_curve", first["curve"]["val_accuracy"])
        if outcome.state == "complete":
            self.study.tell(trial, outcome.values)
        elif outcome.state == "pruned":
            trial.set_user_attr("reason", outcome.reason)
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            trial.set_user_attr("reason", outcome.reason or "failed")
            if outcome.error:
                trial.set_user_attr("error", outcome.error[-4000:])
            self.study.tell(trial, state=TrialState.FAIL)

    # ---- packs -------------------------------------------------------------------------
    def resolve_pack_size(self, dataset: Dataset) -> int:
        """The study's ``ray.pack``; ``auto`` is sized where the trials run (a worker of the
        pool, with the task's resources), since the driver's machine may have no GPU."""
        pack = self.cfg.ray.pack
        if pack != "auto":
            return int(pack)
        spec = self.cfg.trial_spec(InitSpec(self.cfg.search.base_init), self.cfg.budget.seeds[0])
        return int(self.pool.run_once(auto_pack_size, spec, dataset))

    def remaining(self, total: int | None) -> int | None:
        """Trials still to ask for under the shared budget (None: no trial limit)."""
        return None if total is None else max(total - self.budget_taken(), 0)

    def pack_limit(self, total: int | None, free_slots: int) -> int:
        """Members for the next pack: at most ``pack_size``, and the remaining trials spread
        over the free slots, so that 40 trials on 4 GPUs make 4 packs of 10, not one of 40."""
        left = self.remaining(total) if self.pack_size > 1 else None
        if left is None:
            return self.pack_size
        return max(1, min(self.pack_size, math.ceil(left / max(free_slots, 1))))

    def submit_next(
        self, total: int | None, free_slots: int = 1
    ) -> tuple[Any, list[tuple[optuna.Trial, dict]]]:
        """Ask for up to a pack of trials (while the budget lasts) and submit them as one task;
        a pack of one is submitted as a plain trial."""
        limit = self.pack_limit(total, free_slots)
        asked = [self.next_job()]
        while len(asked) < limit and self.has_next(total):
            asked.append(self.next_job())
        jobs = tuple(job for job, _, _ in asked)
        task = jobs[0] if len(jobs) == 1 else PackJob(jobs)
        return self.pool.submit(task), [(trial, meta) for _, trial, meta in asked]

    # ---- the loop --------------------------------------------------------------------
    def run(self) -> StudyProgress:
        cfg = self.cfg
        self.heartbeat(force=True)
        self.clean_stale()
        self.enqueue_baselines()
        deadline = (
            time.time() + cfg.budget.timeout_minutes * 60
            if cfg.budget.timeout_minutes
            else math.inf
        )
        total = cfg.budget.trials
        dataset = load_dataset(
            cfg.data.name, root=cfg.data.root, download=cfg.data.download, limit=cfg.data.limit
        )
        self.pool.start(dataset)
        self.pack_size = self.resolve_pack_size(dataset)
        inflight: dict[Any, list[tuple[optuna.Trial, dict[str, Any]]]] = {}
        used = self.budget_used()
        status = "FINISHED"
        try:
            while True:
                self.heartbeat()
                # the budget is read from the storage before each ask: other drivers share it
                while (
                    len(inflight) < self.pool.workers
                    and time.time() < deadline
                    and self.has_next(total)
                ):
                    ref, members = self.submit_next(total, self.pool.workers - len(inflight))
                    inflight[ref] = members
                if not inflight:
                    break
                for ref, outcome in self.pool.wait(list(inflight), timeout=HEARTBEAT_EVERY):
                    members = inflight.pop(ref)
                    if isinstance(outcome, WorkerLost):
                        for trial, _ in members:
                            self.fail(trial._trial_id, trial.number, outcome.reason, retry=True)
                        continue
                    outcomes = outcome if isinstance(outcome, list) else [outcome]
                    for (trial, meta), one in zip(members, outcomes, strict=True):
                        self.record(trial, one, meta["init"])
                    # one read of the shared storage per finished task, not per pack member
                    used = self.budget_used()
                    self.report(used, outcomes[-1])
        except KeyboardInterrupt:
            status = "KILLED"
            for ref, members in inflight.items():
                self.pool.cancel(ref)
                for trial, _ in members:
                    self.fail(trial._trial_id, trial.number, "interrupted by the user", retry=True)
            raise
        finally:
            self.tracker.finish(status)
            self.study.set_user_attr(f"driver:{self.driver_id}", 0.0)
        return self.progress(used)

    def progress(self, used: int, last: TrialOutcome | None = None) -> StudyProgress:
        trials = self.study.get_trials(deepcopy=False)
        states: dict[str, int] = {}
        for t in trials:
            states[t.state.name] = states.get(t.state.name, 0) + 1
        best = None
        if len(self.cfg.objective.metrics) == 1:
            done = [t for t in trials if t.state == TrialState.COMPLETE]
            if done:
                best = self.study.best_value
        return StudyProgress(used, self.cfg.budget.trials, best, states, last)

    def report(self, used: int, outcome: TrialOutcome) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress(used, outcome))
