"""The plotly figures a study carries into the Optuna dashboard (its figure API).

optuna-dashboard draws its own panels from parameters and objective values; a study of init
scales is read through three others, drawn here from the trials' stored attributes alone:

- validation curves: the best searched trial against the labelled baselines, the other
  searched trials a faint cloud (a comparison or confirmation draws each arm's seeds);
- per-layer scale profiles (applied scales, log axis) of the best searched trials against the
  emergence rule's line (the rule baseline, dashed; the least-squares fit through the best,
  dotted; :mod:`initsearch.report.emergence_fit`) and the base init's flat line at 1;
- the confirmation's verdict as a table.

Colours per baseline are the report's (:func:`initsearch.report.study_png.baseline_styles`).
The small ``plotly_white`` template keeps each stored figure compact: a figure is stored as
study system attributes of 2 kB each.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import plotly.graph_objects as go
from optuna.trial import FrozenTrial

from initsearch.confirm.verdict import Verdict, metric_name
from initsearch.contract import APPLIED_SCALES, VAL_ACCURACY_CURVE
from initsearch.labels import STAGE_SEARCH, trial_label
from initsearch.report.compare_plots import finite, rgba
from initsearch.report.emergence_fit import default_pivot, try_fit
from initsearch.report.profile_schemes import draws_profile, is_rule
from initsearch.report.study_png import baseline_styles

TEMPLATE = "plotly_white"
BEST_COLOUR, CLOUD_COLOUR = "#1f77b4", "#7f7f7f"
TOP_PROFILES = 5  # best searched profiles drawn (the best bold, the others faint)


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "font": {"size": 14}},
        xaxis_title=x,
        yaxis_title=y,
        margin={"l": 60, "r": 20, "t": 50, "b": 10},
        legend={"font": {"size": 10}, "orientation": "h", "y": -0.2, "yanchor": "top"},
    )
    return fig


def _curve(trial: FrozenTrial) -> list[float | None]:
    return [finite(v) for v in trial.user_attrs.get(VAL_ACCURACY_CURVE) or []]


def _styles(names: Sequence[str]) -> dict[str, str]:
    styles = baseline_styles({"baselines": [{"name": n} for n in names]})
    return {n: colour for n, (colour, _) in styles.items()}


def curves_figure(
    highlighted: Sequence[tuple[str, FrozenTrial]],
    best: FrozenTrial | None,
    cloud: Sequence[FrozenTrial],
    stage: str,
) -> go.Figure | None:
    """Validation accuracy per epoch: ``highlighted`` (label, trial) pairs in their colours,
    ``best`` bold, ``cloud`` as one faint trace. None when no trial has a curve."""
    fig = go.Figure()
    xs_cloud: list[int | None] = []
    ys_cloud: list[float | None] = []
    for t in cloud:
        curve = _curve(t)
        xs_cloud += [*range(1, len(curve) + 1), None]
        ys_cloud += [*curve, None]
    if xs_cloud:
        fig.add_trace(
            go.Scatter(
                x=xs_cloud,
                y=ys_cloud,
                mode="lines",
                name="other searched",
                line={"color": rgba(CLOUD_COLOUR, 0.25), "width": 1},
                hoverinfo="skip",
            )
        )
    colours = _styles(list(dict.fromkeys(label for label, _ in highlighted)))
    shown: set[str] = set()
    for label, t in highlighted:  # one legend entry per label (an arm's seeds share one)
        curve = _curve(t)
        if curve:
            fig.add_trace(
                go.Scatter(
                    x=list(range(1, len(curve) + 1)),
                    y=curve,
                    name=label,
                    mode="lines+markers",
                    line={"color": colours[label]},
                    marker={"size": 4},
                    legendgroup=label,
                    showlegend=label not in shown,
                )
            )
            shown.add(label)
    if best is not None and _curve(best):
        curve = _curve(best)
        label = f"best: {trial_label(best.user_attrs, best.number, stage)}"
        fig.add_trace(
            go.Scatter(
                x=list(range(1, len(curve) + 1)),
                y=curve,
                name=label,
                mode="lines",
                line={"color": BEST_COLOUR, "width": 3},
            )
        )
    if not fig.data:
        return None
    if stage == STAGE_SEARCH:
        return _layout(fig, "Validation curves", "epoch", "val_accuracy (mean over seeds)")
    title = (
        "Validation curves per arm, one line per seed<br><sup>a fixed grid: the History's best-"
        "value line and the importance panel do not apply (see the Note tab)</sup>"
    )
    return _layout(fig, title, "epoch", "val_accuracy")


def profiles_figure(
    searched: Sequence[FrozenTrial],
    baselines: Sequence[tuple[str, str, FrozenTrial]],
    names: Sequence[str],
    depths: Sequence[int],
    base_init: str,
    stage: str,
) -> go.Figure | None:
    """Applied per-layer scales of the ``searched`` trials (best first), the profile
    ``baselines`` (label, scheme, trial) and the base init's line at 1; None when nothing
    has a profile of the model's length."""
    xs = [f"{i}: {n}" for i, n in enumerate(names)]
    hover = [f"depth {d}" for d in depths]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[1.0] * len(xs),
            mode="lines",
            name=f"{base_init} (flat)",
            line={"color": "#444444", "width": 1},
        )
    )
    for label, scheme, t in baselines:
        scales = [float(s) for s in t.user_attrs.get(APPLIED_SCALES) or []]
        if len(scales) == len(xs) and draws_profile(scheme):
            dash = "dash" if is_rule(scheme) else "dot"
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=scales,
                    name=label,
                    text=hover,
                    mode="lines",
                    line={"dash": dash, "width": 2},
                )
            )
    top = [t for t in searched if len(t.user_attrs.get(APPLIED_SCALES) or []) == len(xs)]
    for rank, t in enumerate(top[:TOP_PROFILES]):
        scales = [float(s) for s in t.user_attrs[APPLIED_SCALES]]
        label = trial_label(t.user_attrs, t.number, stage)
        first = rank == 0
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=scales,
                text=hover,
                mode="lines+markers",
                name=f"best: {label}" if first else label,
                line={
                    "color": BEST_COLOUR if first else rgba(BEST_COLOUR, 0.3),
                    "width": 3 if first else 1,
                },
            )
        )
        if first and depths:
            fit, _ = try_fit(scales, list(depths), default_pivot(list(depths)))
            if fit is not None:
                fig.add_trace(
                    go.Scatter(
                        x=xs,
                        y=fit.line(list(depths)),
                        mode="lines",
                        name=f"emergence fit to best (alpha={fit.alpha:.3g}, R²={fit.r2:.2f})",
                        line={"color": BEST_COLOUR, "dash": "dot", "width": 1},
                    )
                )
    if len(fig.data) == 1:
        return None
    fig = _layout(fig, "Per-layer scale profiles (applied)", "layer", "scale (log axis)")
    return fig.update_yaxes(type="log")


def _cell(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _interval(mean: float | None, low: float | None, high: float | None, signed: bool) -> str:
    if mean is None:
        return "-"
    return f"{_cell(mean, signed)}<br>[{_cell(low, signed)}, {_cell(high, signed)}]"


def verdict_figure(record: dict | None) -> go.Figure | None:
    """The kept verdict (``initsearch.confirm.current_verdict``) as a table, searched arms
    first; None without one."""
    if not record:
        return None
    verdict = Verdict.from_dict(record["verdict"])
    rows = sorted(verdict.rows, key=lambda r: r.kind != "searched")
    columns = {
        "arm": [f"<b>{r.arm}</b>" if r.kind == "searched" else r.arm for r in rows],
        "seeds": [str(r.n) for r in rows],
        f"{metric_name(verdict.metric)}<br>mean [95% CI]": [
            _interval(r.test_mean, r.test_ci_low, r.test_ci_high, False) for r in rows
        ],
        "vs best baseline<br>diff [95% CI]": [
            "best baseline"
            if r.arm == verdict.best_baseline
            else _interval(r.diff, r.diff_ci_low, r.diff_ci_high, True)
            for r in rows
        ],
        "p (Holm)": [_cell(r.p_adjusted) + (" *" if r.significant else "") for r in rows],
    }
    table = go.Table(
        header={"values": list(columns), "align": "left", "fill_color": "#e8eef7"},
        cells={"values": list(columns.values()), "align": "left", "height": 34},
        columnwidth=[2.4, 0.8, 2.2, 2.2, 1.2],
    )
    title = "<br>".join(_wrap(f"Verdict ({verdict.outcome}): {verdict.sentence}", 75))
    fig = go.Figure(table)
    fig.update_layout(
        template=TEMPLATE,
        title={
            "text": title + "<br><sup>* significant after Holm's correction</sup>",
            "font": {"size": 12},
        },
        margin={"l": 10, "r": 10, "t": 110, "b": 10},
    )
    return fig


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width) or [text]
