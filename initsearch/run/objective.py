"""From a trial's results to the numbers Optuna optimises, the values it prunes on, and the
figures that judge an objective on the test split."""

from __future__ import annotations

import statistics

from initsearch.train import TrialResult

SUMMARY_KEY = {
    "val_accuracy": "final_accuracy",
    "val_loss": "final_val_loss",
    "area_under_loss": "area_under_loss",
    "first_epoch_accuracy": "first_epoch_accuracy",
    "seconds_to_target": "seconds_to_target",
}
"""Objective -> the Summary field it optimises (measured on the validation split)."""

TEST_KEY = {
    "val_accuracy": "test_accuracy",
    "first_epoch_accuracy": "first_epoch_test_accuracy",
    "val_loss": "test_loss",
    "area_under_loss": "area_under_loss",  # a training figure: no split to swap
    "seconds_to_target": "seconds_to_target",  # the time to reach the target, as measured
}
"""Objective -> the Summary field that judges it on the test split."""


def seed_value(metric: str, result: TrialResult) -> float | None:
    """The objective on one seed's run, or None where it was not measured. A run that never
    reached the target accuracy counts twice its training time for ``seconds_to_target`` (a
    penalty, so it ranks below every run that did reach it within the same budget)."""
    value = getattr(result.summary, SUMMARY_KEY[metric])
    if value is None and metric == "seconds_to_target":
        value = 2.0 * result.summary.train_seconds
    return None if value is None else float(value)


def seed_values(metric: str, results: list[TrialResult]) -> list[float | None]:
    """The objective on each seed's run, in seed order (None where not measured)."""
    return [seed_value(metric, result) for result in results]


def metric_value(metric: str, results: list[TrialResult]) -> float:
    """Mean over the trial's seeds of :func:`seed_values`; every seed must have the figure."""
    values = seed_values(metric, results)
    if any(value is None for value in values):
        raise ValueError(f"trial has no {metric} (no finished epoch)")
    return statistics.fmean(v for v in values if v is not None)


def test_metric(metric: str) -> str:
    """The Summary field that judges objective ``metric`` on the test split (e.g.
    ``val_accuracy`` -> ``test_accuracy``)."""
    return TEST_KEY[metric]


test_metric.__test__ = False  # type: ignore[attr-defined]  # not a test, should pytest import it


def intermediate_key(metric: str) -> str:
    """The per-epoch curve a pruner compares: accuracy for accuracy objectives, else loss."""
    return "val_accuracy" if metric in ("val_accuracy", "first_epoch_accuracy") else "val_loss"
