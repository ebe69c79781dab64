"""Run a confirmation: every (arm, seed) pair of the plan, through the study machinery.

The pairs are a comparison's work list (:class:`~initsearch.compare.source.CompareSource`):
one trial per pair, enqueued once, nothing sampled or pruned, measured on the test split, and
resumed pair by pair when interrupted. Its MLflow runs go to the confirmed study's own
experiment, under a parent run of the confirmation, tagged ``initsearch.stage =
confirmation``.
"""

from __future__ import annotations

from collections.abc import Callable

from initsearch.compare.plan import pending
from initsearch.compare.source import CompareSource
from initsearch.confirm.plan import ConfirmPlan
from initsearch.contract import STUDY_CONFIRMED
from initsearch.run.driver import Driver, StudyProgress
from initsearch.run.pool import TrialPool
from initsearch.search.study import assemble_driver, open_tracked

STAGE = "confirmation"


def confirm_driver(
    plan: ConfirmPlan,
    pool: TrialPool,
    on_progress: Callable[[StudyProgress], None] | None = None,
) -> Driver:
    """A driver whose work is the confirmation's (arm, seed) pairs."""
    compare = plan.compare
    opened = open_tracked(compare.cfg, pool.workers, experiment=compare.study.name, stage=STAGE)
    opened.study.set_user_attr(STUDY_CONFIRMED, compare.study.name)
    return assemble_driver(
        opened,
        lambda ledger: CompareSource(compare, opened.study, ledger),
        pool,
        compare.cfg.budget.trials,
        on_progress,
    )


def confirmation_pending(plan: ConfirmPlan) -> int:
    """Pairs of the plan with no finished run yet."""
    return pending(plan.compare)


def run_confirmation(
    plan: ConfirmPlan,
    pool: TrialPool,
    on_progress: Callable[[StudyProgress], None] | None = None,
) -> Driver:
    """Train every pair of the plan that has no finished run; returns the driver used."""
    driver = confirm_driver(plan, pool, on_progress)
    driver.run()
    return driver
