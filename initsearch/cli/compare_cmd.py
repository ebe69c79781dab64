"""``initsearch compare FILE --seeds N``: every init scheme x N seeds, paired tests against
Kaiming on the test split, ``compare.json`` + ``stats.csv`` under ``<workdir>/<study>/compare``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from initsearch.cli.consoles import stdout_console
from initsearch.cli.interrupt import stopped
from initsearch.errors import ConfigError
from initsearch.jsonsafe import dumps
from initsearch.labels import STAGE_COMPARISON
from initsearch.report.progress import LastResult, begin, trials_progress
from initsearch.run.signals import honour_stop_signals


def _names(text: str | None) -> list[str] | None:
    """'kaiming, xavier' -> ['kaiming', 'xavier']; commas inside parentheses
    (``emergence(alpha=1.1)``) do not split."""
    if text is None:
        return None
    out, depth, part = [], 0, ""
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            out.append(part.strip())
            part = ""
        else:
            part += ch
    out.append(part.strip())
    names = [n for n in out if n]
    if not names:
        raise ConfigError("--schemes is empty; give comma-separated names, e.g. kaiming,xavier")
    return names


def _floats(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ConfigError(f"--alphas must be comma-separated numbers, got {text!r}") from None


def _train(plan, pool, err: Console, total: int, todo: int, live: bool) -> None:
    """Run the missing pairs with a progress bar (time left, the last run by its label and
    value), or a line per finished run where a live display would fight other output (inline
    trials: GradInit draws its own bar; logs)."""
    from initsearch.compare import run_comparison

    last = LastResult(plan.name, plan.storage_url, STAGE_COMPARISON)
    if not live:
        run_comparison(plan, pool, lambda p: err.print(f"{p.done}/{total} runs  {last(p)}"))
        return
    with trials_progress(err) as progress:
        task = progress.add_task(plan.name, total=total, info="")
        begin(progress, task, total - todo, "")
        run_comparison(plan, pool, lambda p: progress.update(task, completed=p.done, info=last(p)))


def compare(
    file: Annotated[str, typer.Argument(help="study definition, e.g. studies/quickstart.yaml")],
    seeds: Annotated[int, typer.Option(help="seeds per scheme, shared by all")] = 5,
    schemes: Annotated[
        str | None,
        typer.Option(
            help="comma-separated schemes (default: kaiming, xavier, lecun_normal, orthogonal, "
            "emergence, lps, gradinit, updater, searched-best); emergence(alpha=X) for one "
            "alpha; kaiming, the reference, is always added"
        ),
    ] = None,
    alphas: Annotated[
        str | None, typer.Option(help="emergence alpha grid (default: the study's, else 1.05..1.5)")
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(help="override train.epochs (a shorter comparison; runs kept apart)"),
    ] = None,
    target: Annotated[
        float | None,
        typer.Option(
            help="test accuracy for epochs-to-target (default: the study's target, else 0.9 x "
            "Kaiming's final test accuracy)"
        ),
    ] = None,
    workdir: Annotated[str | None, typer.Option(help="override the study's workdir")] = None,
    inline: Annotated[bool, typer.Option(help="run trials in this process, no Ray")] = False,
    workers: Annotated[int | None, typer.Option(help="trials at once (default: CPUs)")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address")] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="print the compare.json object instead of the table (keys: study, reference, "
            "seeds, epochs, target_accuracy, schemes (each with its runs), stats, correlations); "
            "progress and notes stay on stderr",
        ),
    ] = False,
) -> None:
    """Train every scheme for N seeds (resuming), then test each against Kaiming by seed on
    the test split (the search saw validation only)."""

    from initsearch.compare import (
        output_dir,
        pending,
        plan_comparison,
        print_table,
        results,
        write_outputs,
    )
    from initsearch.config import load_study
    from initsearch.run.pool import make_pool
    from initsearch.store_checks import check_stores
    from initsearch.stores import storage_url, study_dir, tracking_uri

    honour_stop_signals()
    cfg = load_study(file)
    if workdir is not None:
        cfg = cfg.model_copy(update={"workdir": workdir})
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    # before the stores are opened: one line, the password redacted, nothing created
    check_stores(
        storage_url(cfg.storage, cfg.workdir, cfg.name),
        tracking_uri(cfg.tracking_uri, cfg.workdir, cfg.name),
        study_dir(cfg.workdir, cfg.name),
    )
    plan = plan_comparison(cfg, seeds, _names(schemes), _floats(alphas), epochs, target)
    err = Console(stderr=True)
    total, todo = len(plan.schemes) * len(plan.seeds), pending(plan)
    err.print(
        f"[bold]{plan.name}[/]: {len(plan.schemes)} schemes x {len(plan.seeds)} seeds "
        f"({plan.cfg.train.epochs} epochs) = {total} runs, {todo} to train"
    )
    if plan.searched is None and schemes is None:
        err.print(f"[dim]no searched-best: study {cfg.name} has no completed searched trial[/]")
    if todo:
        pool = make_pool(cfg.ray, inline, ray_address, workers)
        try:
            _train(plan, pool, err, total, todo, live=not inline and err.is_terminal)
        except KeyboardInterrupt as stop:
            what_now = "finished runs are kept; run the same command again to resume"
            raise stopped(stop, err, what_now) from None
        finally:
            pool.shutdown()
    payload = results(plan)
    json_path, csv_path = write_outputs(payload, output_dir(plan))
    from initsearch.report.html_report import write_compare_report

    html_path = write_compare_report(payload, json_path.with_name("report.html"))
    wrote = f"wrote {json_path}, {csv_path} and the report {html_path}"
    if as_json:
        typer.echo(dumps(payload))
        err.print(wrote, soft_wrap=True, highlight=False)
        return
    out = stdout_console()
    print_table(payload, out)
    out.print(wrote)
