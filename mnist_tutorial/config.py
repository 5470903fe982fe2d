"""The course's settings from the environment, and where the package runs.

- ``MNIST_TUTORIAL_DATA``: the data root (``torchvision.datasets.MNIST(root=...)``);
- ``MNIST_TUTORIAL_QUICK=1``: notebooks and the CLI train on a small subset (for CI).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
