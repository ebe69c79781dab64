"""Measure the emergence measure at init under the emergence rule, across depth.

By default for MLPs of width 64 on MNIST-1D (without and with BatchNorm) at depths 4, 8, 16 and
32: builds each init exactly as ``initsearch inits show --seed s`` does (``build_member``) and
prints log E with the absolute threshold 0.05 and with the relative one (``RELATIVE_THRESHOLD``
x each layer's mean activity), mean over seeds, for the rule at several alphas, plain and with
``ref_depth`` (alpha_eff = alpha ** (ref_depth / max_depth)). The markdown tables it prints are
the ones in docs/init-schemes.md:

    .venv/bin/python benchmarks/emergence_depth_table.py --seeds 5
    .venv/bin/python benchmarks/emergence_depth_table.py --seeds 5 --model resnet \
        --depths 8,20 --width 4 --data digits --bn no --alphas 1.0,1.2,1.5
"""

from __future__ import annotations

import argparse
import math
import statistics

import torch

from initsearch.inits import InitSpec
from initsearch.models import ModelSpec
from initsearch.train import DataSpec, TrialSpec
from initsearch.train.engine import build_member


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mlp", help="mlp, vgg or resnet (depths must suit it)")
    ap.add_argument("--data", default="mnist1d")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--depths", default="4,8,16,32")
    ap.add_argument("--alphas", default="1.0,1.05,1.1,1.2")
    ap.add_argument("--ref-depth", type=float, default=4.0)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--bn", default="no,yes", help="BatchNorm settings to run: no, yes or both")
    return ap.parse_args()


def cell(values: list[float]) -> str:
    """Mean over seeds; -inf when any seed had E = 0 (the count of such seeds in brackets)."""
    finite = [v for v in values if math.isfinite(v)]
    zero = len(values) - len(finite)
    if not finite:
        return "-inf"
    text = f"{statistics.fmean(finite):.1f}"
    return f"{text} ({zero}x -inf)" if zero else text


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    data_spec = DataSpec(name=args.data)
    data = data_spec.load()
    alphas = [float(a) for a in args.alphas.split(",")]
    variants: list[tuple[str, dict[str, float]]] = [(f"a={a:g}", {"alpha": a}) for a in alphas]
    variants += [
        (f"a={a:g} r={args.ref_depth:g}", {"alpha": a, "ref_depth": args.ref_depth})
        for a in alphas
        if a != 1.0
    ]
    print(
        f"log E at init, absolute / relative, mean of {args.seeds} seeds ({data.name}, "
        f"{args.model} width {args.width}, rule over kaiming; r = ref_depth)\n"
    )
    print("| depth | BN | " + " | ".join(name for name, _ in variants) + " |")
    print("|---|---|" + "---|" * len(variants))
    for bn in (b == "yes" for b in args.bn.split(",")):
        for depth in (int(d) for d in args.depths.split(",")):
            model = ModelSpec(name=args.model, depth=depth, width=args.width, batch_norm=bn)
            cells = []
            for _, options in variants:
                absolute, relative = [], []
                for seed in range(args.seeds):
                    init = InitSpec("emergence", options=dict(options))
                    spec = TrialSpec(model=model, data=data_spec, init=init, seed=seed)
                    _, report = build_member(spec, data, torch.device("cpu"))
                    absolute.append(report.log_emergence)
                    relative.append(report.log_emergence_relative)
                cells.append(f"{cell(absolute)} / {cell(relative)}")
            print(f"| {depth} | {'yes' if bn else 'no'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
