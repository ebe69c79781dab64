"""Record trials in MLflow: one experiment per study, a parent run for the study, a child run
per trial (linked by a tag, not nested: see ``TAG_STUDY_RUN``), named and tagged as every view
names it (:mod:`initsearch.labels`), logged in
batches.

All logging happens in the study's driver process, which receives every trial's result, so a
local SQLite tracking database has a single writer (SQLite under parallel writers fails with
"database is locked"). What a run holds is :mod:`initsearch.tracking.trial_content`; how the
UI opens it is :mod:`initsearch.tracking.views`. The experiment is marked as model training
(not GenAI) and given a saved view of its trial runs, when created and again when a study
resumes (an experiment of an earlier version gets them then). A local SQLite database keeps
its runs' artifacts beside it (``mlartifacts/``), not in the working directory.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from initsearch.contract import (
    ARTIFACT_PROFILE_PLOT,
    ARTIFACT_PROFILE_TABLE,
    EXPERIMENT_KIND_TRAINING,
    EXPERIMENT_PREFIX,
    KIND_STUDY,
    KIND_TRIAL,
    PARAM_APPLIED_SCALE_PREFIX,
    PARAM_SCHEME,
    ROLE_STUDY,
    TAG_EMERGENCE_ZERO,
    TAG_EXPERIMENT_KIND,
    TAG_KIND,
    TAG_LOGGED_ARTIFACTS,
    TAG_PARENT,
    TAG_PREFIX,
    TAG_ROLE,
    TAG_SCHEME,
    TAG_STAGE,
    TAG_STATE,
    TAG_STORAGE,
    TAG_STUDY,
    TAG_STUDY_RUN,
    TAG_TRIAL_NUMBER,
    TRIAL_TAG_ATTRS,
)
from initsearch.labels import STAGE_SEARCH, trial_label, trial_role
from initsearch.stores import SQLITE_PREFIX, local_file, make_sqlite_folder, prefer_wal
from initsearch.tracking import views
from initsearch.tracking.profile_plot import Profile, draw_profiles, profile_of
from initsearch.tracking.trial_content import (
    curve_metrics,
    emergence_zero,
    init_metrics,
    profile_table,
)
from initsearch.train import TrialResult

BATCH = 1000  # MLflow's limit of metrics per log_batch call
PARAM_BATCH = 100  # and of params per call
ARTIFACTS_FOLDER = "mlartifacts"


def _now_ms() -> int:
    return int(time.time() * 1000)


def artifact_location(tracking_uri: str) -> str | None:
    """Where a new experiment keeps artifacts: beside a local SQLite database; None (the
    server's choice) otherwise."""
    path = local_file(tracking_uri) if tracking_uri.startswith(SQLITE_PREFIX) else None
    return (path.parent.resolve() / ARTIFACTS_FOLDER).as_uri() if path else None


class StudyTracker:
    """MLflow experiment ``initsearch/<study>`` with a parent run and a child per trial.

    ``experiment``: another study's experiment to log into (a confirmation lives in its
    study's experiment, under a parent run of its own); ``stage`` (labels' ``STAGE_*``) tags
    every child run (``initsearch.stage``) and decides its name and role with the trial's
    attributes.
    """

    def __init__(
        self,
        tracking_uri: str,
        study_name: str,
        storage_url: str = "",
        experiment: str | None = None,
        stage: str = STAGE_SEARCH,
    ) -> None:
        from mlflow import MlflowClient

        make_sqlite_folder(tracking_uri)
        prefer_wal(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.tracking_uri = tracking_uri
        self.study_name = study_name
        self.stage = stage
        self.profiles: list[Profile] = []  # of the trials this tracker logged, for the plot
        self.own_experiment = experiment is None  # a confirmation logs into its study's
        name = f"{EXPERIMENT_PREFIX}{experiment or study_name}"
        found = self.client.get_experiment_by_name(name)
        if found is None:
            location = artifact_location(tracking_uri)
            self.experiment_id = self.client.create_experiment(name, location)
        else:
            self.experiment_id = found.experiment_id
        self._mark_experiment(found.tags if found else {})
        self.parent_run_id = self._parent(storage_url)

    def _mark_experiment(self, tags: dict[str, str]) -> None:
        """Model training, not GenAI, and the saved view of its trials (see module doc)."""
        if tags.get(TAG_EXPERIMENT_KIND) != EXPERIMENT_KIND_TRAINING:
            self.client.set_experiment_tag(
                self.experiment_id, TAG_EXPERIMENT_KIND, EXPERIMENT_KIND_TRAINING
            )
        self._save_view(tags, ())

    def _save_view(self, tags: dict[str, str], scale_params: tuple[str, ...]) -> None:
        """The stage's saved view, written when it differs from the stored one; with the
        per-layer scale params once the first trial names them (its parallel coordinates)."""
        self.view_params = scale_params
        key = views.stage_view(self.stage, own=self.own_experiment)
        value = views.view_value(views.stage_filter(self.stage), scale_params)
        if tags.get(views.view_tag(key)) != value:
            self.client.set_experiment_tag(self.experiment_id, views.view_tag(key), value)

    def _parent(self, storage_url: str) -> str:
        wanted = f"tags.`{TAG_ROLE}` = '{ROLE_STUDY}' and tags.`{TAG_STUDY}` = '{self.study_name}'"
        runs = self.client.search_runs([self.experiment_id], filter_string=wanted, max_results=1)
        if runs:
            return runs[0].info.run_id
        tags = {
            TAG_KIND: KIND_STUDY,
            TAG_ROLE: ROLE_STUDY,
            TAG_STUDY: self.study_name,
            TAG_STORAGE: storage_url,
            TAG_STAGE: self.stage,
        }
        run = self.client.create_run(self.experiment_id, tags=tags, run_name=self.study_name)
        return run.info.run_id

    def trial_tags(self, trial_number: int, state: str, attrs: dict[str, Any]) -> dict[str, str]:
        """The tags of a trial's child run: its place in the study, its role, its state, and
        the trial's attributes named in ``TRIAL_TAG_ATTRS`` (baseline, reason, retry_of...)."""
        tags = {
            TAG_STUDY_RUN: self.parent_run_id,
            TAG_KIND: KIND_TRIAL,
            TAG_ROLE: trial_role(attrs, self.stage),
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
        """Create the child run of one finished trial and log everything in a few batches:
        its params (100 a call), curves and at-init figures (1000 a call), and its at-init
        profile as a table artifact."""
        from mlflow.entities import Param

        if not self.view_params:
            scales = tuple(sorted(k for k in params if k.startswith(PARAM_APPLIED_SCALE_PREFIX)))
            if scales:  # once per driver: one write when the view lacks them
                self._save_view(self.client.get_experiment(self.experiment_id).tags, scales)
        tags = self.trial_tags(trial_number, state, attrs)
        if PARAM_SCHEME in params:
            tags[TAG_SCHEME] = str(params[PARAM_SCHEME])
        table = profile_table(results[0].init) if results else None
        if table is not None:
            tags[TAG_LOGGED_ARTIFACTS] = json.dumps(
                [{"path": ARTIFACT_PROFILE_TABLE, "type": "table"}]
            )
        if results and emergence_zero(results[0].init):
            tags[TAG_EMERGENCE_ZERO] = "1"
        label = trial_label(attrs, trial_number, self.stage)
        run = self.client.create_run(
            self.experiment_id, start_time=int(started * 1000), tags=tags, run_name=label
        )
        run_id = run.info.run_id
        stamp = _now_ms()
        logged = [Param(k, str(v)[:6000]) for k, v in params.items()]
        metrics: list = []
        for k, result in enumerate(results):
            suffix = "" if k == 0 else f"_seed{k}"
            metrics += curve_metrics(result, suffix, stamp)
        if results:
            metrics += init_metrics(results[0].init, stamp)
        calls = max(-(-len(metrics) // BATCH), -(-len(logged) // PARAM_BATCH), 1)
        for i in range(calls):
            self.client.log_batch(
                run_id,
                metrics=metrics[i * BATCH : (i + 1) * BATCH],
                params=logged[i * PARAM_BATCH : (i + 1) * PARAM_BATCH],
            )
        if table is not None:
            self._write_artifact(run, ARTIFACT_PROFILE_TABLE, json.dumps(table))
            self.profiles.append(profile_of(label, tags[TAG_ROLE], table))
        status = "FINISHED" if state in ("COMPLETE", "PRUNED") else "FAILED"
        self.client.set_terminated(run_id, status=status, end_time=int(finished * 1000))
        return run_id

    def _write_artifact(self, run, name: str, text: str) -> None:
        """A small text artifact of a run: written straight into a local artifact folder
        (``log_text`` first reads the run back and copies a temporary file: ~15-25 ms a
        trial on the driver's critical path, benchmarks/README.md), else through MLflow."""
        from mlflow.utils.file_utils import local_file_uri_to_path
        from mlflow.utils.uri import is_file_uri

        uri = run.info.artifact_uri
        if is_file_uri(uri):
            folder = Path(local_file_uri_to_path(uri))
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
        else:
            self.client.log_text(run.info.run_id, text, name)

    def trial_run(self, trial_number: int) -> str | None:
        """The child run a trial already has under this parent: one a driver created before it
        died, without the chance to link it to the trial (an earlier version's run: nested)."""
        for link in (TAG_STUDY_RUN, TAG_PARENT):
            wanted = (
                f"tags.`{link}` = '{self.parent_run_id}' and "
                f"tags.`{TAG_TRIAL_NUMBER}` = '{trial_number}'"
            )
            runs = self.client.search_runs([self.experiment_id], wanted, max_results=1)
            if runs:
                return runs[0].info.run_id
        return None

    def fail_run(
        self, run_id: str, trial_number: int, attrs: dict[str, Any], finished: float
    ) -> None:
        """Mark a trial's existing child run FAILED, with the trial's reason among its tags
        (its trial failed after the run was made: the run must not say otherwise)."""
        from mlflow.entities import RunTag

        tags = self.trial_tags(trial_number, "FAIL", attrs)
        changed = [RunTag(k, v) for k, v in tags.items() if k != TAG_STUDY_RUN]  # set at creation
        self.client.log_batch(run_id, tags=changed)
        self.client.set_terminated(run_id, status="FAILED", end_time=int(finished * 1000))

    def finish(self, status: str = "FINISHED") -> None:
        """End the parent run; first, when the driver logged trials with at-init profiles,
        draw them once (:mod:`~initsearch.tracking.profile_plot`) on the parent run."""
        if self.profiles and status == "FINISHED":
            self.log_profile_plot()
        self.client.set_terminated(self.parent_run_id, status=status)

    def log_profile_plot(self) -> None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = draw_profiles(self.profiles, Path(tmp) / ARTIFACT_PROFILE_PLOT)
            if path is not None:
                self.client.log_artifact(self.parent_run_id, str(path))
