"""What every model promises: an ordered list of its scalable layers.

Per-layer scale i must mean the same tensor in every study, baseline and report, so each model
lists the modules holding its weight matrices (linear, convolution, attention projections,
embeddings) in forward order. Init schemes rescale ``module.weight``; biases and norm layers are
not in the list.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from initsearch.data.shape import DataShape
from initsearch.models.spec import ModelSpec
from initsearch.models.validate import validate_spec


@dataclass(frozen=True)
class ScalableLayer:
    """One scalable weight tensor.

    ``depth`` is the layer's position along the longest forward path (0 = first layer). Layers
    that run side by side (a residual projection next to its block's convolutions, the q/k/v
    projections of one attention) share a depth, so depth-based rules such as the emergence
    rule's alpha**(depth - pivot) treat them alike. ``activation`` names the nonlinearity that
    follows the layer (for the gain of variance-scaling inits), or "linear".
    """

    name: str
    module: nn.Module
    depth: int
    activation: str = "linear"

    @property
    def weight(self) -> nn.Parameter:
        return self.module.weight  # type: ignore[return-value]


class ScalableModel(nn.Module):
    """Base class of initsearch models.

    A built-in family hands ``__init__`` its spec and data shape: the spec is checked against
    the shape (ConfigError on anything impossible) and kept resolved, ``depth`` and ``width``
    filled in, as ``self.spec``; the data kind is kept as ``self.kind``. A model that has no
    ``ModelSpec`` calls ``__init__()`` and only lists its layers.
    """

    def __init__(self, spec: ModelSpec | None = None, shape: DataShape | None = None) -> None:
        super().__init__()
        if spec is not None:
            if shape is None:
                raise TypeError("ScalableModel(spec, shape): a spec needs the data shape")
            self.spec = validate_spec(spec, shape)
            self.kind = shape.kind

    def scalable_layers(self) -> list[ScalableLayer]:
        raise NotImplementedError

    def num_scalable(self) -> int:
        return len(self.scalable_layers())
