"""The verdict on the terminal: its sentence, then one row per arm of the confirmation."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from initsearch.confirm.verdict import Verdict, did_not_train, metric_name


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "< 0.001" if value < 0.001 else f"{value:.2g}"


def print_verdict(verdict: Verdict, console: Console, stale: str | None = None) -> None:
    """The verdict's sentence, then one row per arm: test mean [CI], difference to the best
    baseline [CI], Holm-adjusted p and its runs that did not train."""
    console.print(f"[bold]verdict:[/] {verdict.sentence}")
    if stale:
        console.print(f"[yellow]{stale}[/]")
    metric = metric_name(verdict.metric)
    table = Table(title=f"confirmation on the test split ({len(verdict.seeds)} fresh seeds)")
    columns = (
        "arm",
        "kind",
        "n",
        f"{metric} [95% CI]",
        "vs best baseline [95% CI]",
        "p_adj",
        "did not train",
    )
    for column in columns:
        left = column in ("arm", "kind")
        table.add_column(column, justify="left" if left else "right", no_wrap=column == "arm")
    for row in verdict.rows:
        mean = f"{_num(row.test_mean)} [{_num(row.test_ci_low)}, {_num(row.test_ci_high)}]"
        if row.diff is None:
            diff, p_adj = ("best (by validation)" if row.arm == verdict.best_baseline else "-"), "-"
        else:
            low, high = _num(row.diff_ci_low, True), _num(row.diff_ci_high, True)
            diff = f"{_num(row.diff, True)} [{low}, {high}]"
            p_adj = _p(row.p_adjusted) + ("*" if row.significant else "")
        stuck = did_not_train(row.diverged, row.failed, row.no_progress)
        table.add_row(row.arm, row.kind, str(row.n), mean, diff, p_adj, stuck)
    console.print(table)


def print_kept_verdict(record: dict | None, study: str, console: Console) -> None:
    """A study's kept verdict record (``initsearch.confirm.current_verdict``), noting when the
    search has moved on since, or how to get one."""
    if record is None:
        console.print(
            f"[bold]verdict:[/] none yet (the confirmation runs after the search; "
            f"`initsearch study confirm {study}` runs it now)"
        )
        return
    newer = record.get("searched_trials_now", 0) - record.get("searched_trials_seen", 0)
    stale = (
        f"the search has {newer} more completed trials than this verdict saw; run "
        f"`initsearch study confirm {study}` again"
        if newer > 0
        else None
    )
    print_verdict(Verdict.from_dict(record["verdict"]), console, stale)
