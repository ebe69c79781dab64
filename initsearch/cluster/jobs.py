"""Follow and stop submitted jobs: thin helpers over the job API for ``initsearch cluster``."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from initsearch.cluster.client import Cluster, job_info, jobs_api

JOB_PREFIX = "initsearch-"
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
POLL_S = 1.0


def job_id(study: str, attempt: int) -> str:
    """The id of the ``attempt``-th submission of ``study`` (Ray never reuses an id)."""
    return f"{JOB_PREFIX}{study}-{attempt}"


def study_jobs(jobs: list[Any], study: str) -> list[tuple[int, Any]]:
    """(attempt, job) of every earlier submission of ``study``, oldest first."""
    pattern = re.compile(rf"^{re.escape(JOB_PREFIX + study)}-(\d+)$")
    found = []
    for job in jobs:
        match = pattern.match(job.submission_id or "")
        if match:
            found.append((int(match.group(1)), job))
    return sorted(found, key=lambda pair: pair[0])


def _when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


def reason(message: str | None) -> str | None:
    """The ``error: ...`` line our command printed before exiting, found in Ray's message
    (which quotes the job's last log lines), so a failed job says why in one line."""
    for line in reversed((message or "").splitlines()):
        if line.startswith("error: "):
            return line[len("error: ") :]
    return None


@dataclass(frozen=True)
class JobView:
    """What ``cluster status`` shows of a job."""

    job_id: str
    status: str
    study: str
    entrypoint: str
    started: str
    ended: str
    message: str
    reason: str | None

    @classmethod
    def of(cls, info: Any) -> JobView:
        return cls(
            job_id=info.submission_id or info.job_id or "",
            status=str(info.status.value),
            study=(info.metadata or {}).get("initsearch_study", ""),
            entrypoint=info.entrypoint or "",
            started=_when(info.start_time),
            ended=_when(info.end_time),
            message=info.message or "",
            reason=reason(info.message),
        )

    def lines(self) -> list[str]:
        out = [f"job {self.job_id}: {self.status}"]
        if self.study:
            out.append(f"  study: {self.study}")
        out += [f"  entrypoint: {self.entrypoint}", f"  started: {self.started}"]
        if self.status in TERMINAL:
            out.append(f"  ended: {self.ended}")
        if self.reason:
            out.append(f"  reason: {self.reason}")
        elif self.message:
            out.append(f"  message: {self.message.splitlines()[0][:300]}")
        return out


def status(cluster: Cluster, job_id: str) -> JobView:
    return JobView.of(job_info(cluster, job_id))


def wait(
    cluster: Cluster, job_id: str, timeout: float | None = None, poll: float = POLL_S
) -> JobView:
    """Poll until the job ends (or ``timeout`` seconds pass); its last view."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        view = status(cluster, job_id)
        if view.status in TERMINAL or (deadline is not None and time.monotonic() > deadline):
            return view
        time.sleep(poll)


def logs(cluster: Cluster, job_id: str) -> str:
    job_info(cluster, job_id)  # an unknown id: a clear error rather than an HTTP one
    with jobs_api(cluster):
        return cluster.client.get_job_logs(job_id)


def follow(cluster: Cluster, job_id: str, write: Callable[[str], None]) -> JobView:
    """Stream the job's log until it ends; its final view."""
    job_info(cluster, job_id)

    async def tail() -> None:
        async for chunk in cluster.client.tail_job_logs(job_id):
            write(chunk)

    with jobs_api(cluster):
        asyncio.run(tail())
    return wait(cluster, job_id, timeout=30)


def stop(cluster: Cluster, job_id: str, timeout: float) -> tuple[bool, JobView]:
    """Ask the job to stop and wait (bounded) until it has: (whether it was running, view)."""
    job_info(cluster, job_id)
    with jobs_api(cluster):
        asked = cluster.client.stop_job(job_id)
    return asked, wait(cluster, job_id, timeout=timeout)


def study_job_list(cluster: Cluster, everything: bool = False) -> list[JobView]:
    """Submitted jobs of initsearch studies (every submitted job with ``everything``)."""
    with jobs_api(cluster):
        jobs = cluster.client.list_jobs()
    views = [
        JobView.of(job)
        for job in jobs
        if job.submission_id and (everything or job.submission_id.startswith(JOB_PREFIX))
    ]
    return sorted(views, key=lambda v: v.started)
