"""What every model promises: an ordered list of its scalable layers.

Per-layer scale i must mean the same tensor in every study, baseline and report, so each model
lists the modules holding its weight matrices (linear, convolution, attention projections,
embeddings) in forward order. Init schemes rescale ``layer.weight`` (``module.weight`` unless the
layer names another parameter, as an ``nn.MultiheadAttention``'s packed ``in_proj_weight``);
biases and norm layers are not in the list. A built-in family lists its layers itself; any other
``nn.Module`` has them found by tracing (:mod:`initsearch.models.discover`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

import torch
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
    follows the layer (for the gain of variance-scaling inits), or "linear". ``param`` is the
    weight's attribute path on ``module`` ("weight"; an attention's "in_proj_weight" or
    "out_proj.weight"), so hooks on ``module`` see the whole unit that uses the weight.
    """

    name: str
    module: nn.Module
    depth: int
    activation: str = "linear"
    param: str = "weight"

    @property
    def weight(self) -> nn.Parameter:
        """The tensor an init writes and rescales: ``module.<param>``."""
        return reduce(getattr, self.param.split("."), self.module)  # type: ignore[return-value]

    @property
    def bias(self) -> torch.Tensor | None:
        """The bias added to this weight's output (zeroed before an init), or None."""
        path = _BIAS_OF.get(self.param) or self.param.removesuffix("weight") + "bias"
        owner_path, _, attr = path.rpartition(".")
        owner = reduce(getattr, owner_path.split("."), self.module) if owner_path else self.module
        bias = getattr(owner, attr, None)
        return bias if isinstance(bias, torch.Tensor) else None


# nn.MultiheadAttention with kdim/vdim != embed_dim keeps three weights but one packed bias
_BIAS_OF = {f"{p}_proj_weight": "in_proj_bias" for p in "qkv"}


def weight_names(model: nn.Module, layers: Sequence[ScalableLayer]) -> list[str]:
    """Each layer's weight as named in ``model.named_parameters()`` (the key a
    ``torch.func.functional_call`` parameter dict uses)."""
    names = {id(p): n for n, p in model.named_parameters()}
    return [names[id(layer.weight)] for layer in layers]


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
