"""Where trials execute: Ray workers (local or a cluster), or in-process for debugging.

A pool takes jobs and gives back outcomes; a worker that died (killed, out of memory, its node
lost) comes back as :class:`WorkerLost`, so the driver can fail the trial and retry it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from initsearch.data import Dataset
from initsearch.errors import ConfigError
from initsearch.factories import IMPORT_PATHS
from initsearch.run.job import TrialJob, TrialOutcome
from initsearch.run.worker import execute


@dataclass(frozen=True)
class WorkerLost:
    reason: str


class TrialPool:
    workers: int = 1

    def start(self, dataset: Dataset) -> None:
        raise NotImplementedError

    def submit(self, job: TrialJob) -> Any:
        raise NotImplementedError

    def wait(self, refs: list[Any], timeout: float) -> list[tuple[Any, TrialOutcome | WorkerLost]]:
        raise NotImplementedError

    def run_once(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn`` where trials run (e.g. to size packs for the workers' device)."""
        return fn(*args)

    def cancel(self, ref: Any) -> None:
        """Stop a running job (best effort)."""

    def shutdown(self) -> None:
        """Release what start() acquired."""


class InlinePool(TrialPool):
    """Runs each trial in this process when submitted: no parallelism, easy to debug."""

    def __init__(self) -> None:
        self.workers = 1
        self._ids = itertools.count()
        self._done: dict[int, TrialOutcome] = {}
        self._dataset: Dataset | None = None

    def start(self, dataset: Dataset) -> None:
        self._dataset = dataset

    def submit(self, job: TrialJob) -> int:
        assert self._dataset is not None, "start() first"
        ref = next(self._ids)
        self._done[ref] = execute(job, self._dataset)
        return ref

    def wait(self, refs: list[Any], timeout: float) -> list[tuple[Any, TrialOutcome | WorkerLost]]:
        return [(ref, self._done.pop(ref)) for ref in refs if ref in self._done]


def enable_token_mode_from_env() -> bool:
    """Let ``ray.init(address=...)`` authenticate when the user gave a token but no mode.

    Ray enables token auth for an explicit address only with ``RAY_AUTH_MODE=token``; a user
    who exported ``RAY_AUTH_TOKEN`` (or ``RAY_AUTH_TOKEN_PATH``) clearly means it, so we set
    the mode for them. Returns whether token mode is on for this process."""
    mode = os.environ.get("RAY_AUTH_MODE")
    if mode is not None:
        return mode.lower() == "token"
    if os.environ.get("RAY_AUTH_TOKEN", "").strip() or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        os.environ["RAY_AUTH_MODE"] = "token"
        # Ray reads its config once per process: re-read it, as Ray does when it turns token
        # mode on for a local cluster
        from ray._raylet import Config

        Config.initialize("")
        return True
    return False


def connect(ray: Any, address: str) -> None:
    """Join a running cluster (``auto`` inside a Ray job). A token exported by the user turns
    on Ray's token mode, which Ray does not do by itself for an explicit address."""
    token = enable_token_mode_from_env()
    try:
        ray.init(address=address, log_to_driver=False)
    except (ConnectionError, ray.exceptions.AuthenticationError) as err:
        auth = (
            "that RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH holds its token"
            if token
            else "if it uses token authentication, export its token (RAY_AUTH_TOKEN or "
            "RAY_AUTH_TOKEN_PATH; on the head node `ray get-auth-token` prints it)"
        )
        raise ConfigError(
            f"cannot connect to the Ray cluster at {address} ({str(err).splitlines()[0]}); "
            f"check the address (HEAD:6379), that the cluster runs, and {auth}"
        ) from None


def alive_resources(ray: Any) -> list[dict[str, float]]:
    """The total resources of each alive node of the cluster."""
    return [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]


def check_fits(nodes: list[dict[str, float]], cpus_per_trial: float, gpus_per_trial: float) -> None:
    """Fail fast when no node of the cluster can ever run one trial: Ray would queue the
    tasks forever. A busy cluster is fine (trials wait their turn); so is a node that joins
    later with ``INITSEARCH_SKIP_RESOURCE_CHECK=1`` (an autoscaling cluster)."""
    if os.environ.get("INITSEARCH_SKIP_RESOURCE_CHECK", "") not in ("", "0"):
        return
    if gpus_per_trial > 0 and not any(r.get("GPU", 0) > 0 for r in nodes):
        raise ConfigError(
            f"the study asks for {gpus_per_trial} GPU per trial but the Ray cluster has no "
            "GPU; set ray.gpus_per_trial: 0 (and train.device: cpu) or use a GPU cluster"
        )
    if trial_slots(nodes, cpus_per_trial, gpus_per_trial) == 0:
        largest = max(nodes, key=lambda r: (r.get("GPU", 0), r.get("CPU", 0)), default={})
        raise ConfigError(
            f"no node of the Ray cluster fits one trial ({cpus_per_trial:g} CPU and "
            f"{gpus_per_trial:g} GPU per trial; the largest node has {largest.get('CPU', 0):g} "
            f"CPU and {largest.get('GPU', 0):g} GPU); lower ray.cpus_per_trial / "
            "ray.gpus_per_trial or add larger nodes"
        )


def trial_slots(nodes: list[dict[str, float]], cpus_per_trial: float, gpus_per_trial: float) -> int:
    """Trials the cluster runs at once, node by node: a trial cannot span two nodes, so two
    nodes of 3 CPUs hold two 2-CPU trials, not three."""
    slots = 0
    for res in nodes:
        fit = res.get("CPU", 0) / cpus_per_trial + 1e-9
        if gpus_per_trial:
            fit = min(fit, res.get("GPU", 0) / gpus_per_trial + 1e-9)
        slots += int(fit)
    return slots


SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray's switch between its single-machine mode (``0``: node IP 127.0.0.1) and cluster mode."""


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """While Ray starts here for this process alone: make it listen on 127.0.0.1 only.

    Ray binds its servers (GCS, raylet and object manager, core workers, the dashboard agent,
    the runtime-env agent, metrics) to every interface unless the node's IP is the loopback
    address, which it picks only in its single-machine mode (the default on macOS and
    Windows). ``ray.init(_node_ip_address="127.0.0.1")`` does not do it: Ray swaps a loopback
    address for the machine's outward one. So the mode is on for the start: in the
    environment, which every process Ray starts inherits (workers come from the raylet), and
    in the constant this process read when it imported Ray; both are restored afterwards, so
    a later connection to a real cluster sees the machine's IP. A local run has no reason to
    accept connections from other machines (its token auth aside)."""
    saved_env = os.environ.get(SINGLE_MACHINE_ENV)
    os.environ[SINGLE_MACHINE_ENV] = "0"
    try:
        from ray._private import ray_constants
    except ImportError:  # a Ray that moved it: the processes it starts still read the variable
        ray_constants = None
    saved = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    if saved is not None:
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if saved is not None:
            ray_constants.ENABLE_RAY_CLUSTER = saved
        if saved_env is None:
            os.environ.pop(SINGLE_MACHINE_ENV, None)
        else:
            os.environ[SINGLE_MACHINE_ENV] = saved_env


def local_runtime_env() -> dict[str, Any]:
    """What the workers of a Ray instance started here need to import a study's own code
    (``model.factory`` and the like): this folder and the study's import paths on their
    ``PYTHONPATH``, after the user's own. Ray itself puts only the driver script's folder
    there. On a cluster, ``cluster submit`` ships that code with the job instead."""
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    for folder in (*IMPORT_PATHS, os.getcwd()):
        if folder not in paths:
            paths.append(folder)
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}


NICENESS_ENV = "RAY_worker_niceness"


def local_system_config() -> dict[str, Any]:
    """Ray settings of an instance started here for this study alone.

    Ray runs its workers at niceness 15 so that its own daemons stay responsive; here the
    workers are the study's trials, the work the user started, and at 15 they yield to every
    other process: on the shared 2-core dev machine under load the quickstart took up to 1.9x
    the time of the same trials in a plain Optuna script at niceness 0
    (benchmarks/quickstart_vs_optuna.py). So they run at the user's priority, unless
    ``RAY_worker_niceness`` says otherwise (Ray reads it itself)."""
    return {} if NICENESS_ENV in os.environ else {"worker_niceness": 0}


def warm_up() -> int:
    """Nothing: as a task, it makes a fresh Ray worker import this module, and so what every
    trial needs (torch, Optuna, the engine: a few seconds), while the driver still sets up."""
    return os.getpid()


class RayPool(TrialPool):
    """Trials as Ray tasks with the study's CPU/GPU share; the data set is put in the object
    store once and every task gets a reference to it."""

    def __init__(
        self,
        address: str | None = None,
        cpus_per_trial: float = 1.0,
        gpus_per_trial: float = 0.0,
        workers: int | None = None,
        num_cpus: int | None = None,
    ) -> None:
        import ray

        self.ray = ray
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            if address:
                connect(ray, address)
            else:
                with loopback_only():
                    ray.init(
                        num_cpus=num_cpus,
                        include_dashboard=False,
                        log_to_driver=False,
                        runtime_env=local_runtime_env(),
                        _system_config=local_system_config(),
                    )
        nodes = alive_resources(ray)
        try:
            check_fits(nodes, cpus_per_trial, gpus_per_trial)
        except ConfigError:
            self.shutdown()
            raise
        self.workers = workers or max(1, trial_slots(nodes, cpus_per_trial, gpus_per_trial))
        self.cpus_per_trial, self.gpus_per_trial = cpus_per_trial, gpus_per_trial
        self.remote = ray.remote(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial, max_retries=0)(
            execute
        )
        self._data_ref = None
        self._warming: list[Any] = []
        self.local_instance = self.owns_ray and not address  # a Ray started for this pool
        if self.local_instance:  # its workers start now: one warm-up task each
            warm = ray.remote(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial)(warm_up)
            self._warming = [warm.remote() for _ in range(self.workers)]

    def start(self, dataset: Dataset) -> None:
        self._data_ref = self.ray.put(dataset)

    def submit(self, job: TrialJob) -> Any:
        return self.remote.remote(job, self._data_ref)

    def run_once(self, fn: Callable[..., Any], *args: Any) -> Any:
        task = self.ray.remote(num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial)(fn)
        args = tuple(self._data_ref if isinstance(a, Dataset) else a for a in args)
        return self.ray.get(task.remote(*args))

    def wait(self, refs: list[Any], timeout: float) -> list[tuple[Any, TrialOutcome | WorkerLost]]:
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=timeout)
        out: list[tuple[Any, TrialOutcome | WorkerLost]] = []
        for ref in ready:
            try:
                out.append((ref, self.ray.get(ref)))
            except self.ray.exceptions.RayError as err:
                out.append((ref, WorkerLost(f"worker lost: {type(err).__name__}: {err}"[:2000])))
        return out

    def cancel(self, ref: Any) -> None:
        """Stop a task of a shared cluster. A Ray started here is left to :meth:`shutdown`
        (which every stop is followed by, and which ends its workers): a force-cancel that
        crosses the task's own reply aborts the driver inside Ray ("Tried to complete task
        that was not pending", ray-project/ray#54846), seen when a SIGTERM met a finishing
        trial; the exit would then be a crash, not 143."""
        if self.local_instance:
            return
        with contextlib.suppress(Exception):  # the task may have finished meanwhile
            self.ray.cancel(ref, force=True)

    def shutdown(self) -> None:
        if self.owns_ray and self.ray.is_initialized():
            self.ray.shutdown()


def make_pool(
    cfg_ray: Any, inline: bool, address: str | None = None, workers: int | None = None
) -> TrialPool:
    """The pool a command asked for: in-process, or Ray with the study's resources (command-line
    address and worker count override the study file's)."""
    if inline:
        return InlinePool()
    return RayPool(
        address=address or cfg_ray.address,
        cpus_per_trial=cfg_ray.cpus_per_trial,
        gpus_per_trial=cfg_ray.gpus_per_trial,
        workers=workers or cfg_ray.workers,
    )
