"""What a trial is: (model, data, init, optimizer, seed, budget) -> convergence curve.

These frozen dataclasses are the one definition of every training default (lr, momentum,
epochs, batch size, ...): the study file's sections and the command-line options read their
defaults from the class attributes here (``OptimizerSpec.lr``) and build specs with
:func:`spec_from`.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from initsearch.data import Dataset, DataShape, data_shape, load_dataset
from initsearch.data.user import load_user_data
from initsearch.errors import ConfigError
from initsearch.factories import FactoryRef, ref_name
from initsearch.inits.spec import InitSpec
from initsearch.models.spec import ModelSpec

S = TypeVar("S")

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class DataSpec:
    """Which data set, where its files live, whether fetching is allowed, and the share of
    the training data held out for validation (None: the data set's documented default).

    ``factory``: a researcher's own data instead of a named set, as
    ``"package.module:function"`` or the callable, called with ``kwargs``
    (:mod:`initsearch.data.user` lists what it may return)."""

    name: str = "mnist1d"
    root: str | None = None
    download: bool = False
    limit: int | None = None
    val_fraction: float | None = None
    factory: FactoryRef | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """What the data is, for tables and logs: the set's name, or the factory reference."""
        return ref_name(self.factory) or self.name

    def shape(self) -> DataShape:
        """The data's shape: from the table for a named set, by loading a factory's data."""
        if self.factory is None:
            return data_shape(self.name)
        return DataShape.from_dataset(self.load())

    def load(self, device: str = "cpu") -> Dataset:
        """The data set, whole, on ``device``."""
        if self.factory is not None:
            return load_user_data(
                self.factory, self.kwargs, self.val_fraction, self.limit, device=device
            )
        return load_dataset(
            self.name,
            root=self.root,
            download=self.download,
            device=device,
            limit=self.limit,
            val_fraction=self.val_fraction,
        )


def _check_number(what: str, value: Any, ok: Callable[[float], bool], rule: str) -> None:
    """A ConfigError unless ``value`` is a finite number with ``ok(value)`` (``rule`` says
    which): an infinite or NaN learning rate would pass ``> 0`` and diverge every trial."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{what} must be a number {rule}, got {value!r}")
    if not (math.isfinite(value) and ok(value)):
        raise ConfigError(f"{what} must be a finite number {rule}, got {value}")


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
        # ``not x > 0`` rejects NaN too; inf passes every comparison, so finiteness is asked
        _check_number("learning rate", self.lr, lambda v: v > 0, "> 0")
        _check_number("momentum", self.momentum, lambda v: 0 <= v < 1, "in [0, 1)")
        _check_number("weight decay", self.weight_decay, lambda v: v >= 0, ">= 0")
        _check_number("warmup epochs", self.warmup_epochs, lambda v: v >= 0, ">= 0")
        if self.grad_clip is not None:
            _check_number("gradient clip", self.grad_clip, lambda v: v > 0, "> 0 (or unset)")


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
        _check_number("divergence loss", self.divergence_loss, lambda v: v > 0, "> 0")
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise ConfigError(
                f"target accuracy is a fraction in (0, 1], got {self.target_accuracy}"
            )


@dataclass(frozen=True)
class LoopSpec:
    """A researcher's own training function in place of the built-in loop
    (:mod:`initsearch.train.user_loop`): ``"package.module:function"`` or the callable, called
    with the initialised model, the data, the seed, a ``report`` callable and ``kwargs``.
    None: the built-in engine (which alone trains packs)."""

    function: FactoryRef | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


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
    test_split: bool = False  # also measure the test split each epoch (curve.test_*)
    loop: LoopSpec = field(default_factory=LoopSpec)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data: callables (factories, a training function) as their
        ``module:qualname``, so it can be stored and logged."""
        out = asdict(self)
        out["model"]["factory"] = ref_name(self.model.factory)
        out["data"]["factory"] = ref_name(self.data.factory)
        out["loop"]["function"] = ref_name(self.loop.function)
        return out


def spec_from(cls: type[S], mapping: Mapping[str, Any]) -> S:
    """The dataclass ``cls`` built from the keys of ``mapping`` that name its fields.

    Other keys are ignored and missing fields keep their defaults, so a config section or a
    command's options (which use the same names) become a spec in one call. A field whose type
    is itself a spec dataclass may be given as a mapping: ``spec_from(TrialSpec,
    result.spec)`` turns ``TrialSpec.to_dict()`` back into the spec.
    """
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init or f.name not in mapping:
            continue
        value = mapping[f.name]
        kind = hints.get(f.name)
        if isinstance(value, Mapping) and dataclasses.is_dataclass(kind):
            value = spec_from(kind, value)  # type: ignore[arg-type]
        values[f.name] = value
    return cls(**values)
