"""A trial's convergence curve and the figures derived from it.

A completed run that did not learn is flagged **no progress** (``Summary.no_progress``), beside
"diverged": it ran every epoch, yet at its final epoch its validation accuracy is below
``chance + NO_PROGRESS_MARGIN`` (absolute: within 5 points of chance) OR its mean training loss
of that epoch is at least ``UNIFORM_LOSS_FRACTION * ln(C)``, the loss of a uniform guess over C
classes. Chance accuracy is the frequency of the most common class among the TRAINING labels
(1/C for balanced data): what always guessing that class scores. Either test alone suffices: a
net stuck at the class prior has both, one that only memorises noise keeps a flat loss. Runs
that diverged, were stopped or failed are never "no progress" (they have their own status);
the flag is None when chance is unknown (a summary of an older version).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

NO_PROGRESS_MARGIN = 0.05
"""A final validation accuracy below chance + this (absolute) is no progress."""
UNIFORM_LOSS_FRACTION = 0.99
"""A final epoch's mean training loss at least this fraction of ln(C) is no progress."""


@dataclass
class Curve:
    """Raw record of one training run.

    ``train_step[i]`` is the step count at the end of the i-th logging block and
    ``train_loss[i]`` the mean training loss over that block. Epoch lists (mean training loss,
    validation loss and accuracy, seconds) have one entry per finished epoch;
    ``epoch_seconds`` is training time only (evaluation excluded). ``val_*`` are measured on
    the validation split; ``test_*`` on the test split, only when the spec asks for it
    (``TrialSpec.test_split``; empty otherwise).

    ``extra`` holds per-epoch metrics of the researcher's own names, reported by a training
    function of their own (:mod:`initsearch.train.user_loop`); one entry per finished epoch,
    NaN where an epoch did not report it. The built-in engine leaves it empty.
    """

    train_step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    epoch_train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)

    @property
    def epochs_done(self) -> int:
        return len(self.val_accuracy)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Curve:
        """The curve back from :meth:`to_dict`; keys a stored older curve lacks stay empty."""
        lists = {f.name: list(data.get(f.name) or []) for f in fields(cls) if f.name != "extra"}
        extra = {str(key): list(values) for key, values in (data.get("extra") or {}).items()}
        return cls(**lists, extra=extra)


class LossLog:
    """Training loss as a curve records it, fed one step at a time: the mean of each block of
    ``every`` steps (a block also ends with its epoch, or where a run stops) and each epoch's
    mean. The solo engine and a pack's members both record through it, so their curves agree.
    """

    def __init__(self, curve: Curve, every: int) -> None:
        self.curve, self.every = curve, every
        self.block_sum, self.block_n, self.epoch_sum, self.epoch_n = 0.0, 0, 0.0, 0

    def add(self, step: int, value: float) -> None:
        """The loss of the step that brought the count of steps done to ``step``."""
        self.block_sum, self.block_n = self.block_sum + value, self.block_n + 1
        self.epoch_sum, self.epoch_n = self.epoch_sum + value, self.epoch_n + 1
        if self.block_n == self.every:
            self.end_block(step)

    def end_block(self, step: int) -> None:
        if self.block_n:
            self.curve.train_step.append(step)
            self.curve.train_loss.append(self.block_sum / self.block_n)
        self.block_sum, self.block_n = 0.0, 0

    def end_epoch(self, step: int) -> None:
        self.end_block(step)
        self.curve.epoch_train_loss.append(self.epoch_sum / max(self.epoch_n, 1))
        self.epoch_sum, self.epoch_n = 0.0, 0


def bad_loss(value: float, step: int, bound: float) -> str | None:
    """Why a training loss ends a run as diverged (NaN/inf or above ``bound``), or None."""
    if math.isfinite(value) and value <= bound:
        return None
    return f"training loss {value:.4g} at step {step} (bound {bound})"


def area_under_loss(curve: Curve, total_steps: int) -> float | None:
    """Mean training loss over the planned run (area under loss vs. fraction of training).

    Normalising the x-axis to [0, 1] of the planned steps makes runs with different budgets
    comparable; a run that stopped early is integrated only over what it did.
    """
    if not curve.train_loss:
        return None
    x = np.asarray([0, *curve.train_step], dtype=float) / max(total_steps, 1)
    y = np.asarray([curve.train_loss[0], *curve.train_loss], dtype=float)
    return float(np.trapezoid(y, x) / max(x[-1], 1e-12))


def time_to_target(
    accuracy: list[float | None], seconds: list[float], target: float | None
) -> tuple[int | None, float | None]:
    """(epochs, training seconds) until ``accuracy`` first reaches ``target``, epochs counted
    from 1; None for both when it never does or there is no target (None for the seconds when
    the run kept no time for that epoch)."""
    if target is None:
        return None, None
    hit = next((i for i, a in enumerate(accuracy) if a is not None and a >= target), None)
    if hit is None:
        return None, None
    return hit + 1, float(sum(seconds[: hit + 1])) if len(seconds) > hit else None


@dataclass
class Summary:
    """Derived figures a study can optimise or a report can compare.

    The accuracy and loss figures without ``test`` in their name are the validation split's
    (what a search selects on); ``test_accuracy``, ``first_epoch_test_accuracy`` and
    ``test_loss`` are the test split's (what a confirmation judges on), None when the trial did
    not measure it.
    """

    first_epoch_accuracy: float | None
    final_accuracy: float | None
    best_accuracy: float | None
    final_val_loss: float | None
    area_under_loss: float | None
    epochs_to_target: int | None
    seconds_to_target: float | None
    train_seconds: float
    test_accuracy: float | None = None
    first_epoch_test_accuracy: float | None = None
    test_loss: float | None = None
    chance_accuracy: float | None = None
    no_progress: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        """The summary back from :meth:`to_dict`; figures an older dict lacks are None."""
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


def chance_accuracy(class_counts: Sequence[int]) -> float | None:
    """The accuracy of always guessing the most common class, from the training labels' class
    counts (None without labels)."""
    total = sum(class_counts)
    return max(class_counts) / total if total else None


def no_progress(
    curve: Curve, chance: float | None, num_classes: int | None, completed: bool = True
) -> bool | None:
    """Whether a run did not learn (the module docstring's rule); None when ``chance`` is
    unknown or the curve has no final epoch to judge, False for a run that did not complete."""
    if chance is None:
        return None
    if not completed:
        return False
    accuracy = curve.val_accuracy[-1] if curve.val_accuracy else None
    if accuracy is None:  # no epoch, or a stored null
        return None
    if accuracy < chance + NO_PROGRESS_MARGIN:
        return True
    loss = curve.epoch_train_loss[-1] if curve.epoch_train_loss else None
    if loss is None or num_classes is None or num_classes < 2:
        return False
    return not loss < UNIFORM_LOSS_FRACTION * math.log(num_classes)  # NaN counts as flat


def summarize(
    curve: Curve,
    total_steps: int,
    target: float | None,
    chance: float | None = None,
    num_classes: int | None = None,
    completed: bool = True,
) -> Summary:
    """The derived figures of ``curve``; ``chance`` (with the data's ``num_classes``) and
    whether the run ``completed`` give the no-progress flag."""
    acc = curve.val_accuracy
    epochs_to_target, seconds_to_target = time_to_target(acc, curve.epoch_seconds, target)
    return Summary(
        first_epoch_accuracy=acc[0] if acc else None,
        final_accuracy=acc[-1] if acc else None,
        best_accuracy=max(acc) if acc else None,
        final_val_loss=curve.val_loss[-1] if curve.val_loss else None,
        area_under_loss=area_under_loss(curve, total_steps),
        epochs_to_target=epochs_to_target,
        seconds_to_target=seconds_to_target,
        train_seconds=float(sum(curve.epoch_seconds)),
        test_accuracy=curve.test_accuracy[-1] if curve.test_accuracy else None,
        first_epoch_test_accuracy=curve.test_accuracy[0] if curve.test_accuracy else None,
        test_loss=curve.test_loss[-1] if curve.test_loss else None,
        chance_accuracy=chance,
        no_progress=no_progress(curve, chance, num_classes, completed),
    )
