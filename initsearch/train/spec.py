"""What a trial is: (model, data, init, optimizer, seed, budget) -> convergence curve."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from initsearch.errors import ConfigError
from initsearch.inits.spec import InitSpec
from initsearch.models.spec import ModelSpec

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class DataSpec:
    """Which data set, where its files live, whether fetching is allowed."""

    name: str = "mnist1d"
    root: str | None = None
    download: bool = False
    limit: int | None = None


@dataclass(frozen=True)
class OptimizerSpec:
    """SGD with momentum or AdamW, with optional linear warmup and cosine decay (per step)."""

    name: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    warmup_epochs: float = 0.0
    schedule: str = "constant"
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.name!r}; choose one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}")
        if not self.lr > 0:
            raise ConfigError(f"learning rate must be > 0, got {self.lr}")
        if self.warmup_epochs < 0:
            raise ConfigError(f"warmup epochs must be >= 0, got {self.warmup_epochs}")


@dataclass(frozen=True)
class Budget:
    """How long to train and how to record it.

    ``log_every``: training loss is recorded as the mean over each block of that many steps.
    ``divergence_loss``: a training loss above it (or NaN/inf) stops the run as diverged.
    ``target_accuracy``: for the derived epochs/seconds-to-target figures.
    """

    epochs: int = 10
    batch_size: int = 128
    log_every: int = 10
    divergence_loss: float = 100.0
    target_accuracy: float | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {self.batch_size}")
        if self.log_every < 1:
            raise ConfigError(f"log_every must be >= 1, got {self.log_every}")
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise ConfigError(
                f"target accuracy is a fraction in (0, 1], got {self.target_accuracy}"
            )


@dataclass(frozen=True)
class TrialSpec:
    """Everything that determines a trial's curve (given the device's arithmetic)."""

    model: ModelSpec = field(default_factory=ModelSpec)
    data: DataSpec = field(default_factory=DataSpec)
    init: InitSpec = field(default_factory=InitSpec)
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    budget: Budget = field(default_factory=Budget)
    seed: int = 0
    device: str = "cpu"
    bf16: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
