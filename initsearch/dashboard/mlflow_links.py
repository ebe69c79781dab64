"""Links from a trial's note to its run in the MLflow UI: ``<ui>/#/experiments/<id>/runs/<run>``.

The experiment id is asked of the tracking store once per study (through the study's parent
run, else the first run asked for); the UI's address is the one ``initsearch dashboard``
serves, or the tracking server itself when the study logs to one. When the store cannot be
read the note shows the run id without a link rather than a link that leads nowhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from initsearch.stores import is_tracking_server, local_file

RunLink = Callable[[str], str | None]


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
    base = (tracking_uri if is_tracking_server(tracking_uri) else mlflow_url).rstrip("/")
    found: dict[str, str | None] = {}

    def link(run_id: str) -> str | None:
        if "experiment" not in found:
            found["experiment"] = _experiment_id(tracking_uri, parent_run_id or run_id)
        experiment = found["experiment"]
        return f"{base}/#/experiments/{experiment}/runs/{run_id}" if experiment else None

    return link
