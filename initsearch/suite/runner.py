"""Run a suite: every comparison's missing runs, one after another, on one pool of workers.

Plain comparisons go through the comparison runner (one trial per (arm, seed), resumable,
tracked in MLflow); searching ones through the study driver (baselines and the search), then
the confirmation, whose verdict is kept on the study as ``study confirm`` keeps it. The pool
(Ray, or inline) is started only when something is left to train, and once for the whole
suite: its start-up is paid once rather than per comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from initsearch.compare import run_comparison
from initsearch.confirm import confirm_dir, judge, keep_verdict, run_confirmation
from initsearch.run.driver import StudyProgress
from initsearch.run.pool import TrialPool
from initsearch.search.study import study_driver
from initsearch.suite.config import SuiteConfig
from initsearch.suite.plan import Planned, confirmation, load_search, runs_left, runs_total


@dataclass(frozen=True)
class SuiteProgress:
    """Runs finished over the whole suite, and the comparison and stage running now."""

    done: int
    total: int
    comparison: str
    stage: str


def _report(
    on_progress: Callable[[SuiteProgress], None] | None,
    base: int,
    total: int,
    name: str,
    stage: str,
) -> Callable[[StudyProgress], None] | None:
    if on_progress is None:
        return None
    return lambda p: on_progress(SuiteProgress(base + p.done, total, name, stage))


def run_item(
    item: Planned,
    suite: SuiteConfig,
    pool: TrialPool,
    before: int,
    total: int,
    on_progress: Callable[[SuiteProgress], None] | None = None,
) -> None:
    """Train what one comparison lacks; ``before``: runs of the suite finished outside it."""
    if item.compare is not None:
        report = _report(on_progress, before, total, item.name, "comparison")
        run_comparison(item.compare, pool, report)
        return
    report = _report(on_progress, before, total, item.name, "search")
    study_driver(item.study, pool, on_progress=report).run()
    plan = confirmation(item)
    if plan is None:  # the search was stopped before its budget was spent
        return
    searched = item.study.budget.trials or 0
    run_confirmation(
        plan, pool, _report(on_progress, before + searched, total, item.name, "confirmation")
    )
    study = load_search(item)
    assert study is not None
    keep_verdict(plan, judge(plan), study, confirm_dir(item.study.workdir, item.study.name))


def run_suite(
    suite: SuiteConfig,
    items: list[Planned],
    pool: Callable[[], TrialPool],
    on_progress: Callable[[SuiteProgress], None] | None = None,
) -> int:
    """Train every comparison's missing runs; ``pool`` is called once, and only when there
    is something to train. Returns the runs that were left at the start."""
    totals = {item.name: runs_total(item, suite) for item in items}
    left = {item.name: runs_left(item, suite) for item in items}
    todo = sum(left.values())
    if not todo:
        return 0
    workers = pool()
    total = sum(totals.values())
    for item in items:
        if not runs_left(item, suite):
            continue
        elsewhere = sum(totals[n] - left[n] for n in totals if n != item.name)
        run_item(item, suite, workers, elsewhere, total, on_progress)
        left[item.name] = runs_left(item, suite)
    return todo
