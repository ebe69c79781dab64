"""Trial throughput on one device: plain loops against the engine and its packs, in one run.

Rows (each trains the reference MLP, default 8 hidden layers x 512, SGD with momentum, batch
128, on MNIST-shaped data: 784 inputs, 10 classes):
  plain          a textbook PyTorch loop, one model
  plain+graph    the same step captured in a CUDA graph (CUDA only)
  engine         initsearch.train.run_trial, one trial (per-step divergence check included)
  pack K=1..     initsearch.train.pack.run_pack with K members (CUDA graphs on CUDA)

Every row trains ``--epochs`` epochs (default 2) and is timed on its last one, so one-off costs
(allocation, graph capture) are excluded; evaluation is excluded everywhere. The data are
random tensors of MNIST's shape (no download; throughput does not depend on the values), by
default 60,000 samples on CUDA and 6,000 on CPU (``--samples``).

Reported per row: trial-epochs/s (trials x epochs of the data per second), the ratio to each
plain loop, achieved TFLOP/s (6 x multiply-adds of the linear layers x samples x trials: forward
plus two backward products) and an estimate of memory traffic (per step and member, in fp32:
weights read twice, gradient written and read, momentum read and written, weights written:
7 x parameters x 4 bytes, plus activations written and read twice; caches make the real figure
lower for small models) against the device's peak where known.

Run:  python benchmarks/pack_throughput.py [--device cuda] [--packs 1,8,64,256] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from initsearch.data import Dataset
from initsearch.inits import InitSpec
from initsearch.models import ModelSpec
from initsearch.train import Budget, OptimizerSpec, TrialSpec, run_trial
from initsearch.train.pack import run_pack

# dense peak of the device (TFLOP/s for the row's dtype, TB/s), from the vendors' data sheets
PEAKS = {
    "H100": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "tbps": 3.35},
    "H200": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "tbps": 4.8},
}


@dataclass
class Row:
    name: str
    trials: int
    seconds: float  # one timed epoch
    note: str = ""

    def trial_epochs_per_s(self) -> float:
        return self.trials / self.seconds


def synthetic_mnist(samples: int, device: torch.device) -> Dataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(samples, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (samples,), generator=g)
    xt = torch.randn(1000, 1, 28, 28, generator=g)
    yt = torch.randint(0, 10, (1000,), generator=g)
    return Dataset.unsplit("mnist-shaped", x, y, xt, yt, num_classes=10, kind="image").to(device)


def plain_model(depth: int, width: int, device: torch.device) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    sizes = [784] + [width] * depth
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers).to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_loop(data: Dataset, args, device: torch.device, graphed: bool) -> float:
    """Seconds of the last of ``args.epochs`` epochs of a textbook loop."""
    torch.manual_seed(0)
    model = plain_model(args.depth, args.width, device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    n, b = len(data.y_train), args.batch
    step: Callable[[torch.Tensor], None]

    def eager(idx: torch.Tensor) -> torch.Tensor:
        loss = nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        opt.zero_grad(set_to_none=not graphed)
        loss.backward()
        opt.step()
        return loss.detach()

    step = eager
    if graphed:
        static_idx = torch.arange(b, device=device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                eager(static_idx)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            eager(static_idx)

        def step(idx: torch.Tensor) -> None:
            if idx.numel() != b:  # the short last batch runs eagerly
                eager(idx)
                return
            static_idx.copy_(idx)
            graph.replay()

    seconds = 0.0
    for _ in range(args.epochs):
        order = torch.randperm(n).to(device)
        sync(device)
        started = time.perf_counter()
        for start in range(0, n, b):
            step(order[start : start + b])
        sync(device)
        seconds = time.perf_counter() - started
    return seconds


def trial_specs(k: int, args, device: torch.device) -> list[TrialSpec]:
    base = TrialSpec(
        model=ModelSpec("mlp", depth=args.depth, width=args.width),
        optimizer=OptimizerSpec("sgd", lr=0.05, momentum=0.9),
        budget=Budget(epochs=args.epochs, batch_size=args.batch, divergence_loss=1e9),
        seed=0,
        device=str(device),
    )
    # distinct members: per-layer scales spread around 1 (the kind a search proposes)
    return [
        TrialSpec(**{**base.__dict__, "init": InitSpec("kaiming", scales=scales(i, args.depth))})
        for i in range(k)
    ]


def scales(i: int, depth: int) -> list[float]:
    return [1.0 + 0.02 * math.sin(i + 3 * j) for j in range(depth + 1)]


def engine_row(data: Dataset, args, device: torch.device) -> Row:
    result = run_trial(trial_specs(1, args, device)[0], data)
    return Row("engine (run_trial)", 1, result.curve.epoch_seconds[-1])


def pack_row(k: int, data: Dataset, args, device: torch.device) -> Row:
    results = run_pack(trial_specs(k, args, device), data)
    note = results[0].engine_note or ""
    return Row(f"pack K={k}", k, results[0].curve.epoch_seconds[-1], note)


def linear_macs(args) -> int:
    sizes = [784] + [args.width] * args.depth + [10]
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def traffic_bytes_per_member_epoch(args, samples: int) -> float:
    params = linear_macs(args) + args.width * args.depth + 10
    steps = math.ceil(samples / args.batch)
    activations = samples * (784 + args.width * args.depth + 10) * 4 * 3
    return steps * params * 4 * 7 + activations


def device_peaks(device: torch.device) -> dict[str, float] | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAKS.items() if k in name), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--packs", default=None, help="comma-separated K (default by device)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (torch)")
    ap.add_argument("--json", default=None, help="also write the table here")
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = device.type == "cuda"
    samples = args.samples or (60_000 if cuda else 6_000)
    packs = [int(k) for k in (args.packs or ("1,8,32,64,128,256" if cuda else "1,4,16")).split(",")]
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True  # what a user training fp32 on H100 gets
    data = synthetic_mnist(samples, device)

    rows = [Row("plain loop", 1, plain_loop(data, args, device, graphed=False))]
    if cuda:
        rows.append(Row("plain loop + CUDA graph", 1, plain_loop(data, args, device, True)))
    rows.append(engine_row(data, args, device))
    for k in packs:
        rows.append(pack_row(k, data, args, device))

    plain = rows[0].trial_epochs_per_s()
    graphed = rows[1].trial_epochs_per_s() if cuda else None
    flop = 6 * linear_macs(args) * samples
    traffic = traffic_bytes_per_member_epoch(args, samples)
    peaks = device_peaks(device)
    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({torch.get_num_threads()} thr)"
    print(
        f"device {name}; MLP {args.depth}x{args.width}, batch {args.batch}, {samples} samples "
        f"per epoch, torch {torch.__version__}"
    )
    head = f"{'row':<26}{'trial-ep/s':>11}{'x plain':>9}{'x graph':>9}{'TFLOP/s':>9}{'GB/s':>8}"
    if peaks:
        head += f"{'%peak tf32':>11}{'%peak BW':>9}"
    print(head)
    table = []
    for row in rows:
        rate = row.trial_epochs_per_s()
        tflops = flop * rate / 1e12
        gbps = traffic * rate / 1e9
        line = f"{row.name:<26}{rate:>11.2f}{rate / plain:>9.1f}"
        line += f"{rate / graphed:>9.2f}" if graphed else f"{'-':>9}"
        line += f"{tflops:>9.3f}{gbps:>8.1f}"
        if peaks:
            share_flops = 100 * tflops / peaks["tf32"]
            share_bw = 100 * gbps / 1000 / peaks["tbps"]
            line += f"{share_flops:>10.1f}%{share_bw:>8.1f}%"
        print(line + (f"  [{row.note}]" if row.note else ""))
        table.append(
            {
                "row": row.name,
                "trials": row.trials,
                "epoch_seconds": row.seconds,
                "trial_epochs_per_s": rate,
                "x_plain": rate / plain,
                "x_graphed": rate / graphed if graphed else None,
                "tflops": tflops,
                "gbps": gbps,
                "note": row.note,
            }
        )
    if args.json:
        meta = {"device": name, "samples": samples, "depth": args.depth, "width": args.width}
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "rows": table}, fh, indent=2)


if __name__ == "__main__":
    main()
