"""Helpers shared by several test modules."""

import functools
import inspect
import os
import re
import subprocess
import sys

import torch
import torch.nn.functional as F

from mnist_tutorial.data import TensorSplit, load_split
from mnist_tutorial.exercises import CheckReport
from mnist_tutorial.models import BlogNet
from mnist_tutorial.training import fit, seed_everything


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


def make_model_and_optimizer(seed: int = 0) -> tuple[BlogNet, torch.optim.SGD]:
    """A BlogNet with the weights of ``seed`` and the blog post's SGD (lr 0.01, momentum 0.5)."""
    seed_everything(seed)
    model = BlogNet()
    return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)


@functools.cache
def trained_blog_net() -> BlogNet:
    """BlogNet trained for 2 epochs on the quick subset (about 90 % test accuracy), once per run."""
    seed_everything(0)
    model = BlogNet()
    fit(model, load_split("mnist", True, quick=True), load_split("mnist", False, quick=True),
        torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9), epochs=2, batch_size=32)
    return model.eval()


BLOG_LAYERS = ["conv1", "pool1", "relu1", "conv2", "pool2", "relu2"]


def seeded_net(seed: int = 0, pooling: str = "max") -> BlogNet:
    """A BlogNet with the random weights of ``seed``."""
    torch.manual_seed(seed)
    return BlogNet(pooling)


def by_hand(model: BlogNet, x: torch.Tensor, pool=F.max_pool2d) -> dict[str, torch.Tensor]:
    """The blog post's forward pass written out with torch.nn.functional."""
    out = {"conv1": F.conv2d(x, model.conv1.weight, model.conv1.bias)}
    out["pool1"] = pool(out["conv1"], 2)
    out["relu1"] = F.relu(out["pool1"])
    out["conv2"] = F.conv2d(out["relu1"], model.conv2.weight, model.conv2.bias)
    out["pool2"] = pool(out["conv2"], 2)
    out["relu2"] = F.relu(out["pool2"])
    return out


def brute_force_coverage(size, kernel, padding, stride):
    """For every pixel, count the windows (found by walking the padded grid) that contain it."""
    starts = range(0, size + 2 * padding - kernel + 1, stride)
    counts = torch.zeros(size, size, dtype=torch.int64)
    for i in range(size):
        for j in range(size):
            counts[i, j] = sum(top <= i + padding < top + kernel
                               and left <= j + padding < left + kernel
                               for top in starts for left in starts)
    return counts


def assert_lesson_code(function, max_lines: int = 20) -> None:
    """What ``inspect.getsource`` shows of ``function`` is its plain definition: at most
    ``max_lines`` lines, no decorator, no argument check, at most one private helper."""
    source = inspect.getsource(function)
    lines = source.splitlines()
    assert lines[0].startswith(f"def {function.__name__}("), lines[0]
    assert len(lines) <= max_lines, f"{function.__name__}: {len(lines)} lines"
    assert not [line for line in lines if line.lstrip().startswith("@")]
    assert "raise" not in source and "check" not in source
    helpers = set(re.findall(r"(?<![\w.])(_\w+)\(", source))
    assert len(helpers) <= 1, f"{function.__name__} calls {sorted(helpers)}"


class FunctionalNet(torch.nn.Module):
    """The blog post's network as pytorch/examples writes it: pooling and ReLU as functions,
    ReLU in three spellings (``F.relu``, ``torch.relu``, ``x.relu()``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = torch.nn.Conv2d(10, 20, kernel_size=5)
        self.fc1 = torch.nn.Linear(320, 50)
        self.fc2 = torch.nn.Linear(50, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = torch.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc2(self.fc1(x.flatten(1)).relu())


FUNCTIONAL_LAYERS = ["conv1", "max_pool2d #1", "relu #1", "conv2", "max_pool2d #2", "relu #2"]


def functional_by_hand(model: FunctionalNet, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """``FunctionalNet``'s maps recomputed with torch.nn.functional, by the names they get."""
    with torch.no_grad():
        blog = by_hand(model, x)
    return dict(zip(FUNCTIONAL_LAYERS, blog.values()))
