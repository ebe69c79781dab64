"""The trial engine: train one model from one init and record its convergence curve.

Data sets are whole tensors on the device, so a step is an index into a tensor. Each epoch is
evaluated on the validation split (and on the test split when the spec asks). A diverged run
(NaN/inf training loss, a loss above the budget's bound, or a non-finite validation loss)
stops at once and comes back as a result with status "diverged" and the step it happened at;
it never raises into the caller. A completed run that did not learn is flagged in its summary
(``no_progress``, against the chance accuracy of the training labels:
:mod:`initsearch.train.curve`). :class:`SoloRun` is one run, an epoch at a time;
:func:`run_trial` is the loop over it.
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
from initsearch.train.curve import Curve, LossLog, Summary, bad_loss, chance_accuracy, summarize
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


def data_chance(dataset: Dataset) -> float | None:
    """The chance accuracy of ``dataset``: its most common training class's frequency."""
    return chance_accuracy(torch.bincount(dataset.y_train).tolist())


def build_member(
    spec: TrialSpec, dataset: Dataset, device: torch.device
) -> tuple[nn.Module, InitReport]:
    """The trial's model, initialised: seeded by the trial's seed, so a pack member starts from
    exactly the weights its solo run would."""
    torch.manual_seed(spec.seed)
    model = build_model(spec.model, dataset).to(device)
    return model, apply(model, spec.init, data=dataset, activations=spec.model.activations)


def rng_state(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The global generators a training step draws from (dropout): CPU, and the device's."""
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def set_rng_state(device: torch.device, state: tuple[torch.Tensor, torch.Tensor | None]) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


class SoloRun:
    """One trial trained an epoch at a time: :meth:`epoch` trains and evaluates one epoch,
    :meth:`stop` ends the run after it (a pruner's decision), :meth:`result` hands it back.

    Several runs can be advanced in turn (``initsearch.train.members``) and each still gives
    exactly its own curve: it has its own data-order generator and keeps its own state of the
    global generators (dropout masks), restored at the start of each of its epochs.
    """

    def __init__(
        self,
        spec: TrialSpec,
        dataset: Dataset | None = None,
        on_step: Callable[[int], None] | None = None,
    ) -> None:
        self.spec, self.on_step = spec, on_step
        self.device = device = resolve_device(spec.device)
        self.data = load_trial_data(spec, dataset, device)
        self.model, self.init_report = build_member(spec, self.data, device)
        self.optimizer = build_optimizer(self.model, spec.optimizer)
        budget = spec.budget
        self.n_train = len(self.data.y_train)
        self.chance = data_chance(self.data)
        steps_per_epoch = math.ceil(self.n_train / budget.batch_size)
        self.total_steps = steps_per_epoch * budget.epochs
        self.scheduler = build_scheduler(
            self.optimizer, spec.optimizer, self.total_steps, steps_per_epoch
        )
        self.order_rng = torch.Generator().manual_seed(spec.seed)
        self.rng = rng_state(device)
        self.autocast = autocast_factory(device, spec.bf16)
        self.curve = Curve()
        self.losses = LossLog(self.curve, budget.log_every)
        self.status, self.reason, self.diverged_step = "running", None, None
        self.step = 0
        self.model.train()

    @property
    def finished(self) -> bool:
        return self.status != "running"

    def epoch(self) -> None:
        """Train one epoch, then evaluate: ends the run as "diverged" on a bad loss, as
        "completed" after the budget's last epoch."""
        budget, data, model = self.spec.budget, self.data, self.model
        started = time.perf_counter()
        set_rng_state(self.device, self.rng)
        order = torch.randperm(self.n_train, generator=self.order_rng).to(self.device)
        for start in range(0, self.n_train, budget.batch_size):
            idx = order[start : start + budget.batch_size]
            with self.autocast():
                logits = model(data.x_train[idx])
            loss = nn.functional.cross_entropy(logits.float(), data.y_train[idx])
            value = float(loss.detach())
            self.reason = bad_loss(value, self.step, budget.divergence_loss)
            if self.reason is not None:
                self.status, self.diverged_step = "diverged", self.step
                self.losses.end_block(self.step)
                return
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.spec.optimizer.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), self.spec.optimizer.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            self.losses.add(self.step, value)
            if self.on_step is not None:
                self.on_step(self.step)
        self.rng = rng_state(self.device)
        self.curve.epoch_seconds.append(time.perf_counter() - started)
        self.losses.end_epoch(self.step)
        self.measure()

    def measure(self) -> None:
        """The epoch's validation figures (and test figures, when the spec asks for them)."""
        epoch = len(self.curve.epoch_seconds)
        val_loss, val_acc = evaluate(self.model, self.data.x_val, self.data.y_val, self.autocast)
        if not math.isfinite(val_loss):
            self.status, self.diverged_step = "diverged", self.step
            self.reason = f"validation loss {val_loss} after epoch {epoch}"
            return
        self.curve.val_loss.append(val_loss)
        self.curve.val_accuracy.append(val_acc)
        if self.spec.test_split:
            test_loss, test_acc = evaluate(
                self.model, self.data.x_test, self.data.y_test, self.autocast
            )
            self.curve.test_loss.append(test_loss)
            self.curve.test_accuracy.append(test_acc)
        if epoch == self.spec.budget.epochs:
            self.status = "completed"

    def stop(self) -> None:
        """End the run after the epoch just done (no effect once it has ended)."""
        if self.status == "running":
            epoch = self.curve.epochs_done
            self.status, self.reason = "stopped", f"stopped by callback after epoch {epoch}"

    def result(self) -> TrialResult:
        status = "completed" if self.status == "running" else self.status
        return TrialResult(
            status=status,
            curve=self.curve,
            summary=summarize(
                self.curve,
                self.total_steps,
                self.spec.budget.target_accuracy,
                self.chance,
                self.data.num_classes,
                completed=status == "completed",
            ),
            init=self.init_report,
            reason=self.reason,
            diverged_step=self.diverged_step,
            num_parameters=sum(p.numel() for p in self.model.parameters()),
            device=str(self.device),
            spec=self.spec.to_dict(),
        )


def run_trial(
    spec: TrialSpec,
    dataset: Dataset | None = None,
    on_epoch: EpochCallback | None = None,
    on_step: Callable[[int], None] | None = None,
) -> TrialResult:
    """Train ``spec``'s model from its init and return the curve; never raises on divergence."""
    run = SoloRun(spec, dataset, on_step)
    while not run.finished:
        run.epoch()
        measured = run.status != "diverged"  # a diverged epoch has no validation figures
        if (
            on_epoch is not None
            and measured
            and on_epoch(run.curve.epochs_done, run.curve) is False
        ):
            run.stop()
    return run.result()
