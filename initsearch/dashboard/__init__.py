"""``initsearch dashboard``: the Optuna dashboard on a study's storage and the MLflow UI on its
tracking store, served together until Ctrl-C.

:mod:`~initsearch.dashboard.targets` decides what to serve (which study, which stores);
:mod:`~initsearch.dashboard.servers` starts both servers and stops them on every way out, with
:mod:`~initsearch.dashboard.processes` supervising each child as a whole process group.
"""

from initsearch.dashboard.processes import Server, ServerFailed, start, stop, wait_ready
from initsearch.dashboard.servers import check_port, experiment_url, serve
from initsearch.dashboard.targets import Target, resolve_target

__all__ = [
    "Server",
    "ServerFailed",
    "Target",
    "check_port",
    "experiment_url",
    "resolve_target",
    "serve",
    "start",
    "stop",
    "wait_ready",
]
