"""One training step of a pack: the stacked model, its optimizer, per-member clipping, eval.

A pack trains K members as one :class:`~initsearch.train.stack.StackedModel`; SGD and AdamW
act elementwise, so one optimizer over the stacked tensors gives each member's slice exactly its
solo update. Members that share a seed share each batch; members of different seeds each get
their own batch (indices ``[K, B]``), drawn in the order their solo runs would draw.
:class:`PackTrainer` is the eager step; :mod:`initsearch.train.graphed` replays the same step
from a CUDA graph. :func:`initsearch.train.pack.run_pack` drives either.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import vmap

from initsearch.data import Dataset
from initsearch.train.engine import EVAL_CHUNK, autocast_factory
from initsearch.train.spec import TrialSpec
from initsearch.train.stack import StackedModel, keep_optimizer_state


def member_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One member's mean cross-entropy (vmapped over the members)."""
    return nn.functional.cross_entropy(logits.float(), y)


def clip_per_member(stack: StackedModel, max_norm: float) -> None:
    """``clip_grad_norm_`` for each member on its own gradient norm."""
    grads = [p.grad for p in stack.parameters() if p.grad is not None]
    if not grads:
        return
    sq = torch.stack([g.flatten(1).pow(2).sum(dim=1) for g in grads]).sum(dim=0)
    coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))).to(g.dtype))


def build_pack_optimizer(
    stack: StackedModel, spec: TrialSpec, device: torch.device
) -> torch.optim.Optimizer:
    """The trial's optimizer over the stacked tensors: SGD and AdamW act elementwise, so each
    member's slice gets exactly its solo update. Fused kernels on CUDA."""
    o = spec.optimizer
    fused = True if device.type == "cuda" else None
    params = list(stack.parameters())
    if o.name == "sgd":
        return torch.optim.SGD(
            params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, fused=fused
        )
    return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay, fused=fused)


class PackTrainer:
    """The stacked model, its optimizer and one training step; eager or CUDA-graphed."""

    note: str | None = None
    """Why the step runs differently than asked (e.g. a failed CUDA graph capture), or None."""

    def __init__(self, stack: StackedModel, spec: TrialSpec, dataset: Dataset, device) -> None:
        self.stack = stack
        self.spec = spec
        self.dataset = dataset
        self.device = device
        self.optimizer = build_pack_optimizer(stack, spec, device)
        self.autocast = autocast_factory(device, spec.bf16)

    def set_lr(self, value: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = value

    def step(self, idx: torch.Tensor) -> torch.Tensor:
        """One optimizer step of every member; returns the losses ``[K]``. ``idx`` is one batch
        of training indices ``[B]`` all members share, or one per member ``[K, B]``."""
        return self.train_step(idx, grads_to_none=True)

    def train_step(self, idx: torch.Tensor, grads_to_none: bool) -> torch.Tensor:
        """The step itself. A CUDA graph needs gradients kept in place (``grads_to_none``
        False): it replays writes to the addresses it captured."""
        x, y = self.dataset.x_train[idx], self.dataset.y_train[idx]
        with self.autocast():
            logits = self.stack(x) if idx.dim() == 1 else self.stack.each(x)
        y_dim = None if idx.dim() == 1 else 0
        losses = vmap(member_loss, in_dims=(0, y_dim))(logits, y)
        self.optimizer.zero_grad(set_to_none=grads_to_none)
        losses.sum().backward()
        if self.spec.optimizer.grad_clip is not None:
            clip_per_member(self.stack, self.spec.optimizer.grad_clip)
        self.optimizer.step()
        return losses.detach()

    def keep(self, members: torch.Tensor) -> None:
        size_before = self.stack.size
        mapping = self.stack.keep(members)
        keep_optimizer_state(self.optimizer, mapping, members, size_before)

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
        """Every member's mean cross-entropy and accuracy on one split (``x``, ``y``)."""
        self.stack.eval()
        total = torch.zeros(self.stack.size, device=x.device, dtype=torch.float64)
        correct = torch.zeros(self.stack.size, device=x.device, dtype=torch.int64)
        for start in range(0, len(y), EVAL_CHUNK):
            xb, yb = x[start : start + EVAL_CHUNK], y[start : start + EVAL_CHUNK]
            with self.autocast():
                logits = self.stack(xb)
            total += vmap(
                lambda member_logits, yb=yb: nn.functional.cross_entropy(
                    member_logits.float(), yb, reduction="sum"
                )
            )(logits).double()
            correct += (logits.argmax(dim=-1) == yb).sum(dim=-1)
        self.stack.train()
        n = max(len(y), 1)
        return (total / n).tolist(), (correct.double() / n).tolist()
