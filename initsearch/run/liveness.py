"""Is a study's driver still there? Its heartbeat says so within a window; its process says
so at once when it ran on this machine.

A heartbeat cannot tell a dead driver from a live one until ``STALE_AFTER`` seconds have
passed, and a study started again at once (after ``kill -9``, an out-of-memory kill, a crashed
node) would count the dead driver's trials as running for that long. So each driver also
records where it runs (host name, boot id, pid); a driver that ran on this machine and whose
process is gone is dead now. A driver on another machine is judged by its heartbeat only.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any


@cache
def boot_id() -> str:
    """This boot of this machine (two machines may share a host name; a reboot reuses pids)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_running(pid: int) -> bool:
    """Whether process ``pid`` of this machine runs; a zombie (exited, not yet reaped by its
    parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    if not Path("/proc/self/stat").exists():
        return True  # no /proc: the signal check is all there is
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False  # it ended between the two looks
    return state not in ("Z", "X")


@dataclass(frozen=True)
class DriverProcess:
    """Where a driver runs: its machine and its process id."""

    host: str
    boot: str
    pid: int

    @classmethod
    def this(cls) -> DriverProcess:
        return cls(socket.gethostname(), boot_id(), os.getpid())

    @classmethod
    def from_dict(cls, data: Any) -> DriverProcess | None:
        """None for a record this version does not understand."""
        try:
            return cls(str(data["host"]), str(data.get("boot", "")), int(data["pid"]))
        except (TypeError, KeyError, ValueError):
            return None

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "boot": self.boot, "pid": self.pid}

    def on_this_machine(self) -> bool:
        here = DriverProcess.this()
        return self.host == here.host and self.boot == here.boot

    def gone(self) -> bool:
        """Known to have ended: it ran on this machine and its process runs no more. False
        for a driver on another machine (only its heartbeat can tell)."""
        return self.on_this_machine() and not process_running(self.pid)
