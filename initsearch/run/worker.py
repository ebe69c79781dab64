"""The worker side of a trial: train every seed, report each epoch to the study for pruning,
and hand back an outcome. Runs inside a Ray worker process (or in-process for tests). A pack
of trials (``PackJob``) trains its members together and hands back one outcome per member.

The driver owns the study's ask/tell; a worker only reports intermediate values and asks
whether to prune, through a ``Trial`` handle on the shared storage. Nothing a trial does can
raise out of here: exceptions come back as a "failed" outcome with the error text.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import replace

import optuna

from initsearch.contract import NODE_ID, PID
from initsearch.data import Dataset
from initsearch.run.job import PackJob, TrialJob, TrialOutcome
from initsearch.run.objective import intermediate_key, metric_value
from initsearch.run.optuna_adapter import set_trial_attr, trial_handle
from initsearch.stores import open_storage
from initsearch.train import TrialResult, TrialSpec, resolve_device, run_trial
from initsearch.train.pack import pack_key, run_pack

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
    """State and values of a trial from its runs (the last run decides how it ended)."""
    outcome.results = results
    last = results[-1]
    if last.status == "diverged":
        outcome.state, outcome.reason = "pruned", f"diverged: {last.reason}"
    elif last.status == "stopped":
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
    outcome = new_outcome(job)
    try:
        study = _study(job)
        mark_running_here(study, job, outcome)
        # every single-objective trial reports its curve (dashboards, pruning reference);
        # only searched trials may be stopped by the pruner
        trial = trial_handle(study, job.trial_id) if len(job.metrics) == 1 else None
        key = intermediate_key(job.metrics[0])
        results = []
        for k, seed in enumerate(job.seeds):

            def on_epoch(epoch: int, curve, first: bool = k == 0) -> bool:
                if trial is None or not first:
                    return True
                trial.report(getattr(curve, key)[-1], step=epoch)
                return not (job.prune and trial.should_prune())

            result = train_one(replace(job.spec, seed=seed), dataset, on_epoch)
            results.append(result)
            if result.status != "completed":
                break
        conclude(outcome, results, job.metrics)
    except Exception as err:  # noqa: BLE001 - a crashed trial is recorded, the study goes on
        crashed(outcome, err)
    outcome.finished = time.time()
    return outcome


def train_one(spec: TrialSpec, dataset: Dataset, on_epoch) -> TrialResult:
    """One trial: on a GPU through the pack engine as a pack of one (its CUDA-graphed step
    beats the eager loop), elsewhere through the plain engine."""
    if resolve_device(spec.device).type != "cuda":
        return run_trial(spec, dataset=dataset, on_epoch=on_epoch)
    return run_pack([spec], dataset, on_epoch=lambda _, epoch, curve: on_epoch(epoch, curve))[0]


def pack_groups(jobs: tuple[TrialJob, ...]) -> list[list[int]]:
    """Indices of jobs that can train as one pack (equal but for the init, same seeds)."""
    groups: dict[tuple[str, tuple[int, ...]], list[int]] = {}
    for i, job in enumerate(jobs):
        groups.setdefault((pack_key(job.spec), job.seeds), []).append(i)
    return list(groups.values())


def execute_pack(pack: PackJob, dataset: Dataset) -> list[TrialOutcome]:
    """Train the pack's trials together, seed by seed; each member reports its own curve and
    is pruned on its own. If the pack itself fails (a member's init raising, say), every
    member is run alone, so only the trial at fault is recorded as failed."""
    outcomes = []
    for group in pack_groups(pack.jobs):
        jobs = [pack.jobs[i] for i in group]
        try:
            outcomes += train_group(jobs, dataset)
        except Exception:  # noqa: BLE001 - isolate the culprit by running members alone
            outcomes += [execute(job, dataset) for job in jobs]
    order = {job.trial_number: i for i, job in enumerate(pack.jobs)}
    return sorted(outcomes, key=lambda o: order[o.trial_number])


def train_group(jobs: list[TrialJob], dataset: Dataset) -> list[TrialOutcome]:
    outcomes = [new_outcome(job) for job in jobs]
    study = _study(jobs[0])
    for job, outcome in zip(jobs, outcomes, strict=True):
        mark_running_here(study, job, outcome)
    single = len(jobs[0].metrics) == 1
    trials = [trial_handle(study, job.trial_id) if single else None for job in jobs]
    key = intermediate_key(jobs[0].metrics[0])
    results: list[list[TrialResult]] = [[] for _ in jobs]
    running = list(range(len(jobs)))
    for k, seed in enumerate(jobs[0].seeds):
        members = list(running)

        def on_epoch(member: int, epoch: int, curve, first: bool = k == 0, members=members) -> bool:
            i = members[member]
            if trials[i] is None or not first:
                return True
            trials[i].report(getattr(curve, key)[-1], step=epoch)
            return not (jobs[i].prune and trials[i].should_prune())

        specs = [replace(jobs[i].spec, seed=seed) for i in members]
        for i, result in zip(members, run_pack(specs, dataset, on_epoch=on_epoch), strict=True):
            results[i].append(result)
        running = [i for i in members if results[i][-1].status == "completed"]
        if not running:
            break
    for i, outcome in enumerate(outcomes):
        conclude(outcome, results[i], jobs[i].metrics)
        outcome.finished = time.time()
    return outcomes
