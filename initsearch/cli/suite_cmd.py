"""``initsearch suite``: run a suite of comparisons, see where it stands, write its report,
print the findings' tables.

A suite is found by its file, or by name once it has run (its file is kept as
``<workdir>/<suite>/suite.yaml``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from initsearch.cli.consoles import stdout_console
from initsearch.cli.interrupt import stopped
from initsearch.errors import ConfigError
from initsearch.run.signals import honour_stop_signals

app = typer.Typer(
    help="Suites: many comparisons (model x data x settings) answering questions in one report.",
    no_args_is_help=True,
)
KEPT = "suite.yaml"
SOURCE = "suite-source.txt"  # the file the suite was run from: the report's command names it
Workdir = Annotated[
    str, typer.Option(help="where suites are kept (a suite file's own workdir wins)")
]


LOG_EVERY = 25


class LogLines:
    """Progress as plain lines where a live bar would not render (a log file, CI)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.stage = ""
        self.logged = 0

    def __call__(self, p) -> None:
        stage = f"{p.comparison}: {p.stage}"
        if stage != self.stage or p.done - self.logged >= LOG_EVERY or p.done == p.total:
            self.console.print(f"{p.done}/{p.total} runs  {stage}", highlight=False)
            self.stage, self.logged = stage, p.done


def optuna_quiet() -> None:
    """One line per study created would bury the progress bar under dozens of comparisons."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def recorded_source(folder: Path, fallback: str) -> str:
    """The file a suite was run from (what its report tells people to run), else ``fallback``."""
    source = folder / SOURCE
    return source.read_text().strip() if source.is_file() else fallback


def _load(ref: str, workdir: str):
    from initsearch.suite.config import load_suite

    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return load_suite(path), str(path)
    kept = Path(workdir) / ref / KEPT
    if not kept.is_file():
        raise ConfigError(
            f"no suite {ref!r} under {workdir}: give the suite file (suites/*.yaml), or see "
            "`initsearch suite list`"
        )
    return load_suite(kept), recorded_source(kept.parent, str(kept))


def _write(suite, items, source: str, out: Console) -> Path:
    from initsearch.suite.document import build, report_dir, write
    from initsearch.suite.report import write_report

    document = build(suite, items, source)
    folder = report_dir(suite)
    path = write(document, folder)
    page = write_report(document, folder)
    for q in document["questions"]:
        out.print(f"[bold]{q['title']}[/]\n  {q['answer']}", highlight=False)
    out.print(f"wrote {path} and the report {page}", soft_wrap=True, highlight=False)
    return page


@app.command()
def run(
    file: Annotated[str, typer.Argument(help="suite definition, e.g. suites/emergence.yaml")],
    inline: Annotated[bool, typer.Option(help="run trials in this process, no Ray")] = False,
    workers: Annotated[int | None, typer.Option(help="trials at once (default: CPUs)")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address")] = None,
) -> None:
    """Train every comparison's missing runs (resuming), then write suite.json and the report."""
    from initsearch.report.progress import begin, trials_progress
    from initsearch.run.pool import make_pool
    from initsearch.suite.config import load_suite
    from initsearch.suite.plan import plan_suite, runs_left, runs_total
    from initsearch.suite.runner import run_suite

    honour_stop_signals()
    optuna_quiet()
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    suite = load_suite(file)
    items = plan_suite(suite)
    err = Console(stderr=True)
    total = sum(runs_total(i, suite) for i in items)
    todo = sum(runs_left(i, suite) for i in items)
    err.print(
        f"[bold]{suite.name}[/]: {len(items)} comparisons, {suite.seeds} paired seeds, "
        f"{total} runs, {todo} to train"
    )
    suite.folder.mkdir(parents=True, exist_ok=True)
    kept, source = suite.folder / KEPT, file
    if kept.exists() and kept.samefile(file):  # run again from its kept copy
        source = recorded_source(suite.folder, file)
    else:
        shutil.copyfile(file, kept)
        (suite.folder / SOURCE).write_text(file + "\n")
    pools = []

    def pool():
        pools.append(make_pool(items[0].study.ray, inline, ray_address, workers))
        return pools[-1]

    try:
        if todo and err.is_terminal:
            with trials_progress(err) as progress:
                task = progress.add_task(suite.name, total=total, info="")
                begin(progress, task, total - todo, "")
                run_suite(
                    suite,
                    items,
                    pool,
                    lambda p: progress.update(
                        task, completed=p.done, info=f"{p.comparison}: {p.stage}"
                    ),
                )
        elif todo:  # a log: a line per stage started and every LOG_EVERY runs
            run_suite(suite, items, pool, LogLines(err))
    except KeyboardInterrupt as stop:
        what_now = "finished runs are kept; run the same command again to resume"
        raise stopped(stop, err, what_now) from None
    finally:
        for p in pools:
            p.shutdown()
    _write(suite, items, source, stdout_console())


@app.command()
def report(
    ref: Annotated[str, typer.Argument(help="suite file or name")],
    workdir: Workdir = "runs",
) -> None:
    """Write suite.json and the report from what is stored now (trains nothing)."""
    from initsearch.suite.plan import plan_suite

    suite, source = _load(ref, workdir)
    _write(suite, plan_suite(suite), source, stdout_console())


@app.command()
def status(
    ref: Annotated[str, typer.Argument(help="suite file or name")],
    workdir: Workdir = "runs",
) -> None:
    """Runs finished and left, per comparison."""
    from initsearch.suite.plan import plan_suite, runs_left, runs_total

    suite, _ = _load(ref, workdir)
    table = Table(title=f"suite {suite.name}")
    for col in ("comparison", "question", "runs", "left"):
        table.add_column(col, justify="left" if col in ("comparison", "question") else "right")
    for item in plan_suite(suite):
        table.add_row(
            item.name,
            item.comparison.question,
            str(runs_total(item, suite)),
            str(runs_left(item, suite)),
        )
    stdout_console().print(table)


@app.command("list")
def list_cmd(workdir: Workdir = "runs") -> None:
    """Suites that have run under the workdir, with their report."""
    out = stdout_console()
    found = sorted(Path(workdir).glob(f"*/{KEPT}"))
    if not found:
        out.print(f"no suites under {workdir}; start one with `initsearch suite run FILE`")
        return
    table = Table()
    for col in ("suite", "report"):
        table.add_column(col)
    for kept in found:
        page = kept.parent / "report" / "index.html"
        table.add_row(kept.parent.name, str(page) if page.is_file() else "not written yet")
    out.print(table)


@app.command()
def findings(
    document: Annotated[str, typer.Argument(help="a suite.json (or the report folder holding it)")],
    update: Annotated[
        str | None,
        typer.Option(help="rewrite the table blocks of this Markdown file instead of printing"),
    ] = None,
    figures: Annotated[
        str | None,
        typer.Option(help="also draw the figures as PNGs into this folder (depth, profiles)"),
    ] = None,
) -> None:
    """Print the findings' tables from suite.json (or rewrite a document's table blocks)."""
    from initsearch.suite.document import read
    from initsearch.suite.findings import render_all
    from initsearch.suite.findings import update as update_text
    from initsearch.suite.png import write_pngs

    data = read(document)
    if figures is not None:
        for path in write_pngs(data, Path(figures)):
            typer.echo(f"wrote {path}", err=True)
    if update is None:
        typer.echo(render_all(data), nl=False)
        return
    path = Path(update)
    if not path.is_file():
        raise ConfigError(f"{path} does not exist; give the Markdown file to update")
    path.write_text(update_text(path.read_text(), data))
    typer.echo(f"updated the tables of {path}")
