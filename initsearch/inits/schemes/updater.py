"""Learned "emergent weight updater": a tiny network meta-trains per-layer scales at init.

Not from a paper: a seed method of this project, in the family of data-dependent scale learners
(GradInit learns one free scale per tensor; MetaInit tunes norms by the gradient quotient). Here
the scales are the output of a small network shared by all layers and reading each layer's
statistics (``updater_net``), so layers in similar conditions get similar scales and the learned
map is an object of study in itself.

The full discussion (layer counting, consequences, limits, what is unverified) is in
docs/init-schemes.md, section "The learned updater".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from initsearch.data.base import Dataset
from initsearch.errors import ConfigError
from initsearch.inits.registry import InitContext, get_scheme, register
from initsearch.inits.schemes.updater_net import (
    FEATURE_NAMES,
    Batches,
    ScaleUpdaterNet,
    layer_features,
    restore,
    rng_devices,
    scaled_params,
    snapshot,
    unrolled_loss,
)
from initsearch.models.base import ScalableLayer, weight_names

# a meta-loss above this multiple of the base init's counts as a diverged unroll
DIVERGED_FACTOR = 2.0
# fractions of the learned log-scales the final check compares (0 = the base init)
CHECK_FRACTIONS = (1.0, 0.5, 0.25, 0.0)

OPTIONS: dict[str, str] = {
    "base": "scheme initialising the weights before the updater rescales them (default kaiming)",
    "outer_iters": "meta-training iterations of the updater net (default 20; 0 = base init)",
    "unroll_steps": "differentiable plain-SGD steps before each meta-loss (default 8)",
    "inner_lr": "learning rate of the unrolled SGD steps (default 0.1)",
    "meta_lr": "Adam learning rate of the updater net on unit-norm meta-gradients (default 0.005)",
    "max_log_scale": "bound on |log scale| per layer: scales in [e^-m, e^m] (default 1.0)",
    "batch_size": "samples per batch of features, unrolled steps and meta-loss (default 128)",
    "check_unrolls": "fresh unrolls judging 1, 1/2, 1/4 and 0 x the learned log-scales at the "
    "end (default 2; 0 = keep the learned scales unchecked)",
    "hidden": "hidden units of each of the updater net's two layers (default 16)",
}


@dataclass(frozen=True)
class UpdaterConfig:
    """Validated options of the updater scheme (see ``OPTIONS``)."""

    base: str = "kaiming"
    outer_iters: int = 20
    unroll_steps: int = 8
    inner_lr: float = 0.1
    meta_lr: float = 0.005
    max_log_scale: float = 1.0
    batch_size: int = 128
    hidden: int = 16
    check_unrolls: int = 2

    def __post_init__(self) -> None:
        if self.base == "updater":
            raise ConfigError("init option base cannot be 'updater'; pick e.g. kaiming or xavier")
        ints = {
            "outer_iters": 0,
            "unroll_steps": 1,
            "batch_size": 1,
            "hidden": 1,
            "check_unrolls": 0,
        }
        for key, low in ints.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"init option {key} must be an integer >= {low}, got {value!r}")
        for key in ("inner_lr", "meta_lr", "max_log_scale"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"init option {key} must be a number > 0, got {value!r}")

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> UpdaterConfig:
        known = {k: options[k] for k in OPTIONS if k in options}
        return cls(**known)


@dataclass
class UpdaterResult:
    """What meta-training produced: scales, the meta-loss per outer iteration, the features."""

    scales: list[float]
    meta_losses: list[float] = field(default_factory=list)
    features: torch.Tensor | None = None
    fraction: float = 1.0  # share of the learned log-scales kept by the final check
    check_losses: list[float] = field(default_factory=list)  # per candidate fraction


def _meta_loop(
    model: nn.Module,
    layers: list[ScalableLayer],
    base: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    features: torch.Tensor,
    batches: Batches,
    config: UpdaterConfig,
) -> tuple[ScaleUpdaterNet, list[float]]:
    """Meta-train a fresh updater net; returns it and the meta-loss of every outer iteration."""
    names = weight_names(model, layers)
    net = ScaleUpdaterNet(len(FEATURE_NAMES), config.hidden, config.max_log_scale)
    net = net.to(features.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.meta_lr)
    meta_losses: list[float] = []
    reference = math.inf
    good = snapshot(net)
    for _ in range(config.outer_iters):
        train = [batches.next() for _ in range(config.unroll_steps)]
        held = batches.next()
        params = scaled_params(base, names, net(features))
        loss = unrolled_loss(model, params, buffers, train, held, config.inner_lr)
        value = float(loss.detach())
        meta_losses.append(value)
        if not math.isfinite(reference):
            reference = value  # the first unroll starts from the base init (scales 1)
        if not math.isfinite(value) or value > DIVERGED_FACTOR * reference:
            # the last step went over the edge of stability: undo it, take smaller steps
            restore(net, good)
            for group in optimizer.param_groups:
                group["lr"] *= 0.5
            continue
        good = snapshot(net)
        grads = torch.autograd.grad(loss, list(net.parameters()), allow_unused=True)
        norm = torch.linalg.vector_norm(
            torch.stack([g.float().norm() for g in grads if g is not None])
        )
        if not (torch.isfinite(norm) and norm > 0):
            continue
        for p, g in zip(net.parameters(), grads, strict=True):
            p.grad = None if g is None else g / norm
        optimizer.step()
    return net, meta_losses


def _check(
    model: nn.Module,
    layers: list[ScalableLayer],
    base: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    log_scales: torch.Tensor,
    batches: Batches,
    config: UpdaterConfig,
) -> tuple[float, list[float]]:
    """Pick the fraction of the learned log-scales (1, 1/2, 1/4 or 0 = base init) with the
    lowest mean k-step loss on ``check_unrolls`` fresh unrolls shared by all candidates.

    A backtracking line search along the learned direction: the meta-loop tends to walk up to
    the edge of stability, where a held-out unroll may diverge; shorter steps and the base
    itself are the fallbacks. Returns the fraction and each candidate's mean loss.
    """
    names = weight_names(model, layers)
    unrolls = [
        ([batches.next() for _ in range(config.unroll_steps)], batches.next())
        for _ in range(config.check_unrolls)
    ]
    means = []
    for fraction in CHECK_FRACTIONS:
        params = scaled_params(base, names, log_scales * fraction)
        losses = [
            float(unrolled_loss(model, params, buffers, tr, held, config.inner_lr, False).detach())
            for tr, held in unrolls
        ]
        ok = all(math.isfinite(v) for v in losses)
        means.append(sum(losses) / len(losses) if ok else math.inf)
    # ties (all unrolls diverged: every mean inf) go to the candidate closest to the base
    best = min(range(len(means)), key=lambda i: (means[i], -i))
    return CHECK_FRACTIONS[best], means


def meta_train(
    model: nn.Module, layers: list[ScalableLayer], data: Dataset, config: UpdaterConfig
) -> UpdaterResult:
    """Meta-train an updater net on ``model``'s current weights and apply its scales in place.

    The model's weights must already hold the base init; see the module docstring.
    """
    seed = int(torch.randint(0, 2**62, (1,)).item())
    batches = Batches(data, config.batch_size, torch.Generator().manual_seed(seed))
    model.train()
    # only the math attention kernel has a double backward (flash/efficient ones do not)
    with torch.random.fork_rng(devices=rng_devices(model)), sdpa_kernel(SDPBackend.MATH):
        torch.manual_seed(seed)
        features = layer_features(model, layers, *batches.next())
        # leaves sharing the model's storage; gradients go through autograd.grad only
        base = {n: p.detach().requires_grad_(True) for n, p in model.named_parameters()}
        buffers = {n: b.detach() for n, b in model.named_buffers()}
        net, meta_losses = _meta_loop(model, layers, base, buffers, features, batches, config)
        with torch.no_grad():
            log_scales = net(features)
        fraction, check_losses = 1.0, []
        if config.check_unrolls > 0 and config.outer_iters > 0:
            fraction, check_losses = _check(
                model, layers, base, buffers, log_scales, batches, config
            )
        log_scales = log_scales * fraction
        with torch.no_grad():
            for layer, log_scale in zip(layers, log_scales, strict=True):
                layer.weight.mul_(torch.exp(log_scale).to(layer.weight.dtype))
    model.train()
    scales = [float(s) for s in torch.exp(log_scales).cpu()]
    return UpdaterResult(scales, meta_losses, features.cpu(), fraction, check_losses)


@register(
    "updater",
    "learned updater: a tiny net reads per-layer statistics and meta-trains log-scales on top "
    "of a base init to lower the loss a few SGD steps ahead",
    needs_data=True,
    options=OPTIONS,
    profile=True,
)
def updater(ctx: InitContext) -> list[float]:
    """Base init, then the meta-trained updater's per-layer scales (returned, base's included)."""
    if ctx.data is None:
        raise ConfigError("init scheme 'updater' needs training data; pass the data set to apply()")
    config = UpdaterConfig.from_options(ctx.spec.options)
    base_info = get_scheme(config.base)
    base_ctx = replace(ctx, spec=replace(ctx.spec, scheme=config.base, scales=None))
    base_scales = base_info.fn(base_ctx)
    result = meta_train(ctx.model, ctx.layers, ctx.data, config)
    if base_scales is None:
        return result.scales
    return [float(a) * b for a, b in zip(base_scales, result.scales, strict=True)]
