"""The researcher's views on the command line: ``--version``, ``study list``, ``--json`` of
``study status|report``, ``study export``, ``study status --watch``, the status when a baseline
is best, ranks that agree between views, and usage errors that name the option typed.

Most tests read a hand-made study in a real journal file (trials with chosen values, so ties
and a best baseline are certain); one reads a real tiny study its driver ran (MLflow ids and
curves as the driver records them).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from initsearch import contract, stores
from initsearch.cli import main
from initsearch.cli.app import package_version
from initsearch.report import build_study_report
from tests.studyutil import tiny_study

LAYERS = ["fc0", "fc1", "fc2"]
NAME = "hand"


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    """``initsearch ARGS`` through the console entry point, in this process."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def _trial(
    number, value, applied, baseline=None, state=TrialState.COMPLETE, reason=None, stuck=None
):
    dists = {f"log_scale_{i}": FloatDistribution(-2.0, 2.0) for i in range(3)}
    params = {f"log_scale_{i}": float(i) / 10 for i in range(3)}
    spec_scales = None if baseline else applied
    attrs = {
        contract.INIT: {"scheme": baseline or "kaiming", "scales": spec_scales, "options": {}},
        contract.APPLIED_SCALES: applied,
        contract.VAL_ACCURACY_CURVE: [0.5, value or 0.6] if state != TrialState.FAIL else [],
        contract.MLFLOW_RUN_ID: f"run{number}",
    }
    if baseline:
        attrs[contract.BASELINE] = baseline
        params, dists = {}, {}
    if reason:
        attrs[contract.REASON] = reason
    if stuck is not None:
        attrs[contract.NO_PROGRESS_SEEDS] = stuck
    return create_trial(
        state=state,
        value=value if state == TrialState.COMPLETE else None,
        params=params,
        distributions=dists,
        user_attrs=attrs,
    )


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory):
    """Seven finished trials: xavier (a baseline) is best; emergence and searched #3 tie."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    workdir = tmp_path_factory.mktemp("runs")
    cfg = tiny_study(workdir, NAME)
    url = stores.storage_url(None, workdir, NAME)
    study = optuna.create_study(
        study_name=NAME, storage=stores.open_storage(url), direction="maximize"
    )
    study.set_user_attr(contract.STUDY_CONFIG, cfg.model_dump(mode="json"))
    study.set_user_attr(contract.STUDY_LAYER_NAMES, LAYERS)
    study.set_user_attr(contract.STUDY_LAYER_DEPTHS, [0, 1, 2])
    study.add_trials(
        [
            _trial(0, 0.80, [1.0, 1.0, 1.0], baseline="kaiming"),
            _trial(1, 0.90, [1.0, 1.0, 1.0], baseline="xavier"),
            _trial(2, 0.85, [0.9, 1.0, 1.1], baseline="emergence(alpha=1.1)", stuck=1),
            _trial(3, 0.85, [0.5, 1.0, 2.0], stuck=0),
            _trial(4, 0.70, [2.0, 1.0, 0.5], stuck=2),
            _trial(5, None, [1.5, 1.0, 1.0], state=TrialState.PRUNED, reason="pruned at epoch 1"),
            _trial(6, None, [9.0, 9.0, 9.0], state=TrialState.FAIL, reason="diverged"),
        ]
    )
    return cfg, study, workdir


def test_version_prints_the_installed_package_version(capsys):
    code, out, _ = run_main(capsys, "--version")
    assert code == 0
    assert out.strip() == f"initsearch {package_version()}"
    assert package_version()[0].isdigit()


def test_list_shows_each_study_with_counts_best_and_label(hand_made, capsys):
    cfg, study, workdir = hand_made
    code, out, err = run_main(capsys, "study", "list", "--workdir", str(workdir), "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["study"] == NAME and row["stage"] == "search"
    assert (row["complete"], row["pruned"], row["failed"], row["running"]) == (5, 1, 1, 0)
    assert row["best_value"] == study.best_value and row["best_label"] == "xavier"
    assert row["best_trial"] == 1 and row["budget"] == cfg.budget.trials
    assert row["last_activity"] is not None
    code, out, _ = run_main(capsys, "study", "list", "--workdir", str(workdir))
    assert code == 0 and NAME in out and "xavier" in out and "0.9" in out


def test_list_of_an_empty_folder_says_how_to_start(tmp_path, capsys):
    code, out, err = run_main(capsys, "study", "list", "--workdir", str(tmp_path))
    assert code == 0 and out == ""
    assert "initsearch study start" in err
    code, out, _ = run_main(capsys, "study", "list", "--workdir", str(tmp_path), "--json")
    assert code == 0 and json.loads(out) == []


def test_status_json_agrees_with_the_store(hand_made, capsys):
    _, study, workdir = hand_made
    code, out, err = run_main(capsys, "study", "status", NAME, "--workdir", str(workdir), "--json")
    assert code == 0, err
    status = json.loads(out)  # nothing but the JSON on stdout
    trials = study.get_trials()
    assert status["trials"] == len(trials)
    assert status["states"] == {"complete": 5, "fail": 1, "pruned": 1}
    assert status["best"]["label"] == "xavier" and status["best"]["value"] == study.best_value
    assert status["best"]["role"] == "baseline"
    assert status["best_searched"]["label"] == "searched #3"
    assert status["best_searched_scales"] == dict(zip(LAYERS, [0.5, 1.0, 2.0], strict=True))
    assert [b["label"] for b in status["baselines"]] == [
        "kaiming",
        "xavier",
        "emergence(alpha=1.1)",
    ]
    # trials that completed on a seed without learning are counted, and named per baseline
    assert status["no_progress"] == 2
    assert [b["no_progress"] for b in status["baselines"]] == [None, None, 1]


def test_status_when_a_baseline_is_best_says_so_and_shows_the_searched_profile(hand_made, capsys):
    _, _, workdir = hand_made
    code, out, err = run_main(capsys, "study", "status", NAME, "--workdir", str(workdir))
    assert code == 0, err
    assert "best val_accuracy: 0.9000 (xavier, trial 1)" in out
    assert "the best trial is the baseline xavier" in out
    assert "xavier applies its own scheme unchanged" in out
    assert "per-layer scales of trial" not in out  # the old all-1.000 table
    assert "per-layer scales of searched #3 (x kaiming)" in out
    assert "0.500" in out and "2.000" in out
    assert "2 complete trials had a seed that made no progress" in out
    assert "complete (no progress)" in out  # emergence(alpha=1.1)'s row


def test_status_tables_do_not_wrap_their_titles_at_80_columns(hand_made, tmp_path):
    _, _, workdir = hand_made
    proc = subprocess.run(
        [sys.executable, "-m", "initsearch", "study", "status", NAME, "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**_env(), "COLUMNS": "80", "TERM": "dumb"},
    )
    assert proc.returncode == 0, proc.stderr
    titles = [line.strip() for line in proc.stdout.splitlines() if "per-layer scales" in line]
    assert titles == ["per-layer scales of searched #3 (x kaiming)"]


def _env() -> dict[str, str]:
    import os

    repo = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": repo}


def test_tied_ranks_are_the_same_in_status_report_and_export(hand_made, capsys):
    cfg, study, workdir = hand_made
    code, out, _ = run_main(capsys, "study", "status", NAME, "--workdir", str(workdir), "--json")
    status = json.loads(out)
    by_label = {b["label"]: b["rank"] for b in status["baselines"]}
    report = build_study_report(cfg, study)
    report_ranks = {b["name"]: b["rank"] for b in report["baselines"]}
    assert by_label == report_ranks == {"xavier": 1, "emergence(alpha=1.1)": 2, "kaiming": 4}
    # the tie: emergence and searched #3 share rank 2 in every view
    assert status["best_searched"]["rank"] == report["best_searched"]["rank"] == 2
    code, out, _ = run_main(
        capsys, "study", "export", NAME, "--workdir", str(workdir), "--format", "json"
    )
    exported = {row["label"]: row["rank"] for row in json.loads(out)}
    assert exported["searched #3"] == exported["emergence(alpha=1.1)"] == 2


def test_export_json_and_csv_round_trip(hand_made, tmp_path, capsys):
    _, study, workdir = hand_made
    target = tmp_path / "trials.json"
    args = ("study", "export", NAME, "--workdir", str(workdir))
    code, out, err = run_main(capsys, *args, "--format", "json", "--output", str(target))
    assert code == 0 and out == "" and "wrote 7 trials" in err
    rows = json.loads(target.read_text())
    trials = study.get_trials()
    assert [r["number"] for r in rows] == [t.number for t in trials]
    searched = rows[3]
    assert searched["label"] == "searched #3" and searched["role"] == "searched"
    assert searched["applied_scales"] == {"fc0": 0.5, "fc1": 1.0, "fc2": 2.0}
    assert searched["spec_scales"] == searched["applied_scales"]
    assert searched["params"] == trials[3].params
    assert searched["val_accuracy_curve"] == [0.5, 0.85]
    assert searched["mlflow_run_id"] == "run3" and searched["seeds"] == [0]
    assert rows[1]["label"] == "xavier" and rows[1]["spec_scales"] == {}
    assert rows[6]["state"] == "fail" and rows[6]["reason"] == "diverged"

    code, out, _ = run_main(capsys, *args, "--format", "csv")
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == len(rows)
    for row, obj in zip(table, rows, strict=True):
        assert row["label"] == obj["label"] and row["state"] == obj["state"]
        for layer, scale in obj["applied_scales"].items():
            assert float(row[f"applied_scale:{layer}"]) == scale
        curve = [row[f"val_accuracy:epoch_{k}"] for k in (1, 2)]
        assert [float(v) for v in curve if v] == obj["val_accuracy_curve"]
        assert json.loads(row["seeds"]) == obj["seeds"]
    assert float(table[3]["param:log_scale_2"]) == pytest.approx(0.2)


def test_watch_on_a_finished_study_ends_by_itself(hand_made, capsys):
    _, _, workdir = hand_made
    args = ("study", "status", NAME, "--workdir", str(workdir), "--watch", "--interval", "0.1")
    code, out, err = run_main(capsys, *args)
    assert code == 0, err
    assert "searched #3" in out and "xavier" in out
    assert f"study {NAME} is done" in out


def test_report_json_is_the_report_on_stdout(hand_made, tmp_path, capsys):
    _, study, workdir = hand_made
    out_dir = tmp_path / "rep"
    args = ("study", "report", NAME, "--workdir", str(workdir), "--out", str(out_dir), "--json")
    code, out, err = run_main(capsys, *args)
    assert code == 0, err
    report = json.loads(out)
    assert report["study"] == NAME and report["counts"]["trials"] == len(study.get_trials())
    assert json.loads((out_dir / "report.json").read_text())["counts"] == report["counts"]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["train", "--model", "foo"], "--model"),
        (["train", "--data", "imagenet"], "--data"),
        (["train", "--init", "magic"], "--init"),
        (["inits", "show", "--activation", "swish"], "--activation"),
        (["study", "export", "x", "--format", "xml"], "--format"),
    ],
)
def test_choices_fail_in_one_line_naming_the_option(args, option, capsys):
    code, out, err = run_main(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert f"'{option}'" in lines[0] and "is not one of: " in lines[0]
    assert "Spec." not in err and out == ""


def test_help_lists_the_choices():
    proc = subprocess.run(
        [sys.executable, "-m", "initsearch", "train", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**_env(), "COLUMNS": "250"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "<mlp|vgg|resnet|transformer>" in proc.stdout and "<sgd|adamw>" in proc.stdout


# ---- progress: time left and the last result by its label ------------------------------
def test_last_result_names_the_trial_as_every_view_does(hand_made):
    from initsearch.labels import STAGE_COMPARISON
    from initsearch.report.progress import last_result
    from initsearch.run.driver import StudyProgress
    from initsearch.run.job import TrialOutcome

    _, study, _ = hand_made

    def progress(number, state, values=None, reason=None):
        outcome = TrialOutcome(number, state, values, [], reason=reason)
        return StudyProgress(done=5, total=6, best=0.9, last=outcome)

    assert last_result(study, progress(3, "complete", [0.85])) == "last: searched #3 0.85"
    assert last_result(study, progress(1, "complete", [0.9])) == "last: xavier 0.9"
    pruned = last_result(study, progress(5, "pruned", reason="pruned at epoch 1"))
    assert pruned == "last: searched #5 pruned (pruned at epoch 1)"
    compare_attrs = {contract.SCHEME: "xavier", contract.SEED: 2, contract.BASELINE: "xavier"}
    pair = optuna.create_study(direction="maximize")
    pair.add_trial(create_trial(value=0.87, user_attrs=compare_attrs))
    text = last_result(pair, progress(0, "complete", [0.87]), STAGE_COMPARISON)
    assert text == "compare: xavier seed 2 0.87"


def test_time_left_is_this_runs_pace_from_where_it_began():
    from rich.console import Console

    from initsearch.report.progress import TimeLeftColumn, begin, trials_progress

    now = [100.0]
    progress = trials_progress(Console(file=io.StringIO()))
    progress.get_time = lambda: now[0]  # a clock the test moves (rich reads it through this)
    task = progress.add_task("s", total=10, info="")
    begin(progress, task, 4, "")  # a resumed study: 4 trials were done before this run
    column = TimeLeftColumn()
    assert column.render(progress.tasks[0]).plain == "-:--:-- left"
    now[0] += 60.0
    progress.update(task, completed=6)  # 2 trials in 60 s, 4 left: 120 s
    assert column.render(progress.tasks[0]).plain == "0:02:00 left"


def test_start_shows_progress_with_labels_and_ends_with_next_steps(tmp_path, capsys):
    import yaml

    cfg = tiny_study(
        tmp_path,
        "prog",
        train={"epochs": 1},
        budget={"trials": 3},
        baselines={"schemes": ["kaiming", "xavier"]},
    )
    path = tmp_path / "prog.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    code, out, err = run_main(capsys, "study", "start", str(path), "--inline", "--no-confirm")
    assert code == 0, err
    labels = ("last: kaiming", "last: xavier", "last: searched #2")
    assert any(label in err for label in labels), err
    assert "0:00:00 left" in err
    assert f"initsearch study report prog --workdir {tmp_path}" in out
    assert f"initsearch dashboard prog --workdir {tmp_path}" in out


def test_compare_json_is_only_json_on_stdout_and_names_runs_in_progress(tmp_path, capsys):
    import yaml

    cfg = tiny_study(tmp_path, "cmp", train={"epochs": 1})
    path = tmp_path / "cmp.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    args = ("compare", str(path), "--seeds", "1", "--schemes", "xavier", "--inline", "--json")
    code, out, err = run_main(capsys, *args)
    assert code == 0, err
    payload = json.loads(out)
    assert [s["name"] for s in payload["schemes"]] == ["kaiming", "xavier"]
    line = next(line for line in err.splitlines() if line.startswith("2/2 runs"))
    assert "compare: " in line and " seed 0 " in line  # the last run, by its label and value
    assert "wrote" in err


def test_watch_of_an_unfinished_study_stops_on_ctrl_c_with_130(tmp_path):
    """In a terminal (a pty): the table is drawn and redrawn until Ctrl-C, then exit 130."""
    import contextlib
    import os
    import pty
    import select
    import signal
    import time

    cfg = tiny_study(tmp_path, "open")  # a budget of 6, one trial done: not finished
    study = optuna.create_study(
        study_name="open",
        storage=stores.open_storage(stores.storage_url(None, tmp_path, "open")),
        direction="maximize",
    )
    study.set_user_attr(contract.STUDY_CONFIG, cfg.model_dump(mode="json"))
    study.add_trial(_trial(0, 0.8, [1.0, 1.0, 1.0], baseline="kaiming"))
    args = ["study", "status", "open", "--workdir", str(tmp_path), "--watch", "--interval", "0.2"]
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "initsearch", *args],
        stdout=child_fd,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    os.close(child_fd)
    shown, deadline = b"", time.monotonic() + 60
    while shown.count(b"kaiming") < 2 and time.monotonic() < deadline:  # drawn, redrawn
        if select.select([main_fd], [], [], 1.0)[0]:
            shown += os.read(main_fd, 65536)
    assert shown.count(b"kaiming") >= 2 and proc.poll() is None, shown[-2000:]
    proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:  # keep the terminal drained
        if select.select([main_fd], [], [], 0.2)[0]:
            with contextlib.suppress(OSError):
                os.read(main_fd, 65536)
    _, err = proc.communicate(timeout=30)
    os.close(main_fd)
    assert proc.returncode == 130, err
    assert "stopped watching" in err and "Traceback" not in err
