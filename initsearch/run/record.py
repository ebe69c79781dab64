"""Turn a trial's outcome into its record: an MLflow child run, Optuna user attributes, and
the state Optuna is told.

One writer: only the driver records, so a local SQLite tracking store never sees parallel
writers. The MLflow run is created before Optuna is told, so the trial's ``mlflow_run_id``
attribute can still be set (a finished trial is frozen).
"""

from __future__ import annotations

import math

import optuna
from optuna.trial import TrialState

from initsearch.contract import (
    APPLIED_SCALES,
    ERROR,
    LOG_EMERGENCE,
    MLFLOW_RUN_ID,
    NODE_ID,
    PARAM_PACK_SIZE,
    PID,
    REASON,
    SEED_VALUES,
    VAL_ACCURACY_CURVE,
)
from initsearch.inits import InitSpec
from initsearch.run.job import TrialOutcome
from initsearch.run.objective import seed_values
from initsearch.run.optuna_adapter import stored_attrs, trial_id
from initsearch.tracking import StudyTracker, trial_params

STATE_NAMES = {"complete": "COMPLETE", "pruned": "PRUNED", "failed": "FAIL"}
ERROR_CHARS = 4000


def mean_curve(outcome: TrialOutcome) -> list[float]:
    """Validation accuracy per epoch, the mean over the trial's seeds (what its pruner saw),
    over the epochs every seed finished."""
    curves = [r.curve.val_accuracy for r in outcome.results]
    epochs = min((len(c) for c in curves), default=0)
    return [sum(c[e] for c in curves) / len(curves) for e in range(epochs)]


class Recorder:
    """Records finished trials of one study in its MLflow experiment and its storage."""

    def __init__(
        self, study: optuna.Study, tracker: StudyTracker, metric: str = "val_accuracy"
    ) -> None:
        self.study = study
        self.tracker = tracker
        self.metric = metric  # the first objective, kept per seed (seed noise, confirmation)

    def record(
        self, trial: optuna.Trial, outcome: TrialOutcome, init: InitSpec, seeds: list[int]
    ) -> None:
        """Log the trial to MLflow, link both ways, and tell Optuna how it ended."""
        attrs = dict(trial.user_attrs)
        for key, value in ((REASON, outcome.reason), (NODE_ID, outcome.node_id)):
            if value:
                attrs[key] = value
        if outcome.error:
            attrs[ERROR] = outcome.error
        state = STATE_NAMES[outcome.state]
        first = outcome.first
        applied = first.init.applied_scales if first is not None else None
        params = trial_params(init, applied, seeds, trial.number)
        if first is not None:  # how it was trained: alone (1) or in a pack of K
            params[PARAM_PACK_SIZE] = outcome.pack_size
        run_id = self.tracker.log_trial(
            trial.number, state, params, outcome.results, attrs, outcome.started, outcome.finished
        )
        trial.set_user_attr(MLFLOW_RUN_ID, run_id)
        self._fill_location(trial, outcome)
        if first is not None:
            trial.set_user_attr(APPLIED_SCALES, list(first.init.applied_scales))
            log_e = first.init.log_emergence
            if log_e is not None and math.isfinite(log_e):  # -inf (E = 0) is not valid JSON
                trial.set_user_attr(LOG_EMERGENCE, log_e)
            trial.set_user_attr(VAL_ACCURACY_CURVE, mean_curve(outcome))
        if outcome.state == "complete":
            trial.set_user_attr(SEED_VALUES, seed_values(self.metric, outcome.results))
        if outcome.state == "complete":
            self.study.tell(trial, outcome.values)
        elif outcome.state == "pruned":
            trial.set_user_attr(REASON, outcome.reason)
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            trial.set_user_attr(REASON, outcome.reason or "failed")
            if outcome.error:
                trial.set_user_attr(ERROR, outcome.error[-ERROR_CHARS:])
            self.study.tell(trial, state=TrialState.FAIL)

    def _fill_location(self, trial: optuna.Trial, outcome: TrialOutcome) -> None:
        """The worker stored pid and node id when it started; writing them again would cost
        two synced storage writes per trial (benchmarks/platform_overhead.py), so only fill
        gaps."""
        stored = stored_attrs(self.study, trial_id(trial))
        if stored.get(PID) != outcome.pid:
            trial.set_user_attr(PID, outcome.pid)
        if outcome.node_id and stored.get(NODE_ID) != outcome.node_id:
            trial.set_user_attr(NODE_ID, outcome.node_id)
