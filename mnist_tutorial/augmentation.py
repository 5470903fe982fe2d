"""Data augmentation on whole batches of tensors: small random shifts and affine transforms.

A digit moved two pixels to the left, turned by ten degrees or drawn a little larger is still the
same digit. Showing the network such variants of the training images (a new variant every epoch)
teaches it that these changes do not matter, which is knowledge it would otherwise have to guess
from 60,000 examples. Everything here works on a whole batch ``(N, C, H, W)`` at once, on the
batch's device, with no per-image Python loop and no PIL.

Images are normalised, so the background is not 0 but ``background(dataset)`` (the value a black
pixel takes after ``Normalize``); pixels moved in from outside the image get that value.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mnist_tutorial.data import NORMALIZATION


def background(dataset: str = "mnist") -> float:
    """The normalised value of a black pixel: ``(0 - mean) / std``."""
    if dataset not in NORMALIZATION:
        raise ValueError(f"unknown dataset {dataset!r}: choose one of {sorted(NORMALIZATION)}")
    mean, std = NORMALIZATION[dataset]
    return -mean / std


def _check_images(images: torch.Tensor) -> None:
    if images.dim() != 4:
        raise ValueError(f"images must be a batch (N, C, H, W), got shape {tuple(images.shape)}")


def translate(images: torch.Tensor, shifts: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Move image ``n`` by ``shifts[n] = (down, right)`` whole pixels, filling with ``fill``.

    How: pad every image by the largest shift on each side, then cut out a window that starts
    ``shift`` pixels away from the centre: one indexing operation for the whole batch.
    """
    _check_images(images)
    n, _, height, width = images.shape
    if shifts.shape != (n, 2) or shifts.dtype.is_floating_point:
        raise ValueError(f"shifts must be integers of shape ({n}, 2) (down, right), "
                         f"got {shifts.dtype} of shape {tuple(shifts.shape)}")
    pad = int(shifts.abs().max()) if n else 0
    padded = F.pad(images, (pad, pad, pad, pad), value=fill)
    shifts = shifts.to(images.device)
    rows = pad - shifts[:, 0, None] + torch.arange(height, device=images.device)  # (N, H)
    cols = pad - shifts[:, 1, None] + torch.arange(width, device=images.device)  # (N, W)
    batch = torch.arange(n, device=images.device)[:, None, None]
    # padded[b, :, rows[b, i], cols[b, j]] for every b, i, j; advanced indexing puts C last
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]] \
        .permute(0, 3, 1, 2).contiguous(memory_format=_layout(images))


def affine_matrices(angles: torch.Tensor, scales: torch.Tensor,
                    shifts: torch.Tensor) -> torch.Tensor:
    """``(N, 2, 3)`` matrices for ``F.affine_grid``: turn by ``angles`` degrees, zoom, move.

    ``shifts`` are fractions of the image size (0.1 = a tenth of the width). ``affine_grid`` maps
    output positions to input positions, so the matrix is the inverse of the wanted motion.
    """
    if not angles.shape == scales.shape == shifts.shape[:1] or shifts.shape[1:] != (2,):
        raise ValueError(f"need angles (N,), scales (N,) and shifts (N, 2), got "
                         f"{tuple(angles.shape)}, {tuple(scales.shape)}, {tuple(shifts.shape)}")
    radians = angles * (math.pi / 180)
    cos, sin = torch.cos(radians) / scales, torch.sin(radians) / scales
    # inverse of: scale, rotate (counter-clockwise on screen), then shift by (down, right)
    down, right = 2 * shifts[:, 0], 2 * shifts[:, 1]  # affine_grid's coordinates span [-1, 1]
    matrices = torch.stack([
        torch.stack([cos, -sin, -(cos * right - sin * down)], dim=1),
        torch.stack([sin, cos, -(sin * right + cos * down)], dim=1),
    ], dim=1)
    return matrices


def affine(images: torch.Tensor, matrices: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Resample every image through its ``(2, 3)`` matrix (bilinear), filling with ``fill``.

    ``grid_sample`` fills with zeros, so the background is subtracted first and added back after.
    """
    _check_images(images)
    if matrices.shape != (len(images), 2, 3):
        raise ValueError(f"matrices must have shape ({len(images)}, 2, 3), "
                         f"got {tuple(matrices.shape)}")
    grid = F.affine_grid(matrices.to(images), list(images.shape), align_corners=False)
    moved = F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False)
    return (moved + fill).contiguous(memory_format=_layout(images))


def _layout(images: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if images.is_contiguous(memory_format=torch.channels_last) \
        and not images.is_contiguous() else torch.contiguous_format


def _uniform(n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
    return torch.rand(n).mul(high - low).add(low).to(device)  # drawn on the CPU: same on any device


class RandomShift:
    """A callable for ``fit(augment=...)``: move each image by up to ``max_shift`` whole pixels."""

    def __init__(self, max_shift: int = 2, fill: float = background("mnist")) -> None:
        if not isinstance(max_shift, int) or max_shift < 0:
            raise ValueError(f"max_shift must be a whole number of pixels >= 0, got {max_shift!r}")
        self.max_shift, self.fill = max_shift, fill

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """A new random shift for every image, drawn from PyTorch's global generator."""
        shifts = torch.randint(-self.max_shift, self.max_shift + 1, (len(images), 2))
        return translate(images, shifts, self.fill)

    def __repr__(self) -> str:
        return f"RandomShift(max_shift={self.max_shift})"


class RandomAffine:
    """A callable for ``fit(augment=...)``: turn, zoom and move each image a little, at random.

    ``degrees``: largest turn either way; ``scale``: largest relative zoom (0.1 = 90 % to 110 %);
    ``translate``: largest move as a fraction of the image size, along each axis.
    """

    def __init__(self, degrees: float = 10.0, scale: float = 0.1, translate: float = 0.1,
                 fill: float = background("mnist")) -> None:
        if degrees < 0 or not 0 <= scale < 1 or not 0 <= translate < 1:
            raise ValueError(f"need degrees >= 0, 0 <= scale < 1 and 0 <= translate < 1, got "
                             f"degrees={degrees}, scale={scale}, translate={translate}")
        self.degrees, self.scale, self.translate, self.fill = degrees, scale, translate, fill

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """A new random transform for every image, drawn from PyTorch's global generator."""
        n, device = len(images), images.device
        angles = _uniform(n, -self.degrees, self.degrees, device)
        scales = _uniform(n, 1 - self.scale, 1 + self.scale, device)
        shifts = torch.stack([_uniform(n, -self.translate, self.translate, device)
                              for _ in range(2)], dim=1)
        return affine(images, affine_matrices(angles, scales, shifts), self.fill)

    def __repr__(self) -> str:
        return (f"RandomAffine(degrees={self.degrees}, scale={self.scale}, "
                f"translate={self.translate})")
