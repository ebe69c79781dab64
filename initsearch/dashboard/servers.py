"""Serve a :class:`~initsearch.dashboard.targets.Target`: the Optuna dashboard and the MLflow UI,
until Ctrl-C.

Ports are checked before anything starts, naming the option to change. The servers run in a
temporary folder (their logs live there; MLflow's default artifact folder would otherwise land
in the user's working directory); it is removed after a clean stop and kept, with its path
printed, when a server failed.

optuna-dashboard runs through its own command line (its console-script entry point, in this
interpreter), which takes a journal file *path* (``journal://`` is our prefix, not Optuna's)
and offers a threaded wsgiref server: its default gunicorn would add a worker process and a
control socket under ``$HOME``. ``mlflow server --workers 1`` with
``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: a viewer needs one worker; MLflow's job runner
(GenAI scorers, prompt optimisation) would otherwise start eight more processes. A tracking URI
that is already a server (``http(s)://``) is printed, not served again. Once both answer,
the study's notes and figures are written (:mod:`~initsearch.dashboard.publish`, linking the
MLflow UI served here); notes are refreshed every ``REFRESH_S`` and figures every
``FIGURES_EVERY_S`` while a running study adds trials.
"""

from __future__ import annotations

import errno
import json
import math
import shutil
import signal
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from initsearch.contract import EXPERIMENT_PREFIX
from initsearch.dashboard import defaults
from initsearch.dashboard.processes import (
    POLL_S,
    STARTUP_TIMEOUT_S,
    Server,
    ServerFailed,
    log_tail,
    start,
    stop,
    wait_ready,
)
from initsearch.dashboard.publish import FIGURES_EVERY_S, REFRESH_S, publish_storage
from initsearch.dashboard.targets import Target
from initsearch.errors import ConfigError
from initsearch.stores import JOURNAL_PREFIX, is_tracking_server, redact
from initsearch.tracking.views import study_url

Echo = Callable[[str], None]


def _bind_address(host: str, port: int) -> tuple[int, tuple]:
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise ConfigError(f"cannot resolve --host {host!r}: {err}") from None
    family, _, _, _, address = info[0]
    return family, address


def check_port(host: str, port: int, option: str) -> None:
    """Fail early, naming the option, when ``host:port`` cannot be bound. SO_REUSEADDR as the
    servers set it: a port in TIME_WAIT is free for them, one with a listener is not."""
    family, address = _bind_address(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as err:
            taken = err.errno == errno.EADDRINUSE
            why = "is taken by another process" if taken else f"cannot be bound ({err.strerror})"
            raise ConfigError(
                f"port {port} on {host} {why}; choose another with {option} PORT"
                + (", or stop what listens there" if taken else "")
            ) from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` binds this machine's loopback interface only."""
    return host == "localhost" or host == "::1" or host.startswith("127.")


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _console_script(name: str, hint: str) -> list[str]:
    """argv running the console script ``name`` in this interpreter (no reliance on PATH)."""
    found = list(entry_points(group="console_scripts", name=name))
    if not found:
        raise ConfigError(f"{name} is not installed in this environment; {hint}")
    ep = found[0]
    code = (
        "import functools, importlib, sys; name, module, attr = sys.argv[1:4]; "
        "del sys.argv[1:4]; sys.argv[0] = name; "
        "sys.exit(functools.reduce(getattr, attr.split('.'), importlib.import_module(module))())"
    )
    return [sys.executable, "-c", code, name, ep.module, ep.attr]


def optuna_server(target: Target, host: str, port: int) -> Server:
    url = target.storage_url
    args = [url]
    if url.startswith(JOURNAL_PREFIX):
        args = [url[len(JOURNAL_PREFIX) :], "--storage-class", "JournalFileStorage"]
    argv = _console_script("optuna-dashboard", "pip install optuna-dashboard")
    argv += [*args, "--host", host, "--port", str(port), "--server", "wsgiref"]
    return Server("Optuna dashboard", f"http://{_url_host(host)}:{port}", "/dashboard/", argv)


def mlflow_server(target: Target, host: str, port: int) -> Server:
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", target.tracking_uri]
    argv += ["--host", host, "--port", str(port), "--workers", "1"]
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return Server("MLflow UI", f"http://{_url_host(host)}:{port}", "/health", argv, env)


class _Stop(Exception):
    """SIGTERM or SIGHUP: stop like Ctrl-C."""


def _raise_stop(signum, frame) -> None:
    raise _Stop(signal.Signals(signum).name)


def experiment_url(mlflow: Server, study: str | None) -> str:
    """The runs list of the experiment ``initsearch/<study>`` (MLflow 3 opens an experiment on
    its GenAI overview otherwise), asked of the running server; the UI's home
    when there is no such experiment."""
    if study is None:
        return mlflow.url + "/"
    query = urllib.parse.urlencode({"experiment_name": f"{EXPERIMENT_PREFIX}{study}"})
    try:
        with urllib.request.urlopen(
            f"{mlflow.url}/api/2.0/mlflow/experiments/get-by-name?{query}", timeout=10
        ) as response:
            experiment = json.load(response)["experiment"]
            tags = [tag["key"] for tag in experiment.get("tags", [])]
            return study_url(mlflow.url, experiment["experiment_id"], tags)
    except (urllib.error.URLError, OSError, KeyError, ValueError):
        return mlflow.url + "/"


def _publisher(target: Target, mlflow_url: str, echo: Echo, err: Echo) -> Callable[[], None]:
    """Write the target's notes and figures (what changed; figures at most every
    ``FIGURES_EVERY_S``); the first call says what it wrote, a failure is a warning (the
    servers go on), said once until it works again."""
    state = {"first": True, "failing": False, "figures_at": -math.inf}

    def refresh() -> None:
        figures = time.monotonic() - state["figures_at"] >= FIGURES_EVERY_S
        try:
            done = publish_storage(
                target.storage_url, target.study, target.tracking_uri, mlflow_url, figures
            )
        except _Stop:
            raise
        except Exception as failure:  # noqa: BLE001 - notes are a convenience, never fatal
            if not state["failing"]:
                err(f"warning: notes and figures not written: {type(failure).__name__}: {failure}")
            state["failing"] = True
            return
        state["failing"] = False
        if figures:
            state["figures_at"] = time.monotonic()
        if state["first"]:
            echo(f"Notes and figures: written ({done.notes} notes, {done.figures} figures new)")
        state["first"] = False

    return refresh


def serve(
    target: Target,
    host: str = defaults.HOST,
    optuna_port: int = defaults.OPTUNA_PORT,
    mlflow_port: int = defaults.MLFLOW_PORT,
    echo: Echo = print,
    err: Echo | None = None,
    startup_timeout: float = STARTUP_TIMEOUT_S,
    publish: bool = True,
) -> int:
    """Start both servers, print their addresses (``echo``; progress and errors go to
    ``err``), and block until Ctrl-C (returns 0) or a server dies (returns 1). Both are stopped
    on every way out. Call it from the main thread (it installs signal handlers)."""
    err = err or (lambda message: print(message, file=sys.stderr, flush=True))
    remote = is_tracking_server(target.tracking_uri)
    if not remote and optuna_port == mlflow_port:
        raise ConfigError(f"--optuna-port and --mlflow-port are both {optuna_port}; pick two")
    check_port(host, optuna_port, "--optuna-port")
    if not is_loopback(host):
        err(
            f"warning: --host {host} exposes the Optuna dashboard and the MLflow UI to the "
            "network without authentication (both can change the stores); prefer the default "
            "127.0.0.1 and an SSH tunnel (ssh -L PORT:127.0.0.1:PORT HOST)"
        )
    servers = [optuna_server(target, host, optuna_port)]
    if not remote:
        check_port(host, mlflow_port, "--mlflow-port")
        servers.append(mlflow_server(target, host, mlflow_port))
    folder = Path(tempfile.mkdtemp(prefix="initsearch-dashboard-"))
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    # Ctrl-C must stop both even when started with SIGINT ignored (`cmd &` in a script)
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    failed = False
    try:
        for server in servers:
            start(server, folder)
        err(f"starting {' and '.join(s.name for s in servers)} (logs in {folder}) ...")
        wait_ready(servers, startup_timeout)
        optuna_url = servers[0].url + "/dashboard/"
        if target.optuna_study_id is not None:
            optuna_url += f"studies/{target.optuna_study_id}"
        what = f"study {target.study}" if target.study else "all studies"
        echo(f"Optuna dashboard: {optuna_url}  ({what} in {redact(target.storage_url)})")
        if remote:
            echo(f"MLflow UI: {redact(target.tracking_uri)}  (a tracking server; not started here)")
        else:
            mlflow_url = experiment_url(servers[1], target.study)
            echo(f"MLflow UI: {mlflow_url}  (runs in {redact(target.tracking_uri)})")
        ui = target.tracking_uri if remote else servers[1].url
        refresh = _publisher(target, ui, echo, err) if publish else lambda: None
        refresh()
        echo("Press Ctrl-C to stop.")
        next_refresh = time.monotonic() + REFRESH_S
        while True:
            if time.monotonic() > next_refresh:
                refresh()
                next_refresh = time.monotonic() + REFRESH_S
            for server in servers:
                code = server.proc.poll()
                if code is not None:
                    raise ServerFailed(
                        f"{server.name} exited with status {code}:\n{log_tail(server)}"
                    )
            time.sleep(POLL_S)
    except (KeyboardInterrupt, _Stop):
        err("stopping ...")
        return 0
    except ServerFailed as failure:
        failed = True
        err(f"error: {failure}\n(logs kept in {folder})")
        return 1
    finally:
        # a second Ctrl-C must not cut the (bounded) stop short and leave servers behind
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            stop(servers)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if not failed:
            shutil.rmtree(folder, ignore_errors=True)
            err("stopped.")
