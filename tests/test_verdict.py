"""The confirmation's verdict on constructed studies where the truth is known: a searched arm
truly better must win, pure noise must not (19 of 20 studies), the best baseline is chosen on
validation, minimised metrics keep their signs, missing runs drop pairs, and the verdict
survives JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from initsearch.compare.stats import holm, seed_noise
from initsearch.confirm.verdict import Arm, Verdict, decide, did_not_train

SEARCHED = ("searched#1", "searched#2", "searched#3")
BASELINES = ("kaiming", "xavier", "orthogonal", "emergence(alpha=1.1)")


def simulate(rng, means, seeds=10, seed_sd=0.02, noise_sd=0.01):
    """Arms from ``{name: (val mean, test mean)}``: value = mean + a seed effect shared by every
    arm on that seed (same data order) + the arm's own noise, on each split."""
    val_effect, test_effect = rng.normal(0, seed_sd, seeds), rng.normal(0, seed_sd, seeds)
    arms = []
    for name, (val, test) in means.items():
        kind = "searched" if name.startswith("searched#") else "baseline"
        v = val + val_effect + rng.normal(0, noise_sd, seeds)
        t = test + test_effect + rng.normal(0, noise_sd, seeds)
        arms.append(Arm(name, kind, tuple(map(float, v)), tuple(map(float, t))))
    return arms


def equal_arms(value=0.70, **truly):
    means = {name: (value, value) for name in (*SEARCHED, *BASELINES)}
    return {**means, **truly}


def test_a_truly_better_searched_arm_wins():
    arms = simulate(np.random.default_rng(0), equal_arms(**{"searched#2": (0.73, 0.73)}))
    verdict = decide(arms, range(10), "test_accuracy", maximize=True)
    assert verdict.outcome == "searched-wins" and verdict.winner == "searched#2"
    row = verdict.row("searched#2")
    assert row.n_pairs == 10 and row.family == "searched" and row.significant
    assert 0 < row.diff_ci_low < 0.03 < row.diff_ci_high
    # one Holm family: the three searched arms
    searched = [verdict.row(name) for name in SEARCHED]
    assert [r.p_adjusted for r in searched] == pytest.approx(holm([r.p for r in searched]))
    assert verdict.sentence.startswith(
        f"searched#2 beats the best baseline ({verdict.best_baseline}) by +0.0"
    )
    assert " test accuracy [95% CI +" in verdict.sentence
    assert verdict.sentence.endswith(", 10 seeds")


def test_pure_noise_gives_no_searched_win_in_19_of_20_studies():
    outcomes = []
    for study in range(20):
        arms = simulate(np.random.default_rng(100 + study), equal_arms())
        verdict = decide(arms, range(10), "test_accuracy", maximize=True)
        outcomes.append(verdict.outcome)
        if verdict.outcome == "no-difference":
            assert verdict.sentence.startswith(
                f"no searched configuration beats the best baseline ({verdict.best_baseline}) "
                "on test accuracy; the smallest difference detectable at 10 seeds was 0.0"
            )
            assert verdict.winner is None and verdict.detectable > 0
    assert outcomes.count("no-difference") >= 19, outcomes


def test_the_best_baseline_is_chosen_on_validation_not_test():
    # xavier is best on validation, orthogonal on test: the bar is xavier
    means = equal_arms(xavier=(0.75, 0.70), orthogonal=(0.70, 0.75))
    verdict = decide(simulate(np.random.default_rng(1), means), range(10), "test_accuracy", True)
    assert verdict.best_baseline == "xavier"
    assert verdict.row("xavier").family is None  # the reference itself
    other = verdict.row("orthogonal")
    assert other.family == "baselines" and other.diff > 0.03 and other.significant
    assert verdict.outcome == "no-difference"  # the other baselines do not make a verdict
    # ties on validation go by name
    flat = tuple([0.7] * 3)
    tied = [Arm(n, "baseline", flat, flat) for n in ("xavier", "kaiming")]
    assert decide(tied, range(3), "test_accuracy", True).best_baseline == "kaiming"


def test_minimised_metrics_count_lower_as_better():
    means = equal_arms(0.55, **{"searched#1": (0.50, 0.50)})
    arms = simulate(np.random.default_rng(2), means)
    best = min(
        (a for a in arms if a.kind == "baseline"), key=lambda a: np.mean(a.val)
    )  # lowest validation loss
    verdict = decide(arms, range(10), "test_loss", maximize=False)
    assert verdict.best_baseline == best.name
    assert verdict.outcome == "searched-wins" and verdict.winner == "searched#1"
    row = verdict.row("searched#1")
    assert row.diff == pytest.approx(np.mean(np.subtract(best.test, arms[0].test)))
    assert row.diff > 0 and row.test_mean < verdict.row(best.name).test_mean
    assert "test loss [95% CI +" in verdict.sentence
    # every searched arm with a higher loss: the baseline is better, with negative differences
    worse = simulate(
        np.random.default_rng(3), equal_arms(0.55, **dict.fromkeys(SEARCHED, (0.6,) * 2))
    )
    verdict = decide(worse, range(10), "test_loss", maximize=False)
    assert verdict.outcome == "baseline-better" and verdict.winner is None
    assert all(verdict.row(n).diff < 0 for n in SEARCHED)
    assert verdict.sentence.startswith(
        f"the best baseline ({verdict.best_baseline}) beats every searched configuration on "
        "test loss; the closest"
    )


def test_missing_runs_drop_their_pairs():
    val = (0.7,) * 6
    base = (0.70, 0.71, None, 0.69, 0.72, 0.70)
    arm = (0.75, None, 0.74, 0.73, float("nan"), 0.76)
    arms = [Arm("kaiming", "baseline", val, base), Arm("searched#1", "searched", val, arm)]
    verdict = decide(arms, range(6), "first_epoch_test_accuracy", True)
    row = verdict.row("searched#1")
    assert row.n == 4 and row.n_pairs == 3  # seeds 0, 3 and 5
    assert row.diff == pytest.approx((0.05 + 0.04 + 0.06) / 3)
    assert verdict.n == 3
    assert "first-epoch test accuracy" in verdict.sentence


def test_detectable_difference_is_positive_shrinks_with_seeds_and_is_holm_corrected():
    detectable = {}
    for seeds in (5, 20):
        arms = simulate(np.random.default_rng(4), equal_arms(), seeds=seeds)
        verdict = decide(arms, range(seeds), "test_accuracy", True)
        # the arms the claim compares: the searched ones and the best baseline
        compared = [a for a in arms if a.kind == "searched" or a.name == verdict.best_baseline]
        noise = seed_noise({a.name: a.test for a in compared})
        assert verdict.sd_diff == noise.sd_diff and verdict.sd_seed == noise.sd
        assert verdict.sd_diff < verdict.sd_seed  # the shared seed effect cancels in pairs
        # three searched tests: Holm's first step is at alpha / 3
        assert verdict.detectable == pytest.approx(noise.detectable(seeds, alpha=0.05 / 3))
        detectable[seeds] = verdict.detectable
    assert 0 < detectable[20] < detectable[5] / 2


def test_the_verdict_survives_json():
    arms = simulate(np.random.default_rng(5), equal_arms(**{"searched#3": (0.74, 0.74)}))
    arms[0] = Arm("searched#1", "searched", (None,) * 10, (0.7,) + (None,) * 9)  # no test
    verdict = decide(arms, range(10), "test_accuracy", True)
    data = verdict.to_dict()
    text = json.dumps(data, allow_nan=False)
    back = Verdict.from_dict(json.loads(text))
    assert back == verdict and back.sentence == verdict.sentence
    assert back.row("searched#1").family is None and back.row("searched#1").n == 1


def test_no_searched_arm_and_no_baseline():
    flat = (0.7, 0.71, 0.69)
    verdict = decide([Arm("kaiming", "baseline", flat, flat)], [1, 2, 3], "test_accuracy", True)
    assert verdict.outcome == "no-search" and verdict.winner is None
    assert verdict.sentence.startswith("no searched configuration to confirm")
    with pytest.raises(ValueError, match="at least one baseline"):
        decide([Arm("searched#1", "searched", flat, flat)], [1, 2, 3], "test_accuracy", True)
    with pytest.raises(ValueError, match="one value \\(or None\\) per seed"):
        decide([Arm("kaiming", "baseline", flat, flat[:2])], [1, 2, 3], "test_accuracy", True)


def test_an_unstable_baseline_that_is_not_the_bar_does_not_inflate_the_detectable_difference():
    rng = np.random.default_rng(6)
    arms = simulate(rng, equal_arms())
    wild = tuple(float(v) for v in rng.uniform(0.1, 0.7, 10))
    calm = decide(arms, range(10), "test_accuracy", True)
    noisy = decide(
        [*arms, Arm("wild", "baseline", (0.0,) * 10, wild)], range(10), "test_accuracy", True
    )
    assert noisy.best_baseline == calm.best_baseline != "wild"
    assert noisy.detectable == pytest.approx(calm.detectable)


def test_runs_that_did_not_train_are_counted_on_each_row():
    """A verdict says beside each arm how many of its runs diverged, failed or made no
    progress; a verdict kept by an older version (no counts) says it does not know."""
    arms = simulate(np.random.default_rng(3), equal_arms())
    arms[0] = Arm("searched#1", "searched", arms[0].val, arms[0].test, diverged=2, no_progress=1)
    verdict = decide(arms, range(10), "test_accuracy", True)
    row = verdict.row("searched#1")
    assert (row.diverged, row.failed, row.no_progress) == (2, 0, 1)
    assert did_not_train(row.diverged, row.failed, row.no_progress) == "2 diverged, 1 no progress"
    other = verdict.row("kaiming")
    assert did_not_train(other.diverged, other.failed, other.no_progress) == "none"
    assert did_not_train(0, 3, 0) == "3 failed"
    old = verdict.to_dict()
    for r in old["rows"]:
        del r["diverged"], r["failed"], r["no_progress"]
    kept = Verdict.from_dict(old).row("searched#1")
    assert did_not_train(kept.diverged, kept.failed, kept.no_progress) == "-"
