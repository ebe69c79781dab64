"""Models with an ordered list of scalable layers, built from a ``ModelSpec`` and a data shape.

``build_model(spec, data)`` validates the spec (ConfigError on anything impossible) and returns a
``ScalableModel`` whose ``scalable_layers()`` name the weight tensors an init scheme rescales,
in forward order with their depth index. Modules keep PyTorch's default init; ``initsearch.inits``
reinitialises them. ``layer_list(spec, shape)`` gives the layers' names and depths without
allocating a weight or loading the data.
"""

from __future__ import annotations

import torch

from initsearch.data.base import Dataset
from initsearch.data.shape import DataShape
from initsearch.models.base import ScalableLayer, ScalableModel
from initsearch.models.mlp import MLP
from initsearch.models.resnet import ResNet
from initsearch.models.spec import ACTIVATIONS, MODEL_NAMES, NORM_POSITIONS, ModelSpec
from initsearch.models.transformer import Transformer
from initsearch.models.validate import VGG_DEPTHS, validate_spec
from initsearch.models.vgg import VGG

MODEL_CLASSES: dict[str, type[ScalableModel]] = {
    "mlp": MLP,
    "vgg": VGG,
    "resnet": ResNet,
    "transformer": Transformer,
}


def build_model(spec: ModelSpec, data: Dataset | DataShape) -> ScalableModel:
    """Build ``spec``'s model for ``data``; only its shape, kind, classes and vocab are read."""
    shape = data if isinstance(data, DataShape) else DataShape.from_dataset(data)
    resolved = validate_spec(spec, shape)
    return MODEL_CLASSES[resolved.name](resolved, shape)  # type: ignore[call-arg]


def layer_list(spec: ModelSpec, shape: DataShape) -> list[tuple[str, int]]:
    """(name, depth) of every scalable layer of ``spec``'s model for data of ``shape``.

    The model is built on the meta device: shapes only, no storage and no random draws, so
    this is cheap even for a model too large for this machine.
    """
    with torch.device("meta"):
        model = build_model(spec, shape)
    return [(layer.name, layer.depth) for layer in model.scalable_layers()]


__all__ = [
    "ACTIVATIONS",
    "MLP",
    "MODEL_CLASSES",
    "MODEL_NAMES",
    "NORM_POSITIONS",
    "VGG",
    "VGG_DEPTHS",
    "DataShape",
    "ModelSpec",
    "ResNet",
    "ScalableLayer",
    "ScalableModel",
    "Transformer",
    "build_model",
    "layer_list",
    "validate_spec",
]
