"""Baselines: named init schemes that run as trials of the study, before the search.

A baseline trial carries the user attribute ``contract.BASELINE`` (its name). A scheme with a
tunable option (the emergence rule's alpha) runs over the study's base init once per value of
``baselines.emergence_alphas``, named ``scheme(option=value)``. Where the baseline is a point
of the search space (Kaiming over a Kaiming base: the origin of either space; a closed-form
profile such as the rule's alpha powers), it is enqueued with those parameters so the sampler
learns from it; other schemes (Xavier, LPS, GradInit) are enqueued without parameters so they
do not pollute the sampler's model.
"""

from __future__ import annotations

from dataclasses import dataclass

from initsearch.config import StudyConfig
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec, SchemeInfo, get_scheme, scheme_names
from initsearch.inits.options import BASE_OPTION
from initsearch.search.space import LayerInfo, closed_form_params, origin_params


@dataclass(frozen=True)
class Baseline:
    name: str
    init: InitSpec
    params: dict[str, float] | None


def grid_init(scheme: SchemeInfo, value: float, cfg: StudyConfig) -> InitSpec:
    """``scheme`` at ``value`` of its tunable option, over the study's base init unless the
    study's ``baselines.options`` give it a base of its own."""
    options = dict(cfg.baselines.options.get(scheme.name, {}))
    options = {BASE_OPTION: cfg.search.base_init, **options, scheme.tunable: value}
    return InitSpec(scheme.name, options=options)


def grid_baselines(
    scheme: SchemeInfo, values: list[float], cfg: StudyConfig, info: LayerInfo
) -> list[Baseline]:
    """One baseline per value of ``scheme``'s tunable option (see :func:`grid_init`)."""
    # a base of its own makes it no point of the space (whose base is search.base_init)
    own_base = BASE_OPTION in cfg.baselines.options.get(scheme.name, {})
    out = []
    for value in values:
        init = grid_init(scheme, value, cfg)
        params = None if own_base else closed_form_params(scheme, init.options, cfg, info)
        out.append(Baseline(scheme.grid_name(value), init, params))
    return out


def study_baselines(cfg: StudyConfig, info: LayerInfo) -> list[Baseline]:
    known = set(scheme_names())
    out: list[Baseline] = []
    for name in cfg.baselines.schemes:
        if name not in known:
            raise ConfigError(
                f"baselines.schemes names unknown scheme {name!r}; choose from "
                f"{', '.join(sorted(known))}"
            )
        scheme = get_scheme(name)
        if scheme.tunable is not None:
            out += grid_baselines(scheme, list(cfg.baselines.emergence_alphas), cfg, info)
            continue
        options = dict(cfg.baselines.options.get(name, {}))
        # the base init itself is the space's origin (every log-scale 0; profile (0, 0, 0))
        params = origin_params(cfg, info) if name == cfg.search.base_init and not options else None
        out.append(Baseline(name, InitSpec(scheme=name, options=options), params))
    return out
