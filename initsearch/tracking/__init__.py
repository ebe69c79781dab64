"""MLflow tracking of studies: a parent run per study, a child run per trial."""

from initsearch.tracking.mlflow_runs import StudyTracker, trial_params

__all__ = ["StudyTracker", "trial_params"]
