"""Reports read back from stored results: ``study_report`` (what a study's search found and
whether it is the emergence rule's line), ``profile`` (the emergence-line fit)."""

from initsearch.report.profile import EmergenceFit, default_pivot, fit_emergence
from initsearch.report.study_report import build_study_report, report_dir, write_study_report
from initsearch.report.summary import print_report

__all__ = [
    "EmergenceFit",
    "build_study_report",
    "default_pivot",
    "fit_emergence",
    "print_report",
    "report_dir",
    "write_study_report",
]
