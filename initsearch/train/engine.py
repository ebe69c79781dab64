"""The trial engine: train one model from one init and record its convergence curve.

Data sets are whole tensors on the device, so a step is an index into a tensor. A diverged
run (NaN/inf loss, or loss above the budget's bound) stops at once and comes back as a result
with status "diverged" and the step it happened at; it never raises into the caller.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from initsearch.data import Dataset
from initsearch.errors import ConfigError
from initsearch.inits import InitReport, apply
from initsearch.models import build_model
from initsearch.train.curve import Curve, LossLog, Summary, bad_loss, summarize
from initsearch.train.optim import build_optimizer, build_scheduler
from initsearch.train.spec import TrialSpec

EpochCallback = Callable[[int, Curve], bool]
"""Called after each epoch with (epochs done, curve); returning False stops the trial."""

EVAL_CHUNK = 4096


@dataclass
class TrialResult:
    """A finished trial: its curve, derived figures, how it ended and what the init did."""

    status: str  # "completed" | "diverged" | "stopped"
    curve: Curve
    summary: Summary
    init: InitReport
    reason: str | None = None
    diverged_step: int | None = None
    num_parameters: int = 0
    device: str = "cpu"
    spec: dict[str, Any] = field(default_factory=dict)
    pack_size: int = 1  # trials trained together with this one (initsearch.train.pack)
    engine_note: str | None = None  # e.g. why a pack fell back from CUDA graphs to eager

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "diverged_step": self.diverged_step,
            "summary": self.summary.to_dict(),
            "curve": self.curve.to_dict(),
            "init": self.init.to_dict(),
            "num_parameters": self.num_parameters,
            "device": self.device,
            "spec": self.spec,
            "pack_size": self.pack_size,
            "engine_note": self.engine_note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialResult:
        """The result back from :meth:`to_dict` (e.g. after crossing a process boundary)."""
        return cls(
            status=data["status"],
            curve=Curve.from_dict(data["curve"]),
            summary=Summary.from_dict(data["summary"]),
            init=InitReport.from_dict(data["init"]),
            reason=data.get("reason"),
            diverged_step=data.get("diverged_step"),
            num_parameters=int(data.get("num_parameters", 0)),
            device=data.get("device", "cpu"),
            spec=dict(data.get("spec") or {}),
            pack_size=int(data.get("pack_size", 1)),
            engine_note=data.get("engine_note"),
        )


def resolve_device(device: str) -> torch.device:
    """Turn "auto"/"cpu"/"cuda[:i]" into a device, with a clear error when CUDA is absent."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r} asked for but no CUDA GPU is visible; use --device cpu"
        )
    return dev


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, autocast) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a whole split, in chunks."""
    model.eval()
    total_loss = torch.zeros((), device=x.device, dtype=torch.float64)
    correct = torch.zeros((), device=x.device, dtype=torch.int64)
    for start in range(0, len(y), EVAL_CHUNK):
        xb, yb = x[start : start + EVAL_CHUNK], y[start : start + EVAL_CHUNK]
        with autocast():
            logits = model(xb)
        total_loss += nn.functional.cross_entropy(logits.float(), yb, reduction="sum").double()
        correct += (logits.argmax(dim=1) == yb).sum()
    model.train()
    n = max(len(y), 1)
    return float(total_loss) / n, float(correct) / n


def autocast_factory(device: torch.device, bf16: bool):
    if not bf16:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def load_trial_data(spec: TrialSpec, dataset: Dataset | None, device: torch.device) -> Dataset:
    """The given data set (or the spec's, loaded) on ``device``."""
    if dataset is None:
        return spec.data.load(str(device))
    return dataset.to(device)


def build_member(
    spec: TrialSpec, dataset: Dataset, device: torch.device
) -> tuple[nn.Module, InitReport]:
    """The trial's model, initialised: seeded by the trial's seed, so a pack member starts from
    exactly the weights its solo run would."""
    torch.manual_seed(spec.seed)
    model = build_model(spec.model, dataset).to(device)
    return model, apply(model, spec.init, data=dataset)


def run_trial(
    spec: TrialSpec,
    dataset: Dataset | None = None,
    on_epoch: EpochCallback | None = None,
    on_step: Callable[[int], None] | None = None,
) -> TrialResult:
    """Train ``spec``'s model from its init and return the curve; never raises on divergence."""
    device = resolve_device(spec.device)
    dataset = load_trial_data(spec, dataset, device)
    model, init_report = build_member(spec, dataset, device)
    optimizer = build_optimizer(model, spec.optimizer)
    budget = spec.budget
    n_train = len(dataset.y_train)
    steps_per_epoch = math.ceil(n_train / budget.batch_size)
    total_steps = steps_per_epoch * budget.epochs
    scheduler = build_scheduler(optimizer, spec.optimizer, total_steps, steps_per_epoch)
    order_rng = torch.Generator().manual_seed(spec.seed)
    autocast = autocast_factory(device, spec.bf16)
    curve = Curve()
    status, reason, diverged_step = "completed", None, None
    step = 0
    losses = LossLog(curve, budget.log_every)

    model.train()
    for epoch in range(budget.epochs):
        started = time.perf_counter()
        order = torch.randperm(n_train, generator=order_rng).to(device)
        for start in range(0, n_train, budget.batch_size):
            idx = order[start : start + budget.batch_size]
            with autocast():
                logits = model(dataset.x_train[idx])
            loss = nn.functional.cross_entropy(logits.float(), dataset.y_train[idx])
            value = float(loss.detach())
            reason = bad_loss(value, step, budget.divergence_loss)
            if reason is not None:
                status, diverged_step = "diverged", step
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if spec.optimizer.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), spec.optimizer.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            losses.add(step, value)
            if on_step is not None:
                on_step(step)
        if status == "diverged":
            losses.end_block(step)
            break
        curve.epoch_seconds.append(time.perf_counter() - started)
        losses.end_epoch(step)
        val_loss, val_acc = evaluate(model, dataset.x_test, dataset.y_test, autocast)
        if not math.isfinite(val_loss):
            status, diverged_step = "diverged", step
            reason = f"validation loss {val_loss} after epoch {epoch + 1}"
            break
        curve.val_loss.append(val_loss)
        curve.val_accuracy.append(val_acc)
        if on_epoch is not None and on_epoch(epoch + 1, curve) is False:
            if epoch + 1 < budget.epochs:
                status, reason = "stopped", f"stopped by callback after epoch {epoch + 1}"
            break

    return TrialResult(
        status=status,
        curve=curve,
        summary=summarize(curve, total_steps, budget.target_accuracy),
        init=init_report,
        reason=reason,
        diverged_step=diverged_step,
        num_parameters=sum(p.numel() for p in model.parameters()),
        device=str(device),
        spec=spec.to_dict(),
    )
