"""At-init diagnostics: what an init did to the network before any training step.

``compute_diagnostics`` returns the JSON-serialisable dict of the shared diagnostics contract
(keys :data:`DIAGNOSTICS_KEYS`, each entry of "layers" with :data:`LAYER_KEYS`) so a report can
ask which at-init property predicts training. It is computed on the first ``batch_size``
training samples, the same batch for every trial of a data set.

- loss, activation_std, dead_fraction (units that never fire), log_emergence and
  active_fraction (units above the absolute threshold), log_emergence_relative and
  active_fraction_relative (units above :data:`RELATIVE_THRESHOLD` x their layer's mean
  activity): one forward pass in eval mode (no dropout; BatchNorm at init then uses its running
  statistics, i.e. it is the identity), activity as defined in ``layer_activity.py``, measure
  as in ``emergence_measure.py`` (natural log, -inf when E = 0).
- grad_norm: the L2 norm of each scalable weight's gradient of the batch cross-entropy, from one
  forward+backward in train mode, as the first optimiser step sees it (BatchNorm on batch
  statistics, dropout active). ``torch.autograd.grad`` is used, so no ``.grad`` is left on any
  parameter, and BatchNorm running statistics are restored afterwards.
- The global RNG state is forked around everything, so a trial's training draws the same random
  numbers with or without diagnostics; the model goes back to the mode it came in (train, for a
  freshly built model).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from initsearch.data.base import Dataset
from initsearch.errors import ConfigError
from initsearch.inits.measurement.emergence_measure import level_counts, log_emergence
from initsearch.inits.measurement.layer_activity import LayerActivity, record_activity
from initsearch.models.base import ScalableLayer

DEFAULT_THRESHOLD = 0.05
"""Activity above which a unit counts as active for the emergence measure (AlShinaifi et al.'s
0.05). At 0 the rule cannot move the measure: with zero biases a positive rescaling never
changes which units fire. Dead units (``dead_fraction``) are always those that never fire."""
RELATIVE_THRESHOLD = 0.1
"""Fraction of its layer's mean activity above which a unit counts as active for the relative
measure. Scale-free: multiplying a layer's output by any c > 0 multiplies its units' activities
and their mean alike, so a pure per-layer rescaling of a bias-free ReLU net (the emergence rule
on an MLP or a plain VGG, with or without BatchNorm at init) cannot move the relative measure,
while it moves the absolute one just by pushing activities across 0.05. Why 0.1: at Kaiming
scale the mean activity of a layer is ~0.5 (per-net medians 0.2 to 1.05 on mnist1d MLPs of depth
4 to 32, width 64), so 0.1 x mean is ~0.05: the two rules agree on 97-100% of units there (92% at
worst) and log E to within 2% (docs/init-schemes.md, "The relative threshold")."""
DEFAULT_BATCH = 256

DIAGNOSTICS_KEYS = frozenset(
    {
        "batch_size",
        "threshold",
        "relative_threshold",
        "loss",
        "log_emergence",
        "active_fraction",
        "log_emergence_relative",
        "active_fraction_relative",
        "layers",
    }
)
"""The keys of the diagnostics dict."""
LAYER_KEYS = frozenset(
    {"name", "depth", "scale", "weight_std", "activation_std", "dead_fraction", "grad_norm"}
)
"""The keys of each entry of its "layers" list."""


def diagnostics_options(options: Mapping[str, Any]) -> tuple[bool, float, int]:
    """The spec options "diagnostics", "threshold", "diag_batch", validated."""
    enabled = options.get("diagnostics", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"init option diagnostics must be true or false, got {enabled!r}")
    threshold = options.get("threshold", DEFAULT_THRESHOLD)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not math.isfinite(threshold)
    ):
        raise ConfigError(
            f"init option threshold must be a finite number (activity above it counts as "
            f"active, e.g. 0 or 0.05), got {threshold!r}"
        )
    batch = options.get("diag_batch", DEFAULT_BATCH)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"init option diag_batch must be a positive integer, got {batch!r}")
    return enabled, float(threshold), batch


def _grad_norms(
    model: nn.Module, layers: list[ScalableLayer], x: torch.Tensor, y: torch.Tensor
) -> list[float]:
    """Per-layer weight-gradient norms of one train-mode step, without side effects."""
    saved = {name: b.detach().clone() for name, b in model.named_buffers()}
    model.train()
    try:
        with torch.enable_grad():
            loss = F.cross_entropy(model(x).float(), y)
            grads = torch.autograd.grad(loss, [layer.weight for layer in layers], allow_unused=True)
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(saved[name])
    return [0.0 if g is None else float(g.detach().double().norm()) for g in grads]


def _measure(activities: list[LayerActivity], masks: list[torch.Tensor]) -> tuple[float, float]:
    """(log E, mean over layers of the active fraction) for one choice of active units."""
    units, active = level_counts(
        [a.depth for a in activities],
        [a.units for a in activities],
        [int(mask.sum()) for mask in masks],
    )
    fractions = [float(mask.double().mean()) if mask.numel() else 1.0 for mask in masks]
    return log_emergence(units, active), sum(fractions) / len(fractions) if fractions else 0.0


def compute_diagnostics(
    model: nn.Module,
    layers: list[ScalableLayer],
    data: Dataset,
    scales: Sequence[float],
    threshold: float = DEFAULT_THRESHOLD,
    batch_size: int = DEFAULT_BATCH,
) -> dict[str, Any]:
    """The contract's diagnostics dict for ``model`` as initialised (see module docstring)."""
    if len(scales) != len(layers):
        raise ValueError(f"got {len(scales)} scales for {len(layers)} scalable layers")
    if batch_size < 1:
        raise ConfigError(f"diagnostics batch size must be >= 1, got {batch_size}")
    x, y = data.x_train[:batch_size], data.y_train[:batch_size]
    devices: list[int] = []
    if x.device.type == "cuda":
        devices = [x.device.index if x.device.index is not None else torch.cuda.current_device()]
    was_training = model.training
    with torch.random.fork_rng(devices=devices):
        try:
            model.eval()
            activities, logits = record_activity(model, layers, x)
            loss = float(F.cross_entropy(logits.float(), y))
            grad_norms = _grad_norms(model, layers, x, y)
        finally:
            model.train(was_training)
    dead = [a.dead_fraction(0.0) for a in activities]
    log_e, active = _measure(activities, [a.active(threshold) for a in activities])
    log_e_rel, active_rel = _measure(
        activities, [a.active_relative(RELATIVE_THRESHOLD) for a in activities]
    )
    with torch.no_grad():
        weight_std = [float(layer.weight.detach().double().std()) for layer in layers]
    return {
        "batch_size": len(y),
        "threshold": float(threshold),
        "relative_threshold": RELATIVE_THRESHOLD,
        "loss": loss,
        "log_emergence": log_e,
        "active_fraction": active,
        "log_emergence_relative": log_e_rel,
        "active_fraction_relative": active_rel,
        "layers": [
            {
                "name": layer.name,
                "depth": int(layer.depth),
                "scale": float(scale),
                "weight_std": w_std,
                "activation_std": float(act.std),
                "dead_fraction": float(d),
                "grad_norm": g,
            }
            for layer, scale, w_std, act, d, g in zip(
                layers, scales, weight_std, activities, dead, grad_norms, strict=True
            )
        ],
    }
