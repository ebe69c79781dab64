"""Links into the MLflow UI: a trial's note to its run (``<ui>/#/experiments/<id>/runs/<run>``)
and the end of ``study start`` to the best searched trial charted against the baselines.

The experiment id is asked of the tracking store once per study (through the study's parent
run, else the first run asked for); the UI's address is the one ``initsearch dashboard``
serves, or the tracking server itself when the study logs to one. When the store cannot be
read the note shows the run id without a link rather than a link that leads nowhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from initsearch.contract import EXPERIMENT_PREFIX
from initsearch.dashboard.defaults import MLFLOW_URL
from initsearch.stores import is_tracking_server, local_file, tracking_uri
from initsearch.tracking import best_vs_baselines_run_ids, best_vs_baselines_url

RunLink = Callable[[str], str | None]


def ui_base(tracking_uri: str, mlflow_url: str) -> str:
    """Where the MLflow UI of a tracking store is: the tracking server itself, else the UI
    ``initsearch dashboard`` serves at ``mlflow_url``."""
    return (tracking_uri if is_tracking_server(tracking_uri) else mlflow_url).rstrip("/")


def _experiment_id(tracking_uri: str, run_id: str) -> str | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException, OSError):
        return MlflowClient(tracking_uri=tracking_uri).get_run(run_id).info.experiment_id
    return None


def run_links(tracking_uri: str | None, parent_run_id: str | None, mlflow_url: str) -> RunLink:
    """run id -> its page in the MLflow UI at ``mlflow_url`` (or at the tracking server), or
    None when the tracking store is unknown, missing or has no such run."""
    if not tracking_uri:
        return lambda run_id: None
    file = local_file(tracking_uri)
    if file is not None and not file.exists():  # reading would create an empty database
        return lambda run_id: None
    base = ui_base(tracking_uri, mlflow_url)
    found: dict[str, str | None] = {}

    def link(run_id: str) -> str | None:
        if "experiment" not in found:
            found["experiment"] = _experiment_id(tracking_uri, parent_run_id or run_id)
        experiment = found["experiment"]
        return f"{base}/#/experiments/{experiment}/runs/{run_id}" if experiment else None

    return link


def best_vs_baselines_link(run: Any, mlflow_url: str = MLFLOW_URL) -> str | None:
    """The line ``study start`` ends with: the MLflow UI's page charting the best searched
    trial of ``run`` (an :class:`~initsearch.api.StudyRun`) against every baseline; None
    when MLflow has none of its runs."""
    cfg = run.config
    uri = tracking_uri(cfg.tracking_uri, cfg.workdir, cfg.name)
    run_ids = best_vs_baselines_run_ids(run.study)
    if not run_ids:
        return None
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(f"{EXPERIMENT_PREFIX}{cfg.name}")
        if experiment is None:
            return None
        url = best_vs_baselines_url(
            ui_base(uri, mlflow_url), experiment.experiment_id, run_ids, uri
        )
    except Exception as err:  # a link is a convenience: the study's results are stored
        return f"mlflow:    (no link: {err})"
    where = "" if is_tracking_server(uri) else " (while `initsearch dashboard` runs)"
    return f"best vs baselines in MLflow{where}:\n             {url}"
