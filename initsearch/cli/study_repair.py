"""``initsearch study repair NAME``: move a torn journal tail aside, keep every intact record."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def repair(
    study: Annotated[str, typer.Argument(help="study name, its YAML file, or its journal file")],
    workdir: Annotated[str, typer.Option(help="where studies keep their files")] = "runs",
) -> None:
    """Check the study's journal; move a torn or corrupt tail aside (a copy is kept) and say
    how many records were kept."""
    from initsearch.journal_check import LOCK_GRACE_S
    from initsearch.search.locate import repair_study

    def waiting(lock: Path) -> None:
        typer.echo(
            f"waiting for the journal's lock {lock}: a study writing now holds it, or a killed "
            f"one left it (it is freed after {LOCK_GRACE_S} s unchanged)",
            err=True,
        )

    done = repair_study(study, workdir, on_wait=waiting)
    found = done.found
    if done.copy is None:
        typer.echo(f"{found.problem()}; nothing changed")
        return
    typer.echo(found.problem())
    moved, lines = found.size - found.intact_bytes, found.lines_after + 1
    typer.echo(
        f"kept {found.records} records ({found.intact_bytes} bytes); moved the damaged part "
        f"({moved} bytes, {lines} line{'s' if lines > 1 else ''}) to {done.copy}"
    )
    if found.lines_after:
        typer.echo(
            f"the {found.lines_after} lines after the damaged one were not kept: journal records "
            "are replayed in order, so none after a lost one can be trusted (they are in the copy)"
        )
