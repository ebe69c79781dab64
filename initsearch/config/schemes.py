"""The init schemes a study file names, checked against the registry when the file is read.

A study names schemes in ``search.base_init``, ``baselines.schemes`` and the keys of
``baselines.options``, and options for each. A wrong name or option key would otherwise
surface only inside the trials, after Ray started: every searched trial failing on a typo in
the base init, and the budget spent on nothing. The validators of the study's sections call
these and pydantic reports their ValueError under the key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from initsearch.errors import ConfigError
from initsearch.inits import all_schemes, get_scheme
from initsearch.inits.options import BASE_OPTION, base_of, check_options


def scheme_name(name: str) -> str:
    """``name`` when it is a registered init scheme, else a ValueError naming the choices."""
    try:
        get_scheme(name)
    except ConfigError as err:
        raise ValueError(str(err)) from None
    return name


def check_study_inits(
    base: str,
    searches_rule: bool,
    schemes: Sequence[str],
    options_of: Mapping[str, Mapping[str, Any]],
) -> None:
    """Every scheme the baselines (``schemes``, or a comparison) run takes only options it
    reads (``options_of``: ``baselines.options``), and a scheme with a tunable option, which
    runs over the study's ``base`` init unless its options give a base of its own (as does the
    rule the search runs when ``searches_rule``: ``search.emergence_alpha``), accepts that
    base."""
    for name in dict.fromkeys([*schemes, *options_of]):
        scheme = get_scheme(name)
        options = options_of.get(name, {})
        if scheme.tunable is not None and BASE_OPTION not in options:
            try:
                base_of(scheme, options, base)
            except ConfigError as err:
                raise ValueError(
                    f"search.base_init {base!r} cannot be the base of baseline {name!r} (which "
                    f"runs over the study's base init): {err}; give {name} a base of its own "
                    f"under baselines.options.{name}.base"
                ) from None
        try:
            check_options(name, options, base if scheme.tunable is not None else None)
        except ConfigError as err:
            raise ValueError(f"baselines.options.{name}: {err}") from None
    if searches_rule:
        for rule in (s for s in all_schemes() if s.tunable and s.closed_form):
            try:
                base_of(rule, {}, base)
            except ConfigError as err:
                raise ValueError(
                    f"search.emergence_alpha searches {rule.name}'s {rule.tunable} over "
                    f"search.base_init {base!r}: {err}"
                ) from None
