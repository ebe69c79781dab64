"""The comparison on the terminal (rich) and on disk (``compare.json``, ``stats.csv``).

Every accuracy and loss is a test-split figure, and the column titles say so; ``stats.csv``
names each row's metric by its contract name (``test_accuracy``, ...). Beside "div" (diverged or
failed runs of a scheme), "no prog" counts its completed runs that made no progress (they stay in
the means: :mod:`initsearch.compare.analysis`)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from initsearch.compare.metrics import (
    AREA_UNDER_LOSS,
    EPOCHS_TO_TARGET,
    FIRST_EPOCH_TEST_ACCURACY,
    METRICS,
    TEST_ACCURACY,
    TEST_LOSS,
)
from initsearch.jsonsafe import dumps

HEADERS = {
    FIRST_EPOCH_TEST_ACCURACY: "1st-epoch test acc",
    TEST_ACCURACY: "final test acc",
    TEST_LOSS: "final test loss",
    AREA_UNDER_LOSS: "area under train loss",
    EPOCHS_TO_TARGET: "epochs to test acc",
}
"""Metric -> its terminal column title (the reports' longer labels: ``metrics.LABELS``)."""
CSV_FIELDS = (
    "scheme",
    "metric",
    "n",
    "mean",
    "ci_low",
    "ci_high",
    "diverged",
    "failed",
    "no_progress",
    "not_reached",
    "pairs",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "test",
    "p",
    "p_adjusted",
    "effect_size",
    "significant",
    "wilcoxon_p",
)


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _cell(row: dict[str, Any], higher_is_better: bool) -> str:
    """'mean +-half-width' and, for a tested scheme, 'Δ diff p_adj' on a second line, green
    when significantly better than the reference, red when significantly worse."""
    if row["mean"] is None:
        text = "-"
    elif row["ci_low"] is None:
        text = _num(row["mean"])
    else:
        text = f"{_num(row['mean'])} ±{(row['ci_high'] - row['ci_low']) / 2:.3f}"
    if row.get("not_reached"):
        text += f" ({row['not_reached']} not)"
    vs = row["vs_reference"]
    if vs is not None:
        line = f"Δ{vs['diff']:+.3f} p={vs['p_adjusted']:.2g}"
        if vs["significant"]:
            better = (vs["diff"] > 0) == higher_is_better
            line = f"[{'green' if better else 'red'}]{line}*[/]"
        else:
            line = f"[dim]{line}[/]"
        text += "\n" + line
    return text


def print_table(payload: dict[str, Any], console: Console) -> None:
    rows = {(r["scheme"], r["metric"]): r for r in payload["stats"]}
    target = payload.get("target_accuracy")
    title = (
        f"{payload['study']}: {len(payload['seeds'])} seeds, {payload.get('epochs')} epochs; "
        f"test split; mean ±95% CI; Δ vs {payload['reference']} (paired t, Holm p; * p<0.05)"
    )
    table = Table(title=title, show_lines=True)
    table.add_column("scheme", no_wrap=True)
    table.add_column("div", justify="right")
    table.add_column("no prog", justify="right")
    for metric in METRICS:
        header = HEADERS[metric]
        if metric == EPOCHS_TO_TARGET and target is not None:
            header += f" ({target:.2f})"
        table.add_column(header, justify="right")
    for scheme in payload["schemes"]:
        name = scheme["name"]
        first = rows[(name, TEST_ACCURACY)]
        bad = first["diverged"] + first["failed"]
        cells = [
            _cell(rows[(name, m)], higher) if (name, m) in rows else "-"
            for m, higher in METRICS.items()
        ]
        stuck = first.get("no_progress")  # None in a compare.json of an older version
        stuck_cell = "-" if stuck is None else f"{stuck}/{first['runs']}"
        table.add_row(name, f"{bad}/{first['runs']}", stuck_cell, *cells)
    console.print(table)
    for c in payload["correlations"]:
        r = "-" if c["spearman_r"] is None else f"{c['spearman_r']:+.3f}"
        p = "-" if c["p"] is None else f"{c['p']:.2g}"
        console.print(f"Spearman {c['x']} vs {c['y']}: rho {r} (p {p}, n {c['n']})")


def csv_rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for row in payload["stats"]:
        vs = row["vs_reference"] or {}
        out.append(
            {
                **{k: row.get(k) for k in ("scheme", "metric", "n", "mean", "ci_low", "ci_high")},
                "diverged": row["diverged"],
                "failed": row["failed"],
                "no_progress": row.get("no_progress"),
                "not_reached": row.get("not_reached"),
                "pairs": vs.get("n"),
                "diff": vs.get("diff"),
                "diff_ci_low": vs.get("ci_low"),
                "diff_ci_high": vs.get("ci_high"),
                "test": vs.get("test"),
                "p": vs.get("p"),
                "p_adjusted": vs.get("p_adjusted"),
                "effect_size": vs.get("effect_size"),
                "significant": vs.get("significant"),
                "wilcoxon_p": vs.get("wilcoxon_p"),
            }
        )
    return out


def write_outputs(payload: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """``compare.json`` (non-finite floats as null) and ``stats.csv`` (empty cell for none)."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = folder / "compare.json", folder / "stats.csv"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(dumps(payload, indent=1))
    tmp.replace(json_path)  # a reader never sees half a file
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in csv_rows(payload):
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return json_path, csv_path
