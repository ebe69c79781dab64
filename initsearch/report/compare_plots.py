"""Plotly figures of a comparison (the ``compare.json`` contract): test-split convergence curves
with 95% confidence bands, per-layer scale profiles, and the emergence measure at init against
test accuracy.

Figures are built from the JSON alone (no study, no MLflow), so a report can be drawn again
from a copied ``compare.json``. Missing or non-finite numbers arrive as ``null`` and are left
out point by point; every figure says how many runs each point rests on (hover ``n``). A run
without test curves (stored before comparisons measured the test split) draws nothing: its
validation curves are never shown in their place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from initsearch.compare.metrics import (
    ACCURACY_CURVE,
    CORRELATED,
    LABELS,
    LOSS_CURVE,
)
from initsearch.compare.stats import mean_ci
from initsearch.report.profile_schemes import draws_profile

# one colour per scheme, the same in every figure and the table; up to 34 distinct
_PALETTE = tuple(qualitative.Plotly) + tuple(qualitative.Dark24)
FIG_HEIGHT = 440


def finite(value: Any) -> float | None:
    """``value`` as a float, or None when missing, non-numeric or non-finite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def scheme_colors(names: Iterable[str]) -> dict[str, str]:
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


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


def _curves(scheme: dict, key: str) -> list[list[Any]]:
    return [list((run.get("curve") or {}).get(key) or []) for run in scheme.get("runs", [])]


def convergence_figure(data: dict, colors: dict[str, str]) -> go.Figure | None:
    """Test accuracy and test loss per epoch: mean line and 95% band per scheme (one legend
    entry toggles a scheme in both panels). Loss on a log axis: a scheme that blows up would
    flatten every other curve on a linear one."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Test accuracy", "Test loss"),
        horizontal_spacing=0.08,
    )
    drawn = False
    for scheme in data["schemes"]:
        name = scheme["name"]
        colour = colors[name]
        for col, key in ((1, ACCURACY_CURVE), (2, LOSS_CURVE)):
            curves = _curves(scheme, key)
            if key == LOSS_CURVE:  # a log axis cannot show a zero or negative loss
                curves = [[v if _positive(v) else None for v in c] for c in curves]
            epochs, mean, low, high, n = mean_band(curves)
            if not epochs:
                continue
            drawn = True
            if key == LOSS_CURVE:
                low = [max(v, m * 1e-3) for v, m in zip(low, mean, strict=True)]
            fig.add_trace(
                go.Scatter(
                    x=epochs + epochs[::-1],
                    y=high + low[::-1],
                    mode="lines",  # plotly's default for few points adds markers
                    fill="toself",
                    fillcolor=_rgba(colour, 0.15),
                    line={"width": 0},
                    hoverinfo="skip",
                    legendgroup=name,
                    showlegend=False,
                    name=f"{name} 95% CI",
                ),
                row=1,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=mean,
                    mode="lines+markers",
                    line={"color": colour, "width": 2},
                    marker={"size": 5},
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    customdata=[[k, lo, hi] for k, lo, hi in zip(n, low, high, strict=True)],
                    hovertemplate=(
                        f"{name}<br>epoch %{{x}}: %{{y:.4g}}"
                        "<br>95% CI [%{customdata[1]:.4g}, %{customdata[2]:.4g}]"
                        "<br>n = %{customdata[0]}<extra></extra>"
                    ),
                ),
                row=1,
                col=col,
            )
    if not drawn:
        return None
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_yaxes(title_text="test accuracy", row=1, col=1)
    fig.update_yaxes(title_text="test loss (log)", type="log", row=1, col=2)
    fig.update_layout(
        height=FIG_HEIGHT, margin={"t": 40, "b": 40}, hovermode="closest", showlegend=True
    )
    return fig


def is_profile_scheme(scheme: dict) -> bool:
    """The searched best, and every scheme that yields its own per-layer profile."""
    init = scheme.get("init") or {}
    return scheme["name"].startswith("searched") or draws_profile(init.get("scheme"))


def _geometric_profile(scheme: dict, layers: int) -> tuple[list, list, list, int] | None:
    """Per layer: geometric mean, min and max of the scales over the scheme's runs (GradInit
    and LPS are data-dependent, so their scales differ by seed)."""
    rows = []
    for run in scheme.get("runs", []):
        scales = [finite(s) for s in run.get("scales") or []]
        if len(scales) == layers and all(s is not None and s > 0 for s in scales):
            rows.append(scales)
    if not rows and len((scheme.get("init") or {}).get("scales") or []) == layers:
        fixed = [finite(s) for s in scheme["init"]["scales"]]
        if all(s is not None and s > 0 for s in fixed):
            rows.append(fixed)
    if not rows:
        return None
    cols = list(zip(*rows, strict=True))
    geo = [math.exp(sum(math.log(v) for v in col) / len(col)) for col in cols]
    return geo, [min(col) for col in cols], [max(col) for col in cols], len(rows)


def profile_figure(data: dict, colors: dict[str, str]) -> go.Figure | None:
    """Per-layer scale factors (log axis) of the searched best and the schemes with their own
    profile (the emergence rule, GradInit, LPS...), with the min-max over seeds as error bars
    and the base init at 1."""
    names = list(data.get("layer_names") or [])
    depths = list(data.get("layer_depths") or [])
    width = max(
        (len(r.get("scales") or []) for s in data["schemes"] for r in s.get("runs", [])), default=0
    )
    if not names:
        names = [f"layer {i}" for i in range(width)]
    if len(depths) != len(names):
        depths = list(range(len(names)))
    fig = go.Figure()
    drawn = False
    for scheme in data["schemes"]:
        if not is_profile_scheme(scheme):
            continue
        profile = _geometric_profile(scheme, len(names))
        if profile is None:
            continue
        geo, lo, hi, n = profile
        drawn = True
        name = scheme["name"]
        fig.add_trace(
            go.Scatter(
                x=names,
                y=geo,
                mode="lines+markers",
                name=name,
                line={"color": colors[name], "width": 2},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [h - g for h, g in zip(hi, geo, strict=True)],
                    "arrayminus": [g - m for g, m in zip(geo, lo, strict=True)],
                    "thickness": 1,
                },
                customdata=[[d, m, h, n] for d, m, h in zip(depths, lo, hi, strict=True)],
                hovertemplate=(
                    f"{name}<br>%{{x}} (depth %{{customdata[0]}}): %{{y:.4g}}"
                    "<br>seeds: min %{customdata[1]:.4g}, max %{customdata[2]:.4g}, "
                    "n = %{customdata[3]}<extra></extra>"
                ),
            )
        )
    if not drawn:
        return None
    # a trace, not add_hline(annotation_text=...): plotly places annotations on a log axis
    # at 10**y, which stretched the axis up to 10
    fig.add_trace(
        go.Scatter(
            x=names,
            y=[1.0] * len(names),
            mode="lines",
            name="base init (1)",
            line={"dash": "dot", "color": "grey", "width": 1},
            hoverinfo="skip",
        )
    )
    fig.update_xaxes(title_text="layer", type="category")
    fig.update_yaxes(title_text="scale factor (log)", type="log")
    fig.update_layout(
        height=FIG_HEIGHT, margin={"t": 30, "b": 40}, hovermode="closest", showlegend=True
    )
    return fig


def correlation_title(data: dict, y: str, label: str) -> str:
    """``label`` with the comparison's Spearman correlation of log E against ``y``."""
    for c in data.get("correlations") or []:
        if c.get("x") == "log_emergence" and c.get("y") == y:
            r, p = finite(c.get("spearman_r")), finite(c.get("p"))
            if r is None:
                return f"{label}: Spearman r = n/a (n = {c.get('n', 0)})"
            p_text = "n/a" if p is None else f"{p:.2g}"
            return f"{label}: Spearman r = {r:.2f} (p = {p_text}, n = {c.get('n', 0)})"
    return f"{label}: Spearman r not computed"


def emergence_figure(data: dict, colors: dict[str, str]) -> go.Figure | None:
    """log E at init against first-epoch and final test accuracy, every run of every scheme;
    runs that did not complete are drawn as crosses."""
    panels = tuple((key, LABELS[key]) for key in CORRELATED)
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=[correlation_title(data, key, label) for key, label in panels],
        horizontal_spacing=0.08,
    )
    drawn = False
    for scheme in data["schemes"]:
        name = scheme["name"]
        for col, (key, _) in enumerate(panels, start=1):
            xs, ys, symbols, text = [], [], [], []
            for run in scheme.get("runs", []):
                x = finite(run.get("log_emergence"))
                y = finite((run.get("summary") or {}).get(key))
                if x is None or y is None:
                    continue
                status = run.get("status", "completed")
                xs.append(x)
                ys.append(y)
                symbols.append("circle" if status == "completed" else "x")
                text.append(f"seed {run.get('seed')} ({status})")
            if not xs:
                continue
            drawn = True
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="markers",
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    marker={"color": colors[name], "size": 8, "symbol": symbols},
                    text=text,
                    hovertemplate=f"{name}, %{{text}}<br>log E %{{x:.3g}}, "
                    "test accuracy %{y:.4g}<extra></extra>",
                ),
                row=1,
                col=col,
            )
    if not drawn:
        return None
    fig.update_xaxes(title_text="log emergence at init (log E)")
    fig.update_yaxes(title_text="test accuracy")
    fig.update_layout(
        height=FIG_HEIGHT, margin={"t": 50, "b": 40}, hovermode="closest", showlegend=True
    )
    return fig
