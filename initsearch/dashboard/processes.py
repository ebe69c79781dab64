"""Child processes supervised as whole process groups: start, wait until ready, stop.

Each server runs in a process group of its own (``start_new_session``): a terminal's Ctrl-C
reaches only the supervising command, which then stops every group (SIGTERM, then SIGKILL
after a bounded wait), so a server's own workers (MLflow's uvicorn) are never left behind. On
Linux each child also gets SIGTERM should the supervisor die without cleaning up
(``PR_SET_PDEATHSIG``). A server is ready when its health path answers 200; one that exits
while starting is reported with the tail of its log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

STARTUP_TIMEOUT_S = 120.0  # MLflow's first start on a database migrates it: tens of seconds
STOP_TIMEOUT_S = 15.0
POLL_S = 0.25
KILL_SETTLE_S = 3.0  # after SIGKILL: at most this long for the groups to be gone


@dataclass
class Server:
    """A server run as a child process: its command, where it answers, its log and process."""

    name: str
    url: str  # the base address
    health: str  # a path that answers 200 once the server is up
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None
    proc: subprocess.Popen | None = None


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
    # SIGKILL is sent, not awaited: a child of a leader (not ours to reap) may still be dying
    # when this returns, most of all on a loaded machine; give the groups a bounded moment
    settle = time.monotonic() + KILL_SETTLE_S
    while time.monotonic() < settle and any(_group_alive(s.proc.pid) for s in running):
        time.sleep(0.05)
