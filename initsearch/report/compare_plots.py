"""Plotly figures of a comparison (the ``compare.json`` contract): per-layer scale profiles and
the emergence measure at init against test accuracy (the convergence small multiples are in
:mod:`initsearch.report.compare_curves`).

Figures are built from the JSON alone (no study, no MLflow), so a report can be drawn again
from a copied ``compare.json``. Missing or non-finite numbers arrive as ``null`` and are left
out point by point; every figure says how many runs each point rests on (hover ``n``). A run
without test curves (stored before comparisons measured the test split) draws nothing: its
validation curves are never shown in their place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from initsearch.compare.metrics import CORRELATED, LABELS
from initsearch.report.precision import number as finite  # None when missing or non-finite
from initsearch.report.profile_schemes import draws_profile, sets_weights_itself

# one colour per scheme, the same in every figure and the table; up to 34 distinct
_PALETTE = tuple(qualitative.Plotly) + tuple(qualitative.Dark24)
FIG_HEIGHT = 440


def scheme_colors(names: Iterable[str]) -> dict[str, str]:
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}


def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def plain_log_ticks(values: Iterable[float]) -> dict[str, list]:
    """Axis settings with plain ticks (0.2, 0.3, 0.5, 1, 2) over the positive ``values`` of a
    log axis: plotly labels its minor ticks with bare digits (9, 8, 7), which read as values
    of 9, 8, 7. Empty when there is nothing to tick."""
    found = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    if not found:
        return {}
    low, high = min(found) / 1.1, max(found) * 1.1
    nice = [m * 10.0**e for e in range(-6, 7) for m in (1, 2, 3, 5)]
    ticks = [v for v in nice if low <= v <= high]
    if len(ticks) < 3:  # a narrow range: finer steps
        nice = [m * 10.0**e for e in range(-6, 7) for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8)]
        ticks = [v for v in nice if low <= v <= high]
    return {"tickvals": ticks, "ticktext": [f"{v:g}" for v in ticks]}


def is_profile_scheme(scheme: dict) -> bool:
    """The searched best, and every scheme that yields its own per-layer profile."""
    init = scheme.get("init") or {}
    return scheme["name"].startswith("searched") or draws_profile(init.get("scheme"))


def _run_scales(scheme: dict) -> list[list[float]]:
    return [[finite(s) for s in run.get("scales") or []] for run in scheme.get("runs", [])]


def unrecorded_profiles(data: dict) -> list[str]:
    """Profile schemes left out of the profile figure: they record no factors (LPS; see
    :func:`~initsearch.report.profile_schemes.sets_weights_itself`)."""
    return [
        s["name"]
        for s in data["schemes"]
        if not s["name"].startswith("searched")
        and sets_weights_itself((s.get("init") or {}).get("scheme"), _run_scales(s))
    ]


def _geometric_profile(scheme: dict, layers: int) -> tuple[list, list, list, int] | None:
    """Per layer: geometric mean, min and max of the scales over the scheme's runs (GradInit is
    data-dependent, so its scales differ by seed)."""
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
    profile (the emergence rule, GradInit...), with the min-max over seeds as error bars and
    the base init at 1. Schemes that record no factors (LPS: ``unrecorded_profiles``) are left
    out; the page says why."""
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
    skipped = set(unrecorded_profiles(data))
    for scheme in data["schemes"]:
        if not is_profile_scheme(scheme) or scheme["name"] in skipped:
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
    # the ticks span every drawn value, error bars' ends included
    values = [v for t in fig.data for v in t.y]
    for t in fig.data:
        if t.error_y.array:
            values += [y + up for y, up in zip(t.y, t.error_y.array, strict=True)]
            values += [y - down for y, down in zip(t.y, t.error_y.arrayminus, strict=True)]
    fig.update_yaxes(title_text="scale factor (log)", type="log", **plain_log_ticks(values))
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


def log_e_floor(values: Iterable[float]) -> float:
    """Where runs with E = 0 (log E = -inf) are drawn: a little left of the lowest finite
    log E, so they stay visible and apart instead of vanishing from the plot."""
    finite_values = [v for v in values if math.isfinite(v)]
    if not finite_values:
        return 0.0
    low, high = min(finite_values), max(finite_values)
    return low - 0.15 * ((high - low) or 1.0)


def emergence_zero_runs(data: dict) -> int:
    """Runs whose emergence measure at init was E = 0 (log E = -inf, stored as null)."""
    return sum(bool(r.get("emergence_zero")) for s in data["schemes"] for r in s.get("runs", []))


def _emergence_x(run: dict, floor: float) -> float | None:
    return floor if run.get("emergence_zero") else finite(run.get("log_emergence"))


def emergence_figure(data: dict, colors: dict[str, str]) -> go.Figure | None:
    """log E at init against first-epoch and final test accuracy, every run of every scheme;
    runs that did not complete are crosses, runs with E = 0 open diamonds at a floor left of
    every finite log E (marked by a dotted line)."""
    panels = tuple((key, LABELS[key]) for key in CORRELATED)
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=[correlation_title(data, key, label) for key, label in panels],
        horizontal_spacing=0.08,
    )
    runs = [r for s in data["schemes"] for r in s.get("runs", [])]
    floor = log_e_floor(v for r in runs if (v := finite(r.get("log_emergence"))) is not None)
    drawn = False
    for scheme in data["schemes"]:
        name = scheme["name"]
        for col, (key, _) in enumerate(panels, start=1):
            xs, ys, symbols, text = [], [], [], []
            for run in scheme.get("runs", []):
                x = _emergence_x(run, floor)
                y = finite((run.get("summary") or {}).get(key))
                if x is None or y is None:
                    continue
                status = run.get("status", "completed")
                zero = bool(run.get("emergence_zero"))
                xs.append(x)
                ys.append(y)
                symbol = "circle" if status == "completed" else "x"
                symbols.append("diamond-open" if zero else symbol)
                where = "E = 0, drawn at the floor" if zero else f"log E {x:.3g}"
                shown = f"{status}, no progress" if run.get("no_progress") else status
                text.append(f"seed {run.get('seed')} ({shown}), {where}")
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
                    hovertemplate=f"{name}, %{{text}}<br>test accuracy %{{y:.4g}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
    if not drawn:
        return None
    if emergence_zero_runs(data):
        for col in (1, 2):
            line = {"dash": "dot", "color": "grey", "width": 1}
            fig.add_vline(x=floor, line=line, row=1, col=col)
    zero_note = "; E = 0 at the dotted floor" if emergence_zero_runs(data) else ""
    fig.update_xaxes(title_text=f"log emergence at init (log E{zero_note})")
    fig.update_yaxes(title_text="test accuracy")
    fig.update_layout(
        height=FIG_HEIGHT, margin={"t": 50, "b": 40}, hovermode="closest", showlegend=True
    )
    return fig
