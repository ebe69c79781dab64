"""Read a comparison's finished trials back into the contract's ``schemes`` / ``runs`` shape.

Each (scheme, seed) of the plan takes its latest finished run (completed or diverged); a pair
whose runs all failed with an error takes the latest failure (status "failed"); a pair never run
(an interrupted comparison) is left out of ``runs``. Epochs and seconds to the target accuracy
are recomputed from the stored curves, so changing the target needs no new training.

The target accuracy is a TEST accuracy: ``--target``, else the study's
``objective.target_accuracy``, else 90% of the reference's (Kaiming's) mean final test accuracy
over its completed runs, rounded down to 0.01, so "epochs to target" asks how fast each
scheme's test accuracy gets close to what Kaiming's ends at. A run without a test curve
(stored before comparisons measured the test split) never reaches it and gives no target.

Beyond the contract's keys (see :mod:`initsearch.compare`), the dict carries
``target_source`` (option | study | reference | none), ``epochs``, ``comparison_study``,
``storage``, ``tracking_uri``, ``mlflow_parent_run_id`` and ``searched_best`` ({trial, value}
or null); each run carries ``trial``, ``mlflow_run_id``, the curve's ``epoch_seconds`` and
``emergence_zero`` (true when the measure was E = 0: log_emergence -inf, written as null),
``log_emergence_relative`` with ``relative_emergence_zero`` likewise (null when not measured),
and ``no_progress`` (true for a completed run that did not learn, :mod:`initsearch.train.curve`;
a record stored before the flag is judged again from its curves against the stored chance
accuracy, else 1/C with C the class count of a named data set; null when neither is known).
:func:`~initsearch.compare.analysis.analyse` adds ``metrics`` (higher is better?), ``methods``
and per stats row ``failed``, ``runs``, ``not_reached`` and, in ``vs_reference``, ``n`` (pairs
tested) and ``wilcoxon_p``.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from initsearch import stores
from initsearch.compare.metrics import ACCURACY_CURVE, TEST_ACCURACY
from initsearch.compare.plan import ComparePlan, trial_key
from initsearch.compare.record import RunRecord
from initsearch.compare.schemes import REFERENCE
from initsearch.contract import (
    MLFLOW_RUN_ID,
    REASON,
    RUN,
    STUDY_MLFLOW_PARENT,
)
from initsearch.data.shape import data_shape
from initsearch.errors import ConfigError
from initsearch.train.curve import time_to_target

SUMMARY_KEYS = (
    "first_epoch_test_accuracy",
    "test_accuracy",
    "test_loss",
    "first_epoch_accuracy",
    "final_accuracy",
    "best_accuracy",
    "final_val_loss",
    "area_under_loss",
    "epochs_to_target",
    "seconds_to_target",
    "train_seconds",
    "chance_accuracy",
)
"""A run's summary in the contract: the test split's figures, the validation split's (what
the search optimised: first_epoch_accuracy, final_accuracy, best_accuracy, final_val_loss),
then training loss and time, and the training labels' chance accuracy. A key the stored record
lacks reads as None."""
REFERENCE_FRACTION = 0.9


def _pick(trials: list[FrozenTrial]) -> FrozenTrial | None:
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    pool = done or failed
    return max(pool, key=lambda t: t.number) if pool else None


def class_count(plan: ComparePlan) -> int | None:
    """The class count of the plan's data set when known without loading it (a named set);
    None for a researcher's own data."""
    data = plan.cfg.data
    if data.factory is not None:
        return None
    try:
        return data_shape(data.name).num_classes
    except (KeyError, ConfigError):  # a name this version does not know
        return None


def to_run(trial: FrozenTrial, seed: int, num_classes: int | None = None) -> dict[str, Any]:
    """One run of the contract from a finished trial (``num_classes`` judges a record stored
    before the no-progress flag, see the module docstring)."""
    record = RunRecord.from_dict(trial.user_attrs.get(RUN))
    failed = trial.state == TrialState.FAIL
    return {
        "seed": seed,
        "status": "failed" if failed else record.status,
        "no_progress": False if failed else record.no_progress(num_classes),
        "reason": trial.user_attrs.get(REASON) if failed else record.reason,
        "summary": {k: record.summary.get(k) for k in SUMMARY_KEYS},
        "curve": record.curve,
        "scales": record.scales,
        "log_emergence": record.log_emergence,
        "emergence_zero": record.emergence_zero,
        "dead_fraction": record.dead_fraction,
        "log_emergence_relative": record.log_emergence_relative,
        "relative_emergence_zero": record.relative_emergence_zero,
        "trial": trial.number,
        "mlflow_run_id": trial.user_attrs.get(MLFLOW_RUN_ID),
    }


def apply_target(run: dict[str, Any], target: float | None) -> None:
    """Epochs (1-based) and training seconds until the TEST accuracy first reaches
    ``target``; None when it never does, when the run has no test curve, or with no target."""
    acc, secs = run["curve"].get(ACCURACY_CURVE) or [], run["curve"].get("epoch_seconds") or []
    epochs, seconds = time_to_target(acc, secs, target)
    run["summary"]["epochs_to_target"], run["summary"]["seconds_to_target"] = epochs, seconds


def choose_target(plan: ComparePlan, schemes: list[dict[str, Any]]) -> tuple[float | None, str]:
    """(target accuracy, where it came from) per the module docstring."""
    if plan.target is not None:
        return plan.target, "option"
    if plan.study.objective.target_accuracy is not None:
        return plan.study.objective.target_accuracy, "study"
    finals = [
        r["summary"][TEST_ACCURACY]
        for s in schemes
        if s["name"] == REFERENCE
        for r in s["runs"]
        if r["status"] == "completed" and r["summary"].get(TEST_ACCURACY) is not None
    ]
    if not finals:
        return None, "none"
    value = math.floor(REFERENCE_FRACTION * sum(finals) / len(finals) * 100) / 100
    return (value, "reference") if value > 0 else (None, "none")


def collect(plan: ComparePlan, study: optuna.Study | None) -> dict[str, Any]:
    """The contract's top-level fields and ``schemes`` (statistics are added by
    :func:`initsearch.compare.analysis.analyse`)."""
    by_key: dict[Any, list[FrozenTrial]] = {}
    for t in study.get_trials(deepcopy=False) if study is not None else []:
        key = trial_key(t)
        if key is not None:
            by_key.setdefault(key, []).append(t)
    schemes = []
    classes = class_count(plan)
    for scheme in plan.schemes:
        runs = []
        for seed in plan.seeds:
            trial = _pick(by_key.get(plan.key(scheme, seed), []))
            if trial is not None:
                runs.append(to_run(trial, seed, classes))
        schemes.append({"name": scheme.name, "init": scheme.init.to_dict(), "runs": runs})
    target, source = choose_target(plan, schemes)
    for s in schemes:
        for run in s["runs"]:
            apply_target(run, target)
    attrs = study.user_attrs if study is not None else {}
    searched = plan.searched
    return {
        "study": plan.study.name,
        "seeds": list(plan.seeds),
        "reference": REFERENCE,
        "correction": "holm",
        "target_accuracy": target,
        "target_source": source,
        "layer_names": list(plan.info.names),
        "layer_depths": list(plan.info.depths),
        "epochs": plan.cfg.train.epochs,
        "comparison_study": plan.name,
        "storage": plan.storage_url,
        "tracking_uri": stores.recorded_tracking_uri(study, plan.cfg.workdir) if study else None,
        "mlflow_parent_run_id": attrs.get(STUDY_MLFLOW_PARENT),
        "searched_best": (
            {"trial": searched.trial, "value": searched.value} if searched is not None else None
        ),
        "schemes": schemes,
    }
