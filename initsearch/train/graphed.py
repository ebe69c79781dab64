"""A pack's training step captured in a CUDA graph.

Why: a small model's step is a few hundred tiny kernels; launched one by one from Python the GPU
idles between them. Captured once and replayed, the whole step (batch gather, forward, backward,
per-member clipping, fused optimizer update) is one launch. What varies between steps lives in
static device tensors the graph reads: the batch indices and the learning rate.

Capture needs a few eager warm-up steps (they allocate gradients and optimizer state). They
would train the members, so every parameter, buffer and optimizer-state tensor is snapshot
before and written back after, in place (the graph holds their addresses). Zeroed fresh state
gives the same first update as a fresh optimizer: SGD's first momentum buffer is the gradient,
0.9 * 0 + g = g; AdamW's moments start at zero with step 0. A graph exists per shape of the
batch indices (``[B]`` shared by all members, ``[K, B]`` when members of different seeds take
their own batches; the last batch of an epoch is usually shorter) and is recaptured when the
pack drops members.

If capture fails (an op that cannot be captured, an old driver), the trainer says why in
``note`` and trains eagerly; the results are the same, only slower.
"""

from __future__ import annotations

import torch

from initsearch.data import Dataset
from initsearch.train.pack_trainer import PackTrainer
from initsearch.train.spec import TrialSpec
from initsearch.train.stack import StackedModel

WARMUP_STEPS = 3
Captured = tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]  # graph, batch idx, losses


class GraphedPackTrainer(PackTrainer):
    def __init__(self, stack: StackedModel, spec: TrialSpec, dataset: Dataset, device) -> None:
        super().__init__(stack, spec, dataset, device)
        self.lr = torch.tensor(float(spec.optimizer.lr), device=device)
        o = spec.optimizer
        params = list(stack.parameters())
        if o.name == "sgd":
            self.optimizer = torch.optim.SGD(
                params, lr=self.lr, momentum=o.momentum, weight_decay=o.weight_decay, fused=True
            )
        else:
            self.optimizer = torch.optim.AdamW(
                params, lr=self.lr, weight_decay=o.weight_decay, fused=True, capturable=True
            )
        # autocast's weight-cast cache must be off under capture (PyTorch's CUDA-graph notes)
        if spec.bf16:
            self.autocast = lambda: torch.autocast(
                "cuda", dtype=torch.bfloat16, cache_enabled=False
            )
        self.note: str | None = None
        self._graphs: dict[tuple[int, ...], Captured] = {}
        self._pool = None

    def set_lr(self, value: float) -> None:
        self.lr.fill_(value)  # a device write the graph reads; no host sync

    def _body(self, idx: torch.Tensor) -> torch.Tensor:
        return self.train_step(idx, grads_to_none=False)

    def _tensors(self) -> list[torch.Tensor]:
        """Everything a warm-up step changes that the run must not see changed."""
        out = [p.data for p in self.stack.parameters()]
        out += list(self.stack.buffers.values())
        for state in self.optimizer.state.values():
            out += [v for v in state.values() if isinstance(v, torch.Tensor)]
        return out

    def _capture(self, idx: torch.Tensor) -> Captured:
        had_state = bool(self.optimizer.state)
        before = [t.clone() for t in self._tensors()]
        static_idx = idx.clone()
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(WARMUP_STEPS):
                    self._body(static_idx)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self._pool):
                static_losses = self._body(static_idx)
            self._pool = graph.pool()
        finally:  # also after a failed capture: the eager fallback must start from here
            with torch.no_grad():
                now = self._tensors()
                for saved, live in zip(before, now, strict=False):
                    live.copy_(saved)
                if not had_state:  # state born in the warm-up: start as a fresh optimizer
                    for t in now[len(before) :]:
                        t.zero_()
        return graph, static_idx, static_losses

    def step(self, idx: torch.Tensor) -> torch.Tensor:
        if self.note is not None:
            return super().step(idx)
        shape = tuple(idx.shape)  # [B] shared by all members, or [K, B] one batch each
        if shape not in self._graphs:
            try:
                self._graphs[shape] = self._capture(idx)
            except Exception as err:  # noqa: BLE001 - any capture failure falls back to eager
                self.note = f"CUDA graph capture failed, trained eagerly: {type(err).__name__}"
                self.note += f": {err}"
                self._graphs.clear()
                return super().step(idx)
        graph, static_idx, static_losses = self._graphs[shape]
        static_idx.copy_(idx)
        graph.replay()
        return static_losses.clone()

    def keep(self, members: torch.Tensor) -> None:
        super().keep(members)
        self._graphs.clear()
        self._pool = None
