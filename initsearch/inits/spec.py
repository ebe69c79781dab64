"""Init spec: a base scheme, a vector of per-layer scale factors, and options.

Every method is expressed as an init spec so that baselines, closed-form rules and searched
configurations are comparable trials: Kaiming is scheme "kaiming" with all scales 1, a search
trial proposes a scale vector on top of a base scheme.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from initsearch.errors import ConfigError


@dataclass(frozen=True)
class InitSpec:
    """Base scheme + per-layer scales (one per scalable layer, None = all ones) + options."""

    scheme: str = "kaiming"
    scales: tuple[float, ...] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scales is not None:
            scales = tuple(float(s) for s in self.scales)
            bad = [s for s in scales if not (math.isfinite(s) and s > 0)]
            if bad:
                raise ConfigError(
                    f"init scales must be positive finite numbers, got {bad[:3]}; "
                    "give one factor > 0 per scalable layer"
                )
            object.__setattr__(self, "scales", scales)

    def check_length(self, num_layers: int) -> None:
        if self.scales is not None and len(self.scales) != num_layers:
            raise ConfigError(
                f"init scales has {len(self.scales)} factors but the model has {num_layers} "
                f"scalable layers; give exactly {num_layers} (see `initsearch inits show`)"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InitSpec:
        """Back from :meth:`to_dict` (a stored trial's ``init`` attribute)."""
        scales = data.get("scales")
        return cls(
            scheme=data["scheme"],
            scales=tuple(scales) if scales is not None else None,
            options=dict(data.get("options") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "scales": list(self.scales) if self.scales is not None else None,
            "options": dict(self.options),
        }
