"""One PNG of every trial's at-init profiles, drawn once per study on its parent run.

A figure per trial would cost the driver ~100 ms of matplotlib on its critical path; each
trial's run carries its profile as a table instead (``init_profile.json``), and this figure,
drawn when the driver finishes, puts them side by side: baselines in colour and named,
searched trials as thin grey lines. Matplotlib's object API (``Figure`` + Agg), never pyplot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from initsearch.labels import ROLE_BASELINE, ROLE_SEARCHED

PANELS = (
    ("scale", "applied scale", True),
    ("activation_std", "activation std", True),
    ("dead_fraction", "dead fraction", False),
    ("grad_norm", "gradient norm", True),
)


@dataclass(frozen=True)
class Profile:
    """A trial's per-layer figures (a column of its profile table each) and how it is drawn."""

    label: str
    role: str
    columns: dict[str, list[float | None]]


def profile_of(label: str, role: str, table: dict[str, list]) -> Profile:
    names = table["columns"]
    columns = {name: [row[i] for row in table["data"]] for i, name in enumerate(names)}
    return Profile(label, role, columns)


def draw_profiles(profiles: list[Profile], path: Path) -> Path | None:
    """Write the figure to ``path``; None when no trial has a profile to draw."""
    drawn = [p for p in profiles if p.role in (ROLE_BASELINE, ROLE_SEARCHED) and p.columns]
    if not drawn:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7), dpi=90)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2, sharex=True).ravel()
    names = [str(n) for n in drawn[0].columns.get("name") or []]
    for ax, (key, title, log) in zip(axes, PANELS, strict=True):
        for p in sorted(drawn, key=lambda p: p.role == ROLE_BASELINE):  # baselines on top
            values = p.columns.get(key) or []
            points = [(i, v) for i, v in enumerate(values) if v is not None and (v > 0 or not log)]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            if p.role == ROLE_BASELINE:
                ax.plot(xs, ys, marker="o", linewidth=1.6, label=p.label)
            else:
                ax.plot(xs, ys, color="0.6", linewidth=0.7, alpha=0.6)
        if log:
            ax.set_yscale("log")
        ax.set_title(title)
        if names:
            ax.set_xticks(range(len(names)), names, rotation=30, fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8)
    fig.suptitle("at init, per layer: baselines (colour) and searched trials (grey)")
    fig.tight_layout(rect=(0, 0.08, 1, 0.97))
    fig.savefig(path)
    return path
