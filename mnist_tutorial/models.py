"""The networks of the course, starting with the blog post's own."""

from __future__ import annotations

import torch
from torch import nn

POOLING_LAYERS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}  # pooling name -> layer class
ORDERS = ("pool_relu", "relu_pool")  # the blog post's conv -> pool -> ReLU, or conv -> ReLU -> pool


class BlogNet(nn.Module):
    """The blog post's ``Net``: two conv -> max-pool -> ReLU rounds, then two linear layers.

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
    blog post claims max pooling usually does better; notebook 05 tests it). ``order="relu_pool"``
    applies ReLU before pooling (conv -> ReLU -> pool): the same function with max pooling, a
    different network with average pooling (notebook 04).
    """

    def __init__(self, pooling: str = "max", order: str = "pool_relu") -> None:
        super().__init__()
        if pooling not in POOLING_LAYERS:
            raise ValueError(f"unknown pooling {pooling!r}: choose 'max' or 'avg'")
        if order not in ORDERS:
            raise ValueError(f"unknown order {order!r}: choose one of {', '.join(ORDERS)}")
        self.order = order
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.pooling = POOLING_LAYERS[pooling](kernel_size=2)
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores (N, 10) for images (N, 1, 28, 28)."""
        for conv in (self.conv1, self.conv2):
            x = conv(x)
            if self.order == "pool_relu":  # conv, then pool, then ReLU, as the blog post
                x = self.relu(self.pooling(x))
            else:
                x = self.pooling(self.relu(x))
        x = x.flatten(1)
        x = self.relu(self.fc1(x))
        return self.fc2(x)


class MLP(nn.Module):
    """A multilayer perceptron: flatten -> fully connected -> ReLU -> fully connected, no
    convolution.

    With ``hidden=27`` it has 784 * 27 + 27 + 27 * 10 + 10 = 21,475 parameters, about as many as
    ``BlogNet`` (21,840), so the two can be compared at the same size (notebook 05).
    """

    def __init__(self, hidden: int = 27) -> None:
        super().__init__()
        if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1:
            raise ValueError(f"hidden must be a positive whole number of units, got {hidden!r}")
        self.fc1 = nn.Linear(28 * 28, hidden)
        self.fc2 = nn.Linear(hidden, 10)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores (N, 10) for images (N, 1, 28, 28)."""
        return self.fc2(self.relu(self.fc1(x.flatten(1))))


class ImprovedNet(nn.Module):
    """The blog post's design made wider, with optional BatchNorm and dropout: a knob per step.

    Same plan as ``BlogNet``: two rounds of 5x5 convolution -> 2x2 max-pool -> ReLU, then two
    fully connected layers. The knobs:

    - ``channels``: feature maps of the two convolutions (blog post: 10, 20; default: 32, 64);
    - ``hidden``: width of the first fully connected layer (blog post: 50; default: 128);
    - ``batch_norm``: a ``BatchNorm`` after each pooling and after ``fc1`` (each then has no bias,
      which BatchNorm's own shift replaces);
    - ``dropout``: probability of zeroing each input of ``fc1`` and of ``fc2`` during training.

    Shapes with the defaults: 1x28x28 -> conv1 32x24x24 -> pool 32x12x12 -> conv2 64x8x8 ->
    pool 64x4x4 -> flatten 1024 -> fc1 128 -> fc2 10 scores.
    """

    def __init__(self, channels: tuple[int, int] = (32, 64), hidden: int = 128,
                 batch_norm: bool = True, dropout: float = 0.25) -> None:
        super().__init__()
        if len(channels) != 2 or min(channels) < 1 or hidden < 1:
            raise ValueError(f"need two positive channel counts and a positive hidden width, "
                             f"got channels={channels}, hidden={hidden}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout is a probability in [0, 1), got {dropout}")
        first, second = channels
        self.conv1 = nn.Conv2d(1, first, kernel_size=5, bias=not batch_norm)
        self.norm1 = nn.BatchNorm2d(first) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(first, second, kernel_size=5, bias=not batch_norm)
        self.norm2 = nn.BatchNorm2d(second) if batch_norm else nn.Identity()
        self.fc1 = nn.Linear(second * 4 * 4, hidden, bias=not batch_norm)
        self.norm3 = nn.BatchNorm1d(hidden) if batch_norm else nn.Identity()
        self.fc2 = nn.Linear(hidden, 10)
        self.pooling = nn.MaxPool2d(kernel_size=2)
        self.dropout = nn.Dropout(dropout)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores (N, 10) for images (N, 1, 28, 28)."""
        x = self.relu(self.norm1(self.pooling(self.conv1(x))))
        x = self.relu(self.norm2(self.pooling(self.conv2(x))))
        x = self.dropout(x.flatten(1))
        x = self.relu(self.norm3(self.fc1(x)))
        return self.fc2(self.dropout(x))


class FastNet(ImprovedNet):
    """A narrow ``ImprovedNet`` built for speed: 16 and 32 channels, BatchNorm, no dropout.

    A third of the improved net's multiply-adds per image (1.1 million against 3.9 million),
    still enough to pass 99 % in under two epochs with a one-cycle schedule (notebook 08,
    ``benchmarks/time_to_99.py``). Dropout is left out: it slows learning down, and a run this
    short has no time to overfit.
    """

    def __init__(self) -> None:
        super().__init__(channels=(16, 32), hidden=128, batch_norm=True, dropout=0.0)


class ResidualBlock(nn.Module):
    """The ResNet idea: ``relu(x + f(x))``, where ``f`` is conv3x3 -> BN -> ReLU -> conv3x3 -> BN.

    The block only has to learn a correction ``f(x)`` to its input, and the ``x +`` path carries
    the signal (and, backwards, the gradient) past the convolutions; only the final ReLU gates it.
    Padding 1 keeps the size, so input and output have the same shape (C x H x W). ``skip=False``
    drops the ``x +`` (a plain block, for comparison).
    """

    def __init__(self, channels: int, skip: bool = True) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be a positive integer, got {channels}")
        self.skip = skip
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same shape out as in."""
        correction = self.norm2(self.conv2(self.relu(self.norm1(self.conv1(x)))))
        return self.relu(x + correction if self.skip else correction)


class ResidualNet(ImprovedNet):
    """``ImprovedNet`` with ``blocks`` residual blocks after the first pooling (at 12 x 12).

    Shapes with the defaults: 1x28x28 -> conv1, pool 32x12x12 -> residual block 32x12x12 ->
    conv2, pool 64x4x4 -> fc1 128 -> fc2 10 scores.
    """

    def __init__(self, channels: tuple[int, int] = (32, 64), hidden: int = 128,
                 dropout: float = 0.25, blocks: int = 1, skip: bool = True) -> None:
        super().__init__(channels, hidden, batch_norm=True, dropout=dropout)
        if blocks < 1:
            raise ValueError(f"blocks must be at least 1, got {blocks}")
        self.blocks = nn.Sequential(*(ResidualBlock(channels[0], skip) for _ in range(blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores (N, 10) for images (N, 1, 28, 28)."""
        x = self.blocks(self.relu(self.norm1(self.pooling(self.conv1(x)))))
        x = self.relu(self.norm2(self.pooling(self.conv2(x))))
        x = self.dropout(x.flatten(1))
        x = self.relu(self.norm3(self.fc1(x)))
        return self.fc2(self.dropout(x))


MODELS = {"blog": BlogNet, "improved": ImprovedNet, "fast": FastNet, "residual": ResidualNet}


def build_model(name: str) -> nn.Module:
    """A fresh model by its CLI name (``blog``, ``improved``, ``fast``, ``residual``)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {sorted(MODELS)}")
    return MODELS[name]()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable numbers in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
