"""The networks of the course, starting with the seed's own."""

from __future__ import annotations

import torch
from torch import nn


POOLING = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class SeedNet(nn.Module):
    """The seed's ``Net``: two conv -> max-pool -> ReLU rounds, then two fully connected layers.

    Shapes for one 1x28x28 digit (batch dimension left out):

    ======================  ===========
    layer                   output
    ======================  ===========
    input                   1 x 28 x 28
    conv1 (1->10, k=5)      10 x 24 x 24
    pooling (max, 2)        10 x 12 x 12
    ReLU                    10 x 12 x 12
    conv2 (10->20, k=5)     20 x 8 x 8
    pooling (max, 2)        20 x 4 x 4
    ReLU                    20 x 4 x 4
    flatten                 320
    fc1 (320->50) + ReLU    50
    fc2 (50->10)            10 scores (no activation: CrossEntropyLoss applies log-softmax)
    ======================  ===========

    21,840 parameters in all. ``pooling="avg"`` swaps max pooling for average pooling (the
    seed claims max pooling usually does better; notebook 05 tests it).
    """

    def __init__(self, pooling: str = "max") -> None:
        super().__init__()
        if pooling not in POOLING:
            raise ValueError(f"unknown pooling {pooling!r}: choose 'max' or 'avg'")
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.pooling = POOLING[pooling](kernel_size=2)
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores (N, 10) for images (N, 1, 28, 28)."""
        x = self.relu(self.pooling(self.conv1(x)))  # conv, then pool, then ReLU, as the seed
        x = self.relu(self.pooling(self.conv2(x)))
        x = x.flatten(1)
        x = self.relu(self.fc1(x))
        return self.fc2(x)


MODELS = {"seed": SeedNet}


def build_model(name: str) -> nn.Module:
    """A fresh model by its CLI name (``seed``)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {sorted(MODELS)}")
    return MODELS[name]()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable numbers in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
