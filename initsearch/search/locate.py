"""Find a study by its file or its name, for the commands that read one back (and repair its
journal).

A study whose journal is damaged still opens here, read-only over its intact records (so
``study status`` and ``study report`` show the finished trials): :func:`journal_note` says what
is wrong, and any write to it refuses with the repair command, as every writer does.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path

import optuna

from initsearch import journal_check, stores
from initsearch.config import StudyConfig, load_study, parse_study
from initsearch.errors import ConfigError

_NOTES: weakref.WeakKeyDictionary[optuna.Study, str] = weakref.WeakKeyDictionary()


def _is_file(name_or_file: str) -> bool:
    return name_or_file.endswith((".yaml", ".yml")) or Path(name_or_file).is_file()


def _where(
    name_or_file: str, workdir: str, storage: str | None
) -> tuple[StudyConfig | None, str, str]:
    """(the study file's config or None, the study's name, its storage URL)."""
    if _is_file(name_or_file):
        cfg = load_study(name_or_file)
        if storage:
            cfg = cfg.model_copy(update={"storage": storage})
        return cfg, cfg.name, stores.storage_url(cfg.storage, cfg.workdir, cfg.name)
    return None, name_or_file, stores.storage_url(storage, workdir, name_or_file)


def locate_study(
    name_or_file: str, workdir: str = "runs", storage: str | None = None
) -> tuple[StudyConfig, optuna.Study]:
    """A study's config and its Optuna study: from a YAML file, or from a name whose storage
    is the default journal under ``workdir`` (or ``storage`` when given). From a damaged
    journal the study is a read-only view of its intact records (:func:`journal_note`)."""
    cfg, name, url = _where(name_or_file, workdir, storage)
    path = stores.local_file(url)
    if path is not None and not path.exists():
        raise ConfigError(
            f"no study {name!r} at {path}; start it with `initsearch study start FILE`, or "
            "pass --workdir/--storage where it lives"
        )
    opened, note = stores.open_for_reading(url)
    try:
        study = optuna.load_study(study_name=name, storage=opened)
    except KeyError:
        raise ConfigError(
            f"storage {url} holds no study named {name!r}; known: "
            f"{', '.join(s.study_name for s in optuna.get_all_study_summaries(opened))}"
        ) from None
    if note:
        _NOTES[study] = note
    if cfg is None:
        cfg = parse_study(study.user_attrs.get("config", {}), f"(stored with study {name})")
    return cfg, study


def journal_note(study: optuna.Study) -> str | None:
    """One line on a study :func:`locate_study` opened from a damaged journal, else None."""
    return _NOTES.get(study)


def study_journal(name_or_file: str, workdir: str = "runs") -> Path:
    """The journal file of a study (by name, its study file, or the journal's own path)."""
    if name_or_file.endswith(".journal") and Path(name_or_file).is_file():
        return Path(name_or_file).resolve()
    _, name, url = _where(name_or_file, workdir, None)
    if not url.startswith(stores.JOURNAL_PREFIX):
        raise ConfigError(
            f"study {name!r} is stored in {stores.redact(url)}, not in a journal file; "
            "repair applies to journal files only (a database keeps its own integrity)"
        )
    path = stores.local_file(url)
    assert path is not None
    if not path.is_file():
        raise ConfigError(
            f"no journal for study {name!r} at {path}; pass --workdir where it lives, or its "
            "study file"
        )
    return path


def repair_study(
    name_or_file: str, workdir: str = "runs", on_wait: Callable[[Path], None] | None = None
) -> journal_check.Repair:
    """Repair a study's journal under its write lock (:func:`journal_check.repair`); this
    process's cached storage of it is dropped (it was read before the cut)."""
    path = study_journal(name_or_file, workdir)
    done = journal_check.repair(path, journal_check.journal_lock(path), on_wait)
    stores.forget_storage(f"{stores.JOURNAL_PREFIX}{path}")
    return done
