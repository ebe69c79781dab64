"""A real multi-node Ray cluster on one machine, for the cluster tests.

Each node is its own ``ray start --block`` process, started in a session (process group) of its
own with its own ``--temp-dir`` (two raylets sharing a session folder collide on their Unix
sockets) and free ports, so that several nodes, and other tests' Ray runtimes, coexist. The
head has no CPU, so it runs the job's driver and never a trial; each worker node has one CPU and
a custom resource ``node_<name>`` that tells the nodes apart.

The cluster runs with Ray's token authentication (``RAY_AUTH_MODE=token``, the token in a file
of the cluster's folder) and fast node-death detection: the GCS health-checks each raylet every
``HEALTH_PERIOD_MS`` and declares it dead after ``HEALTH_FAILURES`` misses (Ray's defaults, 3 s
and 5, take 15-30 s). Every process of the cluster carries ``INITSEARCH_TEST_CLUSTER=<id>`` and
``INITSEARCH_TEST_NODE=<name>`` in its environment (Ray's workers inherit their raylet's), which
is how a node is killed whole (its group, then any process with its marker: Ray gives each
worker a process group of its own) and how the tests check that nothing is left behind. Nothing
here uses ``ray stop``, which would stop every Ray process of the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.pg import free_port

START_TIMEOUT_S = 180.0
WORKER_STARTS = 3
HEALTH_PERIOD_MS = 1000
HEALTH_TIMEOUT_MS = 2000
HEALTH_FAILURES = 5
OBJECT_STORE_BYTES = 100 * 1024 * 1024
MARKER = "INITSEARCH_TEST_CLUSTER"
NODE_MARKER = "INITSEARCH_TEST_NODE"


@dataclass
class Node:
    name: str
    proc: subprocess.Popen
    temp_dir: Path
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        """The end of ``ray start``'s output and of the node's raylet log (why a node died)."""
        text = self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""
        for name in ("raylet.out", "raylet.err"):
            for path in self.temp_dir.glob(f"session_*/logs/{name}"):
                lines = [
                    line
                    for line in path.read_text(errors="replace").splitlines()
                    if " E " in line or "rror" in line
                ]
                text += f"\n--- {path.name}\n" + "\n".join(lines[-15:])[-chars:]
        return text


def _environ_of(pid: str) -> list[bytes] | None:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None


def _running(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class LocalCluster:
    """Head plus worker nodes on this machine; ``close()`` kills every process it started."""

    root: Path
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    nodes: dict[str, Node] = field(default_factory=dict)
    starts: dict[str, int] = field(default_factory=dict)
    gcs_port: int = 0
    dashboard_port: int = 0

    def __post_init__(self) -> None:
        self.token_file = self.root / "token"
        self.token_file.write_text(secrets.token_hex(32))
        self.token_file.chmod(0o600)

    @property
    def token(self) -> str:
        return self.token_file.read_text().strip()

    @property
    def address(self) -> str:
        """The job API's address (the dashboard), as ``initsearch cluster`` takes it."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    def env(self, node: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RAY_AUTH", "RAY_ADDRESS", "RAY_API_SERVER"))
        }
        env.update(
            {
                # the job's entrypoint says `python`: this interpreter, with its packages
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
                "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN_PATH": str(self.token_file),
                "RAY_health_check_period_ms": str(HEALTH_PERIOD_MS),
                "RAY_health_check_timeout_ms": str(HEALTH_TIMEOUT_MS),
                "RAY_health_check_failure_threshold": str(HEALTH_FAILURES),
                "RAY_USAGE_STATS_ENABLED": "0",
                MARKER: self.id,
                NODE_MARKER: f"{self.id}-{node}",
            }
        )
        return env

    def _start(self, name: str, args: list[str]) -> Node:
        self.starts[name] = self.starts.get(name, 0) + 1
        attempt = f"{name}{self.starts[name]}"
        temp_dir = self.root / attempt  # short: Ray's Unix socket paths must fit in 107 bytes
        temp_dir.mkdir()
        log = self.root / f"{attempt}.log"
        ports = [free_port() for _ in range(4)]
        argv = [
            str(Path(sys.executable).parent / "ray"),
            "start",
            *args,
            "--temp-dir",
            str(temp_dir),
            "--disable-usage-stats",
            "--object-store-memory",
            str(OBJECT_STORE_BYTES),
            "--dashboard-agent-listen-port",
            str(ports[0]),
            "--dashboard-agent-grpc-port",
            str(ports[1]),
            "--runtime-env-agent-port",
            str(ports[2]),
            "--metrics-export-port",
            str(ports[3]),
            "--block",
        ]
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                argv,
                cwd=self.root,
                env=self.env(name),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the node's own process group: killed as a whole
            )
        node = Node(name, proc, temp_dir, log)
        self.nodes[name] = node
        return node

    def start_head(self) -> None:
        self.gcs_port, self.dashboard_port = free_port(), free_port()
        self._start(
            "head",
            [
                "--head",
                "--num-cpus",
                "0",  # the head runs the job's driver, never a trial
                "--port",
                str(self.gcs_port),
                "--dashboard-host",
                "127.0.0.1",
                "--dashboard-port",
                str(self.dashboard_port),
                "--ray-client-server-port",
                str(free_port()),
                "--include-dashboard",
                "true",
            ],
        )

    def add_worker(self, name: str) -> None:
        self._start(
            name,
            [
                "--address",
                f"127.0.0.1:{self.gcs_port}",
                "--num-cpus",
                "1",
                "--resources",
                json.dumps({f"node_{name}": 1}),
            ],
        )

    # ---- what the cluster looks like --------------------------------------------------
    def api_nodes(self) -> list[dict]:
        """The nodes as Ray's state API lists them (alive and dead)."""
        request = urllib.request.Request(
            f"{self.address}/api/v0/nodes?limit=100&detail=false",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["data"]["result"]["result"]

    def node_ids(self) -> dict[str, str]:
        """Worker name -> Ray node id, of the nodes alive now (a name that is alive twice, a
        restarted node whose first start is not yet declared dead, is left out until it is
        not)."""
        found: dict[str, list[str]] = {}
        for node in self.api_nodes():
            if node["state"] != "ALIVE":
                continue
            for key in node["resources_total"]:
                if key.startswith("node_") and key[5:] in self.nodes:
                    found.setdefault(key[5:], []).append(node["node_id"])
        return {name: ids[0] for name, ids in found.items() if len(ids) == 1}

    def head_node_id(self) -> str:
        return next(n["node_id"] for n in self.api_nodes() if n["is_head_node"])

    def wait_ready(self, workers: list[str], timeout: float = START_TIMEOUT_S) -> None:
        """Until the dashboard answers and lists ``workers`` alive. A worker whose ``ray start``
        gave up is started again (``ray start`` waits only 30 s for its raylet to register,
        which a loaded 2-core machine can exceed); the head is not."""
        deadline = time.monotonic() + timeout
        while True:
            for node in list(self.nodes.values()):
                if node.proc.poll() is None:
                    continue
                if node.name != "head" and self.starts[node.name] < WORKER_STARTS:
                    self.kill_node(node.name)
                    self.add_worker(node.name)
                    continue
                raise RuntimeError(
                    f"ray node {node.name} exited with {node.proc.returncode}:\n{node.log_tail()}"
                )
            with contextlib.suppress(urllib.error.URLError, OSError, ValueError, KeyError):
                if set(self.node_ids()) >= set(workers):
                    return
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {n.name}\n{n.log_tail(1500)}" for n in self.nodes.values())
                raise RuntimeError(f"the Ray cluster did not come up in {timeout:.0f} s\n{logs}")
            time.sleep(0.5)

    # ---- processes --------------------------------------------------------------------
    def processes(self, node: str | None = None) -> list[tuple[int, str]]:
        """Running processes of the cluster (or of one node), by the marker in their env."""
        marker = (f"{NODE_MARKER}={self.id}-{node}" if node else f"{MARKER}={self.id}").encode()
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            environ = _environ_of(pid)
            if environ and marker in environ and _running(pid):
                with contextlib.suppress(OSError):
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                    found.append((int(pid), cmd.decode(errors="replace")[:160]))
        return found

    def kill_node(self, name: str) -> None:
        """The node is lost: SIGKILL to its process group and to every process of the node
        (its Ray workers, in groups of their own), all at once, as a machine losing power."""
        node = self.nodes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.proc.pid, signal.SIGKILL)
        for pid, _ in self.processes(name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.proc.wait(timeout=10)
        # SIGKILL is not instant (a worker holding much memory takes a moment to be torn
        # down), and a worker the raylet was starting as it died may appear after the listing
        deadline = time.monotonic() + 15
        while (left := self.processes(name)) and time.monotonic() < deadline:
            for pid, _ in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)

    def close(self) -> list[tuple[int, str]]:
        """Kill every node and every process with the cluster's marker; returns what was
        still running a few seconds later (nothing, unless a process escapes SIGKILL)."""
        for name in list(self.nodes):
            self.kill_node(name)
        for pid, _ in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        left = self.processes()
        shutil.rmtree(self.root, ignore_errors=True)
        return left


@contextlib.contextmanager
def local_cluster(workers: tuple[str, ...] = ("a", "b")) -> Iterator[LocalCluster]:
    """A head and ``workers`` worker nodes, killed (and checked gone) on the way out."""
    root = Path(f"/tmp/rc_{uuid.uuid4().hex[:8]}")  # short: see _start
    root.mkdir()
    cluster = LocalCluster(root)
    try:
        cluster.start_head()
        cluster.wait_ready([])  # workers join a running head: no three-way start-up at once
        for name in workers:
            cluster.add_worker(name)
        cluster.wait_ready(list(workers))
        yield cluster
    finally:
        left = cluster.close()
        assert not left, f"processes of the test cluster survived: {left}"
