"""The search space over a base init: free per-layer log-scales, or a three-number profile.

``search.space: per_layer``: parameters ``log_scale_<i>_<layer>`` (one per scalable layer,
e.g. ``log_scale_03_fc3``, the index zero-padded so names sort by depth order, or
``log_scale_g<j>_<layer>+<n>`` per tied group) in [log(scale_low), log(scale_high)] and, when
``search.emergence_alpha`` is set, the rule's tunable option under its own name (``alpha``),
searched on a log axis. Sampling the logarithm makes a halving and a doubling equally likely.

``search.space: profile``: ``profile_a``, ``profile_b``, ``profile_c`` with
log s_i = a + b t_i + c t_i^2, t_i = (depth_i - pivot) / half_range (:func:`profile_positions`);
a in [log(scale_low), log(scale_high)], b in ``profile_slope``, c in ``profile_curvature``.
The base init is the origin and the emergence rule at alpha is (0, log(alpha) * half_range, 0),
so three numbers move smoothly between all ones, the rule and departures from it
(docs/search-spaces.md).

Studies stored before parameters carried layer names use ``log_scale_<i>``/``log_scale_g<j>``:
:func:`with_stored_names` keeps asking them so (the sampler's history and enqueued retries stay
valid) and :func:`init_from_params` reads both.

Closed-form schemes are asked of the scheme registry (:class:`SchemeInfo`), never matched by
name, so :func:`closed_form_params` finds the point of either space equal to any of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import optuna

from initsearch import stores
from initsearch.config import StudyConfig
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec, SchemeInfo, get_scheme
from initsearch.inits.options import BASE_OPTION
from initsearch.models import layer_list

SEARCHED_RULE = "emergence"
"""The scheme whose tunable option ``search.emergence_alpha`` spans (the study file's key
names it)."""
PROFILE_PARAMS = ("profile_a", "profile_b", "profile_c")
"""The profile space's parameters: level, slope and curvature of the log-scales over depth."""
FIT_TOLERANCE = 1e-9
"""Largest log-scale residual (and bound overshoot) at which a closed form is a point."""
LAYER_CHARS = 24
"""At most this much of a layer's name goes into a parameter name (names stay short)."""
LEGACY_PARAM = re.compile(r"log_scale_g?\d+")
"""A per-layer parameter as studies stored before names carried the layer."""


@dataclass(frozen=True)
class LayerInfo:
    """What the search needs to know of the study's model: layer names and depths."""

    names: tuple[str, ...]
    depths: tuple[int, ...]
    legacy_names: bool = False  # the study's parameters are log_scale_<i> (an older study)

    @property
    def count(self) -> int:
        return len(self.names)


def layer_info(cfg: StudyConfig) -> LayerInfo:
    """The study model's scalable layers, from the model spec and the data set's shape alone
    (a built-in family on the meta device: no data is loaded and no weight allocated; a
    factory model traced on a synthetic batch; a data factory's data is loaded for its shape)."""
    spec = cfg.trial_spec(InitSpec(), cfg.budget.first_seed)
    layers = layer_list(spec.model, spec.data.shape())
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


def legacy_param_name(group: list[int], tied: bool) -> str:
    """The parameter's name in studies stored before names carried the layer."""
    return f"log_scale_g{group[0]}" if tied else f"log_scale_{group[0]}"


def param_name(group: list[int], tied: bool, info: LayerInfo) -> str:
    """``log_scale_03_fc3`` (``log_scale_g01_fc1+2`` for fc1 tied with two more layers): the
    index zero-padded to the layer count's width so names sort in layer order, then the
    layer's name (characters other than letters, digits, ``.`` and ``_`` become ``_``)."""
    if info.legacy_names:
        return legacy_param_name(group, tied)
    width = max(2, len(str(info.count - 1)))
    layer = re.sub(r"[^A-Za-z0-9._]", "_", info.names[group[0]])[:LAYER_CHARS]
    prefix = f"log_scale_g{group[0]:0{width}d}" if tied else f"log_scale_{group[0]:0{width}d}"
    return f"{prefix}_{layer}" + (f"+{len(group) - 1}" if tied else "")


def with_stored_names(info: LayerInfo, storage_url: str, study_name: str) -> LayerInfo:
    """``info`` naming parameters as the stored study already does: a study whose trials hold
    ``log_scale_<i>`` parameters goes on asking for those (its sampler's history, a grid and
    enqueued retries refer to them); a new study, or one with named parameters, uses names."""
    study = stores.load_study_if_present(storage_url, study_name)
    if study is None:
        return info
    for trial in study.get_trials(deepcopy=False):
        if any(LEGACY_PARAM.fullmatch(name) for name in trial.params):
            return replace(info, legacy_names=True)
        if trial.params:
            return info
    return info


def profile_positions(depths: Sequence[int]) -> list[float]:
    """Each layer's position t_i = (depth_i - pivot) / half_range on the profile's axis.

    pivot = max_depth // 2 is the emergence rule's default pivot and half_range =
    max(pivot, max_depth - pivot) (at least 1), so t runs from about -1 (first layer) to 1
    (the head) and a model with one depth has t = 0."""
    if not depths:
        return []
    top = max(depths)
    pivot = top // 2
    half_range = max(pivot, top - pivot, 1)
    return [(d - pivot) / half_range for d in depths]


def profile_scales(depths: Sequence[int], a: float, b: float, c: float) -> list[float]:
    """The per-layer factors exp(a + b t_i + c t_i^2) of the profile point (a, b, c)."""
    return [math.exp(a + b * t + c * t * t) for t in profile_positions(depths)]


def profile_params(
    depths: Sequence[int], log_scales: Sequence[float]
) -> tuple[float, float, float, float]:
    """The least-squares profile (a, b, c) of per-layer log-scales, and the largest residual
    |log s_i - (a + b t_i + c t_i^2)|: 0 when the profile is exact.

    With fewer than three distinct positions the higher terms are not identifiable and are 0
    (two positions fit a line, one a constant): the simplest profile is the point."""
    t = np.asarray(profile_positions(depths), dtype=float)
    y = np.asarray(log_scales, dtype=float)
    if t.shape != y.shape:
        raise ValueError(f"{len(y)} log-scales for {len(t)} layers")
    if not len(t):
        return 0.0, 0.0, 0.0, 0.0
    terms = min(3, len(np.unique(t)))
    design = np.vander(t, 3, increasing=True)[:, :terms]
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    a, b, c = [float(x) for x in coef] + [0.0] * (3 - terms)
    return a, b, c, float(np.max(np.abs(design @ coef - y)))


def profile_distributions(cfg: StudyConfig) -> dict[str, optuna.distributions.FloatDistribution]:
    """The profile space: level a in the log-scale bounds, slope b, curvature c."""
    bounds = (cfg.log_scale_bounds, cfg.search.profile_slope, cfg.search.profile_curvature)
    return {
        name: optuna.distributions.FloatDistribution(low, high)
        for name, (low, high) in zip(PROFILE_PARAMS, bounds, strict=True)
    }


def distributions(
    cfg: StudyConfig, info: LayerInfo
) -> dict[str, optuna.distributions.FloatDistribution]:
    if cfg.search.space == "profile":
        return profile_distributions(cfg)
    low, high = cfg.log_scale_bounds
    dists: dict[str, optuna.distributions.FloatDistribution] = {}
    for group in layer_groups(cfg, info):
        dists[param_name(group, len(group) > 1, info)] = optuna.distributions.FloatDistribution(
            low, high
        )
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
    if cfg.search.space == "profile":
        a, b, c = (float(params[name]) for name in PROFILE_PARAMS)
        scales = profile_scales(info.depths, a, b, c)
        return InitSpec(scheme=cfg.search.base_init, scales=tuple(scales))
    scales = [1.0] * info.count
    for group in layer_groups(cfg, info):
        tied = len(group) > 1
        name = param_name(group, tied, info)  # or, from an older study, the index alone
        value = params[name if name in params else legacy_param_name(group, tied)]
        for i in group:
            scales[i] = math.exp(value)
    rule = searched_rule()
    if rule.tunable in params:
        options = {rule.tunable: float(params[rule.tunable]), BASE_OPTION: cfg.search.base_init}
        return InitSpec(scheme=rule.name, scales=tuple(scales), options=options)
    return InitSpec(scheme=cfg.search.base_init, scales=tuple(scales))


def origin_params(cfg: StudyConfig, info: LayerInfo) -> dict[str, float] | None:
    """The space's point equal to the base init itself (every factor 1): 0 for every
    parameter. None when the space also searches the rule's option (its points are the rule)
    or when 0 lies outside a parameter's bounds."""
    if cfg.search.emergence_alpha is not None:
        return None
    dists = distributions(cfg, info)
    if any(not d.low <= 0.0 <= d.high for d in dists.values()):
        return None
    return {name: 0.0 for name in dists}


def closed_form_params(
    scheme: SchemeInfo, options: Mapping[str, Any], cfg: StudyConfig, info: LayerInfo
) -> dict[str, float] | None:
    """The space's point equal to ``scheme`` with ``options`` over the study's base init (its
    closed-form profile as log-scales), or None when the space has no such point: the scheme
    has no closed form, the space also searches the rule's option, a factor (per_layer) or a
    profile number lies outside the bounds, tied groups make the profile unrepresentable, or
    the profile is no quadratic in depth (residual above ``FIT_TOLERANCE``). Options the
    closed form cannot read give None too: the trial itself reports them."""
    if cfg.search.emergence_alpha is not None or scheme.closed_form is None:
        return None
    try:
        logs = [math.log(s) for s in scheme.closed_form(list(info.depths), options)]
    except (TypeError, ValueError, ArithmeticError):
        return None
    if cfg.search.space == "profile":
        return _profile_point(logs, cfg, info)
    low, high = cfg.log_scale_bounds
    params = {}
    for group in layer_groups(cfg, info):
        values = {round(logs[i], 12) for i in group}
        if len(values) != 1:
            return None
        value = logs[group[0]]
        if not low <= value <= high:
            return None
        params[param_name(group, len(group) > 1, info)] = value
    return params


def _profile_point(logs: list[float], cfg: StudyConfig, info: LayerInfo) -> dict[str, float] | None:
    """The profile point of per-layer log-scales, if they are one (a bound overshoot within
    ``FIT_TOLERANCE`` is rounding and is clipped, so the sampler sees a point it can hold)."""
    try:
        *point, residual = profile_params(info.depths, logs)
    except ValueError:  # a closed form with a factor count other than the layer count
        return None
    if not residual <= FIT_TOLERANCE:  # NaN too (an infinite factor)
        return None
    params = {}
    for (name, dist), value in zip(profile_distributions(cfg).items(), point, strict=True):
        if not dist.low - FIT_TOLERANCE <= value <= dist.high + FIT_TOLERANCE:
            return None
        params[name] = min(max(value, dist.low), dist.high)
    return params
