"""Learned "emergent weight updater": a tiny network meta-trains per-layer scales at init.

Not from a paper: a seed method of this project, in the family of data-dependent scale learners
(GradInit learns one free scale per tensor; MetaInit tunes norms by the gradient quotient). Here
the scales are the output of a small network shared by all layers and reading each layer's
statistics (``updater_net``), so layers in similar conditions get similar scales and the learned
map is an object of study in itself.

Procedure (``meta_train``), all on training data:
1. the base scheme (option ``base``) initialises the weights W; the features of every scalable
   layer (relative depth, gain, activation std, active fraction, relative gradient) are measured
   once on a batch;
2. ``outer_iters`` times: log-scales d = net(features); the model is run functionally
   (``torch.func.functional_call``) from W_i * exp(d_i) through ``unroll_steps`` plain SGD steps
   of rate ``inner_lr`` on fresh batches, differentiably (second order); the cross-entropy after
   the unroll on a further fresh batch is the meta-loss. Its gradient with respect to the net is
   normalised to unit norm (a badly scaled base gives meta-gradients of 1e-10, a good one of
   1e-1; only the direction is used) and Adam with rate ``meta_lr`` steps. A meta-loss that is
   not finite or above ``DIVERGED_FACTOR`` times the first (base) one undoes the last step and
   halves the rate: the meta-loop tends to climb up to the edge of SGD stability;
3. a final check (``check_unrolls``) compares 1, 1/2, 1/4 and 0 times the learned log-scales on
   fresh unrolls shared by all four, and keeps the best: a backtracking line search whose last
   fallback is the base init itself;
4. exp(d) multiplies the weights; the scale vector is returned.
All parameters (biases, norms, positional embeddings) take part in the unrolled steps; only the
scalable weights are rescaled. Batch norm runs in train mode on cloned buffers, so the model's
running statistics are untouched; dropout is active as in training; attention uses the math
kernel (the fused ones have no double backward). The model is left in train mode with no grads.

Determinism: one draw from the global RNG seeds a ``torch.Generator`` for the batches and, inside
``torch.random.fork_rng``, the updater net's init and dropout; the result depends only on the
global seed (and, through float reductions, on the torch thread count).

Limits, measured on mnist1d (plain-SGD unrolls of rate 0.1):
- short horizon: at 3 unroll steps the meta-loss is lowest for a collapsed net predicting the
  uniform distribution (shrinking every layer wins, later training is slow; cf. Wu et al. 2018,
  "Understanding short-horizon bias in stochastic meta-optimization"); at 8 to 10 steps the
  optimum for a Kaiming MLP sits near the base, hence the default of 8;
- flat start: when the base is so small that the network output is ~1e-10 (e.g. normal std 1e-3
  on a deep MLP), learning in k steps changes the loss by ~(output)^2, far below the effect of
  the random init function itself, so the k-step loss carries no signal and the scales wander
  near 1. The updater rescues moderately mis-scaled bases (normal std 0.05-0.1: scales ~2, loss
  after 50 SGD steps 1.65 instead of 2.2), not collapsed ones;
- near a good base (Kaiming), the check usually keeps scales within a few percent of 1.
Cost per outer iteration: ``unroll_steps`` forward + double-backward passes of one batch, plus
one forward/backward of the meta-loss; ~2 s of CPU for the defaults on a 4x256 MLP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from initsearch.data.base import Dataset
from initsearch.errors import ConfigError
from initsearch.inits.registry import InitContext, get_scheme, register
from initsearch.inits.updater_net import (
    FEATURE_NAMES,
    ScaleUpdaterNet,
    layer_features,
    scaled_params,
    unrolled_loss,
)
from initsearch.models.base import ScalableLayer, ScalableModel

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


class _Batches:
    """Random training batches drawn by a private generator (indices made on the CPU)."""

    def __init__(self, data: Dataset, batch_size: int, generator: torch.Generator) -> None:
        self.x, self.y = data.x_train, data.y_train
        self.size = min(batch_size, len(self.y))
        self.generator = generator

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randperm(len(self.y), generator=self.generator)[: self.size]
        idx = idx.to(self.y.device)
        return self.x[idx], self.y[idx]


def _snapshot(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def _restore(net: torch.nn.Module, state: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for p, saved in zip(net.parameters(), state, strict=True):
            p.copy_(saved)


def _rng_devices(model: ScalableModel) -> list[int]:
    device = next(model.parameters()).device
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


def _meta_loop(
    model: ScalableModel,
    layers: list[ScalableLayer],
    base: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    features: torch.Tensor,
    batches: _Batches,
    config: UpdaterConfig,
) -> tuple[ScaleUpdaterNet, list[float]]:
    """Meta-train a fresh updater net; returns it and the meta-loss of every outer iteration."""
    net = ScaleUpdaterNet(len(FEATURE_NAMES), config.hidden, config.max_log_scale)
    net = net.to(features.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.meta_lr)
    meta_losses: list[float] = []
    reference = math.inf
    good = _snapshot(net)
    for _ in range(config.outer_iters):
        train = [batches.next() for _ in range(config.unroll_steps)]
        held = batches.next()
        params = scaled_params(base, layers, net(features))
        loss = unrolled_loss(model, params, buffers, train, held, config.inner_lr)
        value = float(loss.detach())
        meta_losses.append(value)
        if not math.isfinite(reference):
            reference = value  # the first unroll starts from the base init (scales 1)
        if not math.isfinite(value) or value > DIVERGED_FACTOR * reference:
            # the last step went over the edge of stability: undo it, take smaller steps
            _restore(net, good)
            for group in optimizer.param_groups:
                group["lr"] *= 0.5
            continue
        good = _snapshot(net)
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
    model: ScalableModel,
    layers: list[ScalableLayer],
    base: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    log_scales: torch.Tensor,
    batches: _Batches,
    config: UpdaterConfig,
) -> tuple[float, list[float]]:
    """Pick the fraction of the learned log-scales (1, 1/2, 1/4 or 0 = base init) with the
    lowest mean k-step loss on ``check_unrolls`` fresh unrolls shared by all candidates.

    A backtracking line search along the learned direction: the meta-loop tends to walk up to
    the edge of stability, where a held-out unroll may diverge; shorter steps and the base
    itself are the fallbacks. Returns the fraction and each candidate's mean loss.
    """
    unrolls = [
        ([batches.next() for _ in range(config.unroll_steps)], batches.next())
        for _ in range(config.check_unrolls)
    ]
    means = []
    for fraction in CHECK_FRACTIONS:
        params = scaled_params(base, layers, log_scales * fraction)
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
    model: ScalableModel, layers: list[ScalableLayer], data: Dataset, config: UpdaterConfig
) -> UpdaterResult:
    """Meta-train an updater net on ``model``'s current weights and apply its scales in place.

    The model's weights must already hold the base init; see the module docstring.
    """
    seed = int(torch.randint(0, 2**62, (1,)).item())
    batches = _Batches(data, config.batch_size, torch.Generator().manual_seed(seed))
    model.train()
    # only the math attention kernel has a double backward (flash/efficient ones do not)
    with torch.random.fork_rng(devices=_rng_devices(model)), sdpa_kernel(SDPBackend.MATH):
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
