"""The learned updater's pieces: what it observes, its network, and the functional unroll.

Observation: one row of :data:`FEATURE_NAMES` per scalable layer, measured by one forward and
backward pass of the freshly initialised model on a data batch (:func:`layer_features`). The
features are width-free so one small network can be shared by every layer of any model:

- ``rel_depth``: ``layer.depth / max depth`` (0 = first layer, 1 = last);
- ``log_gain``: log(weight std * sqrt(fan_in)); Kaiming ReLU gives log(sqrt 2), a mis-scaled base
  shows up as a large negative/positive value (fan_in = elements of one output row of the weight,
  for an embedding the token-vector size);
- ``log_act_std``: log std of the layer's output (before norm and nonlinearity) on the batch,
  the forward-signal scale that vanishes or explodes with depth;
- ``active_fraction``: share of the layer's outputs above zero, i.e. of ReLU units that fire;
- ``log_rel_grad``: log(||dL/dW|| / ||W||), the relative step size one unit of learning rate
  gives that layer (the backward-signal scale).
Logs are divided by ``LOG_FEATURE_SCALE`` and clipped to ``[-FEATURE_CLIP, FEATURE_CLIP]`` so a
collapsed network (activations of 1e-10) still gives bounded inputs.

Network (:class:`ScaleUpdaterNet`): a per-layer MLP, 5 -> hidden -> hidden -> 1 with tanh, shared
across layers (385 parameters at hidden=16), whose output is ``max_log_scale * tanh(.)``: a
bounded log-scale change. Its last layer starts at zero, so an untrained updater proposes scale
1 everywhere and the updater scheme with zero outer iterations is exactly its base init.

Unroll (:func:`unrolled_loss`): plain SGD steps run through ``torch.func.functional_call`` on a
dict of parameter tensors, so the loss after the steps is a differentiable function of the
starting weights (and of the log-scales in :func:`scaled_params`) without touching the model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from initsearch.models.base import ScalableLayer, ScalableModel

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
    model: ScalableModel,
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

    def hook_for(i: int):
        def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            outputs.setdefault(i, output.detach())

        return hook

    handles = [layer.module.register_forward_hook(hook_for(i)) for i, layer in enumerate(layers)]
    try:
        logits = functional_call(model, (params, buffers), (x,))
    finally:
        for handle in handles:
            handle.remove()
    loss = F.cross_entropy(logits.float(), y)
    weight_names = [f"{layer.name}.weight" for layer in layers]
    grads = torch.autograd.grad(loss, [params[n] for n in weight_names], allow_unused=True)

    max_depth = max(max(layer.depth for layer in layers), 1)
    rows = []
    for i, (layer, grad) in enumerate(zip(layers, grads, strict=True)):
        weight = params[weight_names[i]].detach().float()
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
    model: ScalableModel,
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
    base: dict[str, torch.Tensor], layers: list[ScalableLayer], log_scales: torch.Tensor
) -> dict[str, torch.Tensor]:
    """``base`` with each scalable weight multiplied by exp(its log-scale)."""
    params = dict(base)
    for i, layer in enumerate(layers):
        name = f"{layer.name}.weight"
        params[name] = base[name] * torch.exp(log_scales[i]).to(base[name].dtype)
    return params
