"""A researcher's own CNN on scikit-learn's digits, trained by initsearch's built-in engine.

The study file ``digits_cnn.yaml`` names ``make_cnn`` as its model factory; initsearch traces
a sample batch through the network to find its scalable layers (two convolutions and the
head), so the model needs no initsearch base class. Run it with

    initsearch study start examples/digits_cnn.yaml

or check the layers first:

    initsearch inits show --model-factory examples.digits_cnn:make_cnn --data digits
"""

from __future__ import annotations

from torch import nn


class SmallCNN(nn.Module):
    """Two 3x3 convolutions with ReLU, global average pooling, a linear head."""

    def __init__(self, channels: int = 16, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(2 * channels, classes)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def make_cnn(channels: int = 16, classes: int = 10) -> nn.Module:
    """The model factory: any callable returning an ``nn.Module``."""
    return SmallCNN(channels, classes)
