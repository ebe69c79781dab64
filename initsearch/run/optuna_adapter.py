"""The one place that uses Optuna's private trial and storage handles.

The driver and its workers address trials by storage id (a worker reports to a trial the
driver asked for; a comparison claims a waiting trial), which Optuna's public API does not
offer. Keeping ``study._storage`` and ``trial._trial_id`` here means an Optuna upgrade that
moves them breaks one module, not five.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage id of a trial (unique across the studies of one storage)."""
    return trial._trial_id


def stored_trial(study: optuna.Study, trial_id: int) -> FrozenTrial:
    """The trial as the storage holds it now."""
    return study._storage.get_trial(trial_id)


def stored_attrs(study: optuna.Study, trial_id: int) -> dict[str, Any]:
    return study._storage.get_trial_user_attrs(trial_id)


def set_trial_attr(study: optuna.Study, trial_id: int, key: str, value: Any) -> None:
    """Set a user attribute of any trial of the study, whoever asked for it."""
    study._storage.set_trial_user_attr(trial_id, key, value)


def trial_handle(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """A live ``Trial`` for a RUNNING trial, to report to it and ask the pruner."""
    return optuna.Trial(study, trial_id)


def claim(study: optuna.Study, trial_id: int) -> bool:
    """Move a WAITING trial to RUNNING; atomic in the storage, so two drivers never both
    claim one. False when another process got there first."""
    try:
        return bool(study._storage.set_trial_state_values(trial_id, state=TrialState.RUNNING))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
