"""A study from Python, as in a notebook: ``initsearch.run_study`` with plain callables.

The model, the data and the training loop are ordinary functions defined right here (no
import path needed: Ray ships them to its workers). Run it as ``python
examples/notebook_api.py``; it prints the verdict and where the study's files are.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn

import initsearch


def make_mlp(width: int = 64, depth: int = 4) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = 64
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.Tanh()]
        fan_in = width
    return nn.Sequential(*layers, nn.Linear(fan_in, 10))


def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0
    y = torch.tensor(d.target)
    return {"train": (x[:1400], y[:1400]), "test": (x[1400:], y[1400:])}


def fit(model, data, seed, report, epochs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(1, epochs + 1):
        for x, y in data.loader("train", batch_size=64, shuffle=True, seed=seed + epoch):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        report(epoch)  # initsearch measures validation loss and accuracy


STUDY = {
    "name": "notebook_api",
    "train": {"epochs": 4},
    "search": {"space": "profile", "scale_low": 0.5, "scale_high": 2.0},
    "pruner": {"name": "none"},
    "baselines": {"schemes": ["kaiming", "xavier", "emergence"], "emergence_alphas": [1.1]},
    "budget": {"trials": 10, "seeds_per_trial": 2},
    "confirm": {"top_k": 1, "seeds": 4},
}


def main(workdir: str = "runs") -> None:
    run = initsearch.run_study(STUDY, model=make_mlp, data=digits, train=fit, workdir=workdir)
    print(run.verdict.sentence if run.verdict else "no verdict yet")
    print(f"study files: {workdir}/{run.config.name}")


if __name__ == "__main__":
    main(*sys.argv[1:])
