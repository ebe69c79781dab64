"""Ranks of completed trials, one rule for every view (``study status``, ``study report``,
``study list``, the exports).

Competition ranking ("1224"): a trial's rank is 1 + the number of completed trials strictly
better on the first objective, so tied trials share the better rank and the next rank is
skipped. Ordinal ranks (position in a sorted list) would give tied trials different ranks that
depend on sort stability, and two views of one study would disagree (14/16 vs 13/16).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from optuna.trial import FrozenTrial, TrialState


def competition_rank(value: float, values: Sequence[float], maximise: bool) -> int:
    """1 + the number of ``values`` strictly better than ``value``."""
    if maximise:
        return 1 + sum(v > value for v in values)
    return 1 + sum(v < value for v in values)


def trial_ranks(trials: Iterable[FrozenTrial], maximise: bool) -> dict[int, int]:
    """Trial number -> competition rank among the COMPLETE trials (first objective)."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    values = [t.values[0] for t in done]
    return {t.number: competition_rank(t.values[0], values, maximise) for t in done}
