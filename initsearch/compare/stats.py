"""Statistics of a comparison: means with t intervals, paired tests against the reference by
seed, Holm's correction, paired effect sizes, Spearman correlations, and the seed noise that
bounds the smallest difference a paired design detects.

Choices, and why:
- **Primary test: the paired t-test** on the per-seed differences (scheme - reference). With the
  few seeds a comparison affords (5 is typical), the exact two-sided Wilcoxon signed-rank test
  cannot go below p = 2/2**n (0.0625 at n = 5), so it could never reject at 0.05; the t-test can,
  at the price of assuming roughly normal differences. The Wilcoxon p is reported beside it
  (``wilcoxon_p``) when n >= 6 as a check of that assumption, never used for the decision.
- **Pairing**: seed s of every scheme sees the same data order (and, where the scheme allows,
  the same base weights), so differences are taken within a seed. Only seeds where both runs
  have a finite value enter the test.
- **Multiple comparisons: Holm's step-down correction** across the schemes compared with the
  reference, separately per metric (one family per metric). It controls the family-wise error
  rate like Bonferroni under any dependence, and is uniformly more powerful.
- **Effect size: Cohen's d_z** = mean(d) / sd(d) of the paired differences (sd with n - 1). It
  is what the paired t-test measures (t = d_z sqrt(n)). Identical differences (up to float
  rounding) have sd 0: d_z is +-inf (written as null in JSON) with p = 0 when they are non-zero,
  and 0 with p = 1 when they are all zero (a scheme identical to the reference).
- Confidence intervals are two-sided 95% Student-t intervals; one value has no interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

CONFIDENCE = 0.95
ALPHA = 0.05
SPREAD_TOL = 1e-12
"""Differences whose spread is below this (relative) are identical up to float rounding
(0.6 - 0.5 vs 0.7 - 0.6): treated as having no spread at all."""
MIN_WILCOXON = 6
"""Below 6 pairs the exact two-sided Wilcoxon p cannot reach 0.05 (its floor is 2 / 2**n)."""


def finite(values: Sequence[float | None]) -> np.ndarray:
    """The finite values of ``values`` (None, NaN and +-inf dropped) as a float array."""
    out = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return np.asarray(out, dtype=float)


def _t_quantile(df: int, confidence: float = CONFIDENCE) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + confidence / 2, df))


@dataclass(frozen=True)
class MeanCI:
    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None


def mean_ci(values: Sequence[float | None], confidence: float = CONFIDENCE) -> MeanCI:
    """Mean and Student-t interval of the finite values; no interval for fewer than two."""
    x = finite(values)
    n = len(x)
    if n == 0:
        return MeanCI(0, None, None, None)
    mean = float(x.mean())
    if n == 1:
        return MeanCI(1, mean, None, None)
    half = _t_quantile(n - 1, confidence) * float(x.std(ddof=1)) / math.sqrt(n)
    return MeanCI(n, mean, mean - half, mean + half)


def cohens_dz(diffs: Sequence[float]) -> float:
    """Mean over standard deviation (n - 1) of paired differences; see the module notes for
    differences with no spread."""
    d = np.asarray(diffs, dtype=float)
    if len(d) < 2:
        return math.nan
    sd = float(d.std(ddof=1))
    mean = float(d.mean())
    if sd == 0.0:
        return 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / sd


@dataclass(frozen=True)
class PairedTest:
    """A scheme against the reference over the seeds both have: d = scheme - reference."""

    n: int
    diff: float
    ci_low: float
    ci_high: float
    test: str
    p: float
    effect_size: float
    wilcoxon_p: float | None


def paired_test(
    x: Sequence[float | None], y: Sequence[float | None], confidence: float = CONFIDENCE
) -> PairedTest | None:
    """Paired t-test of ``x`` against ``y`` (aligned by seed), pairs with a non-finite or
    missing side dropped; None when fewer than two pairs remain."""
    from scipy import stats

    if len(x) != len(y):
        raise ValueError(f"paired samples differ in length: {len(x)} vs {len(y)}")
    pairs = [
        (float(a), float(b))
        for a, b in zip(x, y, strict=True)
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)
    ]
    n = len(pairs)
    if n < 2:
        return None
    d = np.asarray([a - b for a, b in pairs], dtype=float)
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd <= SPREAD_TOL * max(1.0, abs(mean)):  # scipy: NaN or noise here; the limit is exact
        sd, d = 0.0, np.full(n, mean)
        p = 1.0 if mean == 0.0 else 0.0
        low = high = mean
    else:
        p = float(stats.ttest_1samp(d, 0.0).pvalue)
        half = _t_quantile(n - 1, confidence) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    wilcoxon_p = None
    if n >= MIN_WILCOXON and np.any(d != 0):
        wilcoxon_p = float(stats.wilcoxon(d).pvalue)
    return PairedTest(n, mean, low, high, "paired t-test", p, cohens_dz(d), wilcoxon_p)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values in the input order (None stays None and is not counted).

    Sorted ascending, p_(i) (i = 0..m-1) becomes max_{j <= i} min(1, (m - j) p_(j)).
    """
    indexed = sorted(
        ((p, i) for i, p in enumerate(pvalues) if p is not None and not math.isnan(p)),
        key=lambda t: t[0],
    )
    m = len(indexed)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


@dataclass(frozen=True)
class Correlation:
    x: str
    y: str
    n: int
    spearman_r: float | None
    p: float | None


def spearman(
    x: Sequence[float | None], y: Sequence[float | None], x_name: str, y_name: str
) -> Correlation:
    """Spearman's rank correlation over pairs where neither value is missing or NaN (three or
    more). Infinities are kept: they are the extreme ranks (log E = -inf is "no emergence at
    all", the lowest). A constant side has no correlation (None)."""
    from scipy import stats

    pairs = [
        (float(a), float(b))
        for a, b in zip(x, y, strict=True)
        if a is not None and b is not None and not math.isnan(a) and not math.isnan(b)
    ]
    n = len(pairs)
    if n < 3:
        return Correlation(x_name, y_name, n, None, None)
    a, b = np.asarray(pairs, dtype=float).T
    if np.all(a == a[0]) or np.all(b == b[0]):
        return Correlation(x_name, y_name, n, None, None)
    result = stats.spearmanr(a, b)
    r, p = float(result.statistic), float(result.pvalue)
    return Correlation(
        x_name, y_name, n, r if math.isfinite(r) else None, p if math.isfinite(p) else None
    )


def detectable_difference(
    sd_diff: float | None, n: int, alpha: float = ALPHA, power: float = 0.8
) -> float | None:
    """The smallest true mean difference a two-sided paired t-test on ``n`` pairs detects with
    probability ``power`` at level ``alpha``: d_z* sd_diff, where d_z* is the effect size
    (mean / sd of the differences) at which the noncentral t with n - 1 degrees of freedom and
    noncentrality d_z sqrt(n) exceeds the critical value with that probability (statsmodels'
    ``TTestPower``). None for fewer than two pairs or an unknown spread; 0 for no spread."""
    if n < 2 or sd_diff is None or not math.isfinite(sd_diff):
        return None
    if sd_diff == 0.0:
        return 0.0
    from statsmodels.stats.power import TTestPower

    effect = TTestPower().solve_power(
        effect_size=None, nobs=n, alpha=alpha, power=power, alternative="two-sided"
    )
    return abs(float(effect)) * float(sd_diff)


@dataclass(frozen=True)
class SeedNoise:
    """How much a value moves from seed to seed, alone (``sd``) and as a paired difference
    between two arms on the same seed (``sd_diff``).

    ``sd_diff``, not ``sd``, decides what a paired design detects: the paired t-test divides
    the mean difference by sd_diff / sqrt(n). With a shared seed effect (same data order for
    every arm) sd_diff**2 = 2 sd**2 (1 - rho), rho the correlation of two arms across seeds,
    so the seed effect cancels and sd_diff can be far below sd sqrt(2). ``sd`` is reported
    for reading the intervals of single arms. None where not estimable (too few values)."""

    sd: float | None
    sd_diff: float | None
    n_seeds: int
    n_arms: int

    def detectable(self, n: int, alpha: float = ALPHA, power: float = 0.8) -> float | None:
        """:func:`detectable_difference` at ``n`` pairs with this noise's ``sd_diff``."""
        return detectable_difference(self.sd_diff, n, alpha, power)


def _pooled_sd(samples: list[np.ndarray]) -> float | None:
    """sqrt(sum (k - 1) var_k / sum (k - 1)) over samples of two or more values (ddof 1)."""
    used = [x for x in samples if len(x) >= 2]
    dof = sum(len(x) - 1 for x in used)
    if dof == 0:
        return None
    return math.sqrt(sum((len(x) - 1) * float(x.var(ddof=1)) for x in used) / dof)


def seed_noise(values_by_arm: Mapping[str, Sequence[float | None]]) -> SeedNoise:
    """Seed noise of arms whose values are aligned by seed (None, NaN, +-inf = missing).

    ``sd``: the pooled within-arm standard deviation over arms with two or more finite values.
    ``sd_diff``: the pooled standard deviation of the paired differences of every pair of arms
    over the seeds both have (two or more). ``n_seeds``: the most finite values of one arm;
    ``n_arms``: the arms with any finite value."""
    arrays = {
        k: np.array([math.nan if v is None else float(v) for v in vs], dtype=float)
        for k, vs in values_by_arm.items()
    }
    lengths = {len(x) for x in arrays.values()}
    if len(lengths) > 1:
        raise ValueError(f"values_by_arm must be aligned by seed; lengths differ: {lengths}")
    masks = {k: np.isfinite(x) for k, x in arrays.items()}
    names = [k for k in arrays if masks[k].any()]
    within = [arrays[k][masks[k]] for k in names]
    diffs = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            both = masks[a] & masks[b]
            diffs.append(arrays[a][both] - arrays[b][both])
    return SeedNoise(
        sd=_pooled_sd(within),
        sd_diff=_pooled_sd(diffs),
        n_seeds=max((len(x) for x in within), default=0),
        n_arms=len(names),
    )


def as_dict(value: Any) -> dict[str, Any]:
    return asdict(value)
