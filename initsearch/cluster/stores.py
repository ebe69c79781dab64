"""Can the cluster reach the study's stores? Refuse a submission early when it cannot.

Every node writes to the study's Optuna storage (workers report each epoch for pruning) and the
driver, on the head node, writes to MLflow. An embedded store (the default journal file and
SQLite tracking database under ``runs/<study>/``, any ``sqlite:``/``file:`` URL or plain path)
lives on one machine: a node elsewhere would silently create its own empty copy and its
reports would be lost. So a submission with an embedded store is accepted only when every node
of the cluster runs on this machine (the dashboard address is a loopback one and all nodes
share the head's IP); the paths are then made absolute, so the job writes the very files
``initsearch study status`` reads here. Otherwise the study needs server stores: PostgreSQL for
Optuna, PostgreSQL or an MLflow server for tracking.
"""

from __future__ import annotations

from initsearch.cluster.client import Cluster, is_local_address
from initsearch.errors import ConfigError
from initsearch.stores import is_embedded, is_embedded_tracking


def embedded_stores(storage_url: str, tracking_uri: str) -> list[str]:
    """The keys of the study file whose stores are files on this machine."""
    found = []
    if is_embedded(storage_url):
        found.append("storage")
    if is_embedded_tracking(tracking_uri):
        found.append("tracking_uri")
    return found


FIX = (
    "set storage: postgresql+psycopg2://USER:PASS@DBHOST/DB and tracking_uri: a PostgreSQL URL "
    "or an MLflow server (http://MLFLOW:5000), reachable from every node (docs/cluster.md)"
)


def check_reachable(address: str, study_file: str, embedded: list[str]) -> None:
    """Refuse, before connecting, embedded stores for a cluster that is not on this machine."""
    if embedded and not is_local_address(address):
        raise ConfigError(
            f"{study_file}: the study's {' and '.join(embedded)} is a file on this machine, "
            f"which the cluster at {address} cannot reach; in {study_file} {FIX}"
        )


def check_one_machine(
    address: str, study_file: str, embedded: list[str], node_ips: list[str]
) -> None:
    """Embedded stores on a local cluster: only if every alive node shares one IP (this
    machine, as the dashboard is on loopback)."""
    ips = sorted(set(node_ips))
    if embedded and len(ips) > 1:
        raise ConfigError(
            f"{study_file}: the study's {' and '.join(embedded)} is a file on this machine, but "
            f"the cluster at {address} has nodes on other machines ({', '.join(ips)}); "
            f"in {study_file} {FIX}"
        )


def alive_node_ips(cluster: Cluster) -> list[str]:
    return [n.get("node_ip", "") for n in cluster.nodes() if n.get("state") == "ALIVE"]
