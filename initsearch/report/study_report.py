"""The report of one study: which per-layer scale profile the search found, whether it is the
emergence rule's line, which parameters mattered, and where the baselines rank.

``build_study_report`` reads everything from the Optuna study (trial values, the user attrs the
driver records: ``baseline``, ``init``, ``scales``, ``val_accuracy_curve``; the study's
``layer_names`` and ``layer_depths``) into one JSON-able dict; ``write_study_report`` adds the
plots and ``report.json`` under an output folder. Ranking uses the study's first objective
(the only one for a single-objective study).

``scales`` of a trial are the final per-layer factors relative to *that trial's* base scheme:
searched trials and the emergence baselines are relative to the study's ``search.base_init``,
GradInit's relative to its own base, and a plain baseline (Xavier, LPS) is all ones.
"""

from __future__ import annotations

import json
import math
import statistics
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from initsearch.config import StudyConfig
from initsearch.report.profile import default_pivot, try_fit, verdict

TOP_K = 5
MIN_IMPORTANCE_TRIALS = 3


def report_dir(name_or_file: str, cfg: StudyConfig, workdir: str) -> Path:
    """Default output folder ``<workdir>/<name>/report``: the study file's own workdir when a
    file was given, else the ``--workdir`` the study was found in."""
    is_file = name_or_file.endswith((".yaml", ".yml")) or Path(name_or_file).is_file()
    return Path(cfg.workdir if is_file else workdir) / cfg.name / "report"


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _layers(cfg: StudyConfig, study: optuna.Study) -> tuple[list[str], list[int]]:
    names = study.user_attrs.get("layer_names")
    depths = study.user_attrs.get("layer_depths")
    if not names or not depths:  # a study written before these attrs existed: build the model
        from initsearch.search.space import layer_info

        info = layer_info(cfg)
        names, depths = list(info.names), list(info.depths)
    return list(names), [int(d) for d in depths]


def _scheme(trial: FrozenTrial) -> str:
    init = trial.user_attrs.get("init") or {}
    return str(init.get("scheme") or trial.user_attrs.get("baseline") or "")


class _Ranking:
    """Competition ranks among COMPLETE trials on the first objective: 1 + number of trials
    strictly better, so tied trials share a rank."""

    def __init__(self, complete: list[FrozenTrial], maximise: bool) -> None:
        self.maximise = maximise
        self.values = [t.values[0] for t in complete]
        self.n = len(complete)

    def better(self, a: float, b: float) -> bool:
        return a > b if self.maximise else a < b

    def rank(self, value: float) -> int:
        return 1 + sum(self.better(v, value) for v in self.values)


def _profile_entry(
    trial: FrozenTrial, ranking: _Ranking, depths: list[int], pivot: int
) -> dict[str, Any]:
    scales = [float(s) for s in trial.user_attrs.get("scales") or []]
    fit, why = try_fit(scales, depths, pivot)
    entry: dict[str, Any] = {
        "trial": trial.number,
        "value": trial.values[0],
        "rank": ranking.rank(trial.values[0]),
        "scales": scales,
        "log_scales": [math.log(s) if s > 0 else None for s in scales],
        "fit": fit.to_dict() if fit else None,
        "fitted_scales": fit.line(depths) if fit else None,
        "verdict": verdict(fit) if fit else f"no fit: {why}",
    }
    return entry


def _top_k_summary(entries: list[dict[str, Any]]) -> dict[str, Any]:
    fits = [e["fit"] for e in entries if e["fit"]]
    if not fits:
        return {"k": len(entries), "trials": entries, "fitted": 0}
    alphas = [f["alpha"] for f in fits]
    r2s = [f["r2"] for f in fits]
    return {
        "k": len(entries),
        "trials": entries,
        "fitted": len(fits),
        "alpha_median": statistics.median(alphas),
        "alpha_min": min(alphas),
        "alpha_max": max(alphas),
        "alpha_above_1": sum(a > 1 for a in alphas),
        "r2_median": statistics.median(r2s),
        "r2_min": min(r2s),
    }


def _baseline_entries(
    trials: list[FrozenTrial], ranking: _Ranking, depths: list[int], pivot: int
) -> list[dict[str, Any]]:
    out = []
    for t in trials:
        name = t.user_attrs.get("baseline")
        if name is None or t.user_attrs.get("requeued"):
            continue
        scheme = _scheme(t)
        scales = [float(s) for s in t.user_attrs.get("scales") or []]
        entry: dict[str, Any] = {
            "name": name,
            "scheme": scheme,
            "trial": t.number,
            "state": t.state.name,
            "value": t.values[0] if t.state == TrialState.COMPLETE else None,
            "rank": ranking.rank(t.values[0]) if t.state == TrialState.COMPLETE else None,
            "n_complete": ranking.n,
            "reason": t.user_attrs.get("reason"),
            "scales": scales,
            "fit": None,
        }
        options = (t.user_attrs.get("init") or {}).get("options") or {}
        if scheme == "emergence" and "alpha" in options:
            entry["alpha"] = float(options["alpha"])
        # only profiles that differ across layers say anything about a line in depth
        if scales and max(scales) - min(scales) > 1e-12 * max(abs(s) for s in scales):
            fit, why = try_fit(scales, depths, pivot)
            entry["fit"] = fit.to_dict() if fit else None
            entry["fitted_scales"] = fit.line(depths) if fit else None
            entry["verdict"] = verdict(fit) if fit else f"no fit: {why}"
        out.append(entry)
    return out


def _comparison(
    best: dict[str, Any] | None, baselines: list[dict[str, Any]], ranking: _Ranking
) -> dict[str, Any]:
    done = [b for b in baselines if b["value"] is not None]
    out: dict[str, Any] = {"complete_baselines": len(done)}
    if done:
        top = min(done, key=lambda b: b["rank"])
        out.update(best_baseline=top["name"], best_baseline_value=top["value"])
    if best is None:
        out["summary"] = "no completed searched trial to compare"
        return out
    out["best_searched_value"] = best["value"]
    out["best_searched_rank"] = best["rank"]
    if done:
        sign = 1.0 if ranking.maximise else -1.0
        out["improvement_over_best_baseline"] = sign * (best["value"] - top["value"])
        out["beats"] = [b["name"] for b in done if ranking.better(best["value"], b["value"])]
        out["beaten_by"] = [b["name"] for b in done if ranking.better(b["value"], best["value"])]
        out["beats_all_baselines"] = len(out["beats"]) == len(done)
        out["summary"] = (
            f"best searched trial {best['trial']} ranks {best['rank']}/{ranking.n}; "
            f"it beats {len(out['beats'])} of {len(done)} completed baselines "
            f"(best baseline {top['name']}: {top['value']:.4g} vs {best['value']:.4g})"
        )
    else:
        out["summary"] = f"best searched trial ranks {best['rank']}/{ranking.n}; no baseline done"
    return out


def importance_trials(study: optuna.Study) -> tuple[list[FrozenTrial], list[str]]:
    """COMPLETE trials carrying every searched parameter, and those parameters' names.

    Baselines enqueued without parameters (Xavier, LPS, GradInit) carry none; Optuna's
    importance evaluators assess only parameters present in *all* trials, so they would
    otherwise leave nothing to assess.
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    names = sorted({p for t in complete for p in t.params})
    kept = [t for t in complete if names and all(p in t.params for p in names)]
    return kept, names


def importance_study(study: optuna.Study) -> optuna.Study:
    """An in-memory copy of the study holding only ``importance_trials`` (for Optuna's
    importance evaluators and ``plot_param_importances``)."""
    kept, _ = importance_trials(study)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created in memory" line
    try:
        copy = optuna.create_study(directions=study.directions)
    finally:
        optuna.logging.set_verbosity(verbosity)
    copy.add_trials(kept)
    return copy


def param_importances(study: optuna.Study) -> dict[str, Any]:
    """fANOVA importances (seeded) of the searched parameters for the first objective, or a
    ``skipped`` line saying why they cannot be computed yet."""
    kept, names = importance_trials(study)
    base = {"method": "fanova", "n_trials": len(kept), "params": names}
    if not names:
        return {**base, "skipped": "no completed trial carries searched parameters yet"}
    if len(kept) < MIN_IMPORTANCE_TRIALS:
        return {
            **base,
            "skipped": f"needs at least {MIN_IMPORTANCE_TRIALS} completed trials with every "
            f"searched parameter, the study has {len(kept)}; run more trials",
        }
    if len({t.values[0] for t in kept}) < 2:
        return {**base, "skipped": "every completed trial has the same value; nothing to explain"}
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    try:
        values = get_param_importances(
            importance_study(study),
            evaluator=FanovaImportanceEvaluator(seed=0),
            target=lambda t: t.values[0],
        )
    except (ValueError, RuntimeError) as err:  # Optuna rejects degenerate trial sets
        return {**base, "skipped": f"Optuna could not evaluate importances: {err}"}
    return {**base, "values": {k: float(v) for k, v in values.items()}}


def _trial_rows(trials: list[FrozenTrial], ranking: _Ranking) -> list[dict[str, Any]]:
    rows = []
    for t in trials:
        complete = t.state == TrialState.COMPLETE
        last = t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.values[0] if complete else None,
                "rank": ranking.rank(t.values[0]) if complete else None,
                "baseline": t.user_attrs.get("baseline"),
                "scheme": _scheme(t),
                "last_intermediate": _finite(last),
                "params": dict(t.params),
            }
        )
    return rows


def build_study_report(cfg: StudyConfig, study: optuna.Study, top_k: int = TOP_K) -> dict:
    """Every number of the report, as a JSON-able dict (see the module docstring)."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    maximise = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    ranking = _Ranking(complete, maximise)
    names, depths = _layers(cfg, study)
    pivot = default_pivot(depths)
    searched = sorted(
        (t for t in complete if "baseline" not in t.user_attrs),
        key=lambda t: t.values[0],
        reverse=maximise,
    )
    top = [_profile_entry(t, ranking, depths, pivot) for t in searched[:top_k]]
    best = top[0] if top else None
    baselines = _baseline_entries(trials, ranking, depths, pivot)
    gradinit = next((b for b in baselines if b["scheme"] == "gradinit"), None)
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    return {
        "study": cfg.name,
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "metric": cfg.objective.metrics[0],
        "metrics": list(cfg.objective.metrics),
        "direction": "maximize" if maximise else "minimize",
        "base_init": cfg.search.base_init,
        "counts": {"trials": len(trials), "complete": len(complete), "states": states},
        "layers": {"names": names, "depths": depths, "pivot": pivot},
        "best_searched": best,
        "top_k": _top_k_summary(top),
        "baselines": baselines,
        "gradinit": gradinit,
        "comparison": _comparison(best, baselines, ranking),
        "importances": param_importances(study),
        "trials": _trial_rows(trials, ranking),
    }


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_study_report(
    cfg: StudyConfig, study: optuna.Study, out: str | Path, top_k: int = TOP_K
) -> dict:
    """Build the report, write its plots and ``report.json`` into ``out``; returns the report
    with ``files`` (name -> path) and ``notes`` (plots that were skipped, and why)."""
    from initsearch.report.study_plots import write_plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = build_study_report(cfg, study, top_k=top_k)
    files, notes = write_plots(report, study, out)
    report["files"] = {k: str(v) for k, v in files.items()}
    report["notes"] = notes
    path = out / "report.json"
    report["files"]["json"] = str(path)
    path.write_text(json.dumps(_clean(report), indent=2, allow_nan=False))
    return report
