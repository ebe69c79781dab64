"""Open a study's stores and assemble its driver: the Optuna study with its sampler and
pruner, the MLflow experiment, the ledger, and the search as the trial source.

Study creation, the MLflow experiment and parent run are get-or-create steps that several
drivers may take at once, so they run under the study lock. Comparisons open their own
Optuna study the same way (:func:`open_tracked`) with another source.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import optuna

from initsearch import stores
from initsearch.config import StudyConfig
from initsearch.contract import (
    STUDY_CONFIG,
    STUDY_LAYER_DEPTHS,
    STUDY_LAYER_NAMES,
    STUDY_MLFLOW_PARENT,
    STUDY_TRACKING_URI,
)
from initsearch.inits import InitSpec
from initsearch.run.driver import DriveLimits, Driver, StudyProgress
from initsearch.run.ledger import Ledger
from initsearch.run.pool import TrialPool
from initsearch.run.record import Recorder
from initsearch.run.source import TrialSource
from initsearch.search.pruners import build_pruner
from initsearch.search.samplers import build_sampler
from initsearch.search.source import SearchSource
from initsearch.search.space import LayerInfo, distributions, layer_info, with_stored_names
from initsearch.store_locks import check_workers, study_lock
from initsearch.tracking import StudyTracker
from initsearch.tracking.seed import build_template, seed_tracking_db


@dataclass
class TrackedStudy:
    """A study opened with both of its stores."""

    cfg: StudyConfig
    storage_url: str
    study: optuna.Study
    info: LayerInfo
    tracker: StudyTracker


def create_study(cfg: StudyConfig, storage_url: str, info: LayerInfo) -> optuna.Study:
    """Create (or load) the Optuna study with its sampler, pruner, objectives and the study
    attributes the reports read."""
    study = optuna.create_study(
        study_name=cfg.name,
        storage=stores.open_storage(storage_url),
        sampler=build_sampler(cfg.sampler, distributions(cfg, info)),
        pruner=build_pruner(cfg.pruner, cfg.train.epochs),
        directions=cfg.objective.directions,
        load_if_exists=True,
    )
    with warnings.catch_warnings():  # experimental in Optuna, stable in use since 3.2
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(cfg.objective.metrics)
    study.set_user_attr(STUDY_CONFIG, cfg.model_dump(mode="json"))
    study.set_user_attr(STUDY_LAYER_NAMES, list(info.names))
    study.set_user_attr(STUDY_LAYER_DEPTHS, list(info.depths))
    return study


def open_tracked(
    cfg: StudyConfig, workers: int, experiment: str | None = None, stage: str = "search"
) -> TrackedStudy:
    """The study and its MLflow experiment, created if missing, linked both ways.
    ``experiment``/``stage``: see :class:`~initsearch.tracking.StudyTracker`."""
    url = stores.storage_url(cfg.storage, cfg.workdir, cfg.name)
    check_workers(url, workers)
    info = with_stored_names(layer_info(cfg), url, cfg.name)  # an older study keeps its names
    stores.open_storage(url)  # before the lock: on PostgreSQL the lock needs the storage's engine
    with study_lock(url, cfg.name):
        study = create_study(cfg, url, info)
        uri = stores.tracking_uri(cfg.tracking_uri, cfg.workdir, cfg.name)
        seed_tracking_db(uri)  # a new SQLite database: a copy, not MLflow's migrations
        tracker = StudyTracker(uri, cfg.name, url, experiment=experiment, stage=stage)
        study.set_user_attr(STUDY_MLFLOW_PARENT, tracker.parent_run_id)
        folder = stores.study_dir(cfg.workdir, cfg.name)
        study.set_user_attr(STUDY_TRACKING_URI, stores.recorded_uri(uri, folder))
    return TrackedStudy(cfg, url, study, info, tracker)


def assemble_driver(
    opened: TrackedStudy,
    source: Callable[[Ledger], TrialSource],
    pool: TrialPool,
    total: int | None,
    on_progress: Callable[[StudyProgress], None] | None = None,
) -> Driver:
    """A driver over an opened study; ``source`` builds the trial source for its ledger."""
    cfg = opened.cfg
    recorder = Recorder(opened.study, opened.tracker, cfg.objective.metric)
    ledger = Ledger(opened.study, opened.storage_url, recorder)  # failed trials get runs too
    limits = DriveLimits(
        probe=cfg.trial_spec(InitSpec(cfg.search.base_init), cfg.budget.seeds[0]),
        timeout_minutes=cfg.budget.timeout_minutes,
        pack=cfg.ray.pack,
    )
    return Driver(opened.study, source(ledger), pool, ledger, recorder, limits, total, on_progress)


def warm_up_study(cfg: StudyConfig) -> None:
    """Pay ahead what opening the study will cost, writing nothing in the study's folder (a
    start that fails later, Ray refusing, leaves it as it was): the migrated MLflow template
    (:mod:`initsearch.tracking.seed`; built once per MLflow version), MLflow's client and
    SQL store imported. Best effort: what fails here fails again, reported, where the driver
    needs it. The data set is not read here: the driver reads it after, so a large one would be
    read twice (and compete with Ray's start for the cores)."""
    with contextlib.suppress(Exception):
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
        from mlflow import MlflowClient  # noqa: F401

        if stores.tracking_uri(cfg.tracking_uri, cfg.workdir, cfg.name).startswith("sqlite:"):
            build_template()


@contextlib.contextmanager
def study_warming(cfg: StudyConfig) -> Iterator[None]:
    """Run :func:`warm_up_study` in a thread while the body runs (Ray starting: mostly
    waiting on its processes) and wait for it after; a body that raises (Ctrl-C) does not
    wait: the thread is a daemon and leaves nothing half-written (the template appears whole
    or not at all)."""
    thread = threading.Thread(target=warm_up_study, args=(cfg,), name="warm-stores", daemon=True)
    thread.start()
    yield
    thread.join()


def study_driver(
    cfg: StudyConfig,
    pool: TrialPool,
    on_progress: Callable[[StudyProgress], None] | None = None,
) -> Driver:
    """The driver of a study: baselines, then the search, until the budget is spent."""
    opened = open_tracked(cfg, pool.workers)
    return assemble_driver(
        opened,
        lambda ledger: SearchSource(cfg, opened.study, ledger, opened.info),
        pool,
        cfg.budget.trials,
        on_progress,
    )
