"""Which init schemes a comparison trains, by name, each as an :class:`InitSpec`.

Names: a registered scheme's own name (``kaiming``, ``xavier``, ``lecun_normal`` (alias
``lecun``), ``orthogonal``, ``lps``, ``gradinit``, ``updater``, ``zero``...), ``emergence`` (the
rule over the alpha grid, one scheme per alpha, named ``emergence(alpha=1.1)``) or one such
name, and ``searched-best`` (the best completed searched trial of the study, its ``init`` user
attribute as recorded by the study driver). Options come from the study's
``baselines.options`` as for the study's baselines; the emergence rule's base is the study's
``search.base_init``. The reference, Kaiming, is always included: every test is against it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from initsearch.config import StudyConfig
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec, scheme_names
from initsearch.search.baselines import baseline_name

REFERENCE = "kaiming"
SEARCHED = "searched-best"
DEFAULT_SCHEMES = (
    "kaiming",
    "xavier",
    "lecun_normal",
    "orthogonal",
    "emergence",
    "lps",
    "gradinit",
    "updater",
    SEARCHED,
)
DEFAULT_ALPHAS = (1.05, 1.1, 1.2, 1.3, 1.5)
ALIASES = {"lecun": "lecun_normal"}
_ONE_ALPHA = re.compile(r"^emergence\(alpha=([^)]+)\)$")


@dataclass(frozen=True)
class Scheme:
    """One arm of the comparison: a display name and the init every seed of it runs."""

    name: str
    init: InitSpec


@dataclass(frozen=True)
class SearchedBest:
    """The study's best completed searched trial."""

    trial: int
    value: float
    init: InitSpec


def alpha_grid(cfg: StudyConfig, alphas: list[float] | None = None) -> list[float]:
    """The alphas of the emergence rule: given, else the study file's
    ``baselines.emergence_alphas`` when the file sets them, else :data:`DEFAULT_ALPHAS`."""
    if alphas:
        grid = list(alphas)
    elif "emergence_alphas" in cfg.baselines.model_fields_set:
        grid = list(cfg.baselines.emergence_alphas)
    else:
        grid = list(DEFAULT_ALPHAS)
    bad = [a for a in grid if not (math.isfinite(a) and a > 0)]
    if bad:
        raise ConfigError(f"emergence alphas must be numbers > 0, got {bad}; e.g. 1.05,1.1,1.2")
    return grid


def searched_best(cfg: StudyConfig) -> SearchedBest | None:
    """The best completed trial of the study that is not a baseline, or None when the study
    does not exist (yet) or has none. Ranked by the study's first objective."""
    import optuna
    from optuna.trial import TrialState

    from initsearch.search.storage import open_storage, resolve_storage_url

    url = resolve_storage_url(cfg.storage, cfg.workdir, cfg.name)
    if url.startswith("journal://") and not Path(url.removeprefix("journal://")).exists():
        return None
    try:
        study = optuna.load_study(study_name=cfg.name, storage=open_storage(url))
    except KeyError:
        return None
    maximise = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    best = None
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if "baseline" in t.user_attrs or "init" not in t.user_attrs or not t.values:
            continue
        value = t.values[0]
        if best is None or (value > best.values[0] if maximise else value < best.values[0]):
            best = t
    if best is None:
        return None
    init = best.user_attrs["init"]
    spec = InitSpec(
        scheme=init["scheme"],
        scales=tuple(init["scales"]) if init.get("scales") is not None else None,
        options=dict(init.get("options") or {}),
    )
    return SearchedBest(best.number, float(best.values[0]), spec)


def _options(cfg: StudyConfig, scheme: str) -> dict[str, Any]:
    return dict(cfg.baselines.options.get(scheme, {}))


def _emergence(cfg: StudyConfig, alpha: float) -> Scheme:
    options = {"base": cfg.search.base_init, **_options(cfg, "emergence"), "alpha": alpha}
    return Scheme(baseline_name("emergence", alpha), InitSpec("emergence", options=options))


def requested_names(cfg: StudyConfig, schemes: list[str] | None) -> list[str]:
    """The names asked for, or the default list plus any other scheme the study's baselines
    name (e.g. ``lps_data``), with the reference first."""
    if schemes:
        names = [ALIASES.get(s.strip(), s.strip()) for s in schemes if s.strip()]
    else:
        names = list(DEFAULT_SCHEMES)
        names += [s for s in cfg.baselines.schemes if s not in names]
    if REFERENCE not in names:
        names.insert(0, REFERENCE)
    return list(dict.fromkeys(names))


def build_schemes(
    cfg: StudyConfig,
    schemes: list[str] | None = None,
    alphas: list[float] | None = None,
    searched: SearchedBest | None = None,
) -> list[Scheme]:
    """The comparison's arms in order. ``searched-best`` is skipped when the study has no
    completed searched trial unless it was asked for by name (then it is an error)."""
    known = set(scheme_names())
    out: list[Scheme] = []
    for name in requested_names(cfg, schemes):
        one = _ONE_ALPHA.match(name)
        if name == "emergence":
            out += [_emergence(cfg, a) for a in alpha_grid(cfg, alphas)]
        elif one:
            try:
                alpha = float(one.group(1))
            except ValueError:
                raise ConfigError(f"bad scheme {name!r}: alpha must be a number") from None
            out += [_emergence(cfg, alpha_grid(cfg, [alpha])[0])]
        elif name == SEARCHED:
            if searched is not None:
                out.append(Scheme(SEARCHED, searched.init))
            elif schemes:
                raise ConfigError(
                    f"scheme {SEARCHED} needs a completed searched trial of study {cfg.name!r} "
                    f"under {cfg.workdir}; run `initsearch study start FILE` first, or leave "
                    f"{SEARCHED} out of --schemes"
                )
        elif name in known:
            out.append(Scheme(name, InitSpec(name, options=_options(cfg, name))))
        else:
            raise ConfigError(
                f"unknown scheme {name!r} in --schemes; choose from "
                f"{', '.join(sorted(known | {'emergence', 'lecun', SEARCHED}))} "
                "or emergence(alpha=X)"
            )
    seen: dict[str, Scheme] = {}
    for s in out:
        seen.setdefault(s.name, s)
    return list(seen.values())
