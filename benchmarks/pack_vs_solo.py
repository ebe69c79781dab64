"""How close a pack member's curve is to its solo run, against the solo run's own rounding
sensitivity, on a study's real set-up.

For each init (default: the study's emergence baselines and LPS) it trains: the members as one
pack, each member alone, and each member alone from initial weights multiplied by
(1 + 3e-7) — a rounding-level change. It prints the per-epoch validation accuracy of all three
and the largest gaps. If |pack - solo| is no larger than |perturbed - solo|, the pack is as
faithful as arithmetic allows.

Run:  python benchmarks/pack_vs_solo.py studies/quickstart.yaml [--seed 0] [--threads 1]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from initsearch.config import load_study
from initsearch.data import load_dataset
from initsearch.inits import InitSpec
from initsearch.models import build_model
from initsearch.train import run_trial
from initsearch.train.pack import run_pack

PERTURBATION = 3e-7


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("study")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_study(args.study)
    data = load_dataset(cfg.data.name, root=cfg.data.root, limit=cfg.data.limit)
    layers = build_model(cfg.trial_spec(InitSpec(), args.seed).model, data).num_scalable()
    inits = [InitSpec("emergence", options={"alpha": a}) for a in cfg.baselines.emergence_alphas]
    inits += [InitSpec("lps")]
    specs = [cfg.trial_spec(init, seed=args.seed) for init in inits]
    packed = run_pack(specs, data)
    print(f"{cfg.name}: {cfg.train.epochs} epochs, seed {args.seed}; val accuracy per epoch")
    for spec, member in zip(specs, packed, strict=True):
        solo = run_trial(spec, data)
        nudged = [s * (1 + PERTURBATION) for s in (spec.init.scales or [1.0] * layers)]
        twin = run_trial(replace(spec, init=replace(spec.init, scales=nudged)), data)
        a, p, t = (r.curve.val_accuracy for r in (solo, member, twin))
        gap_pack = max(abs(x - y) for x, y in zip(a, p, strict=True))
        gap_twin = max(abs(x - y) for x, y in zip(a, t, strict=True))
        print(f"{spec.init.scheme} {spec.init.options}")
        print("  solo      ", " ".join(f"{x:.3f}" for x in a))
        print("  pack      ", " ".join(f"{x:.3f}" for x in p), f"  max gap {gap_pack:.3f}")
        print("  perturbed ", " ".join(f"{x:.3f}" for x in t), f"  max gap {gap_twin:.3f}")


if __name__ == "__main__":
    main()
