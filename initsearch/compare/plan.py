"""What a comparison runs: its own study config, the arms (schemes), the paired seeds, and
the key that matches a stored trial to its (scheme, seed) pair.

A comparison of study ``S`` is the Optuna study ``S-compare`` in S's storage, tracked in the
MLflow experiment ``initsearch/S-compare`` in S's tracking store. A trial is matched to its pair
by user attrs ``scheme``, ``seed``, ``init`` (the exact spec) and ``setup`` (a hash of data,
model and training settings and the split judged on, the device excluded). Changing a scheme's
options, the searched best or ``--epochs`` therefore runs new trials beside the old ones
instead of mixing results of different set-ups.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from initsearch import stores
from initsearch.compare.metrics import SPLIT
from initsearch.compare.schemes import (
    Scheme,
    SearchedBest,
    build_schemes,
    init_key,
    searched_best,
)
from initsearch.config import BudgetConfig, ObjectiveConfig, PrunerConfig, StudyConfig
from initsearch.contract import INIT, SCHEME, SEED, SETUP
from initsearch.errors import ConfigError
from initsearch.search.space import LayerInfo, layer_info

SUFFIX = "-compare"
DONE = (TrialState.COMPLETE, TrialState.PRUNED)

Key = tuple[str, int, str, str]


def setup_hash(cfg: StudyConfig) -> str:
    """What makes two runs of one (scheme, seed) the same experiment, device aside. The split
    judged on is part of it: a run stored before comparisons measured the test split has no
    test figures, so it is trained again rather than reused."""
    dumped = cfg.model_dump(mode="json")
    train = {k: v for k, v in dumped["train"].items() if k != "device"}
    text = json.dumps(
        {"data": dumped["data"], "model": dumped["model"], "train": train, "judged_on": SPLIT},
        sort_keys=True,
    )
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def trial_key(trial: FrozenTrial) -> Key | None:
    """The (scheme, seed, init, setup) a comparison trial runs; None for other trials."""
    a = trial.user_attrs
    if not all(k in a for k in (SCHEME, SEED, INIT, SETUP)):
        return None
    return (a[SCHEME], int(a[SEED]), init_key(a[INIT]), a[SETUP])


@dataclass(frozen=True)
class ComparePlan:
    """What a comparison runs: the study compared, its own config, the arms, the seeds."""

    study: StudyConfig
    cfg: StudyConfig
    schemes: list[Scheme]
    seeds: tuple[int, ...]
    info: LayerInfo
    searched: SearchedBest | None
    setup: str
    target: float | None

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def storage_url(self) -> str:
        return stores.storage_url(self.cfg.storage, self.cfg.workdir, self.cfg.name)

    def key(self, scheme: Scheme, seed: int) -> Key:
        return (scheme.name, seed, init_key(scheme.init), self.setup)

    def pairs(self) -> list[tuple[Scheme, int]]:
        """Seed-major: every scheme of seed s before seed s + 1, so an interrupted comparison
        leaves complete pairs to test."""
        return [(s, seed) for seed in self.seeds for s in self.schemes]

    def pair_keys(self) -> dict[Key, tuple[Scheme, int]]:
        return {self.key(s, seed): (s, seed) for s, seed in self.pairs()}


def comparison_config(
    study: StudyConfig,
    seeds: int,
    epochs: int | None = None,
    target: float | None = None,
    first_seed: int | None = None,
) -> StudyConfig:
    """The comparison's own study config: S-compare, in S's storage and tracking store,
    single objective (final validation accuracy: the trials' Optuna value; the statistics read
    the test split from each run's record), no pruner, one trial per (scheme, seed). Seeds
    start at the study's ``budget.first_seed`` unless ``first_seed`` says otherwise (a suite
    compares on seeds no search of it used)."""
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {epochs}")
    if target is not None and not 0 < target <= 1:
        raise ConfigError(f"--target must be an accuracy in (0, 1], got {target}")
    train = study.train.model_copy(update={"epochs": epochs}) if epochs else study.train
    return study.model_copy(
        update={
            "name": f"{study.name}{SUFFIX}",
            "storage": stores.storage_url(study.storage, study.workdir, study.name),
            "tracking_uri": stores.tracking_uri(study.tracking_uri, study.workdir, study.name),
            "train": train,
            "objective": ObjectiveConfig(
                metric="val_accuracy",
                target_accuracy=target or study.objective.target_accuracy,
            ),
            "pruner": PrunerConfig(name="none"),
            "baselines": study.baselines.model_copy(update={"schemes": []}),
            "budget": BudgetConfig(
                trials=1,
                seeds_per_trial=seeds,
                first_seed=study.budget.first_seed if first_seed is None else first_seed,
            ),
        }
    )


def plan_comparison(
    study: StudyConfig,
    seeds: int,
    schemes: list[str] | None = None,
    alphas: list[float] | None = None,
    epochs: int | None = None,
    target: float | None = None,
    *,
    extra: Sequence[Scheme] = (),
    first_seed: int | None = None,
) -> ComparePlan:
    """``extra``: arms named and specified by the caller (a suite's ``arms``), after the
    named schemes."""
    cfg = comparison_config(study, seeds, epochs, target, first_seed)
    best = searched_best(study)
    arms = build_schemes(study, schemes, alphas, best)
    arms += [a for a in extra if a.name not in {b.name for b in arms}]
    cfg = cfg.model_copy(
        update={"budget": cfg.budget.model_copy(update={"trials": len(arms) * seeds})}
    )
    return ComparePlan(
        study=study,
        cfg=cfg,
        schemes=arms,
        seeds=cfg.budget.seeds,
        info=layer_info(study),
        searched=best,
        setup=setup_hash(cfg),
        target=target,
    )


def load_comparison_study(plan: ComparePlan) -> optuna.Study | None:
    """The comparison's Optuna study if it exists."""
    return stores.load_study_if_present(plan.storage_url, plan.name)


def finished_keys(study: optuna.Study | None) -> set[Key]:
    if study is None:
        return set()
    return {
        k for t in study.get_trials(deepcopy=False, states=DONE) if (k := trial_key(t)) is not None
    }


def pending(plan: ComparePlan) -> int:
    """Pairs of the plan with no finished run yet (what a driver would still train)."""
    done = finished_keys(load_comparison_study(plan))
    return sum(k not in done for k in plan.pair_keys())
