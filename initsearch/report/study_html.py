"""The study report's interactive figures: Optuna's plotly visualisations as HTML.

The HTML files reference one ``plotly.min.js`` written beside them (plotly's
``include_plotlyjs="directory"``): they open offline, and three figures do not carry three
copies of the 3.5 MB library. Move the folder as a whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

from initsearch import contract
from initsearch.report.importance import fanova, importance_study
from initsearch.report.study_png import baseline_styles


def _write_html(fig: Any, path: Path) -> None:
    fig.write_html(str(path), include_plotlyjs="directory", full_html=True)


def _first(t: optuna.trial.FrozenTrial) -> float:
    return t.values[0]


def history_html(report: dict, study: optuna.Study, path: Path) -> str | None:
    import plotly.graph_objects as go

    if not report["counts"]["complete"]:
        return "no completed trial yet"
    fig = optuna.visualization.plot_optimization_history(
        study, target=_first, target_name=report["metric"]
    )
    done = [b for b in report["baselines"] if b["value"] is not None]
    styles = baseline_styles(report)
    for b in done:
        fig.add_trace(
            go.Scatter(
                x=[b["trial"]],
                y=[b["value"]],
                mode="markers+text",
                text=[b["name"]],
                textposition="top center",
                name=f"{b['name']} (rank {b['rank']}/{b['n_complete']})",
                marker={"symbol": "star", "size": 14, "color": styles[b["name"]][0]},
            )
        )
    _write_html(fig, path)
    return None


def importances_html(report: dict, study: optuna.Study, path: Path) -> str | None:
    imp = report["importances"]
    if "values" not in imp:
        return f"parameter importances skipped: {imp['skipped']}"
    fig = optuna.visualization.plot_param_importances(
        importance_study(study),
        evaluator=fanova(),
        target=_first,
        target_name=report["metric"],
    )
    _write_html(fig, path)
    return None


def intermediate_html(report: dict, study: optuna.Study, path: Path) -> str | None:
    """Optuna's intermediate values when trials reported them (a pruned study); else the
    per-epoch validation-accuracy curves the driver stores on each trial."""
    import plotly.graph_objects as go

    trials = study.get_trials(deepcopy=False)
    if len(study.directions) == 1 and any(t.intermediate_values for t in trials):
        fig = optuna.visualization.plot_intermediate_values(study)
        _write_html(fig, path)
        return None
    curves = [(t, t.user_attrs.get(contract.VAL_ACCURACY_CURVE)) for t in trials]
    curves = [(t, c) for t, c in curves if c]
    if not curves:
        return "no trial reported intermediate values or stored a validation curve"
    fig = go.Figure()
    for t, curve in curves:
        label = t.user_attrs.get(contract.BASELINE) or "searched"
        fig.add_trace(
            go.Scatter(
                x=list(range(1, len(curve) + 1)),
                y=curve,
                mode="lines+markers",
                name=f"trial {t.number} ({label}, {t.state.name.lower()})",
            )
        )
    fig.update_layout(
        title="Validation accuracy per epoch (no intermediate values: the study ran unpruned)",
        xaxis_title="epoch",
        yaxis_title="val_accuracy",
    )
    _write_html(fig, path)
    return None
