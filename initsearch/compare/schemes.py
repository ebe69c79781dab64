"""Which init schemes a comparison trains, by name, each as an :class:`InitSpec`.

Names: a registered scheme's own name (``kaiming``, ``xavier``, ``lecun_normal`` (alias
``lecun``), ``orthogonal``, ``lps``, ``gradinit``, ``updater``, ``zero``...), a scheme with a
tunable option (``emergence``: the rule over the alpha grid, one arm per value, named
``emergence(alpha=1.1)``) or one such name, and ``searched-best`` (the best completed searched
trial of the study, its init user attribute as recorded by the study driver). Options come
from the study's ``baselines.options`` as for the study's baselines; a tunable scheme's base
is the study's ``search.base_init``. The reference, Kaiming, is always included: every test is
against it. Which scheme is tunable is asked of its :class:`SchemeInfo`, not of its name.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from initsearch import contract, stores
from initsearch.config import StudyConfig
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec, SchemeInfo, all_schemes, find_scheme, scheme_names
from initsearch.search.baselines import grid_init

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
_GRID_POINT = re.compile(r"^(\w+)\((\w+)=([^)]+)\)$")  # scheme(option=value)


@dataclass(frozen=True)
class Scheme:
    """One arm of the comparison: a display name and the init every seed of it runs;
    ``source_trial``: the search trial a searched arm re-runs (named in every view)."""

    name: str
    init: InitSpec
    source_trial: int | None = None


@dataclass(frozen=True)
class SearchedBest:
    """The study's best completed searched trial."""

    trial: int
    value: float
    init: InitSpec


def alpha_grid(cfg: StudyConfig, alphas: list[float] | None = None) -> list[float]:
    """The values of the tunable option (the emergence rule's alpha): given, else the study
    file's ``baselines.emergence_alphas`` when the file sets them, else :data:`DEFAULT_ALPHAS`."""
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


def init_key(init: dict[str, Any] | InitSpec) -> str:
    """A canonical text of an init spec (the same after a round trip through the storage)."""
    data = init.to_dict() if isinstance(init, InitSpec) else init
    return json.dumps(data, sort_keys=True)


def ranked_searched(study: optuna.Study, k: int | None = None) -> list[SearchedBest]:
    """The study's completed trials that are not baselines, best first by its first objective
    (ties: the earlier trial), one per distinct init (a configuration tried twice counts
    once); at most ``k``."""
    maximise = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if contract.BASELINE not in t.user_attrs and contract.INIT in t.user_attrs and t.values
    ]
    done.sort(key=lambda t: (-t.values[0] if maximise else t.values[0], t.number))
    out: list[SearchedBest] = []
    seen: set[str] = set()
    for t in done:
        key = init_key(t.user_attrs[contract.INIT])
        if key not in seen:
            seen.add(key)
            init = InitSpec.from_dict(t.user_attrs[contract.INIT])
            out.append(SearchedBest(t.number, float(t.values[0]), init))
    return out[:k]


def searched_best(cfg: StudyConfig) -> SearchedBest | None:
    """The best completed trial of the study that is not a baseline, or None when the study
    does not exist (yet) or has none. Ranked by the study's first objective."""
    url = stores.storage_url(cfg.storage, cfg.workdir, cfg.name)
    study = stores.load_study_if_present(url, cfg.name)
    ranked = ranked_searched(study, 1) if study is not None else []
    return ranked[0] if ranked else None


def _options(cfg: StudyConfig, scheme: str) -> dict[str, Any]:
    return dict(cfg.baselines.options.get(scheme, {}))


def _grid_point(cfg: StudyConfig, scheme: SchemeInfo, value: float) -> Scheme:
    return Scheme(scheme.grid_name(value), grid_init(scheme, value, cfg))


def _tunable(name: str) -> SchemeInfo | None:
    """The registered scheme ``name`` when it has a tunable option."""
    scheme = find_scheme(name)
    return scheme if scheme is not None and scheme.tunable else None


def _one_point(name: str) -> tuple[SchemeInfo, str] | None:
    """(scheme, value text) of a name ``scheme(option=value)`` naming a tunable option."""
    match = _GRID_POINT.match(name)
    scheme = _tunable(match.group(1)) if match else None
    if scheme is None or match.group(2) != scheme.tunable:
        return None
    return scheme, match.group(3)


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
        tunable, one = _tunable(name), _one_point(name)
        if tunable is not None:
            out += [_grid_point(cfg, tunable, a) for a in alpha_grid(cfg, alphas)]
        elif one is not None:
            scheme, text = one
            try:
                value = float(text)
            except ValueError:
                raise ConfigError(
                    f"bad scheme {name!r}: {scheme.tunable} must be a number"
                ) from None
            out += [_grid_point(cfg, scheme, alpha_grid(cfg, [value])[0])]
        elif name == SEARCHED:
            if searched is not None:
                out.append(Scheme(SEARCHED, searched.init, searched.trial))
            elif schemes:
                raise ConfigError(
                    f"scheme {SEARCHED} needs a completed searched trial of study {cfg.name!r} "
                    f"under {cfg.workdir}; run `initsearch study start FILE` first, or leave "
                    f"{SEARCHED} out of --schemes"
                )
        elif name in known:
            out.append(Scheme(name, InitSpec(name, options=_options(cfg, name))))
        else:
            grid = " or ".join(f"{s.name}({s.tunable}=X)" for s in all_schemes() if s.tunable)
            raise ConfigError(
                f"unknown scheme {name!r} in --schemes; choose from "
                f"{', '.join(sorted(known | set(ALIASES) | {SEARCHED}))} or {grid}"
            )
    seen: dict[str, Scheme] = {}
    for s in out:
        seen.setdefault(s.name, s)
    return list(seen.values())
