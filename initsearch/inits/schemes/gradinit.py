"""GradInit (Zhu et al., NeurIPS 2021, arXiv 2102.08098): learn one scale per parameter tensor.

After a base init (option ``base``, default kaiming), every parameter tensor W_i (weights and
biases of every layer, norm layers included; tensors that are all zero at init are skipped and
stay zero) becomes m_i * W_i, and the scales solve

    min_m  L(S~; theta_m - eta * A[g])   s.t.  ||g||_p <= gamma,  m_i >= min_scale,
    g = grad of L(S; theta_m),

one stochastic step per iteration: S is two half-batches; if ||g||_p > gamma the scales take a
step that lowers ||g||_p (double backward through g); otherwise they take a step that lowers
L(S~; theta - eta A[g]) / eta, S~ = first half of S + a fresh half-batch. SGD variant: p = 2,
A[g] = g (or g/||g||_2 with ``normalize_grad``); Adam variant: p = 1, A[g] = sign(g) (Adam's
first step). Scales move by :class:`ScaleAdam`. The model runs in eval mode (no dropout) with
batch norm on batch statistics and its running statistics left untouched; forward passes go
through ``torch.func.functional_call`` with theta_m, so parameters change only once, at the end
(W_i <- m_i W_i).

Reading of the reference code (zhuchen03/gradinit, see shared/notes/init-methods.md):
both official implementations treat the look-ahead step A[g] as a constant in the objective
step (``grad.detach()`` / ``gstep.data``), so the objective's gradient reaches m only through
theta_m; ``second_order=True`` differentiates through A[g] as well (the paper's objective taken
literally). The per-scale gradient of RescaleAdam, <dL/dW, W> ||W0|| / ||W||, equals dL/dm_i,
which autograd gives directly here. Defaults per architecture: see ``gradinit_opt``.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from initsearch.data.base import Dataset
from initsearch.errors import ConfigError
from initsearch.inits.options import COMMON_OPTIONS
from initsearch.inits.registry import InitContext, get_scheme, register
from initsearch.inits.schemes.gradinit_opt import (
    OPTION_DOCS,
    GradInitConfig,
    ScaleAdam,
    family_defaults,
    resolve_config,
)
from initsearch.inits.schemes.gradinit_parts import (
    HalfBatches,
    ScaledParams,
    grad_norm,
    gradinit_modes,
    math_attention,
    progress_bar,
)
from initsearch.models.base import ScalableLayer
from initsearch.models.discover import SAMPLE_BATCH, model_layers

RESULT_ATTR = "gradinit_result"
"""Attribute under which the scheme leaves its :class:`GradInitResult` on the model."""


@dataclass
class GradInitResult:
    """What GradInit learned.

    ``per_tensor``: parameter name -> learned scale (skipped all-zero tensors are absent);
    ``per_layer``: the scale of each scalable layer's weight, in ``scalable_layers()`` order
    (1.0 for a skipped weight); ``history``: per iteration, "gnorm" (||g||_p on S), "loss"
    (L(S)), "lookahead_loss" (L(S~; theta'), NaN on constraint steps) and "constraint" (1.0
    when the step was a constraint step); ``skipped``: names of all-zero tensors.
    """

    per_tensor: dict[str, float]
    per_layer: list[float]
    history: dict[str, list[float]]
    skipped: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def constraint_steps(self) -> int:
        return int(sum(self.history["constraint"]))


def model_defaults(model: nn.Module) -> GradInitConfig:
    """Reference settings for ``model``'s architecture family and whether it has batch norm."""
    spec = getattr(model, "spec", None)
    family = getattr(spec, "name", "mlp")
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    return family_defaults(family, has_bn)


def _lookahead_step(
    grads: list[torch.Tensor], gnorm: torch.Tensor, cfg: GradInitConfig
) -> list[torch.Tensor]:
    """eta * A[g]: sign(g) for Adam, g or g/||g|| for SGD; a constant unless second_order."""
    if cfg.alg == "adam":
        steps = [g.sign() for g in grads]
    elif cfg.normalize_grad:
        steps = [g / gnorm.clamp_min(1e-12) for g in grads]
    else:
        steps = grads
    return [cfg.eta * (s if cfg.second_order else s.detach()) for s in steps]


def gradinit_scales(
    model: nn.Module,
    data: Dataset | None,
    options: dict[str, Any] | None = None,
    layers: list[ScalableLayer] | None = None,
) -> GradInitResult:
    """Learn GradInit's per-tensor scales for ``model`` (already base-initialised) on
    ``data.x_train/y_train`` and write them into its parameters (W <- m W).

    ``options`` override the architecture's defaults (keys: GradInitConfig's fields). Batches
    come from a generator seeded from torch's global RNG, so ``torch.manual_seed`` makes a run
    reproducible. ``layers`` (default: the model's scalable layers, found on the first training
    samples for a plain module) fixes ``per_layer``'s order.
    """
    if data is None:
        raise ConfigError("GradInit needs training data; pass the data set (data=...)")
    cfg = resolve_config(model_defaults(model), dict(options or {}))
    if layers is None:
        layers = model_layers(model, data.x_train[:SAMPLE_BATCH]).layers
    theta = ScaledParams(model, cfg.min_scale)
    scales = torch.ones(len(theta.scaled), device=theta.device)
    optimizer = ScaleAdam(theta.floors, cfg)

    n_train = len(data.y_train)
    half = cfg.batch_size // 2
    if half > n_train:
        raise ConfigError(
            f"gradinit batch_size {cfg.batch_size} needs {half} samples per half-batch but the "
            f"training set has {n_train}; lower the option batch_size"
        )
    seed = int(torch.randint(0, 2**62, (1,)).item())
    batches = HalfBatches(n_train, half, torch.Generator().manual_seed(seed))

    def loss_on(params: dict[str, torch.Tensor], *parts: torch.Tensor) -> torch.Tensor:
        idx = torch.cat(parts).to(data.x_train.device)
        x, y = data.x_train[idx].to(theta.device), data.y_train[idx].to(theta.device)
        return F.cross_entropy(functional_call(model, params, (x,)), y)

    p_norm = 1 if cfg.alg == "adam" else 2
    history: dict[str, list[float]] = {k: [] for k in ("gnorm", "loss", "lookahead_loss")}
    history["constraint"] = []
    progress = progress_bar(cfg.iters, cfg.progress)
    with gradinit_modes(model), math_attention(), progress or contextlib.nullcontext():
        task = progress.add_task("gradinit", total=cfg.iters, info="") if progress else None
        for _ in range(cfg.iters):
            leaf = scales.clone().requires_grad_(True)
            params = theta.build(leaf)
            h0, h1 = batches.next(), batches.next()
            loss = loss_on(params, h0, h1)
            tensors = list(params.values())
            raw = torch.autograd.grad(loss, tensors, create_graph=True, allow_unused=True)
            grads = [
                torch.zeros_like(t) if g is None else g for g, t in zip(raw, tensors, strict=True)
            ]
            gnorm = grad_norm(grads, p_norm)
            gnorm_value = float(gnorm.detach())
            constraint = gnorm_value > cfg.gamma
            if constraint:  # lower ||g||_p: double backward through g
                (d_scales,) = torch.autograd.grad(gnorm, leaf)
                lookahead = math.nan
            else:  # lower L(S~; theta - eta A[g]) / eta
                steps = _lookahead_step(grads, gnorm, cfg)
                moved = {n: t - s for (n, t), s in zip(params.items(), steps, strict=True)}
                after = loss_on(moved, h0, batches.next())
                (d_scales,) = torch.autograd.grad(after / cfg.eta, leaf)
                lookahead = float(after.detach())
            if bool(torch.isfinite(d_scales).all()):  # a NaN batch must not poison the scales
                optimizer.step(scales, d_scales.detach(), constraint)
            history["gnorm"].append(gnorm_value)
            history["loss"].append(float(loss.detach()))
            history["lookahead_loss"].append(lookahead)
            history["constraint"].append(1.0 if constraint else 0.0)
            if progress is not None and task is not None:
                info = f"||g|| {gnorm_value:.3g}  loss {float(loss):.3g}"
                progress.update(task, advance=1, info=info)

    theta.write(scales)
    per_tensor = {n: float(scales[theta.position[n]]) for n in theta.scaled}
    name_of = {id(p): n for n, p in theta.named}
    per_layer = [per_tensor.get(name_of.get(id(layer.weight), ""), 1.0) for layer in layers]
    return GradInitResult(per_tensor, per_layer, history, theta.skipped, cfg.to_dict())


@register(
    "gradinit",
    "GradInit (Zhu et al. 2021): learn a scale per parameter tensor so one SGD/Adam step "
    "lowers the loss most, under a gradient-norm bound (needs data)",
    needs_data=True,
    options=OPTION_DOCS,
    profile=True,
)
def gradinit(ctx: InitContext) -> list[float]:
    """Base init, then GradInit; returns base scales times learned per-layer weight scales and
    leaves the full :class:`GradInitResult` on the model as ``model.gradinit_result``."""
    base = str(ctx.option("base", "kaiming"))
    base_info = get_scheme(base)
    if base_info.needs_data or base == "gradinit":
        raise ConfigError(
            f"gradinit's base must be a data-free scheme such as kaiming or xavier, got {base!r}"
        )
    own = {k: v for k, v in ctx.spec.options.items() if k in OPTION_DOCS and k != "base"}
    # apply() itself reads the common (diagnostics) options
    known = set(OPTION_DOCS) | set(base_info.options) | set(COMMON_OPTIONS)
    foreign = sorted(set(ctx.spec.options) - known)
    if foreign:
        raise ConfigError(
            f"unknown option(s) {foreign} for gradinit with base {base!r}; known: "
            f"{', '.join(sorted(known))}"
        )
    with torch.no_grad():
        base_scales = base_info.fn(ctx)
    result = gradinit_scales(ctx.model, ctx.data, own, layers=ctx.layers)
    setattr(ctx.model, RESULT_ATTR, result)
    if base_scales is None:
        return list(result.per_layer)
    return [float(a) * b for a, b in zip(base_scales, result.per_layer, strict=True)]
