"""What a study leaves in MLflow, read back from a real SQLite store: runs named as every view
names them, role/scheme tags, one numeric param per layer, metrics whose step is the epoch,
the at-init profile as a table artifact, E = 0 flagged, the experiment marked as model
training (also when an earlier version made it) and the UI addresses."""

from __future__ import annotations

import json
import math
import urllib.parse

import pytest

from initsearch.contract import (
    ARTIFACT_PROFILE_PLOT,
    ARTIFACT_PROFILE_TABLE,
    EXPERIMENT_KIND_TRAINING,
    PARAM_APPLIED_SCALE_PREFIX,
    PARAM_OPTUNA_PREFIX,
    PARAM_SCALE_PREFIX,
    SOURCE_TRIAL,
    TAG_EXPERIMENT_KIND,
)
from initsearch.inits import InitReport
from initsearch.labels import STAGE_CONFIRMATION, trial_label
from initsearch.stores import recorded_tracking_uri
from initsearch.tracking import StudyTracker, best_vs_baselines_run_ids, best_vs_baselines_url
from initsearch.tracking.trial_content import layer_key
from initsearch.tracking.views import TRIALS_VIEW, view_tag
from initsearch.train import TrialResult
from initsearch.train.curve import Curve, Summary
from tests.studyutil import tiny_study


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A real tiny study (3 baselines, 2 searched trials, in-process) and its MLflow runs."""
    from mlflow import MlflowClient

    from initsearch.run.pool import InlinePool
    from initsearch.search.study import study_driver

    cfg = tiny_study(tmp_path_factory.mktemp("mlv"), name="mlv", budget={"trials": 5})
    driver = study_driver(cfg, InlinePool())
    driver.run()
    client = MlflowClient(tracking_uri=recorded_tracking_uri(driver.study, cfg.workdir))
    experiment = client.get_experiment_by_name("initsearch/mlv")
    runs = client.search_runs([experiment.experiment_id])
    by_trial = {r.info.run_id: r for r in runs}
    trials = {t.number: (t, by_trial[t.user_attrs["mlflow_run_id"]]) for t in driver.study.trials}
    parent = next(r for r in runs if r.data.tags["initsearch.kind"] == "study")
    return client, experiment, driver.study, trials, parent


def test_runs_are_named_and_tagged_by_what_they_are(logged):
    client, experiment, study, trials, parent = logged
    names = {n: run.info.run_name for n, (_, run) in trials.items()}
    assert names == {
        0: "kaiming",
        1: "xavier",
        2: "emergence(alpha=1.1)",
        3: "searched #3",
        4: "searched #4",
    }
    for n, (_, run) in trials.items():
        tags = run.data.tags
        assert tags["initsearch.role"] == ("baseline" if n < 3 else "searched")
        assert tags["initsearch.kind"] == "trial"
        assert tags["optuna.study"] == "mlv"
        assert tags["initsearch.study_run"] == parent.info.run_id
        assert "mlflow.parentRunId" not in tags  # nested runs hide under a collapsed parent
    assert trials[2][1].data.tags["initsearch.scheme"] == "emergence"
    assert trials[4][1].data.tags["initsearch.scheme"] == "kaiming"
    # the UI's filters find them by role
    baselines = client.search_runs(
        [experiment.experiment_id], "tags.`initsearch.role` = 'baseline'"
    )
    assert sorted(r.info.run_name for r in baselines) == sorted(names[n] for n in range(3))


def test_scales_are_one_numeric_param_per_layer_and_optuna_params_are_logged(logged):
    _, experiment, study, trials, _ = logged
    layers = study.user_attrs["layer_names"]
    for trial, run in trials.values():
        params = run.data.params
        applied = sorted(k for k in params if k.startswith(PARAM_APPLIED_SCALE_PREFIX))
        assert applied == [
            layer_key(PARAM_APPLIED_SCALE_PREFIX, i, name, len(layers))
            for i, name in enumerate(layers)
        ]
        assert applied[0] == "applied_scale.00.hidden.0"
        values = [float(params[k]) for k in applied]
        assert values == pytest.approx(trial.user_attrs["applied_scales"], rel=1e-5)
        for name, value in trial.params.items():
            assert float(params[PARAM_OPTUNA_PREFIX + name]) == pytest.approx(value)
    searched, _ = trials[3]
    asked = sorted(k for k in trials[3][1].data.params if k.startswith(PARAM_SCALE_PREFIX))
    assert len(asked) == len(layers)
    assert searched.params  # a searched trial's own params are there to plot
    assert not any(k.startswith(PARAM_SCALE_PREFIX) for k in trials[0][1].data.params)
    # the saved view draws them against val_accuracy in parallel coordinates
    view = json.loads(experiment.tags[view_tag(TRIALS_VIEW)])
    [parallel] = [c for c in view["compareRunCharts"] if c["type"] == "PARALLEL"]
    assert parallel["selectedParams"] == applied
    assert parallel["selectedMetrics"] == ["val_accuracy"]


def test_every_curve_is_stepped_by_epoch(logged):
    client, _, _, trials, _ = logged
    _, run = trials[3]
    run_id = run.info.run_id
    for key in ("val_accuracy", "val_loss", "train_loss", "epoch_seconds"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == [1, 2, 3], key
    steps = [m.step for m in client.get_metric_history(run_id, "train_loss_step")]
    assert steps == sorted(steps) and steps[-1] > 3  # optimiser steps, under their own name
    assert [m.step for m in client.get_metric_history(run_id, "final_accuracy")] == [0]
    assert not any(k.startswith("init_scale") for k in run.data.metrics)  # a table now
    assert run.data.metrics["init_emergence_zero"] == 0.0


def test_the_at_init_profile_is_a_table_artifact(logged, tmp_path):
    client, _, study, trials, parent = logged
    trial, run = trials[2]
    local = client.download_artifacts(run.info.run_id, ARTIFACT_PROFILE_TABLE, str(tmp_path))
    with open(local) as f:
        table = json.load(f)
    assert table["columns"][:3] == ["layer", "name", "scale"]
    assert [row[1] for row in table["data"]] == study.user_attrs["layer_names"]
    scale = [row[2] for row in table["data"]]
    assert scale == pytest.approx(trial.user_attrs["applied_scales"])
    logged_tables = json.loads(run.data.tags["mlflow.loggedArtifacts"])
    assert logged_tables == [{"path": ARTIFACT_PROFILE_TABLE, "type": "table"}]
    # every profile in one figure, drawn once, on the study's run
    assert [a.path for a in client.list_artifacts(parent.info.run_id)] == [ARTIFACT_PROFILE_PLOT]


def _result_with_dead_start() -> TrialResult:
    """A finished result whose init left every unit dead: E = 0, log E = -inf."""
    curve = Curve(
        train_step=[4, 8],
        train_loss=[2.3, 2.3],
        epoch_train_loss=[2.3],
        val_loss=[2.3],
        val_accuracy=[0.1],
        epoch_seconds=[0.5],
    )
    summary = Summary(0.1, 0.1, 0.1, 2.3, 2.3, None, None, 0.5)
    layers = [
        {"name": "fc", "depth": 1, "scale": 1.0, "weight_std": 0.0, "activation_std": 0.0}
        | {"dead_fraction": 1.0, "grad_norm": 0.0}
    ]
    diagnostics = {"log_emergence": -math.inf, "loss": 2.3, "active_fraction": 0.0}
    init = InitReport("zeros", [1.0], ["fc"], diagnostics | {"layers": layers})
    return TrialResult("completed", curve, summary, init)


def test_a_start_with_no_emergence_is_flagged_not_dropped(tmp_path):
    tracker = StudyTracker(f"sqlite:///{tmp_path}/mlflow.db", "dead")
    run_id = tracker.log_trial(
        0, "COMPLETE", {"init_scheme": "zeros"}, [_result_with_dead_start()], {}, 1.0, 2.0
    )
    run = tracker.client.get_run(run_id)
    assert run.data.tags["initsearch.init_emergence_zero"] == "1"
    assert run.data.metrics["init_emergence_zero"] == 1.0
    assert "init_log_emergence" not in run.data.metrics  # -inf is no metric value
    assert run.info.run_name == "searched #0"


def test_an_experiment_of_an_earlier_version_is_marked_when_a_study_resumes(tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    old = client.create_experiment("initsearch/old")  # as earlier versions made it
    assert TAG_EXPERIMENT_KIND not in client.get_experiment(old).tags
    tracker = StudyTracker(uri, "old")
    tags = client.get_experiment(old).tags
    assert tracker.experiment_id == old
    assert tags[TAG_EXPERIMENT_KIND] == EXPERIMENT_KIND_TRAINING
    view = json.loads(tags[view_tag(TRIALS_VIEW)])
    assert view["runsHiddenMode"] == "SHOW_ALL"  # not the UI's first 10
    assert "`initsearch.stage` = 'search'" in view["searchFilter"]
    # a confirmation logs into its study's experiment: a view of its own, the study's stays
    StudyTracker(uri, "old-confirm", experiment="old", stage=STAGE_CONFIRMATION)
    tags = client.get_experiment(old).tags
    assert json.loads(tags[view_tag(TRIALS_VIEW)]) == view
    assert "'confirmation'" in json.loads(tags[view_tag("initsearch-confirmation")])["searchFilter"]
    again = StudyTracker(uri, "old")  # a second resume finds the same parent run
    assert again.parent_run_id == tracker.parent_run_id
    # a new experiment keeps its artifacts beside the database, not in the working directory
    fresh = StudyTracker(uri, "fresh")
    location = client.get_experiment(fresh.experiment_id).artifact_location
    assert location == (tmp_path / "mlartifacts").resolve().as_uri()


def test_best_vs_baselines_url_selects_exactly_those_runs(logged):
    client, experiment, study, trials, _ = logged
    best = max((3, 4), key=lambda n: trials[n][0].value)
    ids = [trials[n][1].info.run_id for n in (best, 0, 1, 2)]
    assert best_vs_baselines_run_ids(study) == ids
    eid = experiment.experiment_id
    plain = best_vs_baselines_url("http://127.0.0.1:5000/", eid, ids)
    base, _, query = plain.partition("#")
    assert base == "http://127.0.0.1:5000/"
    path, _, args = query.partition("?")
    assert path == f"/experiments/{eid}/runs"
    fields = dict(urllib.parse.parse_qsl(args))
    assert fields["workflowType"] == "machine_learning"
    assert fields["compareRunsMode"] == "CHART"
    found = client.search_runs([eid], fields["searchFilter"])
    assert sorted(r.info.run_id for r in found) == sorted(ids)
    # with the store at hand the filter becomes a saved view that charts every run
    saved = best_vs_baselines_url("http://h:1", eid, ids, client.tracking_uri)
    key = dict(urllib.parse.parse_qsl(saved.partition("?")[2]))["viewStateShareKey"]
    state = json.loads(client.get_experiment(eid).tags[view_tag(key)])
    assert state["runsHiddenMode"] == "SHOW_ALL"
    assert state["compareRunCharts"][0]["metricKey"] == "val_accuracy"
    assert len(client.search_runs([eid], state["searchFilter"])) == len(ids)


def test_a_confirmation_of_a_searched_arm_names_its_search_trial():
    attrs = {"baseline": "searched#1/seed=3", "scheme": "searched#1", "seed": 3, SOURCE_TRIAL: 14}
    label = trial_label(attrs, 40, STAGE_CONFIRMATION)
    assert label == "confirm: searched#1 (searched #14) seed 3"
