"""Samplers and pruners named in a study file, built the way Optuna recommends them."""

from __future__ import annotations

import itertools
from typing import Any

import optuna

from initsearch.config import PrunerConfig, SamplerConfig

GRID_POINTS = 3  # low, middle, high per parameter; the grid grows as 3**parameters


def build_sampler(
    cfg: SamplerConfig, dists: dict[str, optuna.distributions.FloatDistribution]
) -> optuna.samplers.BaseSampler:
    if cfg.name == "tpe":
        return optuna.samplers.TPESampler(seed=cfg.seed, multivariate=True, constant_liar=True)
    if cfg.name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=cfg.seed)
    if cfg.name == "gp":
        return optuna.samplers.GPSampler(seed=cfg.seed)
    if cfg.name == "random":
        return optuna.samplers.RandomSampler(seed=cfg.seed)
    grid = {
        name: sorted({d.low, (d.low + d.high) / 2, d.high})
        if not d.log
        else sorted({d.low, (d.low * d.high) ** 0.5, d.high})
        for name, d in dists.items()
    }
    return optuna.samplers.GridSampler(grid, seed=cfg.seed)


def grid_size(dists: dict[str, Any]) -> int:
    return len(list(itertools.product(*[range(GRID_POINTS)] * len(dists))))


def build_pruner(cfg: PrunerConfig | dict[str, Any], epochs: int) -> optuna.pruners.BasePruner:
    if isinstance(cfg, dict):
        cfg = PrunerConfig(**cfg)
    if cfg.name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=cfg.startup_trials, n_warmup_steps=cfg.warmup_epochs
        )
    if cfg.name == "percentile":
        # Optuna's percentile is the share of trials kept: keep 100 - p, stop the worst p
        return optuna.pruners.PercentilePruner(
            100.0 - cfg.percentile,
            n_startup_trials=cfg.startup_trials,
            n_warmup_steps=cfg.warmup_epochs,
        )
    if cfg.name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs)
    return optuna.pruners.NopPruner()
