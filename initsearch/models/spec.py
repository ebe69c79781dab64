"""Model specification: which architecture, how deep, how wide."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from initsearch.errors import ConfigError

MODEL_NAMES = ("mlp", "vgg", "resnet", "transformer")
ACTIVATIONS = ("relu", "tanh", "gelu", "selu")
NORM_POSITIONS = ("pre", "post")

# Architecture defaults for the ``None`` fields of ModelSpec (kept next to the docstring below).
DEFAULT_DEPTH = {"mlp": 4, "vgg": 11, "resnet": 20, "transformer": 2}
DEFAULT_WIDTH = {"mlp": 256, "vgg": 64, "resnet": 16, "transformer": 64}


@dataclass(frozen=True)
class ModelSpec:
    """Architecture choice; ``None`` fields take the architecture's default.

    depth: mlp = hidden layers (default 4); vgg = 11/13/16/19 (default 11);
    resnet = 20/56/110 (default 20); transformer = blocks (default 2).
    width: mlp = hidden units (default 256); vgg = first-stage channels (default 64);
    resnet = first-stage channels (default 16); transformer = model dimension (default 64).
    """

    name: str = "mlp"
    depth: int | None = None
    width: int | None = None
    activation: str = "relu"
    batch_norm: bool = False
    heads: int = 4
    norm_position: str = "pre"
    dropout: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def resolved(self) -> ModelSpec:
        """This spec with ``depth``/``width`` filled in, so logs record what was actually built."""
        if self.name not in MODEL_NAMES:
            raise ConfigError(
                f"unknown model name {self.name!r}; set ModelSpec.name to one of "
                f"{', '.join(MODEL_NAMES)}"
            )
        return replace(
            self,
            depth=DEFAULT_DEPTH[self.name] if self.depth is None else self.depth,
            width=DEFAULT_WIDTH[self.name] if self.width is None else self.width,
        )
