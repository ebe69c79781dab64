"""Suites: many comparisons answering a few questions in one report.

``config`` reads a suite file, ``plan`` turns each comparison into a comparison plan (or a
study with a search and a confirmation) and counts what is left, ``runner`` trains it on one
pool, ``results`` reads each comparison back, ``questions`` (with ``tables``, ``measure``,
``searched``) answers the questions, ``document`` writes ``suite.json``, ``report`` the page
and ``findings`` the tables of ``docs/findings.md``. See docs/suites.md.
"""

from initsearch.suite.config import SuiteConfig, load_suite, parse_suite
from initsearch.suite.plan import plan_suite, runs_left, runs_total
from initsearch.suite.runner import run_suite

__all__ = [
    "SuiteConfig",
    "load_suite",
    "parse_suite",
    "plan_suite",
    "run_suite",
    "runs_left",
    "runs_total",
]
