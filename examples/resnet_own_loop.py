"""torchvision's ResNet-18 with the researcher's own training loop and data factory.

``resnet_own_loop.yaml`` names three pieces of code here:

- ``digits_rgb`` (data factory): the digits as 3-channel 16x16 images, returned as
  ``{"train": (x, y), "test": (x, y)}``; initsearch holds out the validation split itself.
- ``make_resnet`` (model factory): ``torchvision.models.resnet18(num_classes=10)`` with
  random weights; initsearch finds its 21 scalable layers by tracing.
- ``fit`` (training function): an AdamW loop of your own. It gets the initialised model, the
  data, the trial's seed and ``report``; calling ``report(epoch, train_loss=...)`` after each
  epoch is how curves, pruning and MLflow keep working (initsearch measures the validation
  split itself when the loop does not report ``val_loss``/``val_accuracy``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn


def digits_rgb(size: int = 16, test_fraction: float = 0.2) -> dict:
    """The data factory: 8x8 digits upsampled to ``size`` x ``size``, three channels."""
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = ((x - x.mean()) / x.std()).repeat(1, 3, 1, 1)
    y = torch.tensor(digits.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    n_test = int(test_fraction * len(y))
    test, train = order[:n_test], order[n_test:]
    return {"train": (x[train], y[train]), "test": (x[test], y[test])}


def make_resnet(num_classes: int = 10) -> nn.Module:
    """The model factory: a torchvision ResNet-18, random init (initsearch re-initialises)."""
    import torchvision

    return torchvision.models.resnet18(weights=None, num_classes=num_classes)


def fit(model, data, seed, report, epochs, device, lr, batch_size):
    """The training function: AdamW, one ``report`` per epoch. ``epochs``, ``device``, ``lr``
    and ``batch_size`` come from the study's ``train`` section. Let ``StopTrial`` (raised by
    ``report`` when the pruner stops the trial) propagate."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    for epoch in range(1, epochs + 1):
        model.train()
        total, count = 0.0, 0
        for x, y in data.loader("train", batch_size, shuffle=True, seed=seed + epoch):
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, count = total + float(loss) * len(y), count + len(y)
        report(epoch, train_loss=total / count)
