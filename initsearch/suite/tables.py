"""The suite's tables: one type for all of them, its Markdown, and the arms-by-settings
tables of the depth and families questions.

A table is text already (cells are formatted once, here), so the report, the terminal and
``docs/findings.md`` show the same characters, and the test that the docs equal the command's
output compares strings.

Cells of a metric table: the arm's mean over its completed runs on the test split; for an arm
other than the reference, in brackets its paired difference from Kaiming by seed, ``*`` when
Holm-adjusted p < 0.05 (Holm across the arms of that comparison, per metric). Epochs to target
add how many runs reached it. Runs that did not train are counted in their own table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from initsearch.compare.analysis import not_trained
from initsearch.compare.metrics import (
    AREA_UNDER_LOSS,
    EPOCHS_TO_TARGET,
    FIRST_EPOCH_TEST_ACCURACY,
    LABELS,
    TEST_ACCURACY,
)

METRICS = (FIRST_EPOCH_TEST_ACCURACY, TEST_ACCURACY, AREA_UNDER_LOSS, EPOCHS_TO_TARGET)
DASH = "–"


@dataclass
class Table:
    id: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Table:
        return cls(**data)


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def markdown(table: Table) -> str:
    """The table as GitHub Markdown: its caption as a paragraph, then the grid."""
    lines = []
    if table.caption:
        lines += [table.caption, ""]
    lines.append("| " + " | ".join(_escape(c) for c in table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def number(value: float | None, digits: int = 3, signed: bool = False) -> str:
    if value is None:
        return DASH
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _digits(metric: str) -> int:
    return 1 if metric == EPOCHS_TO_TARGET else 3


def stat_row(comparison: dict[str, Any], arm: str, metric: str) -> dict[str, Any] | None:
    return next(
        (s for s in comparison["stats"] if s["scheme"] == arm and s["metric"] == metric), None
    )


def depth_series(
    comparisons: list[dict[str, Any]], metric: str
) -> dict[str, dict[bool, list[tuple[int, float]]]]:
    """For the figures: per arm, per batch norm (False/True), (depth, mean) sorted by depth,
    over the comparisons of a built-in model with a depth."""
    done = [c for c in comparisons if c["arms"] and c.get("model", {}).get("depth")]
    series: dict[str, dict[bool, list[tuple[int, float]]]] = {}
    for c in done:
        for arm in c["arms"]:
            row = stat_row(c, arm["name"], metric)
            if row is not None and row["mean"] is not None:
                by_bn = series.setdefault(arm["name"], {False: [], True: []})
                by_bn[bool(c["model"].get("batch_norm"))].append((c["model"]["depth"], row["mean"]))
    for by_bn in series.values():
        for points in by_bn.values():
            points.sort()
    return series


def metric_cell(comparison: dict[str, Any], arm: str, metric: str) -> str:
    row = stat_row(comparison, arm, metric)
    if row is None:
        return ""
    digits = _digits(metric)
    text = number(row["mean"], digits)
    vs = row.get("vs_reference")
    if vs is not None and vs.get("diff") is not None:
        star = "*" if vs.get("significant") else ""
        text += f" ({number(vs['diff'], digits, signed=True)}{star})"
    if metric == EPOCHS_TO_TARGET and row.get("runs"):
        text += f" [{row['n']}/{row['runs']}]"
    return text


def arm_names(comparisons: list[dict[str, Any]]) -> list[str]:
    """Every arm of the comparisons, in first-seen order."""
    names: list[str] = []
    for c in comparisons:
        names += [a["name"] for a in c["arms"] if a["name"] not in names]
    return names


def metric_table(question: str, comparisons: list[dict[str, Any]], metric: str) -> Table:
    names = arm_names(comparisons)
    target = "; ".join(
        f"{c['label']}: {number(c.get('target_accuracy'), 2)}"
        for c in comparisons
        if c.get("target_accuracy") is not None
    )
    caption = (
        f"{LABELS[metric]}: mean over seeds; (difference from Kaiming by seed, * = Holm p < 0.05)."
    )
    if metric == EPOCHS_TO_TARGET:
        caption += (
            " [Runs that reached the target / completed runs]; the mean is over the runs that"
            f" reached it, the test counts the others as epochs + 1. Targets: {target}."
        )
    return Table(
        id=f"{question}-{metric}",
        title=LABELS[metric],
        columns=["arm", *[c["label"] for c in comparisons]],
        rows=[[n, *[metric_cell(c, n, metric) for c in comparisons]] for n in names],
        caption=caption,
    )


def find_arm(comparison: dict[str, Any], arm: str) -> dict[str, Any] | None:
    """The arm named ``arm`` of a comparison of suite.json (None: not one of its arms)."""
    return next((a for a in comparison["arms"] if a["name"] == arm), None)


def failures_cell(comparison: dict[str, Any], arm: str) -> str:
    found = find_arm(comparison, arm)
    if found is None:
        return ""
    diverged, failed, stuck = not_trained(found["runs"])
    text = f"{stuck}/{diverged}" if stuck or diverged else ""
    return text + (f" ({failed} failed)" if failed else "")


def failures_table(question: str, comparisons: list[dict[str, Any]]) -> Table:
    names = arm_names(comparisons)
    return Table(
        id=f"{question}-not-trained",
        title="Runs that did not train",
        columns=["arm", *[c["label"] for c in comparisons]],
        rows=[[n, *[failures_cell(c, n) for c in comparisons]] for n in names],
        caption=(
            "No progress / diverged, of the seeds each arm ran (blank: none). No progress: "
            "completed, but "
            "at the end within 5 points of chance accuracy or with the training loss still at "
            "ln(classes) (kept in the means above); diverged: stopped on a non-finite or "
            "exploding loss (left out of the means)."
        ),
    )


def arms_by_settings(question: str, comparisons: list[dict[str, Any]]) -> list[Table]:
    """The depth/families tables: one per metric, then the runs that did not train."""
    done = [c for c in comparisons if c["arms"]]
    if not done:
        return []
    return [metric_table(question, done, m) for m in METRICS] + [failures_table(question, done)]
