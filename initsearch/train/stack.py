"""K models of one architecture as one vectorised model.

Why: an init study trains hundreds of small models that differ only in their initial weights.
One at a time, a small model is bound by kernel launches and Python, not by arithmetic. Stacking
the members' parameters on a leading axis and running the architecture's own ``forward`` under
``torch.func.vmap`` turns K small matrix products into one batched product, so K trials cost
little more than one. Members of one seed share each input batch (the paired design: same data
order; ``stack(x)``); members of different seeds each take their own (``stack.each(x)``, x of
shape ``[K, batch, ...]``). Nothing else is shared: every parameter, gradient, optimizer state
and buffer has its own slice, so a member that diverges (NaN) cannot leak into the others.

Batch norm works per member: its running statistics are stacked buffers updated inside the
vmapped forward, and each member normalises over its own activations of its batch.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterator

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


class StackedModel:
    """Members' parameters stacked as ``[K, *shape]`` leaf tensors and one vmapped forward."""

    def __init__(self, models: list[nn.Module]) -> None:
        if not models:
            raise ValueError("a stacked model needs at least one member")
        params, buffers = stack_module_state(models)
        self.params: dict[str, torch.Tensor] = params
        self.buffers: dict[str, torch.Tensor] = buffers
        # the skeleton only supplies forward(); its own tensors live on the meta device
        self.skeleton = copy.deepcopy(models[0]).to("meta")
        self.size = len(models)
        self._forward = vmap(self._member_forward, in_dims=(0, 0, None), randomness="different")
        self._forward_each = vmap(self._member_forward, in_dims=(0, 0, 0), randomness="different")

    def _member_forward(
        self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor
    ) -> torch.Tensor:
        return functional_call(self.skeleton, (params, buffers), (x,))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every member for the shared batch ``x``: ``[K, batch, classes]``."""
        return self._forward(self.params, self.buffers, x)

    def each(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every member for its own batch ``x[k]`` (``x``: ``[K, batch, ...]``):
        ``[K, batch, classes]``. Members of different seeds draw different batches."""
        return self._forward_each(self.params, self.buffers, x)

    def parameters(self) -> Iterator[torch.Tensor]:
        return iter(self.params.values())

    def train(self, mode: bool = True) -> StackedModel:
        self.skeleton.train(mode)
        return self

    def eval(self) -> StackedModel:
        return self.train(False)

    def keep(self, members: torch.Tensor) -> dict[torch.Tensor, torch.Tensor]:
        """Drop every member not listed in ``members`` (indices into the current stack).

        Returns a map old parameter -> new parameter so optimizer state can follow.
        """
        mapping: dict[torch.Tensor, torch.Tensor] = {}
        for name, old in self.params.items():
            new = old.detach()[members].clone().requires_grad_(old.requires_grad)
            mapping[old] = new
            self.params[name] = new
        for name, buf in self.buffers.items():
            self.buffers[name] = buf[members].clone()
        self.size = int(members.numel())
        return mapping


def keep_optimizer_state(
    optimizer: torch.optim.Optimizer,
    mapping: dict[torch.Tensor, torch.Tensor],
    members: torch.Tensor,
    size_before: int,
) -> None:
    """Point ``optimizer`` at the kept members' parameters, slicing its per-member state."""
    for group in optimizer.param_groups:
        group["params"] = [mapping[p] for p in group["params"]]
    old_state = optimizer.state
    optimizer.state = defaultdict(dict)
    for old, new in mapping.items():
        if old not in old_state:
            continue
        optimizer.state[new] = {
            key: value[members].clone()
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == size_before
            else value
            for key, value in old_state[old].items()
        }
