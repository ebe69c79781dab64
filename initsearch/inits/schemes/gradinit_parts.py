"""GradInit's plumbing: the scaled parameters theta_m, half-batches, model modes, progress.

:func:`~initsearch.inits.schemes.gradinit.gradinit_scales` reads as the algorithm because these
live here: how m_i * W_i is assembled and written back (:class:`ScaledParams`), where the
batches come from, which modes the model runs in, and the optional progress bar.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import torch
from torch import nn

from initsearch.errors import ConfigError


class HalfBatches:
    """Endless half-batches of indices, reshuffled each pass like a shuffling DataLoader."""

    def __init__(self, n: int, half: int, generator: torch.Generator) -> None:
        self.n, self.half, self.generator = n, half, generator
        self.order = torch.empty(0, dtype=torch.long)
        self.pos = 0

    def next(self) -> torch.Tensor:
        if self.pos + self.half > len(self.order):
            self.order = torch.randperm(self.n, generator=self.generator)
            self.pos = 0
        idx = self.order[self.pos : self.pos + self.half]
        self.pos += self.half
        return idx


@contextlib.contextmanager
def gradinit_modes(model: nn.Module) -> Iterator[None]:
    """Eval mode (dropout off), batch norm on batch statistics without touching its running
    statistics; everything restored afterwards."""
    training = {m: m.training for m in model.modules()}
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    tracking = [m.track_running_stats for m in norms]
    model.eval()
    for m in norms:
        m.train()
        m.track_running_stats = False
    try:
        yield
    finally:
        for m, flag in training.items():
            m.training = flag
        for m, flag in zip(norms, tracking, strict=True):
            m.track_running_stats = flag


def math_attention() -> contextlib.AbstractContextManager[None]:
    """Fused attention kernels have no double backward; the math kernel has."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # pragma: no cover - older torch
        return contextlib.nullcontext()
    return sdpa_kernel([SDPBackend.MATH])


def progress_bar(total: int, enabled: bool):
    """A transient rich progress bar on a terminal, else None (rich is imported lazily)."""
    if not enabled or not sys.stderr.isatty():
        return None
    try:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    except ImportError:
        return None
    console = Console(stderr=True)
    if not console.is_terminal:
        return None
    return Progress(
        TextColumn("GradInit"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def grad_norm(grads: list[torch.Tensor], p: int) -> torch.Tensor:
    if p == 1:
        return torch.stack([g.abs().sum() for g in grads]).sum()
    return torch.stack([g.square().sum() for g in grads]).sum().sqrt()


class ScaledParams:
    """The model's parameters as m_i * W_i (W_i frozen at their base-init values)."""

    def __init__(self, model: nn.Module, min_scale: float) -> None:
        self.named = list(model.named_parameters())
        if not self.named:
            raise ConfigError("GradInit found no parameters to scale in the model")
        self.device = self.named[0][1].device
        self.w0 = {n: p.detach().clone() for n, p in self.named}
        self.scaled = [n for n, _ in self.named if bool(self.w0[n].ne(0).any())]
        if not self.scaled:
            raise ConfigError("GradInit: every parameter tensor is zero; use a non-zero base init")
        self.skipped = [n for n, _ in self.named if n not in set(self.scaled)]
        self.position = {n: i for i, n in enumerate(self.scaled)}
        # all-zero tensors enter g and the look-ahead step as plain leaves, but get no scale
        for n in self.skipped:
            self.w0[n].requires_grad_(True)
        self.floors = torch.tensor(
            [0.0 if n.rsplit(".", 1)[-1] == "bias" else min_scale for n in self.scaled],
            device=self.device,
        )

    def build(self, scales: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            n: scales[self.position[n]] * self.w0[n] if n in self.position else self.w0[n]
            for n, _ in self.named
        }

    @torch.no_grad()
    def write(self, scales: torch.Tensor) -> None:
        for n, p in self.named:
            if n in self.position:
                p.copy_(scales[self.position[n]] * self.w0[n])
