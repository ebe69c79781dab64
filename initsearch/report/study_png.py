"""The study report's PNG figures, drawn with matplotlib from the report's own numbers.

They use matplotlib's object API (``Figure`` + the Agg canvas), never pyplot, so no GUI
backend or global figure state is touched. ``baseline_styles`` gives each baseline one colour
and marker, the same in these PNGs and in the HTML figures of
:mod:`initsearch.report.study_figures`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from initsearch.report.profile_schemes import draws_profile, is_rule

# one colour and marker per baseline, the same in the PNGs and the HTML figures
_PALETTE = ("#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
_MARKERS = ("*", "D", "^", "v", "P", "X", "s")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def baseline_styles(report: dict) -> dict[str, tuple[str, str]]:
    names = [b["name"] for b in report["baselines"]]
    return {
        n: (_PALETTE[i % len(_PALETTE)], _MARKERS[i % len(_MARKERS)]) for i, n in enumerate(names)
    }


def _plain_log_ticks(ax) -> None:
    """About six ticks spread evenly (in logs) over the drawn range, written as plain
    2-digit numbers (0.55, 0.8, 1, 1.4): searched scales often span less than a factor of 10,
    where matplotlib's decade ticks would leave the axis nearly unlabelled."""
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
    line and the baselines of schemes with their own profile (rules dashed, learned ones such
    as GradInit dotted). Returns why it was skipped, or None."""
    names = report["layers"]["names"]
    xs = list(range(len(names)))
    best = report["best_searched"]
    drawn = [b for b in report["baselines"] if draws_profile(b["scheme"])]
    drawn = [b for b in drawn if len(b["scales"]) == len(names)]
    if best is None and not drawn:
        return "no completed searched trial and no baseline's own profile to draw"
    fig = _figure(max(7.0, 0.5 * len(names) + 3.5), 4.8)
    ax = fig.add_subplot()
    ax.axhline(1.0, color="0.6", lw=0.8, label=f"base init ({report['base_init']})")
    styles = baseline_styles(report)
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
        style = "--" if is_rule(b["scheme"]) else ":"
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
    styles = baseline_styles(report)
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
