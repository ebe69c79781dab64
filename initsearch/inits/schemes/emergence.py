"""The emergence-promoting rule (Li, George, Silva, arXiv 2407.19044), scheme "emergence".

After a standard base init (option ``base``: "kaiming", default, or "xavier" and their
``_normal``/``_uniform`` variants, run through the classic schemes so they match torch exactly),
each scalable layer's weight is multiplied by ``alpha ** (depth - pivot)``: layers before the
pivot shrink, layers after it grow, the pivot layer is unchanged. Biases are left alone (apply()
has already zeroed them). ``alpha`` (default 1.1) must be > 0; alpha > 1 is the paper's
emergence-promoting direction (more inactive units low, more active units high, which raises
the path-counting measure of ``inits/measurement/emergence_measure.py``), alpha < 1 the
opposite, alpha = 1 the base init.

How layers are counted (by ``ScalableLayer.depth``, the position on the longest forward path):
- MLP / VGG: one depth per Linear or conv, in forward order; the classifier head is the last.
- ResNet: the stem, then each block's conv1 and conv2 by their position along the main path;
  the option-A shortcuts are parameter-free, add no depth and are not scaled.
- Transformer: q, k and v of one attention run side by side, share a depth and a scale; then
  the attention output, ff1, ff2; the head is last. Residual streams add no depth.
- Embeddings (token embedding, patch/row projection) are depth 0 and are scaled like any layer
  (they shrink most for alpha > 1).

The full discussion (layer counting, consequences, limits, what is unverified) is in
docs/init-schemes.md, section "The emergence-promoting rule".
"""

from __future__ import annotations

import math

import torch

from initsearch.errors import ConfigError
from initsearch.inits.registry import InitContext, get_scheme, register

BASES = (
    "kaiming",
    "kaiming_normal",
    "kaiming_uniform",
    "xavier",
    "xavier_uniform",
    "xavier_normal",
)
DEFAULT_ALPHA = 1.1


def _alpha(ctx: InitContext) -> float:
    alpha = ctx.option("alpha", DEFAULT_ALPHA)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float):
        raise ConfigError(f"emergence option alpha must be a number > 0 (e.g. 1.1), got {alpha!r}")
    if not (math.isfinite(alpha) and alpha > 0):
        raise ConfigError(
            f"emergence option alpha must be a finite number > 0, got {alpha}; "
            "alpha > 1 promotes emergence (try 1.05 to 1.5), alpha = 1 is the base init"
        )
    return float(alpha)


def _pivot(ctx: InitContext, max_depth: int) -> float:
    pivot = ctx.option("pivot", max_depth // 2)
    if isinstance(pivot, bool) or not isinstance(pivot, int | float):
        raise ConfigError(f"emergence option pivot must be a number, got {pivot!r}")
    if not 0 <= pivot <= max_depth:
        raise ConfigError(
            f"emergence option pivot must lie in [0, {max_depth}] (the model's depth range), "
            f"got {pivot}; leave it out for the middle depth {max_depth // 2}"
        )
    return float(pivot)


def emergence_scales(depths: list[int], alpha: float, pivot: float) -> list[float]:
    """The rule's per-layer factors alpha**(depth - pivot)."""
    return [alpha ** (d - pivot) for d in depths]


def rule_profile(depths, options) -> list[float]:
    """The rule's factors from depths and options (the default pivot is the middle depth)."""
    depths = list(depths)
    if not depths:
        return []
    alpha = float(options.get("alpha", DEFAULT_ALPHA))
    return emergence_scales(depths, alpha, float(options.get("pivot", max(depths) // 2)))


@register(
    "emergence",
    "Emergence-promoting rule: base init, then layer weights x alpha**(depth - pivot)",
    options={
        "alpha": f"scaling base > 0, default {DEFAULT_ALPHA} (> 1 promotes emergence)",
        "pivot": "depth left unscaled, default floor(max_depth / 2)",
        "base": f"base scheme, one of {', '.join(BASES)} (default kaiming)",
        "mode": "passed to a kaiming base",
        "gain": "passed to the base scheme",
    },
    tunable="alpha",
    profile=True,
    closed_form=rule_profile,
    bases=BASES,
)
def emergence(ctx: InitContext) -> list[float]:
    base = ctx.option("base", "kaiming")
    if base not in BASES:
        raise ConfigError(f"emergence option base must be one of {', '.join(BASES)}, got {base!r}")
    alpha = _alpha(ctx)
    if not ctx.layers:
        return []
    depths = [layer.depth for layer in ctx.layers]
    pivot = _pivot(ctx, max(depths))
    get_scheme(base).fn(ctx)
    scales = emergence_scales(depths, alpha, pivot)
    with torch.no_grad():
        for layer, scale in zip(ctx.layers, scales, strict=True):
            layer.weight.mul_(scale)
    return scales
