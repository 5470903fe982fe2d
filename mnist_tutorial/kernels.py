"""Classic hand-made 3x3 kernels: edge detectors, blurs, sharpen and identity.

Every kernel is a float32 tensor of shape (3, 3), applied as PyTorch applies a kernel: slide it
over the image and take the sum of element-wise products (cross-correlation). Signs therefore read
as drawn: ``VERTICAL_EDGES`` is negative on the left and positive on the right, so it responds
positively where the image gets brighter from left to right.
"""

from __future__ import annotations

import torch


def _kernel(rows: list[list[float]], scale: float = 1.0) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32) * scale


IDENTITY = _kernel([[0, 0, 0], [0, 1, 0], [0, 0, 0]])
"""Copies the centre pixel: the output is the input (minus its one-pixel border)."""

BOX_BLUR = _kernel([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 1 / 9)
"""Mean of the 3x3 neighbourhood."""

GAUSSIAN_BLUR = _kernel([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 1 / 16)
"""Weighted mean that trusts the centre most: a smoother blur than the box."""

SHARPEN = _kernel([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
"""The pixel plus how much it differs from its four neighbours: edges get stronger."""

HORIZONTAL_EDGES = _kernel([[-1, -1, -1], [0, 0, 0], [1, 1, 1]])
"""Bottom row minus top row (Prewitt): large where the image changes from top to bottom."""

VERTICAL_EDGES = _kernel([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]])
"""Right column minus left column (Prewitt): large where the image changes from left to right."""

SOBEL_HORIZONTAL_EDGES = _kernel([[-1, -2, -1], [0, 0, 0], [1, 2, 1]])
"""Sobel's version of ``HORIZONTAL_EDGES``: the middle column counts twice."""

SOBEL_VERTICAL_EDGES = _kernel([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
"""Sobel's version of ``VERTICAL_EDGES``: the middle row counts twice."""

PRESETS: dict[str, torch.Tensor] = {
    "identity": IDENTITY,
    "box_blur": BOX_BLUR,
    "gaussian_blur": GAUSSIAN_BLUR,
    "sharpen": SHARPEN,
    "horizontal_edges": HORIZONTAL_EDGES,
    "vertical_edges": VERTICAL_EDGES,
    "sobel_horizontal_edges": SOBEL_HORIZONTAL_EDGES,
    "sobel_vertical_edges": SOBEL_VERTICAL_EDGES,
}
"""Every named kernel, by name (the names the kernel playground offers)."""


def get_kernel(name: str) -> torch.Tensor:
    """A fresh copy of the preset kernel called ``name`` (editing it leaves the preset alone)."""
    if name not in PRESETS:
        raise ValueError(f"unknown kernel {name!r}: choose one of {sorted(PRESETS)}")
    return PRESETS[name].clone()
