"""im2col drawn out (notebook 01): a convolution as one matrix product.

Every window of the image becomes one column of a matrix (``F.unfold``, "image to columns"), the
kernel becomes one row, and the row times the matrix gives one output number per window: the
feature map, read row by row. ``ops.conv2d`` computes the same product for many kernels and images.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mnist_tutorial.widgets.engine import NumberGrid

MAX_WINDOWS = 10  # the figure writes every number: beyond this many windows it is unreadable
WINDOW_COLOURS = plt.get_cmap("tab10").colors


def im2col_parts(image: torch.Tensor, kernel: torch.Tensor) -> dict[str, torch.Tensor]:
    """The matrices of the product for one 2-D image and one 2-D kernel: ``columns`` (one window
    per column), ``kernel_row``, their product ``outputs`` (one row) and ``output`` (the map)."""
    for name, value in (("image", image), ("kernel", kernel)):
        if not isinstance(value, torch.Tensor) or value.dim() != 2:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"{name} must be a 2-D tensor (height, width), got {shape}")
    if kernel.shape[0] > image.shape[0] or kernel.shape[1] > image.shape[1]:
        raise ValueError(f"the kernel {tuple(kernel.shape)} does not fit in the image "
                         f"{tuple(image.shape)}: use a smaller kernel")
    image, kernel = image.float(), kernel.float()
    columns = F.unfold(image[None, None], tuple(kernel.shape))[0]  # (kH * kW, windows)
    kernel_row = kernel.reshape(1, -1)
    outputs = kernel_row @ columns
    out_h, out_w = image.shape[0] - kernel.shape[0] + 1, image.shape[1] - kernel.shape[1] + 1
    return {"columns": columns, "kernel_row": kernel_row, "outputs": outputs,
            "output": outputs.reshape(out_h, out_w)}


def _outline(axes: Axes, row: float, column: float, height: float, width: float,
             colour: tuple[float, ...] | str, inset: float = 0.0) -> None:
    """Draw a ``height`` x ``width`` frame of cells from cell (row, column) on ``axes``, ``inset``
    cells inside their border (so that frames on the same cells stay apart)."""
    axes.add_patch(Rectangle((column - 0.5 + inset, row - 0.5 + inset), width - 2 * inset,
                             height - 2 * inset, fill=False, edgecolor=colour, linewidth=2.5,
                             clip_on=False))


def plot_im2col(image: torch.Tensor, kernel: torch.Tensor) -> Figure:
    """The input with its windows, the kernel as a row, the column matrix, their product and the
    output map; window k, column k and output k share one colour."""
    parts = im2col_parts(image, kernel)
    columns, output = parts["columns"], parts["output"]
    if columns.shape[1] > MAX_WINDOWS:
        raise ValueError(f"the image has {columns.shape[1]} windows; the figure writes every "
                         f"number and stays readable up to {MAX_WINDOWS}: use a smaller image")
    (kh, kw), (out_h, out_w), windows = kernel.shape, output.shape, columns.shape[1]
    figure, axes = plt.subplots(1, 5, figsize=(16, 4.6), layout="constrained",
                                width_ratios=[max(width, 3) for width in
                                              (image.shape[1], kh * kw, windows, windows, out_w)])
    panels = [(image, "1. input x,\nits windows outlined", ("column", "row")),
              (parts["kernel_row"], f"2. kernel w as one row\n(1x{kh * kw})",
               ("position in the kernel", "")),
              (columns, f"3. im2col matrix ({kh * kw}x{windows}):\nwindow k is column k",
               ("column = window", "position in the window")),
              (parts["outputs"], f"4. row 2 @ matrix 3:\none output per window (1x{windows})",
               ("column = window", "")),
              (output, f"5. row 4 reshaped:\nthe feature map ({out_h}x{out_w})", ("column", "row"))]
    for ax, (values, title, labels) in zip(axes, panels):
        grid = NumberGrid(ax, "Blues", ticks_up_to=MAX_WINDOWS, labels=labels)
        low, high = float(values.min()), float(values.max())
        grid.show(values, low, high + 0.3 * (high - low))  # light colours: the numbers read well
        ax.set_title(title)
    axes[1].set_yticks([])
    axes[3].set_yticks([])
    for window in range(windows):
        colour = WINDOW_COLOURS[window % len(WINDOW_COLOURS)]
        row, column = divmod(window, out_w)
        _outline(axes[0], row, column, kh, kw, colour, inset=0.06 * (window % 4))
        _outline(axes[2], 0, window, kh * kw, 1, colour, inset=0.04)
        _outline(axes[3], 0, window, 1, 1, colour, inset=0.04)
        _outline(axes[4], row, column, 1, 1, colour, inset=0.04)
    figure.suptitle("im2col: every window becomes a column, so the whole convolution is one "
                    "matrix product")
    return figure
