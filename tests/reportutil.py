"""Hand-made studies for the report tests: real Optuna studies (in memory) holding trials as
the driver records them, so a report's every section can be checked in milliseconds."""

from __future__ import annotations

import math

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from initsearch import contract
from initsearch.confirm.verdict import Arm, decide

LAYERS, DEPTHS = ["a", "b", "c"], [0, 1, 2]


def study_with(trials: list[FrozenTrial]) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.set_user_attr(contract.STUDY_LAYER_NAMES, LAYERS)
    study.set_user_attr(contract.STUDY_LAYER_DEPTHS, DEPTHS)
    study.add_trials(trials)
    return study


def trial(
    value: float,
    scales: list[float],
    baseline: str | None = None,
    scheme: str = "kaiming",
    state: TrialState = TrialState.COMPLETE,
    log_e: float | None = None,
    options: dict | None = None,
) -> FrozenTrial:
    """A trial as the driver records it: applied scales, init, a validation curve ending at
    ``value``, and log E at init when given (absent: E = 0 or not measured)."""
    dists = {f"log_scale_{i}": FloatDistribution(-2.0, 2.0) for i in range(len(scales))}
    params = {f"log_scale_{i}": math.log(s) for i, s in enumerate(scales)}
    attrs: dict = {
        contract.APPLIED_SCALES: scales,
        contract.INIT: {"scheme": scheme, "options": options or {}},
        contract.VAL_ACCURACY_CURVE: [0.3, (0.3 + value) / 2, value],
    }
    if log_e is not None:
        attrs[contract.LOG_EMERGENCE] = log_e
    if baseline:
        attrs[contract.BASELINE] = baseline
        params, dists = {}, {}
    return create_trial(
        state=state,
        value=value if state == TrialState.COMPLETE else None,
        params=params,
        distributions=dists,
        user_attrs=attrs,
    )


def full_study() -> optuna.Study:
    """Six searched trials (one with E = 0 at init), and the baselines kaiming, the emergence
    rule, LPS (records no factors: all ones) and GradInit (a learned profile)."""
    searched = [
        trial(0.80, [0.9, 1.0, 1.1], log_e=-1.0),
        trial(0.86, [0.8, 1.0, 1.3], log_e=-0.5),
        trial(0.70, [1.5, 1.0, 0.6], log_e=-2.0),
        trial(0.75, [1.2, 1.1, 0.9]),  # E = 0 at init: no finite log E stored
        trial(0.83, [0.85, 1.0, 1.2], log_e=-0.7),
        trial(0.78, [1.0, 1.05, 1.0], log_e=-1.2),
    ]
    rule = [1.1 ** (d - 1) for d in DEPTHS]
    baselines = [
        trial(0.79, [1.0, 1.0, 1.0], baseline="kaiming", log_e=-1.1),
        trial(0.82, rule, "emergence(alpha=1.1)", "emergence", log_e=-0.8, options={"alpha": 1.1}),
        trial(0.77, [1.0, 1.0, 1.0], baseline="lps", scheme="lps", log_e=-1.3),
        trial(0.81, [1.2, 0.9, 1.1], baseline="gradinit", scheme="gradinit", log_e=-0.9),
    ]
    return study_with(searched + baselines)


def keep_a_verdict(study: optuna.Study) -> str:
    """Store a verdict on ``study`` as ``initsearch study confirm`` keeps it; its sentence."""
    seeds = (0, 1, 2, 3)
    arms = [
        Arm("searched#1", "searched", (0.86, 0.85, 0.87, 0.86), (0.85, 0.86, 0.86, 0.85)),
        Arm("kaiming", "baseline", (0.80, 0.79, 0.81, 0.80), (0.79, 0.80, 0.80, 0.78)),
        Arm("emergence(alpha=1.1)", "baseline", (0.82, 0.81, 0.83, 0.82), (0.81, 0.82, 0.8, 0.81)),
    ]
    verdict = decide(arms, seeds, "test_accuracy", True)
    searched = sum(contract.BASELINE not in t.user_attrs for t in study.trials)
    record = {
        "verdict": verdict.to_dict(),
        "sentence": verdict.sentence,
        "searched_trials_seen": searched,
    }
    study.set_user_attr(contract.STUDY_VERDICT, record)
    return verdict.sentence
