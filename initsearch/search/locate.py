"""Find a study by its file or its name, for the commands that read one back."""

from __future__ import annotations

from pathlib import Path

import optuna

from initsearch.config import StudyConfig, load_study, parse_study
from initsearch.errors import ConfigError
from initsearch.stores import local_file, open_storage, storage_url


def locate_study(
    name_or_file: str, workdir: str = "runs", storage: str | None = None
) -> tuple[StudyConfig, optuna.Study]:
    """A study's config and its Optuna study: from a YAML file, or from a name whose storage
    is the default journal under ``workdir`` (or ``storage`` when given)."""
    if name_or_file.endswith((".yaml", ".yml")) or Path(name_or_file).is_file():
        cfg = load_study(name_or_file)
        if storage:
            cfg = cfg.model_copy(update={"storage": storage})
        url = storage_url(cfg.storage, cfg.workdir, cfg.name)
        name = cfg.name
    else:
        name = name_or_file
        url = storage_url(storage, workdir, name)
        cfg = None
    path = local_file(url)
    if path is not None and not path.exists():
        raise ConfigError(
            f"no study {name!r} at {path}; start it with `initsearch study start FILE`, or "
            "pass --workdir/--storage where it lives"
        )
    try:
        study = optuna.load_study(study_name=name, storage=open_storage(url))
    except KeyError:
        raise ConfigError(
            f"storage {url} holds no study named {name!r}; known: "
            f"{', '.join(s.study_name for s in optuna.get_all_study_summaries(open_storage(url)))}"
        ) from None
    if cfg is None:
        cfg = parse_study(study.user_attrs.get("config", {}), f"(stored with study {name})")
    return cfg, study
