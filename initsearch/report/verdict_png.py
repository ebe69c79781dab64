"""The verdict as a figure: each arm's test difference to the best baseline, with its 95%
interval, searched arms on top; an interval clear of zero on the right side is a win."""

from __future__ import annotations

from pathlib import Path

from initsearch.confirm.verdict import Verdict, metric_name
from initsearch.report.study_png import _figure

SEARCHED_COLOUR, BASELINE_COLOUR = "#1f77b4", "#7f7f7f"


def verdict_png(record: dict | None, path: Path) -> str | None:
    """Write the forest plot of a kept verdict record; why not, when there is none."""
    if record is None:
        return "the study has no verdict yet (initsearch study confirm NAME)"
    verdict = Verdict.from_dict(record["verdict"])
    rows = [r for r in verdict.rows if r.diff is not None]
    if not rows:
        return "no arm could be compared with the best baseline"
    rows.sort(key=lambda r: r.kind != "searched")  # searched on top, else the verdict's order
    fig = _figure(7.5, 0.45 * len(rows) + 1.6)
    ax = fig.add_subplot()
    for y, row in enumerate(reversed(rows)):
        colour = SEARCHED_COLOUR if row.kind == "searched" else BASELINE_COLOUR
        low = row.diff_ci_low if row.diff_ci_low is not None else row.diff
        high = row.diff_ci_high if row.diff_ci_high is not None else row.diff
        ax.plot([low, high], [y, y], color=colour, linewidth=2)
        marker = "D" if row.significant else "o"
        ax.plot([row.diff], [y], marker=marker, color=colour, markersize=7)
    ax.axvline(0.0, color="black", linewidth=0.8)
    if verdict.detectable is not None:
        ax.axvspan(-verdict.detectable, verdict.detectable, color="#dddddd", alpha=0.5, lw=0)
    ax.set_yticks(range(len(rows)), [r.arm for r in reversed(rows)])
    better = "higher" if verdict.maximize else "lower"
    ax.set_xlabel(
        f"{metric_name(verdict.metric)} vs {verdict.best_baseline} (positive = better: {better}); "
        "95% CI"
    )
    ax.set_title(
        f"confirmation on {len(verdict.seeds)} fresh seeds\n"
        "diamond = significant (Holm); grey band = smallest detectable difference",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
    return None
