"""Submit a study as a Ray job: its code and study file travel with it, its id names it.

The job runs ``python -m initsearch study start <study>.yaml --ray-address auto`` on the head
node. ``runtime_env`` carries what the cluster lacks: this ``initsearch`` package
(``py_modules``, put first on the job's and every trial worker's path, so the cluster runs the
code you submitted) and a folder holding the study file as validated here, with the resolved
storage and tracking URIs written in (``working_dir``, the job's current folder). The study's
own code (the modules of ``model.factory``, ``data.factory``, ``train.function``) travels too:
a single-file module is copied into that folder, a package goes in ``py_modules``; code
installed in site-packages is expected on the cluster. The cluster needs the dependencies
(torch, optuna, ray, mlflow...) in the Python that runs ``python``.

Job ids are ``initsearch-<study>-<n>``: Ray never reuses a job id, so each submission of a
study takes the next ``n``. A study is one Optuna study in its storage, so a new submission
resumes it (baselines are not repeated, the budget counts what is done). A submission while an
earlier job of the study still runs is refused: two drivers could share the study, but that is
rarely meant.

``cluster stop`` should leave a study that resumes cleanly: the job is stopped with SIGINT (Ray
sends SIGTERM unless ``RAY_JOB_STOP_SIGNAL`` says otherwise), which the driver handles like
Ctrl-C (running trials are failed and enqueued again), and it gets ``STOP_GRACE_S`` before
Ray kills it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

import initsearch
from initsearch.cluster.client import Cluster, jobs_api
from initsearch.cluster.jobs import job_id, study_jobs
from initsearch.cluster.stores import (
    alive_node_ips,
    check_one_machine,
    check_reachable,
    embedded_stores,
)
from initsearch.errors import ConfigError
from initsearch.factories import module_file
from initsearch.stores import absolute, redact, storage_url, tracking_uri

if TYPE_CHECKING:
    from initsearch.config import StudyConfig

STOP_GRACE_S = 30
ACTIVE = ("PENDING", "RUNNING")
QUIET_LOGGERS = ("ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging")
EXCLUDES = ["__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache"]


def parse_env(items: list[str] | None) -> dict[str, str]:
    """['KEY=VALUE', ...] -> dict; the job's (and its trials') extra environment."""
    env: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ConfigError(
                f"--env must look like NAME=VALUE (e.g. INITSEARCH_DATA=/data); got {item!r}"
            )
        env[key] = value
    return env


@contextlib.contextmanager
def quiet_upload() -> Iterator[None]:
    """Without Ray's INFO lines about packing and uploading (our own line says what went)."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@dataclass
class Submission:
    """What is sent: the job id, the command on the head node and its runtime_env."""

    job_id: str
    study: str
    entrypoint: str
    runtime_env: dict[str, Any]
    metadata: dict[str, str] = field(default_factory=dict)
    attempt: int = 1


def staged_config(cfg: StudyConfig, local: bool) -> dict[str, Any]:
    """The study file the job runs: this config with its stores resolved (absolute paths
    when the cluster is this machine, so the job writes the files that are read here)."""
    url, tracking = study_stores(cfg)
    raw = cfg.model_dump(mode="json")
    raw["ray"] = {**raw["ray"], "address": None}  # the job connects to its own cluster
    if local:  # the job's current folder is another one: no relative path may stay
        url, tracking = absolute(url), absolute(tracking)
        raw["workdir"] = str(Path(cfg.workdir).resolve())
        root = cfg.data.root
        if root and not root.startswith("~") and not Path(root).is_absolute():
            raw["data"] = {**raw["data"], "root": str(Path(root).resolve())}
    raw.update(storage=url, tracking_uri=tracking)
    return raw


def user_code(cfg: StudyConfig) -> list[Path]:
    """The files and package folders of the study's own code that must travel with the job."""
    refs = (cfg.model.factory, cfg.data.factory, cfg.train.function)
    found = []
    for ref in refs:
        if ref is None:
            continue
        if not isinstance(ref, str):
            raise ConfigError(
                "a study submitted to a cluster names its code as 'package.module:function' in "
                "the study file; a callable given to run_study cannot travel with a job"
            )
        path = module_file(ref)
        if path is not None and path not in found:
            found.append(path)
    return found


def stage(cfg: StudyConfig, local: bool) -> tuple[Path, list[str]]:
    """A fresh folder holding ``<study>.yaml`` and the study's single-file modules, to be the
    job's working_dir; and the study's packages, for ``py_modules``."""
    folder = Path(tempfile.mkdtemp(prefix="initsearch-job-"))
    text = yaml.safe_dump(staged_config(cfg, local), sort_keys=False)
    (folder / f"{cfg.name}.yaml").write_text(text)
    packages = []
    for path in user_code(cfg):
        if path.is_dir():
            packages.append(str(path))
        else:
            shutil.copy2(path, folder / path.name)
    return folder, packages


def entrypoint(study: str, python: str, trials: int | None, workers: int | None) -> str:
    args = [python, "-m", "initsearch", "study", "start", f"{study}.yaml", "--ray-address", "auto"]
    if trials is not None:
        args += ["--trials", str(trials)]
    if workers is not None:
        args += ["--workers", str(workers)]
    return shlex.join(args)


def study_stores(cfg: StudyConfig) -> tuple[str, str]:
    """(Optuna storage URL, MLflow tracking URI) the study's driver will use."""
    return (
        storage_url(cfg.storage, cfg.workdir, cfg.name),
        tracking_uri(cfg.tracking_uri, cfg.workdir, cfg.name),
    )


def submit_study(
    cluster: Cluster,
    cfg: StudyConfig,
    study_file: str,
    python: str = "python",
    trials: int | None = None,
    workers: int | None = None,
    env: dict[str, str] | None = None,
) -> Submission:
    """Check the stores, pick the job id, upload code and study file, submit."""
    url, tracking = study_stores(cfg)
    embedded = embedded_stores(url, tracking)
    check_reachable(cluster.address, study_file, embedded)
    if embedded:
        check_one_machine(cluster.address, study_file, embedded, alive_node_ips(cluster))
    local = bool(embedded)  # only reached on a cluster of this machine
    if "tracking_uri" in embedded:
        Path(cfg.workdir, cfg.name).mkdir(parents=True, exist_ok=True)  # the SQLite file's

    with jobs_api(cluster):
        earlier = study_jobs(cluster.client.list_jobs(), cfg.name)
    running = [job for _, job in earlier if str(job.status.value) in ACTIVE]
    if running:
        other = running[-1].submission_id
        raise ConfigError(
            f"job {other} of study {cfg.name} is still {running[-1].status.value}; follow it "
            f"(`initsearch cluster logs {other} --follow`) or stop it "
            f"(`initsearch cluster stop {other}`) before submitting the study again"
        )
    attempt = earlier[-1][0] + 1 if earlier else 1
    folder, packages = stage(cfg, local)
    try:
        submission = Submission(
            job_id=job_id(cfg.name, attempt),
            study=cfg.name,
            entrypoint=entrypoint(cfg.name, python, trials, workers),
            runtime_env={
                "working_dir": str(folder),
                "py_modules": [str(Path(initsearch.__file__).parent), *packages],
                "excludes": EXCLUDES,
                "env_vars": {
                    "RAY_JOB_STOP_SIGNAL": "SIGINT",
                    "RAY_JOB_STOP_WAIT_TIME_S": str(STOP_GRACE_S),
                    "PYTHONUNBUFFERED": "1",
                    **(env or {}),
                },
            },
            metadata={"initsearch_study": cfg.name, "initsearch_storage": redact(url)},
            attempt=attempt,
        )
        with jobs_api(cluster), quiet_upload():
            try:
                cluster.client.submit_job(
                    entrypoint=submission.entrypoint,
                    submission_id=submission.job_id,
                    runtime_env=submission.runtime_env,
                    metadata=submission.metadata,
                )
            except RuntimeError as err:
                if "already exists" in str(err):
                    raise ConfigError(
                        f"job {submission.job_id} was just submitted by someone else; "
                        "`initsearch cluster list` shows it"
                    ) from None
                raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return submission
