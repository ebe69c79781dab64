"""Models with an ordered list of scalable layers, built from a ``ModelSpec`` and a data shape.

``build_model(spec, data)`` validates the spec (ConfigError on anything impossible) and returns a
``ScalableModel`` whose ``scalable_layers()`` name the weight tensors an init scheme rescales,
in forward order with their depth index; a factory model (``spec.factory``) is any module, whose
layers ``model_layers``/``discover_layers`` find by tracing a sample batch. Modules keep
PyTorch's default init; ``initsearch.inits`` reinitialises them. ``layer_list(spec, shape)``
gives the layers' names and depths without loading the data.
"""

from __future__ import annotations

import torch
from torch import nn

from initsearch.data.base import Dataset
from initsearch.data.shape import DataShape
from initsearch.models.base import ScalableLayer, ScalableModel
from initsearch.models.discover import Discovery, discover_layers, model_layers, sample_input
from initsearch.models.factory import build_factory_model
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


def build_model(spec: ModelSpec, data: Dataset | DataShape) -> nn.Module:
    """Build ``spec``'s model for ``data``; only its shape, kind, classes and vocab are read.
    A built-in family gives a ``ScalableModel``; a factory (``spec.factory``) any module."""
    if spec.factory is not None:
        return build_factory_model(spec)
    shape = data if isinstance(data, DataShape) else DataShape.from_dataset(data)
    resolved = validate_spec(spec, shape)
    return MODEL_CLASSES[resolved.name](resolved, shape)  # type: ignore[call-arg]


def layer_list(spec: ModelSpec, shape: DataShape) -> list[tuple[str, int]]:
    """(name, depth) of every scalable layer of ``spec``'s model for data of ``shape``.

    A built-in model is built on the meta device: shapes only, no storage and no random draws,
    so this is cheap even for a model too large for this machine. A factory model is built on
    the CPU (its layers are found by running it on :func:`sample_input` of ``shape``), with the
    global random state put back afterwards.
    """
    if spec.factory is None:
        with torch.device("meta"):
            model = build_model(spec, shape)
        return [(layer.name, layer.depth) for layer in model.scalable_layers()]
    return [(layer.name, layer.depth) for layer in factory_layers(spec, shape).layers]


def factory_layers(spec: ModelSpec, shape: DataShape) -> Discovery:
    """What tracing finds in a factory model on a synthetic batch of ``shape``: its layers and
    the reused, unused and unsupported ones (the global random state is put back)."""
    with torch.random.fork_rng(devices=[]):
        model = build_model(spec, shape)
    return discover_layers(model, sample_input(shape), spec.activations)


__all__ = [
    "ACTIVATIONS",
    "MLP",
    "MODEL_CLASSES",
    "MODEL_NAMES",
    "NORM_POSITIONS",
    "VGG",
    "VGG_DEPTHS",
    "DataShape",
    "Discovery",
    "ModelSpec",
    "ResNet",
    "ScalableLayer",
    "ScalableModel",
    "Transformer",
    "build_model",
    "factory_layers",
    "discover_layers",
    "layer_list",
    "model_layers",
    "sample_input",
    "validate_spec",
]
