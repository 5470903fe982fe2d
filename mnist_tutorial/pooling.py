"""Pooling and small shifts (notebook 03): how much a feature map changes when the digit moves by a
pixel or two, with and without pooling.

Shifts move the content of an image ``(down, right)`` whole pixels; pixels moved in from outside
get the background value of normalised MNIST (``augmentation.background()``).
"""

from __future__ import annotations

import torch

from mnist_tutorial.augmentation import background, translate
from mnist_tutorial.ops import avg_pool2d, conv2d, max_pool2d

POOLING_OPS = {"max": max_pool2d, "avg": avg_pool2d}  # the pooling function of each kind


def feature_map(images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """ReLU of the convolution of images (N, 1, H, W) with one 2-D kernel: (N, 1, H', W')."""
    if kernel.dim() != 2:
        raise ValueError(f"kernel must be one 2-D matrix (kH, kW), got shape {tuple(kernel.shape)}")
    return torch.relu(conv2d(images, kernel[None, None]))


def relative_change(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Per image: ``||after - before|| / ||before||`` (0 = unchanged, 1 = as big as the map)."""
    if before.shape != after.shape:
        raise ValueError(f"before and after must have the same shape, got {tuple(before.shape)} "
                         f"and {tuple(after.shape)}")
    size = before.flatten(1).norm(dim=1)
    if (size == 0).any():
        raise ValueError(f"the 'before' map of image {int((size == 0).nonzero()[0])} is all zeros: "
                         f"a change relative to nothing is undefined")
    return (after - before).flatten(1).norm(dim=1) / size


def shift_change(images: torch.Tensor, kernel: torch.Tensor, shift: tuple[int, int],
                 kind: str | None = None, size: int = 2, stride: int | None = None,
                 fill: float = background()) -> float:
    """Mean relative change of the feature map (pooled with ``kind`` unless None) when every
    image moves by ``shift = (down, right)`` pixels."""
    if kind is not None and kind not in POOLING_OPS:
        raise ValueError(f"kind must be None (no pooling) or one of {list(POOLING_OPS)}, "
                         f"got {kind!r}")
    shifts = torch.tensor([shift] * len(images))

    def response(x: torch.Tensor) -> torch.Tensor:
        maps = feature_map(x, kernel)
        return maps if kind is None else POOLING_OPS[kind](maps, size, stride)

    moved = translate(images, shifts, fill)
    return relative_change(response(images), response(moved)).mean().item()
