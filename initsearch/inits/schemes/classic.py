"""Classic variance-scaling schemes, delegating to ``torch.nn.init`` so they match it exactly.

Gains follow the nonlinearity after each layer (``ScalableLayer.activation``) through
``torch.nn.init.calculate_gain``: relu sqrt(2), tanh 5/3, selu 3/4, linear 1. GELU, which torch
has no gain for, takes ReLU's sqrt(2) (it zeroes roughly the same half of a symmetric input).
torch's SELU gain of 3/4 deliberately gives up self-normalisation for gradient stability; for
a self-normalising SELU net (Klambauer et al. 2017) use ``lecun_normal`` (variance 1/fan_in).
The option ``gain`` (a positive number) overrides the per-activation gain, ``mode``
("fan_in" | "fan_out") picks the fan for Kaiming. Options are checked before the first weight is
initialised, so a bad option cannot leave a half-initialised model behind.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from initsearch.errors import ConfigError
from initsearch.inits.registry import InitContext, register
from initsearch.models.base import ScalableLayer
from initsearch.models.discover import CONV_TYPES

_TORCH_NONLINEARITY = {
    "relu": "relu",
    "gelu": "relu",
    "tanh": "tanh",
    "selu": "selu",
    "linear": "linear",
    "identity": "linear",
}


def nonlinearity(layer: ScalableLayer) -> str:
    """torch's name for the nonlinearity after ``layer`` (GELU counted as ReLU).

    An activation without a known gain is an error rather than a silent gain of 1, so a new
    activation in a model cannot quietly get the wrong variance.
    """
    if layer.activation not in _TORCH_NONLINEARITY:
        raise ConfigError(
            f"layer {layer.name!r} has activation {layer.activation!r}, which has no known gain; "
            f"use one of {', '.join(sorted(_TORCH_NONLINEARITY))} or pass the init option gain"
        )
    return _TORCH_NONLINEARITY[layer.activation]


def positive_option(ctx: InitContext, key: str, default: float) -> float:
    """Option ``key`` as a positive finite float (``default`` when absent), else ConfigError."""
    value: Any = ctx.option(key, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not (math.isfinite(value) and value > 0):
        raise ConfigError(
            f"init option {key} must be a positive number, got {value!r}; e.g. {key}=0.5"
        )
    return float(value)


def layer_gain(ctx: InitContext, layer: ScalableLayer) -> float:
    """The ``gain`` option if given, else torch's gain for the layer's activation."""
    if ctx.option("gain") is None:
        return nn.init.calculate_gain(nonlinearity(layer))
    return positive_option(ctx, "gain", 1.0)


def _gains(ctx: InitContext) -> list[float]:
    """Every layer's gain, computed before any weight changes so errors leave the model intact."""
    return [layer_gain(ctx, layer) for layer in ctx.layers]


def _mode(ctx: InitContext) -> str:
    mode = ctx.option("mode", "fan_in")
    if mode not in ("fan_in", "fan_out"):
        raise ConfigError(f"init option mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return mode


def _kaiming(ctx: InitContext, uniform: bool) -> None:
    mode = _mode(ctx)
    gains = _gains(ctx)
    override = ctx.option("gain") is not None
    fn = nn.init.kaiming_uniform_ if uniform else nn.init.kaiming_normal_
    for layer, gain in zip(ctx.layers, gains, strict=True):
        if not override:
            fn(layer.weight, mode=mode, nonlinearity=nonlinearity(layer))
        else:  # kaiming with an explicit gain: std = gain / sqrt(fan)
            fn(layer.weight, mode=mode, nonlinearity="linear")
            layer.weight.data.mul_(gain)


@register(
    "kaiming",
    "Kaiming/He normal, fan_in, gain per activation (alias of kaiming_normal)",
    options={"mode": "fan_in | fan_out", "gain": "override the activation's gain"},
)
def kaiming(ctx: InitContext) -> None:
    _kaiming(ctx, uniform=False)


@register(
    "kaiming_normal",
    "Kaiming/He normal: N(0, gain^2 / fan)",
    options={"mode": "fan_in | fan_out", "gain": "override the activation's gain"},
)
def kaiming_normal(ctx: InitContext) -> None:
    _kaiming(ctx, uniform=False)


@register(
    "kaiming_uniform",
    "Kaiming/He uniform: U(-b, b), b = gain * sqrt(3 / fan)",
    options={"mode": "fan_in | fan_out", "gain": "override the activation's gain"},
)
def kaiming_uniform(ctx: InitContext) -> None:
    _kaiming(ctx, uniform=True)


@register(
    "xavier",
    "Xavier/Glorot uniform (alias of xavier_uniform)",
    options={"gain": "override the activation's gain"},
)
def xavier(ctx: InitContext) -> None:
    for layer, gain in zip(ctx.layers, _gains(ctx), strict=True):
        nn.init.xavier_uniform_(layer.weight, gain=gain)


@register(
    "xavier_uniform",
    "Xavier/Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))",
    options={"gain": "override the activation's gain"},
)
def xavier_uniform(ctx: InitContext) -> None:
    xavier(ctx)


@register(
    "xavier_normal",
    "Xavier/Glorot normal: N(0, 2 gain^2 / (fan_in + fan_out))",
    options={"gain": "override the activation's gain"},
)
def xavier_normal(ctx: InitContext) -> None:
    for layer, gain in zip(ctx.layers, _gains(ctx), strict=True):
        nn.init.xavier_normal_(layer.weight, gain=gain)


@register("lecun_normal", "LeCun normal: N(0, 1 / fan_in), for SELU self-normalising nets")
def lecun_normal(ctx: InitContext) -> None:
    for layer in ctx.layers:
        nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="linear")


@register(
    "orthogonal",
    "(semi-)orthogonal matrix times the activation's gain (Saxe et al.)",
    options={"gain": "override the activation's gain"},
)
def orthogonal(ctx: InitContext) -> None:
    for layer, gain in zip(ctx.layers, _gains(ctx), strict=True):
        nn.init.orthogonal_(layer.weight, gain=gain)


VGG_REFERENCE_HEAD_STD = 0.01
"""The std of every Linear weight in GradInit's reference VGG (torchvision's VGG init)."""


@register(
    "vgg_reference",
    "GradInit's reference VGG init: convs Kaiming normal fan_out (relu), Linear N(0, 0.01^2)",
)
def vgg_reference(ctx: InitContext) -> None:
    """The init of zhuchen03/gradinit's ``models/gradinit_vgg.py`` (torchvision's VGG init),
    which the GradInit paper's VGG runs start from: conv weights ``kaiming_normal_(mode=
    "fan_out", nonlinearity="relu")`` whatever follows them, Linear weights N(0, 0.01^2), biases
    zero (``apply`` zeroes them). The reference has no other layer type; here any other
    (embeddings, attention projections) falls back to Kaiming normal fan_in with its activation's
    gain, the project's "kaiming"."""
    fallback = {
        id(layer): nonlinearity(layer)
        for layer in ctx.layers
        if not isinstance(layer.module, (nn.Linear, *CONV_TYPES))
    }
    for layer in ctx.layers:
        if isinstance(layer.module, CONV_TYPES):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(layer.module, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, VGG_REFERENCE_HEAD_STD)
        else:
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity=fallback[id(layer)])


@register("normal", "N(0, std^2) with a fixed std (default 0.02)", options={"std": "default 0.02"})
def normal(ctx: InitContext) -> None:
    std = positive_option(ctx, "std", 0.02)
    for layer in ctx.layers:
        nn.init.normal_(layer.weight, 0.0, std)


@register("uniform", "U(-a, a) with a fixed bound (default 0.05)", options={"a": "default 0.05"})
def uniform(ctx: InitContext) -> None:
    bound = positive_option(ctx, "a", 0.05)
    for layer in ctx.layers:
        nn.init.uniform_(layer.weight, -bound, bound)


@register("zero", "all weights zero: a negative control that cannot break symmetry")
def zero(ctx: InitContext) -> None:
    for layer in ctx.layers:
        nn.init.zeros_(layer.weight)
