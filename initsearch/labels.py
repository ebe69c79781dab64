"""What a trial is, in words people read: one name and one role for every view.

The MLflow UI, the Optuna dashboard, the CLI's progress and tables, the reports and exports
all name a trial the same way (``kaiming``, ``emergence(alpha=1.1)``, ``searched #14``,
``confirm: searched#1 (searched #14) seed 3``, ``compare: xavier seed 2``), so a trial found
in one view is found in the next by its name. A confirmation arm of a searched configuration
names the search trial it re-runs when its attributes record it (``source_trial``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from initsearch.contract import (
    BASELINE,
    SCHEME,
    SEED,
    SOURCE_TRIAL,
    STUDY_COMPARED,
    STUDY_CONFIRMED,
)

# roles (MLflow tag ``initsearch.role`` on child runs, the ``role`` column of exports)
ROLE_BASELINE = "baseline"
ROLE_SEARCHED = "searched"
ROLE_CONFIRMATION = "confirmation"
ROLE_COMPARE = "compare"
ROLES = (ROLE_BASELINE, ROLE_SEARCHED, ROLE_CONFIRMATION, ROLE_COMPARE)

# stages (MLflow tag ``initsearch.stage``; who runs the trials)
STAGE_SEARCH = "search"
STAGE_CONFIRMATION = "confirmation"
STAGE_COMPARISON = "comparison"


def study_stage(study_attrs: Mapping[str, Any]) -> str:
    """search, or confirmation / comparison for the ``S-confirm`` / ``S-compare`` studies,
    from the study's own user attributes."""
    if STUDY_CONFIRMED in study_attrs:
        return STAGE_CONFIRMATION
    if STUDY_COMPARED in study_attrs:
        return STAGE_COMPARISON
    return STAGE_SEARCH


def trial_role(attrs: Mapping[str, Any], stage: str = STAGE_SEARCH) -> str:
    """baseline / searched (a search's trials), confirmation or compare (fixed-pair runs)."""
    if stage == STAGE_CONFIRMATION:
        return ROLE_CONFIRMATION
    if stage == STAGE_COMPARISON or SEED in attrs and SCHEME in attrs:
        return ROLE_COMPARE
    return ROLE_BASELINE if BASELINE in attrs else ROLE_SEARCHED


def searched_label(number: int) -> str:
    return f"searched #{number}"


def trial_label(attrs: Mapping[str, Any], number: int, stage: str = STAGE_SEARCH) -> str:
    """The name of a trial in every view (see the module docstring)."""
    role = trial_role(attrs, stage)
    if role == ROLE_BASELINE:
        return str(attrs[BASELINE])
    if role == ROLE_SEARCHED:
        return searched_label(number)
    # a pair's BASELINE attribute is its run name (``xavier/seed=2``); SCHEME is the arm
    arm = attrs.get(SCHEME) or attrs.get(BASELINE) or f"trial {number}"
    if attrs.get(SOURCE_TRIAL) is not None:  # a searched arm: the search trial it re-runs
        arm = f"{arm} ({searched_label(int(attrs[SOURCE_TRIAL]))})"
    seed = attrs.get(SEED)
    prefix = "confirm" if role == ROLE_CONFIRMATION else "compare"
    return f"{prefix}: {arm}" + (f" seed {seed}" if seed is not None else "")
