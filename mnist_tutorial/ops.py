"""Convolution, padding and pooling written from scratch, checked against
``torch.nn.functional``; their backward passes, checked against autograd.

Every function here is lesson code, the idea in a few plain lines, and reads its arguments in
one form: images as a batch (N, C, H, W), kernel size, stride and padding as (height, width)
pairs. The last block of the module wraps each in its argument checks
(``mnist_tutorial.op_checks``), so that the public function takes the same arguments and dtypes
as its PyTorch twin (ints or pairs, one (C, H, W) image too) and gives the same numbers; what
PyTorch refuses (bool or mixed dtypes, say), it refuses too, saying how to fix it:

- ``conv2d_loops``: the convolution as plain loops, the version to read first;
- ``conv2d``: the same result from a matrix product (im2col), fast enough to train with;
- ``pad2d``, ``max_pool2d``, ``avg_pool2d`` (with loop versions ``max_pool2d_loops`` and
  ``avg_pool2d_loops``) and the output-size formula ``conv_output_size``;
- the backward passes of notebook 06, each equal to autograd's gradients: ``conv2d_backward``,
  ``max_pool2d_backward``, ``avg_pool2d_backward``, ``relu_backward``, ``linear_backward`` and
  ``cross_entropy_backward``.

Like PyTorch, "convolution" here is cross-correlation: the kernel is slid over the input as it
is, never flipped.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mnist_tutorial.op_checks import (
    checked_conv,
    checked_conv_backward,
    checked_cross_entropy_backward,
    checked_linear_backward,
    checked_output_size,
    checked_pad,
    checked_pool,
    checked_pool_backward,
    checked_relu_backward,
)

Pair = tuple[int, int]  # (height, width)


def conv_output_size(n: int, kernel: int, padding: int = 0, stride: int = 1) -> int:
    """Output length along one axis: ``(n + 2 * padding - kernel) // stride + 1``."""
    return (n + 2 * padding - kernel) // stride + 1


def pad2d(x: torch.Tensor, padding: Pair, value: float = 0.0) -> torch.Tensor:
    """Add ``padding`` rows above and below and columns left and right, filled with ``value``."""
    (ph, pw), (height, width) = padding, x.shape[-2:]
    padded = x.new_full((*x.shape[:-2], height + 2 * ph, width + 2 * pw), value)
    padded[..., ph:ph + height, pw:pw + width] = x
    return padded


def lowest_value(dtype: torch.dtype) -> float:
    """The lowest value there is (-inf, or the integer type's minimum): max pooling's padding,
    which never wins."""
    return float("-inf") if dtype.is_floating_point else torch.iinfo(dtype).min


def conv2d_loops(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                 stride: Pair = (1, 1), padding: Pair = (0, 0)) -> torch.Tensor:
    """Cross-correlation with plain loops: one window, one kernel, one output number at a time."""
    (sh, sw), (kh, kw) = stride, weight.shape[-2:]
    x = pad2d(x, padding)
    out_h, out_w = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = x.new_zeros(x.shape[0], weight.shape[0], out_h, out_w)
    for n in range(x.shape[0]):                    # every image
        for o in range(weight.shape[0]):           # every kernel makes one output channel
            for i in range(out_h):                 # every window position, row by row
                for j in range(out_w):
                    window = x[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]  # all channels
                    # multiply each channel by the kernel's matching channel, add everything
                    out[n, o, i, j] = (window * weight[o]).sum()
            if bias is not None:
                out[n, o] += bias[o]
    return out


def _windows(x: torch.Tensor, kernel: Pair, stride: Pair, padding: Pair,
             fill: float = 0.0) -> torch.Tensor:
    """A (N, C, out_h, out_w, kH, kW) view of every window of x (N, C, H, W) padded with ``fill``.

    ``as_strided`` copies nothing: the next window starts ``stride`` pixels further in memory.
    """
    if any(padding):
        x = pad2d(x, padding, fill)
    (kh, kw), (sh, sw) = kernel, stride
    out_h, out_w = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    n, c, h, w = x.stride()
    return x.as_strided((*x.shape[:2], out_h, out_w, kh, kw), (n, c, h * sh, w * sw, h, w))


# What makes conv2d fast (benchmarks/conv_speed.py measures it): im2col copies every window into
# a column, for 1,000 digits and 5x5 kernels 25 times the input: 58 MB. Copied in one go, such a
# buffer is fresh memory at every call, which the operating system hands over page by page, and
# the matrix product then reads it back from main memory: that costs more than the arithmetic.
# Copied a few images at a time, each piece (4 MB) reuses memory and is still in the CPU's cache
# when the product reads it. Much smaller pieces mean many small steps, each of which makes the
# CPU threads wait for one another; adding the bias inside the product saves one more step.
COLUMNS_PER_PRODUCT = 1 << 20


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride: Pair = (1, 1), padding: Pair = (0, 0)) -> torch.Tensor:
    """Cross-correlation as a matrix product: every window becomes one column (im2col)."""
    # (N, C, kH, kW, out_h, out_w), still a view: per image, C*kH*kW numbers for every window
    columns = _windows(x, weight.shape[-2:], stride, padding).permute(0, 1, 4, 5, 2, 3)
    out_h, out_w = columns.shape[-2:]
    kernels = weight.reshape(len(weight), -1)  # (O, C*kH*kW): one row per kernel
    if bias is None:
        bias = weight.new_zeros(len(weight))
    images_per_product = max(1, COLUMNS_PER_PRODUCT // max(1, columns.shape[1:].numel()))
    pieces = []
    for images in columns.split(images_per_product):  # a few images at a time
        matrix = images.reshape(len(images), kernels.shape[1], out_h * out_w)  # the im2col copy
        # bias + kernels @ matrix for each image, (images, O, out_h * out_w), in one step
        pieces.append(torch.baddbmm(bias[:, None], kernels.expand(len(images), -1, -1), matrix))
    return torch.cat(pieces).view(len(x), len(weight), out_h, out_w)


def max_pool2d(x: torch.Tensor, kernel_size: Pair, stride: Pair, padding: Pair) -> torch.Tensor:
    """The largest value in each window; padding is the lowest value there is, so it never
    wins."""
    windows = _windows(x, kernel_size, stride, padding, fill=lowest_value(x.dtype))
    return windows.amax(dim=(-2, -1))


def avg_pool2d(x: torch.Tensor, kernel_size: Pair, stride: Pair, padding: Pair) -> torch.Tensor:
    """The mean of each window; padded zeros count (PyTorch's ``count_include_pad=True``); on
    int64, as PyTorch, the sum divided by the window size rounded toward zero."""
    windows = _windows(x, kernel_size, stride, padding)
    if x.is_floating_point():
        return windows.mean(dim=(-2, -1))
    return windows.sum(dim=(-2, -1)).div(kernel_size[0] * kernel_size[1], rounding_mode="trunc")


def pool2d_loops(x: torch.Tensor, kernel_size: Pair, stride: Pair,
                 pool_window: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Pooling with plain loops: slide a window over each channel of each (padded) image and
    turn every window into one number with ``pool_window``."""
    (kh, kw), (sh, sw) = kernel_size, stride
    out_h, out_w = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = x.new_zeros(x.shape[0], x.shape[1], out_h, out_w)
    for n in range(x.shape[0]):                  # every image
        for c in range(x.shape[1]):              # every channel, on its own
            for i in range(out_h):               # every window position, row by row
                for j in range(out_w):
                    window = x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    out[n, c, i, j] = pool_window(window)
    return out


def max_pool2d_loops(x: torch.Tensor, kernel_size: Pair, stride: Pair,
                     padding: Pair) -> torch.Tensor:
    """Max pooling with plain loops: each window's largest number."""
    x = pad2d(x, padding, lowest_value(x.dtype))  # so that the padding is never the largest
    return pool2d_loops(x, kernel_size, stride, lambda window: window.max())


def avg_pool2d_loops(x: torch.Tensor, kernel_size: Pair, stride: Pair,
                     padding: Pair) -> torch.Tensor:
    """Average pooling with plain loops; padded zeros count in the mean, as in PyTorch."""
    x = pad2d(x, padding)  # zeros
    size = kernel_size[0] * kernel_size[1]
    # int64, as PyTorch: the sum divided by the window size, rounded toward zero
    rounding = None if x.is_floating_point() else "trunc"
    return pool2d_loops(x, kernel_size, stride,
                        lambda window: window.sum().div(size, rounding_mode=rounding))


# --- the backward pass: the gradient of the loss with respect to each op's inputs ----------------
# Each ``*_backward`` takes the forward pass's inputs and ``grad_output``, the gradient of the loss
# with respect to the op's output (one number per output number), and returns the gradients with
# respect to the inputs, as autograd would. Floating-point tensors only, as autograd.

def windows_to_pixels(windows: torch.Tensor, size: Pair, stride: Pair,
                      padding: Pair) -> torch.Tensor:
    """The way back from ``_windows``: add the numbers of every window (N, C, out_h, out_w, kH, kW)
    into the pixels they came from, (N, C, H, W) of ``size``; what lands on the padding is dropped.

    Windows overlap when the stride is smaller than the kernel: a pixel in several windows gets
    the sum of their numbers. One step per kernel position, all windows at once.
    """
    n, c, out_h, out_w, kh, kw = windows.shape
    (sh, sw), (ph, pw) = stride, padding
    padded = windows.new_zeros(n, c, size[0] + 2 * ph, size[1] + 2 * pw)
    for i in range(kh):
        for j in range(kw):  # the pixel i rows down, j columns right of every window's corner
            padded[:, :, i:i + sh * out_h:sh, j:j + sw * out_w:sw] += windows[..., i, j]
    return padded[:, :, ph:ph + size[0], pw:pw + size[1]]


def conv2d_backward(x: torch.Tensor, weight: torch.Tensor, grad_output: torch.Tensor,
                    stride: Pair = (1, 1), padding: Pair = (0, 0), input_grad: bool = True
                    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """``(grad_x, grad_weight, grad_bias)`` of ``conv2d(x, weight, bias, stride, padding)``;
    ``input_grad=False`` skips grad_x (None), as autograd does for an input such as the images."""
    n, o, out_h, out_w = grad_output.shape
    grads = grad_output.reshape(n, o, out_h * out_w)
    grad_bias = grads.sum(dim=(0, 2))  # bias[o] is added once to every number of channel o
    # weight: weight[o, c, i, j] met pixel (i, j) of every window of channel c in output channel
    # o: the output gradient times the windows as columns (conv2d's im2col matrix), summed
    windows = _windows(x, weight.shape[-2:], stride, padding).permute(0, 1, 4, 5, 2, 3)
    columns = windows.reshape(n, -1, out_h * out_w)  # (N, C*kH*kW, out_h*out_w)
    grad_weight = torch.bmm(grads, columns.transpose(1, 2)).sum(0).view(weight.shape)
    if not input_grad:
        return None, grad_weight, grad_bias
    # input: output (p, q) of channel o was sum(window * weight[o]), so it sends
    # grad_output[n, o, p, q] * weight[o] back to the pixels of its window; overlaps add up
    grad_columns = weight.reshape(o, -1).T @ grads  # (N, C*kH*kW, out_h*out_w), as the columns
    grad_windows = grad_columns.view(windows.shape).permute(0, 1, 4, 5, 2, 3)
    return windows_to_pixels(grad_windows, x.shape[-2:], stride, padding), grad_weight, grad_bias


def max_pool2d_backward(x: torch.Tensor, kernel_size: Pair, grad_output: torch.Tensor,
                        stride: Pair, padding: Pair) -> torch.Tensor:
    """Gradient of ``max_pool2d(x, kernel_size, stride, padding)``: each window's gradient goes to
    its largest pixel only; on a tie, to the first in reading order (PyTorch's rule)."""
    windows = _windows(x, kernel_size, stride, padding, fill=lowest_value(x.dtype))
    # the winner: the window's largest pixel; on a tie the first, row by row, as argmax picks it
    winner = windows.flatten(-2).argmax(-1)
    positions = torch.arange(kernel_size[0] * kernel_size[1], device=x.device).view(kernel_size)
    # each window's gradient goes to its winner only, then back to the pixel it came from
    grad_windows = torch.where(winner[..., None, None] == positions,
                               grad_output[..., None, None], 0.0)
    return windows_to_pixels(grad_windows, x.shape[-2:], stride, padding)


def avg_pool2d_backward(x: torch.Tensor, kernel_size: Pair, grad_output: torch.Tensor,
                        stride: Pair, padding: Pair) -> torch.Tensor:
    """Gradient of ``avg_pool2d(x, kernel_size, stride, padding)``: each window's gradient is
    spread evenly, 1 / (kH * kW) to each of its pixels (padding included, then dropped)."""
    kh, kw = kernel_size
    share = (grad_output / (kh * kw))[..., None, None].expand(*grad_output.shape, kh, kw)
    return windows_to_pixels(share, x.shape[-2:], stride, padding)


def relu_backward(x: torch.Tensor, grad_output: torch.Tensor) -> torch.Tensor:
    """Gradient of ``relu(x)``: passed where x > 0, zero elsewhere (at 0 too, as PyTorch)."""
    return torch.where(x > 0, grad_output, torch.zeros_like(grad_output))


def linear_backward(x: torch.Tensor, weight: torch.Tensor, grad_output: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(grad_x, grad_weight, grad_bias)`` of ``x @ weight.T + bias`` for x (N, in) and weight
    (out, in)."""
    # out[n, o] = sum over i of x[n, i] * weight[o, i] + bias[o]
    return grad_output @ weight, grad_output.T @ x, grad_output.sum(dim=0)


def cross_entropy_backward(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Gradient of ``F.cross_entropy(scores, labels)`` (the batch mean) with respect to the scores:
    ``(softmax(scores) - one_hot(labels)) / N``."""
    exp = (scores - scores.amax(dim=1, keepdim=True)).exp()  # minus the max: same softmax, no inf
    probabilities = exp / exp.sum(dim=1, keepdim=True)
    one_hot = torch.zeros_like(scores)
    one_hot[torch.arange(len(scores)), labels] = 1.0
    return (probabilities - one_hot) / len(scores)


# --- the public functions: each lesson function above behind its argument checks ------------------
conv_output_size = checked_output_size(conv_output_size)
pad2d = checked_pad(pad2d)
conv2d_loops = checked_conv(conv2d_loops)
conv2d = checked_conv(conv2d)
max_pool2d = checked_pool(max_pool2d)
avg_pool2d = checked_pool(avg_pool2d)
max_pool2d_loops = checked_pool(max_pool2d_loops)
avg_pool2d_loops = checked_pool(avg_pool2d_loops)
conv2d_backward = checked_conv_backward(conv2d_backward)
max_pool2d_backward = checked_pool_backward(max_pool2d_backward)
avg_pool2d_backward = checked_pool_backward(avg_pool2d_backward)
relu_backward = checked_relu_backward(relu_backward)
linear_backward = checked_linear_backward(linear_backward)
cross_entropy_backward = checked_cross_entropy_backward(cross_entropy_backward)
