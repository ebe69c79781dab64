"""How many trials to pack on one device when the study file says ``pack: auto``.

On a GPU the answer is memory: one member needs its parameters, gradients and optimizer state
plus its activations for one batch; K members fit in a share of what the device has free.
Throughput keeps growing with K until the device is busy, and measured packs stop gaining well
before memory runs out for small models (benchmarks/pack_throughput.py), so K is also capped.

On a CPU a pack saves only per-step overhead, which matters for small models alone.
benchmarks/pack_throughput.py (one thread, 6,000 MNIST-shaped samples, K=16, a loaded 2-core
machine) measured against a plain loop: MLP 4x32 (28k multiply-adds per sample) 1.9x, MLP
4x128 (150k) 0.7x, MLP 8x512 (2.2M) 1.0x; the quickstart study (MNIST-1D, MLP 4x128, 55.6k)
took as long with packs of 8 as without (19 and 18 s against 16 and 19 s). ``auto`` therefore
packs on CPU only below ``CPU_PACK_MAX_MACS`` multiply-adds per sample.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from initsearch.data import Dataset
from initsearch.models import build_model
from initsearch.train.engine import resolve_device
from initsearch.train.spec import TrialSpec

GPU_MEMORY_SHARE = 0.6  # of free memory; the rest is left for the allocator and eval chunks
GPU_MAX_PACK = 256
CPU_PACK = 8
CPU_PACK_MAX_MACS = 50_000
STATE_TENSORS = {"sgd": 1, "adamw": 2}  # optimizer state per parameter


def activation_profile(model: nn.Module, sample: torch.Tensor) -> tuple[int, int]:
    """(activation elements, multiply-adds) of one sample's forward pass, by module hooks."""
    elements, macs = 0, 0

    def hook(module: nn.Module, inputs, output) -> None:
        nonlocal elements, macs
        if isinstance(output, torch.Tensor):
            elements += output.numel()
        if isinstance(module, nn.Linear):
            macs += output.numel() * module.in_features
        elif isinstance(module, nn.modules.conv._ConvNd):
            k = math.prod(module.kernel_size) * module.in_channels // module.groups
            macs += output.numel() * k

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model.eval()(sample)
    finally:
        for h in handles:
            h.remove()
    return elements, macs


def member_bytes(spec: TrialSpec, dataset: Dataset) -> tuple[int, int]:
    """(bytes one member needs in training, its multiply-adds per sample)."""
    model = build_model(spec.model, dataset)
    params = sum(p.numel() for p in model.parameters())
    elements, macs = activation_profile(model, dataset.x_train[:1].cpu())
    state = 2 + STATE_TENSORS.get(spec.optimizer.name, 2)  # weights, grads, optimizer state
    # activations are kept for backward and their gradients made once: about 3 copies
    return 4 * (params * state + 3 * elements * spec.budget.batch_size), macs


def auto_pack_size(spec: TrialSpec, dataset: Dataset) -> int:
    """K for one device of the kind ``spec.device`` names (where this runs)."""
    device = resolve_device(spec.device)
    need, macs = member_bytes(spec, dataset)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        splits = (dataset.x_train, dataset.x_val, dataset.x_test)
        data = sum(t.numel() * t.element_size() for t in splits)
        fit = int((free - data) * GPU_MEMORY_SHARE // max(need, 1))
        return max(1, min(GPU_MAX_PACK, fit))
    return CPU_PACK if macs <= CPU_PACK_MAX_MACS else 1
