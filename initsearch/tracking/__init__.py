"""MLflow tracking of studies: a parent run per study, a child run per trial, and the UI
addresses that show them."""

from initsearch.tracking.mlflow_runs import StudyTracker
from initsearch.tracking.trial_content import optuna_params_of, trial_params
from initsearch.tracking.views import best_vs_baselines_run_ids, best_vs_baselines_url, trials_url

__all__ = [
    "StudyTracker",
    "best_vs_baselines_run_ids",
    "best_vs_baselines_url",
    "optuna_params_of",
    "trial_params",
    "trials_url",
]
