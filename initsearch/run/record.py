"""Turn a trial's outcome into its record: an MLflow child run, Optuna user attributes, and
the state Optuna is told.

One writer: only the driver records, so a local SQLite tracking store never sees parallel
writers. The MLflow run is created before Optuna is told, so the trial's ``mlflow_run_id``
attribute can still be set (a finished trial is frozen).

Every trial gets exactly one MLflow run with its final state, failures included: a trial the
driver fails (its worker lost, interrupted, its driver gone) gets a FAILED run carrying the
reason (:meth:`Recorder.record_failure`), or has the run a dead driver left marked FAILED.
A record is one step: SIGINT and SIGTERM wait until it is written
(:func:`~initsearch.run.signals.deferred_signals`), so no signal leaves a run FINISHED for a
trial Optuna failed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from initsearch.contract import (
    APPLIED_SCALES,
    ERROR,
    INIT,
    LOG_EMERGENCE,
    MLFLOW_RUN_ID,
    NO_PROGRESS_SEEDS,
    NODE_ID,
    PARAM_PACK_SIZE,
    PARAM_TRIAL_NUMBER,
    PID,
    REASON,
    SEED_VALUES,
    STUDY_LAYER_NAMES,
    VAL_ACCURACY_CURVE,
)
from initsearch.inits import InitSpec
from initsearch.run.job import TrialOutcome
from initsearch.run.objective import seed_values
from initsearch.run.optuna_adapter import set_trial_attr, stored_trial, trial_id
from initsearch.run.signals import deferred_signals
from initsearch.tracking import StudyTracker, optuna_params_of, trial_params

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
        # names the per-layer MLflow params (scale.03.fc3); read once, the study set them
        self.layer_names: list[str] | None = study.user_attrs.get(STUDY_LAYER_NAMES)

    def record(
        self,
        trial: optuna.Trial,
        outcome: TrialOutcome,
        init: InitSpec,
        seeds: list[int],
        annotate: Callable[[optuna.Trial, TrialOutcome], None] | None = None,
    ) -> bool:
        """Log the trial to MLflow, link both ways, and tell Optuna how it ended; one step
        that signals wait for. ``annotate`` adds the source's attributes first. False when
        the trial was no longer RUNNING: another driver took this one for dead and failed it
        (with its run and a retry), so the late result is left out."""
        with deferred_signals():
            stored = stored_trial(self.study, trial_id(trial))
            if stored.state != TrialState.RUNNING:
                return False
            if annotate is not None:
                annotate(trial, outcome)  # before tell: finished trials are frozen
            self._record(trial, outcome, init, seeds, stored.user_attrs)
            return True

    def _record(
        self,
        trial: optuna.Trial,
        outcome: TrialOutcome,
        init: InitSpec,
        seeds: list[int],
        stored: dict,
    ) -> None:
        attrs = dict(trial.user_attrs)
        for key, value in ((REASON, outcome.reason), (NODE_ID, outcome.node_id)):
            if value:
                attrs[key] = value
        if outcome.error:
            attrs[ERROR] = outcome.error
        state = STATE_NAMES[outcome.state]
        first = outcome.first
        applied = first.init.applied_scales if first is not None else None
        names = self.layer_names or (first.init.layer_names if first is not None else None)
        params = trial_params(init, applied, seeds, trial.number, names, trial.params)
        if first is not None:  # how it was trained: alone (1) or in a pack of K
            params[PARAM_PACK_SIZE] = outcome.pack_size
        run_id = self.tracker.log_trial(
            trial.number, state, params, outcome.results, attrs, outcome.started, outcome.finished
        )
        trial.set_user_attr(MLFLOW_RUN_ID, run_id)
        self._fill_location(trial, outcome, stored)
        if first is not None:
            trial.set_user_attr(APPLIED_SCALES, list(first.init.applied_scales))
            log_e = first.init.log_emergence
            if log_e is not None and math.isfinite(log_e):  # -inf (E = 0) is not valid JSON
                trial.set_user_attr(LOG_EMERGENCE, log_e)
            trial.set_user_attr(VAL_ACCURACY_CURVE, mean_curve(outcome))
        if outcome.state == "complete":
            trial.set_user_attr(SEED_VALUES, seed_values(self.metric, outcome.results))
            stuck = sum(bool(r.summary.no_progress) for r in outcome.results)
            trial.set_user_attr(NO_PROGRESS_SEEDS, stuck)
            self.study.tell(trial, outcome.values)
        elif outcome.state == "pruned":
            trial.set_user_attr(REASON, outcome.reason)
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            trial.set_user_attr(REASON, outcome.reason or "failed")
            if outcome.error:
                trial.set_user_attr(ERROR, outcome.error[-ERROR_CHARS:])
            self.study.tell(trial, state=TrialState.FAIL)

    def record_failure(self, trial: FrozenTrial, reason: str) -> str:
        """The FAILED MLflow run of a trial that ends without an outcome (its worker lost,
        interrupted, its driver gone), linked from the trial; returns its id. A run a dead
        driver already made for the trial is marked FAILED instead of adding a second one.
        The caller sets the trial's reason and tells Optuna."""
        with deferred_signals():
            attrs = {**trial.user_attrs, REASON: reason}
            now = time.time()
            run_id = attrs.get(MLFLOW_RUN_ID) or self.tracker.trial_run(trial.number)
            if run_id:
                self.tracker.fail_run(run_id, trial.number, attrs, now)
            else:
                params: dict = {PARAM_TRIAL_NUMBER: trial.number}
                if INIT in attrs:
                    init = InitSpec.from_dict(attrs[INIT])  # seeds: not known here
                    params = trial_params(init, None, [], trial.number, self.layer_names)
                params.update(optuna_params_of(trial.params))
                start = trial.datetime_start.timestamp() if trial.datetime_start else now
                run_id = self.tracker.log_trial(trial.number, "FAIL", params, [], attrs, start, now)
            set_trial_attr(self.study, trial_id(trial), MLFLOW_RUN_ID, run_id)
            return run_id

    def _fill_location(self, trial: optuna.Trial, outcome: TrialOutcome, stored: dict) -> None:
        """The worker stored pid and node id when it started; writing them again would cost
        two synced storage writes per trial (benchmarks/platform_overhead.py), so only fill
        gaps."""
        if stored.get(PID) != outcome.pid:
            trial.set_user_attr(PID, outcome.pid)
        if outcome.node_id and stored.get(NODE_ID) != outcome.node_id:
            trial.set_user_attr(NODE_ID, outcome.node_id)
