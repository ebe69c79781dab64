"""A local Ray (``study start`` without a cluster address) listens on loopback only.

The TCP sockets listening in this process and every process it started (Ray's GCS, raylet,
object manager, agents, workers) are read from ``/proc`` (Linux), and none may accept
connections from another machine: no ``0.0.0.0``/``::`` and no outward address.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

LISTEN = "0A"  # the TCP state LISTEN in /proc/net/tcp


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parent[int(entry.name)] = int(fields[1])
    found, frontier = {pid}, [pid]
    while frontier:
        current = frontier.pop()
        children = [p for p, pp in parent.items() if pp == current and p not in found]
        found.update(children)
        frontier += children
    return found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    except OSError:
        pass
    return inodes


def address(hex_addr: str) -> str:
    """An address of /proc/net/tcp{,6} (little-endian 32-bit words) as text."""
    raw = bytes.fromhex(hex_addr)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def listening(pids: set[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN held by one of ``pids``."""
    mine = set().union(*(socket_inodes(pid) for pid in pids))
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == LISTEN and inode in mine:
                host, port = local.split(":")
                out.append((address(host), int(port, 16)))
    return out


def is_loopback(host: str) -> bool:
    ip = ipaddress.ip_address(host)
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 on a dual-stack socket
    return (mapped or ip).is_loopback


def test_a_local_ray_listens_on_loopback_only():
    import ray

    from initsearch.run.pool import SINGLE_MACHINE_ENV, RayPool

    assert not ray.is_initialized()
    before = os.environ.get(SINGLE_MACHINE_ENV)
    pool = RayPool(num_cpus=1)
    try:
        # a task makes the raylet start a worker, which listens too
        assert ray.get(ray.remote(lambda: 1).remote()) == 1
        sockets = listening(descendants(os.getpid()))
        node = ray.nodes()[0]
    finally:
        pool.shutdown()
    assert len(sockets) >= 4, sockets  # driver, GCS, raylet, worker at least
    open_ = sorted({(host, port) for host, port in sockets if not is_loopback(host)})
    assert open_ == [], f"Ray listens beyond loopback: {open_}"
    assert node["NodeManagerAddress"] == "127.0.0.1"
    # the single-machine mode was for the start only: a later cluster connection sees the IP
    assert os.environ.get(SINGLE_MACHINE_ENV) == before
    from ray._private import ray_constants

    assert ray_constants.ENABLE_RAY_CLUSTER
