"""The status of a study: its verdict first (when confirmed), then states, the trials with a
seed that made no progress, the search's seed noise, the best trial and its scale profile, and
the baselines' ranks.

Everything shown comes from :func:`~initsearch.cli.study_summary.summarize`, which ``--json``
prints as it is. When a baseline is the best trial, the status says so: a plain scheme's
applied scales are its own factors (all 1 for Xavier), which say nothing about the search, so
the best *searched* trial's profile is shown as well.
"""

from __future__ import annotations

import optuna
from rich.console import Console
from rich.table import Table

from initsearch.cli.study_summary import StudySummary, TrialLine, summarize
from initsearch.config import StudyConfig
from initsearch.labels import ROLE_BASELINE
from initsearch.report.precision import fixed

VALUE_DECIMALS = 4


def titled(title: str) -> Table:
    """A table whose title is never wrapped (rich wraps it to the table's own width)."""
    return Table(title=title, min_width=len(title) + 2)


def _value(line: TrialLine) -> str:
    """Objective values with one precision (0.5550 beside 0.5471, not 0.555)."""
    return fixed(line.value, VALUE_DECIMALS) if line.value is not None else "-"


def _is_plain(scales: dict[str, float]) -> bool:
    return all(abs(s - 1.0) < 5e-4 for s in scales.values())


def print_scales(title: str, scales: dict[str, float], console: Console) -> None:
    table = titled(title)
    table.add_column("layer")
    table.add_column("scale", justify="right")
    for name, scale in scales.items():
        table.add_row(name, f"{scale:.3f}")
    console.print(table)


def _print_best(summary: StudySummary, base_init: str, console: Console) -> None:
    best, metric = summary.best, summary.metric
    assert best is not None
    console.print(f"best {metric}: [bold]{_value(best)}[/] ({best.label}, trial {best.number})")
    searched = summary.best_searched
    if best.role != ROLE_BASELINE:
        if summary.best_scales:
            print_scales(
                f"per-layer scales of {best.label} (x {base_init})", summary.best_scales, console
            )
        return
    console.print(
        f"the best trial is the baseline {best.label}: no searched configuration beats it yet"
    )
    if summary.best_scales and _is_plain(summary.best_scales):
        console.print(f"{best.label} applies its own scheme unchanged (every layer's factor 1)")
    elif summary.best_scales:
        title = f"per-layer scales of {best.label} (x its own scheme)"
        print_scales(title, summary.best_scales, console)
    if searched is not None and summary.best_searched_scales:
        title = f"per-layer scales of {searched.label} (x {base_init})"
        print_scales(title, summary.best_searched_scales, console)


def print_summary(
    summary: StudySummary, base_init: str, console: Console, noise: str | None = None
) -> None:
    """The status lines and tables of ``summary``; ``noise``: the seed-noise line."""
    console.print(
        f"[bold]study {summary.study}[/]: {summary.trials} trials  "
        + "  ".join(f"{k} {v}" for k, v in summary.states.items())
    )
    if summary.no_progress:
        trials = "trial" if summary.no_progress == 1 else "trials"
        console.print(
            f"{summary.no_progress} complete {trials} had a seed that made no progress (ended "
            "near chance accuracy or at ln(classes) loss); ranked by their value all the same"
        )
    if noise:
        console.print(noise)
    if summary.best is None:
        console.print("no completed trial yet")
        return
    _print_best(summary, base_init, console)
    table = titled("baselines")
    for column in ("baseline", "state", summary.metric, "rank"):
        table.add_column(column, justify="right" if column != "baseline" else "left")
    for b in summary.baselines:
        value = _value(b) if b.value is not None else (b.reason or "-")
        rank = f"{b.rank}/{summary.complete}" if b.rank is not None else "-"
        state = f"{b.state} (no progress)" if b.no_progress else b.state
        table.add_row(b.label, state, value, rank)
    console.print(table)
    searched = summary.best_searched
    if searched is not None:
        console.print(
            f"best searched trial: {searched.label} with {_value(searched)}"
            f" (rank {searched.rank}/{summary.complete})"
        )


def print_status(cfg: StudyConfig, study: optuna.Study, console: Console) -> None:
    from initsearch.confirm import current_verdict, search_noise
    from initsearch.report.verdict_table import print_kept_verdict
    from initsearch.search.locate import journal_note

    note = journal_note(study)  # a damaged journal: say so above its intact trials
    if note:
        console.print(note, style="yellow", markup=False, highlight=False, soft_wrap=True)
    print_kept_verdict(current_verdict(study), study.study_name, console)
    noise = search_noise(study, cfg.budget.seeds_per_trial).describe(cfg.objective.metric)
    print_summary(summarize(study, cfg), cfg.search.base_init, console, noise)
