"""The samplers a study file may name (``sampler.name``), built the way Optuna recommends them.

``SAMPLERS`` maps each name to a factory of (sampler config, search distributions); a new
sampler is one factory plus one entry (and its name in ``SamplerConfig``). TPE runs
multivariate with the constant liar, so parallel workers do not all propose the same point.
The grid takes low, middle and high of each parameter (the geometric middle on a log axis).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import optuna
from optuna.distributions import FloatDistribution

from initsearch.config import SamplerConfig

Distributions = Mapping[str, FloatDistribution]
SamplerFactory = Callable[[SamplerConfig, Distributions], optuna.samplers.BaseSampler]


def _tpe(cfg: SamplerConfig, dists: Distributions) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(seed=cfg.seed, multivariate=True, constant_liar=True)


def _cmaes(cfg: SamplerConfig, dists: Distributions) -> optuna.samplers.BaseSampler:
    return optuna.samplers.CmaEsSampler(seed=cfg.seed)


def _gp(cfg: SamplerConfig, dists: Distributions) -> optuna.samplers.BaseSampler:
    return optuna.samplers.GPSampler(seed=cfg.seed)


def _random(cfg: SamplerConfig, dists: Distributions) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=cfg.seed)


def _grid_values(d: FloatDistribution) -> list[float]:
    """Low, middle and high of a parameter: the grid grows as 3**parameters."""
    middle = (d.low * d.high) ** 0.5 if d.log else (d.low + d.high) / 2
    return sorted({d.low, middle, d.high})


def _grid(cfg: SamplerConfig, dists: Distributions) -> optuna.samplers.BaseSampler:
    grid = {name: _grid_values(d) for name, d in dists.items()}
    return optuna.samplers.GridSampler(grid, seed=cfg.seed)


SAMPLERS: dict[str, SamplerFactory] = {
    "tpe": _tpe,
    "cmaes": _cmaes,
    "gp": _gp,
    "random": _random,
    "grid": _grid,
}


def build_sampler(cfg: SamplerConfig, dists: Distributions) -> optuna.samplers.BaseSampler:
    """The sampler ``cfg`` names, over the search space ``dists``."""
    return SAMPLERS[cfg.name](cfg, dists)
