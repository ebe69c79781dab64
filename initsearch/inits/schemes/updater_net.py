"""The learned updater's pieces: what it observes, its network, the functional unroll, batches.

The full discussion (layer counting, consequences, limits, what is unverified) is in
docs/init-schemes.md, section "The learned updater's pieces".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from initsearch.data.base import Dataset
from initsearch.inits.measurement.layer_activity import watch_output
from initsearch.models.base import ScalableLayer, weight_names

FEATURE_NAMES = ("rel_depth", "log_gain", "log_act_std", "active_fraction", "log_rel_grad")
LOG_FEATURE_SCALE = 5.0
FEATURE_CLIP = 5.0
_TINY = 1e-30


def _log_feature(value: torch.Tensor) -> torch.Tensor:
    """A log statistic squashed into a bounded range (see module docstring)."""
    logged = torch.log(value.clamp_min(_TINY)) / LOG_FEATURE_SCALE
    return logged.clamp(-FEATURE_CLIP, FEATURE_CLIP)


def fan_in(weight: torch.Tensor) -> int:
    """Inputs feeding one output unit: the elements of one row (Linear, conv filter, token)."""
    return max(1, weight[0].numel()) if weight.dim() > 1 else 1


def layer_features(
    model: nn.Module,
    layers: list[ScalableLayer],
    x: torch.Tensor,
    y: torch.Tensor,
) -> torch.Tensor:
    """(num_layers, len(FEATURE_NAMES)) statistics of ``model`` on the batch ``(x, y)``.

    Runs functionally on detached copies of the parameters and cloned buffers, so the model's
    ``.grad`` fields and batch-norm running statistics are left untouched. The model's current
    train/eval mode is used (the updater runs it in train mode, the mode training sees).
    """
    params = {n: p.detach().requires_grad_(True) for n, p in model.named_parameters()}
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    outputs: dict[int, torch.Tensor] = {}

    def keep(i: int):
        return lambda output: outputs.setdefault(i, output.detach())

    handles = [watch_output(layer, keep(i)) for i, layer in enumerate(layers)]
    try:
        logits = functional_call(model, (params, buffers), (x,))
    finally:
        for handle in handles:
            handle.remove()
    loss = F.cross_entropy(logits.float(), y)
    names = weight_names(model, layers)
    grads = torch.autograd.grad(loss, [params[n] for n in names], allow_unused=True)

    max_depth = max(max(layer.depth for layer in layers), 1)
    rows = []
    for i, (layer, grad) in enumerate(zip(layers, grads, strict=True)):
        weight = params[names[i]].detach().float()
        out = outputs[i].float() if i in outputs else torch.zeros(1, device=weight.device)
        weight_norm = weight.norm()
        grad_norm = grad.float().norm() if grad is not None else weight_norm.new_zeros(())
        rows.append(
            torch.stack(
                [
                    weight_norm.new_tensor(layer.depth / max_depth),
                    _log_feature(weight.std() * math.sqrt(fan_in(weight))),
                    _log_feature(out.std() if out.numel() > 1 else out.abs().mean()),
                    (out > 0).float().mean(),
                    _log_feature(grad_norm / weight_norm.clamp_min(_TINY)),
                ]
            )
        )
    return torch.stack(rows)


class ScaleUpdaterNet(nn.Module):
    """Shared per-layer MLP: features (L, F) -> bounded log-scale changes (L,)."""

    def __init__(self, num_features: int, hidden: int = 16, max_log_scale: float = 1.0) -> None:
        super().__init__()
        self.max_log_scale = float(max_log_scale)
        self.net = nn.Sequential(
            nn.Linear(num_features, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 1),
        )
        last = self.net[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)  # untrained updater = identity (scale 1 on every layer)
        nn.init.zeros_(last.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.max_log_scale * torch.tanh(self.net(features).squeeze(-1))


def unrolled_loss(
    model: nn.Module,
    params: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    train_batches: list[tuple[torch.Tensor, torch.Tensor]],
    eval_batch: tuple[torch.Tensor, torch.Tensor],
    lr: float,
    create_graph: bool = True,
) -> torch.Tensor:
    """Cross-entropy on ``eval_batch`` after one plain SGD step of rate ``lr`` per train batch.

    ``params`` must require grad (leaves or functions of the updater's output); with
    ``create_graph`` the result is differentiable through the steps (second order).
    """
    names = list(params)
    current = dict(params)
    for x, y in train_batches:
        state = {n: b.clone() for n, b in buffers.items()}
        loss = F.cross_entropy(functional_call(model, (current, state), (x,)).float(), y)
        grads = torch.autograd.grad(
            loss, [current[n] for n in names], create_graph=create_graph, allow_unused=True
        )
        current = {
            n: current[n] if g is None else _step(current[n], g, lr, create_graph)
            for n, g in zip(names, grads, strict=True)
        }
    state = {n: b.clone() for n, b in buffers.items()}
    x, y = eval_batch
    return F.cross_entropy(functional_call(model, (current, state), (x,)).float(), y)


def _step(param: torch.Tensor, grad: torch.Tensor, lr: float, keep_graph: bool) -> torch.Tensor:
    """One SGD update; without ``keep_graph`` the result is a fresh leaf, so an evaluation-only
    unroll does not hold every step's graph in memory."""
    new = param - lr * grad
    return new if keep_graph else new.detach().requires_grad_(True)


def scaled_params(
    base: dict[str, torch.Tensor], names: list[str], log_scales: torch.Tensor
) -> dict[str, torch.Tensor]:
    """``base`` with each scalable weight (by parameter name, ``weight_names``) multiplied by
    exp(its log-scale)."""
    params = dict(base)
    for i, name in enumerate(names):
        params[name] = base[name] * torch.exp(log_scales[i]).to(base[name].dtype)
    return params


# ---------------------------------------------------------------- meta-training plumbing


class Batches:
    """Random training batches drawn by a private generator (indices made on the CPU)."""

    def __init__(self, data: Dataset, batch_size: int, generator: torch.Generator) -> None:
        self.x, self.y = data.x_train, data.y_train
        self.size = min(batch_size, len(self.y))
        self.generator = generator

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randperm(len(self.y), generator=self.generator)[: self.size]
        idx = idx.to(self.y.device)
        return self.x[idx], self.y[idx]


def snapshot(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def restore(net: torch.nn.Module, state: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for p, saved in zip(net.parameters(), state, strict=True):
            p.copy_(saved)


def rng_devices(model: nn.Module) -> list[int]:
    device = next(model.parameters()).device
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]
