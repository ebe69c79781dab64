"""The worker side of a trial: train its seeds, report each epoch to the study for pruning,
and hand back an outcome. Runs inside a Ray worker process (or in-process for tests). A pack
of trials (``PackJob``) trains all its members (every trial x every seed) as one pack and hands
back one outcome per trial.

A trial's N seeds train together (``initsearch.train.run_members``): on a CPU as solo runs
advanced an epoch at a time, on a GPU (or in a ``PackJob``) as one pack. After each epoch a
single-objective trial reports the mean over its seeds of the pruner's curve and the pruner
decides on that mean; a pruned trial stops all its seeds, and a seed that diverges ends its
trial (the other seeds stop too). The driver owns the study's ask/tell; a worker only reports
intermediate values and asks whether to prune, through a ``Trial`` handle on the shared
storage. Nothing a trial does can raise out of here: exceptions come back as a "failed"
outcome with the error text.
"""

from __future__ import annotations

import os
import statistics
import time
import traceback
from collections.abc import Collection
from dataclasses import replace

import optuna

from initsearch.contract import NODE_ID, PID
from initsearch.data import Dataset
from initsearch.run.job import PackJob, TrialJob, TrialOutcome
from initsearch.run.objective import intermediate_key, metric_value
from initsearch.run.optuna_adapter import set_trial_attr, trial_handle
from initsearch.stores import open_storage
from initsearch.train import Curve, TrialResult, TrialSpec, resolve_device, run_members
from initsearch.train.pack import pack_key

_STUDIES: dict[tuple[str, str], optuna.Study] = {}


def _study(job: TrialJob) -> optuna.Study:
    """The study handle for reporting, cached per worker process, with the study's pruner."""
    key = (job.storage_url, job.study_name)
    if key not in _STUDIES:
        _STUDIES[key] = optuna.load_study(
            study_name=job.study_name,
            storage=open_storage(job.storage_url),
            pruner=job.pruner or optuna.pruners.NopPruner(),
        )
    return _STUDIES[key]


def node_id() -> str:
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - outside Ray there is no node id
        pass
    return ""


def new_outcome(job: TrialJob) -> TrialOutcome:
    return TrialOutcome(
        job.trial_number,
        "failed",
        None,
        [],
        pid=os.getpid(),
        node_id=node_id(),
        started=time.time(),
    )


def mark_running_here(study: optuna.Study, job: TrialJob, outcome: TrialOutcome) -> None:
    """Where the trial runs, visible while it runs (to find or kill its worker)."""
    set_trial_attr(study, job.trial_id, PID, outcome.pid)
    if outcome.node_id:
        set_trial_attr(study, job.trial_id, NODE_ID, outcome.node_id)


def conclude(outcome: TrialOutcome, results: list[TrialResult], metrics: tuple[str, ...]) -> None:
    """State and values of a trial from its seeds' runs: a diverged seed makes it pruned
    ("diverged: ..."), a stopped one pruned by the pruner, else complete with the mean values."""
    outcome.results = results
    diverged = [r for r in results if r.status == "diverged"]
    if diverged:
        outcome.state, outcome.reason = "pruned", f"diverged: {diverged[0].reason}"
    elif any(r.status == "stopped" for r in results):
        outcome.state, outcome.reason = "pruned", "pruned by the study's pruner"
    else:
        outcome.state = "complete"
        outcome.values = [metric_value(m, results) for m in metrics]


def crashed(outcome: TrialOutcome, err: Exception) -> None:
    outcome.state = "failed"
    outcome.reason = f"{type(err).__name__}: {err}"
    outcome.error = traceback.format_exc(limit=20)


def execute(job: TrialJob | PackJob, dataset: Dataset) -> TrialOutcome | list[TrialOutcome]:
    """Run a trial (or a pack of trials); every ending is an outcome, never an exception."""
    if isinstance(job, PackJob):
        return execute_pack(job, dataset)
    return execute_trial(job, dataset)


def execute_trial(job: TrialJob, dataset: Dataset) -> TrialOutcome:
    """One trial: its seeds as one pack on a GPU (the CUDA-graphed step beats the eager loop),
    elsewhere as interleaved solo runs."""
    outcome = new_outcome(job)
    try:
        train_jobs([job], [outcome], dataset, pack=resolve_device(job.spec.device).type == "cuda")
    except Exception as err:  # noqa: BLE001 - a crashed trial is recorded, the study goes on
        crashed(outcome, err)
    outcome.finished = time.time()
    return outcome


def pack_groups(jobs: tuple[TrialJob, ...]) -> list[list[int]]:
    """Indices of jobs that can train as one pack (equal but for init and seeds)."""
    groups: dict[str, list[int]] = {}
    for i, job in enumerate(jobs):
        groups.setdefault(pack_key(job.spec), []).append(i)
    return list(groups.values())


def execute_pack(pack: PackJob, dataset: Dataset) -> list[TrialOutcome]:
    """Train all members of the pack's trials (every trial x every seed) as one pack per group
    of equal set-up; each trial reports and is pruned on its own. If a pack itself fails (a
    member's init raising, say), every trial is run alone, so only the one at fault is
    recorded as failed."""
    outcomes = []
    for group in pack_groups(pack.jobs):
        jobs = [pack.jobs[i] for i in group]
        trained = [new_outcome(job) for job in jobs]
        try:
            train_jobs(jobs, trained, dataset, pack=True)
        except Exception:  # noqa: BLE001 - isolate the culprit by running trials alone
            trained = [execute_trial(job, dataset) for job in jobs]
        outcomes += trained
    order = {job.trial_number: i for i, job in enumerate(pack.jobs)}
    return sorted(outcomes, key=lambda o: order[o.trial_number])


def train_jobs(
    jobs: list[TrialJob], outcomes: list[TrialOutcome], dataset: Dataset, pack: bool
) -> None:
    """Train every seed of every job as members of one ``run_members`` call and conclude each
    job's outcome. Each epoch, a single-objective job reports the mean over its seeds of its
    intermediate value and may be pruned; a diverged seed stops the job's other seeds."""
    study = _study(jobs[0])
    for job, outcome in zip(jobs, outcomes, strict=True):
        mark_running_here(study, job, outcome)
    specs: list[TrialSpec] = []
    seeds_of: list[list[int]] = []  # each job's members, in seed order
    for job in jobs:
        seeds_of.append(list(range(len(specs), len(specs) + len(job.seeds))))
        specs += [replace(job.spec, seed=seed) for seed in job.seeds]
    trials = [trial_handle(study, j.trial_id) if len(j.metrics) == 1 else None for j in jobs]
    ended: set[int] = set()  # jobs whose seeds no longer run

    def on_epoch(epoch: int, curves: dict[int, Curve]) -> Collection[int]:
        stop: list[int] = []
        for j, job in enumerate(jobs):
            members = seeds_of[j]
            alive = [m for m in members if m in curves]
            if j in ended or not alive:
                continue
            if len(alive) < len(members) or not report(trials[j], job, epoch, curves, alive):
                ended.add(j)  # a seed diverged, or the pruner said stop
                stop += alive
        return stop

    results = run_members(specs, dataset, on_epoch=on_epoch, pack=pack)
    for j, outcome in enumerate(outcomes):
        conclude(outcome, [results[m] for m in seeds_of[j]], jobs[j].metrics)
        outcome.finished = time.time()


def report(
    trial: optuna.Trial | None,
    job: TrialJob,
    epoch: int,
    curves: dict[int, Curve],
    seeds: list[int],
) -> bool:
    """Report the mean over the trial's seeds of its intermediate value at ``epoch``; False
    when the pruner stops the trial (only for jobs that may be pruned)."""
    if trial is None:
        return True
    key = intermediate_key(job.metrics[0])
    trial.report(statistics.fmean(getattr(curves[m], key)[-1] for m in seeds), step=epoch)
    return not (job.prune and trial.should_prune())
