"""The confirmation stage and the study's verdict.

``plan_confirmation`` picks the arms (the top searched configurations and every baseline) and
fresh seeds (``plan``), ``run_confirmation`` trains them on the test split (``runner``),
``judge`` turns the runs into a :class:`~initsearch.confirm.verdict.Verdict` (``result``,
``verdict``) and ``keep_verdict`` stores it on the study. ``search_noise`` (``noise``) is the
search's own seed noise and the difference it can detect.
"""

from __future__ import annotations

from initsearch.confirm.noise import SearchNoise, search_noise
from initsearch.confirm.plan import ConfirmPlan, plan_confirmation
from initsearch.confirm.result import (
    confirm_dir,
    current_verdict,
    judge,
    keep_verdict,
    searched_count,
    stored_verdict,
)
from initsearch.confirm.runner import confirm_driver, confirmation_pending, run_confirmation

__all__ = [
    "ConfirmPlan",
    "SearchNoise",
    "confirm_dir",
    "confirm_driver",
    "confirmation_pending",
    "current_verdict",
    "judge",
    "keep_verdict",
    "plan_confirmation",
    "run_confirmation",
    "search_noise",
    "searched_count",
    "stored_verdict",
]
