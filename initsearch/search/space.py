"""The search space: per-layer log-scale factors over a base init, optionally tied in groups,
optionally with the emergence rule's tunable option.

A trial's parameters are ``log_scale_<i>`` (one per scalable layer, or ``log_scale_g<j>`` per
tied group) in [log(scale_low), log(scale_high)] and, when ``search.emergence_alpha`` is set,
the rule's tunable option under its own name (``alpha``), searched on a log axis. Sampling the
logarithm makes a halving and a doubling equally likely. The rule is asked of the scheme
registry (:class:`SchemeInfo`: its tunable option, its closed-form profile), never matched by
name, so :func:`closed_form_params` works for any scheme with a closed form.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from initsearch.config import StudyConfig
from initsearch.data import data_shape
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec, SchemeInfo, get_scheme
from initsearch.models import ModelSpec, layer_list

SEARCHED_RULE = "emergence"
"""The scheme whose tunable option ``search.emergence_alpha`` spans (the study file's key
names it)."""
BASE_OPTION = "base"  # the option a tunable scheme takes its base init from


@dataclass(frozen=True)
class LayerInfo:
    """What the search needs to know of the study's model: layer names and depths."""

    names: tuple[str, ...]
    depths: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.names)


def layer_info(cfg: StudyConfig) -> LayerInfo:
    """The study model's scalable layers, from the model spec and the data set's shape alone
    (a meta-device build: no data is loaded and no weight allocated)."""
    layers = layer_list(ModelSpec(**cfg.model.model_dump()), data_shape(cfg.data.name))
    return LayerInfo(tuple(name for name, _ in layers), tuple(depth for _, depth in layers))


def searched_rule() -> SchemeInfo:
    """The scheme whose tunable option the space may search (see ``SEARCHED_RULE``)."""
    return get_scheme(SEARCHED_RULE)


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
        option = searched_rule().tunable
        dists[option] = optuna.distributions.FloatDistribution(lo, hi, log=True)
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
    rule = searched_rule()
    if rule.tunable in params:
        options = {rule.tunable: float(params[rule.tunable]), BASE_OPTION: cfg.search.base_init}
        return InitSpec(scheme=rule.name, scales=tuple(scales), options=options)
    return InitSpec(scheme=cfg.search.base_init, scales=tuple(scales))


def closed_form_params(
    scheme: SchemeInfo, options: Mapping[str, Any], cfg: StudyConfig, info: LayerInfo
) -> dict[str, float] | None:
    """The space's point equal to ``scheme`` with ``options`` over the study's base init (its
    closed-form profile as log-scales), or None when the space has no such point: the scheme
    has no closed form, the space also searches the rule's option, a factor lies outside the
    bounds, or tied groups make the profile unrepresentable. Options the closed form cannot
    read give None too: the trial itself reports them."""
    if cfg.search.emergence_alpha is not None or scheme.closed_form is None:
        return None
    try:
        logs = [math.log(s) for s in scheme.closed_form(list(info.depths), options)]
    except (TypeError, ValueError, ArithmeticError):
        return None
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
