"""Before a study starts: can this machine write the study's folder and reach its databases?

Both used to fail only once Ray was up (half a minute in): a read-only working directory as a
raw OSError traceback, a PostgreSQL server that is down as an error printing its URL with the
password. Here each is one line, with the password redacted, in a few seconds, and nothing is
created: no folder, no file, no database table.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import NullPool

from initsearch.errors import ConfigError
from initsearch.stores import is_embedded, is_embedded_tracking, is_tracking_server, redact

CONNECT_TIMEOUT_S = 5
"""How long a database server may take to answer before the study gives up."""

# the connect() keyword of each DB-API driver that bounds the wait for the server
_TIMEOUT_ARG = {
    "psycopg2": "connect_timeout",
    "psycopg": "connect_timeout",
    "pymysql": "connect_timeout",
    "mysqldb": "connect_timeout",
    "pg8000": "timeout",
}


def check_folder_writable(folder: str | Path) -> None:
    """A one-line ConfigError unless ``folder`` is a folder this process can write, or can be
    created as one: its nearest existing ancestor must be a writable folder. Nothing is left
    behind (the probe is an anonymous temporary file)."""
    target = Path(folder).expanduser().absolute()
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(
            f"cannot create the study folder {target}: {existing} is a file, not a folder; "
            "set workdir (--workdir) to a folder"
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        where = "" if existing == target else f" ({existing} is where it would be created)"
        raise ConfigError(
            f"cannot write the study folder {target}{where}: {err.strerror or err}; make it "
            "writable or set workdir (--workdir) to a folder you can write"
        ) from None


def is_database_url(url: str) -> bool:
    """An SQLAlchemy URL of a database server (PostgreSQL, MySQL...): not a journal or SQLite
    file, an MLflow server, a file store or a hosted store."""
    local = is_embedded(url) or is_embedded_tracking(url)
    return not (local or is_tracking_server(url) or url.startswith("databricks"))


def _reason(err: BaseException, password: str | None) -> str:
    """The driver's own first line of ``err`` (SQLAlchemy wraps it), any password masked."""
    text = str(getattr(err, "orig", None) or err).strip()
    line = next((part.strip() for part in text.splitlines() if part.strip()), type(err).__name__)
    return line.replace(password, "***") if password else line


def check_database(url: str, key: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Connect to the database server behind ``url`` (the study's ``key``: storage or
    tracking_uri) and disconnect; a one-line ConfigError, the password redacted, when it is
    down, refuses the user or lacks the database. Other URLs are left to their stores."""
    if not is_database_url(url):
        return
    try:
        parsed: URL = sqlalchemy.engine.make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"{key} {redact(url)} is not a database URL; use e.g. "
            "postgresql+psycopg2://USER:PASS@HOST:5432/DB"
        ) from None
    arg = _TIMEOUT_ARG.get(parsed.get_driver_name())
    connect_args = {arg: max(1, int(timeout_s))} if arg else {}
    try:
        engine = sqlalchemy.create_engine(parsed, poolclass=NullPool, connect_args=connect_args)
    except (NoSuchModuleError, ImportError) as err:
        raise ConfigError(
            f"{key} {redact(url)}: its database driver is not installed "
            f"({_reason(err, parsed.password)}); install it, e.g. pip install psycopg2-binary"
        ) from None
    try:
        with engine.connect():
            pass
    except Exception as err:  # each driver raises its own types
        raise ConfigError(
            f"cannot reach the {key} database {redact(url)}: {_reason(err, parsed.password)}; "
            "check that its server runs and the host, port, user, password and database name "
            "(nothing was started)"
        ) from None
    finally:
        engine.dispose()


def check_stores(storage: str, tracking: str, folder: str | Path) -> None:
    """Everything a study writes from this machine, checked before anything starts: its
    folder (``folder``: ``<workdir>/<name>``) and any database server of its Optuna
    ``storage`` and MLflow ``tracking`` store."""
    check_folder_writable(folder)
    check_database(storage, "storage")
    check_database(tracking, "tracking_uri")
