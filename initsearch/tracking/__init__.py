"""MLflow tracking of studies: a parent run per study, a child run per trial."""

from initsearch.tracking.mlflow_runs import StudyTracker, default_tracking_uri

__all__ = ["StudyTracker", "default_tracking_uri"]
