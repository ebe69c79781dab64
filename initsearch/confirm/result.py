"""From a confirmation's finished runs to the study's verdict, and where the verdict is kept.

Each arm's runs give, per fresh seed, the objective on the validation split (used only to
pick the best baseline) and on the test split (used to judge); a run that diverged or failed
gives neither. The rules are :func:`initsearch.confirm.verdict.decide`'s. The verdict is
written to ``<workdir>/<study>/confirm/verdict.json`` and stored on the study itself (user
attribute ``verdict``), so ``study status`` and ``study report`` lead with it without
re-reading every run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from initsearch.compare.analysis import not_trained, run_value
from initsearch.compare.collect import collect
from initsearch.compare.plan import load_comparison_study
from initsearch.confirm.plan import ConfirmPlan, searched_name
from initsearch.confirm.verdict import Arm, Verdict, decide
from initsearch.contract import BASELINE, STUDY_VERDICT
from initsearch.jsonsafe import finite_or_none
from initsearch.run.objective import SUMMARY_KEY, test_metric
from initsearch.train.curve import time_to_target


def _seconds_on_validation(run: dict[str, Any] | None, target: float | None) -> float | None:
    """Training seconds until the VALIDATION accuracy first reaches ``target`` (the collected
    ``seconds_to_target`` is measured on the test curve, which must not pick the bar)."""
    if run is None or run["status"] != "completed":
        return None
    curve = run["curve"]
    return time_to_target(
        curve.get("val_accuracy") or [], curve.get("epoch_seconds") or [], target
    )[1]


def arms_of(plan: ConfirmPlan, payload: dict[str, Any]) -> list[Arm]:
    """One :class:`Arm` per scheme of the collected payload, values aligned with the seeds."""
    val_key, test_key = SUMMARY_KEY[plan.metric], test_metric(plan.metric)
    target = payload.get("target_accuracy")

    def val(run: dict[str, Any] | None) -> float | None:
        if plan.metric == "seconds_to_target":
            return _seconds_on_validation(run, target)
        return run_value(run, val_key)

    arms = []
    for scheme in payload["schemes"]:
        runs = {r["seed"]: r for r in scheme["runs"]}
        present = [runs[s] for s in plan.seeds if s in runs]
        arms.append(
            Arm(
                name=scheme["name"],
                kind=plan.kind(scheme["name"]),  # type: ignore[arg-type]
                val=tuple(val(runs.get(s)) for s in plan.seeds),
                test=tuple(run_value(runs.get(s), test_key) for s in plan.seeds),
                **not_trained(present)._asdict(),
            )
        )
    return arms


def judge(plan: ConfirmPlan) -> Verdict:
    """The verdict from what the confirmation's storage holds now."""
    payload = collect(plan.compare, load_comparison_study(plan.compare))
    return decide(arms_of(plan, payload), plan.seeds, test_metric(plan.metric), plan.maximize)


def searched_count(study: optuna.Study) -> int:
    """Completed searched trials: a verdict older than the search says so."""
    return sum(
        BASELINE not in t.user_attrs
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    )


def verdict_record(plan: ConfirmPlan, verdict: Verdict, study: optuna.Study) -> dict[str, Any]:
    """What is kept of a verdict: itself, which trial each searched arm re-ran, and how much
    of the search it saw."""
    return finite_or_none(
        {
            "verdict": verdict.to_dict(),
            "sentence": verdict.sentence,
            "confirmation_study": plan.name,
            "searched_arms": [
                {
                    "arm": searched_name(i),
                    "trial": s.trial,
                    "search_value": s.value,
                    "init": s.init.to_dict(),
                }
                for i, s in enumerate(plan.searched)
            ],
            "searched_trials_seen": searched_count(study),
        }
    )


def keep_verdict(plan: ConfirmPlan, verdict: Verdict, study: optuna.Study, folder: Path) -> Path:
    """Store the verdict on the study and in ``folder/verdict.json``; returns the file."""
    record = verdict_record(plan, verdict, study)
    study.set_user_attr(STUDY_VERDICT, record)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "verdict.json"
    path.write_text(json.dumps(record, indent=2))
    return path


def stored_verdict(study: optuna.Study) -> tuple[Verdict, dict[str, Any]] | None:
    """The study's kept verdict and its record, or None when it has not been confirmed."""
    record = study.user_attrs.get(STUDY_VERDICT)
    if not record:
        return None
    return Verdict.from_dict(record["verdict"]), record


def current_verdict(study: optuna.Study) -> dict[str, Any] | None:
    """The kept verdict record with ``searched_trials_now`` (searched trials the study has
    completed by now: more than ``searched_trials_seen`` means the search moved on since)."""
    kept = stored_verdict(study)
    if kept is None:
        return None
    return {**kept[1], "searched_trials_now": searched_count(study)}


def confirm_dir(cfg_workdir: str, study_name: str) -> Path:
    """``<workdir>/<study>/confirm``."""
    return Path(cfg_workdir) / study_name / "confirm"
