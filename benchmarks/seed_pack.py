"""A trial's N seeds trained as one pack against N sequential solo runs, in one run.

The set-up is the quickstart's trial (MNIST-1D, ReLU MLP 4 x 128, SGD lr 0.05, batch 128,
8 epochs, Kaiming init). For each N (default 2, 4, 8) it trains seeds 0..N-1 three ways:

  sequential   N calls of ``initsearch.train.run_trial``, one after the other
  interleaved  ``run_members(specs, pack=False)``: the worker's CPU path (solo runs advanced an
               epoch each in turn); its curves must equal the sequential ones exactly
  pack         ``run_members(specs, pack=True)``: the N seeds as one vectorised model, each
               member with its own batch order (CUDA graphs on CUDA)

and prints the wall times (evaluation included: every path measures the validation split each
epoch) and the speed-up of the pack (sequential / pack). Agreement: MNIST-1D training
amplifies rounding (docs/packs.md), so the pack members' largest per-epoch gap to their solo
runs (training and validation loss, validation accuracy) is set beside the largest gap, over
every seed benchmarked, between a solo run and its "twin" from initial weights multiplied by
(1 + 3e-7) (trained untimed). The pack agrees up to rounding when statuses and step counts are
equal and its gaps are within twice the twins' (one twin per seed only samples the rounding
sensitivity), or within ``--loss-tol`` / ``--acc-samples`` validation samples. A warm-up
(one epoch of each path on 256 samples) runs first, so one-off costs are not timed.

Run:  python benchmarks/seed_pack.py [--device cuda] [--seeds 2,4,8] [--epochs 8] [--json out.json]
      python benchmarks/seed_pack.py --quick      # seconds: the smoke test's setting
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace

import numpy as np
import torch

from initsearch.data import Dataset
from initsearch.models import ModelSpec
from initsearch.train import (
    Budget,
    DataSpec,
    OptimizerSpec,
    TrialResult,
    TrialSpec,
    run_members,
    run_trial,
)


def base_spec(args: argparse.Namespace) -> TrialSpec:
    return TrialSpec(
        model=ModelSpec("mlp", depth=args.depth, width=args.width),
        data=DataSpec("mnist1d", limit=args.limit),
        optimizer=OptimizerSpec("sgd", lr=0.05),
        budget=Budget(epochs=args.epochs, batch_size=128),
        device=args.device,
    )


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str) -> tuple[float, list[TrialResult]]:
    sync(device)
    started = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - started, out


PERTURBATION = 3e-7
CURVES = ("train_loss", "val_loss", "val_accuracy")


def gaps(solo: TrialResult, other: TrialResult) -> dict[str, float]:
    """Largest per-epoch (or per-block) differences of another run's curves from a solo run."""

    def gap(key: str) -> float:
        a, b = getattr(solo.curve, key), getattr(other.curve, key)
        n = min(len(a), len(b))
        return float(np.abs(np.subtract(a[:n], b[:n])).max()) if n else 0.0

    return {key: gap(key) for key in CURVES}


def twin(spec: TrialSpec, solo: TrialResult, data: Dataset) -> TrialResult:
    """The solo run from initial weights moved by rounding (1 + 3e-7)."""
    scales = [
        x * (1 + PERTURBATION) for x in (spec.init.scales or [1.0] * len(solo.init.applied_scales))
    ]
    return run_trial(replace(spec, init=replace(spec.init, scales=scales)), data)


def no_time(result: TrialResult) -> dict:
    curve = result.curve.to_dict()
    curve.pop("epoch_seconds")
    return curve


def compare(n: int, spec: TrialSpec, data: Dataset, args: argparse.Namespace) -> dict:
    """Time the three paths for seeds 0..n-1; the pack's largest gaps to the solo runs."""
    specs = [replace(spec, seed=seed) for seed in range(n)]
    seq_s, solos = timed(lambda: [run_trial(s, data) for s in specs], args.device)
    mixed_s, mixed = timed(lambda: run_members(specs, data, pack=False), args.device)
    pack_s, packed = timed(lambda: run_members(specs, data, pack=True), args.device)
    pack_gap = [gaps(s, m) for s, m in zip(solos, packed, strict=True)]
    return {
        "seeds": n,
        "sequential_s": seq_s,
        "interleaved_s": mixed_s,
        "pack_s": pack_s,
        "speedup": seq_s / pack_s,
        "interleaved_exact": all(
            no_time(a) == no_time(b) for a, b in zip(solos, mixed, strict=True)
        ),
        "same_steps": all(
            (s.status, s.curve.train_step) == (m.status, m.curve.train_step)
            for s, m in zip(solos, packed, strict=True)
        ),
        "pack_gap": {k: max(g[k] for g in pack_gap) for k in CURVES},
        "engine_note": packed[0].engine_note,
        "solos": solos,
    }


def rounding_gaps(spec: TrialSpec, solos: list[TrialResult], data: Dataset) -> dict[str, float]:
    """The largest gap over the seeds between a solo run and its rounding twin."""
    twins = [gaps(solo, twin(replace(spec, seed=k), solo, data)) for k, solo in enumerate(solos)]
    return {k: max(g[k] for g in twins) for k in CURVES}


def judge(row: dict, rounding: dict[str, float], n_val: int, args: argparse.Namespace) -> None:
    """Agree up to rounding: equal statuses and steps, gaps within twice the twins' (the
    rounding sensitivity over every seed benchmarked) or within the fixed tolerances."""
    floor = {"train_loss": args.loss_tol, "val_loss": args.loss_tol}
    floor["val_accuracy"] = args.acc_samples / n_val + 1e-12
    within = all(row["pack_gap"][k] <= max(floor[k], 2 * rounding[k]) for k in CURVES)
    row["twin_gap"], row["agree"] = rounding, row["same_steps"] and within


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seeds", default="2,4,8", help="comma-separated N")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--depth", type=int, default=4, help="MLP hidden layers")
    ap.add_argument("--width", type=int, default=128, help="MLP width")
    ap.add_argument("--limit", type=int, default=None, help="train samples (default: all)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (torch)")
    ap.add_argument("--loss-tol", type=float, default=1e-3)
    ap.add_argument("--acc-samples", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="1 epoch, N = 2, 512 samples")
    ap.add_argument("--json", default=None, help="also write the table here")
    args = ap.parse_args()
    if args.quick:
        args.epochs, args.seeds, args.limit = 1, "2", 512
    torch.set_num_threads(args.threads)
    spec = base_spec(args)
    data = spec.data.load(args.device)
    warm = replace(spec, budget=replace(spec.budget, epochs=1))
    warm_data = replace(data, x_train=data.x_train[:256], y_train=data.y_train[:256])
    run_trial(warm, warm_data)
    for pack in (False, True):
        run_members([warm, replace(warm, seed=1)], warm_data, pack=pack)

    rows = [compare(int(n), spec, data, args) for n in args.seeds.split(",")]
    largest = max(rows, key=lambda r: r["seeds"])  # its seeds include every row's
    rounding = rounding_gaps(spec, largest["solos"], data)
    for row in rows:
        del row["solos"]
        judge(row, rounding, len(data.y_val), args)
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(
        f"{data.describe()}; MLP {args.depth}x{args.width}, {args.epochs} epochs, {where}, "
        f"{torch.get_num_threads()} thread(s), load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'N':>3} {'sequential s':>13} {'interleaved s':>14} {'pack s':>7} {'speed-up':>9}"
        f"  {'pack gap: loss train/val, val acc':>34}  {'twin gap (rounding)':>27}  agree"
    )
    for r in rows:
        p, t = r["pack_gap"], r["twin_gap"]
        exact = "" if r["interleaved_exact"] else " (interleaved NOT exact)"
        print(
            f"{r['seeds']:>3} {r['sequential_s']:>13.2f} {r['interleaved_s']:>14.2f} "
            f"{r['pack_s']:>7.2f} {r['speedup']:>8.2f}x"
            f"  {p['train_loss']:>12.1e}/{p['val_loss']:.1e}, {p['val_accuracy']:.4f}"
            f"  {t['train_loss']:>9.1e}/{t['val_loss']:.1e}, {t['val_accuracy']:.4f}"
            f"  {'yes' if r['agree'] else 'NO'}{exact}"
        )
    if any(r["engine_note"] for r in rows):
        print("note:", rows[0]["engine_note"])
    if args.json:
        meta = {"epochs": args.epochs, "device": where, "threads": torch.get_num_threads()}
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
