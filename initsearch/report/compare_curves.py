"""The comparison's convergence figures as small multiples: one panel per scheme.

Ten schemes' 95% bands drawn over each other in one panel hide one another, so each scheme
gets its own panel (same axes everywhere), drawn in its colour over the reference scheme's
mean and band in grey: whether a scheme converges faster or ends higher than the reference
reads off each panel alone. Test split only (see :mod:`initsearch.report.compare_plots`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from initsearch.compare.metrics import ACCURACY_CURVE, LOSS_CURVE
from initsearch.compare.stats import mean_ci
from initsearch.report.compare_plots import finite, plain_log_ticks, rgba

COLUMNS = 4  # panels per row: about 300 px each in the report's 1280 px column
ROW_HEIGHT = 230
REFERENCE_GREY = "#7f7f7f"
TITLES = {ACCURACY_CURVE: "test accuracy", LOSS_CURVE: "test loss (log)"}


def mean_band(
    curves: Sequence[Sequence[Any]],
) -> tuple[list[int], list[float], list[float], list[float], list[int]]:
    """Per epoch: the mean over runs and its 95% Student-t confidence interval.

    Curves may differ in length (a diverged run stops early) and hold nulls; epoch ``e`` uses
    the runs with a finite value there. With one value the band collapses onto the mean.
    Returns (epochs counted from 1, mean, low, high, n) over the epochs with any value."""
    longest = max((len(c) for c in curves), default=0)
    epochs, means, lows, highs, counts = [], [], [], [], []
    for e in range(longest):
        values = [v for c in curves if e < len(c) and (v := finite(c[e])) is not None]
        if not values:
            continue
        band = mean_ci(values)
        epochs.append(e + 1)
        means.append(band.mean)
        lows.append(band.mean if band.ci_low is None else band.ci_low)
        highs.append(band.mean if band.ci_high is None else band.ci_high)
        counts.append(band.n)
    return epochs, means, lows, highs, counts


def _positive(value: Any) -> bool:
    v = finite(value)
    return v is not None and v > 0


def scheme_band(scheme: dict, key: str) -> tuple[list, list, list, list, list]:
    """``mean_band`` of one scheme's ``key`` curves; a loss keeps positive values only (a log
    axis cannot show the rest) and its band's low end at most 1000x below the mean."""
    curves = [list((run.get("curve") or {}).get(key) or []) for run in scheme.get("runs", [])]
    if key == LOSS_CURVE:
        curves = [[v if _positive(v) else None for v in c] for c in curves]
    epochs, mean, low, high, n = mean_band(curves)
    if key == LOSS_CURVE:
        low = [max(v, m * 1e-3) for v, m in zip(low, mean, strict=True)]
    return epochs, mean, low, high, n


def _band_traces(name: str, band: tuple, colour: str, row: int, col: int, grey: bool) -> list:
    epochs, mean, low, high, n = band
    fill = rgba(colour, 0.18 if grey else 0.25)
    area = go.Scatter(
        x=epochs + epochs[::-1],
        y=high + low[::-1],
        mode="lines",
        fill="toself",
        fillcolor=fill,
        line={"width": 0},
        hoverinfo="skip",
        showlegend=False,
        name=f"{name} 95% CI",
    )
    line = go.Scatter(
        x=epochs,
        y=mean,
        mode="lines" if grey else "lines+markers",
        line={"color": colour, "width": 1.2 if grey else 2, "dash": "dot" if grey else "solid"},
        marker={"size": 4},
        name=name,
        showlegend=False,
        customdata=[[k, lo, hi] for k, lo, hi in zip(n, low, high, strict=True)],
        hovertemplate=(
            f"{name}<br>epoch %{{x}}: %{{y:.4g}}"
            "<br>95% CI [%{customdata[1]:.4g}, %{customdata[2]:.4g}]"
            "<br>n = %{customdata[0]}<extra></extra>"
        ),
    )
    return [(area, row, col), (line, row, col)]


def convergence_figure(data: dict, colors: dict[str, str], key: str) -> go.Figure | None:
    """One panel per scheme with test curves: its mean and 95% band in its colour over the
    reference scheme's in grey; ``key`` is the test accuracy or test loss curve."""
    reference = data.get("reference")
    bands = {s["name"]: scheme_band(s, key) for s in data["schemes"]}
    drawn = [s["name"] for s in data["schemes"] if bands[s["name"]][0]]
    if not drawn:
        return None
    cols = min(COLUMNS, len(drawn))
    rows = math.ceil(len(drawn) / cols)
    titles = [f"{n} (reference)" if n == reference else n for n in drawn]
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=titles,
        shared_xaxes="all",
        shared_yaxes="all",
        horizontal_spacing=0.03,
        vertical_spacing=0.5 / (rows * 4) + 0.06,
    )
    ref_band = bands.get(reference) if reference in drawn else None
    for i, name in enumerate(drawn):
        row, col = divmod(i, cols)
        placed = []
        if ref_band is not None and name != reference:
            placed += _band_traces(reference, ref_band, REFERENCE_GREY, row + 1, col + 1, True)
        placed += _band_traces(name, bands[name], colors[name], row + 1, col + 1, False)
        for trace, r, c in placed:
            fig.add_trace(trace, row=r, col=c)
    fig.update_xaxes(dtick=1)
    fig.update_xaxes(title_text="epoch", row=rows)
    fig.update_yaxes(title_text=TITLES.get(key, key), col=1)
    fig.update_xaxes(showticklabels=True)  # also under panels with none below them
    if key == LOSS_CURVE:
        values = [v for n in drawn for v in bands[n][2] + bands[n][3]]
        fig.update_yaxes(type="log", **plain_log_ticks(values))
    for annotation in fig.layout.annotations:
        annotation.font.size = 12
    fig.update_layout(
        height=ROW_HEIGHT * rows + 70,
        margin={"t": 40, "b": 40, "l": 60, "r": 20},
        hovermode="closest",
        showlegend=False,
    )
    return fig
