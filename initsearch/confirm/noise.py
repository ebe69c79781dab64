"""How noisy the search's objective is from seed to seed, and what difference it can detect.

Every trial of a study trains the same ``budget.seeds_per_trial`` paired seeds; each trial
keeps its objective per seed (user attribute ``seed_values``). The baselines, which always
run to the end, give the estimate: the pooled seed-to-seed standard deviation of the
objective, and the standard deviation of the paired differences between baselines, which is
what decides the smallest difference a paired test on N seeds detects with 80% power at
alpha 0.05 (:func:`initsearch.compare.stats.detectable_difference`). With one seed per trial
nothing can be estimated, and the study says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from initsearch.compare.stats import SeedNoise, seed_noise
from initsearch.contract import BASELINE, REQUEUED, SEED_VALUES


@dataclass(frozen=True)
class SearchNoise:
    """The search's seed noise and the difference detectable at its seeds per trial."""

    seeds_per_trial: int
    noise: SeedNoise | None
    detectable: float | None

    def describe(self, metric: str) -> str:
        if self.seeds_per_trial < 2:
            return (
                f"seed noise of {metric}: not measured with 1 seed per trial (set "
                "budget.seeds_per_trial >= 2, or read the confirmation's)"
            )
        if self.noise is None or self.noise.sd is None:
            return f"seed noise of {metric}: not measured yet (needs two finished baselines)"
        detectable = (
            f"; smallest difference detectable at {self.seeds_per_trial} seeds: "
            f"{self.detectable:.3f} (paired, 80% power, alpha 0.05)"
            if self.detectable is not None
            else ""
        )
        return f"seed-to-seed sd of {metric} in the search: {self.noise.sd:.3f}{detectable}"


def search_noise(study: optuna.Study, seeds_per_trial: int) -> SearchNoise:
    """The estimate from the study's finished baselines (see the module docstring)."""
    values: dict[str, list[float | None]] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        name = t.user_attrs.get(BASELINE)
        per_seed = t.user_attrs.get(SEED_VALUES)
        if name is None or t.user_attrs.get(REQUEUED) or not per_seed:
            continue
        values[name] = list(per_seed)
    if seeds_per_trial < 2 or len(values) < 2:
        return SearchNoise(seeds_per_trial, None, None)
    noise = seed_noise(values)
    return SearchNoise(seeds_per_trial, noise, noise.detectable(seeds_per_trial))
