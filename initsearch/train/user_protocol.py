"""The contract between the platform and a researcher's training function, without threads.

:mod:`initsearch.train.user_loop` runs the function, several seeds in lockstep; this module
says what the function is called with (:func:`call_arguments`) and how one ``report(epoch,
**metrics)`` becomes an epoch of the trial's :class:`~initsearch.train.curve.Curve`
(:class:`EpochRecorder`), so the rules can be read (and tested) apart from the turn-taking.

The curve a user loop leaves is the built-in engine's, with one difference in the unit of the
training-loss record: the platform does not see the loop's steps, so a reported ``train_loss``
(the epoch's mean training loss) is one block of the record per epoch, at "step" = the epoch
number (``train_step == [1, 2, ...]``), and the summary's area under the loss is taken over
the budget's epochs. An epoch that reports no ``train_loss`` has NaN in ``epoch_train_loss``
(so every epoch list keeps one entry per epoch) and no block in the step record.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from dataclasses import fields
from typing import Any, NamedTuple

import torch
from torch import nn

from initsearch.data import Dataset
from initsearch.errors import ConfigError
from initsearch.factories import ref_name, resolve
from initsearch.train.curve import Curve, LossLog
from initsearch.train.engine import autocast_factory, evaluate
from initsearch.train.spec import TrialSpec

PASSED = ("model", "data", "seed", "report")
"""What every call passes (model and data positionally, the rest by keyword)."""
EXTRAS = ("epochs", "device", "batch_size", "lr")
"""Passed only to a function whose signature names them (or takes ``**kwargs``)."""
KNOWN_METRICS = ("val_loss", "val_accuracy", "test_loss", "test_accuracy", "train_loss")
RESERVED = tuple(f.name for f in fields(Curve) if f.name not in KNOWN_METRICS)
"""Curve fields the platform fills itself: not a metric name a function may report."""


class LoopCall(NamedTuple):
    """The training function, its name for messages (``module:function``) and the keyword
    arguments it gets besides ``seed`` and ``report``."""

    fn: Callable[..., Any]
    name: str
    kwargs: dict[str, Any]


def loop_call(spec: TrialSpec, device: torch.device) -> LoopCall:
    """The spec's training function, resolved and checked against what it will be passed."""
    if spec.loop.function is None:
        raise ConfigError("the trial names no training function (TrialSpec.loop.function)")
    fn = resolve(spec.loop.function, "training function")
    name = ref_name(spec.loop.function) or "?"
    return LoopCall(fn, name, call_arguments(fn, name, spec, device))


def call_arguments(
    fn: Callable[..., Any], name: str, spec: TrialSpec, device: torch.device
) -> dict[str, Any]:
    """The keyword arguments besides ``seed`` and ``report``: the extras the function's
    signature accepts, then the loop's own ``kwargs``.

    Extras go only where asked for, so a function need not swallow what it does not use;
    a loop kwarg named like anything the platform passes is an error rather than a silent
    override (the budget and the optimizer section are where epochs, batch size and lr live).
    """
    clash = sorted(set(spec.loop.kwargs) & {*PASSED, *EXTRAS})
    if clash:
        raise ConfigError(
            f"training function {name!r}: loop kwargs {clash} collide with what the platform "
            f"passes ({', '.join(PASSED + EXTRAS)}); set epochs and batch_size in the budget, "
            "lr in the optimizer section, and rename the others"
        )
    offered = {
        "epochs": spec.budget.epochs,
        "device": str(device),
        "batch_size": spec.budget.batch_size,
        "lr": spec.optimizer.lr,
    }
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to read (some builtins): offer no extras
        return dict(spec.loop.kwargs)
    params = signature.parameters.values()
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    kwargs = {k: v for k, v in offered.items() if takes_any or k in named}
    kwargs.update(spec.loop.kwargs)
    try:
        signature.bind(None, None, seed=0, report=None, **kwargs)
    except TypeError as err:
        raise ConfigError(
            f"training function {name!r} cannot be called as fn(model, data, seed=..., "
            f"report=...{''.join(f', {k}=...' for k in kwargs)}): {err}"
        ) from None
    return kwargs


def as_number(name: str, key: str, value: object) -> float:
    """A reported metric as a float: a real number or a one-element tensor."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach())
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise ConfigError(
        f"training function {name!r} reported {key}={value!r}; a metric must be a number "
        "(e.g. loss.item())"
    )


class EpochRecorder:
    """One member's curve, an epoch per ``report``: checks the epoch number and the metrics,
    measures what the function did not report, and says when the run diverged.

    Metrics: the known ones (:data:`KNOWN_METRICS`) fill the curve's lists; ``test_*`` are
    kept only when the spec measures the test split (so a search never records test figures);
    any other name goes to ``curve.extra``. Missing ``val_*`` (and ``test_*`` with
    ``test_split``) are measured here with :func:`~initsearch.train.engine.evaluate`.
    """

    def __init__(
        self, spec: TrialSpec, name: str, model: nn.Module, data: Dataset, device: torch.device
    ) -> None:
        self.spec, self.name, self.model, self.data = spec, name, model, data
        self.autocast = autocast_factory(device, spec.bf16)
        self.curve = Curve()
        self.losses = LossLog(self.curve, every=1)
        self.epochs = 0  # epochs recorded

    def record(self, epoch: object, metrics: dict[str, object], seconds: float) -> str | None:
        """Record epoch ``epoch`` (trained in ``seconds``); returns why the run diverged (the
        epoch is then not recorded, as the engine keeps no figures of a diverged epoch) or None.
        Raises ConfigError for an epoch out of order, a reserved name or a non-number."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch != self.epochs + 1:
            raise ConfigError(
                f"training function {self.name!r} reported epoch {epoch!r} after epoch "
                f"{self.epochs}; call report(epoch, ...) once per epoch with 1, 2, 3, ..."
            )
        reserved = sorted(set(metrics) & set(RESERVED))
        if reserved:
            raise ConfigError(
                f"training function {self.name!r} reported {reserved}: names the platform "
                f"records itself ({', '.join(RESERVED)}); choose other names"
            )
        values = {key: as_number(self.name, key, value) for key, value in metrics.items()}
        train = values.pop("train_loss", None)
        bound = self.spec.budget.divergence_loss
        if train is not None and not (math.isfinite(train) and train <= bound):
            return f"training loss {train:.4g} in epoch {epoch} (bound {bound})"
        val = self.measured(values, "val", self.data.x_val, self.data.y_val)
        if not math.isfinite(val["val_loss"]):
            return f"validation loss {val['val_loss']} after epoch {epoch}"
        if self.spec.test_split:
            values |= self.measured(values, "test", self.data.x_test, self.data.y_test)
        self.keep(epoch, {**values, **val}, train, seconds)
        return None

    def measured(
        self, values: dict[str, float], split: str, x: torch.Tensor, y: torch.Tensor
    ) -> dict[str, float]:
        """``{split}_loss`` and ``{split}_accuracy``: as reported, else measured (the model's
        train/eval mode is restored afterwards)."""
        loss_key, acc_key = f"{split}_loss", f"{split}_accuracy"
        if loss_key in values and acc_key in values:
            return {loss_key: values[loss_key], acc_key: values[acc_key]}
        training = self.model.training
        loss, accuracy = evaluate(self.model, x, y, self.autocast)
        self.model.train(training)
        return {loss_key: values.get(loss_key, loss), acc_key: values.get(acc_key, accuracy)}

    def keep(
        self, epoch: int, values: dict[str, float], train: float | None, seconds: float
    ) -> None:
        curve = self.curve
        curve.val_loss.append(values["val_loss"])
        curve.val_accuracy.append(values["val_accuracy"])
        if self.spec.test_split:
            curve.test_loss.append(values["test_loss"])
            curve.test_accuracy.append(values["test_accuracy"])
        curve.epoch_seconds.append(seconds)
        if train is None:
            curve.epoch_train_loss.append(math.nan)
        else:
            self.losses.add(epoch, train)
            self.losses.end_epoch(epoch)
        extra = {k: v for k, v in values.items() if k not in KNOWN_METRICS}
        for key in extra:
            curve.extra.setdefault(key, [math.nan] * (epoch - 1))
        for key, series in curve.extra.items():
            series.append(extra.get(key, math.nan))
        self.epochs = epoch
