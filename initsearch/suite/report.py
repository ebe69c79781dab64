"""The suite's report page, ``<workdir>/<suite>/report/index.html``: each question with its
answer, tables and figures, and a link to every comparison's own report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from initsearch.report.plotly_asset import figure_div, plotly_src
from initsearch.report.templates import template_env
from initsearch.suite.figures import depth_figure, profile_figure

TEMPLATE = "suite_report.html.j2"
INDEX = "index.html"


def _figures(document: dict[str, Any]) -> dict[str, list[str]]:
    by_question: dict[str, list[str]] = {"depth": [], "searched": []}
    depth = [c for c in document["comparisons"] if c["question"] == "depth"]
    div = figure_div(depth_figure(depth), "fig-depth")
    if div:
        by_question["depth"].append(div)
    for i, c in enumerate(c for c in document["comparisons"] if c.get("verdict") and c["arms"]):
        div = figure_div(profile_figure(c), f"fig-profile-{i}")
        if div:
            by_question["searched"].append(div)
    return by_question


def write_report(document: dict[str, Any], folder: Path) -> Path:
    """Write ``index.html`` into ``folder`` (beside ``suite.json``); returns its path."""
    from markupsafe import Markup

    folder.mkdir(parents=True, exist_ok=True)
    page = folder / INDEX
    figures = {k: [Markup(d) for d in v] for k, v in _figures(document).items()}
    links = [
        {
            "name": c["name"],
            "label": c["label"],
            "question": c["question"],
            "left": c.get("runs_left", 0),
            "total": c.get("runs_total", 0),
            "href": Path(os.path.relpath(c["compare_report"], folder)).as_posix()
            if c.get("compare_report")
            else None,
        }
        for c in document["comparisons"]
    ]
    html = (
        template_env(TEMPLATE)
        .get_template(TEMPLATE)
        .render(
            d=document,
            figures=figures,
            links=links,
            plotly_src=plotly_src(page, document["suite"]),
        )
    )
    page.write_text(html, encoding="utf-8")
    return page
