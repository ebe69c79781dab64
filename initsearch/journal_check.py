"""Is a study's journal file whole? Find a torn or corrupt part before anything is appended,
read the intact records of a damaged journal, and move a damaged tail aside.

Optuna's ``JournalFileBackend`` appends JSON records, one per line, each append one write under
a file lock. A crash or a full disk in the middle of a write leaves a last line without its
newline; a crash of the machine can leave NUL bytes. Optuna's reader skips an unterminated
last line, so the next append is glued onto it: that line is then no JSON, and every later read
of the study raises. So every writer checks the journal when it opens it, and again each time
it holds the lock to append (the file must still end with a newline: a writer killed mid-write
elsewhere may have torn it since).

Records are operations replayed in order (a trial's id is the count of trials created before
it), so dropping one in the middle would silently renumber what follows: the intact records
are the ones *before* the first bad line, and a repair keeps exactly those and moves
everything from the bad line on into a copy beside the journal.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from optuna.storages.journal import BaseJournalBackend, JournalFileSymlinkLock

from initsearch.errors import ConfigError

TORN, NUL, CORRUPT = "torn", "nul", "corrupt"
LOCK_GRACE_S = 30  # Optuna's: a lock left unchanged this long counts as left by a dead writer
SETTLE_S = 1.0  # how long a live append may take before its unfinished line counts as torn

_WHAT = {
    TORN: "a last line without its newline (a write cut short by a crash or a full disk)",
    NUL: "NUL bytes (what a crash of the machine can leave)",
    CORRUPT: "a line that is not a JSON journal record",
}


@dataclass(frozen=True)
class JournalState:
    """What a scan found: the intact records, and where (and what) the damage is."""

    path: Path
    size: int  # bytes scanned
    intact_bytes: int  # the intact records end here; the damage, if any, starts here
    records: int  # intact records
    damage: str | None = None  # TORN, NUL or CORRUPT; None when the journal is whole
    lines_after: int = 0  # lines after the damaged one

    @property
    def intact(self) -> bool:
        return self.damage is None

    def problem(self) -> str:
        """One clause: what is wrong, where, and what precedes it."""
        if self.damage is None:
            return f"journal {self.path} is intact: {self.records} records"
        later = f", then {self.lines_after} more lines" if self.lines_after else ""
        return (
            f"journal {self.path} is damaged at line {self.records + 1} (byte "
            f"{self.intact_bytes}): {_WHAT[self.damage]}{later}; the {self.records} records "
            "before it are intact"
        )


def refusal(state: JournalState, fix: str) -> str:
    """A writer's one-line error: what is wrong and the command that fixes it."""
    return (
        f"{state.problem()}; nothing was written. Run `{fix}` to move the damaged part aside "
        "(a copy is kept) and keep the intact records"
    )


def reading_note(state: JournalState, fix: str) -> str:
    """A reader's one-line warning above what it shows from the intact records."""
    return f"warning: {state.problem()}; showing those only. Run `{fix}` to repair it"


# ---- scanning -------------------------------------------------------------------------------


def _fault(line: bytes) -> str | None:
    if b"\x00" in line:
        return NUL
    if not line.endswith(b"\n"):
        return TORN
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError, or bytes that are not UTF-8
        return CORRUPT
    if not isinstance(record, dict) or not isinstance(record.get("op_code"), int):
        return CORRUPT
    return None


def scan(path: Path, start: int = 0, records: int = 0) -> JournalState:
    """Check every line from byte ``start`` (after ``records`` intact records) to the end;
    a missing file is an empty, intact journal."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, also on the early return
    except FileNotFoundError:
        return JournalState(path, 0, 0, 0)
    with f:
        f.seek(start)
        offset = start
        for line in f:
            damage = _fault(line)
            if damage is not None:
                rest = [len(more) for more in f]
                size = offset + len(line) + sum(rest)
                return JournalState(path, size, offset, records, damage, len(rest))
            offset += len(line)
            records += 1
    return JournalState(path, offset, offset, records)


def settled(path: Path) -> JournalState:
    """:func:`scan`, telling a live writer's append in progress from a torn line: an append is
    one write of a few kilobytes, so a last line still without its newline after ``SETTLE_S``
    was cut short. (Not waiting for the journal's lock: a writer killed mid-write leaves it
    held, and Optuna frees it only after ``LOCK_GRACE_S``; every append checks again under
    the lock, :class:`TailGuard`.)"""
    state = scan(path)
    deadline = time.monotonic() + SETTLE_S
    while state.damage == TORN and time.monotonic() < deadline:
        time.sleep(0.05)
        state = scan(path, state.intact_bytes, state.records)
    return state


def intact_records(state: JournalState) -> list[dict[str, Any]]:
    """The records before the damage, parsed."""
    with open(state.path, "rb") as f:
        data = f.read(state.intact_bytes)
    return [json.loads(line) for line in data.splitlines()]


# ---- the lock -------------------------------------------------------------------------------


def journal_lock(path: Path, grace_period: int = LOCK_GRACE_S) -> JournalFileSymlinkLock:
    """The lock Optuna's ``JournalFileBackend`` takes by default for ``path`` (a symlink
    ``<path>.lock``): a repair holds the same one, so it never truncates under a writer."""
    return JournalFileSymlinkLock(str(path), grace_period=grace_period)


def lock_file(path: Path) -> Path:
    """The lock file :func:`journal_lock` creates while held (Optuna's naming)."""
    return Path(f"{path}.lock")


@contextlib.contextmanager
def held(lock: Any) -> Iterator[None]:
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _ends_whole(path: Path) -> bool:
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return True
        f.seek(size - 1)
        return f.read(1) == b"\n"


class TailGuard:
    """The journal's lock with a check once it is held: the file must end with a newline, or
    a writer killed mid-write has torn it and this append would be glued onto its line. Then
    the lock is let go and the append refused (ConfigError). Picklable, as Optuna's locks."""

    def __init__(self, lock: Any, path: Path, fix: str) -> None:
        self._lock, self._path, self._fix = lock, path, fix

    def acquire(self) -> bool:
        self._lock.acquire()
        try:
            if not _ends_whole(self._path):
                raise ConfigError(refusal(scan(self._path), self._fix))
        except BaseException:
            self._lock.release()
            raise
        return True

    def release(self) -> None:
        self._lock.release()


# ---- reading a damaged journal, repairing it ----------------------------------------------


class FrozenJournal(BaseJournalBackend):
    """A read-only journal backend over the intact records of a damaged journal (read once):
    readers see every intact trial; a write refuses with the repair command."""

    def __init__(self, state: JournalState, fix: str) -> None:
        self._records = intact_records(state)
        self._refusal = refusal(state, fix)

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        yield from self._records[log_number_from:]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        raise ConfigError(self._refusal)


@dataclass(frozen=True)
class Repair:
    """What a repair found (under the lock) and where the damaged part went (None: intact)."""

    found: JournalState
    copy: Path | None


def repair(path: Path, lock: Any, on_wait: Callable[[Path], None] | None = None) -> Repair:
    """Under the journal's lock: keep the intact records, move the rest into
    ``<journal>.torn-<UTC time>`` beside it; an intact journal is left as it is. ``on_wait``
    hears of a lock file already there (a writer holds it, or a killed one left it: Optuna's
    lock frees itself after ``LOCK_GRACE_S`` unchanged)."""
    if on_wait is not None and os.path.lexists(lock_file(path)):
        on_wait(lock_file(path))
    with held(lock):
        state = scan(path)
        if state.intact:
            return Repair(state, None)
        copy = _set_aside(path, state.intact_bytes)
        with open(path, "r+b") as f:
            f.truncate(state.intact_bytes)
            os.fsync(f.fileno())
    return Repair(state, copy)


def _set_aside(path: Path, start: int) -> Path:
    """Copy bytes ``start..`` of ``path`` into a new file beside it, durably."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in itertools.count():
        copy = path.with_name(f"{path.name}.torn-{stamp}" + (f"-{n}" if n else ""))
        try:
            out = open(copy, "xb")  # noqa: SIM115 - closed below
        except FileExistsError:
            continue
        with out, open(path, "rb") as src:
            src.seek(start)
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the copy's name is on disk before the journal is cut
        finally:
            os.close(folder)
        return copy
    raise AssertionError("unreachable")
