"""Scalable layers of any ``nn.Module``, found by tracing a sample batch.

A built-in family lists its own layers; a researcher's model (``ModelSpec.factory``, or any
module handed to ``initsearch.inits.apply``) has them found here, so it needs no initsearch base
class. Scalable kinds: ``nn.Linear``, ``nn.Conv1d/2d/3d``, ``nn.ConvTranspose1d/2d/3d``,
``nn.Embedding`` and ``nn.MultiheadAttention`` (one unit of two layers, see
:mod:`initsearch.models.attention`). Names are the modules' paths in ``named_modules()``; order,
depth and the activation after each layer come from one forward pass in eval mode without
gradients (:mod:`initsearch.models.trace`), so they are what the model does, not the order its
attributes were defined in.

Nothing is skipped silently: a scalable module the sample never reached is ``unused`` (not a
layer), one run twice in a pass is ``reused`` (a layer, at the depth of its first use), and a
module holding parameters of its own that is neither scalable nor a norm layer (an ``nn.LSTM``,
a custom module's ``nn.Parameter``) is ``unsupported``: an init leaves it as torch made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from initsearch.data.shape import DataShape
from initsearch.errors import ConfigError
from initsearch.models.attention import attention_params
from initsearch.models.base import ScalableLayer, ScalableModel
from initsearch.models.trace import ForwardTrace, Slot

CONV_TYPES: tuple[type[nn.Module], ...] = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
SCALABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, *CONV_TYPES, nn.Embedding)
NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.RMSNorm,
)
"""Norm layers: an init resets their affine parameters to the identity."""

SAMPLE_BATCH = 64
"""Training samples a data set lends the trace (eval mode: the count changes no layer)."""


@dataclass(frozen=True)
class Discovery:
    """A model's scalable layers in forward order, and what did not become one."""

    layers: list[ScalableLayer]
    reused: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


@dataclass
class _Unit:
    module: nn.Module
    slots: list[int]
    attention: bool


def _scan(model: nn.Module) -> tuple[list[Slot], list[_Unit], list[str]]:
    """Every scalable weight of ``model`` (as slots grouped in units) and the unsupported
    modules, in ``named_modules()`` order."""
    slots: list[Slot] = []
    units: list[_Unit] = []
    unsupported: list[str] = []
    modules = list(model.named_modules())
    inside_attention = {id(m.out_proj) for _, m in modules if isinstance(m, nn.MultiheadAttention)}
    for path, module in modules:
        kind = type(module).__name__
        if isinstance(module, nn.MultiheadAttention):
            params = attention_params(module)
            prefix = f"{path}." if path else ""
            units.append(_Unit(module, list(range(len(slots), len(slots) + len(params))), True))
            slots += [Slot(prefix + suffix, module, param) for suffix, param in params]
        elif id(module) in inside_attention:
            continue
        elif isinstance(module, SCALABLE_TYPES):
            if isinstance(getattr(module, "weight", None), nn.Parameter):
                units.append(_Unit(module, [len(slots)], False))
                slots.append(Slot(path, module))
            else:  # e.g. a parametrization computing the weight: writing it would be lost
                unsupported.append(f"{path or '<model>'} ({kind} with a computed weight)")
        elif not isinstance(module, NORM_TYPES) and any(
            True for _ in module.parameters(recurse=False)
        ):
            unsupported.append(f"{path or '<model>'} ({kind})")
    return slots, units, unsupported


def _run(model: nn.Module, sample: torch.Tensor, trace: ForwardTrace) -> None:
    """``model(sample)`` under ``trace``, in eval mode without gradients; every module's mode
    and the global random state are put back, so discovery changes no later draw."""
    modes = {m: m.training for m in model.modules()}
    devices = []
    if sample.device.type == "cuda":
        index = sample.device.index
        devices = [torch.cuda.current_device() if index is None else index]
    try:
        model.eval()
        with torch.random.fork_rng(devices=devices), torch.no_grad(), trace:
            model(sample)
    except Exception as err:
        raise ConfigError(
            f"model {type(model).__name__}: forward on a sample batch of shape "
            f"{tuple(sample.shape)} failed: {type(err).__name__}: {' '.join(str(err).split())}"
        ) from err
    finally:
        for m, mode in modes.items():
            m.training = mode


def discover_layers(
    model: nn.Module, sample: torch.Tensor, activations: Mapping[str, str] | None = None
) -> Discovery:
    """``model``'s scalable layers as one forward pass of ``sample`` runs them (module
    docstring); ``activations`` (layer name -> activation) overrides what the trace found."""
    slots, units, unsupported = _scan(model)
    param = next(model.parameters(), None)
    if param is not None and param.device != sample.device:
        sample = sample.to(param.device)
    trace = ForwardTrace(slots)
    handles = [h for u in units for h in trace.hook(u.module, u.slots, u.attention)]
    try:
        _run(model, sample, trace)
    finally:
        for h in handles:
            h.remove()
    trace.finish()
    layers = [
        ScalableLayer(
            slots[i].name, slots[i].module, trace.depth[i], trace.activation[i], slots[i].param
        )
        for i in trace.order
    ]
    return Discovery(
        layers=override_activations(layers, activations),
        reused=[slots[i].name for i in trace.order if trace.calls[i] > 1],
        unused=[s.name for i, s in enumerate(slots) if i not in trace.depth],
        unsupported=unsupported,
    )


def override_activations(
    layers: list[ScalableLayer], activations: Mapping[str, str] | None
) -> list[ScalableLayer]:
    """``layers`` with the activations ``activations`` names (by layer name) set; an unknown
    layer name is a ConfigError that lists the model's layers."""
    if not activations:
        return layers
    names = [layer.name for layer in layers]
    unknown = sorted(set(activations) - set(names))
    if unknown:
        raise ConfigError(
            f"activations names no layer {', '.join(map(repr, unknown))}; the model's scalable "
            f"layers are {', '.join(names)} (`initsearch inits show --model-factory` lists them)"
        )
    return [
        replace(layer, activation=str(activations[layer.name]))
        if layer.name in activations
        else layer
        for layer in layers
    ]


def model_layers(
    model: nn.Module,
    sample: torch.Tensor | None = None,
    activations: Mapping[str, str] | None = None,
) -> Discovery:
    """A built-in model's own ``scalable_layers()`` (no trace), else the layers
    :func:`discover_layers` finds on ``sample``."""
    if isinstance(model, ScalableModel):
        return Discovery(override_activations(model.scalable_layers(), activations))
    if sample is None:
        raise ConfigError(
            "a plain nn.Module needs a sample batch to find its layers; pass "
            "apply(model, spec, sample_batch) or a Dataset"
        )
    return discover_layers(model, sample, activations)


def sample_input(shape: DataShape, n: int = 2) -> torch.Tensor:
    """A synthetic batch of ``n`` inputs of ``shape`` (standard normal; token id 0 for
    sequences), so a layer list needs no data. Drawn from its own generator: no global draw."""
    size = (n, *shape.input_shape)
    if shape.kind == "sequence":
        return torch.zeros(size, dtype=torch.int64)
    return torch.randn(size, generator=torch.Generator().manual_seed(0))
