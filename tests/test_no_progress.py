"""Runs that complete without learning are flagged "no progress", beside "diverged": the rule
(:mod:`initsearch.train.curve`), the engine and a pack on real runs (an all-zero init on digits
stays at chance, Kaiming learns), chance on imbalanced data, a real comparison's compare.json,
stats, table, CSV and HTML report, and records stored before the flag."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from optuna.trial import TrialState, create_trial
from rich.console import Console

from initsearch.compare import (
    output_dir,
    plan_comparison,
    print_table,
    results,
    run_comparison,
    write_outputs,
)
from initsearch.compare.analysis import analyse
from initsearch.compare.collect import to_run
from initsearch.compare.record import RunRecord
from initsearch.contract import RUN
from initsearch.data import Dataset, load_dataset
from initsearch.inits import InitSpec
from initsearch.models import ModelSpec
from initsearch.report.html_report import render_compare_report
from initsearch.run.pool import InlinePool
from initsearch.train import Budget, DataSpec, OptimizerSpec, Summary, TrialSpec, run_trial
from initsearch.train.curve import (
    NO_PROGRESS_MARGIN,
    UNIFORM_LOSS_FRACTION,
    Curve,
    chance_accuracy,
    no_progress,
)
from initsearch.train.pack import run_pack
from tests.studyutil import tiny_study

LN10 = math.log(10)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def spec(scheme: str, seed: int = 1) -> TrialSpec:
    return TrialSpec(
        model=ModelSpec(name="mlp", depth=2, width=32),
        data=DataSpec(name="digits"),
        init=InitSpec(scheme=scheme),
        budget=Budget(epochs=2, batch_size=64),
        optimizer=OptimizerSpec(name="sgd", lr=0.05),
        seed=seed,
    )


def test_the_rule_flags_chance_accuracy_or_a_flat_loss_of_completed_runs_only():
    chance, learnt = 0.1, [2.0, 0.5]
    below = chance + NO_PROGRESS_MARGIN - 0.01
    at_chance = Curve(val_accuracy=[0.1, below], epoch_train_loss=learnt)
    assert no_progress(at_chance, chance, 10) is True
    flat = Curve(val_accuracy=[0.3, 0.5], epoch_train_loss=[2.4, UNIFORM_LOSS_FRACTION * LN10])
    assert no_progress(flat, chance, 10) is True
    learning = Curve(val_accuracy=[0.3, 0.5], epoch_train_loss=learnt)
    assert no_progress(learning, chance, 10) is False
    assert no_progress(at_chance, chance, 10, completed=False) is False  # diverged/stopped
    assert no_progress(at_chance, None, 10) is None  # chance unknown
    assert no_progress(Curve(), chance, 10) is None  # nothing to judge
    # a NaN final loss of a run that still completed reads as flat, not as learnt
    assert no_progress(Curve(val_accuracy=[0.5], epoch_train_loss=[math.nan]), chance, 10)


def test_chance_is_the_majority_class_frequency_of_the_training_labels():
    assert chance_accuracy([7, 2, 1]) == pytest.approx(0.7)
    assert chance_accuracy([5, 5]) == 0.5
    assert chance_accuracy([]) is None and chance_accuracy([0, 0]) is None
    # an imbalanced data set of the researcher's own: 70% of its training labels are class 2
    gen = torch.Generator().manual_seed(0)
    y = torch.tensor([2] * 70 + [0] * 20 + [1] * 10)
    x = torch.randn(100, 8, generator=gen)
    x_val, y_val = torch.randn(20, 8, generator=gen), torch.zeros(20, dtype=torch.int64)
    data = Dataset("imbalanced", x, y, x_val, y_val, x_val, y_val, 3, "vector")
    result = run_trial(
        TrialSpec(
            model=ModelSpec(name="mlp", depth=1, width=8),
            budget=Budget(epochs=1, batch_size=50),
            seed=0,
        ),
        dataset=data,
    )
    assert result.summary.chance_accuracy == pytest.approx(0.7)
    assert result.summary.no_progress is not None


def test_engine_and_pack_flag_a_run_that_does_not_learn(digits):
    """All-zero weights cannot break symmetry: the MLP stays at chance with its training loss
    at ln(10); Kaiming learns digits well above it. A pack judges its members as solo runs."""
    counts = torch.bincount(digits.y_train).tolist()
    stuck, learnt = run_trial(spec("zero"), digits), run_trial(spec("kaiming"), digits)
    for result in (stuck, learnt):
        assert result.status == "completed"
        assert result.summary.chance_accuracy == pytest.approx(max(counts) / sum(counts))
    assert stuck.summary.no_progress is True
    assert stuck.curve.epoch_train_loss[-1] >= UNIFORM_LOSS_FRACTION * LN10
    assert stuck.summary.final_accuracy < stuck.summary.chance_accuracy + NO_PROGRESS_MARGIN
    assert learnt.summary.no_progress is False and learnt.summary.final_accuracy > 0.5
    packed = run_pack([spec("zero"), spec("kaiming")], digits)
    assert [r.summary.no_progress for r in packed] == [True, False]
    assert packed[0].summary.chance_accuracy == stuck.summary.chance_accuracy
    # the flag crosses the process boundary and reads back from a dict without it as None
    again = Summary.from_dict(stuck.summary.to_dict())
    assert again.no_progress is True
    older = {k: v for k, v in stuck.summary.to_dict().items() if k != "no_progress"}
    assert Summary.from_dict(older).no_progress is None


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """A real comparison: Kaiming and the all-zero init, 2 seeds, 2 epochs (seconds)."""
    cfg = tiny_study(tmp_path_factory.mktemp("no_progress"), "stuck")
    plan = plan_comparison(cfg, 2, ["kaiming", "zero"], epochs=2)
    run_comparison(plan, InlinePool())
    payload = results(plan)
    json_path, csv_path = write_outputs(payload, output_dir(plan))
    return payload, json.loads(json_path.read_text()), csv_path


def test_compare_json_and_stats_count_no_progress_runs_and_keep_them_in_the_mean(compared):
    payload, data, csv_path = compared
    runs = {s["name"]: s["runs"] for s in data["schemes"]}
    assert [r["no_progress"] for r in runs["zero"]] == [True, True]
    assert [r["no_progress"] for r in runs["kaiming"]] == [False, False]
    for run in runs["zero"] + runs["kaiming"]:
        assert run["status"] == "completed"
        assert run["summary"]["chance_accuracy"] == pytest.approx(0.1087, abs=1e-3)
        assert "log_emergence_relative" in run and "relative_emergence_zero" in run
    rows = {(r["scheme"], r["metric"]): r for r in data["stats"]}
    zero = rows[("zero", "test_accuracy")]
    assert zero["no_progress"] == 2 and zero["diverged"] == 0
    assert rows[("kaiming", "test_accuracy")]["no_progress"] == 0
    # the stuck runs stay in the mean and the test: their accuracy is the scheme's outcome
    finals = [r["summary"]["test_accuracy"] for r in runs["zero"]]
    assert zero["n"] == 2 and zero["mean"] == pytest.approx(sum(finals) / 2)
    assert zero["vs_reference"] is not None and zero["vs_reference"]["n"] == 2
    assert "kept in the means" in data["methods"]["no_progress"]
    # MLflow: every trial run carries the flag (0/1) and the chance accuracy as metrics
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=data["tracking_uri"])
    for name, flag in (("zero", 1.0), ("kaiming", 0.0)):
        logged = client.get_run(runs[name][0]["mlflow_run_id"]).data.metrics
        assert logged["no_progress"] == flag and logged["chance_accuracy"] > 0.1
    with open(csv_path) as handle:
        stuck = [r for r in csv.DictReader(handle) if r["scheme"] == "zero"]
    assert {r["no_progress"] for r in stuck} == {"2"}
    console = Console(record=True, width=200)
    print_table(payload, console)
    text = console.export_text()
    assert "no prog" in text
    assert next(line for line in text.splitlines() if " zero " in line).count("2/2") == 1


def test_compare_report_shows_no_progress_counts_and_lists_the_runs(compared):
    _, data, _ = compared
    html = render_compare_report(data, plotly="plotly.min.js")
    tables = {r["metric"] for r in data["stats"]}
    assert html.count("<th>no progress</th>") == 1 + len(tables)  # schemes + each statistic
    assert '<td class="no-progress">2</td>' in html
    assert "Runs that did not complete or made no progress (2)" in html
    assert "completed without learning: final validation accuracy" in html


def test_old_records_without_the_flag_read_back_judged_from_their_curves():
    old = {  # a record of an older version: no no_progress, no chance_accuracy
        "status": "completed",
        "summary": {"final_accuracy": 0.1, "test_accuracy": 0.1},
        "curve": {"val_accuracy": [0.1, 0.1], "epoch_train_loss": [2.31, 2.303]},
        "scales": [1.0, 1.0, 1.0],
        "log_emergence": 0.1,
    }
    record = RunRecord.from_dict(old)
    assert record.log_emergence_relative is None and record.relative_emergence_zero is False
    assert record.no_progress(10) is True  # chance 1/10 from the data set's class count
    assert record.no_progress(None) is None  # chance unknown: not judged
    learnt = {**old, "curve": {"val_accuracy": [0.5, 0.9], "epoch_train_loss": [1.0, 0.3]}}
    assert RunRecord.from_dict(learnt).no_progress(10) is False
    trial = create_trial(state=TrialState.COMPLETE, value=0.1, user_attrs={RUN: old})
    unknown = to_run(trial, 0)
    assert unknown["no_progress"] is None and unknown["log_emergence_relative"] is None
    schemes = [
        {"name": "kaiming", "init": {}, "runs": [to_run(trial, 0, 10)]},
        {"name": "xavier", "init": {}, "runs": [unknown]},
    ]
    out = analyse({"seeds": [0], "reference": "kaiming", "epochs": 2, "schemes": schemes})
    counts = {r["scheme"]: r["no_progress"] for r in out["stats"] if r["metric"] == "test_accuracy"}
    assert counts == {"kaiming": 1, "xavier": 0}
