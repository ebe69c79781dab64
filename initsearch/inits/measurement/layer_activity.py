"""Per-unit activity of every scalable layer on a batch, recorded with forward hooks.

What a layer's "output" is: the output of the activation module that follows it when there is
one (a ReLU after Linear -> BatchNorm, a ResNet block's ReLU after the residual sum), else the
layer's own output (heads, embeddings, attention projections: their ``activation`` is
"linear"). The following activation module is found without touching the models: one traced
forward pass records the call order of the scalable modules and of every activation module
(ReLU, GELU, Tanh, SELU, ...), and a layer takes the first activation module that runs after it
and before the next scalable layer. A model that applies its nonlinearity functionally gets the
named function applied to the layer's output instead (norm layers in between are then skipped).

Units: the last dimension for Linear and Embedding outputs (features; all tokens pooled), the
channel dimension for convolutions (all spatial positions pooled). A unit's activity is its mean
absolute output over the batch and the pooled positions; a unit is active when that exceeds a
threshold. For ReLU this is the mean firing, so at threshold 0 "active" means "fires on at least
one sample" and "dead" means "never fires"; for signed outputs (tanh, linear) it measures
magnitude. (A channel counts as one unit averaged over positions rather than by its maximum,
which would call nearly every channel active.) AlShinaifi et al. (arXiv 2409.01568) use a
threshold of 0.05; :meth:`LayerActivity.active_relative` compares with a fraction of the
layer's mean activity instead (the scale-free measure of ``diagnostics.py``). An activation
module shared by several layers (torchvision's blocks call one ReLU twice) gives each layer only
the call that follows it.

An ``nn.MultiheadAttention`` runs its projections inside one call (``models/attention.py``): its
``out_proj`` layer is measured on the attention's output, its in-projection on q, k and v
recomputed from the call's inputs (:func:`watch_output`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from initsearch.models.attention import OUT_PARAM, attention_inputs, in_projection
from initsearch.models.base import ScalableLayer
from initsearch.models.discover import CONV_TYPES

ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardtanh,
    nn.Softplus,
)

_FUNCTIONAL: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "gelu": F.gelu,
    "tanh": torch.tanh,
    "selu": F.selu,
}


@dataclass
class LayerActivity:
    """One scalable layer's output statistics on a batch."""

    name: str
    depth: int
    activity: torch.Tensor  # per-unit mean |output|, float64 on the CPU
    std: float  # std over all output elements

    @property
    def units(self) -> int:
        return int(self.activity.numel())

    def active(self, threshold: float) -> torch.Tensor:
        """Boolean mask of units whose activity exceeds ``threshold`` (NaN counts as inactive)."""
        return self.activity > threshold

    def active_relative(self, fraction: float) -> torch.Tensor:
        """Boolean mask of units whose activity exceeds ``fraction`` times the mean activity of
        the layer's units: unchanged when the layer's output is multiplied by any c > 0."""
        return self.activity > fraction * self.activity.mean()

    def dead_fraction(self, threshold: float) -> float:
        return 1.0 - float(self.active(threshold).double().mean()) if self.units else 0.0


class _Stats:
    """Running per-unit sums of |x| and global sums of x, x^2 for one hooked tensor."""

    def __init__(self, unit_dim: int, transform: Callable[[torch.Tensor], torch.Tensor] | None):
        self.unit_dim = unit_dim
        self.transform = transform
        self.abs_sum: torch.Tensor | None = None
        self.count = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.numel = 0

    def add(self, out: torch.Tensor) -> None:
        x = out.detach()
        if self.transform is not None:
            x = self.transform(x)
        x = x.movedim(self.unit_dim, -1).reshape(-1, x.shape[self.unit_dim]).double()
        abs_sum = x.abs().sum(dim=0)
        self.abs_sum = abs_sum if self.abs_sum is None else self.abs_sum + abs_sum
        self.count += x.shape[0]
        self.total += float(x.sum())
        self.total_sq += float((x * x).sum())
        self.numel += x.numel()

    def result(self, layer: ScalableLayer) -> LayerActivity:
        if self.abs_sum is None:
            raise RuntimeError(f"scalable layer {layer.name!r} did not run in the forward pass")
        mean = self.total / self.numel
        var = (
            max(self.total_sq / self.numel - mean * mean, 0.0) * self.numel / max(self.numel - 1, 1)
        )
        return LayerActivity(layer.name, layer.depth, (self.abs_sum / self.count).cpu(), var**0.5)


def unit_dim(layer: ScalableLayer) -> int:
    """Where the units sit in the layer's output: channels for convs, else the last dim."""
    return 1 if isinstance(layer.module, CONV_TYPES) else -1


def following_activations(
    model: nn.Module, layers: list[ScalableLayer], x: torch.Tensor
) -> list[nn.Module | None]:
    """For each layer, the activation module that first runs after it (before the next
    scalable layer), or None for "linear" layers and for models without such a module."""
    layer_ids = {id(layer.module) for layer in layers}
    order: list[nn.Module] = []

    def record(module: nn.Module, _inputs: object, _output: object) -> None:
        order.append(module)

    handles = [
        m.register_forward_hook(record)
        for m in model.modules()
        if id(m) in layer_ids or isinstance(m, ACTIVATION_TYPES)
    ]
    was_training = model.training
    model.eval()  # no dropout draws, no BatchNorm statistics updates while tracing
    try:
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    first_call = {}
    for pos, m in enumerate(order):
        first_call.setdefault(id(m), pos)
    found: list[nn.Module | None] = []
    for layer in layers:
        start = first_call.get(id(layer.module))
        match = None
        if layer.activation != "linear" and start is not None:
            for m in order[start + 1 :]:
                if id(m) in layer_ids:
                    break
                if isinstance(m, ACTIVATION_TYPES):
                    match = m
                    break
        found.append(match)
    return found


def watch_output(layer: ScalableLayer, callback: Callable[[torch.Tensor], Any]) -> Any:
    """Call ``callback`` with the layer's output each time it runs; returns the hook handle.

    The output of a module's forward (its first tensor when it returns a tuple); for an
    attention's ``out_proj`` the attention's output, for its in-projection q, k, v as
    :func:`~initsearch.models.attention.in_projection` recomputes them.
    """
    module = layer.module
    if isinstance(module, nn.MultiheadAttention) and layer.param != OUT_PARAM:

        def before(m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            callback(in_projection(m, layer.param, *attention_inputs(args, kwargs)))  # type: ignore[arg-type]

        return module.register_forward_pre_hook(before, with_kwargs=True)

    def after(_m: nn.Module, _inputs: object, out: Any) -> None:
        callback(out[0] if isinstance(out, tuple | list) else out)

    return module.register_forward_hook(after)


def record_activity(
    model: nn.Module, layers: list[ScalableLayer], x: torch.Tensor
) -> tuple[list[LayerActivity], torch.Tensor]:
    """One forward pass of ``x`` (in the model's current mode, without grad) recording each
    layer's output statistics; returns them and the logits."""
    acts = following_activations(model, layers, x[:2])
    stats: list[_Stats] = []
    handles = []
    waiting: dict[int, list[_Stats]] = {}  # activation module -> layers that ran since its call

    def arm(act: nn.Module, s: _Stats) -> Callable[..., None]:
        return lambda *_: waiting.setdefault(id(act), []).append(s)

    def fire(_m: nn.Module, _inputs: object, out: torch.Tensor) -> None:
        for s in waiting.pop(id(_m), []):
            s.add(out)

    try:
        for layer, act in zip(layers, acts, strict=True):
            transform = None
            if act is None and layer.activation != "linear":
                transform = _FUNCTIONAL.get(layer.activation)
            s = _Stats(unit_dim(layer), transform)
            stats.append(s)
            if act is None:
                handles.append(watch_output(layer, s.add))
            else:
                handles.append(layer.module.register_forward_hook(arm(act, s)))
        for act in {id(a): a for a in acts if a is not None}.values():
            handles.append(act.register_forward_hook(fire))
        with torch.no_grad():
            logits = model(x)
    finally:
        for h in handles:
            h.remove()
    return [s.result(layer) for s, layer in zip(stats, layers, strict=True)], logits
