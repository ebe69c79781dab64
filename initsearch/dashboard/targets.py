"""What ``initsearch dashboard`` serves: a study's Optuna storage and its MLflow store.

A study (name or YAML file) is found as ``study status`` finds it. Its tracking store is, in
order: ``--tracking-uri``; the one its driver recorded, read relative to the study's folder
where it was recorded so (a copied or moved ``runs/`` folder serves its own copy); its
config's; the default ``<workdir>/<name>/mlflow.db``. Both URLs are made absolute (the servers
run in another folder) and must exist: ``mlflow server`` on a missing SQLite file would
silently create an empty database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from initsearch import stores
from initsearch.errors import ConfigError
from initsearch.search.locate import locate_study


@dataclass(frozen=True)
class Target:
    """What to serve: a study (or every study) in an Optuna storage, and an MLflow store."""

    study: str | None
    storage_url: str
    tracking_uri: str
    optuna_study_id: int | None = None


def only_study(workdir: str) -> str:
    """The name of the one study with a journal under ``workdir``; ConfigError otherwise."""
    root = Path(workdir)
    found = (
        sorted(p.parent.name for p in root.glob(f"*/{stores.JOURNAL_FILE}"))
        if root.is_dir()
        else []
    )
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigError(
            f"no study under {root}/; name one (`initsearch dashboard NAME|FILE`), pass "
            "--workdir where studies live, or pass --storage and --tracking-uri"
        )
    raise ConfigError(f"several studies under {root}/ ({', '.join(found)}); name one")


def resolve_target(
    study_or_file: str | None,
    workdir: str = "runs",
    storage: str | None = None,
    tracking_uri: str | None = None,
) -> Target:
    """The stores to serve (see the module docstring). Without a study: ``--storage`` and
    ``--tracking-uri`` (every study in that storage), or the only study under ``--workdir``."""
    if study_or_file is None and storage:
        if not tracking_uri:
            raise ConfigError(
                "with --storage and no study, pass --tracking-uri too (or name the study)"
            )
        url = stores.absolute(storage)
        stores.check_storage_exists(url)
        uri = stores.absolute(tracking_uri)
        stores.check_tracking_exists(uri)
        return Target(None, url, uri)
    if study_or_file is None:
        study_or_file = only_study(workdir)

    if storage:
        stores.check_storage_exists(stores.absolute(storage))
    cfg, study = locate_study(study_or_file, workdir=workdir, storage=storage)
    is_file = study_or_file.endswith((".yaml", ".yml")) or Path(study_or_file).is_file()
    base = cfg.workdir if is_file else workdir
    url = stores.storage_url(storage or (cfg.storage if is_file else None), base, cfg.name)
    recorded = stores.recorded_tracking_uri(study, base)
    uri = stores.absolute(
        tracking_uri or recorded or stores.tracking_uri(cfg.tracking_uri, base, cfg.name)
    )
    stores.check_tracking_exists(uri)
    study_id = stores.open_storage(url).get_study_id_from_name(study.study_name)
    return Target(study.study_name, stores.absolute(url), uri, study_id)
