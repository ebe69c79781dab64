"""End to end: ``initsearch study start`` against a plain Optuna script, in one run.

Both run the same study (by default ``studies/quickstart.yaml``, its confirmation left out)
as a user runs them: a fresh process and a fresh folder each time, timed from outside (the
wall clock a researcher waits, imports and start-up included). Rows, interleaved per repeat:

- ``initsearch``: ``python -m initsearch study start STUDY --no-confirm --workers W
  --workdir FRESH``: Ray workers, journal storage, MLflow logging to SQLite, the progress bar.
- ``optuna``: this file run with ``--plain``: ``optuna.create_study()`` in memory, the same
  sampler, pruner, search space and baselines (enqueued), ``study.optimize(n_jobs=W)``
  threads, each trial training its seeds with ``initsearch.train.run_members`` (the trainer
  our workers call; results equal ``run_trial``'s) and reporting the seeds' mean each epoch
  for pruning. No Ray, no MLflow, no files. Torch gets one thread per trial, as a Ray worker
  with ``cpus_per_trial: 1`` does.

The table gives each row's median and range of wall seconds and the ratio of the medians
(machines are noisy: compare the ratio of one run, not figures across runs). The
``initsearch`` row also splits its time from the timestamps it prints with
``INITSEARCH_TIMING=1`` (ready: Ray and the stores up; first trial submitted; search done).

    .venv/bin/python benchmarks/quickstart_vs_optuna.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = ("initsearch", "optuna")
OTHER_TREE = "initsearch (other tree)"


# ---- the plain Optuna script (run in a child process with --plain) --------------------------


def plain_optuna(study_file: str, trials: int | None, workers: int) -> dict:
    """The study as a plain Optuna script would run it; returns its trial counts."""
    import optuna
    import torch

    from initsearch.api import study_config
    from initsearch.run.objective import intermediate_key, metric_value
    from initsearch.run.timing import mark
    from initsearch.search.baselines import study_baselines
    from initsearch.search.pruners import build_pruner
    from initsearch.search.samplers import build_sampler
    from initsearch.search.space import distributions, layer_info, suggest
    from initsearch.train import run_members

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = study_config(study_file, trials=trials)
    info = layer_info(cfg)
    seeds = list(cfg.budget.seeds)
    metric = cfg.objective.metric
    key = intermediate_key(metric)
    probe = cfg.trial_spec(_base_init(cfg), seed=seeds[0])
    dataset = probe.data.load()
    baselines = {b.name: b for b in study_baselines(cfg, info)}
    study = optuna.create_study(
        sampler=build_sampler(cfg.sampler, distributions(cfg, info)),
        pruner=build_pruner(cfg.pruner, cfg.train.epochs),
        direction=cfg.objective.directions[0],
    )
    for name, baseline in baselines.items():
        study.enqueue_trial(baseline.params or {}, user_attrs={"baseline": name})

    def objective(trial: optuna.Trial) -> float:
        baseline = baselines.get(trial.user_attrs.get("baseline", ""))
        init = suggest(trial, cfg, info) if baseline is None else baseline.init
        if baseline is not None and baseline.params:
            suggest(trial, cfg, info)
        specs = [cfg.trial_spec(init, seed=s) for s in seeds]

        def on_epoch(epoch: int, curves: dict) -> list[int]:
            if len(curves) < len(specs):  # a seed diverged: the trial ends, as in a worker
                return list(curves)
            if baseline is not None:
                return []
            trial.report(statistics.fmean(getattr(c, key)[-1] for c in curves.values()), epoch)
            return list(curves) if trial.should_prune() else []

        results = run_members(specs, dataset, on_epoch=on_epoch)
        if any(r.status in ("stopped", "diverged") for r in results):
            raise optuna.TrialPruned()
        return metric_value(metric, results)

    mark("driver-ready")
    study.optimize(objective, n_trials=cfg.budget.trials, n_jobs=workers, catch=(Exception,))
    mark("search-done")
    states: dict[str, int] = {}
    for t in study.trials:
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    return states


def _base_init(cfg):
    from initsearch.inits import InitSpec

    return InitSpec(cfg.search.base_init)


# ---- the timed rows ------------------------------------------------------------------------


def run_row(row: str, args: argparse.Namespace, workdir: Path) -> dict:
    """One timed run of ``row`` in a fresh process and folder."""
    env = dict(os.environ, INITSEARCH_TIMING="1", PYTHONUNBUFFERED="1")
    if row == OTHER_TREE:  # another copy of the package first on the path (and the workers')
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (args.other_tree, env.get("PYTHONPATH")) if p
        )
    if row != "optuna":
        cmd = [sys.executable, "-m", "initsearch", "study", "start", args.study, "--no-confirm"]
        cmd += ["--workers", str(args.workers), "--workdir", str(workdir)]
        if args.trials:
            cmd += ["--trials", str(args.trials)]
    else:
        cmd = [sys.executable, __file__, "--plain", "--study", args.study]
        cmd += ["--workers", str(args.workers)] + (
            ["--trials", str(args.trials)] * bool(args.trials)
        )
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.time()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.time() - start
    if proc.returncode != 0:
        raise SystemExit(f"{row} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    out = {"row": row, "wall_s": wall, "command": cmd}
    marks = {}
    for line in proc.stderr.splitlines():
        if line.startswith("initsearch-timing "):
            _, name, stamp = line.split()
            marks.setdefault(name, float(stamp) - start)
    out["marks"] = marks
    if row == "optuna":
        out["states"] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def median_range(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def table(runs: list[dict], rows: tuple[str, ...]) -> tuple[str, dict]:
    """The markdown table of medians and the ratio, and the figures as a dict."""
    walls = {row: [r["wall_s"] for r in runs if r["row"] == row] for row in rows}
    med = {row: statistics.median(v) for row, v in walls.items()}
    ratio = med["initsearch"] / med["optuna"]
    lines = ["| row | wall s, median (range) | ratio to optuna |", "|---|---:|---:|"]
    for row in rows:
        lines.append(f"| {row} | {median_range(walls[row])} | {med[row] / med['optuna']:.2f} |")
    lines.append("")
    lines.append("Seconds from the process start (median), as each run printed them:")
    for row in rows:
        marks = [r["marks"] for r in runs if r["row"] == row]
        names = sorted(
            {n for m in marks for n in m}, key=lambda n: min(m.get(n, 1e9) for m in marks)
        )
        cells = [f"{n} {statistics.median(m[n] for m in marks if n in m):.2f}" for n in names]
        lines.append(f"- {row}: {', '.join(cells) or '(none)'}")
    return "\n".join(lines), {"median_s": med, "ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default=str(ROOT / "studies" / "quickstart.yaml"))
    parser.add_argument("--trials", type=int, default=None, help="override budget.trials")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default=None, help="where the fresh folders go")
    parser.add_argument("--out", default=None, help="write the figures as JSON")
    parser.add_argument(
        "--other-tree",
        default=None,
        help="also run `study start` with the initsearch package of this folder (before/after)",
    )
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.study = str(Path(args.study).resolve())
    if args.plain:
        print(json.dumps(plain_optuna(args.study, args.trials, args.workers)))
        return
    rows = ROWS + ((OTHER_TREE,) if args.other_tree else ())
    base = Path(args.workdir or tempfile.mkdtemp(prefix="qs-vs-optuna-")).resolve()
    load = os.getloadavg()
    runs = []
    for rep in range(args.repeats):
        order = rows if rep % 2 == 0 else rows[::-1]
        for row in order:
            slug = "initsearch-other" if row == OTHER_TREE else row
            run = run_row(row, args, base / f"{slug}-{rep}")
            runs.append(run)
            print(f"repeat {rep + 1}/{args.repeats} {row}: {run['wall_s']:.2f} s", flush=True)
    text, figures = table(runs, rows)
    print(
        f"\nQuickstart end to end vs plain Optuna ({args.workers} workers, "
        f"load {load[0]:.2f} -> {os.getloadavg()[0]:.2f})\n"
    )
    print(text)
    print(f"\nratio {figures['ratio']:.2f}")
    if args.out:
        report = {**figures, "runs": runs, "loadavg": [load, os.getloadavg()], "argv": sys.argv}
        Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
