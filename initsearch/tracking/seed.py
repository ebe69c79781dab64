"""A new local MLflow SQLite database, copied from a migrated template instead of migrated.

MLflow creates a SQLite tracking database by running its whole chain of schema migrations,
about 1.2 s on the 2-core dev machine, and it does so for every new database (every new
study), not once per process. So the first time a version of MLflow is seen, an empty
database is migrated once into ``<cache>/mlflow-<version>-empty.db`` (``<cache>``:
``$INITSEARCH_CACHE``, else ``$XDG_CACHE_HOME/initsearch``, else ``~/.cache/initsearch``);
after that a study's new ``mlflow.db`` is a copy of it (milliseconds). MLflow still checks
the copy's schema version against its own head when it opens it, so a stale template fails
loudly rather than silently; the version is in the file name, so an upgrade builds a new one.

The copy is made under a temporary name and linked into place, which fails if another
process created the database meanwhile (that one is kept). The Default experiment in the
copy is given the artifact location and time MLflow would have given it here. Anything
unusual (an unwritable cache, no hard links) falls back to MLflow creating the database.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from initsearch.stores import SQLITE_PREFIX, local_file

CACHE_ENV = "INITSEARCH_CACHE"


def cache_dir() -> Path:
    """Where initsearch keeps what it can rebuild (the MLflow template)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "initsearch"


def template_path() -> Path:
    return cache_dir() / f"mlflow-{importlib.metadata.version('mlflow')}-empty.db"


def _unique(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.{suffix}")


def build_template() -> Path | None:
    """The migrated empty database of this MLflow version, built if missing; None when the
    cache cannot be written."""
    path = template_path()
    if path.is_file():
        return path
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _unique(path, "build")
        with tempfile.TemporaryDirectory() as artifacts:
            store = SqlAlchemyStore(f"{SQLITE_PREFIX}{tmp}", artifacts)
            store.engine.dispose()
        os.replace(tmp, path)  # a reader sees the whole template or none
    except OSError:
        return None
    return path


def _adopt(db: Path) -> None:
    """Give the copy's Default experiment what MLflow would have given it in this process:
    ``./mlruns/0`` of the current folder (MLflow's default artifact root for SQLite) and now."""
    now = int(time.time() * 1000)
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute(
                "UPDATE experiments SET artifact_location = ?, creation_time = ?, "
                "last_update_time = ? WHERE experiment_id = 0",
                (str(Path.cwd().resolve() / "mlruns" / "0"), now, now),
            )
    finally:
        conn.close()


def seed_tracking_db(uri: str) -> bool:
    """Create the local SQLite tracking database behind ``uri`` from the template when it does
    not exist yet; whether this call created it. Other URIs are left alone."""
    path = local_file(uri) if uri.startswith(SQLITE_PREFIX) and "?" not in uri else None
    if path is None or path.exists():
        return False
    template = build_template()
    if template is None:
        return False
    tmp = _unique(path, "seed")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, tmp)
        _adopt(tmp)
        os.link(tmp, path)  # never replaces a database another process created meanwhile
    except (OSError, sqlite3.Error):
        return False
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return True
