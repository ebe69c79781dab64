"""From a trial's results to the numbers Optuna optimises and the values it prunes on."""

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


def metric_value(metric: str, results: list[TrialResult]) -> float:
    """Mean over the trial's seeds. A run that never reached the target accuracy counts
    twice its training time for ``seconds_to_target`` (a penalty, so it ranks below every run
    that did reach it within the same budget)."""
    values = []
    for result in results:
        value = getattr(result.summary, SUMMARY_KEY[metric])
        if value is None and metric == "seconds_to_target":
            value = 2.0 * result.summary.train_seconds
        if value is None:
            raise ValueError(f"trial has no {metric} (no finished epoch)")
        values.append(float(value))
    return statistics.fmean(values)


def intermediate_key(metric: str) -> str:
    """The per-epoch curve a pruner compares: accuracy for accuracy objectives, else loss."""
    return "val_accuracy" if metric in ("val_accuracy", "first_epoch_accuracy") else "val_loss"
