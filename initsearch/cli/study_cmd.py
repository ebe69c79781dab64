"""``initsearch study``: start (or resume) a study, show its status, write its report."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from initsearch import jsonsafe
from initsearch.cli.consoles import stdout_console
from initsearch.cli.interrupt import stopped
from initsearch.cli.study_args import StorageUrl, StudyRef, Workdir, check_storage
from initsearch.cli.study_export import export
from initsearch.cli.study_list import list_cmd
from initsearch.cli.study_repair import repair
from initsearch.config import StudyConfig
from initsearch.run.signals import honour_stop_signals

app = typer.Typer(
    help="Optuna studies of per-layer init scales, run by Ray, tracked by MLflow.",
    no_args_is_help=True,
)
app.command("repair")(repair)
app.command("list")(list_cmd)
app.command("export")(export)


def next_steps(cfg: StudyConfig, file: str) -> list[str]:
    """What to run after ``study start``: the report, the dashboard and the export of the
    study, one line each. By name (with ``--workdir`` unless it is ``./runs``) when its trials
    are in the default journal; by its file when the file names a storage (a server URL may
    hold a password, which is not printed). Further lines (e.g. the MLflow UI's URL of the
    study) are appended by the caller."""
    import shlex
    from pathlib import Path

    if cfg.storage:
        target = shlex.quote(file)
    else:
        target = shlex.quote(cfg.name)
        if Path(cfg.workdir).resolve() != Path("runs").resolve():
            target += f" --workdir {shlex.quote(cfg.workdir)}"
    return [
        f"report:    initsearch study report {target}",
        f"dashboard: initsearch dashboard {target}",
        f"export:    initsearch study export {target} --format csv",
    ]


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
    from initsearch.dashboard.mlflow_links import best_vs_baselines_link
    from initsearch.dashboard.publish import publish_to_dashboard

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
    publish_to_dashboard(run.study, run.config.workdir)  # notes and figures for the dashboard
    out = stdout_console()
    print_status(run.config, run.study, out)
    steps = next_steps(run.config, file)
    if (link := best_vs_baselines_link(run)) is not None:
        steps.append(link)
    out.print("[bold]next[/]:")
    for line in steps:
        out.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)


@app.command("confirm")
def confirm_cmd(
    study: StudyRef,
    top: Annotated[
        int | None, typer.Option(help="searched configurations (default: confirm.top_k)")
    ] = None,
    seeds: Annotated[
        int | None, typer.Option(help="fresh paired seeds (default: confirm.seeds)")
    ] = None,
    workdir: Workdir = "runs",
    storage: StorageUrl = None,
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
    study: StudyRef,
    workdir: Workdir = "runs",
    storage: StorageUrl = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="print one JSON object instead: schema, study, stage, metric, direction, "
            "trials, states, running, budget, counted, complete, best and best_searched "
            "(number, label, role, state, value, rank, reason), best_scales and "
            "best_searched_scales (applied, by layer), baselines, verdict, verdict_sentence, "
            "last_activity, layer_names, seed_noise",
        ),
    ] = False,
    watch: Annotated[
        bool,
        typer.Option(help="redraw a live table until the study is done (Ctrl-C stops watching)"),
    ] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="seconds between redraws")] = 2.0,
) -> None:
    """Trials by state, best value and per-layer scales, and the baselines' values."""
    from initsearch.cli.study_status import print_status
    from initsearch.cli.study_summary import summarize
    from initsearch.confirm import search_noise
    from initsearch.search.locate import journal_note, locate_study

    check_storage(study, storage)
    cfg, found = locate_study(study, workdir=workdir, storage=storage)
    note = journal_note(found)
    if note and (watch or as_json):  # a damaged journal: said on stderr, as other notes are
        typer.echo(note, err=True)
    if watch:
        from initsearch.cli.study_watch import watch as watch_study

        try:
            watch_study(found, cfg, stdout_console(), interval)
        except KeyboardInterrupt:
            typer.echo("stopped watching; the study itself runs on", err=True)
            raise typer.Exit(130) from None
    elif as_json:
        noise = search_noise(found, cfg.budget.seeds_per_trial).describe(cfg.objective.metric)
        typer.echo(jsonsafe.dumps({**summarize(found, cfg).to_dict(), "seed_noise": noise}))
    else:
        print_status(cfg, found, stdout_console())


@app.command()
def report(
    study: StudyRef,
    workdir: Workdir = "runs",
    storage: StorageUrl = None,
    out: Annotated[
        str | None, typer.Option(help="output folder (default: <workdir>/<name>/report)")
    ] = None,
    top_k: Annotated[int, typer.Option(min=1, help="searched trials in the stability fit")] = 5,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="print the report.json object instead of the tables (keys: study, verdict, "
            "seed_noise, metric, direction, counts, layers, best_searched, top_k, baselines, "
            "comparison, importances, trials, files, notes); the files are written as usual",
        ),
    ] = False,
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
    written = write_study_report(cfg, found, folder, top_k=top_k)
    if as_json:
        typer.echo(jsonsafe.dumps(written))
    else:
        print_report(written, stdout_console())
