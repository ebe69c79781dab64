"""The Ray job API of a cluster, with the failures a user can fix turned into one-line errors.

``JobSubmissionClient`` raises a generic ``RuntimeError`` for an unknown job, a
``ConnectionError`` for a wrong address and Ray's ``AuthenticationError`` for a missing or wrong
token; :func:`jobs_api` wraps each call so that these become :class:`ConfigError` naming the fix
(exit status 2 on the command line).
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from initsearch.cluster.auth import Token, find_token
from initsearch.errors import ConfigError

DASHBOARD_PORT = 8265
GCS_PORT = 6379
LOOPBACK = ("localhost", "127.0.0.1", "::1")


def normalize_address(address: str | None) -> str:
    """``http://HOST:PORT`` of the Ray dashboard, from the option or Ray's environment."""
    given = address or os.environ.get("RAY_API_SERVER_ADDRESS") or ""
    if not given and os.environ.get("RAY_ADDRESS", "").startswith(("http://", "https://")):
        given = os.environ["RAY_ADDRESS"]
    if not given:
        raise ConfigError(
            "no cluster address; pass --address http://HEAD:8265 (the Ray dashboard of the "
            "cluster's head node) or set RAY_API_SERVER_ADDRESS"
        )
    if given.startswith("ray://"):
        raise ConfigError(
            f"{given} is a Ray Client address; jobs go to the dashboard: --address http://HEAD:8265"
        )
    if "://" not in given:
        given = f"http://{given}"
    parts = urllib.parse.urlsplit(given)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--address {given!r} is not an address like http://HEAD:8265")
    if parts.port == GCS_PORT:
        raise ConfigError(
            f"{given} is the cluster's GCS port ({GCS_PORT}); jobs are submitted to the "
            f"dashboard port, e.g. http://{parts.hostname}:{DASHBOARD_PORT}"
        )
    return given.rstrip("/")


def is_local_address(address: str) -> bool:
    """Whether the dashboard runs on this machine (loopback)."""
    host = urllib.parse.urlsplit(address).hostname or ""
    return host in LOOPBACK or host.startswith("127.")


@dataclass
class Cluster:
    """A connected job API client and how it was reached (for messages)."""

    address: str
    token: Token | None
    client: Any  # ray.job_submission.JobSubmissionClient

    def nodes(self) -> list[dict[str, Any]]:
        """The cluster's nodes from Ray's state API (``node_ip``, ``state``, ...)."""
        url = f"{self.address}/api/v0/nodes?limit=10000&detail=false"
        headers = self.token.headers() if self.token else {}
        with (
            jobs_api(self),
            urllib.request.urlopen(
                urllib.request.Request(url, headers=headers), timeout=30
            ) as response,
        ):
            return json.load(response)["data"]["result"]["result"]


def _auth_hint(token: Token | None) -> str:
    if token is None:
        return (
            "it requires a token and none was found; pass --token-file FILE or set "
            "RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH (on the head node `ray get-auth-token` "
            "prints it)"
        )
    return (
        f"it refused the token from {token.source}; give the cluster's own token "
        "(on the head node `ray get-auth-token` prints it)"
    )


@contextlib.contextmanager
def jobs_api(cluster: Cluster | str, token: Token | None = None) -> Iterator[None]:
    """Translate the job API's fixable failures into ConfigError."""
    from ray.exceptions import AuthenticationError
    from requests import RequestException

    address = cluster.address if isinstance(cluster, Cluster) else cluster
    token = cluster.token if isinstance(cluster, Cluster) else token
    try:
        yield
    except AuthenticationError:
        raise ConfigError(
            f"the Ray cluster at {address} refused the request: {_auth_hint(token)}"
        ) from None
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise ConfigError(
                f"the Ray cluster at {address} refused the request: {_auth_hint(token)}"
            ) from None
        raise ConfigError(
            f"the Ray dashboard at {address} answered {err.code}: {err.reason}"
        ) from None
    except (ConnectionError, urllib.error.URLError, RequestException) as err:
        raise ConfigError(
            f"cannot reach a Ray dashboard at {address} ({str(err).splitlines()[0][:200]}); "
            "check the address (http://HEAD:8265), that the cluster runs and that its dashboard "
            "is reachable from here (it binds 127.0.0.1 unless started with --dashboard-host; "
            "an SSH tunnel works: ssh -L 8265:127.0.0.1:8265 HEAD)"
        ) from None


def connect(address: str | None, token_file: str | None = None) -> Cluster:
    """A job API client of the cluster at ``address``, checked to answer."""
    from ray.job_submission import JobSubmissionClient

    address = normalize_address(address)
    token = find_token(token_file)
    with jobs_api(address, token):
        client = JobSubmissionClient(address, headers=token.headers() if token else None)
    return Cluster(address, token, client)


def job_info(cluster: Cluster, job_id: str) -> Any:
    """The job's ``JobDetails``; an unknown id is a ConfigError listing where to look."""
    with jobs_api(cluster):
        try:
            return cluster.client.get_job_info(job_id)
        except RuntimeError as err:
            if "404" in str(err) or "does not exist" in str(err):
                raise ConfigError(
                    f"no job {job_id!r} on the cluster at {cluster.address}; "
                    "`initsearch cluster list` shows its jobs"
                ) from None
            raise
