"""Comparison statistics on constructed data where the answer is known: a shift that must be
significant and noise that must not, Holm against a hand computation, interval coverage and
shrinkage, effect-size signs, and how diverged, failed and not-reached runs are handled."""

from __future__ import annotations

import math

import numpy as np
import pytest

from initsearch.compare.analysis import analyse, scheme_stats
from initsearch.compare.stats import (
    ALPHA,
    SeedNoise,
    cohens_dz,
    detectable_difference,
    holm,
    mean_ci,
    paired_test,
    seed_noise,
    spearman,
)


def test_constant_shift_with_small_noise_is_significant():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.6, 0.8, size=10)  # seed-to-seed spread, shared by both schemes
    better = base + 0.05 + rng.normal(0, 0.005, size=10)
    test = paired_test(better, base)
    assert test is not None and test.n == 10
    assert test.p < 1e-6
    assert test.ci_low < 0.05 < test.ci_high and test.ci_low > 0
    assert test.effect_size > 5  # shift 0.05 over noise sd 0.005: d_z ~ 10
    # the spread between seeds is 20x the shift: unpaired, the shift would drown in it
    assert np.std(base) > 0.04


def test_pure_noise_is_not_significant():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.6, 0.8, size=10)
    noisy = base + rng.normal(0, 0.01, size=10)
    test = paired_test(noisy, base)
    assert test is not None
    assert test.p > 0.05
    assert test.ci_low < 0 < test.ci_high


def test_identical_runs_give_no_difference():
    x = [0.7, 0.8, 0.75]
    test = paired_test(x, list(x))
    assert test is not None
    assert (test.diff, test.p, test.effect_size) == (0.0, 1.0, 0.0)
    assert test.ci_low == test.ci_high == 0.0


def test_identical_nonzero_differences_are_exact():
    test = paired_test([0.6, 0.7, 0.8], [0.5, 0.6, 0.7])
    assert test is not None
    assert test.diff == pytest.approx(0.1) and test.p == 0.0
    assert test.effect_size == math.inf


def test_holm_matches_a_hand_computation():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max so far 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # None is not part of the family (m = 2 here) and stays None
    assert holm([0.02, None, 0.5]) == [pytest.approx(0.04), None, pytest.approx(0.5)]
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []


def test_interval_covers_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(2)
    small, large = mean_ci(rng.normal(1.0, 1.0, 5)), mean_ci(rng.normal(1.0, 1.0, 80))
    for ci in (small, large):
        assert ci.ci_low < ci.mean < ci.ci_high
    assert (large.ci_high - large.ci_low) < (small.ci_high - small.ci_low) / 2
    # a 95% t interval covers the true mean about 95% of the time, even at n = 5
    hits = 0
    for _ in range(2000):
        ci = mean_ci(rng.normal(3.0, 2.0, 5))
        hits += ci.ci_low <= 3.0 <= ci.ci_high
    assert 0.93 < hits / 2000 < 0.97


def test_mean_ci_drops_missing_and_non_finite_values():
    ci = mean_ci([1.0, None, math.nan, math.inf, 3.0])
    assert ci.n == 2 and ci.mean == 2.0
    assert mean_ci([5.0]) == mean_ci([5.0, None])
    assert mean_ci([5.0]).ci_low is None
    assert mean_ci([None, math.nan]).mean is None


def test_effect_size_sign_follows_the_difference():
    rng = np.random.default_rng(3)
    base = rng.uniform(size=8)
    worse = base - 0.1 + rng.normal(0, 0.02, 8)
    test = paired_test(worse, base)
    assert test is not None and test.diff < 0 and test.effect_size < 0
    assert cohens_dz([0.1, 0.2, 0.3]) == pytest.approx(0.2 / 0.1)
    assert cohens_dz([-0.1, -0.2, -0.3]) == pytest.approx(-2.0)


def test_paired_test_drops_pairs_with_a_missing_side():
    x = [0.9, math.nan, 0.8, None, 0.85]
    y = [0.8, 0.7, None, 0.6, 0.75]
    test = paired_test(x, y)
    assert test is not None and test.n == 2  # seeds 0 and 4
    assert test.diff == pytest.approx(0.1)
    assert paired_test([0.9, None], [0.8, 0.7]) is None  # one pair: no test
    with pytest.raises(ValueError):
        paired_test([1.0], [1.0, 2.0])


def test_wilcoxon_is_reported_only_from_six_pairs():
    rng = np.random.default_rng(4)
    base = rng.uniform(size=6)
    six = paired_test(base + 0.1 + rng.normal(0, 0.01, 6), base)
    five = paired_test(base[:5] + 0.1, base[:5])
    assert six is not None and six.wilcoxon_p == pytest.approx(2 / 2**6)  # all positive
    assert five is not None and five.wilcoxon_p is None


def test_spearman():
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert spearman(x, [10, 20, 25, 40, 100], "a", "b").spearman_r == pytest.approx(1.0)
    assert spearman(x, [5, 4, 3, 2, 1], "a", "b").spearman_r == pytest.approx(-1.0)
    assert spearman(x, [1, 1, 1, 1, 1], "a", "b").spearman_r is None  # constant
    short = spearman([1.0, None, math.nan, 2.0], [1, 2, 3, 4], "a", "b")
    assert short.n == 2 and short.spearman_r is None
    # log E = -inf (E = 0) is the lowest rank, not a missing value
    zero = spearman([-math.inf, 1.0, 2.0, 3.0], [0.1, 0.2, 0.3, 0.4], "a", "b")
    assert zero.n == 4 and zero.spearman_r == pytest.approx(1.0)


def _run(seed, status="completed", first=0.5, final=0.8, loss=0.5, aul=1.0, ett=3, le=1.0):
    return {
        "seed": seed,
        "status": status,
        "summary": {
            "first_epoch_test_accuracy": first,
            "test_accuracy": final,
            "test_loss": loss,
            "area_under_loss": aul,
            "epochs_to_target": ett,
        },
        "log_emergence": le,
    }


def _payload(schemes, seeds=(0, 1, 2, 3, 4), epochs=5, target=0.7):
    return {
        "seeds": list(seeds),
        "reference": "kaiming",
        "epochs": epochs,
        "target_accuracy": target,
        "schemes": [{"name": n, "runs": runs} for n, runs in schemes.items()],
    }


def test_scheme_stats_exclude_diverged_runs_count_them_and_drop_their_pairs():
    ref = [_run(s, final=0.80 + 0.01 * s) for s in range(5)]
    good = [_run(s, final=0.85 + 0.01 * s + 0.001 * (s % 2)) for s in range(4)]
    good.append(_run(4, status="diverged", final=0.1))  # its partial value must not count
    noise = [_run(s, final=0.80 + 0.01 * s + (0.004 if s % 2 else -0.004)) for s in range(5)]
    rows = scheme_stats(_payload({"kaiming": ref, "good": good, "noise": noise}))
    final = {r["scheme"]: r for r in rows if r["metric"] == "test_accuracy"}
    assert final["good"]["n"] == 4 and final["good"]["diverged"] == 1
    assert final["good"]["mean"] == pytest.approx(
        np.mean([0.85 + 0.01 * s for s in range(4)]), abs=1e-3
    )
    assert final["kaiming"]["vs_reference"] is None
    vs = final["good"]["vs_reference"]
    assert vs["n"] == 4 and vs["diff"] == pytest.approx(0.05, abs=1e-3)
    assert vs["significant"] and vs["effect_size"] > 0
    # Holm: the family of this metric is {good, noise}
    p_good, p_noise = vs["p"], final["noise"]["vs_reference"]["p"]
    expected = holm([p_good, p_noise])
    assert vs["p_adjusted"] == pytest.approx(expected[0])
    assert final["noise"]["vs_reference"]["p_adjusted"] == pytest.approx(expected[1])
    assert not final["noise"]["vs_reference"]["significant"]


def test_epochs_to_target_counts_not_reached_and_censors_them_in_the_test():
    ref = [_run(s, ett=2) for s in range(4)]
    slow = [_run(0, ett=4), _run(1, ett=None), _run(2, ett=None), _run(3, ett=5)]
    rows = scheme_stats(_payload({"kaiming": ref, "slow": slow}, seeds=range(4), epochs=5))
    ett = next(r for r in rows if r["scheme"] == "slow" and r["metric"] == "epochs_to_target")
    assert ett["not_reached"] == 2
    assert ett["n"] == 2 and ett["mean"] == pytest.approx(4.5)  # over runs that reached it
    # in the test the two runs count as epochs + 1 = 6: diffs 2, 4, 4, 3
    assert ett["vs_reference"]["n"] == 4
    assert ett["vs_reference"]["diff"] == pytest.approx(13 / 4)


def test_analyse_adds_correlations_over_completed_runs():
    runs = [_run(s, first=0.1 * s, final=0.5 + 0.1 * s, le=float(s)) for s in range(5)]
    runs.append(_run(5, status="diverged", first=0.0, le=100.0))  # not completed: left out
    runs.append({**_run(6, first=-1.0, le=None), "emergence_zero": True})  # E = 0: lowest rank
    runs.append(_run(7, first=0.9, le=None))  # not measured: left out
    out = analyse(_payload({"kaiming": runs}, seeds=range(8)))
    corr = {c["y"]: c for c in out["correlations"]}
    assert corr["first_epoch_test_accuracy"]["n"] == 6
    assert corr["first_epoch_test_accuracy"]["spearman_r"] == pytest.approx(1.0)
    assert {r["metric"] for r in out["stats"]} == set(out["metrics"])


def test_detectable_difference_reaches_the_asked_power():
    from scipy import stats

    n, sd = 10, 0.02
    diff = detectable_difference(sd, n)
    assert diff is not None and diff > 0
    # power of the two-sided paired t-test at that true difference, from the noncentral t
    crit, nc = stats.t.ppf(1 - ALPHA / 2, n - 1), diff / sd * math.sqrt(n)
    power = stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc)
    assert power == pytest.approx(0.8, abs=1e-4)
    assert detectable_difference(2 * sd, n) == pytest.approx(2 * diff)  # linear in the spread
    by_n = [detectable_difference(sd, k) for k in (2, 3, 5, 10, 30, 100)]
    assert all(a > b for a, b in zip(by_n, by_n[1:], strict=False))
    assert detectable_difference(sd, n, alpha=0.01) > diff  # a stricter level needs more
    assert detectable_difference(sd, 1) is None
    assert detectable_difference(None, n) is None
    assert detectable_difference(math.nan, n) is None
    assert detectable_difference(0.0, n) == 0.0


def test_seed_noise_matches_a_hand_computation():
    noise = seed_noise(
        {"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 2.0, 5.0, None], "gone": [None, math.nan] * 2}
    )
    # sd: var(a) = 5/3 on 3 dof, var(b) = 3 on 2 dof -> (5 + 6) / 5
    assert noise.sd == pytest.approx(math.sqrt(11 / 5))
    # sd_diff: a - b on seeds 0..2 = [-1, 0, -2], variance 1
    assert noise.sd_diff == pytest.approx(1.0)
    assert (noise.n_seeds, noise.n_arms) == (4, 2)
    assert noise.detectable(4) == detectable_difference(1.0, 4)
    alone = seed_noise({"a": [1.0, 2.0], "b": [3.0, None]})
    assert alone.sd == pytest.approx(math.sqrt(0.5)) and alone.sd_diff is None
    assert alone.detectable(10) is None
    assert seed_noise({}) == SeedNoise(None, None, 0, 0)
    with pytest.raises(ValueError, match="aligned by seed"):
        seed_noise({"a": [1.0, 2.0], "b": [1.0]})


def test_paired_noise_is_what_a_shared_seed_effect_leaves():
    rng = np.random.default_rng(6)
    seed_effect = rng.normal(0, 0.05, 400)  # same data order for every arm on a seed
    arms = {k: 0.7 + seed_effect + rng.normal(0, 0.01, 400) for k in "abc"}
    noise = seed_noise(arms)
    assert noise.sd == pytest.approx(math.hypot(0.05, 0.01), rel=0.1)
    assert noise.sd_diff == pytest.approx(0.01 * math.sqrt(2), rel=0.1)
