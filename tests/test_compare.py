"""``initsearch compare`` end to end on a tiny study (digits, MLP 2x16, 2 epochs, 3 seeds,
in-process pool): the contract of compare.json, judging on the test split, per-seed pairing (an
init identical to Kaiming gives identical curves), shared base weights, MLflow runs under one
parent, failed runs, runs stored before the test split, resume without re-running, more seeds
reusing the finished runs, and the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
import yaml
from optuna.trial import TrialState, create_trial

from initsearch.compare import (
    compare_driver,
    load_comparison_study,
    output_dir,
    pending,
    plan_comparison,
    results,
    run_comparison,
    write_outputs,
)
from initsearch.compare.analysis import analyse
from initsearch.compare.collect import apply_target, choose_target, to_run
from initsearch.compare.metrics import CORRELATED, METRICS
from initsearch.compare.record import RunRecord
from initsearch.compare.schemes import build_schemes
from initsearch.contract import RUN
from initsearch.data import load_dataset
from initsearch.models import ModelSpec, build_model
from initsearch.run.optuna_adapter import set_trial_attr, trial_id
from initsearch.run.pool import InlinePool
from tests.studyutil import tiny_study

SEEDS = 3
EPOCHS = 2
SCHEMES = ["kaiming", "emergence(alpha=1)", "emergence(alpha=1.3)", "normal"]
CONTRACT = {
    "top": {
        "study", "seeds", "reference", "correction", "target_accuracy", "layer_names",
        "layer_depths", "schemes", "stats", "correlations",
    },
    "scheme": {"name", "init", "runs"},
    "init": {"scheme", "scales", "options"},
    "run": {
        "seed", "status", "reason", "summary", "curve", "scales", "log_emergence", "dead_fraction"
    },
    "summary": {
        "first_epoch_test_accuracy", "test_accuracy", "test_loss",
        "first_epoch_accuracy", "final_accuracy", "best_accuracy", "final_val_loss",
        "area_under_loss", "epochs_to_target", "seconds_to_target", "train_seconds",
    },
    "curve": {"test_accuracy", "test_loss", "val_accuracy", "val_loss", "epoch_train_loss"},
    "stats": {"scheme", "metric", "n", "mean", "ci_low", "ci_high", "diverged", "vs_reference"},
    "vs": {
        "diff", "ci_low", "ci_high", "test", "p", "p_adjusted", "effect_size", "significant"
    },
    "correlation": {"x", "y", "n", "spearman_r", "p"},
}  # fmt: skip


def study_cfg(workdir):
    # "normal" with a negative std fails in every run: the failed-run path, at no training cost
    return tiny_study(workdir, "tiny", baselines={"options": {"normal": {"std": -1.0}}})


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("compare")
    cfg = study_cfg(workdir)
    plan = plan_comparison(cfg, SEEDS, SCHEMES, epochs=EPOCHS)
    assert pending(plan) == len(SCHEMES) * SEEDS
    run_comparison(plan, InlinePool())
    payload = results(plan)
    json_path, csv_path = write_outputs(payload, output_dir(plan))
    return cfg, plan, json.loads(json_path.read_text()), csv_path


def test_compare_json_follows_the_contract(compared):
    cfg, plan, data, csv_path = compared
    assert CONTRACT["top"] <= set(data)
    assert data["study"] == "tiny" and data["seeds"] == [0, 1, 2]
    assert data["reference"] == "kaiming" and data["correction"] == "holm"
    assert data["layer_names"] == list(plan.info.names) and len(data["layer_depths"]) == 3
    assert [s["name"] for s in data["schemes"]] == SCHEMES
    for scheme in data["schemes"]:
        assert CONTRACT["scheme"] <= set(scheme) and CONTRACT["init"] <= set(scheme["init"])
        for run in scheme["runs"]:
            assert CONTRACT["run"] <= set(run)
            assert CONTRACT["summary"] <= set(run["summary"])
            assert CONTRACT["curve"] <= set(run["curve"])
            assert run["status"] in ("completed", "diverged", "stopped", "failed")
    assert {(r["scheme"], r["metric"]) for r in data["stats"]} == {
        (s, m) for s in SCHEMES for m in METRICS
    }
    for row in data["stats"]:
        assert CONTRACT["stats"] <= set(row)
        if row["vs_reference"] is not None:
            assert CONTRACT["vs"] <= set(row["vs_reference"])
    assert [c["y"] for c in data["correlations"]] == list(CORRELATED)
    for c in data["correlations"]:
        assert CONTRACT["correlation"] <= set(c) and c["x"] == "log_emergence"
    # 3 completed schemes x 3 seeds with a finite measure enter the correlation
    assert data["correlations"][0]["n"] == 9
    header = csv_path.read_text().splitlines()[0].split(",")
    assert header[:4] == ["scheme", "metric", "n", "mean"]
    assert len(csv_path.read_text().splitlines()) == 1 + len(SCHEMES) * len(METRICS)


def test_every_scheme_runs_the_same_seeds_and_identical_inits_train_identically(compared):
    _, _, data, _ = compared
    runs = {s["name"]: {r["seed"]: r for r in s["runs"]} for s in data["schemes"]}
    for name in SCHEMES:
        assert sorted(runs[name]) == [0, 1, 2]
    completed = [n for n in SCHEMES if n != "normal"]
    for name in completed:
        for run in runs[name].values():
            assert run["status"] == "completed"
            assert len(run["curve"]["val_accuracy"]) == EPOCHS

    # alpha = 1 is Kaiming exactly: same seed -> same weights and data order -> same curve
    def curve(name, seed):  # wall-clock seconds aside
        return {k: runs[name][seed]["curve"][k] for k in CONTRACT["curve"]}

    for seed in range(SEEDS):
        assert curve("emergence(alpha=1)", seed) == curve("kaiming", seed)
    # ... while seeds differ from each other, and alpha = 1.3 differs from Kaiming
    assert runs["kaiming"][0]["curve"]["val_loss"] != runs["kaiming"][1]["curve"]["val_loss"]
    assert curve("emergence(alpha=1.3)", 0) != curve("kaiming", 0)
    assert runs["emergence(alpha=1.3)"][0]["scales"] == pytest.approx(
        [1.3**-1, 1.0, 1.3]  # depths 0, 1, 2, pivot 1
    )
    stats = {(r["scheme"], r["metric"]): r for r in data["stats"]}
    same = stats[("emergence(alpha=1)", "test_accuracy")]["vs_reference"]
    assert same["diff"] == 0.0 and same["p"] == 1.0 and not same["significant"]
    assert stats[("kaiming", "test_accuracy")]["vs_reference"] is None
    mean = stats[("kaiming", "test_accuracy")]["mean"]
    finals = [runs["kaiming"][s]["summary"]["test_accuracy"] for s in range(SEEDS)]
    assert mean == pytest.approx(sum(finals) / SEEDS)
    # the target defaults to 90% of Kaiming's mean final test accuracy, rounded down
    assert data["target_accuracy"] == math.floor(0.9 * mean * 100) / 100
    assert data["target_source"] == "reference"


def test_failed_runs_are_reported_and_counted(compared):
    _, _, data, _ = compared
    normal = next(s for s in data["schemes"] if s["name"] == "normal")
    assert [r["status"] for r in normal["runs"]] == ["failed"] * SEEDS
    assert all("std" in r["reason"] for r in normal["runs"])
    row = next(
        r for r in data["stats"] if r["scheme"] == "normal" and r["metric"] == "test_accuracy"
    )
    assert row["n"] == 0 and row["mean"] is None and row["failed"] == SEEDS
    assert row["vs_reference"] is None


def test_a_comparison_judges_on_the_test_split(compared):
    _, _, data, csv_path = compared
    assert "test_accuracy" in METRICS and "final_accuracy" not in METRICS
    assert {r["metric"] for r in data["stats"]} == set(METRICS)
    assert data["methods"]["split"].startswith("test split")
    target = data["target_accuracy"]
    differs = False
    for scheme in data["schemes"]:
        for run in scheme["runs"]:
            if run["status"] != "completed":
                continue
            curve, summary = run["curve"], run["summary"]
            assert len(curve["test_accuracy"]) == len(curve["test_loss"]) == EPOCHS
            assert summary["test_accuracy"] == curve["test_accuracy"][-1]
            assert summary["first_epoch_test_accuracy"] == curve["test_accuracy"][0]
            assert summary["test_loss"] == curve["test_loss"][-1]
            assert summary["final_accuracy"] == curve["val_accuracy"][-1]  # validation, kept
            hit = next((i for i, a in enumerate(curve["test_accuracy"]) if a >= target), None)
            assert summary["epochs_to_target"] == (None if hit is None else hit + 1)
            differs |= curve["test_accuracy"] != curve["val_accuracy"]
    assert differs  # two splits, two curves
    stats = {(r["scheme"], r["metric"]): r for r in data["stats"]}
    kaiming = next(s for s in data["schemes"] if s["name"] == "kaiming")["runs"]
    for metric in ("test_accuracy", "first_epoch_test_accuracy", "test_loss"):
        values = [r["summary"][metric] for r in kaiming]
        assert stats[("kaiming", metric)]["mean"] == pytest.approx(sum(values) / SEEDS)
    metrics_in_csv = {line.split(",")[1] for line in csv_path.read_text().splitlines()[1:]}
    assert metrics_in_csv == set(METRICS)


def test_runs_stored_before_the_test_split_have_no_test_values():
    """A run record without test keys (stored before comparisons measured the test split)
    reads back, collects and analyses without error: its test metrics simply have no value,
    and it is neither 'not reached' nor censored for epochs to target."""
    old = {
        "status": "completed",
        "summary": {"first_epoch_accuracy": 0.5, "final_accuracy": 0.8, "area_under_loss": 1.0},
        "curve": {"val_accuracy": [0.5, 0.8], "val_loss": [1.0, 0.6], "epoch_seconds": [1, 1]},
        "scales": [1.0, 1.0, 1.0],
        "log_emergence": 0.1,
    }
    record = RunRecord.from_dict(old)
    assert record.curve["test_accuracy"] == [] and record.curve["test_loss"] == []
    trials = [
        create_trial(state=TrialState.COMPLETE, value=0.8, user_attrs={RUN: old}) for _ in range(3)
    ]
    schemes = [
        {"name": name, "init": {}, "runs": [to_run(t, seed) for seed, t in enumerate(trials)]}
        for name in ("kaiming", "xavier")
    ]
    objective = SimpleNamespace(target_accuracy=None)
    plan = SimpleNamespace(target=None, study=SimpleNamespace(objective=objective))
    assert choose_target(plan, schemes) == (None, "none")  # no test accuracy to take 90% of
    for run in (r for s in schemes for r in s["runs"]):
        assert run["summary"]["test_accuracy"] is None
        apply_target(run, 0.5)  # the validation curve reaches it; the (missing) test one not
        assert run["summary"]["epochs_to_target"] is None
    payload = {"seeds": [0, 1, 2], "reference": "kaiming", "epochs": 2, "target_accuracy": 0.5}
    out = analyse({**payload, "schemes": schemes})
    rows = {(r["scheme"], r["metric"]): r for r in out["stats"]}
    for metric in METRICS:
        row = rows[("xavier", metric)]
        if metric == "area_under_loss":  # training loss: measured as before
            assert row["n"] == 3
            continue
        assert row["n"] == 0 and row["mean"] is None and row["vs_reference"] is None
    assert rows[("xavier", "epochs_to_target")]["not_reached"] == 0
    assert all(c["n"] == 0 for c in out["correlations"])


def test_runs_are_mlflow_children_of_one_parent(compared):
    from mlflow import MlflowClient

    _, _, data, _ = compared
    client = MlflowClient(tracking_uri=data["tracking_uri"])
    experiment = client.get_experiment_by_name("initsearch/tiny-compare")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("initsearch.role") == "study"]
    assert [p.info.run_id for p in parents] == [data["mlflow_parent_run_id"]]
    kaiming = next(s for s in data["schemes"] if s["name"] == "kaiming")
    for run in kaiming["runs"]:
        logged = client.get_run(run["mlflow_run_id"])
        assert logged.data.tags["initsearch.study_run"] == data["mlflow_parent_run_id"]
        assert logged.data.params["seeds"] == str(run["seed"])
        assert logged.data.metrics["final_accuracy"] == pytest.approx(
            run["summary"]["final_accuracy"]
        )
        assert logged.data.metrics["test_accuracy"] == pytest.approx(
            run["summary"]["test_accuracy"]
        )


def test_resume_reruns_only_failed_pairs_and_more_seeds_reuse_runs(compared):
    cfg, plan, _, _ = compared
    study = load_comparison_study(plan)
    assert study is not None
    before = {t.number for t in study.get_trials()}
    assert pending(plan) == SEEDS  # only the failed "normal" pairs
    run_comparison(plan, InlinePool())
    new = [t for t in study.get_trials() if t.number not in before]
    assert sorted(t.user_attrs["seed"] for t in new) == [0, 1, 2]
    assert {t.user_attrs["scheme"] for t in new} == {"normal"}
    assert all(t.state == TrialState.FAIL for t in new)
    # one more seed for Kaiming alone: the three finished seeds are reused
    bigger = plan_comparison(cfg, SEEDS + 1, ["kaiming"], epochs=EPOCHS)
    assert pending(bigger) == 1
    known = {t.number for t in study.get_trials()}
    run_comparison(bigger, InlinePool())
    added = [t for t in study.get_trials() if t.number not in known]
    assert [(t.user_attrs["scheme"], t.user_attrs["seed"]) for t in added] == [("kaiming", 3)]
    assert [r["seed"] for r in results(bigger)["schemes"][0]["runs"]] == [0, 1, 2, 3]
    # another epoch budget is another experiment: none of the runs is reused
    assert pending(plan_comparison(cfg, SEEDS, ["kaiming"], epochs=EPOCHS + 1)) == SEEDS


def test_a_run_left_by_a_dead_driver_is_retried_with_its_pair(compared):
    cfg, _, _, _ = compared
    other = cfg.model_copy(update={"budget": cfg.budget.model_copy(update={"first_seed": 10})})
    plan = plan_comparison(other, 1, ["kaiming"], epochs=EPOCHS)
    dead = compare_driver(plan, InlinePool())
    dead.prepare()
    asked = dead.source.next()
    assert asked.job.spec.test_split  # a comparison's trials measure the test split
    claimed = trial_id(asked.trial)  # claims the trial (RUNNING) ...
    set_trial_attr(dead.study, claimed, "driver", "gone")  # ... and dies
    run_comparison(plan, InlinePool())
    trials = {trial_id(t): t for t in dead.study.get_trials()}
    assert trials[claimed].state == TrialState.FAIL
    assert trials[claimed].user_attrs["reason"].startswith("stale")
    retry = [t for t in trials.values() if t.user_attrs.get("retry_of") == trials[claimed].number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert (retry[0].user_attrs["scheme"], retry[0].user_attrs["seed"]) == ("kaiming", 10)
    assert [r["status"] for r in results(plan)["schemes"][0]["runs"]] == ["completed"]


def test_seed_shares_base_weights_across_kaiming_based_schemes(tmp_path):
    """The docstring of initsearch.compare.runner: Kaiming, LeCun normal, the emergence rule
    and scaled Kaiming start from the same draws up to a per-layer factor; Xavier does not."""
    cfg = tiny_study(tmp_path, baselines={"emergence_alphas": [1.3]})
    data = load_dataset("digits")
    schemes = {s.name: s for s in build_schemes(cfg, ["lecun", "emergence", "xavier"])}

    def weights(init, seed=5):
        torch.manual_seed(seed)
        model = build_model(ModelSpec(name="mlp", depth=2, width=16), data)
        from initsearch.inits import apply

        apply(model, init, data=data)
        return [layer.weight.detach().clone() for layer in model.scalable_layers()]

    base = weights(schemes["kaiming"].init)
    for name in ("lecun_normal", "emergence(alpha=1.3)"):
        for w, k in zip(weights(schemes[name].init), base, strict=True):
            ratio = w / k
            assert float(ratio.std()) < 1e-5 * float(ratio.abs().mean())
    xavier = weights(schemes["xavier"].init)
    assert float((xavier[0] / base[0]).std()) > 0.1
    assert not torch.equal(weights(schemes["kaiming"].init, seed=6)[0], base[0])


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "initsearch", "compare", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_trains_missing_pairs_and_rejects_bad_scheme_names(compared, tmp_path):
    cfg, plan, _, _ = compared
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    # Kaiming's seed 0 is done: only Xavier's is trained
    done = _cli(str(path), "--seeds", "1", "--schemes", "xavier", "--epochs", "2", "--inline")
    assert done.returncode == 0, done.stderr
    assert "2 runs, 1 to train" in done.stderr
    assert "xavier" in done.stdout and "Spearman" in done.stdout
    written = json.loads((output_dir(plan) / "compare.json").read_text())
    assert [s["name"] for s in written["schemes"]] == ["kaiming", "xavier"]
    assert written["seeds"] == [0]
    assert [r["status"] for s in written["schemes"] for r in s["runs"]] == ["completed"] * 2
    report = (output_dir(plan) / "report.html").read_text()
    assert "xavier" in report and "plotly" in report.lower()
    bad = _cli(str(path), "--seeds", "3", "--schemes", "kaiming,nosuch", "--inline")
    assert bad.returncode == 2
    assert "unknown scheme 'nosuch'" in bad.stderr
