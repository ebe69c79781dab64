"""Where trials execute: Ray workers (local or a cluster), or in-process for debugging.

A pool takes jobs and gives back outcomes; a worker that died (killed, out of memory, its node
lost) comes back as :class:`WorkerLost`, so the driver can fail the trial and retry it.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from initsearch.data import Dataset
from initsearch.errors import ConfigError
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
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        resources = ray.cluster_resources()
        if gpus_per_trial > 0 and resources.get("GPU", 0) <= 0:
            self.shutdown()
            raise ConfigError(
                f"the study asks for {gpus_per_trial} GPU per trial but the Ray cluster has no "
                "GPU; set ray.gpus_per_trial: 0 (and train.device: cpu) or use a GPU cluster"
            )
        cpu_slots = resources.get("CPU", 1) / cpus_per_trial
        gpu_slots = resources.get("GPU", 0) / gpus_per_trial if gpus_per_trial else cpu_slots
        self.workers = workers or max(1, int(min(cpu_slots, gpu_slots)))
        self.cpus_per_trial, self.gpus_per_trial = cpus_per_trial, gpus_per_trial
        self.remote = ray.remote(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial, max_retries=0)(
            execute
        )
        self._data_ref = None

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
