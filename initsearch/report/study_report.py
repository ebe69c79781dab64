"""The report of one study: which per-layer scale profile the search found, whether it is the
emergence rule's line, which parameters mattered, and where the baselines rank.

``build_study_report`` reads everything from the Optuna study (trial values and the user attrs
the driver records, keys in :mod:`initsearch.contract`: the baseline name, the init, the
applied scales; the study's layer names and depths) into one JSON-able dict;
``write_study_report`` adds the page ``index.html`` (:mod:`initsearch.report.study_index`), the
PNGs and ``report.json`` under an output folder. Ranking uses
the study's first objective (the only one for a single-objective study). Importances come from
:mod:`initsearch.report.importance`, the line fit from :mod:`initsearch.report.emergence_fit`.

A trial's applied scales (``scales`` in the report) are the final per-layer factors relative to
*that trial's* base scheme: searched trials and the emergence baselines are relative to the
study's ``search.base_init``, GradInit's relative to its own base, a plain baseline (Xavier, LPS)
is all ones.
"""

from __future__ import annotations

import math
import statistics
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from initsearch import contract
from initsearch.config import StudyConfig
from initsearch.confirm import current_verdict, search_noise
from initsearch.inits import find_scheme
from initsearch.jsonsafe import dumps
from initsearch.report.emergence_fit import default_pivot, try_fit, verdict
from initsearch.report.importance import param_importances
from initsearch.report.profile_schemes import draws_profile, is_rule
from initsearch.report.ranks import competition_rank
from initsearch.report.study_index import write_index
from initsearch.report.study_plots import write_plots
from initsearch.search.space import layer_info

TOP_K = 5


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
    names = study.user_attrs.get(contract.STUDY_LAYER_NAMES)
    depths = study.user_attrs.get(contract.STUDY_LAYER_DEPTHS)
    if not names or not depths:  # a study written before these attrs existed: ask the model
        info = layer_info(cfg)
        names, depths = list(info.names), list(info.depths)
    return list(names), [int(d) for d in depths]


def _scheme(trial: FrozenTrial) -> str:
    init = trial.user_attrs.get(contract.INIT) or {}
    return str(init.get("scheme") or trial.user_attrs.get(contract.BASELINE) or "")


def _applied(trial: FrozenTrial) -> list[float]:
    return [float(s) for s in trial.user_attrs.get(contract.APPLIED_SCALES) or []]


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
        return competition_rank(value, self.values, self.maximise)


def _profile_entry(
    trial: FrozenTrial, ranking: _Ranking, depths: list[int], pivot: int
) -> dict[str, Any]:
    scales = _applied(trial)
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
        name = t.user_attrs.get(contract.BASELINE)
        if name is None or t.user_attrs.get(contract.REQUEUED):
            continue
        scheme = _scheme(t)
        scales = _applied(t)
        entry: dict[str, Any] = {
            "name": name,
            "scheme": scheme,
            "trial": t.number,
            "state": t.state.name,
            "value": t.values[0] if t.state == TrialState.COMPLETE else None,
            "rank": ranking.rank(t.values[0]) if t.state == TrialState.COMPLETE else None,
            "n_complete": ranking.n,
            "reason": t.user_attrs.get(contract.REASON),
            "scales": scales,
            "fit": None,
        }
        options = (t.user_attrs.get(contract.INIT) or {}).get("options") or {}
        info = find_scheme(scheme)
        if info is not None and info.tunable is not None and info.tunable in options:
            entry[info.tunable] = float(options[info.tunable])  # e.g. the rule's alpha
        # only profiles that differ across layers say anything about a line in depth
        if scales and max(scales) - min(scales) > 1e-12 * max(abs(s) for s in scales):
            fit, why = try_fit(scales, depths, pivot)
            entry["fit"] = fit.to_dict() if fit else None
            entry["fitted_scales"] = fit.line(depths) if fit else None
            entry["verdict"] = verdict(fit) if fit else f"no fit: {why}"
        out.append(entry)
    return out


def _learned_profiles(baselines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per scheme that learns its profile (GradInit, the updater, LPS): its first baseline."""
    out: dict[str, dict[str, Any]] = {}
    for b in baselines:
        if draws_profile(b["scheme"]) and not is_rule(b["scheme"]):
            out.setdefault(b["scheme"], b)
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
                "baseline": t.user_attrs.get(contract.BASELINE),
                "scheme": _scheme(t),
                "last_intermediate": _finite(last),
                "params": dict(t.params),
            }
        )
    return rows


def _noise(cfg: StudyConfig, study: optuna.Study) -> dict[str, Any]:
    found = search_noise(study, cfg.budget.seeds_per_trial)
    noise = found.noise
    return {
        "seeds_per_trial": found.seeds_per_trial,
        "sd": noise.sd if noise else None,
        "sd_diff": noise.sd_diff if noise else None,
        "detectable": found.detectable,
        "text": found.describe(cfg.objective.metric),
    }


def build_study_report(cfg: StudyConfig, study: optuna.Study, top_k: int = TOP_K) -> dict:
    """Every number of the report, as a JSON-able dict (see the module docstring)."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    maximise = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    ranking = _Ranking(complete, maximise)
    names, depths = _layers(cfg, study)
    pivot = default_pivot(depths)
    searched = sorted(
        (t for t in complete if contract.BASELINE not in t.user_attrs),
        key=lambda t: t.values[0],
        reverse=maximise,
    )
    top = [_profile_entry(t, ranking, depths, pivot) for t in searched[:top_k]]
    best = top[0] if top else None
    baselines = _baseline_entries(trials, ranking, depths, pivot)
    learned = _learned_profiles(baselines)
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    return {
        "study": cfg.name,
        "verdict": current_verdict(study),
        "seed_noise": _noise(cfg, study),
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
        "learned_profiles": learned,
        "gradinit": learned.get("gradinit"),  # report.json field kept for its readers
        "comparison": _comparison(best, baselines, ranking),
        "importances": param_importances(study),
        "trials": _trial_rows(trials, ranking),
    }


def write_study_report(
    cfg: StudyConfig, study: optuna.Study, out: str | Path, top_k: int = TOP_K
) -> dict:
    """Build the report, write ``index.html``, its PNGs and ``report.json`` into ``out``;
    returns the report with ``files`` (name -> path) and ``notes`` (figures skipped, and why)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = build_study_report(cfg, study, top_k=top_k)
    files, notes = write_plots(report, out)
    report["files"] = {k: str(v) for k, v in files.items()}
    report["notes"] = notes
    path = out / "report.json"
    report["files"]["json"] = str(path)
    with warnings.catch_warnings():  # Optuna marks its importance helpers experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        report["files"]["index_html"] = str(write_index(report, study, out))
    path.write_text(dumps(report, indent=2))
    return report
