"""The platform-overhead benchmark runs end to end at a tiny setting and reports sane figures.

No timing assertions (the machine is shared): only that every row ran all its trials, that
the figures are positive and consistent, and that the driver's MLflow logging was measured.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray")
pytest.importorskip("mlflow")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "platform_overhead.py"


@pytest.mark.timeout(300)
def test_platform_overhead_script_writes_table_and_json(tmp_path):
    out = tmp_path / "overhead.json"
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--trials",
        "4",
        "--workers",
        "1",
        "--rows",
        "ours,optuna-sqlite",
        "--out",
        str(out),
        "--workdir",
        str(tmp_path / "work"),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Platform overhead per trial" in proc.stdout
    assert "Where the time goes: ours" in proc.stdout

    report = json.loads(out.read_text())
    assert [r["row"] for r in report["rows"]] == ["ours", "optuna-sqlite"]
    for row in report["rows"]:
        assert row["trials"] == row["finished_trials"] == 4, row
        for key in ("wall_s", "work_s", "train_s", "overhead_ms", "steady_ms"):
            assert row[key] > 0, (key, row)
        # run_trial's wall time contains its training epochs; the study's wall contains both
        assert row["train_s"] <= row["work_s"] < row["wall_s"] * report["settings"]["workers"]
        assert row["setup_s"] < row["wall_s"]
    ours = report["rows"][0]
    assert ours["ratio_to_ours"] == pytest.approx(1.0)
    assert ours["states"] == {"complete": 4}
    assert ours["mlflow_trial_runs"] == 4  # each trial's child run finished with its curve
    phases = report["phases"]["ours"]
    assert phases["MLflow log_trial"]["seconds"] > 0  # the shipped path logs every trial
    assert phases["ask (study.ask)"]["seconds"] > 0
    assert report["startup"]["warm_workers"] == 1
    assert report["command"] and report["date"] and report["host"]["loadavg_before"]


@pytest.mark.timeout(300)
def test_pack_throughput_script_reports_every_row(tmp_path):
    out = tmp_path / "packs.json"
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "pack_throughput.py"),
        "--device",
        "cpu",
        "--depth",
        "2",
        "--width",
        "16",
        "--samples",
        "512",
        "--packs",
        "1,3",
        "--threads",
        "1",
        "--json",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = {r["row"]: r for r in report["rows"]}
    assert list(rows) == ["plain loop", "engine (run_trial)", "pack K=1", "pack K=3"]
    for row in rows.values():
        assert row["epoch_seconds"] > 0 and row["tflops"] > 0 and row["gbps"] > 0
        assert row["trial_epochs_per_s"] == pytest.approx(row["trials"] / row["epoch_seconds"])
    assert rows["plain loop"]["x_plain"] == pytest.approx(1.0)
    assert rows["pack K=3"]["trials"] == 3


@pytest.mark.timeout(300)
def test_seed_pack_script_times_both_paths_and_checks_agreement(tmp_path):
    out = tmp_path / "seeds.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "seed_pack.py"), "--quick", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "speed-up" in proc.stdout
    (row,) = json.loads(out.read_text())["rows"]
    assert row["seeds"] == 2
    for key in ("sequential_s", "interleaved_s", "pack_s", "speedup"):
        assert row[key] > 0, (key, row)
    assert row["speedup"] == pytest.approx(row["sequential_s"] / row["pack_s"])
    assert row["interleaved_exact"] and row["same_steps"] and row["agree"], row


@pytest.mark.timeout(300)
def test_fault_matrix_script_counts_from_the_stores(tmp_path):
    """The fault matrix's quick rows: a torn journal repaired and a typo refused, counted from
    the stores (docs/faults.md has the whole table)."""
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "fault_matrix.py"),
        "--out",
        str(tmp_path / "faults"),
        "--only",
        "typo",
        "torn",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| a ")]
    assert len(rows) == 2, proc.stdout
    torn = next(r for r in rows if "torn journal" in r)
    cells = [c.strip() for c in torn.strip("|").split("|")]
    assert cells[2:6] == ["2, 0, 0", "0", "0", "0"], torn
    assert "0 trials without a run, 0 with two" in cells[6]
    typo = next(r for r in rows if "typo" in r)
    assert "unknown init" in typo and "nothing created" in typo


@pytest.mark.timeout(300)
def test_quickstart_vs_optuna_reports_a_ratio(tmp_path):
    """Both rows run a tiny study (1 epoch, 2 trials) as a user runs them, in fresh
    processes and folders; the table and the JSON give each row's median and the ratio."""
    import yaml

    from tests.studyutil import tiny_study

    cfg = tiny_study(tmp_path, name="tiny", train={"epochs": 1}, baselines={"schemes": ["kaiming"]})
    raw = cfg.model_dump(mode="json", exclude_defaults=True)
    raw.pop("workdir", None)
    study = tmp_path / "tiny.yaml"
    study.write_text(yaml.safe_dump(raw))
    out = tmp_path / "ratio.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "quickstart_vs_optuna.py"), "--study"]
    cmd += [str(study), "--trials", "2", "--repeats", "1", "--workdir", str(tmp_path / "w")]
    proc = subprocess.run(cmd + ["--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| initsearch |" in proc.stdout and "| optuna |" in proc.stdout
    report = json.loads(out.read_text())
    assert report["ratio"] == pytest.approx(
        report["median_s"]["initsearch"] / report["median_s"]["optuna"]
    )
    runs = {r["row"]: r for r in report["runs"]}
    assert sum(runs["optuna"]["states"].values()) == 2  # the plain script ran the budget
    assert (tmp_path / "w" / "initsearch-0" / "tiny" / "mlflow.db").is_file()
    # the timestamps the study printed (INITSEARCH_TIMING) split its wall time
    marks = runs["initsearch"]["marks"]
    assert 0 < marks["ready"] < marks["driver-ready"] < marks["search-done"]
