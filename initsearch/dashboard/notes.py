"""The Markdown notes the Optuna dashboard shows: one per trial, one per study.

The dashboard names a trial "Trial N", shows its parameters as ``log_scale_*`` numbers (none
for a baseline enqueued without a point) and its MLflow run id as plain text. A trial's note
says what the trial is in the words every view uses (:func:`initsearch.labels.trial_label`),
its scheme and options, a table of per-layer scales (the spec's factor and the product the init
applied, per layer name and depth), how it ended, and links its MLflow run. The study's note
says what the study is and, for the fixed grids of a comparison or a confirmation, that the
dashboard's optimisation-history line and importance panel do not apply (optuna-dashboard has
no setting to hide them). Building a note reads nothing: the caller passes what it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from initsearch.contract import (
    APPLIED_SCALES,
    ERROR,
    INIT,
    MLFLOW_RUN_ID,
    REASON,
)
from initsearch.labels import (
    STAGE_CONFIRMATION,
    STAGE_SEARCH,
    trial_label,
    trial_role,
)

ERROR_LINES = 3  # the last lines of a failed trial's error shown in its note


@dataclass(frozen=True)
class StudyView:
    """What every note of one study needs: its stage, layers, objectives and run links."""

    stage: str
    layer_names: tuple[str, ...]
    layer_depths: tuple[int, ...]
    metric_names: tuple[str, ...]
    run_link: Callable[[str], str | None]  # MLflow run id -> its page in the MLflow UI


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "-"


def _options(options: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_num(v) if isinstance(v, float) else v}" for k, v in options.items())


def scale_table(
    names: Sequence[str], depths: Sequence[int], spec: Sequence[float], applied: Sequence[float]
) -> list[str]:
    """A Markdown table: layer, depth, the spec's scale and the applied scale ("-" unknown)."""
    rows = ["| # | layer | depth | spec scale | applied scale |", "|--:|---|--:|--:|--:|"]
    for i, name in enumerate(names):
        depth = depths[i] if i < len(depths) else "-"
        s = spec[i] if i < len(spec) else None
        a = applied[i] if i < len(applied) else None
        rows.append(f"| {i} | `{name}` | {depth} | {_num(s)} | {_num(a)} |")
    return rows


def _result(trial: FrozenTrial, metrics: Sequence[str]) -> str:
    state = trial.state.name
    if trial.state == TrialState.COMPLETE and trial.values:
        names = list(metrics) or [f"objective {i}" for i in range(len(trial.values))]
        values = ", ".join(f"{n} = {_num(v)}" for n, v in zip(names, trial.values, strict=False))
        return f"**{state}**: {values}"
    reason = trial.user_attrs.get(REASON)
    return f"**{state}**" + (f": {reason}" if reason else "")


def trial_note(trial: FrozenTrial, view: StudyView) -> str:
    """The trial's note (see the module docstring)."""
    attrs = trial.user_attrs
    label = trial_label(attrs, trial.number, view.stage)
    role = trial_role(attrs, view.stage)
    init = attrs.get(INIT) or {}
    lines = [f"### {label}", f"trial {trial.number} · {role}", ""]
    scheme = init.get("scheme")
    if scheme:
        options = init.get("options") or {}
        lines.append(f"- **scheme** `{scheme}`" + (f" ({_options(options)})" if options else ""))
    lines.append(f"- **result** {_result(trial, view.metric_names)}")
    run_id = attrs.get(MLFLOW_RUN_ID)
    if run_id:
        link = view.run_link(run_id)
        run = f"[MLflow run {run_id[:8]}]({link})" if link else f"MLflow run `{run_id}`"
        lines.append(f"- **curves, params, tags**: {run}")
    error = attrs.get(ERROR)
    if error and trial.state == TrialState.FAIL:
        tail = str(error).strip().splitlines()[-ERROR_LINES:]
        lines += ["", "```", *tail, "```"]
    # an init without scales multiplies every layer by 1 (InitSpec's default)
    spec = [float(s) for s in init.get("scales") or [1.0] * len(view.layer_names)] if init else []
    applied = [float(s) for s in attrs.get(APPLIED_SCALES) or []]
    if view.layer_names and (spec or applied):
        lines += ["", *scale_table(view.layer_names, view.layer_depths, spec, applied)]
    return "\n".join(lines) + "\n"


def study_note(name: str, view: StudyView, related: str | None = None) -> str:
    """The study's note: what it is, and which dashboard panels to read (or not)."""
    if view.stage == STAGE_SEARCH:
        return (
            f"### {name}: a search of per-layer init scales\n"
            "Each trial's note (Trials tab) names it (`kaiming`, `searched #14`), gives its "
            "scheme, its per-layer scale table and a link to its MLflow run. Parameters are "
            "`log_scale_<index>_<layer>` (natural log of the layer's factor). The figures below "
            "the importance panel compare the best searched trial with the baselines.\n"
        )
    what = "confirmation" if view.stage == STAGE_CONFIRMATION else "comparison"
    of = f" of `{related}`" if related else ""
    return (
        f"### {name}: the {what}{of}\n"
        f"A {what} runs a fixed grid of (scheme, seed) pairs; nothing is optimised. The "
        "dashboard's optimisation history (its *best value* line), hyperparameter importance "
        "and best-trial panels do not apply here: optuna-dashboard has no setting to hide them. "
        "Read the figures (per-scheme validation curves) and each trial's note instead.\n"
    )
