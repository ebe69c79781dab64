"""The study report's figures: matplotlib PNGs drawn from the report's own numbers, and
Optuna's plotly visualisations as HTML.

The PNGs use matplotlib's object API (``Figure`` + the Agg canvas), never pyplot, so no GUI
backend or global figure state is touched. The HTML files reference one ``plotly.min.js``
written beside them (plotly's ``include_plotlyjs="directory"``): they open offline, and three
figures do not carry three copies of the 3.5 MB library. Move the folder as a whole.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna

# one colour per baseline, stable across both PNGs
_PALETTE = ("#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
_MARKERS = ("*", "D", "^", "v", "P", "X", "s")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _baseline_styles(report: dict) -> dict[str, tuple[str, str]]:
    names = [b["name"] for b in report["baselines"]]
    return {
        n: (_PALETTE[i % len(_PALETTE)], _MARKERS[i % len(_MARKERS)]) for i, n in enumerate(names)
    }


def _plain_log_ticks(ax) -> None:
    """About six ticks spread evenly (in logs) over the drawn range, written as plain
    2-digit numbers (0.55, 0.8, 1, 1.4): searched scales often span less than a factor of 10,
    where matplotlib's decade ticks would leave the axis nearly unlabelled."""
    import numpy as np
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    lo, hi = ax.get_ylim()
    ticks = {float(f"{v:.2g}") for v in np.geomspace(lo, hi, 6)[1:-1]}
    if lo <= 1.0 <= hi:
        ticks.add(1.0)
    # drop ticks crowding the line at 1 (closer than a tenth of the range in logs)
    gap = 0.1 * (np.log(hi) - np.log(lo))
    ticks = {t for t in ticks if t == 1.0 or 1.0 not in ticks or abs(np.log(t)) > gap}
    ax.yaxis.set_major_locator(FixedLocator(sorted(ticks)))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))


def profile_png(report: dict, path: Path) -> str | None:
    """Per-layer scales (log axis) vs layer: best searched, top-k faint, the fitted emergence
    line, the emergence baselines and GradInit. Returns why it was skipped, or None."""
    names = report["layers"]["names"]
    xs = list(range(len(names)))
    best = report["best_searched"]
    drawn = [b for b in report["baselines"] if b["scheme"] in ("emergence", "gradinit")]
    drawn = [b for b in drawn if len(b["scales"]) == len(names)]
    if best is None and not drawn:
        return "no completed searched trial and no emergence/GradInit profile to draw"
    fig = _figure(max(7.0, 0.5 * len(names) + 3.5), 4.8)
    ax = fig.add_subplot()
    ax.axhline(1.0, color="0.6", lw=0.8, label=f"base init ({report['base_init']})")
    styles = _baseline_styles(report)
    for i, entry in enumerate(report["top_k"]["trials"][1:]):
        ax.plot(
            xs,
            entry["scales"],
            color="tab:blue",
            alpha=0.25,
            lw=1,
            marker=".",
            label="top-k searched" if i == 0 else None,
        )
    for b in drawn:
        color, _ = styles[b["name"]]
        style = ":" if b["scheme"] == "gradinit" else "--"
        ax.plot(
            xs,
            b["scales"],
            ls=style,
            color=color,
            lw=1.5,
            marker="o",
            ms=3,
            label=f"{b['name']} (baseline)",
        )
    if best is not None:
        ax.plot(
            xs,
            best["scales"],
            color="tab:blue",
            lw=2.4,
            marker="o",
            label=f"best searched (trial {best['trial']})",
        )
        if best["fit"]:
            fit = best["fit"]
            ax.plot(
                xs,
                best["fitted_scales"],
                color="black",
                lw=1.2,
                ls="-.",
                label=f"fit: alpha={fit['alpha']:.3g}, R²={fit['r2']:.2f}",
            )
    ax.set_yscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels(
        names,
        rotation=45 if len(names) > 4 else 0,
        ha="right" if len(names) > 4 else "center",
        fontsize=8,
    )
    ax.set_xlabel(f"layer (depth pivot {report['layers']['pivot']})")
    ax.set_ylabel("scale relative to base init (log axis)")
    ax.set_title(f"{report['study']}: per-layer scale profile vs the emergence rule", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="best")
    _plain_log_ticks(ax)
    fig.tight_layout()
    fig.savefig(path)
    return None


def history_png(report: dict, path: Path) -> str | None:
    """Objective per trial: searched trials, best-so-far, pruned trials' last reported value,
    and each baseline marked with a line at its value. Returns why it was skipped, or None."""
    rows = report["trials"]
    complete = [r for r in rows if r["value"] is not None]
    if not complete:
        return "no completed trial yet"
    maximise = report["direction"] == "maximize"
    fig = _figure(8.0, 4.6)
    ax = fig.add_subplot()
    searched = [r for r in complete if r["baseline"] is None]
    if searched:
        ax.scatter(
            [r["number"] for r in searched],
            [r["value"] for r in searched],
            color="tab:blue",
            s=22,
            label="searched",
            zorder=3,
        )
    pruned = [r for r in rows if r["state"] == "PRUNED" and r["last_intermediate"] is not None]
    if pruned:
        ax.scatter(
            [r["number"] for r in pruned],
            [r["last_intermediate"] for r in pruned],
            color="0.55",
            marker="x",
            s=22,
            label="pruned (last reported)",
            zorder=2,
        )
    xs, best_so_far, best = [], [], None
    for r in sorted(complete, key=lambda r: r["number"]):
        v = r["value"]
        best = v if best is None or (v > best if maximise else v < best) else best
        xs.append(r["number"])
        best_so_far.append(best)
    ax.step(xs, best_so_far, where="post", color="black", lw=1.2, label="best so far")
    styles = _baseline_styles(report)
    for b in report["baselines"]:
        if b["value"] is None:
            continue
        color, marker = styles[b["name"]]
        ax.axhline(b["value"], color=color, ls="--", lw=0.8, alpha=0.7)
        ax.scatter(
            [b["trial"]],
            [b["value"]],
            color=color,
            marker=marker,
            s=90,
            zorder=4,
            edgecolor="black",
            linewidth=0.5,
            label=f"{b['name']} (rank {b['rank']}/{b['n_complete']})",
        )
    ax.set_xlabel("trial number")
    ax.set_ylabel(report["metric"])
    ax.set_title(f"{report['study']}: optimisation history ({report['direction']})", fontsize=10)
    ax.grid(True, alpha=0.25)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    return None


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
    styles = _baseline_styles(report)
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
    from optuna.importance import FanovaImportanceEvaluator

    from initsearch.report.study_report import importance_study

    imp = report["importances"]
    if "values" not in imp:
        return f"parameter importances skipped: {imp['skipped']}"
    fig = optuna.visualization.plot_param_importances(
        importance_study(study),
        evaluator=FanovaImportanceEvaluator(seed=0),
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
    curves = [(t, t.user_attrs.get("val_accuracy_curve")) for t in trials]
    curves = [(t, c) for t, c in curves if c]
    if not curves:
        return "no trial reported intermediate values or stored a validation curve"
    fig = go.Figure()
    for t, curve in curves:
        label = t.user_attrs.get("baseline") or "searched"
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


def write_plots(report: dict, study: optuna.Study, out: Path) -> tuple[dict[str, Path], list[str]]:
    """Write every figure that the study's state allows; the rest are notes saying why not."""
    jobs = (
        ("profile_png", "scale_profile.png", lambda p: profile_png(report, p)),
        ("history_png", "optimization_history.png", lambda p: history_png(report, p)),
        ("history_html", "optimization_history.html", lambda p: history_html(report, study, p)),
        (
            "importances_html",
            "param_importances.html",
            lambda p: importances_html(report, study, p),
        ),
        (
            "intermediate_html",
            "intermediate_values.html",
            lambda p: intermediate_html(report, study, p),
        ),
    )
    files: dict[str, Path] = {}
    notes: list[str] = []
    with warnings.catch_warnings():  # Optuna marks its plotting helpers experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for key, name, draw in jobs:
            path = out / name
            why = draw(path)
            if why is None:
                files[key] = path
            else:
                notes.append(f"{name} not written: {why}")
    js = out / "plotly.min.js"
    if js.exists():
        files["plotly_js"] = js
    return files, notes
