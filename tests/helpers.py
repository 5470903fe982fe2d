"""Helpers shared by several test modules."""

import os
import subprocess
import sys

import torch

from mnist_tutorial.data import TensorSplit
from mnist_tutorial.exercises import CheckReport


def hints(report: CheckReport) -> dict[str, str]:
    """The failed cases' messages by case name."""
    return {name: message for name, passed, message in report if not passed}


def run_cli(*args, root):
    """``python -m mnist_tutorial train ARGS`` in quick mode on the data at ``root``."""
    env = {**os.environ, "MNIST_TUTORIAL_QUICK": "1", "MNIST_TUTORIAL_DATA": str(root)}
    return subprocess.run([sys.executable, "-m", "mnist_tutorial", "train", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def toy_split(n: int, seed: int) -> TensorSplit:
    """Learnable fake digits: class k has a bright square at a class-specific place."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = 0.3 * torch.randn(n, 1, 28, 28, generator=generator)
    for k in range(10):
        row, col = 2 + 2 * (k // 5) * 5, 2 + 5 * (k % 5)
        images[labels == k, :, row:row + 5, col:col + 5] += 2.0
    return TensorSplit(images, labels)
