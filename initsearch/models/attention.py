"""``nn.MultiheadAttention`` as scalable layers: one unit holding two or four weights.

An attention module's forward never calls its ``out_proj`` module: it hands ``out_proj.weight``
and its packed ``in_proj_weight`` to ``F.multi_head_attention_forward``. So a hook on
``out_proj`` never fires, and the attention is treated as one unit whose layers all have the
attention module itself as ``ScalableLayer.module``: the in-projection (``<path>.in_proj``,
parameter ``in_proj_weight``; or ``<path>.q_proj``/``.k_proj``/``.v_proj`` when key or value
width differs from ``embed_dim``) at the depth of its input, then ``<path>.out_proj``
(parameter ``out_proj.weight``) one deeper. Hooks on the module see the unit's inputs (before)
and the output of ``out_proj`` (after). :func:`in_projection` recomputes what the
in-projection produced, which no hook can see, for the at-init measurements.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

OUT_PARAM = "out_proj.weight"
SEPARATE_PARAMS = ("q_proj_weight", "k_proj_weight", "v_proj_weight")


def attention_params(attn: nn.MultiheadAttention) -> list[tuple[str, str]]:
    """(name suffix, parameter path) of the unit's weights, in-projection first."""
    if attn.in_proj_weight is not None:
        return [("in_proj", "in_proj_weight"), ("out_proj", OUT_PARAM)]
    return [(p.removesuffix("_weight"), p) for p in SEPARATE_PARAMS] + [("out_proj", OUT_PARAM)]


def attention_inputs(
    args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(query, key, value) of one ``forward(query, key, value, ...)`` call."""
    names = ("query", "key", "value")
    found = [args[i] if i < len(args) else kwargs[name] for i, name in enumerate(names)]
    return found[0], found[1], found[2]


def in_projection(
    attn: nn.MultiheadAttention,
    param: str,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
) -> torch.Tensor:
    """The output of the in-projection weight ``param`` on the call's inputs (bias included).

    The packed weight's output is q, k and v side by side on the last axis (3 * embed_dim
    units) when the three inputs have the same shape (self-attention); otherwise (cross-
    attention over a sequence of another length) the three are stacked as rows, so unit j
    pools q_j, k_j and v_j. Inputs are taken as they come (``batch_first`` or not): only the
    last axis, the features, matters.
    """
    e = attn.embed_dim
    bias = attn.in_proj_bias
    inputs = (query, key, value)

    def part(i: int, weight: torch.Tensor) -> torch.Tensor:
        b = None if bias is None else bias[i * e : (i + 1) * e]
        return F.linear(inputs[i], weight, b)

    if param != "in_proj_weight":
        return part(SEPARATE_PARAMS.index(param), getattr(attn, param))
    weight = attn.in_proj_weight
    parts = [part(i, weight[i * e : (i + 1) * e]) for i in range(3)]
    if all(p.shape == parts[0].shape for p in parts):
        return torch.cat(parts, dim=-1)
    return torch.cat([p.reshape(-1, e) for p in parts])
