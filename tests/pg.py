"""A real, throw-away PostgreSQL server for the tests that need one.

``pg_server`` (session scope) runs ``initdb`` on a cluster in a temporary folder, starts it on a
free port of 127.0.0.1 only (no Unix socket outside that folder), creates a database and a user
with a password, and yields a :class:`PgServer` whose ``url`` is an SQLAlchemy URL; the server is
stopped and the folder deleted at the end of the session, also when a test or the start failed.
``pg_url`` gives each test a fresh database of its own, so studies never collide.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user (created
by Debian's package) through ``runuser``. Missing binaries (``scripts/install-system-deps``
installs them) skip the tests locally and fail them under ``CI=true``.

Use: ``from tests.pg import pg_server, pg_url  # noqa: F401`` in a test module.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

START_TIMEOUT_S = 60
ADMIN_PASSWORD = "admin-" + uuid.uuid4().hex[:12]
USER = "initsearch"
PASSWORD = "pw-" + uuid.uuid4().hex[:12]


def unavailable(reason: str) -> None:
    """Skip locally; under CI the environment is meant to have everything, so fail."""
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{reason} (CI=true: not skipping)", pytrace=False)
    pytest.skip(reason)


def find_bindir() -> Path | None:
    """The newest PostgreSQL server version installed the Debian way."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found = [d for d in found if (d / "pg_ctl").exists() and (d / "postgres").exists()]

    def version(d: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in d.parent.name.split(".") if x.isdigit())

    return max(found, key=version) if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    """A running cluster; ``url`` points at its database ``initsearch`` as a password user."""

    bindir: Path
    root: Path
    port: int
    run_as: list[str]
    url: str = ""
    databases: list[str] = field(default_factory=list)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg2://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def admin(self):
        """A superuser connection (autocommit, for CREATE DATABASE)."""
        import psycopg2

        conn = psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            password=ADMIN_PASSWORD,
            dbname="postgres",
            connect_timeout=10,
        )
        conn.autocommit = True
        return conn

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database owned by the test user; returns its SQLAlchemy URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}" OWNER {USER}')
        finally:
            conn.close()
        self.databases.append(name)
        return self.url_for(name)

    def pg_ctl(self, *args: str, timeout: float = START_TIMEOUT_S + 30) -> None:
        cmd = [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args]
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout)

    def log_tail(self, chars: int = 3000) -> str:
        log = self.root / "server.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def _init_cluster(bindir: Path, root: Path, run_as: list[str]) -> None:
    pwfile = root / "pw"
    pwfile.write_text(ADMIN_PASSWORD + "\n")
    cmd = [
        *run_as,
        str(bindir / "initdb"),
        "-D",
        str(root / "data"),
        "-U",
        "postgres",
        f"--pwfile={pwfile}",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--encoding=UTF8",
        "--no-sync",
    ]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    pwfile.unlink()
    with (root / "data" / "postgresql.conf").open("a") as conf:
        # reachable on loopback only; the socket stays in our folder; durability is not needed
        conf.write(
            f"\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\n"
            "max_connections = 200\nfsync = off\nsynchronous_commit = off\n"
            "full_page_writes = off\nshared_buffers = 32MB\n"
        )


def prepare_server() -> PgServer:
    """Find the binaries and make the server's folder (skips or fails if that cannot be)."""
    bindir = find_bindir()
    if bindir is None:
        unavailable(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; install "
            "them with `sudo scripts/install-system-deps` (Debian package postgresql)"
        )
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        unavailable("psycopg2 is not installed (pip install psycopg2-binary)")
    as_root = os.geteuid() == 0
    # as root, /tmp rather than $TMPDIR: the postgres user must be able to reach the folder
    root = Path(tempfile.mkdtemp(prefix="initsearch-pg-", dir="/tmp" if as_root else None))
    run_as: list[str] = []
    if as_root:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            unavailable("running as root and there is no 'postgres' user to run the server as")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    return PgServer(bindir, root, free_port(), run_as)


def boot(server: PgServer) -> None:
    """initdb, start, and create the test user and its database."""
    _init_cluster(server.bindir, server.root, server.run_as)
    for attempt in range(3):  # the free port may be taken between choosing and binding it
        try:
            server.pg_ctl(
                "-l",
                str(server.root / "server.log"),
                "-o",
                f"-p {server.port}",
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "start",
            )
            break
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
            server.port = free_port()
    conn = server.admin()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE ROLE {USER} LOGIN PASSWORD %s CREATEDB", (PASSWORD,))
            cur.execute(f"CREATE DATABASE initsearch OWNER {USER}")
    finally:
        conn.close()
    server.url = server.url_for("initsearch")


def stop_server(server: PgServer) -> None:
    with contextlib.suppress(Exception):
        if (server.datadir / "postmaster.pid").exists():
            server.pg_ctl("-m", "immediate", "-w", "-t", "30", "stop", timeout=60)
    shutil.rmtree(server.root, ignore_errors=True)


@contextlib.contextmanager
def running_server() -> Iterator[PgServer]:
    """A started server for the duration of the block, stopped and deleted after it."""
    server = prepare_server()
    atexit.register(stop_server, server)  # if the session dies before its teardown runs
    try:
        try:
            boot(server)
        except subprocess.CalledProcessError as err:
            pytest.fail(
                f"could not start PostgreSQL: {err.cmd}: {err.stderr}\n{server.log_tail()}",
                pytrace=False,
            )
        yield server
    finally:
        stop_server(server)
        atexit.unregister(stop_server)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    with running_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh database per test, as an SQLAlchemy URL."""
    return pg_server.create_database()
