"""The study's verdict: does a searched configuration beat the best baseline on fresh seeds?

The rules (they are the product):
1. The BEST BASELINE is chosen on VALIDATION: the highest mean validation value (lowest for a
   minimised metric) among the baselines, ties by name. Choosing it on test would pick the
   baseline that was luckiest on the very data that judges, and bias the bar.
2. Every arm is then JUDGED ON TEST. A searched arm against the best baseline: paired t-test
   on the per-seed test differences, oriented so that positive = better (arm - baseline when
   maximising, baseline - arm when minimising), with a 95% t interval. Seeds where either side
   has no value (failed, diverged, missing) are dropped from that test; its n says how many
   pairs remained.
3. Holm's correction across the searched arms, one family: "some searched configuration beats
   the best baseline" is the claim. The other baselines against the best baseline are a second
   family of their own, reported for information only.
4. A searched arm BEATS the best baseline when its Holm-adjusted p < alpha and its difference
   is positive. The winner is the beating arm with the largest mean improvement.
5. Outcome: "searched-wins" with a winner; "baseline-better" when no searched arm beats and
   every searched arm is significantly worse; "no-difference" otherwise; "no-search" when there
   is no searched arm. No baseline is an error.
6. The smallest detectable difference (80% power) uses the seed noise of the arms the claim
   compares: the searched arms and the best baseline (their test values' paired sd,
   :class:`~initsearch.compare.stats.SeedNoise`; every arm when there is no searched one), so
   an unstable baseline that is not the bar cannot inflate it. It is taken at the largest n of
   the searched tests and at level alpha / m (m searched tests): under Holm, a single true
   improvement must reach that level to be declared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from initsearch.compare.stats import ALPHA, PairedTest, holm, mean_ci, paired_test, seed_noise
from initsearch.jsonsafe import finite_or_none

Kind = Literal["baseline", "searched"]
Outcome = Literal["searched-wins", "no-difference", "baseline-better", "no-search"]
METRIC_NAMES = {
    "test_accuracy": "test accuracy",
    "test_loss": "test loss",
    "first_epoch_test_accuracy": "first-epoch test accuracy",
}
SEARCHED, BASELINES = "searched", "baselines"  # the two Holm families


def metric_name(metric: str) -> str:
    """How a sentence names ``metric``: ``test_loss`` -> ``test loss``."""
    return METRIC_NAMES.get(metric, metric.replace("_", " "))


@dataclass(frozen=True)
class Arm:
    """One confirmed configuration: its values per seed (aligned with the verdict's seeds;
    None = that run failed, diverged or is missing) and how many of its runs did not train."""

    name: str
    kind: Kind
    val: tuple[float | None, ...]
    test: tuple[float | None, ...]
    diverged: int = 0
    failed: int = 0
    no_progress: int = 0  # completed runs that did not learn (their values are kept)


@dataclass(frozen=True)
class VerdictRow:
    """One arm on test, and against the best baseline (``diff`` > 0 = better). ``n``: runs with
    a test value; ``n_pairs``: seeds in the paired test. ``family``: its Holm family
    ("searched" or "baselines"), None for the best baseline itself and arms with no test.
    ``diverged`` / ``failed`` / ``no_progress``: its runs that did not train."""

    arm: str
    kind: Kind
    n: int
    test_mean: float | None
    test_ci_low: float | None
    test_ci_high: float | None
    val_mean: float | None
    n_pairs: int = 0
    diff: float | None = None
    diff_ci_low: float | None = None
    diff_ci_high: float | None = None
    p: float | None = None
    p_adjusted: float | None = None
    significant: bool = False
    family: str | None = None
    diverged: int | None = None  # None: a verdict kept by an older version (counts unknown)
    failed: int | None = None
    no_progress: int | None = None


@dataclass(frozen=True)
class Verdict:
    """A confirmation's outcome by the rules above, its rows, and its noise; ``sentence`` says
    it in one line."""

    outcome: Outcome
    metric: str
    maximize: bool
    best_baseline: str
    winner: str | None
    rows: list[VerdictRow]
    seeds: tuple[int, ...]
    n: int | None  # the pairs the detectable difference assumes
    detectable: float | None
    sd_seed: float | None  # pooled seed-to-seed sd of the test values
    sd_diff: float | None  # pooled sd of paired test differences between arms
    alpha: float = ALPHA
    power: float = 0.8

    def row(self, arm: str) -> VerdictRow:
        return next(r for r in self.rows if r.arm == arm)

    @property
    def sentence(self) -> str:
        metric, best = metric_name(self.metric), self.best_baseline
        if self.outcome == "no-search":
            row = self.row(best)
            value = "no value" if row.test_mean is None else f"{row.test_mean:.3f}"
            return (
                f"no searched configuration to confirm; the best baseline ({best}) has "
                f"{metric} {value} over {row.n} seeds"
            )
        if self.winner is not None:
            row = self.row(self.winner)
            return f"{self.winner} beats the best baseline ({best}) by {_versus(row, metric)}"
        if self.outcome == "baseline-better":
            searched = [r for r in self.rows if r.family == SEARCHED]
            row = max(searched, key=lambda r: r.diff or 0.0)
            return (
                f"the best baseline ({best}) beats every searched configuration on {metric}; "
                f"the closest, {row.arm}, differs by {_versus(row, metric)}"
            )
        at = f"{self.n} seeds" if self.n is not None else "these seeds"
        tail = (
            f"the smallest difference detectable at {at} was {self.detectable:.3f}"
            if self.detectable is not None
            else f"the smallest detectable difference could not be estimated at {at}"
        )
        return f"no searched configuration beats the best baseline ({best}) on {metric}; {tail}"

    def to_dict(self) -> dict[str, Any]:
        return finite_or_none(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        data = dict(data)
        data["rows"] = [VerdictRow(**r) for r in data["rows"]]
        data["seeds"] = tuple(data["seeds"])
        return cls(**data)


def did_not_train(diverged: int | None, failed: int | None, no_progress: int | None) -> str:
    """An arm's runs that did not train, in words: ``2 diverged, 1 no progress``; ``none``;
    ``-`` when unknown (a verdict kept by an older version)."""
    if diverged is None and failed is None and no_progress is None:
        return "-"
    counts = ((diverged, "diverged"), (failed, "failed"), (no_progress, "no progress"))
    parts = [f"{count} {what}" for count, what in counts if count]
    return ", ".join(parts) or "none"


def _versus(row: VerdictRow, metric: str) -> str:
    p = row.p_adjusted
    p_text = "< 0.001" if p is not None and p < 0.001 else f"{p:.2g}"
    return (
        f"{row.diff:+.3f} {metric} [95% CI {row.diff_ci_low:+.3f}, {row.diff_ci_high:+.3f}], "
        f"p_adj {p_text}, {row.n_pairs} seeds"
    )


def _check(arms: list[Arm], n_seeds: int) -> None:
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise ValueError(f"arm names must be distinct: {names}")
    for a in arms:
        if a.kind not in ("baseline", "searched"):
            raise ValueError(f"arm {a.name}: kind must be 'baseline' or 'searched', not {a.kind!r}")
        if len(a.val) != n_seeds or len(a.test) != n_seeds:
            raise ValueError(
                f"arm {a.name}: {len(a.val)} validation and {len(a.test)} test values for "
                f"{n_seeds} seeds; give one value (or None) per seed"
            )


def best_on_validation(baselines: list[Arm], maximize: bool) -> Arm:
    """Rule 1: the baseline with the best mean validation value, ties by name."""
    scored = [(m, a) for a in baselines if (m := mean_ci(a.val).mean) is not None]
    if not scored:
        raise ValueError(
            f"no baseline has a validation value ({[a.name for a in baselines]}): the best "
            "baseline is chosen on validation; rerun the failed baselines"
        )
    sign = -1.0 if maximize else 1.0
    return min(scored, key=lambda t: (sign * t[0], t[1].name))[1]


def decide(
    arms: Sequence[Arm],
    seeds: Sequence[int],
    metric: str,
    maximize: bool,
    alpha: float = ALPHA,
    power: float = 0.8,
) -> Verdict:
    """The verdict of a confirmation by the rules of the module docstring."""
    arms = list(arms)
    _check(arms, len(seeds))
    baselines = [a for a in arms if a.kind == "baseline"]
    if not baselines:
        raise ValueError(
            "a verdict needs at least one baseline arm (kind 'baseline') to judge against; "
            f"got {[a.name for a in arms]}"
        )
    best = best_on_validation(baselines, maximize)
    rows: dict[str, VerdictRow] = {}
    families: dict[str, list[tuple[Arm, PairedTest]]] = {SEARCHED: [], BASELINES: []}
    for a in arms:
        summary = mean_ci(a.test)
        rows[a.name] = VerdictRow(
            a.name,
            a.kind,
            summary.n,
            summary.mean,
            summary.ci_low,
            summary.ci_high,
            mean_ci(a.val).mean,
            diverged=a.diverged,
            failed=a.failed,
            no_progress=a.no_progress,
        )
        if a is best:
            continue
        better, worse = (a.test, best.test) if maximize else (best.test, a.test)
        test = paired_test(better, worse)
        if test is not None:
            families[SEARCHED if a.kind == "searched" else BASELINES].append((a, test))
    for family, members in families.items():
        for (a, t), p_adj in zip(members, holm([t.p for _, t in members]), strict=True):
            assert p_adj is not None
            rows[a.name] = replace(
                rows[a.name],
                n_pairs=t.n,
                diff=t.diff,
                diff_ci_low=t.ci_low,
                diff_ci_high=t.ci_high,
                p=t.p,
                p_adjusted=p_adj,
                significant=bool(p_adj < alpha),
                family=family,
            )
    searched = [rows[a.name] for a in arms if a.kind == "searched"]
    tested = [r for r in searched if r.family == SEARCHED]
    beating = [r for r in tested if r.significant and r.diff is not None and r.diff > 0]
    winner = max(beating, key=lambda r: r.diff or 0.0).arm if beating else None
    if not searched:
        outcome: Outcome = "no-search"
    elif winner is not None:
        outcome = "searched-wins"
    elif len(tested) == len(searched) and all(r.significant and (r.diff or 0) < 0 for r in tested):
        outcome = "baseline-better"
    else:
        outcome = "no-difference"
    n = max((r.n_pairs for r in tested), default=None)
    compared = [a for a in arms if a.kind == "searched" or a.name == best.name]
    noise = seed_noise({a.name: a.test for a in (compared if len(compared) > 1 else arms)})
    level = alpha / len(tested) if tested else alpha
    return Verdict(
        outcome=outcome,
        metric=metric,
        maximize=maximize,
        best_baseline=best.name,
        winner=winner,
        rows=[rows[a.name] for a in arms],
        seeds=tuple(seeds),
        n=n,
        detectable=noise.detectable(n, level, power) if n is not None else None,
        sd_seed=noise.sd,
        sd_diff=noise.sd_diff,
        alpha=alpha,
        power=power,
    )
