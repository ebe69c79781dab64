"""Check GradInit against the reference behaviour on a small VGG without batch norm.

The paper (arXiv 2102.08098) reports, for VGG-19 without BN on CIFAR-10, a much better
first-epoch accuracy after GradInit than after Kaiming (about 29% vs 49%, an unverified
recollection, see shared/notes/init-methods.md) and conv scales that mostly grow. This
script reproduces the comparison at CPU scale: VGG (default VGG-11, width 8) on MNIST-1D with
1-D convs, Kaiming vs GradInit (reference VGG-no-BN settings: sgd, eta 0.1, gamma 1, normalised
g, scale lr 1e-2, 390 iterations of batch 128), several seeds, then the same training for both:
SGD momentum 0.9, lr 0.1, batch 128, gradient-norm clip 1 (the reference's no-BN VGG run).

Two base inits: the project's "kaiming" (normal, fan_in, every layer incl. the head) and the
reference VGG's own init, the scheme "vgg_reference" (Kaiming normal with fan_out for the convs,
N(0, 0.01^2) for the classifier, zero biases), which is what the paper's "Kaiming" rows and its
GradInit runs start from. Each is trained as is and after GradInit.

Prints the learned per-layer scale profiles (mean and range over seeds) and the accuracy after
each epoch for every init.

    .venv/bin/python benchmarks/gradinit_vgg_check.py --seeds 3 --epochs 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from initsearch.data import load_dataset
from initsearch.inits import InitSpec
from initsearch.models import ModelSpec
from initsearch.train import Budget, DataSpec, OptimizerSpec, TrialSpec, run_trial


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="mnist1d", help="mnist1d (1-D convs) or digits")
    ap.add_argument("--depth", type=int, default=11, help="VGG depth: 11, 13, 16 or 19")
    ap.add_argument("--width", type=int, default=8, help="first-stage channels")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1, help="training learning rate")
    ap.add_argument("--gradinit-iters", type=int, default=390)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    return ap.parse_args()


def trial(args: argparse.Namespace, init: InitSpec, seed: int) -> TrialSpec:
    return TrialSpec(
        model=ModelSpec(name="vgg", depth=args.depth, width=args.width, batch_norm=False),
        data=DataSpec(name=args.data),
        init=init,
        optimizer=OptimizerSpec(name="sgd", lr=args.lr, momentum=0.9, grad_clip=1.0),
        budget=Budget(epochs=args.epochs, batch_size=args.batch_size, log_every=10),
        seed=seed,
    )


def fmt(values: list[float], pct: bool = False) -> str:
    k = 100.0 if pct else 1.0
    mean = statistics.fmean(values) * k
    if len(values) < 2:
        return f"{mean:.1f}" if pct else f"{mean:.3f}"
    sd = statistics.stdev(values) * k
    return f"{mean:.1f} ± {sd:.1f}" if pct else f"{mean:.3f} ± {sd:.3f}"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(args.data)
    print(data.describe())
    gradinit_opts = {"iters": args.gradinit_iters, "progress": False}
    inits = {
        "kaiming": InitSpec("kaiming"),
        "gradinit": InitSpec("gradinit", options=gradinit_opts),
        "ref-base": InitSpec("vgg_reference"),
        "ref-gradinit": InitSpec("gradinit", options={**gradinit_opts, "base": "vgg_reference"}),
    }
    acc: dict[str, list[list[float]]] = {name: [] for name in inits}
    profiles: dict[str, list[list[float]]] = {"gradinit": [], "ref-gradinit": []}
    names: list[str] = []
    seconds: dict[str, list[float]] = {name: [] for name in inits}
    for seed in range(args.seeds):
        for name, init in inits.items():
            started = time.perf_counter()
            result = run_trial(trial(args, init, seed), dataset=data)
            seconds[name].append(time.perf_counter() - started)
            acc[name].append(result.curve.val_accuracy)
            if name in profiles:
                profiles[name].append(result.init.applied_scales)
                names = result.init.layer_names
            print(
                f"seed {seed} {name:12s} status {result.status} acc/epoch "
                + " ".join(f"{a:.3f}" for a in result.curve.val_accuracy)
                + f"  ({seconds[name][-1]:.1f}s)"
            )

    print(f"\nLearned GradInit scales per layer (VGG-{args.depth} width {args.width}, no BN):")
    print(
        f"{'layer':12s}"
        + "".join(f" {name + ' mean ± sd':>26s} {'min':>6s} {'max':>6s}" for name in profiles)
    )
    for i, layer in enumerate(names):
        row = f"{layer:12s}"
        for runs in profiles.values():
            column = [p[i] for p in runs]
            row += f" {fmt(column):>26s} {min(column):6.3f} {max(column):6.3f}"
        print(row)
    for name, runs in profiles.items():
        grown = sum(statistics.fmean(p[i] for p in runs) > 1 for i in range(len(names) - 1))
        print(f"{name}: conv layers whose mean scale > 1: {grown} of {len(names) - 1}")

    print(f"\nValidation accuracy (%) after each epoch, mean ± sd over {args.seeds} seeds:")
    header = " ".join(f"{'epoch ' + str(e + 1):>13s}" for e in range(args.epochs))
    print(f"{'init':12s} {header} {'seconds':>9s}")
    for name in inits:
        cells = []
        for e in range(args.epochs):
            column = [curve[e] for curve in acc[name] if len(curve) > e]
            cells.append(f"{fmt(column, pct=True):>13s}" if column else f"{'-':>13s}")
        print(f"{name:12s} {' '.join(cells)} {statistics.fmean(seconds[name]):9.1f}")


if __name__ == "__main__":
    main()
