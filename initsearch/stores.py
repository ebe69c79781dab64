"""Where a study's two stores live: its Optuna storage (trials) and its MLflow tracking store.

Defaults: a journal file ``<workdir>/<study>/optuna.journal`` (Optuna's file backend appends
under a file lock, needs no server and is safe with several processes on one machine; plain
SQLite has no ``SELECT ... FOR UPDATE`` and races on enqueued trials) and a SQLite database
``<workdir>/<study>/mlflow.db`` beside it (MLflow's file store is deprecated). For several
machines both can be PostgreSQL, the tracking store also an MLflow server.

A store is *embedded* when it is a file on this machine. Such a file is checked before use
where a missing one would silently be created empty (``mlflow server`` on a missing SQLite
file), and it is recorded in the study relative to the study's folder (``<scheme>./<path>``:
``sqlite:///./mlflow.db``, ``journal://./optuna.journal``, ``./mlruns``), so that a moved or
copied ``runs/`` folder opens its own stores: :func:`recorded_uri` writes that form and
:func:`resolve_recorded` reads it back. Anything else (servers, files outside the folder) is
recorded as it is.

A journal file is checked before anything is appended to it (``journal_check``): a torn or
corrupt one is refused with the repair command, and readers get a read-only view of its intact
records (:func:`open_for_reading`).
"""

from __future__ import annotations

import shlex
import urllib.parse
from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from initsearch import journal_check
from initsearch.contract import STUDY_TRACKING_URI
from initsearch.errors import ConfigError
from initsearch.locks import schema_lock

JOURNAL_PREFIX = "journal://"
SQLITE_PREFIX = "sqlite:///"
JOURNAL_FILE = "optuna.journal"
TRACKING_FILE = "mlflow.db"

_CACHE: dict[str, optuna.storages.BaseStorage] = {}


# ---- default locations ---------------------------------------------------------------------


def study_dir(workdir: str | Path, study_name: str) -> Path:
    """The folder of a study's embedded stores (and of its reports)."""
    return Path(workdir) / study_name


def storage_url(configured: str | None, workdir: str | Path, study_name: str) -> str:
    """The Optuna storage URL a study uses: the configured one, or a journal file in its
    folder (absolute)."""
    if configured:
        return configured
    return f"{JOURNAL_PREFIX}{(study_dir(workdir, study_name) / JOURNAL_FILE).resolve()}"


def tracking_uri(configured: str | None, workdir: str | Path, study_name: str) -> str:
    """The MLflow tracking URI a study uses: the configured one, or a SQLite database in its
    folder (absolute)."""
    if configured:
        return configured
    return f"{SQLITE_PREFIX}{(study_dir(workdir, study_name) / TRACKING_FILE).resolve()}"


# ---- what kind of store --------------------------------------------------------------------


def is_embedded(url: str) -> bool:
    """Optuna storages that live in a local file (unreachable from other machines)."""
    return url.startswith(JOURNAL_PREFIX) or url.startswith("sqlite:")


def is_embedded_tracking(uri: str) -> bool:
    """MLflow stores that are local files: SQLite, the file store, a plain path (``databricks``
    is a hosted store MLflow names without ``://``)."""
    if uri.startswith("databricks"):
        return False
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def is_tracking_server(uri: str) -> bool:
    """A tracking URI that is an MLflow server (nothing to serve or check here)."""
    return uri.startswith(("http://", "https://"))


def _is_plain_path(url: str) -> bool:
    return "://" not in url and ":" not in url.split("/", 1)[0]


def local_file(url: str) -> Path | None:
    """The local file behind a journal or SQLite URL, else None."""
    if url.startswith(JOURNAL_PREFIX):
        return Path(url[len(JOURNAL_PREFIX) :])
    if url.startswith(SQLITE_PREFIX):
        rest = url[len(SQLITE_PREFIX) :].split("?", 1)[0]
        return Path(rest) if rest and rest != ":memory:" and not rest.startswith("file:") else None
    return None


def absolute(url: str) -> str:
    """``url`` with an absolute file path (journal, SQLite, a plain path); others as they are.
    Servers started in another folder, or a job on a cluster, then find the same files."""
    if url.startswith(JOURNAL_PREFIX):
        return JOURNAL_PREFIX + str(Path(url[len(JOURNAL_PREFIX) :]).expanduser().resolve())
    if url.startswith(SQLITE_PREFIX) and not url.startswith("sqlite:////"):
        rest = url[len(SQLITE_PREFIX) :]
        if rest and rest != ":memory:" and not rest.startswith("file:"):
            return SQLITE_PREFIX + str(Path(rest).expanduser().resolve())
    if _is_plain_path(url):  # an MLflow file store
        return str(Path(url).expanduser().resolve())
    return url


def redact(url: str) -> str:
    """``url`` with any password replaced, for printing."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


# ---- paths recorded in a study ---------------------------------------------------------------


def _split_file_url(url: str) -> tuple[str, str] | None:
    """(scheme prefix, path) of a file store URL that can be recorded relative, else None."""
    if url.startswith(JOURNAL_PREFIX):
        return JOURNAL_PREFIX, url[len(JOURNAL_PREFIX) :]
    if _sqlite_file(url) is not None:
        return SQLITE_PREFIX, url[len(SQLITE_PREFIX) :]
    if _is_plain_path(url):
        return "", url
    return None


def recorded_uri(uri: str, study_folder: str | Path) -> str:
    """How to record a store URI in a study: ``<scheme>./<path>`` when its file lies inside
    ``study_folder``, else ``uri`` as it is."""
    split = _split_file_url(absolute(uri))
    if split is None:
        return uri
    prefix, path = split
    try:
        inside = Path(path).relative_to(Path(study_folder).expanduser().resolve())
    except ValueError:
        return uri
    return f"{prefix}./{inside.as_posix()}"


def resolve_recorded(recorded: str, study_folder: str | Path) -> str:
    """The store a study recorded: a ``<scheme>./<path>`` URI is made absolute against
    ``study_folder`` (where the study is now); anything else is returned as it is."""
    for prefix in (JOURNAL_PREFIX, SQLITE_PREFIX, ""):
        if recorded.startswith(f"{prefix}./"):
            rest = recorded[len(prefix) + 2 :]
            return prefix + str(Path(study_folder).expanduser().resolve() / rest)
    return recorded


def recorded_tracking_uri(study: optuna.Study, workdir: str | Path) -> str | None:
    """The tracking URI the study's driver recorded, resolved against the study's folder
    under ``workdir`` (where the study is now); None when it recorded none."""
    recorded = study.user_attrs.get(STUDY_TRACKING_URI)
    if not recorded:
        return None
    return resolve_recorded(recorded, study_dir(workdir, study.study_name))


# ---- does it exist -------------------------------------------------------------------------


def storage_exists(url: str) -> bool:
    """False when the storage is a local file that is missing; servers count as present."""
    path = local_file(url)
    return path is None or path.is_file()


def check_storage_exists(url: str) -> None:
    """Raise ConfigError when the Optuna storage is a missing local file."""
    if not storage_exists(url):
        raise ConfigError(
            f"no Optuna storage at {local_file(url)}; start a study first "
            "(`initsearch study start FILE`) or pass --storage/--workdir where it lives"
        )


def check_tracking_exists(uri: str) -> None:
    """The MLflow store must exist (SQLite file, file-store folder); servers are trusted."""
    path = local_file(uri)
    if path is None and uri.startswith("file:"):
        path = Path(urllib.parse.urlparse(uri).path)
    elif path is None and "://" not in uri:
        path = Path(uri)
    if path is not None and not path.exists():
        raise ConfigError(
            f"no MLflow tracking store at {path}; the study's driver creates it with the first "
            "finished trial, or pass --tracking-uri where the runs were logged"
        )


# ---- opening -------------------------------------------------------------------------------


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """Open (and cache per process) the Optuna storage behind ``url``, to read and write. A
    damaged journal file is refused (ConfigError naming the damage and the repair command);
    readers that should still see its intact trials use :func:`open_for_reading`."""
    if url in _CACHE:
        return _CACHE[url]
    if url.startswith(JOURNAL_PREFIX):
        storage: optuna.storages.BaseStorage = _open_journal(Path(url[len(JOURNAL_PREFIX) :]))
    elif "://" in url:
        make_sqlite_folder(url)
        try:
            with schema_lock(url):
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


def _open_journal(path: Path, state: journal_check.JournalState | None = None) -> JournalStorage:
    """The journal at ``path`` for writing, checked first (``state``: already checked) and
    guarded on every append (:class:`~initsearch.journal_check.TailGuard`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fix = repair_command(path)
    if state is None:
        state = journal_check.settled(path)
    if not state.intact:
        raise ConfigError(journal_check.refusal(state, fix))
    guard = journal_check.TailGuard(journal_check.journal_lock(path), path, fix)
    # a lock by duck type (acquire/release), as Optuna calls it
    return JournalStorage(JournalFileBackend(str(path), lock_obj=guard))  # type: ignore[arg-type]


def open_for_reading(url: str) -> tuple[optuna.storages.BaseStorage, str | None]:
    """The storage behind ``url`` for reading, and a one-line warning (else None): a damaged
    journal opens as a read-only view of its intact records (writes refuse, naming the repair
    command); everything else as :func:`open_storage` opens it."""
    if url in _CACHE or not url.startswith(JOURNAL_PREFIX):
        return open_storage(url), None
    path = Path(url[len(JOURNAL_PREFIX) :])
    state = journal_check.settled(path)
    if state.intact:
        _CACHE[url] = _open_journal(path, state)
        return _CACHE[url], None
    fix = repair_command(path)
    view = JournalStorage(journal_check.FrozenJournal(state, fix))
    return view, journal_check.reading_note(state, fix)


def repair_command(journal: Path) -> str:
    """The command that repairs ``journal``: by study name for a study's default journal
    (with ``--workdir`` unless it is ``./runs``), else by the journal's path."""
    if journal.name != JOURNAL_FILE:
        return f"initsearch study repair {shlex.quote(str(journal))}"
    command = f"initsearch study repair {shlex.quote(journal.parent.name)}"
    workdir = journal.parent.parent
    if workdir.resolve() == Path("runs").resolve():
        return command
    return f"{command} --workdir {shlex.quote(str(workdir))}"


def forget_storage(url: str) -> None:
    """Drop this process's cached storage for ``url`` (its journal was rewritten)."""
    _CACHE.pop(url, None)


def load_study_if_present(url: str, study_name: str) -> optuna.Study | None:
    """The study ``study_name`` in the storage at ``url``, or None when the storage is a
    missing file or holds no such study (nothing is created)."""
    if not storage_exists(url):
        return None
    try:
        return optuna.load_study(study_name=study_name, storage=open_storage(url))
    except KeyError:
        return None


def _sqlite_file(uri: str) -> Path | None:
    """The file of a local SQLite URI without options (none for memory, ``file:`` or ``?``)."""
    return local_file(uri) if uri.startswith(SQLITE_PREFIX) and "?" not in uri else None


def make_sqlite_folder(uri: str) -> None:
    """Create the folder of a local SQLite database (neither MLflow nor SQLAlchemy will)."""
    path = _sqlite_file(uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def prefer_wal(uri: str) -> None:
    """Put a local SQLite tracking database in write-ahead-log mode (persistent, set once).

    In SQLite's default rollback-journal mode every MLflow transaction creates, syncs and
    deletes a journal file; a trial's child run takes four write transactions. On the shared
    2-core dev machine ``log_trial`` took a median 34-72 ms in rollback mode and 27-37 ms in
    WAL mode (interleaved in one process, with a much shorter slow tail; see
    benchmarks/README.md). WAL keeps commits durable (synchronous stays FULL) and lets
    readers (``mlflow ui``) read while the driver writes. Best effort: a database another
    process holds locked, or a URI with options, is left as it is. Like any SQLite use, it
    assumes a local file system."""
    path = _sqlite_file(uri)
    if path is None:
        return
    import sqlite3

    try:
        conn = sqlite3.connect(path, timeout=1.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
    except sqlite3.Error:
        pass
