"""Reports read back from stored results.

``study_report`` (what a study's search found and whether it is the emergence rule's line,
printed by ``terminal``, drawn as one page by ``study_index``), ``emergence_fit`` (the line
fit), ``importance`` (which searched parameters mattered), ``html_report`` (a comparison as one
HTML file). Templates come from ``templates``, plotly.js once per runs folder from
``plotly_asset``.
"""

from initsearch.report.emergence_fit import EmergenceFit, default_pivot, fit_emergence
from initsearch.report.importance import importance_study, importance_trials, param_importances
from initsearch.report.study_report import build_study_report, report_dir, write_study_report
from initsearch.report.terminal import print_report

__all__ = [
    "EmergenceFit",
    "build_study_report",
    "default_pivot",
    "fit_emergence",
    "importance_study",
    "importance_trials",
    "param_importances",
    "print_report",
    "report_dir",
    "write_study_report",
]
