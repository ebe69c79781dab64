"""The arguments every command that reads a study back shares (``study status|report|export|
confirm``...): which study, where it lives, and the check of its database before it is opened."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

StudyRef = Annotated[str, typer.Argument(help="study name or its YAML file")]
Workdir = Annotated[str, typer.Option(help="where studies keep their files")]
StorageUrl = Annotated[str | None, typer.Option(help="storage URL (default: journal)")]


def check_storage(study: str, storage: str | None) -> None:
    """A study's database server (``--storage``, or the study file's ``storage``) answers:
    a one-line error with the password redacted, before the storage is opened."""
    from initsearch.config import load_study
    from initsearch.store_checks import check_database

    if storage is None and (study.endswith((".yaml", ".yml")) or Path(study).is_file()):
        storage = load_study(study).storage
    if storage:
        check_database(storage, "storage")
