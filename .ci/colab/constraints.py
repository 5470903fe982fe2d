"""Print Colab's pip freeze as pip constraints for CI: Colab's versions, less its PyTorch build.

Usage: ``python .ci/colab/constraints.py > constraints.txt``, then
``pip install -r .ci/colab/requirements.txt -c constraints.txt``.

Two kinds of line are left out, each with a reason:
- packages installed from a URL (``name @ url``: Colab's own tools, CUDA wheels for Python 3.12),
  which pip cannot take as constraints and the course does not use;
- Colab's PyTorch build and what its version is tied to (the CUDA libraries, triton, the torch
  add-ons, setuptools, which torch 2.14.1 needs at >=77): CI substitutes the PyTorch releases on its
  disk (see requirements.txt), which need other versions of these.
"""

import re
import sys
from pathlib import Path

FREEZE = Path(__file__).resolve().parent / "pip-freeze.gpu.txt"
PYTORCH_BUILD = re.compile(
    r"^(torch|torchvision|torchaudio|torchcodec|triton|setuptools|nvidia-.*|cuda-.*)$")


def normalized(name: str) -> str:
    """A distribution name as pip compares it (PEP 503): lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_versions(freeze: Path = FREEZE) -> dict[str, str]:
    """Every ``name==version`` line of the freeze, by normalized name (URL lines left out)."""
    pins = {}
    for line in freeze.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line.strip())
        if match:
            pins[normalized(match[1])] = match[2]
    return pins


def constraints(freeze: Path = FREEZE) -> list[str]:
    """The freeze's pins as constraint lines, Colab's PyTorch build left out."""
    return [f"{name}=={version}" for name, version in pinned_versions(freeze).items()
            if not PYTORCH_BUILD.match(name)]


if __name__ == "__main__":
    sys.stdout.write("\n".join(constraints()) + "\n")
