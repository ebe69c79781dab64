"""The status of a study: its verdict first (when confirmed), then states, the search's seed
noise, the best trial and its scale profile, and the baselines' ranks."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState
from rich.console import Console
from rich.table import Table

from initsearch import contract
from initsearch.config import StudyConfig


def ranked(study: optuna.Study, cfg: StudyConfig) -> list[optuna.trial.FrozenTrial]:
    """Completed trials, best first (single objective: by value; else by the first metric)."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    maximise = cfg.objective.directions[0] == "maximize"
    return sorted(done, key=lambda t: t.values[0], reverse=maximise)


def print_status(cfg: StudyConfig, study: optuna.Study, console: Console) -> None:
    from initsearch.confirm import current_verdict, search_noise
    from initsearch.report.verdict_table import print_kept_verdict
    from initsearch.search.locate import journal_note

    note = journal_note(study)  # a damaged journal: say so above its intact trials
    if note:
        console.print(note, style="yellow", markup=False, highlight=False, soft_wrap=True)
    print_kept_verdict(current_verdict(study), study.study_name, console)
    trials = study.get_trials(deepcopy=False)
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    console.print(
        f"[bold]study {cfg.name}[/]: {len(trials)} trials  "
        + "  ".join(f"{k.lower()} {v}" for k, v in sorted(states.items()))
    )
    metric = " / ".join(cfg.objective.metrics)
    noise = search_noise(study, cfg.budget.seeds_per_trial)
    console.print(noise.describe(cfg.objective.metric))
    order = ranked(study, cfg)
    if not order:
        console.print("no completed trial yet")
        return
    best = order[0]
    origin = best.user_attrs.get(contract.BASELINE, "searched")
    console.print(f"best {metric}: [bold]{best.values[0]:.4g}[/] (trial {best.number}, {origin})")
    names = study.user_attrs.get(contract.STUDY_LAYER_NAMES) or []
    scales = best.user_attrs.get(contract.APPLIED_SCALES) or []
    if scales:
        table = Table(title=f"per-layer scales of trial {best.number}")
        table.add_column("layer")
        table.add_column("scale", justify="right")
        for i, scale in enumerate(scales):
            table.add_row(names[i] if i < len(names) else str(i), f"{scale:.3f}")
        console.print(table)
    table = Table(title="baselines")
    for column in ("baseline", "state", metric, "rank"):
        table.add_column(column, justify="right" if column != "baseline" else "left")
    rank_of = {t.number: i + 1 for i, t in enumerate(order)}
    for t in trials:
        name = t.user_attrs.get(contract.BASELINE)
        if name is None or t.user_attrs.get(contract.REQUEUED):
            continue
        value = f"{t.values[0]:.4g}" if t.values else t.user_attrs.get(contract.REASON, "-")
        rank = f"{rank_of[t.number]}/{len(order)}" if t.number in rank_of else "-"
        table.add_row(name, t.state.name.lower(), value, rank)
    console.print(table)
    searched = [t for t in order if contract.BASELINE not in t.user_attrs]
    if searched:
        console.print(
            f"best searched trial: {searched[0].number} with {searched[0].values[0]:.4g}"
            f" (rank {rank_of[searched[0].number]}/{len(order)})"
        )
