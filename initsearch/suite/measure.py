"""The measure question: does the rule raise the emergence measure, and does the measure at
init predict first-epoch accuracy?

Two thresholds (``initsearch.inits.measurement.diagnostics``): the paper's absolute one (a unit
is active when its mean |activation| on a batch exceeds 0.05) and a scale-free one (above a
fixed fraction of its layer's mean activity). The rule only rescales layers, so on a bias-free
ReLU network it cannot move the scale-free measure (positive homogeneity); whatever it does to
the absolute one is the threshold meeting a rescaled activation.

Prediction: per setting, over the runs that trained (completed, not "no progress"; failed and
diverged runs are set aside), Spearman's rho between log E at init and first-epoch test
accuracy over all runs, and the partial rank correlation given the arm (ranks centred within
each arm, then correlated: do runs with a higher E *than their own arm's other seeds* learn
faster?). Between arms, E and accuracy can both follow the scale without one predicting the
other; within an arm, only the seed moves them. An E = 0 run (log E = -inf) takes the lowest
rank. p-values of the partial correlations are Holm-adjusted across settings, per threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from initsearch.compare.metrics import FIRST_EPOCH_TEST_ACCURACY
from initsearch.compare.stats import holm
from initsearch.report.profile_schemes import is_rule
from initsearch.suite.tables import DASH, Table, find_arm, number

MEASURES = {
    "absolute": ("log_emergence", "emergence_zero"),
    "relative": ("log_emergence_relative", "relative_emergence_zero"),
}


def log_e(run: dict[str, Any], measure: str) -> float | None:
    key, zero = MEASURES[measure]
    if run.get(zero):
        return -math.inf
    value = run.get(key)
    return float(value) if value is not None else None


def trained(run: dict[str, Any]) -> bool:
    return run["status"] == "completed" and not run.get("no_progress")


@dataclass(frozen=True)
class Partial:
    n: int
    groups: int
    rho: float | None  # Spearman over all runs
    partial: float | None  # rank correlation within arms
    p: float | None


def partial_spearman(x: Sequence[float], y: Sequence[float], groups: Sequence[str]) -> Partial:
    """Spearman's rho of (x, y), and the rank correlation after removing each group's mean
    rank (a partial correlation given the group), with its two-sided t-test p
    (df = n - groups - 1)."""
    from scipy import stats

    n, k = len(x), len(set(groups))
    if n < 3:
        return Partial(n, k, None, None, None)
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    rho = float(np.corrcoef(rx, ry)[0, 1]) if np.std(rx) and np.std(ry) else None
    labels = np.asarray(groups)
    cx, cy = rx.copy(), ry.copy()
    for g in set(groups):
        mask = labels == g
        cx[mask] -= rx[mask].mean()
        cy[mask] -= ry[mask].mean()
    df = n - k - 1
    if df < 1 or not np.any(cx) or not np.any(cy):
        return Partial(n, k, rho, None, None)
    r = float(np.dot(cx, cy) / math.sqrt(np.dot(cx, cx) * np.dot(cy, cy)))
    r = max(min(r, 1.0), -1.0)
    if abs(r) == 1.0:
        return Partial(n, k, rho, r, 0.0)
    t = r * math.sqrt(df / (1 - r * r))
    return Partial(n, k, rho, r, float(2 * stats.t.sf(abs(t), df)))


def prediction(comparison: dict[str, Any], measure: str) -> Partial:
    xs, ys, arms = [], [], []
    for arm in comparison["arms"]:
        for run in arm["runs"]:
            x, y = log_e(run, measure), run.get(FIRST_EPOCH_TEST_ACCURACY)
            if trained(run) and x is not None and y is not None:
                xs.append(x)
                ys.append(y)
                arms.append(arm["name"])
    return partial_spearman(xs, ys, arms)


def rule_arms(comparisons: list[dict[str, Any]]) -> list[str]:
    """The arms of a closed-form rule (the emergence rule at any alpha), in first-seen order."""
    names: list[str] = []
    for c in comparisons:
        names += [
            a["name"] for a in c["arms"] if is_rule(a["init"]["scheme"]) and a["name"] not in names
        ]
    return names


def _seeds(comparison: dict[str, Any], arm: str) -> dict[int, dict[str, Any]]:
    found = find_arm(comparison, arm)
    return {r["seed"]: r for r in found["runs"]} if found else {}


def shift_cell(comparison: dict[str, Any], arm: str, measure: str) -> str:
    """Mean paired change of log E from Kaiming's, by seed; E = 0 runs counted instead."""
    ref, other = _seeds(comparison, comparison["reference"] or "kaiming"), _seeds(comparison, arm)
    pairs = [(ref[s], other[s]) for s in ref if s in other]
    if not pairs:
        return ""
    values = [(log_e(a, measure), log_e(b, measure)) for a, b in pairs]
    values = [(a, b) for a, b in values if a is not None and b is not None]
    zeros = sum(b == -math.inf for _, b in values)
    finite = [b - a for a, b in values if math.isfinite(a) and math.isfinite(b)]
    text = number(float(np.mean(finite)), 1, signed=True) if finite else DASH
    return text + (f" (E=0 in {zeros}/{len(values)})" if zeros else "")


def reference_cell(comparison: dict[str, Any], measure: str) -> str:
    runs = _seeds(comparison, comparison["reference"] or "kaiming").values()
    measured = [v for r in runs if (v := log_e(r, measure)) is not None]
    values = [v for v in measured if math.isfinite(v)]
    zeros = len(measured) - len(values)
    text = number(float(np.mean(values)), 1) if values else DASH
    return text + (f" (E=0 in {zeros}/{len(measured)})" if zeros else "")


def shift_table(comparisons: list[dict[str, Any]], measure: str) -> Table:
    arms = rule_arms(comparisons)
    return Table(
        id=f"measure-rule-{measure}",
        title=f"Does the rule raise log E? ({measure} threshold)",
        columns=["setting", "log E, Kaiming", *[f"Δ {a}" for a in arms]],
        rows=[
            [c["label"], reference_cell(c, measure), *[shift_cell(c, a, measure) for a in arms]]
            for c in comparisons
        ],
        caption=(
            f"Natural log of the emergence measure at init, {measure} threshold: Kaiming's "
            "mean over seeds, then each rule arm's mean change from it by seed (> 0: the rule "
            "raised it)."
        ),
    )


def prediction_table(comparisons: list[dict[str, Any]]) -> Table:
    found = {m: [prediction(c, m) for c in comparisons] for m in MEASURES}
    adjusted = {m: holm([p.p for p in found[m]]) for m in MEASURES}
    rows = []
    for i, c in enumerate(comparisons):
        row = [c["label"], str(found["absolute"][i].n)]
        for m in MEASURES:
            p = found[m][i]
            row += [number(p.rho, 2), number(p.partial, 2), number(adjusted[m][i], 3)]
        rows.append(row)
    return Table(
        id="measure-predicts",
        title="Does log E at init predict first-epoch test accuracy?",
        columns=[
            "setting",
            "runs",
            "ρ abs.",
            "within-arm ρ abs.",
            "p (Holm) abs.",
            "ρ rel.",
            "within-arm ρ rel.",
            "p (Holm) rel.",
        ],
        rows=rows,
        caption=(
            "Runs that trained (completed, not 'no progress'). ρ: Spearman over all of them; "
            "within-arm ρ: ranks centred within each arm, i.e. given the arm; p: its t-test, "
            "Holm-adjusted across settings per threshold."
        ),
    )


def measure_tables(comparisons: list[dict[str, Any]]) -> list[Table]:
    done = [c for c in comparisons if c["arms"] and c.get("reference")]
    if not done:
        return []
    return [shift_table(done, "absolute"), shift_table(done, "relative"), prediction_table(done)]
