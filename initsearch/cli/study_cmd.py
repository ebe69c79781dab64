"""``initsearch study``: start (or resume) a study, show its status, write its report."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from initsearch.cli.consoles import stdout_console
from initsearch.cli.interrupt import stopped
from initsearch.cli.study_repair import repair
from initsearch.run.signals import honour_stop_signals

app = typer.Typer(
    help="Optuna studies of per-layer init scales, run by Ray, tracked by MLflow.",
    no_args_is_help=True,
)
app.command("repair")(repair)


def check_storage(study: str, storage: str | None) -> None:
    """A study's database server (``--storage``, or the study file's ``storage``) answers:
    a one-line error with the password redacted, before the storage is opened."""
    from pathlib import Path

    from initsearch.config import load_study
    from initsearch.store_checks import check_database

    if storage is None and (study.endswith((".yaml", ".yml")) or Path(study).is_file()):
        storage = load_study(study).storage
    if storage:
        check_database(storage, "storage")


@app.command()
def start(
    file: Annotated[str, typer.Argument(help="study definition, e.g. studies/quickstart.yaml")],
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address")] = None,
    workers: Annotated[int | None, typer.Option(help="trials at once (default: CPUs)")] = None,
    trials: Annotated[int | None, typer.Option(help="override budget.trials")] = None,
    inline: Annotated[bool, typer.Option(help="run trials in this process, no Ray")] = False,
    workdir: Annotated[str | None, typer.Option(help="override the study's workdir")] = None,
    confirm: Annotated[
        bool,
        typer.Option(
            help="run the confirmation stage after the search (default: confirm.after_search)"
        ),
    ] = True,
) -> None:
    """Create the study, or resume it; run baselines, then search until the budget is spent,
    then confirm the best searched configurations against the baselines on fresh seeds."""
    from initsearch.api import run_study, study_config
    from initsearch.cli.study_status import print_status
    from initsearch.config import load_study

    honour_stop_signals()
    # the flags are checked like the file's keys (--trials 0 fails as budget.trials: 0 does)
    cfg = study_config(load_study(file), workdir=workdir, trials=trials, workers=workers)
    try:
        run = run_study(
            cfg,
            workers=workers,
            ray_address=ray_address,
            inline=inline,
            confirm=confirm,
        )
    except KeyboardInterrupt as err:
        what_now = (
            "running trials were marked failed and will be re-run when you start the study again"
        )
        raise stopped(err, Console(stderr=True), what_now) from None
    print_status(run.config, run.study, stdout_console())


@app.command("confirm")
def confirm_cmd(
    study: Annotated[str, typer.Argument(help="study name or its YAML file")],
    top: Annotated[
        int | None, typer.Option(help="searched configurations (default: confirm.top_k)")
    ] = None,
    seeds: Annotated[
        int | None, typer.Option(help="fresh paired seeds (default: confirm.seeds)")
    ] = None,
    workdir: Annotated[str, typer.Option(help="where studies keep their files")] = "runs",
    storage: Annotated[str | None, typer.Option(help="storage URL (default: journal)")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address")] = None,
    workers: Annotated[int | None, typer.Option(help="trials at once (default: CPUs)")] = None,
    inline: Annotated[bool, typer.Option(help="run trials in this process, no Ray")] = False,
) -> None:
    """Re-run the top searched configurations and every baseline on fresh paired seeds,
    judge them on the test split, and give the study its verdict (resumable)."""
    from initsearch.api import confirm_study, study_config
    from initsearch.report.verdict_table import print_verdict
    from initsearch.run.pool import make_pool
    from initsearch.search.locate import locate_study

    honour_stop_signals()
    check_storage(study, storage)
    cfg, found = locate_study(study, workdir=workdir, storage=storage)
    # the flags are checked like the study file's confirm section (and its fresh seeds)
    cfg = study_config(cfg, top_k=top, confirm_seeds=seeds, workers=workers)
    console = Console(stderr=True)
    pools = []

    def pool():
        pools.append(make_pool(cfg.ray, inline, ray_address, workers))
        return pools[-1]

    try:
        verdict = confirm_study(cfg, found, pool, console)
    except KeyboardInterrupt as err:
        what_now = "finished runs are kept; run the same command again to resume"
        raise stopped(err, console, what_now) from None
    finally:
        for made in pools:
            made.shutdown()
    print_verdict(verdict, stdout_console())


@app.command()
def status(
    study: Annotated[str, typer.Argument(help="study name or its YAML file")],
    workdir: Annotated[str, typer.Option(help="where studies keep their files")] = "runs",
    storage: Annotated[str | None, typer.Option(help="storage URL (default: journal)")] = None,
) -> None:
    """Trials by state, best value and per-layer scales, and the baselines' values."""
    from initsearch.cli.study_status import print_status
    from initsearch.search.locate import locate_study

    check_storage(study, storage)
    print_status(*locate_study(study, workdir=workdir, storage=storage), stdout_console())


@app.command()
def report(
    study: Annotated[str, typer.Argument(help="study name or its YAML file")],
    workdir: Annotated[str, typer.Option(help="where studies keep their files")] = "runs",
    storage: Annotated[str | None, typer.Option(help="storage URL (default: journal)")] = None,
    out: Annotated[
        str | None, typer.Option(help="output folder (default: <workdir>/<name>/report)")
    ] = None,
    top_k: Annotated[int, typer.Option(min=1, help="searched trials in the stability fit")] = 5,
) -> None:
    """Fit the best scale profile to the emergence rule; importances, baselines' ranks, plots."""
    from initsearch.report import print_report, report_dir, write_study_report
    from initsearch.search.locate import journal_note, locate_study

    check_storage(study, storage)
    cfg, found = locate_study(study, workdir=workdir, storage=storage)
    note = journal_note(found)
    if note:  # a damaged journal: the report covers its intact trials, and says so
        Console(stderr=True).print(
            note, style="yellow", markup=False, highlight=False, soft_wrap=True
        )
    folder = out or report_dir(study, cfg, workdir)
    print_report(write_study_report(cfg, found, folder, top_k=top_k), stdout_console())
