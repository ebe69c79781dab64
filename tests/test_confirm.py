"""The confirmation stage end to end, on real training: selection sees validation only, the
verdict is judged on test, and a truly better configuration is found and confirmed.

The statistical calibration of the verdict (no false wins on pure noise in 19 of 20 simulated
studies) is tests/test_verdict.py's; here every number comes from trained networks.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from initsearch.cli.app import app
from initsearch.confirm import (
    judge,
    keep_verdict,
    plan_confirmation,
    run_confirmation,
    search_noise,
    stored_verdict,
)
from initsearch.contract import BASELINE, NO_PROGRESS_SEEDS, SEED_VALUES
from initsearch.run.pool import InlinePool
from initsearch.search.study import study_driver
from tests.studyutil import tiny_study


def run_search(cfg) -> optuna.Study:
    driver = study_driver(cfg, InlinePool())
    driver.run()
    return driver.study


def confirm(cfg, study: optuna.Study):
    plan = plan_confirmation(cfg, study)
    run_confirmation(plan, InlinePool())
    return plan, judge(plan)


# ------------------------------------------------------------------ selection on validation


def write_idx(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">i", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    path.write_bytes(header + array.tobytes())


def write_digits_as_mnist(root: Path, shuffle_test_labels: bool) -> None:
    """scikit-learn's digits, upscaled to 24x24 and padded to 28x28, in MNIST's IDX files: a
    learnable data set in a real on-disk format. Optionally with the test labels shuffled."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.kron(bunch.images, np.ones((3, 3))) * (255 / 16)
    images = np.pad(images, ((0, 0), (2, 2), (2, 2))).astype(np.uint8)
    labels = bunch.target.astype(np.uint8)
    order = np.random.default_rng(0).permutation(len(labels))
    images, labels = images[order], labels[order]
    train, test = slice(0, 1400), slice(1400, None)
    test_labels = labels[test].copy()
    if shuffle_test_labels:
        test_labels = np.random.default_rng(1).permutation(test_labels)
    raw = root / "MNIST" / "raw"
    write_idx(raw / "train-images-idx3-ubyte", images[train])
    write_idx(raw / "train-labels-idx1-ubyte", labels[train])
    write_idx(raw / "t10k-images-idx3-ubyte", images[test])
    write_idx(raw / "t10k-labels-idx1-ubyte", test_labels)


def mnist_study(tmp_path: Path, shuffled: bool):
    root = tmp_path / ("shuffled" if shuffled else "plain")
    write_digits_as_mnist(root, shuffled)
    return tiny_study(
        root / "runs",
        name="split",
        data={"name": "mnist", "root": str(root)},
        model={"name": "mlp", "depth": 2, "width": 32},
        train={"epochs": 3, "batch_size": 64, "lr": 0.05},
        baselines={"schemes": ["kaiming", "xavier"]},
        budget={"trials": 4},
        confirm={"top_k": 1, "seeds": 2},
    )


def test_search_sees_validation_only_and_the_confirmation_judges_on_test(tmp_path: Path) -> None:
    """Shuffling the test labels changes nothing the search sees (same values, same ranking),
    while the confirmation, judged on test, drops to chance."""
    outcomes = {}
    for shuffled in (False, True):
        cfg = mnist_study(tmp_path, shuffled)
        study = run_search(cfg)
        values = {
            t.number: t.values[0]
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        }
        plan, verdict = confirm(cfg, study)
        outcomes[shuffled] = (values, verdict)
    plain_values, plain = outcomes[False]
    shuffled_values, shuffled = outcomes[True]
    assert plain_values and plain_values == shuffled_values  # validation only: identical
    test_means = {row.arm: row.test_mean for row in plain.rows}
    chance_means = {row.arm: row.test_mean for row in shuffled.rows}
    assert set(test_means) == set(chance_means) == {"kaiming", "xavier", "searched#1"}
    assert min(test_means.values()) > 0.6  # the test split is learnable...
    assert max(chance_means.values()) < 0.25  # ...and its shuffled labels are chance (0.1)
    assert plain.metric == "test_accuracy"
    assert plain.best_baseline == shuffled.best_baseline  # chosen on validation, not test


# --------------------------------------------------------------------------- found and confirmed


def handicapped_study(tmp_path: Path):
    """A deep ReLU MLP without batch norm whose only baseline is LeCun normal: it halves the
    signal's variance at every layer, so after three epochs it lags far behind (about 0.19 vs
    0.68 test accuracy, measured) the Kaiming-like scales around the search space's origin: a
    configuration truly better by a wide margin exists and the search can find it."""
    return tiny_study(
        tmp_path,
        name="handicap",
        model={"name": "mlp", "depth": 8, "width": 32},
        train={"epochs": 3, "batch_size": 64, "lr": 0.01},
        search={
            "space": "profile",
            "scale_low": 0.8,
            "scale_high": 1.25,
            "profile_slope": [-0.3, 0.3],
            "profile_curvature": [-0.3, 0.3],
        },
        baselines={"schemes": ["lecun_normal"]},
        sampler={"name": "random", "seed": 0},
        budget={"trials": 6},
        confirm={"top_k": 2, "seeds": 4},
    )


def test_a_truly_better_configuration_is_found_and_confirmed(tmp_path: Path) -> None:
    cfg = handicapped_study(tmp_path)
    study = run_search(cfg)
    plan, verdict = confirm(cfg, study)
    assert verdict.outcome == "searched-wins", verdict.sentence
    assert verdict.winner is not None and verdict.winner.startswith("searched#")
    row = next(r for r in verdict.rows if r.arm == verdict.winner)
    assert row.diff_ci_low > 0 and row.p_adjusted < 0.05
    assert f"{verdict.winner} beats the best baseline" in verdict.sentence
    # the searched arms re-ran the study's best searched trials, in the search's order
    values = [s.value for s in plan.searched]
    assert values == sorted(values, reverse=True) and len(values) == 2
    # kept on the study and in the study folder, read back identically
    path = keep_verdict(plan, verdict, study, tmp_path / "confirm")
    kept, record = stored_verdict(study)
    assert kept.sentence == verdict.sentence
    assert json.loads(path.read_text())["sentence"] == verdict.sentence
    assert [a["trial"] for a in record["searched_arms"]] == [s.trial for s in plan.searched]


# --------------------------------------------------------------------------- seeds and noise


def test_multi_seed_trials_keep_their_seed_values_and_measure_the_noise(tmp_path: Path) -> None:
    cfg = tiny_study(tmp_path, budget={"trials": 4, "seeds_per_trial": 3})
    study = run_search(cfg)
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert done
    for t in done:
        per_seed = t.user_attrs[SEED_VALUES]
        assert len(per_seed) == 3
        assert t.values[0] == pytest.approx(float(np.mean(per_seed)))
    noise = search_noise(study, 3)
    assert noise.noise is not None and noise.noise.sd > 0
    assert noise.detectable is not None and noise.detectable > 0
    assert "smallest difference detectable at 3 seeds" in noise.describe("val_accuracy")
    single = search_noise(study, 1)
    assert single.detectable is None and "not measured" in single.describe("val_accuracy")
    assert all(BASELINE in t.user_attrs for t in done[:3])  # baselines first


def test_resumed_confirmation_trains_only_what_is_missing(tmp_path: Path) -> None:
    cfg = tiny_study(tmp_path, budget={"trials": 4})
    study = run_search(cfg)
    plan, first = confirm(cfg, study)
    again = plan_confirmation(cfg, study)
    driver = run_confirmation(again, InlinePool())
    trials = driver.study.get_trials(deepcopy=False)
    assert len(trials) == len(plan.compare.schemes) * len(plan.seeds)  # nothing re-ran
    assert judge(again).sentence == first.sentence
    assert not set(plan.seeds) & set(cfg.budget.seeds)  # fresh seeds
    # tracked in the study's own MLflow experiment, marked as the confirmation stage
    from mlflow import MlflowClient

    from initsearch.stores import tracking_uri

    client = MlflowClient(tracking_uri(cfg.tracking_uri, cfg.workdir, cfg.name))
    experiment = client.get_experiment_by_name(f"initsearch/{cfg.name}")
    runs = client.search_runs([experiment.experiment_id], max_results=500)
    stages = [r.data.tags.get("initsearch.stage") for r in runs]
    assert stages.count("confirmation") == len(trials) + 1  # its runs and their parent
    assert "search" in stages
    # a searched arm's runs name the search trial they re-run, in MLflow as in every view
    source = plan.searched[0].trial
    names = {r.info.run_name for r in runs}
    assert f"confirm: searched#1 (searched #{source}) seed {plan.seeds[0]}" in names


def test_a_trial_whose_seeds_did_not_learn_is_counted_by_the_status(tmp_path: Path) -> None:
    """The driver records on each completed trial how many of its seeds made no progress (the
    zero init never learns); the study's summary counts those trials."""
    from initsearch.cli.study_summary import summarize

    cfg = tiny_study(
        tmp_path,
        baselines={"schemes": ["kaiming", "zero"]},
        budget={"trials": 3, "seeds_per_trial": 2},
    )
    study = run_search(cfg)
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    zero = next(t for t in done if t.user_attrs.get(BASELINE) == "zero")
    assert zero.user_attrs[NO_PROGRESS_SEEDS] == 2
    assert all(0 <= t.user_attrs[NO_PROGRESS_SEEDS] <= 2 for t in done)
    summary = summarize(study, cfg)
    assert summary.no_progress == sum(t.user_attrs[NO_PROGRESS_SEEDS] > 0 for t in done) >= 1
    assert next(b for b in summary.baselines if b.label == "zero").no_progress == 2


def test_cli_confirm_and_status_lead_with_the_verdict(tmp_path: Path) -> None:
    cfg = tiny_study(tmp_path, budget={"trials": 4})
    run_search(cfg)
    runner = CliRunner()
    env = {"COLUMNS": "200"}
    before = runner.invoke(app, ["study", "status", cfg.name, "--workdir", str(tmp_path)], env=env)
    assert before.exit_code == 0, before.output
    assert "verdict: none yet" in before.output
    result = runner.invoke(
        app,
        ["study", "confirm", cfg.name, "--workdir", str(tmp_path), "--inline", "--seeds", "2"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "verdict:" in result.output and "confirmation on the test split" in result.output
    assert "did not train" in result.output
    status = runner.invoke(app, ["study", "status", cfg.name, "--workdir", str(tmp_path)], env=env)
    assert status.exit_code == 0, status.output
    first_line = status.output.strip().splitlines()[0]
    assert first_line.startswith("verdict:")
    assert (tmp_path / cfg.name / "confirm" / "verdict.json").is_file()


def test_the_study_report_leads_with_the_verdict_and_draws_it(tmp_path: Path) -> None:
    from initsearch.report import write_study_report

    cfg = tiny_study(tmp_path, budget={"trials": 4})
    study = run_search(cfg)
    empty = write_study_report(cfg, study, tmp_path / "before")
    assert empty["verdict"] is None and "verdict_png" not in empty["files"]
    assert any("verdict.png not written" in note for note in empty["notes"])
    plan, verdict = confirm(cfg, study)
    keep_verdict(plan, verdict, study, tmp_path / "confirm")
    report = write_study_report(cfg, study, tmp_path / "after")
    assert report["verdict"]["sentence"] == verdict.sentence
    assert report["verdict"]["searched_trials_now"] == report["verdict"]["searched_trials_seen"]
    assert Path(report["files"]["verdict_png"]).stat().st_size > 10_000
    assert "smallest difference detectable" in report["seed_noise"]["text"] or (
        "not measured" in report["seed_noise"]["text"]
    )


def test_seconds_to_target_picks_the_bar_on_the_validation_curve() -> None:
    from initsearch.confirm.result import arms_of

    class Plan:
        metric, seeds = "seconds_to_target", (1000,)

        @staticmethod
        def kind(name: str) -> str:
            return "baseline"

    def run(val_acc, test_seconds):
        curve = {"val_accuracy": val_acc, "epoch_seconds": [1.0, 1.0, 1.0]}
        return {
            "seed": 1000,
            "status": "completed",
            "curve": curve,
            "summary": {"seconds_to_target": test_seconds},
        }

    payload = {
        "target_accuracy": 0.5,
        "schemes": [{"name": "a", "runs": [run([0.2, 0.6, 0.7], 1.0)]}],
    }
    (arm,) = arms_of(Plan, payload)
    assert arm.val == (2.0,) and arm.test == (1.0,)  # validation reached 0.5 in epoch 2


def test_an_arm_counts_its_runs_that_did_not_train_on_the_confirmation_seeds() -> None:
    from initsearch.confirm.result import arms_of

    class Plan:
        metric, seeds = "val_accuracy", (1000, 1001, 1002, 1003)

        @staticmethod
        def kind(name: str) -> str:
            return "baseline"

    def run(seed: int, status: str, stuck: bool = False) -> dict:
        summary = {"test_accuracy": 0.1 if stuck else 0.8, "final_accuracy": 0.5}
        summary = summary if status == "completed" else {}
        return {"seed": seed, "status": status, "no_progress": stuck, "summary": summary}

    runs = [
        run(1000, "completed"),
        run(1001, "completed", stuck=True),
        run(1002, "diverged"),
        run(1003, "failed"),
        run(7, "diverged"),  # a seed of another confirmation: not this verdict's
    ]
    (arm,) = arms_of(Plan, {"schemes": [{"name": "a", "runs": runs}]})
    assert (arm.diverged, arm.failed, arm.no_progress) == (1, 1, 1)
    assert arm.test == (0.8, 0.1, None, None)  # a run without progress keeps its value
