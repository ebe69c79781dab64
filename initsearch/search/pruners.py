"""The pruners a study file may name (``pruner.name``): when to stop a searched trial early.

``PRUNERS`` maps each name to a factory of (pruner config, epochs); a new pruner is one
factory plus one entry (and its name in ``PrunerConfig``). Epochs are the pruning steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna

from initsearch.config import PrunerConfig

PrunerFactory = Callable[[PrunerConfig, int], optuna.pruners.BasePruner]


def _median(cfg: PrunerConfig, epochs: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.MedianPruner(
        n_startup_trials=cfg.startup_trials, n_warmup_steps=cfg.warmup_epochs
    )


def _percentile(cfg: PrunerConfig, epochs: int) -> optuna.pruners.BasePruner:
    # Optuna's percentile is the share of trials kept: keep 100 - p, stop the worst p
    return optuna.pruners.PercentilePruner(
        100.0 - cfg.percentile,
        n_startup_trials=cfg.startup_trials,
        n_warmup_steps=cfg.warmup_epochs,
    )


def _hyperband(cfg: PrunerConfig, epochs: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs)


def _none(cfg: PrunerConfig, epochs: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.NopPruner()


PRUNERS: dict[str, PrunerFactory] = {
    "median": _median,
    "percentile": _percentile,
    "hyperband": _hyperband,
    "none": _none,
}


def build_pruner(cfg: PrunerConfig | dict[str, Any], epochs: int) -> optuna.pruners.BasePruner:
    """The pruner ``cfg`` names (a dict is a pruner config that crossed a process boundary)."""
    if isinstance(cfg, dict):
        cfg = PrunerConfig(**cfg)
    return PRUNERS[cfg.name](cfg, epochs)
