"""Padding and stride: where the kernel's window goes, and how often it sees each pixel.

Positions are on the *padded* grid: an input of ``size`` x ``size`` pixels with ``padding`` rows
and columns of zeros added on every side. The window's top-left corner starts at (0, 0) and moves
``stride`` pixels to the right, then ``stride`` rows down, as long as the whole window fits.
"""

from __future__ import annotations

import torch

from mnist_tutorial.ops import conv_output_size


def window_positions(size: int, kernel: int, padding: int = 0,
                     stride: int = 1) -> list[tuple[int, int]]:
    """Top-left corners (row, column) of every window on the padded grid, in visiting order."""
    steps = conv_output_size(size, kernel, padding, stride)
    return [(row * stride, column * stride) for row in range(steps) for column in range(steps)]


def coverage_counts(size: int, kernel: int, padding: int = 0, stride: int = 1) -> torch.Tensor:
    """How many windows cover each input pixel: a (size, size) tensor of counts."""
    padded = torch.zeros(size + 2 * padding, size + 2 * padding, dtype=torch.int64)
    for row, column in window_positions(size, kernel, padding, stride):
        padded[row:row + kernel, column:column + kernel] += 1
    return padded[padding:padding + size, padding:padding + size]  # drop the padding
