"""The study report's PNG figures: which are drawn, into which files, and why others are not.

The PNGs are matplotlib figures (:mod:`initsearch.report.study_png`,
:mod:`initsearch.report.verdict_png`) drawn from the report's own numbers, for slides and for
readers without a browser; the interactive page is :mod:`initsearch.report.study_index`. A
figure the study's state does not allow yet (no completed trial, no verdict) becomes a note
saying why.
"""

from __future__ import annotations

from pathlib import Path

from initsearch.report.study_png import history_png, profile_png
from initsearch.report.verdict_png import verdict_png


def write_plots(report: dict, out: Path) -> tuple[dict[str, Path], list[str]]:
    """Write every figure that the study's state allows; the rest are notes saying why not."""
    jobs = (
        ("verdict_png", "verdict.png", lambda p: verdict_png(report.get("verdict"), p)),
        ("profile_png", "scale_profile.png", lambda p: profile_png(report, p)),
        ("history_png", "optimization_history.png", lambda p: history_png(report, p)),
    )
    files: dict[str, Path] = {}
    notes: list[str] = []
    for key, name, draw in jobs:
        path = out / name
        why = draw(path)
        if why is None:
            files[key] = path
        else:
            notes.append(f"{name} not written: {why}")
    return files, notes
