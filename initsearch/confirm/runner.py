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
from initsearch.compare.runner import compare_driver
from initsearch.confirm.plan import ConfirmPlan
from initsearch.contract import STUDY_CONFIRMED
from initsearch.run.driver import Driver, StudyProgress
from initsearch.run.pool import TrialPool

STAGE = "confirmation"


def confirm_driver(
    plan: ConfirmPlan,
    pool: TrialPool,
    on_progress: Callable[[StudyProgress], None] | None = None,
) -> Driver:
    """A driver whose work is the confirmation's (arm, seed) pairs."""
    study = plan.compare.study.name
    return compare_driver(
        plan.compare, pool, on_progress, stage=STAGE, experiment=study, serves=STUDY_CONFIRMED
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
