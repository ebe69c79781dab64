"""Read a suite's comparisons back from their storages into ``suite.json``'s ``comparisons``.

Each comparison keeps what the questions need and nothing heavier: per arm its init and, per
seed, how the run ended (status, ``no_progress``), its test figures, the emergence measure at
init under both thresholds and the per-layer factors it applied; the comparison's statistics
rows (:mod:`initsearch.compare.analysis`); for a searching comparison its verdict and the
ranked searched profiles. Curves stay in each comparison's own ``compare.json`` (written
beside its report, ``<workdir>/<suite>/<comparison>/compare/``), which the suite report links.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from initsearch.compare import analyse, collect, output_dir, write_outputs
from initsearch.compare.plan import ComparePlan, load_comparison_study
from initsearch.confirm import confirmation_pending, judge
from initsearch.confirm.plan import ConfirmPlan
from initsearch.jsonsafe import finite_or_none
from initsearch.report.html_report import write_compare_report
from initsearch.suite.config import SuiteConfig
from initsearch.suite.plan import Planned, confirmation, runs_left, runs_total

RUN_KEYS = (
    "first_epoch_test_accuracy",
    "test_accuracy",
    "area_under_loss",
    "epochs_to_target",
)
"""Summary figures kept per run (test split; training loss for the area)."""
MODEL_KEYS = {"name", "depth", "width", "batch_norm", "norm_position"}


def _round(value: Any) -> Any:
    """Six significant digits: what a table can show, at half the size of a double's text."""
    return float(f"{value:.6g}") if isinstance(value, float) else value


def _run(run: dict[str, Any], keep_scales: bool) -> dict[str, Any]:
    out = {
        "seed": run["seed"],
        "status": run["status"],
        "no_progress": bool(run.get("no_progress")),
        **{k: run["summary"].get(k) for k in RUN_KEYS},
        "log_emergence": run.get("log_emergence"),
        "emergence_zero": bool(run.get("emergence_zero")),
        "log_emergence_relative": run.get("log_emergence_relative"),
        "relative_emergence_zero": bool(run.get("relative_emergence_zero")),
    }
    out = {k: _round(v) for k, v in out.items()}
    if keep_scales:
        out["scales"] = run.get("scales")
    return out


def _stats(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keep = ("scheme", "metric", "n", "mean", "ci_low", "ci_high", "runs", "diverged", "failed")
    out = []
    for row in rows:
        item = {k: row.get(k) for k in keep}
        item["no_progress"] = row.get("no_progress", 0)
        item["not_reached"] = row.get("not_reached")
        vs = row.get("vs_reference")
        item["vs_reference"] = (
            None
            if vs is None
            else {k: vs.get(k) for k in ("n", "diff", "ci_low", "ci_high", "p_adjusted")}
        )
        if vs is not None:
            item["vs_reference"]["significant"] = bool(vs.get("significant"))
        out.append(item)
    return out


def _payload(plan: ComparePlan) -> dict[str, Any]:
    return analyse(collect(plan, load_comparison_study(plan)))


def _common(item: Planned, suite: SuiteConfig, payload: dict[str, Any]) -> dict[str, Any]:
    cfg = item.study
    return {
        "name": item.name,
        "question": item.comparison.question,
        "label": item.comparison.heading,
        "model": cfg.model.model_dump(mode="json", include=MODEL_KEYS),
        "data": cfg.data.label,
        "epochs": cfg.train.epochs,
        "runs_total": runs_total(item, suite),
        "runs_left": runs_left(item, suite),
        "reference": payload.get("reference"),
        "target_accuracy": payload.get("target_accuracy"),
        "layer_names": payload.get("layer_names"),
        "layer_depths": payload.get("layer_depths"),
        "arms": [
            {
                "name": s["name"],
                "init": s["init"],
                "runs": [_run(r, keep_scales=item.searches) for r in s["runs"]],
            }
            for s in payload["schemes"]
        ],
        "stats": _stats(payload.get("stats", [])),
    }


def _searched(plan: ConfirmPlan, folder: Path) -> dict[str, Any]:
    """The ranked searched profiles and, once every confirmation pair has run, the verdict
    (else a note saying what is missing: a suite interrupted in its confirmation)."""
    out: dict[str, Any] = {
        "searched": [
            {"rank": i + 1, "trial": s.trial, "value": s.value, "scales": s.init.scales}
            for i, s in enumerate(plan.searched)
        ],
        "report": str(folder),
    }
    left = confirmation_pending(plan)
    if left:
        out["verdict_note"] = f"confirmation unfinished ({left} runs left): run the suite again"
        return out
    try:
        verdict = judge(plan)
    except ValueError as err:  # e.g. every baseline failed: no best baseline to judge against
        out["verdict_note"] = f"no verdict: {err}"
        return out
    out["verdict"] = finite_or_none({**verdict.to_dict(), "sentence": verdict.sentence})
    return out


def comparison_results(item: Planned, suite: SuiteConfig) -> dict[str, Any]:
    """One comparison of ``suite.json`` from what its storage holds now; writes its own
    ``compare.json``, ``stats.csv`` and ``report.html`` as ``initsearch compare`` does."""
    plan = item.compare
    confirm = None
    if plan is None:
        confirm = confirmation(item)
        if confirm is None:
            return {
                "name": item.name,
                "question": item.comparison.question,
                "label": item.comparison.heading,
                "runs_total": runs_total(item, suite),
                "runs_left": runs_left(item, suite),
                "arms": [],
                "stats": [],
            }
        plan = confirm.compare
    payload = _payload(plan)
    folder = output_dir(plan)
    json_path, _ = write_outputs(payload, folder)
    html = write_compare_report(payload, json_path.with_name("report.html"))
    out = _common(item, suite, payload)
    out["compare_report"] = str(html)
    if confirm is not None:
        out.update(_searched(confirm, folder))
    return out
