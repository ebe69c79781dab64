"""Model specification: which architecture, how deep, how wide."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from initsearch.errors import ConfigError
from initsearch.factories import FactoryRef, ref_name

MODEL_NAMES = ("mlp", "vgg", "resnet", "transformer")
ACTIVATIONS = ("relu", "tanh", "gelu", "selu")
NORM_POSITIONS = ("pre", "post", "none")

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

    ``factory``: a researcher's own model instead of a built-in family, as
    ``"package.module:function"`` or the callable, called with ``kwargs`` and returning any
    ``nn.Module``; its scalable layers are found by tracing a sample batch
    (``initsearch.models.discover``), and ``activations`` sets the nonlinearity after a layer
    (by layer name) where tracing cannot see it. The family fields are then unused.
    """

    name: str = "mlp"
    depth: int | None = None
    width: int | None = None
    activation: str = "relu"
    batch_norm: bool = False
    heads: int = 4
    norm_position: str = "pre"
    dropout: float = 0.0
    factory: FactoryRef | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    activations: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (a callable factory as its ``module:qualname``)."""
        return {**asdict(self), "factory": ref_name(self.factory)}

    @property
    def label(self) -> str:
        """What the model is, for tables and logs: the family, or the factory reference."""
        return ref_name(self.factory) or self.name

    def resolved(self) -> ModelSpec:
        """This spec with ``depth``/``width`` filled in, so logs record what was actually built
        (a factory model's spec is returned as it is)."""
        if self.factory is not None:
            return self
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
