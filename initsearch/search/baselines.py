"""Baselines: named init schemes that run as trials of the study, before the search.

A baseline trial carries the user attribute ``baseline`` (its name). Where the baseline is a
point of the search space (Kaiming over a Kaiming base, the emergence rule as alpha powers), it
is enqueued with those parameters so the sampler learns from it; other schemes (Xavier, LPS,
GradInit) are enqueued without parameters so they do not pollute the sampler's model.
"""

from __future__ import annotations

from dataclasses import dataclass

from initsearch.config import StudyConfig
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec, scheme_names
from initsearch.search.space import LayerInfo, emergence_params, layer_groups, param_name


@dataclass(frozen=True)
class Baseline:
    name: str
    init: InitSpec
    params: dict[str, float] | None


def baseline_name(scheme: str, alpha: float | None = None) -> str:
    return f"{scheme}(alpha={alpha:g})" if alpha is not None else scheme


def study_baselines(cfg: StudyConfig, info: LayerInfo) -> list[Baseline]:
    known = set(scheme_names())
    out: list[Baseline] = []
    for scheme in cfg.baselines.schemes:
        if scheme not in known:
            raise ConfigError(
                f"baselines.schemes names unknown scheme {scheme!r}; choose from "
                f"{', '.join(sorted(known))}"
            )
        options = dict(cfg.baselines.options.get(scheme, {}))
        if scheme == "emergence":
            for alpha in cfg.baselines.emergence_alphas:
                opts = {"base": cfg.search.base_init, **options, "alpha": alpha}
                out.append(
                    Baseline(
                        baseline_name(scheme, alpha),
                        InitSpec(scheme="emergence", options=opts),
                        emergence_params(alpha, cfg, info) if "base" not in options else None,
                    )
                )
            continue
        params = None
        if scheme == cfg.search.base_init and not options and cfg.search.emergence_alpha is None:
            params = {param_name(g, len(g) > 1): 0.0 for g in layer_groups(cfg, info)}
        out.append(Baseline(scheme, InitSpec(scheme=scheme, options=options), params))
    return out
