"""Receptive fields: how many input pixels one value of a stack of convolutions and poolings sees.

A stack is described from the input to the output as ``(kernel_size, stride)`` pairs, one per
layer (square kernels, no padding; ReLU and the like change no positions and are left out).
Going through the stack from the input, the field ``r`` grows by ``(k - 1) * j`` at each layer,
where the *jump* ``j`` is how many input pixels lie between two neighbouring values of the layer
before; then the layer's stride multiplies the jump:

    r_out = r_in + (k - 1) * j_in,    j_out = j_in * s,    starting from r = j = 1.

``measured_receptive_field`` finds the same number without the formula, with autograd.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

Layer = tuple[int, int]  # (kernel_size, stride)
# the blog post's network up to its last pooling: conv1 5x5, max-pool 2, conv2 5x5, max-pool 2
BLOG_NET_LAYERS: tuple[Layer, ...] = ((5, 1), (2, 2), (5, 1), (2, 2))
CONV2_LAYERS = BLOG_NET_LAYERS[:3]  # conv1, the first pooling, conv2: what a conv2 output sees


def _checked(layers: Sequence[Layer]) -> list[Layer]:
    """The layers as a list of int pairs; a clear ValueError for anything else."""
    try:
        layers = list(layers)
    except TypeError:
        raise ValueError(f"layers is {layers!r}: give a list of (kernel_size, stride) pairs from "
                         f"the input to the output, e.g. [(5, 1), (2, 2)]") from None
    checked = []
    for position, layer in enumerate(layers):
        try:
            kernel_size, stride = layer
        except (TypeError, ValueError):
            raise ValueError(f"layer {position} is {layer!r}: give every layer as a pair "
                             f"(kernel_size, stride), e.g. (5, 1)") from None
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                   for v in (kernel_size, stride)):
            raise ValueError(f"layer {position} is {layer!r}: kernel_size and stride must be "
                             f"positive whole numbers, e.g. (5, 1)")
        checked.append((kernel_size, stride))
    return checked


def receptive_field(layers: Sequence[Layer]) -> int:
    """Side, in input pixels, of the square one output value of the stack depends on."""
    size, jump = 1, 1
    for kernel_size, stride in _checked(layers):
        size += (kernel_size - 1) * jump
        jump *= stride
    return size


def input_jump(layers: Sequence[Layer]) -> int:
    """Input pixels between two neighbouring output values: the product of the strides."""
    return math.prod(stride for _, stride in _checked(layers))


def input_window(layers: Sequence[Layer], index: int) -> slice:
    """The input rows (or columns) that output row (or column) ``index`` sees, as a slice."""
    if not (isinstance(index, int) and index >= 0):
        raise ValueError(f"index must be a whole number >= 0 (an output row or column), "
                         f"got {index!r}")
    start = index * input_jump(layers)
    return slice(start, start + receptive_field(layers))


def conv2_field_box(cell: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right), end exclusive, of the input pixels conv2's output ``cell``
    sees."""
    rows, columns = (input_window(CONV2_LAYERS, index) for index in cell)
    return rows.start, columns.start, rows.stop, columns.stop


def measured_receptive_field(layers: Sequence[Layer]) -> int:
    """The receptive field found by autograd instead of the formula: the stack is built from
    average poolings (every input of a window gets a gradient) and one output value is
    differentiated; the input pixels with a non-zero gradient are the ones it sees, and the
    field is their span, from the first to the last (a stride larger than its kernel leaves
    gaps inside it)."""
    layers = _checked(layers)
    length = receptive_field(layers) + input_jump(layers)  # room for at least one output
    x = torch.ones(1, 1, length, dtype=torch.float64, requires_grad=True)
    y = x
    for kernel_size, stride in layers:
        y = F.avg_pool1d(y, kernel_size, stride)
    y[0, 0, 0].backward()
    seen = x.grad[0, 0].nonzero().flatten()
    return int(seen[-1] - seen[0]) + 1
