"""The emergence-promoting rule (Li, George, Silva, arXiv 2407.19044), scheme "emergence".

After a standard base init (option ``base``: "kaiming", default, or "xavier" and their
``_normal``/``_uniform`` variants, run through the classic schemes so they match torch exactly),
each scalable layer's weight is multiplied by ``alpha ** (depth - pivot)``: layers before the
pivot shrink, layers after it grow, the pivot layer is unchanged. Biases are left alone (apply()
has already zeroed them). ``alpha`` (default 1.1) must be > 0; alpha > 1 is the paper's
emergence-promoting direction (more inactive units low, more active units high, which raises
the path-counting measure of ``measure.py``), alpha < 1 the opposite, alpha = 1 the base init.

How layers are counted (by ``ScalableLayer.depth``, the position on the longest forward path):
- MLP / VGG: one depth per Linear or conv, in forward order; the classifier head is the last.
- ResNet: the stem, then each block's conv1 and conv2 by their position along the main path;
  the option-A shortcuts are parameter-free, add no depth and are not scaled.
- Transformer: q, k and v of one attention run side by side, share a depth and a scale; then
  the attention output, ff1, ff2; the head is last. Residual streams add no depth.
- Embeddings (token embedding, patch/row projection) are depth 0 and are scaled like any layer
  (they shrink most for alpha > 1).

``pivot`` (default ``floor(max_depth / 2)``, the convention of the third-party C port of the
rule, since the paper's middle-layer choice for an even number of levels could not be read) may
be any number in [0, max_depth]; ``max_depth / 2`` makes the rule exactly symmetric.

Consequences worth knowing. With zero biases and positively homogeneous nonlinearities (ReLU),
each forward path picks up the product of its levels' scales. With an odd number of depth
levels and the default pivot the scales are symmetric (alpha**-n ... alpha**n), the product is 1,
so the function at init is unchanged and only gradients change (the gradient of layer i scales
by 1/scale_i); with an even number of levels the product is alpha**(levels / 2) and the logits
grow by that factor. Residual sums break the per-path product (the shortcut skips the scaled
convs), and BatchNorm in training mode cancels a layer's scale in the forward pass, leaving only
a per-layer change of effective learning rate (~1/scale**2), which is plausibly why the paper
finds BN tolerates larger alpha. Likewise, with zero biases the sign pattern of every unit is
scale-invariant, so the set of units active above a threshold of 0 does not change; the rule
moves the emergence measure only through a threshold > 0 (see ``measure.py``).

Not verified from the paper (only its abstract and third-party summaries were readable): the
recommended alpha with and without BatchNorm, the pivot for an even number of layers, how convs,
attention, embeddings and biases were treated, and whether Xavier or Kaiming was the base in
each experiment. The choices above are this project's.
"""

from __future__ import annotations

import math

import torch

from initsearch.errors import ConfigError
from initsearch.inits import classic  # noqa: F401  (registers the base schemes)
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
