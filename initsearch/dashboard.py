"""``initsearch dashboard``: the Optuna dashboard on a study's storage and the MLflow UI on its
tracking store, served together until Ctrl-C.

Both servers run as child processes, each in a process group of its own: a terminal's Ctrl-C
reaches only this command, which then stops both groups (SIGTERM, then SIGKILL after a bounded
wait), so MLflow's uvicorn worker and optuna-dashboard are never left behind. On Linux each
child also gets SIGTERM should this process die without cleaning up (``PR_SET_PDEATHSIG``).

Choices, and why:
- optuna-dashboard runs through its own command line (found via its console-script entry
  point, in this interpreter), which takes a journal file *path* (our ``journal://`` prefix is
  ours, not Optuna's) and offers a threaded wsgiref server: its default gunicorn would add a
  worker process and a control socket under ``$HOME``.
- ``mlflow server --workers 1`` with ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: a viewer
  needs one worker; MLflow's job runner (GenAI scorers, prompt optimisation) would otherwise
  start eight more processes. A tracking URI that is already a server (``http(s)://``) is
  printed, not served again.
- Ports are checked before anything starts, and the stores must exist: ``mlflow server`` on a
  missing SQLite file would silently create an empty database.
- The children run in a temporary folder (their logs live there; MLflow's default artifact
  folder would otherwise land in the user's working directory); it is removed after a clean
  stop and kept, with its path printed, when a server failed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from initsearch.errors import ConfigError

STARTUP_TIMEOUT_S = 120.0  # MLflow's first start on a database migrates it: tens of seconds
STOP_TIMEOUT_S = 15.0
POLL_S = 0.25
JOURNAL = "journal://"
Echo = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    """What to serve: a study (or every study) in an Optuna storage, and an MLflow store."""

    study: str | None
    storage_url: str
    tracking_uri: str
    optuna_study_id: int | None = None


@dataclass
class Server:
    name: str
    url: str  # the base address
    health: str  # a path that answers 200 once the server is up
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None
    proc: subprocess.Popen | None = None


# ---- what to serve -----------------------------------------------------------------------


def absolute_store(url: str) -> str:
    """Storage and tracking URLs with absolute file paths (the servers run in another folder)."""
    if url.startswith(JOURNAL):
        return JOURNAL + str(Path(url[len(JOURNAL) :]).expanduser().resolve())
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rest = url[len("sqlite:///") :]
        if rest and rest != ":memory:" and not rest.startswith("file:"):
            return "sqlite:///" + str(Path(rest).expanduser().resolve())
    if "://" not in url and ":" not in url.split("/", 1)[0]:  # a plain path (MLflow file store)
        return str(Path(url).expanduser().resolve())
    return url


def _local_file(url: str) -> Path | None:
    """The local file behind a journal or SQLite URL, else None."""
    if url.startswith(JOURNAL):
        return Path(url[len(JOURNAL) :])
    if url.startswith("sqlite:///"):
        rest = url[len("sqlite:///") :].split("?", 1)[0]
        return Path(rest) if rest and rest != ":memory:" and not rest.startswith("file:") else None
    return None


def check_optuna_store(url: str) -> None:
    path = _local_file(url)
    if path is not None and not path.is_file():
        raise ConfigError(
            f"no Optuna storage at {path}; start a study first (`initsearch study start FILE`) "
            "or pass --storage/--workdir where it lives"
        )


def redact(url: str) -> str:
    """``url`` with any password replaced, for printing."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def is_remote_tracking(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def check_tracking_store(uri: str) -> None:
    """The MLflow store must exist (SQLite file, file-store folder); servers are trusted."""
    path = _local_file(uri)
    if path is None and uri.startswith("file:"):
        path = Path(urllib.parse.urlparse(uri).path)
    elif path is None and "://" not in uri:
        path = Path(uri)
    if path is not None and not path.exists():
        raise ConfigError(
            f"no MLflow tracking store at {path}; the study's driver creates it with the first "
            "finished trial, or pass --tracking-uri where the runs were logged"
        )


def _only_study(workdir: str) -> str:
    root = Path(workdir)
    found = sorted(p.parent.name for p in root.glob("*/optuna.journal")) if root.is_dir() else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigError(
            f"no study under {root}/; name one (`initsearch dashboard NAME|FILE`), pass "
            "--workdir where studies live, or pass --storage and --tracking-uri"
        )
    raise ConfigError(f"several studies under {root}/ ({', '.join(found)}); name one")


def resolve_target(
    study_or_file: str | None,
    workdir: str = "runs",
    storage: str | None = None,
    tracking_uri: str | None = None,
) -> Target:
    """The stores to serve. A study (name or YAML file) is found as ``study status`` finds it;
    its tracking URI is ``--tracking-uri``, else the one its driver recorded, else its config's,
    else ``<workdir>/<name>/mlflow.db``. Without a study: ``--storage`` and ``--tracking-uri``
    (every study in that storage), or the only study under ``--workdir``."""
    if study_or_file is None and storage:
        if not tracking_uri:
            raise ConfigError(
                "with --storage and no study, pass --tracking-uri too (or name the study)"
            )
        url = absolute_store(storage)
        check_optuna_store(url)
        uri = absolute_store(tracking_uri)
        check_tracking_store(uri)
        return Target(None, url, uri)
    if study_or_file is None:
        study_or_file = _only_study(workdir)

    from initsearch.search.locate import locate_study
    from initsearch.search.storage import open_storage, resolve_storage_url
    from initsearch.tracking.mlflow_runs import default_tracking_uri

    if storage:
        check_optuna_store(absolute_store(storage))
    cfg, study = locate_study(study_or_file, workdir=workdir, storage=storage)
    is_file = study_or_file.endswith((".yaml", ".yml")) or Path(study_or_file).is_file()
    base = cfg.workdir if is_file else workdir
    url = resolve_storage_url(storage or (cfg.storage if is_file else None), base, cfg.name)
    uri = (
        tracking_uri
        or study.user_attrs.get("tracking_uri")
        or cfg.tracking_uri
        or default_tracking_uri(base, cfg.name)
    )
    uri = absolute_store(uri)
    check_tracking_store(uri)
    study_id = open_storage(url).get_study_id_from_name(study.study_name)
    return Target(study.study_name, absolute_store(url), uri, study_id)


# ---- ports and processes -----------------------------------------------------------------


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
    from importlib.metadata import entry_points

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
    if url.startswith(JOURNAL):
        args = [url[len(JOURNAL) :], "--storage-class", "JournalFileStorage"]
    argv = _console_script("optuna-dashboard", "pip install optuna-dashboard")
    argv += [*args, "--host", host, "--port", str(port), "--server", "wsgiref"]
    return Server("Optuna dashboard", f"http://{_url_host(host)}:{port}", "/dashboard/", argv)


def mlflow_server(target: Target, host: str, port: int) -> Server:
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", target.tracking_uri]
    argv += ["--host", host, "--port", str(port), "--workers", "1"]
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return Server("MLflow UI", f"http://{_url_host(host)}:{port}", "/health", argv, env)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start(server: Server, folder: Path) -> None:
    server.log = folder / f"{server.name.lower().replace(' ', '-')}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **server.env}
    with open(server.log, "wb") as log:
        server.proc = subprocess.Popen(
            server.argv,
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stopped as a whole, no terminal ^C
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )


def log_tail(server: Server, lines: int = 25) -> str:
    if server.log is None or not server.log.exists():
        return ""
    text = server.log.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


class ServerFailed(RuntimeError):
    pass


def wait_ready(servers: list[Server], timeout: float = STARTUP_TIMEOUT_S) -> None:
    pending = list(servers)
    deadline = time.monotonic() + timeout
    while pending:
        for server in list(pending):
            code = server.proc.poll()
            if code is not None:
                raise ServerFailed(
                    f"{server.name} exited with status {code} while starting:\n{log_tail(server)}"
                )
            if _answers(server.url + server.health):
                pending.remove(server)
        if pending and time.monotonic() > deadline:
            names = ", ".join(s.name for s in pending)
            raise ServerFailed(f"{names} did not answer within {timeout:.0f} s")
        if pending:
            time.sleep(POLL_S)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(servers: list[Server], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM each server's process group, wait (bounded) for the leaders, then SIGKILL
    whatever is left in the groups."""
    running = [s for s in servers if s.proc is not None]
    for server in running:
        if server.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for server in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    # stragglers of a group (a worker whose leader exited) get until the deadline, then KILL;
    # zombies stay "alive" to killpg until reaped, so the wait is bounded, not exact
    while time.monotonic() < min(deadline, time.monotonic() + 3) and any(
        _group_alive(s.proc.pid) for s in running
    ):
        time.sleep(0.1)
    for server in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.proc.wait(timeout=5)


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
    query = urllib.parse.urlencode({"experiment_name": f"initsearch/{study}"})
    try:
        with urllib.request.urlopen(
            f"{mlflow.url}/api/2.0/mlflow/experiments/get-by-name?{query}", timeout=10
        ) as response:
            experiment_id = json.load(response)["experiment"]["experiment_id"]
    except (urllib.error.URLError, OSError, KeyError, ValueError):
        return mlflow.url + "/"
    return f"{mlflow.url}/#/experiments/{experiment_id}/runs"


def serve(
    target: Target,
    host: str = "127.0.0.1",
    optuna_port: int = 8080,
    mlflow_port: int = 5000,
    echo: Echo = print,
    err: Echo | None = None,
    startup_timeout: float = STARTUP_TIMEOUT_S,
) -> int:
    """Start both servers, print their addresses (``echo``; progress and errors go to
    ``err``), and block until Ctrl-C (returns 0) or a server dies (returns 1). Both are stopped
    on every way out. Call it from the main thread (it installs signal handlers)."""
    err = err or (lambda message: print(message, file=sys.stderr, flush=True))
    remote = is_remote_tracking(target.tracking_uri)
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
        echo("Press Ctrl-C to stop.")
        while True:
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
