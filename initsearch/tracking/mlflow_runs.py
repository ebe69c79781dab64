"""Record trials in MLflow: one experiment per study, a parent run for the study, a child run
per trial with its curve as step-indexed metrics, logged in batches.

All logging happens in the study's driver process, which receives every trial's result, so a
local SQLite tracking database has a single writer (SQLite under parallel writers fails with
"database is locked"). Per-layer at-init figures are logged with the layer index as the step
(``init_scale``, ``init_dead_fraction``...), so the MLflow chart view draws them as profiles
without one metric key per layer.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from initsearch.contract import (
    BASELINE,
    EXPERIMENT_PREFIX,
    PARAM_ALPHA,
    PARAM_APPLIED_SCALES,
    PARAM_OPTIONS,
    PARAM_SCALES,
    PARAM_SCHEME,
    PARAM_SEEDS,
    PARAM_TRIAL_NUMBER,
    TAG_PARENT,
    TAG_PREFIX,
    TAG_ROLE,
    TAG_STAGE,
    TAG_STATE,
    TAG_STORAGE,
    TAG_STUDY,
    TAG_TRIAL_NUMBER,
    TRIAL_TAG_ATTRS,
)
from initsearch.inits import InitReport, InitSpec
from initsearch.stores import make_sqlite_folder, prefer_wal
from initsearch.train import TrialResult

BATCH = 1000  # MLflow's limit of metrics per log_batch call


def _now_ms() -> int:
    return int(time.time() * 1000)


EPOCH_CURVES = (
    "val_loss",
    "val_accuracy",
    "test_loss",  # test-split curves: only on trials that measured the test split
    "test_accuracy",
    "epoch_seconds",
    "epoch_train_loss",
)


def curve_metrics(result: TrialResult, suffix: str, timestamp: int) -> list:
    """A result's curves as metrics (per step or per epoch) and its summary (step 0); the
    test-split curves and figures appear only when the trial measured them."""
    from mlflow.entities import Metric

    curve = result.curve
    out = [
        Metric(f"train_loss{suffix}", float(v), timestamp, int(s))
        for s, v in zip(curve.train_step, curve.train_loss, strict=True)
    ]
    for key in EPOCH_CURVES:
        out += [
            Metric(f"{key}{suffix}", float(v), timestamp, e + 1)
            for e, v in enumerate(getattr(curve, key))
        ]
    # the metrics a researcher's training function reported beyond the known ones, per epoch
    # (epochs it did not report them are NaN in the curve and left out here)
    for key, values in curve.extra.items():
        out += [
            Metric(f"user_{key}{suffix}", float(v), timestamp, e + 1)
            for e, v in enumerate(values)
            if math.isfinite(v)
        ]
    for key, value in result.summary.to_dict().items():
        # a summary figure named like a curve (test_accuracy, test_loss) is the curve's last
        # value: the curve carries it, and one name must not mix steps of two meanings
        if value is not None and key not in EPOCH_CURVES:
            out.append(Metric(f"{key}{suffix}", float(value), timestamp, 0))
    return out


def init_metrics(init: InitReport, timestamp: int) -> list:
    """Per-layer at-init figures with the layer index as the step (``init_scale`` is the
    applied factor of each layer)."""
    from mlflow.entities import Metric

    out = [Metric("init_scale", float(s), timestamp, i) for i, s in enumerate(init.applied_scales)]
    diag = init.diagnostics or {}
    for key in ("log_emergence", "loss", "active_fraction"):
        value = diag.get(key)
        if value is not None and value != float("-inf"):
            out.append(Metric(f"init_{key}", float(value), timestamp, 0))
    for i, layer in enumerate(diag.get("layers", [])):
        for key in ("weight_std", "activation_std", "dead_fraction", "grad_norm"):
            if layer.get(key) is not None:
                out.append(Metric(f"init_{key}", float(layer[key]), timestamp, i))
    return out


class StudyTracker:
    """MLflow experiment ``initsearch/<study>`` with a parent run and a child per trial.

    ``experiment``: another study's experiment to log into (a confirmation lives in its
    study's experiment, under a parent run of its own); ``stage`` tags every child run
    (``initsearch.stage``: search, confirmation, comparison) so the MLflow UI can filter.
    """

    def __init__(
        self,
        tracking_uri: str,
        study_name: str,
        storage_url: str = "",
        experiment: str | None = None,
        stage: str = "search",
    ) -> None:
        from mlflow import MlflowClient

        make_sqlite_folder(tracking_uri)
        prefer_wal(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.tracking_uri = tracking_uri
        self.study_name = study_name
        self.stage = stage
        name = f"{EXPERIMENT_PREFIX}{experiment or study_name}"
        experiment = self.client.get_experiment_by_name(name)
        self.experiment_id = (
            experiment.experiment_id if experiment else self.client.create_experiment(name)
        )
        self.parent_run_id = self._parent(storage_url)

    def _parent(self, storage_url: str) -> str:
        wanted = f"tags.`{TAG_ROLE}` = 'study' and tags.`{TAG_STUDY}` = '{self.study_name}'"
        runs = self.client.search_runs([self.experiment_id], filter_string=wanted, max_results=1)
        if runs:
            return runs[0].info.run_id
        tags = {
            TAG_ROLE: "study",
            TAG_STUDY: self.study_name,
            TAG_STORAGE: storage_url,
            TAG_STAGE: self.stage,
        }
        run = self.client.create_run(self.experiment_id, tags=tags, run_name=self.study_name)
        return run.info.run_id

    def trial_tags(self, trial_number: int, state: str, attrs: dict[str, Any]) -> dict[str, str]:
        """The tags of a trial's child run: its place in the study, its state, and the
        trial's attributes named in ``TRIAL_TAG_ATTRS`` (baseline, reason, retry_of...)."""
        tags = {
            TAG_PARENT: self.parent_run_id,
            TAG_ROLE: "trial",
            TAG_STUDY: self.study_name,
            TAG_TRIAL_NUMBER: str(trial_number),
            TAG_STATE: state,
            TAG_STAGE: self.stage,
        }
        for key in TRIAL_TAG_ATTRS:
            if key in attrs:
                tags[f"{TAG_PREFIX}{key}"] = str(attrs[key])[:5000]
        return tags

    def log_trial(
        self,
        trial_number: int,
        state: str,
        params: dict[str, Any],
        results: list[TrialResult],
        attrs: dict[str, Any],
        started: float,
        finished: float,
    ) -> str:
        """Create the child run of one finished trial and log everything in a few batches."""
        from mlflow.entities import Param

        tags = self.trial_tags(trial_number, state, attrs)
        run_name = f"trial-{trial_number}" + (f"-{attrs[BASELINE]}" if BASELINE in attrs else "")
        run = self.client.create_run(
            self.experiment_id, start_time=int(started * 1000), tags=tags, run_name=run_name
        )
        run_id = run.info.run_id
        stamp = _now_ms()
        logged_params = [Param(k, str(v)[:6000]) for k, v in params.items()]
        metrics: list = []
        for k, result in enumerate(results):
            suffix = "" if k == 0 else f"_seed{k}"
            metrics += curve_metrics(result, suffix, stamp)
        if results:
            metrics += init_metrics(results[0].init, stamp)
        for start in range(0, max(len(metrics), 1), BATCH):
            self.client.log_batch(
                run_id,
                metrics=metrics[start : start + BATCH],
                params=logged_params if start == 0 else (),
            )
        status = "FINISHED" if state in ("COMPLETE", "PRUNED") else "FAILED"
        self.client.set_terminated(run_id, status=status, end_time=int(finished * 1000))
        return run_id

    def trial_run(self, trial_number: int) -> str | None:
        """The child run a trial already has under this parent: one a driver created before it
        died, without the chance to link it to the trial."""
        wanted = (
            f"tags.`{TAG_PARENT}` = '{self.parent_run_id}' and "
            f"tags.`{TAG_TRIAL_NUMBER}` = '{trial_number}'"
        )
        runs = self.client.search_runs([self.experiment_id], filter_string=wanted, max_results=1)
        return runs[0].info.run_id if runs else None

    def fail_run(
        self, run_id: str, trial_number: int, attrs: dict[str, Any], finished: float
    ) -> None:
        """Mark a trial's existing child run FAILED, with the trial's reason among its tags
        (its trial failed after the run was made: the run must not say otherwise)."""
        from mlflow.entities import RunTag

        tags = self.trial_tags(trial_number, "FAIL", attrs)
        changed = [RunTag(k, v) for k, v in tags.items() if k != TAG_PARENT]  # set at creation
        self.client.log_batch(run_id, tags=changed)
        self.client.set_terminated(run_id, status="FAILED", end_time=int(finished * 1000))

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.parent_run_id, status=status)


def trial_params(
    init: InitSpec, applied: list[float] | None, seeds: list[int], trial_number: int
) -> dict[str, Any]:
    """The MLflow params of a trial: the init spec it asked for (``init_scales``: the spec's
    per-layer factors), what the init applied (``applied_scales``: the scheme's own factors
    times the spec's), and its seeds."""
    params: dict[str, Any] = {
        PARAM_SCHEME: init.scheme,
        PARAM_OPTIONS: json.dumps(init.options, sort_keys=True),
        PARAM_SEEDS: ",".join(str(s) for s in seeds),
        PARAM_TRIAL_NUMBER: trial_number,
    }
    if init.scales is not None:
        params[PARAM_SCALES] = _joined(init.scales)
    if applied is not None:
        params[PARAM_APPLIED_SCALES] = _joined(applied)
    if PARAM_ALPHA in init.options:
        params[PARAM_ALPHA] = init.options[PARAM_ALPHA]
    return params


def _joined(values) -> str:
    return ",".join(f"{v:.6g}" for v in values)
