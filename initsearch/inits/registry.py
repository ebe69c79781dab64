"""The table of init schemes: each scheme is a function of an :class:`InitContext`.

A scheme initialises the model's scalable weights in place and may return a per-layer scale
vector it applied on top of its base init (the emergence rule's alpha powers, GradInit's learned
scales), so every report can show an init as a scale profile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from initsearch.data.base import Dataset
from initsearch.errors import ConfigError
from initsearch.inits.spec import InitSpec
from initsearch.models.base import ScalableLayer, ScalableModel


@dataclass
class InitContext:
    """What a scheme may look at: the model, its scalable layers, the spec, optional data."""

    model: ScalableModel
    layers: list[ScalableLayer]
    spec: InitSpec
    data: Dataset | None = None

    def option(self, key: str, default: Any = None) -> Any:
        return self.spec.options.get(key, default)


SchemeFn = Callable[[InitContext], Sequence[float] | None]


@dataclass(frozen=True)
class SchemeInfo:
    name: str
    summary: str
    fn: SchemeFn
    needs_data: bool = False
    options: dict[str, str] = field(default_factory=dict)


_SCHEMES: dict[str, SchemeInfo] = {}


def register(
    name: str, summary: str, needs_data: bool = False, options: dict[str, str] | None = None
) -> Callable[[SchemeFn], SchemeFn]:
    """Decorator adding a scheme under ``name``; ``options`` documents the keys it reads."""

    def wrap(fn: SchemeFn) -> SchemeFn:
        if name in _SCHEMES:
            raise ValueError(f"init scheme {name!r} registered twice")
        _SCHEMES[name] = SchemeInfo(name, summary, fn, needs_data, dict(options or {}))
        return fn

    return wrap


def get_scheme(name: str) -> SchemeInfo:
    if name not in _SCHEMES:
        raise ConfigError(
            f"unknown init scheme {name!r}; choose one of {', '.join(scheme_names())} "
            "(`initsearch inits list` describes them)"
        )
    return _SCHEMES[name]


def scheme_names() -> list[str]:
    return sorted(_SCHEMES)
