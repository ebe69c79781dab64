"""Which searched parameters mattered: fANOVA importances over the trials that can tell.

Optuna's importance evaluators assess only parameters present in *every* trial they are
given. Baselines enqueued without parameters (Xavier, LPS, GradInit) carry none, so the
evaluators are given a copy of the study holding only the COMPLETE trials that carry every
searched parameter (``importance_trials``, ``importance_study``). fANOVA is seeded, so a report
written twice gives the same numbers; the first objective is the one explained.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from optuna.importance import FanovaImportanceEvaluator

MIN_IMPORTANCE_TRIALS = 3
FANOVA_SEED = 0


def importance_trials(study: optuna.Study) -> tuple[list[FrozenTrial], list[str]]:
    """COMPLETE trials carrying every searched parameter, and those parameters' names."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    names = sorted({p for t in complete for p in t.params})
    kept = [t for t in complete if names and all(p in t.params for p in names)]
    return kept, names


def importance_study(study: optuna.Study) -> optuna.Study:
    """An in-memory copy of the study holding only ``importance_trials`` (for Optuna's
    importance evaluators and ``plot_param_importances``)."""
    kept, _ = importance_trials(study)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created in memory" line
    try:
        copy = optuna.create_study(directions=study.directions)
    finally:
        optuna.logging.set_verbosity(verbosity)
    copy.add_trials(kept)
    return copy


def fanova() -> FanovaImportanceEvaluator:
    """The seeded fANOVA evaluator every importance in a report comes from."""
    from optuna.importance import FanovaImportanceEvaluator

    return FanovaImportanceEvaluator(seed=FANOVA_SEED)


def param_importances(study: optuna.Study) -> dict[str, Any]:
    """fANOVA importances of the searched parameters for the first objective, or a
    ``skipped`` line saying why they cannot be computed yet."""
    kept, names = importance_trials(study)
    base = {"method": "fanova", "n_trials": len(kept), "params": names}
    if not names:
        return {**base, "skipped": "no completed trial carries searched parameters yet"}
    if len(kept) < MIN_IMPORTANCE_TRIALS:
        return {
            **base,
            "skipped": f"needs at least {MIN_IMPORTANCE_TRIALS} completed trials with every "
            f"searched parameter, the study has {len(kept)}; run more trials",
        }
    if len({t.values[0] for t in kept}) < 2:
        return {**base, "skipped": "every completed trial has the same value; nothing to explain"}
    from optuna.importance import get_param_importances

    try:
        values = get_param_importances(
            importance_study(study), evaluator=fanova(), target=lambda t: t.values[0]
        )
    except (ValueError, RuntimeError) as err:  # Optuna rejects degenerate trial sets
        return {**base, "skipped": f"Optuna could not evaluate importances: {err}"}
    return {**base, "values": {k: float(v) for k, v in values.items()}}
