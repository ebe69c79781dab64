"""At-init diagnostics: what an init did to the network before any training step.

``compute_diagnostics`` returns the JSON-serialisable dict of the shared diagnostics contract
(keys :data:`DIAGNOSTICS_KEYS`, each entry of "layers" with :data:`LAYER_KEYS`) so a report can
ask which at-init property predicts training. It is computed on the first ``batch_size``
training samples, the same batch for every trial of a data set.

- loss, activation_std, dead_fraction (units that never fire), log_emergence and
  active_fraction (units above the threshold): one forward pass in eval mode (no dropout;
  BatchNorm at init then uses its running statistics, i.e. it is the identity), activity as
  defined in ``layer_activity.py``, measure as in ``emergence_measure.py`` (natural log, -inf
  when E = 0).
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
DEFAULT_BATCH = 256

DIAGNOSTICS_KEYS = frozenset(
    {"batch_size", "threshold", "loss", "log_emergence", "active_fraction", "layers"}
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


def _log_emergence(activities: list[LayerActivity], threshold: float) -> float:
    units, active = level_counts(
        [a.depth for a in activities],
        [a.units for a in activities],
        [int(a.active(threshold).sum()) for a in activities],
    )
    return log_emergence(units, active)


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
    inactive = [a.dead_fraction(threshold) for a in activities]
    with torch.no_grad():
        weight_std = [float(layer.weight.detach().double().std()) for layer in layers]
    return {
        "batch_size": len(y),
        "threshold": float(threshold),
        "loss": loss,
        "log_emergence": _log_emergence(activities, threshold),
        "active_fraction": 1.0 - sum(inactive) / len(inactive) if inactive else 0.0,
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
