"""The suite report's figures (plotly): the depth question's curves and each searched
profile against the rule and Kaiming, with the top-k interval as a band."""

from __future__ import annotations

from typing import Any

from initsearch.compare.metrics import FIRST_EPOCH_TEST_ACCURACY, LABELS
from initsearch.suite.searched import profile
from initsearch.suite.tables import depth_series

PALETTE = (
    *("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"),
    *("#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"),
)
"""One colour per arm, in the arms' order (the PNGs use the same)."""


def depth_figure(comparisons: list[dict[str, Any]], metric: str = FIRST_EPOCH_TEST_ACCURACY):
    """Mean ``metric`` against depth, one line per arm, a panel without and one with BN."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    series = depth_series(comparisons, metric)
    if not series:
        return None
    fig = make_subplots(rows=1, cols=2, subplot_titles=["without batch norm", "with batch norm"])
    for i, (name, by_bn) in enumerate(series.items()):
        for col, bn in enumerate((False, True), start=1):
            points = by_bn[bn]
            if not points:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in points],
                    y=[p[1] for p in points],
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    mode="lines+markers",
                    line={
                        "color": PALETTE[i % len(PALETTE)],
                        "width": 3 if name == "kaiming" else 1.5,
                    },
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(type="log", title_text="depth (layers)", tickvals=[4, 8, 16, 32])
    fig.update_yaxes(title_text=LABELS[metric], col=1)
    fig.update_layout(height=460, margin={"t": 40, "b": 40})
    return fig


def profile_figure(comparison: dict[str, Any]):
    """The best searched factors, the top-k interval, the best rule arm and Kaiming's 1."""
    import plotly.graph_objects as go

    p = profile(comparison)
    if not p["best"]:
        return None
    x = list(range(len(p["layers"])))
    fig = go.Figure()
    if p["ci_low"]:
        fig.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=p["ci_high"] + p["ci_low"][::-1],
                fill="toself",
                mode="lines",
                fillcolor="rgba(31,119,180,0.18)",
                line={"width": 0},
                name=f"top-{p['k']} 95% CI",
                hoverinfo="skip",
            )
        )
    fig.add_trace(
        go.Scatter(x=x, y=p["best"], name="searched #1", line={"color": "#1f77b4", "width": 3})
    )
    if p["rule_scales"]:
        fig.add_trace(
            go.Scatter(
                x=x, y=p["rule_scales"], name=p["rule"], line={"color": "#d62728", "dash": "dash"}
            )
        )
    fig.add_trace(
        go.Scatter(x=x, y=[1.0] * len(x), name="kaiming", line={"color": "#555", "dash": "dot"})
    )
    fig.update_xaxes(tickvals=x, ticktext=p["layers"], title_text="layer")
    fig.update_yaxes(type="log", title_text="applied factor (1 = Kaiming)")
    fig.update_layout(height=420, title=comparison["label"], margin={"t": 50, "b": 60})
    return fig
