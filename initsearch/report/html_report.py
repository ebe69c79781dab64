"""The comparison report: one HTML file drawn from ``compare.json``.

The page loads plotly.js from the runs folder's one shared copy
(:mod:`initsearch.report.plotly_asset`), or from a copy beside it when written elsewhere; it
loads nothing from the network. :func:`render_compare_report` alone inlines the library, so
its text is a self-contained page. The layout lives in ``dashboards/compare_report.html.j2``
(Jinja2, autoescaped, read by :mod:`initsearch.report.templates`); this module turns the JSON
into figures and table rows. The figures are in :mod:`initsearch.report.compare_curves` and
:mod:`initsearch.report.compare_plots`. A comparison judges on the test split, and every
heading, axis and label says so. Every number of one table has the same decimals. Runs that
completed without learning ("no progress", :mod:`initsearch.train.curve`) are counted beside
the diverged ones and listed with the runs that did not complete; a ``compare.json`` of an
older version without the flag shows "-" there.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from initsearch.compare.metrics import (
    ACCURACY_CURVE,
    EPOCHS_TO_TARGET,
    LABELS,
    LOSS_CURVE,
    METRICS,
)
from initsearch.errors import ConfigError
from initsearch.report.compare_curves import convergence_figure
from initsearch.report.compare_plots import (
    emergence_figure,
    emergence_zero_runs,
    finite,
    profile_figure,
    scheme_colors,
    unrecorded_profiles,
)
from initsearch.report.plotly_asset import figure_div, plotly_src
from initsearch.report.precision import decimals_for, fixed, fmt, fmt_p
from initsearch.report.profile_schemes import UNRECORDED_NOTE
from initsearch.report.templates import template_env

TEMPLATE = "compare_report.html.j2"
REQUIRED_KEYS = ("study", "schemes", "stats")
STATUSES = ("completed", "diverged", "stopped", "failed")
NO_PROGRESS = "no progress"  # how a completed run that did not learn is named on the page
MAX_PROBLEMS = 100  # runs listed with their reason; the rest are counted


def load_compare(source: str | Path | dict) -> dict:
    """The comparison as a dict, from a dict or a ``compare.json`` path; a missing file or a
    key the report needs is a :class:`ConfigError` naming it."""
    if isinstance(source, dict):
        data = source
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(
                f"no comparison at {path}; run `initsearch compare FILE --seeds N` first, or "
                "pass the path of its compare.json"
            )
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ConfigError(
                f"{path} is not valid JSON ({err}); run the comparison again"
            ) from None
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ConfigError(
            f"the comparison lacks {', '.join(missing)}: it was not written by "
            "`initsearch compare`, or by an older version; run the comparison again"
        )
    return data


def _interval(low: Any, high: Any, decimals: int) -> str:
    if finite(low) is None or finite(high) is None:
        return ""
    return f"[{fixed(low, decimals)}, {fixed(high, decimals)}]"


def direction(data: dict, metric: str) -> int:
    """+1 when higher is better, -1 when lower is, 0 when unknown: the comparison's own
    ``metrics`` entry when it has one, else the known metrics."""
    declared = ((data.get("metrics") or {}).get(metric) or {}).get("higher_is_better")
    if not isinstance(declared, bool):
        declared = METRICS.get(metric)
    return 0 if declared is None else 1 if declared else -1


def _verdict(sign: int, vs: dict) -> str:
    """'better' / 'worse' than the reference when the corrected test is significant."""
    if not vs.get("significant"):
        return ""
    diff = finite(vs.get("diff"))
    if not sign or diff is None or diff == 0:
        return "different"
    return "better" if diff * sign > 0 else "worse"


def stat_tables(data: dict) -> list[dict[str, Any]]:
    """One table per metric, rows in scheme order with the reference first."""
    order = [s["name"] for s in data["schemes"]]
    reference = data.get("reference")
    rank = {name: (name != reference, i) for i, name in enumerate(order)}
    by_metric: dict[str, list[dict]] = {}
    for row in data["stats"]:
        by_metric.setdefault(row["metric"], []).append(row)
    known = [m for m in METRICS if m in by_metric] + [m for m in by_metric if m not in METRICS]
    tables = []
    for metric in known:
        label = LABELS.get(metric, metric.replace("_", " ").capitalize())
        sign = direction(data, metric)
        if metric == EPOCHS_TO_TARGET and finite(data.get("target_accuracy")) is not None:
            label = f"{label} ({fmt(data['target_accuracy'])})"
        found = by_metric[metric]
        d = decimals_for(
            v
            for r in found
            for v in (r.get("mean"), r.get("ci_low"), r.get("ci_high"))
            if finite(v) is not None
        )
        rows = []
        for r in sorted(found, key=lambda r: rank.get(r["scheme"], (True, len(order)))):
            vs = r.get("vs_reference") or {}
            rows.append(
                {
                    "scheme": r["scheme"],
                    "reference": r["scheme"] == reference,
                    "n": r.get("n", 0),
                    "mean": fixed(r.get("mean"), d),
                    "ci": _interval(r.get("ci_low"), r.get("ci_high"), d),
                    "diff": fixed(vs.get("diff"), d, signed=True) if vs else "",
                    "diff_ci": _interval(vs.get("ci_low"), vs.get("ci_high"), d) if vs else "",
                    "test": vs.get("test", ""),
                    "p": fmt_p(vs.get("p")) if vs else "",
                    "p_adjusted": fmt_p(vs.get("p_adjusted")) if vs else "",
                    "effect_size": fixed(vs.get("effect_size"), 2, signed=True) if vs else "",
                    "verdict": _verdict(sign, vs) if vs else "",
                    "diverged": r.get("diverged", 0),
                    "no_progress": _count(r.get("no_progress")),
                }
            )
        wording = {1: "higher is better", -1: "lower is better"}.get(sign, "")
        tables.append({"metric": metric, "label": label, "direction": wording, "rows": rows})
    return tables


def _count(value: Any) -> str:
    """A count, or "-" where an older comparison did not record it."""
    return "-" if value is None else str(value)


def scheme_rows(data: dict, colors: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for s in data["schemes"]:
        init = s.get("init") or {}
        counts = {k: 0 for k in STATUSES}
        flags = []
        for run in s.get("runs", []):
            status = run.get("status", "completed")
            counts[status] = counts.get(status, 0) + 1
            if status == "completed":
                flags.append(run.get("no_progress"))
        options = init.get("options") or {}
        rows.append(
            {
                "name": s["name"],
                "colour": colors[s["name"]],
                "init": init.get("scheme", ""),
                "options": ", ".join(f"{k}={v}" for k, v in sorted(options.items())),
                "custom_scales": bool(init.get("scales")),
                "runs": len(s.get("runs", [])),
                "counts": counts,
                "no_progress": _count(
                    None if flags and all(f is None for f in flags) else sum(map(bool, flags))
                ),
                "reference": s["name"] == data.get("reference"),
            }
        )
    return rows


def methods(data: dict) -> list[tuple[str, str]]:
    """The comparison's description of its statistics (``methods``), as (name, text) pairs."""
    raw = data.get("methods")
    if not isinstance(raw, dict):
        return []
    return [(str(k).replace("_", " "), str(v)) for k, v in raw.items()]


def _no_progress_reason(run: dict) -> str:
    summary = run.get("summary") or {}
    acc, chance = finite(summary.get("final_accuracy")), finite(summary.get("chance_accuracy"))
    text = "completed without learning"
    if acc is not None:
        text += f": final validation accuracy {fmt(acc)}"
        if chance is not None:
            text += f" (chance {fmt(chance)})"
    return text


def problem_runs(data: dict) -> tuple[list[dict[str, Any]], int]:
    """Runs that did not complete or made no progress, with their reason (the first
    MAX_PROBLEMS) and the total."""
    out = []
    for s in data["schemes"]:
        for r in s.get("runs", []):
            status = r.get("status", "completed")
            if status == "completed" and not r.get("no_progress"):
                continue
            stuck = status == "completed"
            out.append(
                {
                    "scheme": s["name"],
                    "seed": r.get("seed"),
                    "status": NO_PROGRESS if stuck else status,
                    "reason": _no_progress_reason(r) if stuck else r.get("reason") or "",
                }
            )
    return out[:MAX_PROBLEMS], len(out)


def render_compare_report(
    source: str | Path | dict, template_dir: Path | None = None, plotly: str | None = None
) -> str:
    """The report's HTML text. ``plotly`` is the ``src`` the page loads plotly.js by; without
    it the library is inlined, so the text is a self-contained page."""
    data = load_compare(source)
    env = template_env(TEMPLATE, template_dir)
    colors = scheme_colors(s["name"] for s in data["schemes"])
    problems, problem_count = problem_runs(data)
    runs = sum(len(s.get("runs", [])) for s in data["schemes"])
    seeds = data.get("seeds") or []
    unrecorded = unrecorded_profiles(data)
    if plotly is None:
        from plotly.offline import get_plotlyjs

        plotly_inline = get_plotlyjs()
    return env.get_template(TEMPLATE).render(
        study=data["study"],
        seeds=seeds,
        reference=data.get("reference") or "",
        correction=data.get("correction") or "",
        target_accuracy=fmt(data.get("target_accuracy")),
        layers=len(data.get("layer_names") or []),
        runs=runs,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        schemes=scheme_rows(data, colors),
        statuses=STATUSES,
        tables=stat_tables(data),
        methods=methods(data),
        problems=problems,
        problem_count=problem_count,
        stuck_count=sum(
            bool(r.get("no_progress")) for s in data["schemes"] for r in s.get("runs", [])
        ),
        accuracy=figure_div(convergence_figure(data, colors, ACCURACY_CURVE), "accuracy-plot"),
        loss=figure_div(convergence_figure(data, colors, LOSS_CURVE), "loss-plot"),
        profiles=figure_div(profile_figure(data, colors), "profile-plot"),
        unrecorded=UNRECORDED_NOTE.format(names=", ".join(unrecorded)) if unrecorded else "",
        emergence=figure_div(emergence_figure(data, colors), "emergence-plot"),
        emergence_zero=emergence_zero_runs(data),
        plotly_src=plotly or "",
        plotly_inline=plotly_inline if plotly is None else "",
    )


def write_compare_report(
    source: str | Path | dict, out_html: str | Path, template_dir: Path | None = None
) -> Path:
    """Write the comparison report to ``out_html`` (parents created) and return its path.

    ``source`` is the ``compare.json`` contract as a dict or a path. The page loads plotly.js
    from ``<runs>/_static/`` when written as ``<runs>/<study>/compare/report.html``, else from a
    copy beside it; it loads nothing from the network."""
    data = load_compare(source)
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    html = render_compare_report(data, template_dir, plotly=plotly_src(out, str(data["study"])))
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)  # a reader never sees half a report
    return out


__all__ = ["fmt", "load_compare", "render_compare_report", "write_compare_report"]
