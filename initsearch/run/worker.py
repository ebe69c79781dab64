"""The worker side of a trial: train every seed, report each epoch to the study for pruning,
and hand back an outcome. Runs inside a Ray worker process (or in-process for tests).

The driver owns the study's ask/tell; a worker only reports intermediate values and asks
whether to prune, through a ``Trial`` handle on the shared storage. Nothing a trial does can
raise out of here: exceptions come back as a "failed" outcome with the error text.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import replace

from initsearch.data import Dataset
from initsearch.run.job import TrialJob, TrialOutcome
from initsearch.search.objective import intermediate_key, metric_value
from initsearch.train import run_trial

_STUDIES: dict[tuple[str, str], object] = {}


def _study(job: TrialJob):
    """The study handle for reporting, cached per worker process."""
    import optuna

    key = (job.storage_url, job.study_name)
    if key not in _STUDIES:
        from initsearch.search.algorithms import build_pruner
        from initsearch.search.storage import open_storage

        pruner = build_pruner(job.pruner, job.spec.budget.epochs)
        _STUDIES[key] = optuna.load_study(
            study_name=job.study_name, storage=open_storage(job.storage_url), pruner=pruner
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


def execute(job: TrialJob, dataset: Dataset) -> TrialOutcome:
    """Run ``job`` on ``dataset``; every ending is an outcome, never an exception."""
    import optuna

    started = time.time()
    outcome = TrialOutcome(
        job.trial_number, "failed", None, [], pid=os.getpid(), node_id=node_id(), started=started
    )
    try:
        study = _study(job)
        # where the trial runs, visible while it runs (to find or kill its worker)
        study._storage.set_trial_user_attr(job.trial_id, "pid", outcome.pid)
        if outcome.node_id:
            study._storage.set_trial_user_attr(job.trial_id, "node_id", outcome.node_id)
        # every single-objective trial reports its curve (dashboards, pruning reference);
        # only searched trials may be stopped by the pruner
        trial = optuna.trial.Trial(study, job.trial_id) if len(job.metrics) == 1 else None
        key = intermediate_key(job.metrics[0])
        results = []
        for k, seed in enumerate(job.seeds):

            def on_epoch(epoch: int, curve, first: bool = k == 0) -> bool:
                if trial is None or not first:
                    return True
                trial.report(getattr(curve, key)[-1], step=epoch)
                return not (job.prune and trial.should_prune())

            result = run_trial(replace(job.spec, seed=seed), dataset=dataset, on_epoch=on_epoch)
            results.append(result.to_dict())
            if result.status != "completed":
                break
        outcome.results = results
        last = results[-1]
        if last["status"] == "diverged":
            outcome.state, outcome.reason = "pruned", f"diverged: {last['reason']}"
        elif last["status"] == "stopped":
            outcome.state, outcome.reason = "pruned", "pruned by the study's pruner"
        else:
            outcome.state = "complete"
            outcome.values = [metric_value(m, results) for m in job.metrics]
    except Exception as err:  # noqa: BLE001 - a crashed trial is recorded, the study goes on
        outcome.state = "failed"
        outcome.reason = f"{type(err).__name__}: {err}"
        outcome.error = traceback.format_exc(limit=20)
    outcome.finished = time.time()
    return outcome
