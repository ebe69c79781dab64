"""Classic variance-scaling schemes, delegating to ``torch.nn.init`` so they match it exactly.

Gains follow the nonlinearity after each layer (``ScalableLayer.activation``) through
``torch.nn.init.calculate_gain``; GELU, which torch has no gain for, takes ReLU's sqrt(2) (it
zeroes roughly the same half of a symmetric input). The option ``gain`` (a number) overrides the
per-activation gain, ``mode`` ("fan_in" | "fan_out") picks the fan for Kaiming.
"""

from __future__ import annotations

from torch import nn

from initsearch.errors import ConfigError
from initsearch.inits.registry import InitContext, register
from initsearch.models.base import ScalableLayer

_TORCH_NONLINEARITY = {
    "relu": "relu",
    "gelu": "relu",
    "tanh": "tanh",
    "selu": "selu",
    "linear": "linear",
    "identity": "linear",
}


def nonlinearity(layer: ScalableLayer) -> str:
    """torch's name for the nonlinearity after ``layer`` (GELU counted as ReLU)."""
    return _TORCH_NONLINEARITY.get(layer.activation, "linear")


def layer_gain(ctx: InitContext, layer: ScalableLayer) -> float:
    gain = ctx.option("gain")
    if gain is None:
        return nn.init.calculate_gain(nonlinearity(layer))
    if not isinstance(gain, int | float) or gain <= 0:
        raise ConfigError(f"init option gain must be a positive number, got {gain!r}")
    return float(gain)


def _mode(ctx: InitContext) -> str:
    mode = ctx.option("mode", "fan_in")
    if mode not in ("fan_in", "fan_out"):
        raise ConfigError(f"init option mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return mode


def _kaiming(ctx: InitContext, uniform: bool) -> None:
    mode = _mode(ctx)
    for layer in ctx.layers:
        fn = nn.init.kaiming_uniform_ if uniform else nn.init.kaiming_normal_
        if ctx.option("gain") is None:
            fn(layer.weight, mode=mode, nonlinearity=nonlinearity(layer))
        else:  # kaiming with an explicit gain: std = gain / sqrt(fan)
            fn(layer.weight, mode=mode, nonlinearity="linear")
            layer.weight.data.mul_(layer_gain(ctx, layer))


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
    for layer in ctx.layers:
        nn.init.xavier_uniform_(layer.weight, gain=layer_gain(ctx, layer))


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
    for layer in ctx.layers:
        nn.init.xavier_normal_(layer.weight, gain=layer_gain(ctx, layer))


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
    for layer in ctx.layers:
        nn.init.orthogonal_(layer.weight, gain=layer_gain(ctx, layer))


@register("normal", "N(0, std^2) with a fixed std (default 0.02)", options={"std": "default 0.02"})
def normal(ctx: InitContext) -> None:
    std = float(ctx.option("std", 0.02))
    if std <= 0:
        raise ConfigError(f"init option std must be > 0, got {std}")
    for layer in ctx.layers:
        nn.init.normal_(layer.weight, 0.0, std)


@register("uniform", "U(-a, a) with a fixed bound (default 0.05)", options={"a": "default 0.05"})
def uniform(ctx: InitContext) -> None:
    bound = float(ctx.option("a", 0.05))
    if bound <= 0:
        raise ConfigError(f"init option a must be > 0, got {bound}")
    for layer in ctx.layers:
        nn.init.uniform_(layer.weight, -bound, bound)


@register("zero", "all weights zero: a negative control that cannot break symmetry")
def zero(ctx: InitContext) -> None:
    for layer in ctx.layers:
        nn.init.zeros_(layer.weight)
