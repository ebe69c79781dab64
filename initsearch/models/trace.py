"""One traced forward pass: each scalable layer's depth, and the nonlinearity after it.

Every tensor of the pass carries two facts, kept in a table by ``id`` (the trace holds a
reference to each tensor it has seen, so an id is never reused while it runs):

- its level: the most scalable layers on any path from the input to it. The model's input,
  parameters and constants are level 0. A scalable layer's depth is the level of its input, its
  output one more; every other op passes on the highest level among its inputs. So layers that
  run side by side (q/k/v of one attention, a residual projection next to a block's first conv)
  share a depth, and a residual sum takes the deeper of its branches.
- its pending layers: scalable layers whose output reached it through no nonlinearity (norms,
  sums, reshapes, pooling and dropout pass them on). A nonlinearity names the activation of the
  pending layers that have none yet and clears them; pending layers that flow into another
  scalable layer, or out of the model, are "linear".

Ops are seen through a :class:`torch.overrides.TorchFunctionMode` (functional calls, tensor
methods and the functions modules call alike, one level deep: what a traced function calls
inside is not traced again); scalable modules through forward hooks. An op that returns one of
its inputs (``relu_``, ``out += identity``, a no-op ``.to``) updates that tensor's entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from initsearch.models.attention import attention_inputs

NONLINEARITIES = frozenset(
    {
        "relu", "relu6", "leaky_relu", "rrelu", "prelu", "elu", "selu", "celu", "gelu", "silu",
        "mish", "tanh", "sigmoid", "hardtanh", "hardswish", "hardsigmoid", "softplus",
        "softsign", "logsigmoid", "tanhshrink", "hardshrink", "softshrink", "threshold", "glu",
    }
)  # fmt: skip
"""Op names (a trailing ``_`` dropped) that end a layer's linear output. Softmax is not one:
attention's q and k, like v, feed a linear map of the values."""

Info = tuple[int, frozenset[int]]
_BLANK: Info = (0, frozenset())


@dataclass(frozen=True)
class Slot:
    """A scalable weight the trace follows: its layer name, module and parameter path."""

    name: str
    module: nn.Module
    param: str = "weight"


def tensors(value: Any) -> list[torch.Tensor]:
    """The tensors in ``value``, looking inside tuples, lists and dicts."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [t for v in value for t in tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors(v)]
    return []


def activation_name(op: str) -> str | None:
    """The nonlinearity an op applies (``relu_`` -> ``relu``), or None for any other op."""
    name = op.removesuffix("_")
    return name if name in NONLINEARITIES else None


_IN_PLACE_DUNDERS = frozenset(
    f"__i{op}__"
    for op in (
        "add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor",
        "lshift", "rshift",
    )
) | {"__setitem__"}  # fmt: skip


def _mutates(op: str) -> bool:
    """Whether the op writes its first argument (``add_``, ``__iadd__``, ``__setitem__``)."""
    if op.startswith("__"):
        return op in _IN_PLACE_DUNDERS
    return op.endswith("_")


class ForwardTrace(TorchFunctionMode):
    """Levels and pending layers of every tensor, plus what the scalable layers did."""

    def __init__(self, slots: list[Slot]) -> None:
        super().__init__()
        self.slots = slots
        self.info: dict[int, Info] = {}
        self.kept: list[torch.Tensor] = []
        self.depth: dict[int, int] = {}  # slot -> level of its input at its first call
        self.calls = [0] * len(slots)
        self.order: list[int] = []  # slots by first call
        self.activation: dict[int, str] = {}
        self.entered: list[int] = []  # output level of each unit still running (a stack)

    # -------------------------------------------------------------- per-tensor facts

    def get(self, t: torch.Tensor) -> Info:
        return self.info.get(id(t), _BLANK)

    def put(self, t: torch.Tensor, info: Info) -> None:
        self.kept.append(t)
        self.info[id(t)] = info

    def merged(self, ts: Iterable[torch.Tensor]) -> Info:
        infos = [self.get(t) for t in ts]
        level = max((i[0] for i in infos), default=0)
        return level, frozenset().union(*(i[1] for i in infos))

    def settle(self, pending: Iterable[int], activation: str) -> None:
        for slot in pending:
            self.activation.setdefault(slot, activation)

    def enter(self, slot: int, level: int) -> None:
        self.calls[slot] += 1
        if slot not in self.depth:
            self.depth[slot] = level
            self.order.append(slot)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = tensors((args, kwargs))
        if not inputs:
            return out
        op = getattr(func, "__name__", "")
        outputs = tensors(out)
        if args and isinstance(args[0], torch.Tensor) and _mutates(op):
            outputs.append(args[0])
        if outputs:
            level, pending = self.merged(inputs)
            act = activation_name(op)
            if act is not None:
                self.settle(pending, act)
                pending = frozenset()
            for t in outputs:
                self.put(t, (level, pending))
        return out

    # -------------------------------------------------------------- module hooks

    def hook(self, module: nn.Module, slots: list[int], attention: bool) -> list[Any]:
        """Forward hooks on one unit: a plain layer (one slot) or an attention (in-projection
        slots, then ``out_proj``'s). Returns the handles."""

        def before(_m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            if attention:
                ins = attention_inputs(args, kwargs)
                infos = [self.get(t) for t in ins]
                level = max(i[0] for i in infos)
                *proj, out = slots
                depths = [i[0] for i in infos] if len(proj) == 3 else [level]
                for slot, depth in zip(proj, depths, strict=True):
                    self.enter(slot, depth)
                self.settle(proj, "linear")  # attention is linear in its values
                self.enter(out, level + 1)
                level += 1
            else:
                ins = tensors((args, kwargs))
                level = self.merged(ins)[0]
                self.enter(slots[0], level)
            self.settle(self.merged(ins)[1], "linear")
            self.entered.append(level + 1)

        def after(_m: nn.Module, _args: Any, _kwargs: Any, output: Any) -> None:
            level = self.entered.pop()
            outs = tensors(output)
            for i, t in enumerate(outs):
                if i == 0 or not attention:
                    self.put(t, (level, frozenset({slots[-1]})))
                else:  # an attention's weights: softmax of q.k, one level below its output
                    self.put(t, (level - 1, frozenset()))

        return [
            module.register_forward_pre_hook(before, with_kwargs=True),
            module.register_forward_hook(after, with_kwargs=True),
        ]

    def finish(self) -> None:
        """Layers still pending at the end fed the model's output without a nonlinearity."""
        self.settle(range(len(self.slots)), "linear")
