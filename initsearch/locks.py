"""Cross-process lock primitives: a PostgreSQL advisory lock and a file lock.

They serialise "look, then write" steps across processes (the file lock) and machines (the
advisory lock): creating Optuna's tables on a fresh database (:func:`schema_lock`, used when a
storage is opened) and a study's own steps (:func:`initsearch.store_locks.study_lock`).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_TIMEOUT_S = 300.0


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock``."""
    digest = hashlib.blake2b(f"initsearch:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def pg_lock(engine, name: str, timeout_s: float) -> Iterator[None]:
    """Hold a transaction-scoped advisory lock: released at commit, rollback, or when the
    holder's connection dies (a killed driver cannot leave it held)."""
    from sqlalchemy import exc, text

    with engine.begin() as conn:
        conn.execute(
            text("SELECT set_config('lock_timeout', :t, true)"), {"t": f"{int(timeout_s * 1000)}ms"}
        )
        try:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(name)})
        except exc.OperationalError as err:
            raise TimeoutError(
                f"waited {timeout_s:.0f} s for the lock {name!r} held by another process: {err}"
            ) from None
        yield


@contextlib.contextmanager
def file_lock(path: Path, timeout_s: float) -> Iterator[None]:
    """``flock`` on a lock file: per open file, so it also excludes threads of one process."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    with open(path, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"waited {timeout_s:.0f} s for the lock file {path} held by another process"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Serialise Optuna's table creation: ``CREATE TABLE`` run by two processes at once on a
    fresh PostgreSQL database fails with a unique violation on ``pg_type``."""
    if not url.startswith("postgresql"):
        yield
        return
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with pg_lock(engine, "optuna-schema", LOCK_TIMEOUT_S):
            yield
    finally:
        engine.dispose()
