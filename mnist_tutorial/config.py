"""The course's settings from the environment, and where the package runs.

- ``MNIST_TUTORIAL_DATA``: the data root (``torchvision.datasets.MNIST(root=...)``);
- ``MNIST_TUTORIAL_QUICK=1``: notebooks and the CLI train on a small subset (for CI).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

DATA_ENV = "MNIST_TUTORIAL_DATA"
QUICK_ENV = "MNIST_TUTORIAL_QUICK"


def quick_mode() -> bool:
    """True when ``MNIST_TUTORIAL_QUICK=1``: notebooks and the CLI use a small subset (for CI)."""
    return os.environ.get(QUICK_ENV, "0").strip() == "1"


def repository_root() -> Path | None:
    """The checkout this package was installed from (editable install), or None."""
    candidate = Path(__file__).resolve().parent.parent
    return candidate if (candidate / "pyproject.toml").is_file() else None


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, Colab), False in a script or terminal."""
    ipython = sys.modules.get("IPython")  # a kernel has imported IPython already
    shell = ipython.get_ipython() if ipython is not None else None
    return hasattr(shell, "kernel")


def show_progress() -> bool:
    """Progress bars in a terminal or a notebook, not when output goes to a file or CI."""
    if os.environ.get("CI"):
        return False
    return sys.stderr.isatty() or in_notebook()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run PyTorch on one thread meanwhile: widgets and checkers compute small tensors one by one.

    For work this small, threads only add synchronisation, and on a busy machine (Colab's two
    cores, a laptop running a training) every parallel step waits until all its threads get a
    core: a 28x28 convolution took 15 ms on two threads instead of 0.1 ms on one. The number of
    threads is put back afterwards.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
