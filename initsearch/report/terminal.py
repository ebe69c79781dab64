"""The study report on the terminal (rich): the verdict first, then the fitted emergence line,
stability across the top trials, baselines' ranks, parameter importances and the files."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from initsearch.report.verdict_table import print_kept_verdict


def _fit_text(fit: dict | None) -> str:
    if not fit:
        return "-"
    ci = fit.get("alpha_ci95")
    ci_text = f" [95% CI {ci[0]:.3g}..{ci[1]:.3g}]" if ci else ""
    return (
        f"alpha = {fit['alpha']:.4g}{ci_text}, intercept = {fit['intercept']:.3g}, "
        f"R^2 = {fit['r2']:.3f}"
    )


def _value(v: float | None) -> str:
    return f"{v:.4g}" if v is not None else "-"


def print_report(report: dict, console: Console) -> None:
    print_kept_verdict(report["verdict"], report["study"], console)
    console.print(report["seed_noise"]["text"])
    counts = report["counts"]
    states = "  ".join(f"{k.lower()} {v}" for k, v in sorted(counts["states"].items()))
    console.print(
        f"[bold]report of study {report['study']}[/]: {counts['trials']} trials ({states}); "
        f"objective {report['metric']} ({report['direction']})"
    )
    best = report["best_searched"]
    layers = report["layers"]
    if best is None:
        console.print("[yellow]no completed searched trial yet: no searched profile to fit[/]")
    else:
        console.print(
            f"best searched trial {best['trial']}: {report['metric']} {best['value']:.4g} "
            f"(rank {best['rank']}/{counts['complete']})"
        )
        console.print(f"emergence fit: [bold]{_fit_text(best['fit'])}[/]")
        console.print(f"  {best['verdict']}")
        table = Table(title=f"per-layer scales (pivot depth {layers['pivot']})")
        for col in ("layer", "depth", "searched", "fitted line"):
            table.add_column(col, justify="left" if col == "layer" else "right")
        fitted = best.get("fitted_scales") or [None] * len(best["scales"])
        for name, depth, s, f in zip(
            layers["names"], layers["depths"], best["scales"], fitted, strict=False
        ):
            table.add_row(name, str(depth), f"{s:.3f}", _value(f))
        console.print(table)
    top = report["top_k"]
    if top["k"] > 1:
        table = Table(title=f"emergence fit of the top {top['k']} searched trials")
        for col in ("trial", report["metric"], "rank", "alpha", "R^2"):
            table.add_column(col, justify="right")
        for e in top["trials"]:
            fit = e["fit"] or {}
            table.add_row(
                str(e["trial"]),
                f"{e['value']:.4g}",
                str(e["rank"]),
                _value(fit.get("alpha")),
                _value(fit.get("r2")),
            )
        console.print(table)
        if top.get("fitted"):
            console.print(
                f"top-{top['k']} alpha: median {top['alpha_median']:.4g} "
                f"(range {top['alpha_min']:.4g}..{top['alpha_max']:.4g}; "
                f"{top['alpha_above_1']}/{top['fitted']} above 1), "
                f"median R^2 {top['r2_median']:.3f}"
            )
    if report["baselines"]:
        table = Table(title="baselines")
        for col in ("baseline", "state", report["metric"], "rank", "profile fit"):
            table.add_column(col, justify="left" if col in ("baseline", "profile fit") else "right")
        for b in report["baselines"]:
            rank = f"{b['rank']}/{b['n_complete']}" if b["rank"] else "-"
            table.add_row(
                b["name"],
                b["state"].lower(),
                _value(b["value"]),
                rank,
                _fit_text(b["fit"]) if b["fit"] else "",
            )
        console.print(table)
    console.print(report["comparison"]["summary"])
    imp = report["importances"]
    if "values" in imp:
        table = Table(title=f"parameter importances (fANOVA over {imp['n_trials']} trials)")
        table.add_column("parameter")
        table.add_column("importance", justify="right")
        for name, value in imp["values"].items():
            table.add_row(name, f"{value:.3f}")
        console.print(table)
    else:
        console.print(f"[yellow]parameter importances skipped[/]: {imp['skipped']}")
    for note in report.get("notes", []):
        console.print(f"[yellow]{note}[/]")
    files = dict(report.get("files", {}))
    if "index_html" in files:  # the page to open first; the rest sits beside it
        console.print(f"[bold]open[/]: {files.pop('index_html')}", soft_wrap=True)
    if files:
        console.print("[bold]files[/]:")
        for key, path in files.items():
            console.print(f"  {key:18} {path}", soft_wrap=True)
