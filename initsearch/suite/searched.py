"""The searched-vs-closed-form question: where do searched scales depart from the rule?

For each searching comparison: its confirmation's verdict (the top searched profiles and
every baseline on the suite's fresh seeds, test split, against the best baseline), and its
profile per layer. The profile's interval is over the ``top_k`` best searched configurations
(their applied factors, in log space, Student-t 95%): how tightly the search pins each layer's
scale among the configurations it found best. A layer *departs* from the rule when the rule's
factor lies outside that interval; the rule drawn is the best rule arm of the confirmation
(highest test mean), Kaiming is the flat line at 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from initsearch.compare.analysis import not_trained
from initsearch.confirm.plan import SEARCHED_PREFIX
from initsearch.confirm.verdict import did_not_train
from initsearch.report.profile_schemes import is_rule
from initsearch.suite.tables import DASH, Table, find_arm, number


def _first_scales(arm: dict[str, Any]) -> list[float] | None:
    return next((r["scales"] for r in arm["runs"] if r.get("scales")), None)


def _test_mean(comparison: dict[str, Any], arm: str) -> float | None:
    rows = comparison.get("verdict", {}).get("rows", [])
    return next((r.get("test_mean") for r in rows if r["arm"] == arm), None)


def best_rule(comparison: dict[str, Any]) -> dict[str, Any] | None:
    rules = [a for a in comparison["arms"] if is_rule(a["init"]["scheme"]) and _first_scales(a)]
    if not rules:
        return None
    return max(rules, key=lambda a: _test_mean(comparison, a["name"]) or -math.inf)


def profile(comparison: dict[str, Any]) -> dict[str, Any]:
    """Per layer: the best searched factor, the top-k mean and interval, the rule's factor."""
    from scipy import stats

    searched = [a for a in comparison["arms"] if a["name"].startswith(SEARCHED_PREFIX)]
    logs = np.log([s for a in searched if (s := _first_scales(a))])
    rule = best_rule(comparison)
    k = len(logs)
    mean = logs.mean(axis=0) if k else None
    half = None
    if k >= 2:
        half = stats.t.ppf(0.975, k - 1) * logs.std(axis=0, ddof=1) / math.sqrt(k)
    return {
        "layers": comparison["layer_names"],
        "depths": comparison["layer_depths"],
        "best": [float(v) for v in np.exp(logs[0])] if k else None,
        "k": k,
        "mean": [float(v) for v in np.exp(mean)] if mean is not None else None,
        "ci_low": [float(v) for v in np.exp(mean - half)] if half is not None else None,
        "ci_high": [float(v) for v in np.exp(mean + half)] if half is not None else None,
        "rule": rule["name"] if rule else None,
        "rule_scales": _first_scales(rule) if rule else None,
    }


def _departs(low: float | None, high: float | None, value: float | None) -> str:
    if low is None or high is None or value is None:
        return DASH
    return "yes" if not low <= value <= high else "no"


def profile_table(comparison: dict[str, Any]) -> Table:
    p = profile(comparison)
    rows = []
    for i, (name, depth) in enumerate(zip(p["layers"], p["depths"], strict=True)):
        low = p["ci_low"][i] if p["ci_low"] else None
        high = p["ci_high"][i] if p["ci_high"] else None
        rule = p["rule_scales"][i] if p["rule_scales"] else None
        interval = f"[{number(low, 2)}, {number(high, 2)}]" if low is not None else DASH
        rows.append(
            [
                name,
                str(depth),
                number(p["best"][i], 2) if p["best"] else DASH,
                f"{number(p['mean'][i], 2) if p['mean'] else DASH} {interval}",
                number(rule, 2),
                _departs(low, high, rule),
                _departs(low, high, 1.0),
            ]
        )
    return Table(
        id=f"searched-profile-{comparison['name']}",
        title=f"{comparison['label']}: searched profile vs the rule and Kaiming",
        columns=[
            "layer",
            "depth",
            "searched #1",
            f"top-{p['k']} mean [95% CI]",
            f"rule: {p['rule'] or DASH}",
            "departs from rule",
            "departs from Kaiming",
        ],
        rows=rows,
        caption=(
            "Applied per-layer factors (1 = Kaiming). The interval is over the top searched "
            "configurations, in log space."
        ),
    )


def _did_not_train(comparison: dict[str, Any], arm: str) -> str:
    """The arm's confirmation runs that did not train, counted from its runs in suite.json."""
    found = find_arm(comparison, arm)
    return did_not_train(*not_trained(found["runs"])) if found else DASH


def verdict_table(comparison: dict[str, Any]) -> Table:
    verdict = comparison["verdict"]
    rows = []
    for r in verdict["rows"]:
        low, high = number(r.get("test_ci_low")), number(r.get("test_ci_high"))
        test = f"{number(r.get('test_mean'))} [{low}, {high}]"
        diff = DASH
        if r.get("diff") is not None:
            diff = (
                f"{number(r['diff'], signed=True)} [{number(r.get('diff_ci_low'), signed=True)}, "
                f"{number(r.get('diff_ci_high'), signed=True)}]"
            )
        p = number(r.get("p_adjusted"))
        rows.append(
            [
                r["arm"],
                r["kind"],
                str(r["n"]),
                test,
                diff,
                p + ("*" if r.get("significant") else ""),
                _did_not_train(comparison, r["arm"]),
            ]
        )
    return Table(
        id=f"searched-verdict-{comparison['name']}",
        title=f"{comparison['label']}: confirmation on fresh seeds",
        columns=[
            "arm",
            "kind",
            "runs",
            "test mean [95% CI]",
            f"vs {verdict['best_baseline']} [95% CI]",
            "p (Holm)",
            "did not train",
        ],
        rows=rows,
        caption=(
            f"Verdict: {verdict['sentence']}. Did not train: runs that diverged or failed (no "
            "value) or made no progress (kept in the mean)."
        ),
    )


def searched_tables(comparisons: list[dict[str, Any]]) -> list[Table]:
    out: list[Table] = []
    for c in comparisons:
        if c.get("verdict") and c["arms"]:
            out += [verdict_table(c), profile_table(c)]
    return out
