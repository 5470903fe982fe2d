"""im2col drawn out (notebook 01): a convolution as one matrix product.

Every window of the image becomes one column of a matrix (``F.unfold``, "image to columns"), the
kernel becomes one row, and the row times the matrix gives one output number per window: the
feature map, read row by row. ``ops.conv2d`` computes the same product for many kernels and images.
``plotting.plot_im2col`` draws it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


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
