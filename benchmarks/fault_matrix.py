"""The fault matrix, run for real: each fault injected into a small study, then the study
started again until it ends; what is left in Optuna and MLflow is counted.

Every row must end with 0 trials lost, 0 duplicated and 0 stuck RUNNING or WAITING, and one
MLflow run per trial. Faults: the driver killed (SIGKILL, its Ray with it) while the
baselines run and started again at once; the driver stopped with SIGTERM and with SIGINT
mid-search; a Ray worker killed mid-trial; a torn journal tail (a partial line, as a crash
mid-write leaves) repaired with ``study repair``; a typo in the study file. The table
(markdown) goes to stdout and docs/faults.md quotes it.

    .venv/bin/python benchmarks/fault_matrix.py [--out runs/fault-matrix]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BUDGET = 8
BASELINES = ["kaiming", "xavier", "emergence(alpha=1.1)"]
START_TIMEOUT_S = 600


def study_file(folder: Path, name: str, **changes) -> Path:
    """A small study whose trials take a few seconds on one core, so faults land mid-trial."""
    raw = {
        "name": name,
        "data": {"name": "digits"},
        "model": {"name": "mlp", "depth": 2, "width": 64},
        "train": {"epochs": 25, "batch_size": 16, "lr": 0.02},
        "baselines": {"schemes": ["kaiming", "xavier", "emergence"], "emergence_alphas": [1.1]},
        "pruner": {"name": "none"},
        "budget": {"trials": BUDGET},
        "confirm": {"after_search": False},
        "ray": {"pack": 1, "workers": 2},
        "workdir": str(folder),
        **changes,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


class Run:
    """``python -m initsearch ARGS`` in its own process group and Ray temp folder."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.ray_tmp = f"/tmp/rt_{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "RAY_TMPDIR": self.ray_tmp, "COLUMNS": "200"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "initsearch", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def finish(self, timeout: float = START_TIMEOUT_S) -> tuple[int, str]:
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            _, err = self.proc.communicate()
        self.signal(signal.SIGKILL)  # nothing of it may outlive it
        shutil.rmtree(self.ray_tmp, ignore_errors=True)
        return self.proc.returncode, err


def open_study(folder: Path, name: str):
    import optuna

    from initsearch.stores import open_storage, storage_url

    try:
        return optuna.load_study(
            study_name=name, storage=open_storage(storage_url(None, folder, name))
        )
    except Exception:  # noqa: BLE001 - a study that was never created, or no storage file
        return None


def wait_for(check: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def trials_in(folder: Path, name: str, state: str) -> int:
    study = open_study(folder, name)
    if study is None:
        return 0
    return sum(t.state.name == state for t in study.get_trials(deepcopy=False))


@dataclass
class Row:
    fault: str
    sees: str
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    mlflow: str = ""
    exit_codes: str = ""


def count(folder: Path, name: str, row: Row) -> Row:
    """Lost, duplicated and stuck trials and the MLflow runs per trial, from the stores."""
    from mlflow import MlflowClient

    from initsearch.contract import BASELINE, MLFLOW_RUN_ID, REQUEUED
    from initsearch.run.ledger import counts_toward_budget
    from initsearch.stores import tracking_uri

    study = open_study(folder, name)
    if study is None:
        row.mlflow = "no study created"
        return row
    trials = study.get_trials(deepcopy=False)
    counted = sum(counts_toward_budget(t) for t in trials)
    baselines = Counter(
        t.user_attrs[BASELINE]
        for t in trials
        if BASELINE in t.user_attrs and not t.user_attrs.get(REQUEUED)
    )
    row.lost = max(0, BUDGET - counted) + sum(1 for b in BASELINES if baselines[b] == 0)
    row.duplicated = max(0, counted - BUDGET) + sum(max(0, c - 1) for c in baselines.values())
    row.stuck = sum(t.state.name in ("RUNNING", "WAITING") for t in trials)
    client = MlflowClient(tracking_uri(None, str(folder), name))
    experiment = client.get_experiment_by_name(f"initsearch/{name}")
    runs = client.search_runs([experiment.experiment_id], max_results=1000) if experiment else []
    by_id = {r.info.run_id: r for r in runs}
    per_trial = Counter(
        r.data.tags.get("optuna.trial_number") for r in runs if "optuna.trial_number" in r.data.tags
    )
    without = sum(t.user_attrs.get(MLFLOW_RUN_ID) not in by_id for t in trials)
    twice = sum(c > 1 for c in per_trial.values())
    states = Counter(by_id[t.user_attrs[MLFLOW_RUN_ID]].info.status for t in trials
                     if t.user_attrs.get(MLFLOW_RUN_ID) in by_id)  # fmt: skip
    row.mlflow = (
        f"{len(per_trial)} runs for {len(trials)} trials; {without} trials without a run, "
        f"{twice} with two; " + ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
    )
    return row


def restart(folder: Path, file: Path) -> int:
    code, _ = Run("study", "start", str(file), cwd=folder).finish()
    return code


def fault_kill_driver(folder: Path) -> Row:
    file = study_file(folder, "kill9")
    first = Run("study", "start", str(file), cwd=folder)
    wait_for(lambda: trials_in(folder, "kill9", "RUNNING") >= 2, 180)
    first.signal(signal.SIGKILL)
    code1, _ = first.finish()
    code2 = restart(folder, file)  # at once: no waiting out the heartbeat window
    row = Row("driver SIGKILLed while baselines run; started again at once",
              "the restart re-runs the dead driver's trials and ends normally")  # fmt: skip
    row.exit_codes = f"{code1}, {code2}"
    return count(folder, "kill9", row)


def fault_signal(folder: Path, sig: int, name: str) -> Row:
    file = study_file(folder, name)
    first = Run("study", "start", str(file), cwd=folder)
    wait_for(lambda: trials_in(folder, name, "COMPLETE") >= 4, 300)
    first.signal(sig)
    code1, err = first.finish()
    dump = "Traceback" in err or "Stack trace" in err or "*** " in err
    code2 = restart(folder, file)
    label = signal.Signals(sig).name
    row = Row(f"driver stopped with {label} mid-search; started again",
              f"clean stop, exit {code1}{' with a stack dump' if dump else ''}; "
              "the restart finishes the budget")  # fmt: skip
    row.exit_codes = f"{code1}, {code2}"
    return count(folder, name, row)


def fault_worker(folder: Path) -> Row:
    file = study_file(folder, "worker")
    first = Run("study", "start", str(file), cwd=folder)

    def running_pid() -> int | None:
        study = open_study(folder, "worker")
        for t in study.get_trials(deepcopy=False) if study else []:
            if t.state.name == "RUNNING" and "pid" in t.user_attrs:
                return int(t.user_attrs["pid"])
        return None

    wait_for(running_pid, 180)
    pid = running_pid()
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    code, _ = first.finish()
    row = Row("a Ray worker SIGKILLed mid-trial",
              "its trial fails as 'worker lost' and is re-run once; the study goes on")  # fmt: skip
    row.exit_codes = str(code)
    return count(folder, "worker", row)


def fault_torn_journal(folder: Path) -> Row:
    file = study_file(folder, "torn", budget={"trials": BUDGET})
    first = Run("study", "start", str(file), "--trials", "4", cwd=folder)
    first.finish()
    journal = folder / "torn" / "optuna.journal"
    with journal.open("a") as f:
        f.write('{"op_code": 5, "worker_id": "x", "trial_id": 3, "par')  # cut mid-record
    refused, err = Run("study", "start", str(file), cwd=folder).finish()
    repaired, _ = Run("study", "repair", "torn", "--workdir", str(folder), cwd=folder).finish()
    code = restart(folder, file)
    row = Row("a torn journal tail (partial last line)",
              f"start refuses with exit {refused} naming `study repair`; repair keeps every "
              "intact record; the restart finishes the budget")  # fmt: skip
    row.exit_codes = f"{refused}, {repaired}, {code}"
    return count(folder, "torn", row)


def fault_typo(folder: Path) -> Row:
    file = study_file(folder, "typo", search={"base_init": "kaimng"})
    code, err = Run("study", "start", str(file), cwd=folder).finish()
    last = err.strip().splitlines()[-1] if err.strip() else ""
    last = last.split(".yaml: ", 1)[-1][:90]  # the problem, without the file's path
    row = Row("a typo in the study file (search.base_init: kaimng)", f"exit {code}: {last}")
    row.exit_codes = str(code)
    row.mlflow = "nothing created" if not (folder / "typo").exists() else "a study folder exists"
    return row


FAULTS = {
    "kill9": fault_kill_driver,
    "sigterm": lambda folder: fault_signal(folder, signal.SIGTERM, "sigterm"),
    "sigint": lambda folder: fault_signal(folder, signal.SIGINT, "sigint"),
    "worker": fault_worker,
    "torn": fault_torn_journal,
    "typo": fault_typo,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/fault-matrix", help="working folder (emptied)")
    parser.add_argument("--only", nargs="*", choices=sorted(FAULTS), help="faults to run")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    rows = []
    for key in args.only or list(FAULTS):
        folder = out / key
        folder.mkdir(parents=True)
        started = time.monotonic()
        rows.append(FAULTS[key](folder))
        print(f"{key}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    print("| fault | what the user sees | exit codes | lost | duplicated | stuck | MLflow |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.fault} | {r.sees} | {r.exit_codes} | {r.lost} | {r.duplicated} | "
              f"{r.stuck} | {r.mlflow} |")  # fmt: skip


if __name__ == "__main__":
    main()
