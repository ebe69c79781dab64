"""The search space: per-layer log-scale factors over a base init, optionally tied in groups,
optionally with the emergence rule's alpha.

A trial's parameters are ``log_scale_<i>`` (one per scalable layer, or ``log_scale_g<j>`` per
tied group) in [log(scale_low), log(scale_high)] and, when searched, ``alpha``. Sampling the
logarithm makes a halving and a doubling equally likely.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import optuna

from initsearch.config import StudyConfig
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec


@dataclass(frozen=True)
class LayerInfo:
    """What the search needs to know of the study's model: layer names and depths."""

    names: tuple[str, ...]
    depths: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.names)


def layer_info(cfg: StudyConfig) -> LayerInfo:
    """Build the study's model once (on CPU, no data) to read its scalable layers."""
    from initsearch.data import load_dataset
    from initsearch.models import DataShape, ModelSpec, build_model

    data = load_dataset(cfg.data.name, root=cfg.data.root, limit=cfg.data.limit)
    model = build_model(ModelSpec(**cfg.model.model_dump()), DataShape.from_dataset(data))
    layers = model.scalable_layers()
    return LayerInfo(tuple(x.name for x in layers), tuple(x.depth for x in layers))


def layer_groups(cfg: StudyConfig, info: LayerInfo) -> list[list[int]]:
    """Which layers share one searched factor: the configured groups, the rest alone."""
    groups = [list(g) for g in (cfg.search.groups or [])]
    used = {i for g in groups for i in g}
    bad = sorted(i for i in used if i >= info.count)
    if bad:
        raise ConfigError(
            f"search.groups names layer indices {bad} but the model has {info.count} scalable "
            f"layers (0..{info.count - 1}); see `initsearch inits show`"
        )
    return groups + [[i] for i in range(info.count) if i not in used]


def param_name(group: list[int], tied: bool) -> str:
    return f"log_scale_g{group[0]}" if tied else f"log_scale_{group[0]}"


def distributions(
    cfg: StudyConfig, info: LayerInfo
) -> dict[str, optuna.distributions.FloatDistribution]:
    low, high = cfg.log_scale_bounds
    dists: dict[str, optuna.distributions.FloatDistribution] = {}
    for group in layer_groups(cfg, info):
        dists[param_name(group, len(group) > 1)] = optuna.distributions.FloatDistribution(low, high)
    if cfg.search.emergence_alpha is not None:
        lo, hi = cfg.search.emergence_alpha
        dists["alpha"] = optuna.distributions.FloatDistribution(lo, hi, log=True)
    return dists


def suggest(trial: optuna.Trial, cfg: StudyConfig, info: LayerInfo) -> InitSpec:
    """Ask the trial for a point of the space and turn it into an init spec."""
    params = {
        name: trial.suggest_float(name, dist.low, dist.high, log=dist.log)
        for name, dist in distributions(cfg, info).items()
    }
    return init_from_params(params, cfg, info)


def init_from_params(params: Mapping[str, float], cfg: StudyConfig, info: LayerInfo) -> InitSpec:
    """The init spec a point of the space stands for (used for searched and retried trials)."""
    scales = [1.0] * info.count
    for group in layer_groups(cfg, info):
        value = params[param_name(group, len(group) > 1)]
        for i in group:
            scales[i] = math.exp(value)
    if "alpha" in params:
        options = {"alpha": float(params["alpha"]), "base": cfg.search.base_init}
        return InitSpec(scheme="emergence", scales=tuple(scales), options=options)
    return InitSpec(scheme=cfg.search.base_init, scales=tuple(scales))


def emergence_params(alpha: float, cfg: StudyConfig, info: LayerInfo) -> dict[str, float] | None:
    """The space's point equal to the emergence rule with ``alpha`` over the study's base init,
    or None when it lies outside the bounds or tied groups make it unrepresentable."""
    if cfg.search.emergence_alpha is not None:
        return None
    from initsearch.inits.emergence import emergence_scales

    depths = list(info.depths)
    logs = [math.log(s) for s in emergence_scales(depths, alpha, max(depths) // 2)]
    low, high = cfg.log_scale_bounds
    params = {}
    for group in layer_groups(cfg, info):
        values = {round(logs[i], 12) for i in group}
        if len(values) != 1:
            return None
        value = logs[group[0]]
        if not low <= value <= high:
            return None
        params[param_name(group, len(group) > 1)] = value
    return params
