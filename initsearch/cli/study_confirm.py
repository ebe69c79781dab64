"""The confirmation stage as the command line runs it: after ``study start``'s search, or on
its own with ``initsearch study confirm NAME``; then the verdict, printed and kept."""

from __future__ import annotations

from collections.abc import Callable

import optuna
from rich.console import Console

from initsearch.cli.progress import trials_progress
from initsearch.config import StudyConfig
from initsearch.confirm import (
    confirm_dir,
    confirmation_pending,
    judge,
    keep_verdict,
    plan_confirmation,
    run_confirmation,
)
from initsearch.confirm.verdict import Verdict
from initsearch.run.driver import StudyProgress
from initsearch.run.pool import TrialPool


def confirm_study(
    cfg: StudyConfig,
    study: optuna.Study,
    pool: Callable[[], TrialPool],
    err: Console,
    top_k: int | None = None,
    seeds: int | None = None,
) -> Verdict:
    """Train the confirmation's missing pairs (with a progress bar; ``pool`` is called only
    when there are some, so judging again starts no Ray), then judge and keep the verdict."""
    plan = plan_confirmation(cfg, study, top_k, seeds)
    total, todo = len(plan.compare.schemes) * len(plan.seeds), confirmation_pending(plan)
    err.print(
        f"[bold]{plan.name}[/]: {len(plan.searched)} searched + {len(plan.baselines)} "
        f"baselines x {len(plan.seeds)} fresh seeds = {total} runs on the test split, "
        f"{todo} to train"
    )
    if todo:
        with trials_progress(err) as progress:
            task = progress.add_task(plan.name, total=total, completed=total - todo, info="")

            def show(p: StudyProgress) -> None:
                progress.update(task, completed=p.done)

            run_confirmation(plan, pool(), show)
    verdict = judge(plan)
    path = keep_verdict(plan, verdict, study, confirm_dir(cfg.workdir, cfg.name))
    err.print(f"[dim]verdict kept in {path}[/]")
    return verdict
