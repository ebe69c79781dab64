"""``initsearch study start|status`` as a user runs them: real subprocesses, a real local Ray
runtime per run, the journal file storage, and Ctrl-C (SIGINT to the process group, as a
terminal sends it) in the middle of a study.

Every process is started in a session of its own with a private ``RAY_TMPDIR``; every wait is
bounded, and whatever is still alive at the end (the group, and any process carrying that
``RAY_TMPDIR`` in its environment: Ray's daemons and workers) is killed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from initsearch.config import StudyConfig
from initsearch.labels import trial_label
from initsearch.run.ledger import counts_toward_budget
from tests.studyutil import tiny_study

pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 240  # a whole `study start` of a tiny study, Ray start included
INTERRUPT_EXIT_S = 60  # Ctrl-C to exit code


def write_study(cfg: StudyConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return path


class Cli:
    """``python -m initsearch ...`` in its own session (process group) and Ray temp dir."""

    def __init__(self, *args: str, cwd: Path, sigint_ignored: bool = False) -> None:
        self.ray_tmp = f"/tmp/rt_{uuid.uuid4().hex[:8]}"  # short: Ray's socket paths
        env = {**os.environ, "RAY_TMPDIR": self.ray_tmp, "COLUMNS": "200"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "initsearch", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            # as `cmd &` in a script (and what Ray spawns from there) starts: SIGINT ignored
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
            if sigint_ignored
            else None,
        )
        self.out = self.err = ""

    def wait(self, timeout: float) -> int:
        try:
            self.out, self.err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.out, self.err = self.proc.communicate()
            pytest.fail(f"`initsearch` did not end within {timeout} s:\n{self.err[-3000:]}")
        return self.proc.returncode

    def interrupt(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)

    def leftovers(self) -> list[tuple[int, str]]:
        """Live processes of this run: in its process group, or Ray's (by RAY_TMPDIR)."""
        marker = f"RAY_TMPDIR={self.ray_tmp}".encode()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if stat[0] == "Z":  # exited, waiting to be reaped: not running
                    continue
                environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
                if int(stat[2]) == self.proc.pid or marker in environ:
                    cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
                    found.append((int(entry), cmd.decode(errors="replace")[:150]))
        return found

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid, _ in self.leftovers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.communicate(timeout=30)
        else:
            self.kill()  # strays of an ended run (none expected; asserted by the tests)
        shutil.rmtree(self.ray_tmp, ignore_errors=True)  # Ray's session files and logs


@contextlib.contextmanager
def cli(*args: str, cwd: Path, sigint_ignored: bool = False) -> Iterator[Cli]:
    run = Cli(*args, cwd=cwd, sigint_ignored=sigint_ignored)
    try:
        yield run
    finally:
        run.close()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(check, timeout: float, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    return check()


def journal_study(cfg: StudyConfig) -> optuna.Study | None:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = Path(cfg.workdir) / cfg.name / "optuna.journal"
    if not path.exists():
        return None
    try:
        return optuna.load_study(
            study_name=cfg.name, storage=JournalStorage(JournalFileBackend(str(path)))
        )
    except KeyError:  # the file exists, the study is not in it yet
        return None


def baseline_counts(trials: list[optuna.trial.FrozenTrial]) -> Counter:
    """Baselines as the study counts them: a failed trial that was re-run counts once, by its
    retry."""
    return Counter(
        t.user_attrs["baseline"]
        for t in trials
        if "baseline" in t.user_attrs and not t.user_attrs.get("requeued")
    )


def check_status(target: str, workdir: Path, study: optuna.Study) -> None:
    """``study status`` by name or file: the states, the best value and the baselines' rows."""
    with cli("study", "status", target, "--workdir", str(workdir), cwd=workdir) as status:
        assert status.wait(120) == 0, status.err[-3000:]
    out, trials = status.out, study.get_trials()
    states = Counter(t.state.name.lower() for t in trials)
    assert f"study {study.study_name}: {len(trials)} trials" in out
    assert all(f"{state} {n}" in out for state, n in states.items())
    best = study.best_trial
    label = trial_label(best.user_attrs, best.number)
    assert f"best val_accuracy: {best.value:.4f} ({label}, trial {best.number})" in out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    for t in trials:
        if "baseline" in t.user_attrs and not t.user_attrs.get("requeued"):
            row = next(line for line in rows if f" {t.user_attrs['baseline']} " in line)
            assert "complete" in row and f"{t.value:.4f}" in row


def test_status_of_a_missing_study_exits_2_with_a_clear_message(tmp_path):
    with cli("study", "status", "nope", "--workdir", str(tmp_path), cwd=tmp_path) as status:
        assert status.wait(120) == 2
    assert "no study 'nope'" in status.err
    assert "initsearch study start" in status.err  # says how to fix it
    assert "Traceback" not in status.err


def test_ctrl_c_requeues_running_trials_then_start_completes_and_status_shows_it(tmp_path):
    """Ctrl-C mid-study: exit 130, nothing left running, the running trials failed and
    enqueued again; ``study start`` again: exit 0, the full budget, no baseline twice;
    ``study status`` (by name and by file) shows the best value and the baselines."""
    # 60 epochs, one trial per task: several seconds per trial, so the interrupt lands while
    # trials run (packs would finish the four trials together, sooner)
    cfg = tiny_study(
        tmp_path,
        train={"epochs": 60},
        budget={"trials": 4},
        baselines={"schemes": ["kaiming", "xavier"]},
        ray={"pack": 1},
    )
    file = write_study(cfg, tmp_path / "tiny.yaml")

    def running_on_a_worker() -> list[optuna.trial.FrozenTrial]:
        study = journal_study(cfg)
        if study is None:
            return []
        return [t for t in study.get_trials(states=(TrialState.RUNNING,)) if "pid" in t.user_attrs]

    # started with SIGINT ignored, as a background command of a script: Ctrl-C must still work
    with cli(
        "study", "start", str(file), "--workers", "2", cwd=tmp_path, sigint_ignored=True
    ) as run:
        victims = wait_until(running_on_a_worker, RUN_TIMEOUT_S)
        assert victims, f"no trial started running:\n{run.err[-3000:]}"
        # the leftover scan sees this run's processes, the trial workers included
        assert {v.user_attrs["pid"] for v in victims} <= {pid for pid, _ in run.leftovers()}
        sent = time.monotonic()
        run.interrupt()
        assert run.wait(INTERRUPT_EXIT_S) == 130, run.err[-3000:]
        took = time.monotonic() - sent
        assert "interrupted" in run.err
        # nothing of that run is left: the driver's group, Ray's daemons, its trial workers
        assert wait_until(lambda: not run.leftovers(), 30) is True, run.leftovers()
    trials = journal_study(cfg).get_trials()
    worker_pids = {t.user_attrs["pid"] for t in trials if "pid" in t.user_attrs}
    assert worker_pids and not [pid for pid in worker_pids if alive(pid)]
    interrupted = [t for t in trials if t.user_attrs.get("reason") == "interrupted by the user"]
    assert {v.number for v in victims} <= {t.number for t in interrupted}
    for t in interrupted:
        assert t.state == TrialState.FAIL and t.user_attrs["requeued"] is True
        retries = [r for r in trials if r.user_attrs.get("retry_of") == t.number]
        assert len(retries) == 1 and retries[0].state == TrialState.WAITING
    assert not [t for t in trials if t.state == TrialState.RUNNING]

    with cli("study", "start", str(file), "--workers", "2", cwd=tmp_path) as again:
        assert again.wait(RUN_TIMEOUT_S) == 0, again.err[-3000:]
        assert wait_until(lambda: not again.leftovers(), 30) is True, again.leftovers()
    trials = journal_study(cfg).get_trials()
    assert sum(counts_toward_budget(t) for t in trials) == 4
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert baseline_counts(trials) == {"kaiming": 1, "xavier": 1}
    for t in interrupted:
        retry = next(r for r in trials if r.user_attrs.get("retry_of") == t.number)
        assert retry.state == TrialState.COMPLETE and retry.params == t.params
    study = journal_study(cfg)
    assert f"best val_accuracy: {study.best_value:.4f}" in again.out  # start prints the status
    # ... and ends with where to look next
    assert f"initsearch study report tiny --workdir {tmp_path}" in again.out
    assert f"initsearch dashboard tiny --workdir {tmp_path}" in again.out
    for target in ("tiny", str(file)):
        check_status(target, tmp_path, study)
    print(f"Ctrl-C to exit: {took:.1f} s")  # shown with -s; the bound is INTERRUPT_EXIT_S
