"""The study report's figures: which are drawn, into which files, and why others are not.

The PNGs are matplotlib figures (:mod:`initsearch.report.study_png`), the HTML files Optuna's
plotly visualisations (:mod:`initsearch.report.study_html`); both are drawn from the report's
own numbers and, for the HTML, the study. A figure the study's state does not allow yet (no
completed trial, too few for importances) becomes a note saying why.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna

from initsearch.report.study_html import history_html, importances_html, intermediate_html
from initsearch.report.study_png import history_png, profile_png
from initsearch.report.verdict_png import verdict_png


def write_plots(report: dict, study: optuna.Study, out: Path) -> tuple[dict[str, Path], list[str]]:
    """Write every figure that the study's state allows; the rest are notes saying why not."""
    jobs = (
        ("verdict_png", "verdict.png", lambda p: verdict_png(report.get("verdict"), p)),
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
