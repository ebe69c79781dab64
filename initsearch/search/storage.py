"""Where a study's trials live: an embedded journal file by default, any SQLAlchemy URL else.

Plain SQLite is not offered as the default: it has no ``SELECT ... FOR UPDATE``, so several
workers race on enqueued trials and hit "database is locked" (Optuna's FAQ advises against it
for parallel optimisation). Optuna's journal file backend appends operations to a log under a
file lock, needs no server, and is safe with several processes on one machine. For several
machines use PostgreSQL (``postgresql+psycopg2://user:pass@host/db``).

Several drivers may share one study. Optuna makes its own steps safe (trial numbers, popping an
enqueued trial), but "look, then write" steps of ours are not: enqueueing the baselines, failing
stale trials, creating the MLflow experiment. :func:`study_lock` serialises those across
processes and machines: a PostgreSQL advisory lock on a server store, a file lock beside an
embedded one.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from initsearch.errors import ConfigError

JOURNAL_PREFIX = "journal://"

_CACHE: dict[str, optuna.storages.BaseStorage] = {}


def default_study_dir(workdir: str | Path, study_name: str) -> Path:
    return Path(workdir) / study_name


def resolve_storage_url(url: str | None, workdir: str | Path, study_name: str) -> str:
    """The storage URL a study uses: the configured one, or a journal file in its folder."""
    if url:
        return url
    path = (default_study_dir(workdir, study_name) / "optuna.journal").resolve()
    return f"{JOURNAL_PREFIX}{path}"


def is_embedded(url: str) -> bool:
    """Stores that live in a local file (unreachable from other machines)."""
    return url.startswith(JOURNAL_PREFIX) or url.startswith("sqlite:")


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """Open (and cache per process) the storage behind ``url``."""
    if url in _CACHE:
        return _CACHE[url]
    if url.startswith(JOURNAL_PREFIX):
        path = Path(url[len(JOURNAL_PREFIX) :])
        path.parent.mkdir(parents=True, exist_ok=True)
        storage: optuna.storages.BaseStorage = JournalStorage(JournalFileBackend(str(path)))
    elif "://" in url:
        if url.startswith("sqlite:"):
            db = url.split("///", 1)[-1]
            if db and db != ":memory:":
                Path(db).parent.mkdir(parents=True, exist_ok=True)
        try:
            with _schema_lock(url):
                storage = RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except Exception as err:  # sqlalchemy raises many types for a bad URL or server
            raise ConfigError(
                f"cannot open the study storage {url!r}: {err}. Check the URL, that the "
                "database server runs and accepts the user, or leave storage unset for the "
                "embedded journal file"
            ) from None
    else:
        raise ConfigError(
            f"storage {url!r} is not a URL; use journal:///path/to/file.journal or an "
            "SQLAlchemy URL such as postgresql+psycopg2://user:pass@host/db"
        )
    _CACHE[url] = storage
    return storage


def check_workers(url: str, workers: int) -> None:
    if url.startswith("sqlite:") and workers > 1:
        raise ConfigError(
            f"storage {url} is SQLite, which is not safe with {workers} parallel workers "
            "(no row locking: enqueued trials race and writes fail with 'database is locked'); "
            "leave storage unset for the embedded journal file, use PostgreSQL, or set "
            "ray.workers: 1"
        )


LOCK_TIMEOUT_S = 300.0


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock``."""
    digest = hashlib.blake2b(f"initsearch:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def _pg_lock(engine, name: str, timeout_s: float) -> Iterator[None]:
    """Hold a transaction-scoped advisory lock: released at commit, rollback, or when the
    holder's connection dies (a killed driver cannot leave it held)."""
    from sqlalchemy import exc, text

    with engine.begin() as conn:
        conn.execute(
            text("SELECT set_config('lock_timeout', :t, true)"), {"t": f"{int(timeout_s * 1000)}ms"}
        )
        try:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(name)})
        except exc.OperationalError as err:
            raise TimeoutError(
                f"waited {timeout_s:.0f} s for the lock {name!r} held by another process: {err}"
            ) from None
        yield


@contextlib.contextmanager
def _file_lock(path: Path, timeout_s: float) -> Iterator[None]:
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
def _schema_lock(url: str) -> Iterator[None]:
    """Serialise Optuna's table creation: ``CREATE TABLE`` run by two processes at once on a
    fresh PostgreSQL database fails with a unique violation on ``pg_type``."""
    if not url.startswith("postgresql"):
        yield
        return
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with _pg_lock(engine, "optuna-schema", LOCK_TIMEOUT_S):
            yield
    finally:
        engine.dispose()


_WARNED: set[str] = set()


@contextlib.contextmanager
def study_lock(url: str, study_name: str, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Exclusive access to ``study_name`` among all drivers sharing the storage at ``url``, for
    check-then-write steps (not reentrant: do not nest)."""
    if url.startswith(JOURNAL_PREFIX):
        path = Path(url[len(JOURNAL_PREFIX) :])
        with _file_lock(path.with_name(f"{path.name}.{study_name}.lock"), timeout_s):
            yield
    elif url.startswith("sqlite:"):
        db = url.split("///", 1)[-1]
        if not db or db == ":memory:":
            yield  # one process only
            return
        with _file_lock(Path(f"{db}.{study_name}.lock"), timeout_s):
            yield
    elif url.startswith("postgresql"):
        storage = open_storage(url)
        assert isinstance(storage, RDBStorage)
        with _pg_lock(storage.engine, f"study:{study_name}", timeout_s):
            yield
    else:
        if url not in _WARNED:
            _WARNED.add(url)
            warnings.warn(
                f"no cross-process study lock for {url.split(':', 1)[0]}; start one driver at a "
                "time per study (PostgreSQL and the journal file are guarded)",
                stacklevel=3,
            )
        yield
