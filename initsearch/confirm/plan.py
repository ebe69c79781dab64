"""What a confirmation runs: the study's top searched configurations and every baseline, on
fresh paired seeds, measured on the test split.

Why a second stage: the search ranks trials by their validation objective on a few seeds, and
its best trial is the maximum of many noisy values, so its value is biased upward (the
winner's curse). Re-running the top ``confirm.top_k`` configurations beside every baseline on
``confirm.seeds`` seeds the search never used gives unbiased values, paired by seed, to test.

A confirmation of study ``S`` is the Optuna study ``S-confirm`` in S's storage (one trial per
(arm, seed), resumable like a comparison: :class:`~initsearch.compare.source.CompareSource`),
tracked in S's own MLflow experiment under a parent run of its own, with child runs tagged
``initsearch.stage = confirmation``. Arms are named by their baseline name (``kaiming``,
``emergence(alpha=1.1)``) or ``searched#1``.. in the search's order; each searched arm records
the study trial it re-runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from initsearch import stores
from initsearch.compare.plan import ComparePlan, setup_hash
from initsearch.compare.schemes import Scheme, SearchedBest, ranked_searched
from initsearch.config import BudgetConfig, ObjectiveConfig, PrunerConfig, StudyConfig
from initsearch.errors import ConfigError
from initsearch.search.baselines import study_baselines
from initsearch.search.space import layer_info

SUFFIX = "-confirm"
SEARCHED_PREFIX = "searched#"


def searched_name(rank: int) -> str:
    """The arm name of the searched configuration at ``rank`` (0: the search's best)."""
    return f"{SEARCHED_PREFIX}{rank + 1}"


@dataclass(frozen=True)
class ConfirmPlan:
    """The arms (baselines, then searched), the fresh seeds, and the comparison machinery's
    plan that runs them."""

    compare: ComparePlan
    baselines: tuple[str, ...]
    searched: tuple[SearchedBest, ...]  # in the search's order: searched#1, #2, ...
    metric: str
    maximize: bool

    @property
    def name(self) -> str:
        return self.compare.name

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.compare.seeds

    def kind(self, arm: str) -> str:
        return "baseline" if arm in self.baselines else "searched"


def confirmation_config(cfg: StudyConfig, seeds: tuple[int, ...], trials: int) -> StudyConfig:
    """S-confirm: in S's storage, one trial per (arm, seed), its first objective, no pruner."""
    return cfg.model_copy(
        update={
            "name": f"{cfg.name}{SUFFIX}",
            "storage": stores.storage_url(cfg.storage, cfg.workdir, cfg.name),
            "tracking_uri": stores.tracking_uri(cfg.tracking_uri, cfg.workdir, cfg.name),
            "objective": ObjectiveConfig(
                metric=cfg.objective.metric, target_accuracy=cfg.objective.target_accuracy
            ),
            "pruner": PrunerConfig(name="none"),
            "baselines": cfg.baselines.model_copy(update={"schemes": []}),
            "budget": BudgetConfig(trials=trials, seeds_per_trial=1, first_seed=seeds[0]),
        }
    )


def plan_confirmation(
    cfg: StudyConfig, study: optuna.Study, top_k: int | None = None, seeds: int | None = None
) -> ConfirmPlan:
    """The confirmation of ``study`` (defaults: the study file's ``confirm`` section)."""
    k = cfg.confirm.top_k if top_k is None else top_k
    m = cfg.confirm.seeds if seeds is None else seeds
    if k < 1:
        raise ConfigError(f"--top must be at least 1, got {k}")
    if m < 2:
        raise ConfigError(f"--seeds must be at least 2 (a paired test needs two), got {m}")
    seed_list = cfg.confirm.model_copy(update={"seeds": m}).seed_list
    used = set(cfg.budget.seeds) & set(seed_list)
    if used:
        raise ConfigError(
            f"confirmation seeds {sorted(used)} were used by the search; raise "
            "confirm.first_seed so the confirmation measures on fresh seeds"
        )
    info = layer_info(cfg)
    baselines = [Scheme(b.name, b.init) for b in study_baselines(cfg, info)]
    if not baselines:
        raise ConfigError(
            f"study {cfg.name} has no baselines to confirm against; list some under "
            "baselines.schemes"
        )
    searched = ranked_searched(study, k)
    arms = baselines + [Scheme(searched_name(i), s.init, s.trial) for i, s in enumerate(searched)]
    own = confirmation_config(cfg, seed_list, len(arms) * m)
    compare = ComparePlan(
        study=cfg,
        cfg=own,
        schemes=arms,
        seeds=seed_list,
        info=info,
        searched=None,
        setup=setup_hash(own),
        target=cfg.objective.target_accuracy,
    )
    return ConfirmPlan(
        compare=compare,
        baselines=tuple(b.name for b in baselines),
        searched=tuple(searched),
        metric=cfg.objective.metric,
        maximize=cfg.objective.directions[0] == "maximize",
    )
