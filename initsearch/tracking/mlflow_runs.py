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
import time
from pathlib import Path
from typing import Any

from initsearch.search.storage import default_study_dir

BATCH = 1000  # MLflow's limit of metrics per log_batch call
ROLE_TAG = "initsearch.role"


def default_tracking_uri(workdir: str | Path, study_name: str) -> str:
    """A local SQLite tracking database beside the study's journal (MLflow's file store is
    deprecated)."""
    return f"sqlite:///{(default_study_dir(workdir, study_name) / 'mlflow.db').resolve()}"


def make_sqlite_folder(tracking_uri: str) -> None:
    """Create the folder of a local SQLite tracking database (MLflow will not)."""
    prefix = "sqlite:///"
    path = tracking_uri[len(prefix) :] if tracking_uri.startswith(prefix) else ""
    if path and path != ":memory:" and "?" not in path and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def prefer_wal(tracking_uri: str) -> None:
    """Put a local SQLite tracking database in write-ahead-log mode (persistent, set once).

    In SQLite's default rollback-journal mode every MLflow transaction creates, syncs and
    deletes a journal file; a trial's child run takes four write transactions. On the shared
    2-core dev machine ``log_trial`` took a median 34-72 ms in rollback mode and 27-37 ms in
    WAL mode (interleaved in one process, with a much shorter slow tail; see
    benchmarks/README.md). WAL keeps commits durable (synchronous stays FULL) and lets
    readers (``mlflow ui``) read while the driver writes. Best effort: a database another
    process holds locked, or a URI with options, is left as it is. Like any SQLite use, it
    assumes a local file system."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return
    path = tracking_uri[len(prefix) :]
    if not path or path == ":memory:" or "?" in path or path.startswith("file:"):
        return
    import sqlite3

    try:
        conn = sqlite3.connect(path, timeout=1.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
    except sqlite3.Error:
        pass


def _now_ms() -> int:
    return int(time.time() * 1000)


def curve_metrics(result: dict[str, Any], suffix: str, timestamp: int) -> list:
    from mlflow.entities import Metric

    curve = result["curve"]
    out = [
        Metric(f"train_loss{suffix}", float(v), timestamp, int(s))
        for s, v in zip(curve["train_step"], curve["train_loss"], strict=True)
    ]
    for key in ("val_loss", "val_accuracy", "epoch_seconds", "epoch_train_loss"):
        out += [
            Metric(f"{key}{suffix}", float(v), timestamp, e + 1) for e, v in enumerate(curve[key])
        ]
    for key, value in result["summary"].items():
        if value is not None:
            out.append(Metric(f"{key}{suffix}", float(value), timestamp, 0))
    return out


def init_metrics(init: dict[str, Any], timestamp: int) -> list:
    from mlflow.entities import Metric

    out = [Metric("init_scale", float(s), timestamp, i) for i, s in enumerate(init["scales"])]
    diag = init.get("diagnostics") or {}
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
    """MLflow experiment ``initsearch/<study>`` with a parent run and a child per trial."""

    def __init__(self, tracking_uri: str, study_name: str, storage_url: str = "") -> None:
        from mlflow import MlflowClient

        make_sqlite_folder(tracking_uri)
        prefer_wal(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.tracking_uri = tracking_uri
        self.study_name = study_name
        name = f"initsearch/{study_name}"
        experiment = self.client.get_experiment_by_name(name)
        self.experiment_id = (
            experiment.experiment_id if experiment else self.client.create_experiment(name)
        )
        self.parent_run_id = self._parent(storage_url)

    def _parent(self, storage_url: str) -> str:
        runs = self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.`{ROLE_TAG}` = 'study'", max_results=1
        )
        if runs:
            return runs[0].info.run_id
        tags = {ROLE_TAG: "study", "optuna.study": self.study_name, "optuna.storage": storage_url}
        run = self.client.create_run(self.experiment_id, tags=tags, run_name=self.study_name)
        return run.info.run_id

    def log_trial(
        self,
        trial_number: int,
        state: str,
        params: dict[str, Any],
        results: list[dict[str, Any]],
        attrs: dict[str, Any],
        started: float,
        finished: float,
    ) -> str:
        """Create the child run of one finished trial and log everything in a few batches."""
        from mlflow.entities import Param

        tags = {
            "mlflow.parentRunId": self.parent_run_id,
            ROLE_TAG: "trial",
            "optuna.study": self.study_name,
            "optuna.trial_number": str(trial_number),
            "initsearch.state": state,
        }
        for key in ("baseline", "reason", "error", "retry_of", "node_id"):
            if key in attrs:
                tags[f"initsearch.{key}"] = str(attrs[key])[:5000]
        run_name = f"trial-{trial_number}" + (
            f"-{attrs['baseline']}" if "baseline" in attrs else ""
        )
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
            metrics += init_metrics(results[0]["init"], stamp)
        for start in range(0, max(len(metrics), 1), BATCH):
            self.client.log_batch(
                run_id,
                metrics=metrics[start : start + BATCH],
                params=logged_params if start == 0 else (),
            )
        status = "FINISHED" if state in ("COMPLETE", "PRUNED") else "FAILED"
        self.client.set_terminated(run_id, status=status, end_time=int(finished * 1000))
        return run_id

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.parent_run_id, status=status)


def trial_params(init: dict[str, Any], seeds: list[int], trial_number: int) -> dict[str, Any]:
    """The MLflow params of a trial: what init it ran and with which seeds."""
    params = {
        "init_scheme": init["scheme"],
        "init_options": json.dumps(init.get("options", {}), sort_keys=True),
        "seeds": ",".join(str(s) for s in seeds),
        "trial_number": trial_number,
    }
    if init.get("scales") is not None:
        params["init_scales"] = ",".join(f"{s:.6g}" for s in init["scales"])
    if "alpha" in init.get("options", {}):
        params["alpha"] = init["options"]["alpha"]
    return params
