"""Which option keys an init spec may carry, checked before any trial runs.

``apply`` reads a few options for every scheme (the at-init diagnostics), each scheme reads
the ones it documents in the registry, and a scheme that runs a base init first (option
``base``: the emergence rule, GradInit, the learned updater) hands its options to the base too.
Any other key is a typo that a scheme would silently ignore (or reject only inside a trial,
after Ray started and the budget began to burn), so study files, comparisons and the command
line check their options here first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from initsearch.errors import ConfigError
from initsearch.inits.measurement import DEFAULT_BATCH, DEFAULT_THRESHOLD
from initsearch.inits.registry import SchemeInfo, get_scheme

BASE_OPTION = "base"
"""The option naming the scheme a scheme runs first (its base init)."""

DEFAULT_BASE = "kaiming"
"""The base a scheme with a ``base`` option runs when the option is not given."""

COMMON_OPTIONS: dict[str, str] = {
    "diagnostics": "compute at-init diagnostics when data is given (default true)",
    "threshold": f"activation above this counts a unit as active (default {DEFAULT_THRESHOLD})",
    "diag_batch": f"training samples the diagnostics use (default {DEFAULT_BATCH})",
}
"""Options ``apply`` reads for every scheme, next to each scheme's own."""


def base_of(scheme: SchemeInfo, options: Mapping[str, Any], default: str | None = None) -> str:
    """The base scheme ``scheme`` runs with ``options`` (``default``, else
    :data:`DEFAULT_BASE`, when the options name none), checked: a registered scheme, not the
    scheme itself, and one of the scheme's ``bases`` when it restricts them."""
    base = options.get(BASE_OPTION, default or DEFAULT_BASE)
    if not isinstance(base, str):
        raise ConfigError(
            f"init scheme {scheme.name!r}: option base must be a scheme name, got {base!r}"
        )
    get_scheme(base)  # a registered scheme
    if base == scheme.name:
        raise ConfigError(f"init scheme {scheme.name!r} cannot be its own base")
    if scheme.bases is not None and base not in scheme.bases:
        raise ConfigError(
            f"init scheme {scheme.name!r} cannot run over base {base!r}; its base must be one "
            f"of {', '.join(scheme.bases)}"
        )
    return base


def known_options(
    scheme: SchemeInfo, options: Mapping[str, Any], default_base: str | None = None
) -> list[str]:
    """The option keys ``scheme`` reads with ``options``: the common ones, its own, and its
    base's (``default_base`` when the options name no base)."""
    known = {*COMMON_OPTIONS, *scheme.options}
    if BASE_OPTION in scheme.options:
        known |= set(get_scheme(base_of(scheme, options, default_base)).options)
    return sorted(known)


def check_options(name: str, options: Mapping[str, Any], default_base: str | None = None) -> None:
    """Raise a one-line ConfigError for an unknown scheme ``name``, a bad base, or an option
    key the scheme (with its base) does not read, naming the scheme and listing its options."""
    scheme = get_scheme(name)
    known = known_options(scheme, options, default_base)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(
            f"init scheme {name!r} has no option {', '.join(map(repr, unknown))}; its options "
            f"are {', '.join(known)} (`initsearch inits list` describes them)"
        )
