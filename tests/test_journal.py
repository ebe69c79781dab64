"""A damaged journal file (issue 15): writers refuse it before appending anything, readers see
its intact trials with a warning, ``study repair`` keeps the intact records and moves the rest
aside, and the study resumes. Real journals written by Optuna, real ``initsearch`` processes,
and real crashes: writers SIGKILLed at random moments, or stopped by a full disk (a file size
limit) in the middle of an append.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from initsearch import journal_check
from initsearch.cli import main
from initsearch.errors import ConfigError
from initsearch.run.pool import InlinePool
from initsearch.search.locate import repair_study
from initsearch.search.study import study_driver
from initsearch.stores import (
    JOURNAL_FILE,
    forget_storage,
    open_for_reading,
    open_storage,
    storage_url,
    study_dir,
)
from tests.studyutil import tiny_study

REPO = Path(__file__).resolve().parents[1]
TORN = b'{"op_code":6,"worker_id":"a-writer-that-died-mid-wri'
CREATE_TRIAL = 4  # Optuna's JournalOperation.CREATE_TRIAL


def initsearch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "initsearch", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def plain_study(journal: Path, name: str) -> optuna.Study:
    """The study as plain Optuna reads the file now (no cache, no checks of ours)."""
    return optuna.load_study(
        study_name=name, storage=JournalStorage(JournalFileBackend(str(journal)))
    )


def optuna_journal(workdir: Path, trials: int = 4) -> tuple[str, Path, list[bytes]]:
    """A study ``s`` with finished trials in its default journal; (url, file, its lines)."""
    url = storage_url(None, workdir, "s")
    study = optuna.create_study(study_name="s", storage=open_storage(url))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=trials)
    forget_storage(url)  # the tests damage the file under it
    journal = study_dir(workdir, "s") / JOURNAL_FILE
    return url, journal, journal.read_bytes().splitlines(keepends=True)


# ---- the case, end to end with the command line -------------------------------------


def test_a_torn_tail_is_refused_read_around_repaired_then_the_study_resumes(tmp_path, capsys):
    cfg = tiny_study(tmp_path, train={"epochs": 2}, budget={"trials": 3})  # the baselines
    study_driver(cfg, InlinePool()).run()
    journal = study_dir(tmp_path, cfg.name) / JOURNAL_FILE
    whole = journal.read_bytes()
    records = whole.count(b"\n")
    with open(journal, "ab") as f:  # what a crash or a full disk mid-write leaves
        f.write(TORN)
    study_file = tmp_path / "tiny.yaml"
    resumed = cfg.model_copy(update={"budget": cfg.budget.model_copy(update={"trials": 4})})
    study_file.write_text(yaml.safe_dump(resumed.model_dump(mode="json"), sort_keys=False))

    # writers refuse, in one line, before appending anything
    for args in (("start", str(study_file), "--inline"), ("confirm", "tiny", "--inline")):
        run = initsearch("study", *args, "--workdir", str(tmp_path), cwd=tmp_path)
        assert run.returncode == 2, run.stderr[-3000:]
        assert "Traceback" not in run.stderr
        [error] = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
        assert f"damaged at line {records + 1} (byte {len(whole)})" in error
        assert "a last line without its newline" in error
        assert f"the {records} records before it are intact" in error
        assert journal.read_bytes() == whole + TORN
    fix = re.search(r"`(initsearch study repair [^`]+)`", error).group(1)
    assert fix == f"initsearch study repair tiny --workdir {tmp_path}"

    # status reads every intact trial, the warning on top
    status = initsearch("study", "status", "tiny", "--workdir", str(tmp_path), cwd=tmp_path)
    assert status.returncode == 0, status.stderr[-3000:]
    top = status.stdout.splitlines()[0]
    assert top.startswith("warning: journal") and f"line {records + 1}" in top and fix in top
    assert "study tiny: 3 trials  complete 3" in status.stdout
    assert journal.read_bytes() == whole + TORN

    # the repair the message names keeps the intact records and a copy of the tail
    repair = initsearch(*shlex.split(fix)[1:], cwd=tmp_path)
    assert repair.returncode == 0, repair.stderr[-3000:]
    assert f"kept {records} records ({len(whole)} bytes)" in repair.stdout
    copy = Path(re.search(r" to (\S+\.torn-\d{8}T\d{6}Z\S*)$", repair.stdout, re.M).group(1))
    assert copy.parent == journal.parent and copy.read_bytes() == TORN
    assert journal.read_bytes() == whole
    with pytest.raises(SystemExit) as again:  # again: nothing to do
        main(shlex.split(fix)[1:])
    assert again.value.code == 0
    assert f"is intact: {records} records; nothing changed" in capsys.readouterr().out
    assert journal.read_bytes() == whole

    start = initsearch("study", "start", str(study_file), "--inline", cwd=tmp_path)
    assert start.returncode == 0, start.stderr[-3000:]
    trials = plain_study(journal, cfg.name).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert journal.read_bytes().startswith(whole)


# ---- every kind of damage, where it is, what repair keeps ----------------------------------


def damaged(lines: list[bytes], kind: str) -> tuple[bytes, int]:
    """The journal's bytes with damage of ``kind``, and the intact records before it."""
    k, n = len(lines) // 2, len(lines)
    head, tail = b"".join(lines[:k]), b"".join(lines[k:])
    return {
        "torn tail": (b"".join(lines) + TORN, n),
        "NUL tail (a machine crash)": (b"".join(lines) + b"\0" * 4096, n),
        # the old failure: the next append glued onto the torn line, then more records
        "append glued onto a torn line": (b"".join(lines) + TORN + lines[-1] + lines[-1], n),
        "not JSON in the middle": (head + b"garbage\n" + tail, k),
        "NUL block in the middle": (head + b"\0" * len(lines[k]) + b"".join(lines[k + 1 :]), k),
        "JSON that is no record": (head + b"[1, 2]\n" + tail, k),
    }[kind]


@pytest.mark.parametrize(
    "kind",
    [
        "torn tail",
        "NUL tail (a machine crash)",
        "append glued onto a torn line",
        "not JSON in the middle",
        "NUL block in the middle",
        "JSON that is no record",
    ],
)
def test_damage_is_located_refused_read_around_and_repaired(tmp_path, kind):
    url, journal, lines = optuna_journal(tmp_path)
    data, kept = damaged(lines, kind)
    journal.write_bytes(data)
    start = len(b"".join(lines[:kept]))
    after = len(data[start:].splitlines()) - 1

    with pytest.raises(ConfigError) as refused:
        open_storage(url)
    message = str(refused.value)
    assert f"damaged at line {kept + 1} (byte {start})" in message
    assert f"the {kept} records before it are intact" in message
    assert (f"then {after} more lines" in message) == (after > 0)
    assert f"`initsearch study repair s --workdir {tmp_path}`" in message
    assert "\n" not in message and journal.read_bytes() == data

    view, note = open_for_reading(url)
    assert note is not None and note.startswith("warning: ") and f"line {kept + 1}" in note
    prefix = [json.loads(line) for line in lines[:kept]]
    trials = optuna.load_study(study_name="s", storage=view).trials
    assert len(trials) == sum(r["op_code"] == CREATE_TRIAL for r in prefix) > 0
    with pytest.raises(ConfigError, match="nothing was written"):
        optuna.load_study(study_name="s", storage=view).set_user_attr("k", 1)
    assert journal.read_bytes() == data

    done = repair_study("s", str(tmp_path))
    assert done.found.records == kept and done.found.lines_after == after
    assert done.copy is not None and done.copy.read_bytes() == data[start:]
    assert journal.read_bytes() == data[:start]
    study = optuna.load_study(study_name="s", storage=open_storage(url))  # whole again
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert journal_check.scan(journal).intact


def test_a_live_writer_refuses_to_append_after_a_tail_torn_by_another(tmp_path):
    """One writer dies mid-append while another runs on: the live one must not glue its next
    record onto the torn line (every append checks the tail under the lock)."""
    url = storage_url(None, tmp_path, "s")
    study = optuna.create_study(study_name="s", storage=open_storage(url))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    journal = study_dir(tmp_path, "s") / JOURNAL_FILE
    with open(journal, "ab") as f:
        f.write(TORN)
    before = journal.read_bytes()
    with pytest.raises(ConfigError, match=r"damaged at line \d+ .*initsearch study repair s"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert journal.read_bytes() == before
    assert not os.path.lexists(journal_check.lock_file(journal))  # the lock was let go
    forget_storage(url)


def test_an_append_in_progress_is_no_damage(tmp_path):
    """A line still being written is a live writer's, not a torn one: writers and readers
    opening the journal then wait for it to end (an append takes milliseconds)."""
    url, journal, lines = optuna_journal(tmp_path)
    record = json.dumps({"op_code": 2, "worker_id": "w", "study_id": 0, "user_attr": {"a": 1}})
    for open_it in (open_storage, open_for_reading):
        with open(journal, "ab") as f:
            f.write(record[:20].encode())

        def finish_line() -> None:
            with open(journal, "ab") as f:
                f.write(record[20:].encode() + b"\n")

        finish = threading.Timer(0.3, finish_line)
        finish.start()
        opened = open_it(url)  # neither refuses nor warns
        finish.join()
        assert not isinstance(opened, tuple) or opened[1] is None
        forget_storage(url)
    assert journal_check.scan(journal).records == len(lines) + 2


def test_repair_waits_for_the_writers_lock(tmp_path):
    _, journal, lines = optuna_journal(tmp_path)
    with open(journal, "ab") as f:
        f.write(TORN)
    lock = journal_check.journal_lock(journal)
    lock.acquire()  # a writer appending
    waited: list[Path] = []
    done: list[journal_check.Repair] = []
    repairing = threading.Thread(
        target=lambda: done.append(repair_study("s", str(tmp_path), waited.append))
    )
    repairing.start()
    time.sleep(0.5)
    assert repairing.is_alive() and journal.read_bytes().endswith(TORN)
    assert waited == [journal_check.lock_file(journal)]
    lock.release()
    repairing.join(10)
    assert done[0].found.records == len(lines) and journal.read_bytes() == b"".join(lines)


def test_repair_applies_to_journal_files_only(tmp_path, capsys):
    cfg = tiny_study(tmp_path, storage="postgresql+psycopg2://me:secret@db.example/studies")
    study_file = tmp_path / "pg.yaml"
    study_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    with pytest.raises(SystemExit) as exit_:
        main(["study", "repair", str(study_file)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "repair applies to journal files only" in err and "secret" not in err


# ---- real crashes in the middle of a write ---------------------------------------------------

WRITER = """
import resource, sys
import optuna
from initsearch.errors import ConfigError
from initsearch.stores import open_storage
optuna.logging.set_verbosity(optuna.logging.WARNING)
url, pad, full_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
study = optuna.create_study(study_name="crash", storage=open_storage(url), load_if_exists=True)
if full_at:  # the disk is full from this byte of the journal on
    resource.setrlimit(resource.RLIMIT_FSIZE, (full_at, full_at))
print("ready", flush=True)
try:
    while True:
        trial = study.ask()
        trial.set_user_attr("pad", "x" * pad)
        study.tell(trial, trial.number)
        print(trial.number, flush=True)  # finished: said only after tell returned
except OSError as err:  # the append that hit the full disk wrote part of its record
    print("full", err.errno, flush=True)
    try:
        study.ask()  # a writer that carries on must not glue a record onto that part
    except ConfigError:
        print("refused", flush=True)
"""


@pytest.mark.filterwarnings("ignore:The value of `grace_period` might be too small")
def test_writers_killed_mid_write_lose_no_finished_trial(tmp_path):
    """Rounds of a writer appending trials in a loop, ended by SIGKILL at a random moment or
    by a full disk (a file size limit) at a random byte, after which the writer carries on
    and its next append must be refused; after each round the journal is checked and
    repaired, and every trial the writer reported finished is still there."""
    journal = tmp_path / "crash.journal"
    url, rng = f"journal://{journal}", random.Random(15)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    finished: list[int] = []
    damage: list[str | None] = []
    for round_ in range(8):
        full = round_ % 2 == 1
        size = journal.stat().st_size if journal.exists() else 0
        full_at = size + rng.randrange(40_000, 200_000) if full else 0
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, url, "30000", str(full_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        try:
            assert writer.stdout.readline() == "ready\n", writer.communicate(timeout=30)[1]
            if not full:
                time.sleep(rng.uniform(0.05, 0.6))
                writer.send_signal(signal.SIGKILL)
            out, err = writer.communicate(timeout=60)
        finally:
            writer.kill()
        said = out.split()
        if full:  # the write was cut, the next append refused, the writer ended on its own
            assert said[-3:] == ["full", str(errno.EFBIG), "refused"], err[-3000:]
            assert writer.returncode == 0, err[-3000:]
            said = said[:-3]
        else:
            assert writer.returncode == -signal.SIGKILL, err[-3000:]
        reported = [int(n) for n in said]
        assert not finished or not reported or reported[0] > finished[-1]  # resumed after
        finished += reported

        # a killed writer may hold the lock: free it as Optuna would, soon (grace 1 s)
        done = journal_check.repair(journal, journal_check.journal_lock(journal, grace_period=1))
        found = done.found
        damage.append(found.damage)
        if full:
            assert found.damage == journal_check.TORN  # the append crossing the limit was cut
        if not found.intact:
            assert found.lines_after == 0  # nothing was appended after the damage
            assert (
                done.copy is not None
                and done.copy.stat().st_size == found.size - found.intact_bytes
            )
        assert journal_check.scan(journal).intact
        trials = {t.number: t for t in plain_study(journal, "crash").trials}
        lost = [n for n in finished if n not in trials or trials[n].state != TrialState.COMPLETE]
        assert lost == [], f"round {round_}: finished trials lost: {lost}"
        assert all(trials[n].value == n for n in finished)
    assert len(finished) > 10 and damage[1::2] == [journal_check.TORN] * 4
