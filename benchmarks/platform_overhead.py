"""Platform overhead per trial: our study driver against Ray Tune + OptunaSearch, in one run.

Every row runs the same trivial trials (by default digits, MLP depth 1 width 8, one epoch) on
the same local Ray runtime with the same number of workers, so what differs is the platform:

- ``ours``: ``study_driver(cfg, RayPool(workers=W)).run()`` with the default journal storage,
  the default pruner (each epoch reported to the storage) and MLflow logging to the default
  SQLite tracking store, i.e. what ships.
- ``ours-no-mlflow``: the same with the driver's MLflow tracker replaced by a no-op (done here,
  the product code is unchanged), to show what MLflow logging costs.
- ``ours-mlflow-bg`` (not run by default): a prototype of a proposed fix, defined here: the
  tracker's per-trial ``log_batch``/``set_terminated`` in a background thread.
- ``tune``: ``ray.tune.Tuner`` with ``TuneConfig(search_alg=OptunaSearch(...), num_samples=N,
  max_concurrent_trials=W)`` (Ray's defaults otherwise: in-memory Optuna storage, no actor
  reuse, Tune's own result files) running a trainable that calls ``run_trial``.
- ``tune-reuse-actors`` (not run by default): the same with ``reuse_actors=True``, to show
  how much of Tune's cost is a fresh actor process per trial.
- ``optuna-sqlite``: plain Optuna ask/tell on SQLite in this process, trials as Ray tasks,
  no tracking (the "64 ms" anchor of shared/notes/platform-anchors.md).

Overhead per trial = (wall - sum(train)) / trials, where ``train`` is each trial's own
training time from its result (``summary.train_seconds``: the epoch loops). Wall time covers
the whole study: set-up (for ours: opening the storage, creating the MLflow experiment and
parent run, which on a new SQLite tracking database runs MLflow's schema migrations) and
every trial; "excl. setup" subtracts the set-up, i.e. the steady per-trial cost. ``Σ
run_trial s`` is the wall time of the trials' ``run_trial`` calls measured where they run
(model build, init, training, evaluation): it shows where a platform makes the trial itself
slower (Tune's fresh actor per trial runs every trial cold). The JSON also holds
``overhead_ms_vs_work`` = (wall - sum(run_trial) / W) / trials for W workers.

Ray start-up, imports and one warm-up trial per worker slot happen before any row and are
reported apart; the task workers are warmed again (untimed) before each non-Tune row, since
Ray reaps idle workers while Tune's actors run. With ``--repeats R`` every row runs R times
(interleaved) and the table shows the median and range.

For the driver rows, per-phase timers (ask, suggest, submit, wait, MLflow log, tell, ...) are
kept by wrapping the driver's methods on the instance (the product code is unchanged; the
``ours`` rows' Ray task is the product's ``execute`` with its ``run_trial`` call timed);
``--profile FILE`` also writes a cProfile of the ``ours`` row's driver process.

    .venv/bin/python benchmarks/platform_overhead.py --trials 40 --out overhead.json
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import platform
import pstats
import shlex
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

OURS = {"ours": "mlflow", "ours-no-mlflow": "none", "ours-mlflow-bg": "background"}
ROWS = (*OURS, "tune", "tune-reuse-actors", "optuna-sqlite")
DEFAULT_ROWS = ("ours", "ours-no-mlflow", "tune", "optuna-sqlite")
TARGET_MS = 30.0


# ---- the trials ------------------------------------------------------------------------
def study_config(args: argparse.Namespace, name: str, workdir: Path):
    """The trivial study every row runs: no baselines, so every trial is sampled by TPE; one
    trial per task (packs are measured by benchmarks/pack_throughput.py), so every row pays
    the per-trial costs this benchmark is about."""
    from initsearch.config import parse_study

    raw = {
        "name": name,
        "data": {"name": args.data},
        "model": {"name": "mlp", "depth": args.depth, "width": args.width},
        "train": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": 0.05},
        "baselines": {"schemes": []},
        "budget": {"trials": args.trials},
        "sampler": {"name": "tpe", "seed": 0},
        "ray": {"pack": 1},
        "workdir": str(workdir),
    }
    return parse_study(raw, "(benchmark)")


def timed_run_trial(spec, dataset) -> dict[str, Any]:
    """Run one trial; its result with ``work_seconds`` (wall time of run_trial) added."""
    from initsearch.train import run_trial

    started = time.perf_counter()
    result = run_trial(spec, dataset=dataset).to_dict()
    result["work_seconds"] = time.perf_counter() - started
    return result


def timed_execute(job, dataset):
    """The product's worker ``execute`` with each ``run_members`` call (the engine's training
    of a trial's seeds) timed: the benchmark's only change to the ``ours`` path, a few
    microseconds per trial."""
    import initsearch.run.worker as worker

    original, spent = worker.run_members, []

    def run_members(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    worker.run_members = run_members
    try:
        outcome = worker.execute(job, dataset)
    finally:
        worker.run_members = original
    outcome.work_seconds = spent[: len(outcome.results)]  # read back by run_ours
    return outcome


# ---- timing helpers --------------------------------------------------------------------
class Phases:
    """Accumulated seconds and call counts per named phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
                self.calls[name] += 1

        return timed

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] += seconds
        self.calls[name] += 1


class NullTracker:
    """Stands in for ``StudyTracker`` when a row runs without MLflow."""

    def __init__(self, tracking_uri: str, study_name: str, storage_url: str = "", **_: Any) -> None:
        self.parent_run_id = ""

    def log_trial(self, *args: Any, **kwargs: Any) -> str:
        return ""

    def finish(self, status: str = "FINISHED") -> None:
        pass


def background_tracker_class() -> type:
    """A prototype of a proposed fix, not in the product: ``StudyTracker`` whose per-trial
    ``log_batch`` and ``set_terminated`` run in one background thread (in order), so the
    driver waits only for ``create_run`` (it needs the run id before telling Optuna).
    ``finish`` drains the queue and re-raises the first logging error."""
    from concurrent.futures import Future, ThreadPoolExecutor

    from initsearch.tracking.mlflow_runs import StudyTracker

    class DeferredClient:
        def __init__(self, client: Any) -> None:
            self.client = client
            self.writer = ThreadPoolExecutor(1, thread_name_prefix="mlflow-log")
            self.pending: list[Future] = []

        def log_batch(self, *args: Any, **kwargs: Any) -> None:
            self.pending.append(self.writer.submit(self.client.log_batch, *args, **kwargs))

        def set_terminated(self, *args: Any, **kwargs: Any) -> None:
            self.pending.append(self.writer.submit(self.client.set_terminated, *args, **kwargs))

        def __getattr__(self, name: str) -> Any:  # create_run, searches: synchronous
            return getattr(self.client, name)

    class BackgroundTracker(StudyTracker):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.deferred = DeferredClient(self.client)
            self.client = self.deferred

        def finish(self, status: str = "FINISHED") -> None:
            self.deferred.writer.shutdown(wait=True)
            self.client = self.deferred.client
            for future in self.deferred.pending:
                future.result()
            super().finish(status)

    return BackgroundTracker


@contextmanager
def tracker_replaced(kind: str) -> Iterator[None]:
    """Swap the driver's tracker class: "mlflow" (as shipped), "none" or "background"."""
    import initsearch.search.study as driver_mod

    original = driver_mod.StudyTracker
    if kind == "none":
        driver_mod.StudyTracker = NullTracker
    elif kind == "background":
        driver_mod.StudyTracker = background_tracker_class()
    try:
        yield
    finally:
        driver_mod.StudyTracker = original


def row_figures(
    name: str,
    trials: int,
    wall: float,
    setup: float,
    results: list[dict[str, Any]],
    workers: int,
) -> dict[str, Any]:
    work = sum(r["work_seconds"] for r in results)
    train = sum(r["summary"]["train_seconds"] for r in results)
    return {
        "row": name,
        "trials": trials,
        "finished_trials": len(results),
        "wall_s": wall,
        "setup_s": setup,
        "work_s": work,
        "train_s": train,
        "overhead_ms": 1000 * (wall - train) / trials,
        "steady_ms": 1000 * (wall - setup - train) / trials,
        "overhead_ms_vs_work": 1000 * (wall - work / workers) / trials,
    }


# ---- the rows --------------------------------------------------------------------------
def run_ours(
    args: argparse.Namespace, workdir: Path, name: str, profile: Path | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    from initsearch.run.pool import RayPool
    from initsearch.search.study import study_driver

    class TimedRayPool(RayPool):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.remote = self.ray.remote(num_cpus=1, num_gpus=0, max_retries=0)(timed_execute)

    cfg = study_config(args, name.replace("-", "_"), workdir)
    phases = Phases()
    outcomes: list = []
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    started = time.perf_counter()
    with tracker_replaced(OURS[name]):
        driver = study_driver(cfg, TimedRayPool(workers=args.workers))
    setup = time.perf_counter() - started
    study = driver.study
    study.ask = phases.wrap("ask", study.ask)
    study.tell = phases.wrap("tell", study.tell)
    tracker = driver.recorder.tracker
    tracker.log_trial = phases.wrap("mlflow_log", tracker.log_trial)
    for obj, names in (
        (driver.source, ("next",)),
        (driver.ledger, ("heartbeat", "taken", "used")),
        (driver.pool, ("submit", "wait", "start")),
    ):
        for attr in names:
            if hasattr(obj, attr):  # the driver's helpers differ between versions
                setattr(obj, attr, phases.wrap(attr, getattr(obj, attr)))
    record = phases.wrap("record", driver.record)

    def capture(asked, outcome):
        outcomes.append(outcome)
        return record(asked, outcome)

    driver.record = capture
    run_started = time.perf_counter()
    driver.run()
    finished = time.perf_counter()
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(profile))
    phases.add("run_total", finished - run_started)
    for outcome in outcomes:
        phases.add("worker_extra", outcome.finished - outcome.started - sum(outcome.work_seconds))
    results = [
        {"work_seconds": o.work_seconds[0], "summary": o.results[0].summary.to_dict()}
        for o in outcomes
        if o.results
    ]
    states = [o.state for o in outcomes]
    row = row_figures(name, args.trials, finished - started, setup, results, args.workers)
    row["states"] = {s: states.count(s) for s in set(states)}
    if OURS[name] != "none":
        row["mlflow_trial_runs"] = logged_trial_runs(tracker.tracking_uri, cfg.name)
    return row, phase_breakdown(phases, args.trials, setup)


def logged_trial_runs(tracking_uri: str, study_name: str) -> int:
    """Child runs that MLflow holds as finished with their curve (checks the row really
    logged what it timed)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(f"initsearch/{study_name}")
    runs = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`initsearch.kind` = 'trial'"
    )
    return sum(r.info.status == "FINISHED" and "val_accuracy" in r.data.metrics for r in runs)


def phase_breakdown(phases: Phases, trials: int, setup: float) -> dict[str, Any]:
    """Per-trial milliseconds of each driver phase; nested phases are split out."""
    s = phases.seconds
    split = {
        "setup (study_driver(...): storage, MLflow experiment)": setup,
        "ask (study.ask)": s["ask"],
        "suggest + trial attrs (source.next - ask)": s["next"] - s["ask"],
        "submit (Ray task)": s["submit"],
        "wait (driver blocked in ray.wait/get)": s["wait"],
        "MLflow log_trial": s["mlflow_log"],
        "tell (study.tell)": s["tell"],
        "record other (trial user attrs)": s["record"] - s["mlflow_log"] - s["tell"],
        "budget checks (ledger.taken/used)": s["taken"] + s["used"],
        "heartbeat": s["heartbeat"],
        "pool start (ray.put data)": s["start"],
    }
    accounted = sum(v for k, v in split.items() if not k.startswith("setup"))
    split["run() rest (data load, baselines, budget, finish)"] = s["run_total"] - accounted
    split["worker side: execute - run_trial (load_study, attrs, report)"] = s["worker_extra"]
    return {k: {"seconds": v, "ms_per_trial": 1000 * v / trials} for k, v in split.items()}


def run_tune(
    args: argparse.Namespace, workdir: Path, dataset, reuse_actors: bool = False
) -> dict[str, Any]:
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from initsearch.search.samplers import build_sampler
    from initsearch.search.space import distributions, init_from_params, layer_info

    cfg = study_config(args, "tune", workdir)
    started = time.perf_counter()
    info = layer_info(cfg)
    dists = distributions(cfg, info)

    def trainable(config: dict[str, Any], data=None) -> None:
        init = init_from_params(config, cfg, info)
        result = timed_run_trial(cfg.trial_spec(init, seed=cfg.budget.seeds[0]), data)
        tune.report(
            {
                "val_accuracy": result["summary"]["final_accuracy"],
                "train_seconds": result["summary"]["train_seconds"],
                "work_seconds": result["work_seconds"],
            }
        )

    search = OptunaSearch(
        space=dists,
        metric="val_accuracy",
        mode="max",
        sampler=build_sampler(cfg.sampler, dists),
    )
    tuner = tune.Tuner(
        tune.with_parameters(trainable, data=dataset),
        tune_config=tune.TuneConfig(
            search_alg=search,
            num_samples=args.trials,
            max_concurrent_trials=args.workers,
            reuse_actors=reuse_actors,
        ),
        run_config=tune.RunConfig(name="tune", storage_path=str(workdir / "tune"), verbose=0),
    )
    setup = time.perf_counter() - started
    grid = tuner.fit()
    wall = time.perf_counter() - started
    results = [
        {"work_seconds": r.metrics["work_seconds"], "summary": {"train_seconds": r.metrics[k]}}
        for r in grid
        if r.metrics and (k := "train_seconds") in r.metrics
    ]
    name = "tune-reuse-actors" if reuse_actors else "tune"
    return row_figures(name, args.trials, wall, setup, results, args.workers)


def run_optuna_sqlite(args: argparse.Namespace, workdir: Path, dataset) -> dict[str, Any]:
    import optuna
    import ray

    from initsearch.search.samplers import build_sampler
    from initsearch.search.space import distributions, layer_info, suggest

    cfg = study_config(args, "optuna_sqlite", workdir)
    remote = ray.remote(num_cpus=1, max_retries=0)(timed_run_trial)
    started = time.perf_counter()
    info = layer_info(cfg)
    study = optuna.create_study(
        study_name=cfg.name,
        storage=f"sqlite:///{workdir / 'optuna.db'}",
        sampler=build_sampler(cfg.sampler, distributions(cfg, info)),
        direction="maximize",
    )
    data_ref = ray.put(dataset)
    setup = time.perf_counter() - started
    inflight: dict[Any, optuna.Trial] = {}
    results: list[dict[str, Any]] = []
    asked = 0
    while asked < args.trials or inflight:
        while len(inflight) < args.workers and asked < args.trials:
            trial = study.ask()
            spec = cfg.trial_spec(suggest(trial, cfg, info), seed=cfg.budget.seeds[0])
            inflight[remote.remote(spec, data_ref)] = trial
            asked += 1
        ready, _ = ray.wait(list(inflight), num_returns=1)
        for ref in ready:
            result = ray.get(ref)
            study.tell(inflight.pop(ref), result["summary"]["final_accuracy"])
            results.append(result)
    wall = time.perf_counter() - started
    return row_figures("optuna-sqlite", args.trials, wall, setup, results, args.workers)


# ---- Ray start-up and warm-up ----------------------------------------------------------
def warm_worker(spec, dataset, seconds: float) -> int:
    """Run one trial, so the process has paid its one-time costs (imports, first backward)."""
    timed_run_trial(spec, dataset)
    time.sleep(seconds)
    return os.getpid()


def warm_workers(args: argparse.Namespace, data_ref) -> list[int]:
    """One trial on every worker slot at once, so the rows start on warm worker processes
    (Ray may reap idle task workers while another row runs, e.g. Tune's actors)."""
    import ray

    from initsearch.inits import InitSpec

    spec = study_config(args, "warmup", Path(".")).trial_spec(InitSpec("kaiming"), seed=0)
    warm = ray.remote(num_cpus=1)(warm_worker)
    return ray.get([warm.remote(spec, data_ref, 0.5) for _ in range(args.workers)])


def start_ray(args: argparse.Namespace, dataset) -> tuple[dict[str, float], Any]:
    """Start Ray, warm one worker process per slot, import what the rows need; none of it
    is timed in the rows. Returns the figures and the data set's object reference."""
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    up = time.perf_counter()
    data_ref = ray.put(dataset)
    pids = warm_workers(args, data_ref)
    warmed = time.perf_counter()
    import initsearch.run.driver  # noqa: F401 - imports are per process, not per trial

    mlflow_first = 0.0
    if any(r in OURS for r in args.row_list):
        # MLflow's first tracking database in a process also loads its migration scripts;
        # a real study pays this once in its set-up, here it is paid (and shown) apart so
        # that every ours row's set-up is alike.
        from initsearch.tracking.mlflow_runs import StudyTracker

        mlflow_started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="mlflow-warmup-") as tmp:
            StudyTracker(f"sqlite:///{tmp}/mlflow.db", "warmup").finish()
        mlflow_first = time.perf_counter() - mlflow_started
    if any(r.startswith("tune") for r in args.row_list):
        from ray import tune  # noqa: F401
        from ray.tune.search.optuna import OptunaSearch  # noqa: F401

    figures = {
        "ray_init_s": up - started,
        "worker_warmup_s": warmed - up,
        "warm_workers": len(set(pids)),
        "imports_s": time.perf_counter() - warmed - mlflow_first,
        "mlflow_first_database_s": mlflow_first,
    }
    return figures, data_ref


def median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from its repeats: the median of every figure, the spread of the overhead."""
    import statistics

    row = dict(runs[len(runs) // 2])
    for key, value in runs[0].items():
        if isinstance(value, float):
            row[key] = statistics.median(r[key] for r in runs)
    row["finished_trials"] = min(r["finished_trials"] for r in runs)
    row["repeats"] = len(runs)
    row["overhead_ms_runs"] = [r["overhead_ms"] for r in runs]
    row["steady_ms_runs"] = [r["steady_ms"] for r in runs]
    return row


def mean_phases(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        k: {f: sum(r[k][f] for r in runs) / len(runs) for f in ("seconds", "ms_per_trial")}
        for k in runs[0]
    }


# ---- output ----------------------------------------------------------------------------
def spread(row: dict[str, Any], key: str) -> str:
    """The median, and the range over repeats when there are several."""
    runs = row.get(f"{key}_runs", [])
    if len(runs) < 2:
        return f"{row[key]:.1f}"
    return f"{row[key]:.1f} ({min(runs):.0f}-{max(runs):.0f})"


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)
    s = report["settings"]
    table = Table(
        title=(
            f"Platform overhead per trial: {s['trials']} trials, {s['workers']} workers, "
            f"{s['data']} MLP {s['depth']}x{s['width']}, {s['epochs']} epoch(s)"
        )
    )
    for col in (
        "row",
        "trials",
        "wall s",
        "setup s",
        "Σ train s",
        "Σ run_trial s",
        "overhead ms/trial",
        "excl. setup ms/trial",
        "ratio to ours",
    ):
        table.add_column(col, justify="left" if col == "row" else "right")
    for r in report["rows"]:
        table.add_row(
            r["row"],
            str(r["finished_trials"]) + ("" if r["finished_trials"] == r["trials"] else "!"),
            f"{r['wall_s']:.2f}",
            f"{r['setup_s']:.2f}",
            f"{r['train_s']:.2f}",
            f"{r['work_s']:.2f}",
            spread(r, "overhead_ms"),
            spread(r, "steady_ms"),
            f"{r['ratio_to_ours']:.2f}" if r["ratio_to_ours"] is not None else "-",
        )
    console.print(table)
    st = report["startup"]
    console.print(
        f"Excluded: Ray init {st['ray_init_s']:.2f} s, {st['warm_workers']} warm "
        f"workers {st['worker_warmup_s']:.2f} s, imports {st['imports_s']:.2f} s, the "
        f"process's first MLflow database {st['mlflow_first_database_s']:.2f} s (a real "
        "study's set-up includes it). "
        f"Load average before/after: {report['host']['loadavg_before']} / "
        f"{report['host']['loadavg_after']} on {report['host']['cpus']} CPUs. "
        f"Target for ours: <= {TARGET_MS:g} ms/trial."
    )
    for name, phases in report["phases"].items():
        ptable = Table(title=f"Where the time goes: {name} (driver process, ms per trial)")
        ptable.add_column("phase")
        ptable.add_column("ms/trial", justify="right")
        ptable.add_column("s", justify="right")
        for phase, v in phases.items():
            ptable.add_row(phase, f"{v['ms_per_trial']:.1f}", f"{v['seconds']:.2f}")
        console.print(ptable)


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("ray", "optuna", "mlflow", "torch"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--rows", default=",".join(DEFAULT_ROWS), help=f"comma list of {', '.join(ROWS)}"
    )
    p.add_argument("--data", default="digits")
    p.add_argument("--depth", type=int, default=1)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=1, help="run every row this many times")
    p.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    p.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    p.add_argument("--profile", type=Path, default=None, help="cProfile of the ours row")
    args = p.parse_args(argv)
    args.row_list = list(dict.fromkeys(r.strip() for r in args.rows.split(",") if r.strip()))
    unknown = sorted(set(args.row_list) - set(ROWS))
    if unknown:
        p.error(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    if min(args.trials, args.workers, args.repeats) < 1:
        p.error("--trials, --workers and --repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    load_before = loadavg()
    started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="overhead-") as tmp:
        root = args.workdir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        from initsearch.data import load_dataset

        dataset = load_dataset(args.data)
        startup, data_ref = start_ray(args, dataset)
        runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        phase_runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        try:
            for repeat in range(args.repeats):
                for name in args.row_list:
                    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-{repeat}-", dir=root))
                    if not name.startswith("tune"):
                        warm_workers(args, data_ref)
                    if name in OURS:
                        profile = args.profile if name == "ours" and repeat == 0 else None
                        row, phase = run_ours(args, workdir, name, profile)
                        phase_runs[name].append(phase)
                    elif name.startswith("tune"):
                        row = run_tune(args, workdir, dataset, reuse_actors=name != "tune")
                    else:
                        row = run_optuna_sqlite(args, workdir, dataset)
                    runs[name].append(row)
        finally:
            import ray

            ray.shutdown()
    rows = [median_row(runs[name]) for name in args.row_list]
    phases = {name: mean_phases(p) for name, p in phase_runs.items()}
    ours = next((r for r in rows if r["row"] == "ours"), None)
    for r in rows:
        ok = ours is not None and ours["overhead_ms"] > 0
        r["ratio_to_ours"] = r["overhead_ms"] / ours["overhead_ms"] if ok else None
    report = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "date": started_at,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": {
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
            "platform": platform.platform(),
        },
        "versions": versions(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "workdir", "profile")},
        "startup": startup,
        "rows": rows,
        "phases": phases,
        "target_ms": TARGET_MS,
    }
    print_report(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=str))
    if args.profile:
        pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(25)
    return report


if __name__ == "__main__":
    main()
