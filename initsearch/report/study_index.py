"""The study report's page, ``index.html``: one page a researcher reads top to bottom.

It leads with the verdict of the study's confirmation (or says none ran and how to run one),
then the best searched trial against the baselines (curves), its per-layer profile against
the emergence rule's line, the parameter importances with a warning when the trials are too
few for their ranking, and the emergence measure at init against the objective. Figures come
from :mod:`initsearch.report.study_figures`, the layout from ``dashboards/study_report.html.j2``
(:mod:`initsearch.report.templates`); plotly.js from the runs folder's shared copy
(:mod:`initsearch.report.plotly_asset`). The PNGs and ``report.json`` beside it are linked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

from initsearch.confirm.verdict import Verdict, did_not_train, metric_name
from initsearch.labels import searched_label
from initsearch.report.plotly_asset import figure_div, plotly_src
from initsearch.report.precision import decimals_for, fixed, fmt_p
from initsearch.report.profile_schemes import UNRECORDED_NOTE
from initsearch.report.study_figures import (
    curves_figure,
    emergence_figure,
    importance_figure,
    profile_figure,
)
from initsearch.report.templates import template_env

TEMPLATE = "study_report.html.j2"
INDEX = "index.html"
TRIALS_PER_PARAMETER = 10  # fewer completed trials per searched parameter: ranking unreliable


def verdict_context(record: dict | None, study: str) -> dict[str, Any] | None:
    """The verdict's sentence, a note when the search moved on since, and one row per arm."""
    if record is None:
        return None
    verdict = Verdict.from_dict(record["verdict"])
    newer = record.get("searched_trials_now", 0) - record.get("searched_trials_seen", 0)
    d = decimals_for(v for r in verdict.rows for v in (r.test_mean, r.test_ci_low, r.test_ci_high))
    rows = []
    for r in verdict.rows:
        diff = ""
        if r.diff is not None:
            low, high = fixed(r.diff_ci_low, d, True), fixed(r.diff_ci_high, d, True)
            diff = f"{fixed(r.diff, d, True)} [{low}, {high}]"
        elif r.arm == verdict.best_baseline:
            diff = "best baseline (chosen on validation)"
        rows.append(
            {
                "arm": r.arm,
                "kind": r.kind,
                "n": r.n,
                "mean": fixed(r.test_mean, d),
                "ci": f"[{fixed(r.test_ci_low, d)}, {fixed(r.test_ci_high, d)}]",
                "diff": diff,
                "p_adjusted": fmt_p(r.p_adjusted) if r.diff is not None else "",
                "significant": r.significant,
                "did_not_train": did_not_train(r.diverged, r.failed, r.no_progress),
            }
        )
    return {
        "sentence": verdict.sentence,
        "outcome": verdict.outcome,
        "metric": metric_name(verdict.metric),
        "seeds": len(verdict.seeds),
        "stale": (
            f"The search has completed {newer} more searched trials since this verdict; run "
            f"`initsearch study confirm {study}` again."
            if newer > 0
            else ""
        ),
        "rows": rows,
    }


def baseline_rows(report: dict) -> list[dict[str, Any]]:
    """The best searched trial and every baseline, best first, values with one precision."""
    best = report.get("best_searched")
    entries = [
        {
            "name": b["name"],
            "kind": "baseline",
            "trial": b["trial"],
            "value": b["value"],
            "rank": b["rank"],
            "state": b["state"].lower(),
        }
        for b in report["baselines"]
    ]
    if best is not None:
        entries.append(
            {
                "name": searched_label(best["trial"]),
                "kind": "best searched",
                "trial": best["trial"],
                "value": best["value"],
                "rank": best["rank"],
                "state": "complete",
            }
        )
    d = decimals_for(e["value"] for e in entries)
    entries.sort(key=lambda e: (e["rank"] is None, e["rank"] or 0))
    n = report["counts"]["complete"]
    for e in entries:
        e["value"] = fixed(e["value"], d)
        e["rank"] = f"{e['rank']} / {n}" if e["rank"] is not None else "–"
    return entries


def importance_caveat(report: dict) -> str:
    """Why the importance ranking cannot be trusted yet, or an empty string."""
    imp = report["importances"]
    n, params = imp.get("n_trials", 0), len(imp.get("params") or [])
    if "values" not in imp or not params or n >= TRIALS_PER_PARAMETER * params:
        return ""
    return (
        f"Only {n} trials for {params} searched parameters ({n / params:.1f} per parameter, "
        f"fewer than {TRIALS_PER_PARAMETER}): fANOVA's ranking is unreliable at this size and "
        "may change order with more trials; treat it as a hint, not a finding."
    )


def write_index(report: dict, study: optuna.Study, out: Path) -> Path:
    """Render ``index.html`` into ``out`` (beside the report's other files) and return it."""
    page = Path(out) / INDEX
    env = template_env(TEMPLATE)
    profiles, left_out = profile_figure(report)
    emergence, zero = emergence_figure(report, study)
    files = report.get("files") or {}
    html = env.get_template(TEMPLATE).render(
        r=report,
        verdict=verdict_context(report.get("verdict"), report["study"]),
        confirm_cmd=f"initsearch study confirm {report['study']}",
        rows=baseline_rows(report),
        curves=figure_div(curves_figure(report, study), "curves-plot"),
        profiles=figure_div(profiles, "profile-plot"),
        unrecorded=UNRECORDED_NOTE.format(names=", ".join(left_out)) if left_out else "",
        importances=figure_div(importance_figure(report), "importance-plot"),
        importance_caveat=importance_caveat(report),
        emergence=figure_div(emergence, "emergence-plot"),
        emergence_zero=zero,
        pngs={k: Path(v).name for k, v in files.items() if str(v).endswith(".png")},
        plotly_src=plotly_src(page, report["study"]),
    )
    tmp = page.with_name(f".{page.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(page)  # a reader never sees half a page
    return page
