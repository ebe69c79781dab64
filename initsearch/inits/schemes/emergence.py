"""The emergence-promoting rule (Li, George, Silva, arXiv 2407.19044), scheme "emergence".

After a standard base init (option ``base``: "kaiming", default, or "xavier" and their
``_normal``/``_uniform`` variants, run through the classic schemes so they match torch exactly),
each scalable layer's weight is multiplied by ``alpha ** (depth - pivot)``: layers before the
pivot shrink, layers after it grow, the pivot layer is unchanged. Biases are left alone (apply()
has already zeroed them). ``alpha`` (default 1.1) must be > 0; alpha > 1 is the paper's
emergence-promoting direction, alpha < 1 the opposite, alpha = 1 the base init. Measured (table
in docs/init-schemes.md): on a bias-free ReLU MLP the rule only rescales each layer, so it cannot
move the scale-free measure (``log_emergence_relative``), and it does not reliably raise the
absolute one: slightly up at depth 4, down from depth 8 (log E 55 -> 14 at depth 16, alpha 1.2)
as the middle layers' activity sinks under the fixed 0.05 threshold.

``ref_depth`` (> 0, optional): the rule uses alpha_eff = alpha ** (ref_depth / max_depth), so the
ratio of the last to the first layer's factor, alpha ** ref_depth, is the same at every depth;
without it the ratio is alpha ** max_depth, and an alpha that suits 4 layers wrecks 32.

Layers are counted by ``ScalableLayer.depth`` (the position on the longest forward path): one
depth per Linear/conv of an MLP or VGG; a ResNet's stem, conv1, conv2 along the main path
(shortcuts add none); a transformer's q/k/v share a depth. Embeddings are depth 0 and scaled
(they shrink most for alpha > 1). Full discussion: docs/init-schemes.md, "The emergence-promoting
rule".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

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


def _alpha(options: Mapping[str, Any]) -> float:
    alpha = options.get("alpha", DEFAULT_ALPHA)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float):
        raise ConfigError(f"emergence option alpha must be a number > 0 (e.g. 1.1), got {alpha!r}")
    if not (math.isfinite(alpha) and alpha > 0):
        raise ConfigError(
            f"emergence option alpha must be a finite number > 0, got {alpha}; "
            "alpha > 1 is the paper's emergence-promoting direction (try 1.05 to 1.5, or give "
            "ref_depth so the range does not grow with depth), alpha = 1 is the base init"
        )
    return float(alpha)


def _ref_depth(options: Mapping[str, Any]) -> float | None:
    ref = options.get("ref_depth")
    if ref is None:
        return None
    if isinstance(ref, bool) or not isinstance(ref, int | float) or not math.isfinite(ref):
        raise ConfigError(
            f"emergence option ref_depth must be a positive number (the depth whose range "
            f"alpha sets, e.g. 4), got {ref!r}"
        )
    if ref <= 0:
        raise ConfigError(
            f"emergence option ref_depth must be > 0, got {ref}; leave it out for the plain "
            "rule, whose range alpha**max_depth grows with depth"
        )
    return float(ref)


def effective_alpha(alpha: float, ref_depth: float | None, max_depth: int) -> float:
    """alpha ** (ref_depth / max_depth) with ``ref_depth``, else alpha: the per-depth base
    whose factors span alpha ** ref_depth from depth 0 to ``max_depth``, at every depth."""
    if ref_depth is None or max_depth <= 0:
        return alpha
    return alpha ** (ref_depth / max_depth)


def _pivot(options: Mapping[str, Any], max_depth: int) -> float:
    pivot = options.get("pivot", max_depth // 2)
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


def rule_profile(depths: Sequence[int], options: Mapping[str, Any]) -> list[float]:
    """The rule's factors from depths and options (the default pivot is the middle depth),
    validated as the scheme validates them."""
    depths = list(depths)
    if not depths:
        return []
    max_depth = max(depths)
    alpha = effective_alpha(_alpha(options), _ref_depth(options), max_depth)
    return emergence_scales(depths, alpha, _pivot(options, max_depth))


@register(
    "emergence",
    "Emergence-promoting rule: base init, then layer weights x alpha**(depth - pivot)",
    options={
        "alpha": f"scaling base > 0, default {DEFAULT_ALPHA} (> 1: the paper's direction)",
        "pivot": "depth left unscaled, default floor(max_depth / 2)",
        "ref_depth": "depth at which alpha applies as given: alpha_eff = alpha**(ref_depth / "
        "max_depth), so the range alpha**ref_depth is the same at every depth (default: none)",
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
    options = ctx.spec.options
    _alpha(options)
    _ref_depth(options)
    if not ctx.layers:
        return []
    scales = rule_profile([layer.depth for layer in ctx.layers], options)
    get_scheme(base).fn(ctx)
    with torch.no_grad():
        for layer, scale in zip(ctx.layers, scales, strict=True):
            layer.weight.mul_(scale)
    return scales
