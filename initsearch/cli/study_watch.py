"""``initsearch study status NAME --watch``: a live table of a running study, as Ray Tune's
status table shows a tuning run: a header (trials by state, budget, best) and one row per trial
worth seeing, redrawn every ``--interval`` seconds from the study's storage.

Rows: the running trials (with their last reported epoch), the best few complete trials and the
latest finished ones, so that the table stays one screen on a study of hundreds of trials. It
only reads the storage, so it may watch a study that another process (or cluster) drives. It
ends when the study is done (nothing running or waiting, the budget spent) or on Ctrl-C.
"""

from __future__ import annotations

import time

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from initsearch import contract
from initsearch.cli.study_summary import StudySummary, summarize
from initsearch.config import StudyConfig
from initsearch.labels import trial_label
from initsearch.report.ranks import trial_ranks

BEST_ROWS = 5
RECENT_ROWS = 5


def _shown(trials: list[FrozenTrial], ranks: dict[int, int]) -> list[FrozenTrial]:
    """Running trials, then the best complete ones, then the latest finished (no repeats)."""
    running = [t for t in trials if t.state == TrialState.RUNNING]
    best = sorted((t for t in trials if t.number in ranks), key=lambda t: ranks[t.number])
    finished = [t for t in trials if t.datetime_complete is not None]
    recent = sorted(finished, key=lambda t: t.datetime_complete, reverse=True)
    out: dict[int, FrozenTrial] = {}
    for t in [*running, *best[:BEST_ROWS], *recent[:RECENT_ROWS]]:
        out.setdefault(t.number, t)
    return list(out.values())


def _progress(t: FrozenTrial) -> str:
    """The last reported epoch of a trial and its value there (pruning reports)."""
    if not t.intermediate_values:
        return "-"
    step = max(t.intermediate_values)
    return f"epoch {step + 1}: {t.intermediate_values[step]:.4g}"


def view(summary: StudySummary, trials: list[FrozenTrial], ranks: dict[int, int]) -> Group:
    """The header line and the table of one refresh."""
    budget = f"{summary.counted}/{summary.budget}" if summary.budget else str(summary.counted)
    best = summary.best
    best_text = f"best {best.value:.4g} ({best.label})" if best and best.value is not None else ""
    states = "  ".join(f"{k} {v}" for k, v in summary.states.items())
    header = Text.from_markup(
        f"[bold]{summary.study}[/]: {budget} trials of the budget  {states}  {best_text}"
    )
    stage = summary.stage
    table = Table(title=f"trials ({summary.metric})", min_width=24)
    for column in ("trial", "state", summary.metric, "rank", "last epoch", "reason"):
        table.add_column(
            column, justify="left" if column in ("trial", "state", "reason") else "right"
        )
    for t in _shown(trials, ranks):
        value = f"{t.values[0]:.4g}" if t.values and t.state == TrialState.COMPLETE else "-"
        rank = f"{ranks[t.number]}/{summary.complete}" if t.number in ranks else "-"
        table.add_row(
            trial_label(t.user_attrs, t.number, stage),
            t.state.name.lower(),
            value,
            rank,
            _progress(t),
            str(t.user_attrs.get(contract.REASON) or ""),
        )
    return Group(header, table)


def snapshot(study: optuna.Study, cfg: StudyConfig | None) -> tuple[StudySummary, Group]:
    """The study now: its summary and the view of it."""
    trials = study.get_trials(deepcopy=False)
    maximise = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    ranks = trial_ranks(trials, maximise)
    summary = summarize(study, cfg)
    return summary, view(summary, trials, ranks)


def watch(study: optuna.Study, cfg: StudyConfig | None, console: Console, interval: float) -> None:
    """Redraw the view every ``interval`` seconds until the study is done; KeyboardInterrupt
    (Ctrl-C) is the caller's to turn into an exit status."""
    summary, shown = snapshot(study, cfg)
    with Live(shown, console=console, auto_refresh=False) as live:
        while not summary.finished:
            time.sleep(interval)
            summary, shown = snapshot(study, cfg)
            live.update(shown, refresh=True)
    console.print(f"study {summary.study} is done: {summary.counted} trials counted")
