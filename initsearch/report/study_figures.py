"""The study report page's interactive figures (plotly), drawn from the report and the study.

Each figure answers one question of the page: did the best searched trial train better than
the baselines (validation curves), is its per-layer profile the emergence rule's line
(profiles), which searched parameters mattered (importances), and does the emergence measure
at init predict the result (scatter). Trials are named by :func:`initsearch.labels.trial_label`,
baselines coloured as in the PNGs (:func:`~initsearch.report.study_png.baseline_styles`).
"""

from __future__ import annotations

import math
from typing import Any

import optuna
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from initsearch import contract
from initsearch.labels import searched_label, trial_label
from initsearch.report.compare_plots import log_e_floor, plain_log_ticks
from initsearch.report.profile_schemes import draws_profile, is_rule, sets_weights_itself
from initsearch.report.study_png import baseline_styles

BEST_COLOUR, CLOUD_COLOUR = "#1f77b4", "rgba(120,120,120,0.25)"
HEIGHT = 430


def _curve(trial: FrozenTrial) -> list[float] | None:
    """The per-epoch validation accuracy the driver stores; else the reported intermediate
    values (a pruned study), in step order."""
    stored = trial.user_attrs.get(contract.VAL_ACCURACY_CURVE)
    if stored:
        return [float(v) if v is not None else math.nan for v in stored]
    if trial.intermediate_values:
        return [trial.intermediate_values[k] for k in sorted(trial.intermediate_values)]
    return None


def _line(trial: FrozenTrial, curve: list[float], **style: Any) -> go.Scatter:
    label = trial_label(trial.user_attrs, trial.number)
    state = trial.state.name.lower()
    return go.Scatter(
        x=list(range(1, len(curve) + 1)),
        y=curve,
        mode="lines",
        hovertemplate=f"{label} ({state})<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>",
        **style,
    )


def curves_figure(report: dict, study: optuna.Study) -> go.Figure | None:
    """Validation curves: searched trials as a faint grey cloud, each baseline labelled in its
    colour, the best searched trial thick on top."""
    best = (report.get("best_searched") or {}).get("trial")
    styles = baseline_styles(report)
    cloud, baselines, top = [], [], []
    for t in study.get_trials(deepcopy=False):
        curve = _curve(t)
        if not curve or t.user_attrs.get(contract.REQUEUED):
            continue
        name = t.user_attrs.get(contract.BASELINE)
        if t.number == best:
            top.append(
                _line(
                    t,
                    curve,
                    line={"color": BEST_COLOUR, "width": 4},
                    name=f"best: {trial_label(t.user_attrs, t.number)}",
                )
            )
        elif name is not None and name in styles:
            colour = styles[name][0]
            baselines.append(
                _line(
                    t,
                    curve,
                    line={"color": colour, "width": 2, "dash": "dash"},
                    name=trial_label(t.user_attrs, t.number),
                )
            )
        elif name is None:
            first = not cloud
            cloud.append(
                _line(
                    t,
                    curve,
                    line={"color": CLOUD_COLOUR, "width": 1},
                    name="searched trials",
                    legendgroup="cloud",
                    showlegend=first,
                )
            )
    if not (cloud or baselines or top):
        return None
    if cloud:
        cloud[0].name = f"searched trials ({len(cloud)})"
    fig = go.Figure(cloud + baselines + top)
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_yaxes(title_text="validation accuracy (mean over seeds)")
    fig.update_layout(height=HEIGHT, margin={"t": 20, "b": 40}, hovermode="closest")
    return fig


def profile_figure(report: dict) -> tuple[go.Figure | None, list[str]]:
    """Per-layer applied scales (log axis) of the top searched trials, the best highlighted,
    against the emergence baselines' lines, the best's fitted line and the flat base init.
    Also returns the learned-profile schemes left out because they record no factors (LPS)."""
    names = report["layers"]["names"]
    styles = baseline_styles(report)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=names,
            y=[1.0] * len(names),
            mode="lines",
            name=f"{report['base_init']}: flat at 1 (the base init)",
            line={"color": "black", "width": 1.5, "dash": "dot"},
            hoverinfo="skip",
        )
    )
    left_out: list[str] = []
    for b in report["baselines"]:
        scales = b["scales"]
        if not draws_profile(b["scheme"]) or len(scales) != len(names):
            continue
        if sets_weights_itself(b["scheme"], [scales]):
            left_out.append(b["name"])
            continue
        colour = styles[b["name"]][0]
        dash = "dash" if is_rule(b["scheme"]) else "dashdot"
        fig.add_trace(
            go.Scatter(
                x=names,
                y=scales,
                mode="lines+markers",
                name=f"{b['name']} (baseline)",
                line={"color": colour, "width": 2, "dash": dash},
            )
        )
    top = report["top_k"]["trials"]
    for i, entry in enumerate(top[1:]):
        fig.add_trace(
            go.Scatter(
                x=names,
                y=entry["scales"],
                mode="lines",
                name=f"top {len(top)} searched",
                legendgroup="top",
                showlegend=i == 0,
                line={"color": "rgba(31,119,180,0.3)", "width": 1},
                hovertemplate=f"{searched_label(entry['trial'])}: %{{y:.3g}}<extra></extra>",
            )
        )
    best = report.get("best_searched")
    if best is not None and len(best["scales"]) == len(names):
        fig.add_trace(
            go.Scatter(
                x=names,
                y=best["scales"],
                mode="lines+markers",
                name=f"best: {searched_label(best['trial'])}",
                line={"color": BEST_COLOUR, "width": 4},
            )
        )
        if best["fit"]:
            fit = best["fit"]
            fig.add_trace(
                go.Scatter(
                    x=names,
                    y=best["fitted_scales"],
                    mode="lines",
                    name=f"its emergence-line fit (alpha {fit['alpha']:.3g}, R² {fit['r2']:.2f})",
                    line={"color": "black", "width": 1, "dash": "dash"},
                )
            )
    if len(fig.data) == 1:
        return None, left_out
    fig.update_xaxes(title_text=f"layer (depth pivot {report['layers']['pivot']})", type="category")
    ticks = plain_log_ticks(v for trace in fig.data for v in trace.y)
    fig.update_yaxes(
        title_text="applied scale over the trial's base init (log)", type="log", **ticks
    )
    fig.update_layout(height=HEIGHT, margin={"t": 20, "b": 40}, hovermode="closest")
    return fig, left_out


def importance_figure(report: dict) -> go.Figure | None:
    """fANOVA importances as horizontal bars, the largest on top."""
    values = report["importances"].get("values")
    if not values:
        return None
    ranked = sorted(values.items(), key=lambda kv: kv[1])
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in ranked],
            y=[k for k, _ in ranked],
            orientation="h",
            marker={"color": BEST_COLOUR},
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="fANOVA importance (sums to 1)")
    fig.update_layout(height=max(220, 40 * len(ranked) + 90), margin={"t": 20, "b": 40})
    return fig


def emergence_figure(report: dict, study: optuna.Study) -> tuple[go.Figure | None, int]:
    """log E at init against the objective, every completed trial; trials whose measure was
    E = 0 (stored without a finite log E) at a floor left of the rest. Returns the count."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    measured = [t for t in complete if contract.LOG_EMERGENCE in t.user_attrs]
    if not measured:
        return None, 0
    # the study measures E: a completed trial with applied scales but no log E had E = 0
    zero = [
        t
        for t in complete
        if contract.LOG_EMERGENCE not in t.user_attrs and contract.APPLIED_SCALES in t.user_attrs
    ]
    floor = log_e_floor(float(t.user_attrs[contract.LOG_EMERGENCE]) for t in measured)
    best = (report.get("best_searched") or {}).get("trial")
    styles = baseline_styles(report)
    groups: dict[str, dict[str, list]] = {}
    for t in measured + zero:
        is_zero = contract.LOG_EMERGENCE not in t.user_attrs
        name = t.user_attrs.get(contract.BASELINE)
        key = "best searched" if t.number == best else name if name in styles else "searched"
        g = groups.setdefault(key, {"x": [], "y": [], "symbol": [], "text": []})
        g["x"].append(floor if is_zero else float(t.user_attrs[contract.LOG_EMERGENCE]))
        g["y"].append(t.values[0])
        g["symbol"].append("diamond-open" if is_zero else "circle")
        g["text"].append(
            trial_label(t.user_attrs, t.number) + (" (E = 0, at the floor)" if is_zero else "")
        )
    fig = go.Figure()
    for key, g in groups.items():
        colour = (
            BEST_COLOUR
            if key == "best searched"
            else styles[key][0]
            if key in styles
            else "rgba(110,110,110,0.6)"
        )
        size = 14 if key == "best searched" else 11 if key in styles else 9
        fig.add_trace(
            go.Scatter(
                x=g["x"],
                y=g["y"],
                mode="markers",
                name=key,
                text=g["text"],
                marker={"color": colour, "size": size, "symbol": g["symbol"]},
                hovertemplate="%{text}<br>log E %{x:.3g}: %{y:.4g}<extra></extra>",
            )
        )
    if zero:
        fig.add_vline(x=floor, line={"dash": "dot", "color": "grey", "width": 1})
    zero_note = "; E = 0 at the dotted floor" if zero else ""
    fig.update_xaxes(title_text=f"log emergence at init (log E{zero_note})")
    fig.update_yaxes(title_text=report["metric"])
    fig.update_layout(height=HEIGHT, margin={"t": 20, "b": 40}, hovermode="closest")
    return fig, len(zero)
