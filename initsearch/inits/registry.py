"""The table of init schemes: each scheme is a function of an :class:`InitContext`.

A scheme initialises the model's scalable weights in place and may return a per-layer scale
vector it applied on top of its base init (the emergence rule's alpha powers, GradInit's learned
scales), so every report can show an init as a scale profile.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from initsearch.data.base import Dataset
from initsearch.errors import ConfigError
from initsearch.inits.spec import InitSpec
from initsearch.models.base import ScalableLayer


@dataclass
class InitContext:
    """What a scheme may look at: the model (a built-in family or any module), its scalable
    layers (listed or discovered), the spec, optional data."""

    model: nn.Module
    layers: list[ScalableLayer]
    spec: InitSpec
    data: Dataset | None = None

    def option(self, key: str, default: Any = None) -> Any:
        return self.spec.options.get(key, default)


SchemeFn = Callable[[InitContext], Sequence[float] | None]


ClosedForm = Callable[[Sequence[int], Mapping[str, Any]], list[float]]
"""Per-layer factors over the base init computed from layer depths and options alone."""


@dataclass(frozen=True)
class SchemeInfo:
    """A registered scheme and what callers may ask of it instead of testing its name.

    ``tunable``: the one numeric option studies search and comparisons sweep over a grid (the
    emergence rule's ``alpha``); such a scheme runs over the study's base init (option
    ``base``) and each grid value is its own baseline, named ``scheme(option=value)``.
    ``profile``: the scheme yields its own per-layer scale profile over a base init (the
    emergence rule, GradInit, the learned updater), which reports draw.
    ``closed_form``: the profile from depths and options alone, when it has one, so a search
    space can say which of its points equals the scheme.
    ``bases``: the schemes its ``base`` option accepts, when it restricts them (checked
    before a study runs, so a bad base fails the study file, not every trial).
    """

    name: str
    summary: str
    fn: SchemeFn
    needs_data: bool = False
    options: dict[str, str] = field(default_factory=dict)
    tunable: str | None = None
    profile: bool = False
    closed_form: ClosedForm | None = None
    bases: tuple[str, ...] | None = None

    def grid_name(self, value: float) -> str:
        """The display name of one grid point of the tunable option."""
        return f"{self.name}({self.tunable}={value:g})"


_SCHEMES: dict[str, SchemeInfo] = {}


def register(
    name: str,
    summary: str,
    needs_data: bool = False,
    options: dict[str, str] | None = None,
    *,
    tunable: str | None = None,
    profile: bool = False,
    closed_form: ClosedForm | None = None,
    bases: tuple[str, ...] | None = None,
) -> Callable[[SchemeFn], SchemeFn]:
    """Decorator adding a scheme under ``name``; ``options`` documents the keys it reads, the
    keyword arguments are the :class:`SchemeInfo` metadata."""

    def wrap(fn: SchemeFn) -> SchemeFn:
        if name in _SCHEMES:
            raise ValueError(f"init scheme {name!r} registered twice")
        if tunable is not None and tunable not in (options or {}):
            raise ValueError(f"init scheme {name!r}: tunable option {tunable!r} is not documented")
        _SCHEMES[name] = SchemeInfo(
            name,
            summary,
            fn,
            needs_data,
            dict(options or {}),
            tunable,
            profile,
            closed_form,
            tuple(bases) if bases is not None else None,
        )
        return fn

    return wrap


def get_scheme(name: str) -> SchemeInfo:
    if name not in _SCHEMES:
        close = difflib.get_close_matches(str(name), scheme_names(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown init scheme {name!r}; {hint}choose one of {', '.join(scheme_names())} "
            "(`initsearch inits list` describes them)"
        )
    return _SCHEMES[name]


def find_scheme(name: str | None) -> SchemeInfo | None:
    """The registered scheme ``name``, or None (a name stored by another version, say)."""
    return _SCHEMES.get(name) if name else None


def scheme_names() -> list[str]:
    return sorted(_SCHEMES)


def all_schemes() -> list[SchemeInfo]:
    """Every registered scheme, by name."""
    return [_SCHEMES[n] for n in scheme_names()]
