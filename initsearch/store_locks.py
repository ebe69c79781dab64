"""Guards for several drivers and workers on one study: the study lock, and which storages
take parallel workers.

Several drivers may share one study. Optuna makes its own steps safe (trial numbers, popping
an enqueued trial), but "look, then write" steps of ours are not: enqueueing the baselines,
failing stale trials, creating the MLflow experiment. :func:`study_lock` serialises those
across processes and machines: a PostgreSQL advisory lock on a server store, a file lock
beside an embedded one. Plain SQLite has no row locking, so it takes one worker only
(:func:`check_workers`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

from optuna.storages import RDBStorage

from initsearch.errors import ConfigError
from initsearch.locks import LOCK_TIMEOUT_S, file_lock, pg_lock
from initsearch.stores import local_file, open_storage

_WARNED: set[str] = set()


def check_workers(url: str, workers: int) -> None:
    """Refuse parallel workers on plain SQLite (enqueued trials race, writes fail)."""
    if url.startswith("sqlite:") and workers > 1:
        raise ConfigError(
            f"storage {url} is SQLite, which is not safe with {workers} parallel workers "
            "(no row locking: enqueued trials race and writes fail with 'database is locked'); "
            "leave storage unset for the embedded journal file, use PostgreSQL, or set "
            "ray.workers: 1"
        )


@contextlib.contextmanager
def study_lock(url: str, study_name: str, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Exclusive access to ``study_name`` among all drivers sharing the storage at ``url``, for
    check-then-write steps (not reentrant: do not nest)."""
    path = local_file(url)  # a journal or SQLite file: a lock file beside it
    if path is not None:
        with file_lock(path.with_name(f"{path.name}.{study_name}.lock"), timeout_s):
            yield
    elif url.startswith("sqlite:"):
        yield  # an in-memory database: one process only
    elif url.startswith("postgresql"):
        storage = open_storage(url)
        assert isinstance(storage, RDBStorage)
        with pg_lock(storage.engine, f"study:{study_name}", timeout_s):
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
