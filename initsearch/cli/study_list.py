"""``initsearch study list``: the studies under a runs folder (or in one storage), one line each.

A study keeps its trials in ``<workdir>/<name>/optuna.journal`` unless its file names another
storage (:mod:`initsearch.stores`), so the runs folder is scanned for journals; a study on a
database server is listed with ``--storage URL``. A journal also holds the study's comparison
(``S-compare``) and confirmation (``S-confirm``): they are listed with their ``stage``. A
damaged journal is read up to its intact records (and a note says so); a study whose stored
config this version cannot read is still listed, without its budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import optuna
import typer
from rich.console import Console
from rich.table import Table

from initsearch import jsonsafe, stores
from initsearch.cli.consoles import stdout_console
from initsearch.cli.study_summary import StudySummary, summarize
from initsearch.config import StudyConfig, parse_study
from initsearch.errors import ConfigError


def _config(study: optuna.Study) -> StudyConfig | None:
    raw = study.user_attrs.get("config")
    if not raw:
        return None
    try:
        return parse_study(raw, f"(stored with study {study.study_name})")
    except ConfigError:
        return None


def storages(workdir: str | Path, storage: str | None) -> list[str]:
    """``storage`` when given, else the journal of every study folder under ``workdir``."""
    if storage:
        return [storage]
    found = sorted(Path(workdir).glob(f"*/{stores.JOURNAL_FILE}"))
    return [f"{stores.JOURNAL_PREFIX}{path.resolve()}" for path in found]


def find_studies(
    workdir: str | Path, storage: str | None = None, notes: list[str] | None = None
) -> list[StudySummary]:
    """The summary of every study in the storages of :func:`storages`, by name; ``notes``
    collects one line per damaged journal."""
    out = []
    for url in storages(workdir, storage):
        opened, note = stores.open_for_reading(url)
        if note and notes is not None:
            notes.append(note)
        for info in optuna.get_all_study_summaries(opened, include_best_trial=False):
            study = optuna.load_study(study_name=info.study_name, storage=opened)
            out.append(summarize(study, _config(study)))
    return sorted(out, key=lambda s: s.study)


def list_row(s: StudySummary) -> dict[str, Any]:
    """One study of ``study list --json`` (stable keys)."""
    best = s.best
    return {
        "study": s.study,
        "stage": s.stage,
        "trials": s.trials,
        "complete": s.states.get("complete", 0),
        "pruned": s.states.get("pruned", 0),
        "failed": s.states.get("fail", 0),
        "running": s.running,
        "waiting": s.states.get("waiting", 0),
        "budget": s.budget,
        "counted": s.counted,
        "metric": s.metric,
        "best_value": best.value if best else None,
        "best_trial": best.number if best else None,
        "best_label": best.label if best else None,
        "verdict": s.verdict,
        "last_activity": s.last_activity,
    }


def print_list(rows: list[dict[str, Any]], console: Console) -> None:
    table = Table(title=f"{len(rows)} stud{'y' if len(rows) == 1 else 'ies'}", min_width=14)
    for column in ("study", "stage", "done", "pruned", "failed", "running", "best", "by"):
        table.add_column(column, justify="left" if column in ("study", "stage", "by") else "right")
    table.add_column("verdict")
    table.add_column("last activity")
    for r in rows:
        done = f"{r['counted']}/{r['budget']}" if r["budget"] else str(r["counted"])
        best = f"{r['best_value']:.4g}" if r["best_value"] is not None else "-"
        table.add_row(
            r["study"],
            r["stage"],
            done,
            str(r["pruned"]),
            str(r["failed"]),
            str(r["running"]),
            best,
            r["best_label"] or "-",
            r["verdict"] or "-",
            (r["last_activity"] or "-").replace("T", " "),
        )
    console.print(table)


def list_cmd(
    workdir: Annotated[str, typer.Option(help="the runs folder to scan")] = "runs",
    storage: Annotated[
        str | None, typer.Option(help="list the studies of this storage URL instead")
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="print a JSON list, one object per study with the keys study, stage, trials, "
            "complete, pruned, failed, running, waiting, budget, counted, metric, best_value, "
            "best_trial, best_label, verdict, last_activity",
        ),
    ] = False,
) -> None:
    """The studies under --workdir (or in --storage): trials done of the budget, pruned,
    failed and running, the best value and which trial holds it, the verdict and the last
    activity."""
    if storage:
        from initsearch.store_checks import check_database

        check_database(storage, "storage")
    notes: list[str] = []
    rows = [list_row(s) for s in find_studies(workdir, storage, notes)]
    err = Console(stderr=True)
    for note in notes:
        err.print(note, style="yellow", markup=False, highlight=False, soft_wrap=True)
    if as_json:
        typer.echo(jsonsafe.dumps(rows))
        return
    if not rows:
        err.print(f"no study under {workdir}; start one with `initsearch study start FILE`")
        return
    print_list(rows, stdout_console())
