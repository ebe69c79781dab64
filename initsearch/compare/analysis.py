"""The comparison's statistics from its runs: the contract's ``stats`` and ``correlations``.

The metrics are test-split figures (:mod:`initsearch.compare.metrics`). Which runs count (see
:mod:`initsearch.compare.stats` for the tests themselves):
- Only *completed* runs give values. A diverged run (or a failed one) has no meaningful final
  accuracy or loss; it is left out of every metric's mean and test and counted in ``diverged``
  (``failed`` likewise). A completed run that made no progress (``no_progress``: it ended at
  chance or with a flat loss, :mod:`initsearch.train.curve`) STAYS in the means and tests: its
  accuracy is a real outcome (the scheme failed to train); ``no_progress`` counts such runs.
  A pair where either side did not complete is dropped from the paired
  test, so ``vs_reference.n`` can be smaller than the number of seeds. A completed run without
  test figures (stored before comparisons measured the test split) has no value either.
- ``epochs_to_target``: the mean and interval are over the runs that reached the target (``n``);
  ``not_reached`` counts completed runs with a test curve that did not. In the paired test such
  a run is censored at ``epochs + 1`` (it would need at least one more epoch than the budget),
  a conservative choice: the true difference is at least as large. With no target accuracy
  (none given and no completed reference run) the metric has no values.
- Correlations: Spearman's rho between the emergence measure at init (``log_emergence``) and
  first-epoch / final test accuracy over all completed runs of all schemes with a measure. Runs
  with E = 0 (log E = -inf, ``emergence_zero``; e.g. LeCun normal on a deep ReLU net, whose deep
  layers fall below the activity threshold) take the lowest rank rather than being dropped.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from initsearch.compare.metrics import (
    CORRELATED,
    EPOCHS_TO_TARGET,
    METRICS,
    SPLIT,
    TEST_ACCURACY,
)
from initsearch.compare.stats import (
    ALPHA,
    CONFIDENCE,
    MIN_WILCOXON,
    holm,
    mean_ci,
    paired_test,
    spearman,
)
from initsearch.train.curve import NO_PROGRESS_MARGIN, UNIFORM_LOSS_FRACTION


def run_value(run: dict[str, Any] | None, metric: str) -> float | None:
    """A completed run's value of ``metric`` (None when it did not complete or has none)."""
    if run is None or run["status"] != "completed":
        return None
    value = run["summary"].get(metric)
    return float(value) if value is not None else None


def measured(run: dict[str, Any] | None) -> bool:
    """A completed run with a final test accuracy (one that measured the test split)."""
    return run_value(run, TEST_ACCURACY) is not None


def paired_value(run: dict[str, Any] | None, metric: str, censor: float | None) -> float | None:
    """The value a paired test uses: as :func:`run_value`, with a measured run that never
    reached the target censored at ``censor``."""
    value = run_value(run, metric)
    if value is None and metric == EPOCHS_TO_TARGET and censor is not None and measured(run):
        return censor
    return value


def no_progress(run: dict[str, Any]) -> bool:
    """A completed run flagged as making no progress (a run of an older version without the
    flag, or whose flag could not be judged, is not counted)."""
    return run["status"] == "completed" and bool(run.get("no_progress"))


class NotTrained(NamedTuple):
    """Runs of one arm that did not train: left out of the means (diverged, failed) or kept in
    them (no progress)."""

    diverged: int
    failed: int
    no_progress: int


def not_trained(runs: list[dict[str, Any]]) -> NotTrained:
    """Count ``runs`` (collected run records, or suite.json's) that did not train."""
    return NotTrained(
        sum(r["status"] == "diverged" for r in runs),
        sum(r["status"] == "failed" for r in runs),
        sum(no_progress(r) for r in runs),
    )


def _by_seed(scheme: dict[str, Any], seeds: list[int]) -> list[dict[str, Any] | None]:
    runs = {r["seed"]: r for r in scheme["runs"]}
    return [runs.get(s) for s in seeds]


def scheme_stats(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (scheme, metric): mean, interval, counts, and the test against the
    reference with Holm-adjusted p across the schemes (one family per metric)."""
    seeds = payload["seeds"]
    reference = next((s for s in payload["schemes"] if s["name"] == payload["reference"]), None)
    ref_runs = _by_seed(reference, seeds) if reference else [None] * len(seeds)
    target = payload.get("target_accuracy")
    censor = float(payload["epochs"] + 1) if target is not None and payload.get("epochs") else None
    rows: list[dict[str, Any]] = []
    for metric in METRICS:
        family: list[tuple[dict[str, Any], Any]] = []
        for scheme in payload["schemes"]:
            runs = _by_seed(scheme, seeds)
            present = [r for r in runs if r is not None]
            summary = mean_ci([run_value(r, metric) for r in runs])
            row: dict[str, Any] = {
                "scheme": scheme["name"],
                "metric": metric,
                "n": summary.n,
                "mean": summary.mean,
                "ci_low": summary.ci_low,
                "ci_high": summary.ci_high,
                **not_trained(present)._asdict(),
                "runs": len(present),
                "vs_reference": None,
            }
            if metric == EPOCHS_TO_TARGET:
                row["not_reached"] = (
                    sum(measured(r) and r["summary"].get(metric) is None for r in present)
                    if target is not None
                    else None
                )
            rows.append(row)
            if reference is None or scheme["name"] == payload["reference"]:
                continue
            test = paired_test(
                [paired_value(r, metric, censor) for r in runs],
                [paired_value(r, metric, censor) for r in ref_runs],
            )
            if test is not None:
                family.append((row, test))
        adjusted = holm([t.p for _, t in family])
        for (row, test), p_adj in zip(family, adjusted, strict=True):
            assert p_adj is not None
            row["vs_reference"] = {
                "n": test.n,
                "diff": test.diff,
                "ci_low": test.ci_low,
                "ci_high": test.ci_high,
                "test": test.test,
                "p": test.p,
                "p_adjusted": p_adj,
                "effect_size": test.effect_size,
                "significant": bool(p_adj < ALPHA),
                "wilcoxon_p": test.wilcoxon_p,
            }
    return rows


def correlations(payload: dict[str, Any]) -> list[dict[str, Any]]:
    runs = [r for s in payload["schemes"] for r in s["runs"] if r["status"] == "completed"]
    x = [-math.inf if r.get("emergence_zero") else r.get("log_emergence") for r in runs]
    out = []
    for metric in CORRELATED:
        c = spearman(x, [run_value(r, metric) for r in runs], "log_emergence", metric)
        out.append({"x": c.x, "y": c.y, "n": c.n, "spearman_r": c.spearman_r, "p": c.p})
    return out


def analyse(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` (from :func:`initsearch.compare.collect.collect`) with ``stats``,
    ``correlations`` and a description of the methods added."""
    payload = dict(payload)
    payload["stats"] = scheme_stats(payload)
    payload["correlations"] = correlations(payload)
    payload["metrics"] = {m: {"higher_is_better": h} for m, h in METRICS.items()}
    payload["methods"] = {
        "split": f"{SPLIT} split (held out from the search, which saw validation only)",
        "confidence": CONFIDENCE,
        "alpha": ALPHA,
        "primary_test": "paired t-test on per-seed differences (scheme - reference)",
        "secondary_test": f"Wilcoxon signed-rank (wilcoxon_p), when n >= {MIN_WILCOXON}",
        "effect_size": "Cohen's d_z = mean(diff) / sd(diff)",
        "correction": "Holm across schemes, per metric",
        "excluded": "diverged and failed runs (counted), and pairs missing either side",
        "no_progress": (
            f"completed runs whose final validation accuracy is below chance + "
            f"{NO_PROGRESS_MARGIN:g} or whose final epoch's training loss is at least "
            f"{UNIFORM_LOSS_FRACTION:g} x ln(classes) (chance: the most common training class's "
            "frequency); counted, and kept in the means and tests: not learning is the "
            "scheme's real outcome"
        ),
        "epochs_to_target_censoring": "not reached -> epochs + 1 in the test only",
    }
    return payload
