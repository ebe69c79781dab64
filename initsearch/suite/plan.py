"""What a suite runs, comparison by comparison, and what is left to train.

A plain comparison is a :class:`~initsearch.compare.plan.ComparePlan` over the suite's arms and
seeds. A searching comparison is a study: its search (baselines and sampled scales on the
validation split), then its confirmation (:mod:`initsearch.confirm`), which can only be planned
once the search has ranked its trials. Both are resumable from their storages: a second run of
a finished suite finds nothing to train and starts no Ray.
"""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from initsearch import stores
from initsearch.compare.plan import ComparePlan, pending, plan_comparison
from initsearch.compare.schemes import Scheme
from initsearch.config import StudyConfig
from initsearch.confirm import ConfirmPlan, confirmation_pending, plan_confirmation
from initsearch.inits import InitSpec
from initsearch.run.ledger import counts_toward_budget
from initsearch.search.baselines import study_baselines
from initsearch.search.space import layer_info
from initsearch.suite.config import ComparisonConfig, SuiteConfig, comparison_study


@dataclass(frozen=True)
class Planned:
    """One comparison of the suite: its config, its study config and (plain) its plan."""

    comparison: ComparisonConfig
    study: StudyConfig
    compare: ComparePlan | None  # None for a searching comparison

    @property
    def name(self) -> str:
        return self.comparison.name

    @property
    def searches(self) -> bool:
        return self.comparison.search is not None


def extra_arms(suite: SuiteConfig, comparison: ComparisonConfig) -> list[Scheme]:
    return [
        Scheme(name, InitSpec(arm.scheme, options=dict(arm.options)))
        for name, arm in suite.arms_of(comparison).items()
    ]


def plan_one(suite: SuiteConfig, comparison: ComparisonConfig) -> Planned:
    cfg = comparison_study(suite, comparison)
    if comparison.search is not None:
        return Planned(comparison, cfg, None)
    plan = plan_comparison(
        cfg,
        suite.seeds,
        comparison.schemes or suite.schemes,
        comparison.alphas or suite.alphas,
        extra=extra_arms(suite, comparison),
        first_seed=suite.first_seed,
    )
    return Planned(comparison, cfg, plan)


def plan_suite(suite: SuiteConfig) -> list[Planned]:
    return [plan_one(suite, c) for c in suite.comparisons]


def load_search(item: Planned) -> optuna.Study | None:
    cfg = item.study
    return stores.load_study_if_present(
        stores.storage_url(cfg.storage, cfg.workdir, cfg.name), cfg.name
    )


def search_left(item: Planned) -> int:
    """Searched and baseline trials the study still has to finish (0 for a plain one)."""
    if not item.searches:
        return 0
    study = load_search(item)
    used = sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False)) if study else 0
    return max((item.study.budget.trials or 0) - used, 0)


def confirmation(item: Planned) -> ConfirmPlan | None:
    """The searching comparison's confirmation, once its search has finished trials."""
    study = load_search(item)
    if study is None or search_left(item):
        return None
    return plan_confirmation(item.study, study)


def runs_total(item: Planned, suite: SuiteConfig) -> int:
    """Runs the comparison trains in all (a search's trials count once each)."""
    if item.compare is not None:
        return len(item.compare.schemes) * len(item.compare.seeds)
    stage = item.comparison.search
    assert stage is not None
    arms = len(study_baselines(item.study, layer_info(item.study))) + stage.top_k
    return (item.study.budget.trials or 0) + arms * suite.seeds


def runs_left(item: Planned, suite: SuiteConfig) -> int:
    """Runs still to train (what a resumed suite would train)."""
    if item.compare is not None:
        return pending(item.compare)
    left = search_left(item)
    if left:
        stage = item.comparison.search
        assert stage is not None
        return runs_total(item, suite) - (item.study.budget.trials or 0) + left
    plan = confirmation(item)
    return confirmation_pending(plan) if plan is not None else 0
