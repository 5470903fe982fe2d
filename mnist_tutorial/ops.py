"""Convolution, padding and pooling written from scratch, checked against
``torch.nn.functional``; their backward passes, checked against autograd.

Every forward function takes the same arguments and dtypes as its PyTorch twin and gives the
same numbers; what PyTorch refuses (bool or mixed dtypes, say), they refuse too, saying how to
fix it:

- ``conv2d_loops``: the convolution as plain loops, the version to read first;
- ``conv2d``: the same result from a matrix product (im2col), fast enough to train with;
- ``pad2d``, ``max_pool2d``, ``avg_pool2d`` (with loop versions ``max_pool2d_loops`` and
  ``avg_pool2d_loops``) and the output-size formula ``conv_output_size``;
- the backward passes of notebook 06, each equal to autograd's gradients: ``conv2d_backward``,
  ``max_pool2d_backward``, ``avg_pool2d_backward``, ``relu_backward``, ``linear_backward`` and
  ``cross_entropy_backward``.

Like PyTorch, "convolution" here is cross-correlation: the kernel is slid over the input as it
is, never flipped. Images are (N, C, H, W) batches or single (C, H, W) images.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable

import torch

IntOrPair = int | tuple[int, int]


def _int(value: int, name: str) -> int:
    """``value`` as a Python int (numpy and torch integers too); anything else is a ValueError."""
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an int, got {value!r}") from None


def _pair(value: IntOrPair, name: str) -> tuple[int, int]:
    """``3 -> (3, 3)``, ``(1, 2) -> (1, 2)``; anything else is a ValueError."""
    if not isinstance(value, (tuple, list)):
        return _int(value, name), _int(value, name)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints (height, width), "
                         f"got {value!r}")
    return _int(value[0], name), _int(value[1], name)


def _check_padding(padding: int, where: str) -> None:
    if padding < 0:
        raise ValueError(f"padding must be zero or positive, got {padding}{where}: "
                         f"it is the number of rows/columns added on each side")


def _output_size(n: int, kernel: int, padding: int, stride: int, axis: str = "") -> int:
    """The output-size formula, after checking stride, padding and that the kernel fits."""
    where = f" along the {axis}" if axis else ""
    if stride <= 0:
        raise ValueError(f"stride must be positive, got {stride}{where}: "
                         f"the window moves at least one pixel per step")
    _check_padding(padding, where)
    if kernel > n + 2 * padding:
        raise ValueError(f"the kernel ({kernel}) is larger than the padded input "
                         f"({n} + 2 x {padding} = {n + 2 * padding}){where}: the kernel must fit "
                         f"inside the padded input; use a smaller kernel or more padding")
    return (n + 2 * padding - kernel) // stride + 1


def conv_output_size(n: int, kernel: int, padding: int = 0, stride: int = 1) -> int:
    """Output length along one axis: ``(n + 2 * padding - kernel) // stride + 1``."""
    n, kernel = _int(n, "input size n"), _int(kernel, "kernel size")
    padding, stride = _int(padding, "padding"), _int(stride, "stride")
    if n < 1 or kernel < 1:
        raise ValueError(f"input size and kernel size must be at least 1, got n={n}, "
                         f"kernel={kernel}")
    return _output_size(n, kernel, padding, stride)


INTEGERS = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# the dtypes each op accepts: those its torch.nn.functional twin accepts on the CPU
DTYPES = {"conv2d": (*FLOATS, *INTEGERS, torch.complex32, torch.complex64, torch.complex128),
          "max_pool2d": (*FLOATS, *INTEGERS), "avg_pool2d": (*FLOATS, torch.int64)}


def _check_tensor(op: str, value: object, name: str) -> None:
    """``value`` must be a tensor; a numpy array or a list is a TypeError saying how to convert."""
    if not isinstance(value, torch.Tensor):
        kind = type(value).__qualname__
        if type(value).__module__ != "builtins":
            kind = f"{type(value).__module__}.{kind}"
        raise TypeError(f"{op} expected a torch.Tensor as {name}, got {kind}: convert with "
                        f"torch.as_tensor({name})")


def _check_dtype(op: str, twin: str, x: torch.Tensor) -> None:
    """``x.dtype`` must be one that ``F.<twin>`` accepts; anything else is a TypeError."""
    if x.dtype not in DTYPES[twin]:
        raise TypeError(f"{op} does not work on {x.dtype} tensors, and neither does F.{twin}: "
                        f"convert the input first, e.g. x.float()")


def _check_input(op: str, x: torch.Tensor) -> None:
    """The input must be a tensor, a batch (N, C, H, W) or one image (C, H, W)."""
    _check_tensor(op, x, "x")
    if x.dim() not in (3, 4):
        hint = " (for one matrix, add the channel axis: x[None])" if x.dim() == 2 else ""
        raise ValueError(f"{op} expects an input of shape (N, C, H, W) or (C, H, W), got "
                         f"{x.dim()} dimensions, shape {tuple(x.shape)}{hint}")


def _check_window(op: str, x: torch.Tensor, kernel: IntOrPair, stride: IntOrPair,
                  padding: IntOrPair) -> tuple[torch.Tensor, bool, tuple[int, int],
                                               tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Validate a sliding-window op; return (4-d input, was it unbatched, kernel, stride,
    padding, output height and width)."""
    _check_input(op, x)
    kernel = _pair(kernel, "kernel size")
    if min(kernel) < 1:
        raise ValueError(f"the kernel size must be at least 1, got {kernel}")
    stride, padding = _pair(stride, "stride"), _pair(padding, "padding")
    out = tuple(_output_size(n, k, p, s, axis) for n, k, p, s, axis in
                zip(x.shape[-2:], kernel, padding, stride, ("height", "width")))
    return (x if x.dim() == 4 else x.unsqueeze(0)), x.dim() == 3, kernel, stride, padding, out


def _check_conv(op: str, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                stride: IntOrPair, padding: IntOrPair):
    """``_check_window`` plus the kernel's rules: its shape, its channels, the bias' shape, and
    one dtype for all (as ``F.conv2d``, which refuses bool and mixed dtypes)."""
    _check_input(op, x)
    _check_tensor(op, weight, "weight")
    if bias is not None:
        _check_tensor(op, bias, "bias")
    if weight.dim() != 4:
        hint = (" (for one 2-d kernel, add the two channel axes: weight[None, None])"
                if weight.dim() == 2 else "")
        raise ValueError(f"{op} expects a weight of shape (out_channels, in_channels, kH, kW), "
                         f"got {weight.dim()} dimensions, shape {tuple(weight.shape)}{hint}")
    if weight.shape[1] != x.shape[-3]:
        raise ValueError(f"the input has {x.shape[-3]} channels but the kernel has "
                         f"{weight.shape[1]}: a kernel must have as many channels as its input "
                         f"(weight.shape[1] == x.shape[-3])")
    if len(weight) == 0:
        raise ValueError(f"the weight holds no kernels, shape {tuple(weight.shape)}: {op} needs at "
                         f"least one kernel (weight.shape[0] >= 1), as F.conv2d does")
    _check_dtype(op, "conv2d", x)
    for name, tensor in (("weight", weight), ("bias", bias)):
        if tensor is not None and tensor.dtype != x.dtype:
            raise TypeError(f"{op}: x is {x.dtype} but {name} is {tensor.dtype}: the input, weight "
                            f"and bias must have one dtype (F.conv2d refuses mixed dtypes too); "
                            f"convert with {name}.to(x.dtype)")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"bias must have one value per output channel, shape "
                         f"({weight.shape[0]},), got shape {tuple(bias.shape)}")
    return _check_window(op, x, tuple(weight.shape[-2:]), stride, padding)


def pad2d(x: torch.Tensor, padding: IntOrPair, value: float = 0.0) -> torch.Tensor:
    """Add ``padding`` rows above and below and columns left and right, filled with ``value``."""
    _check_tensor("pad2d", x, "x")
    if x.dim() < 2:
        raise ValueError(f"pad2d pads the last two dimensions (height, width), so the input "
                         f"needs at least 2 dimensions, got shape {tuple(x.shape)}")
    ph, pw = _pair(padding, "padding")
    _check_padding(ph, " along the height")
    _check_padding(pw, " along the width")
    height, width = x.shape[-2:]
    padded = x.new_full((*x.shape[:-2], height + 2 * ph, width + 2 * pw), value)
    padded[..., ph:ph + height, pw:pw + width] = x
    return padded


def _complex32_in_complex64(conv: Callable) -> Callable:
    """``conv`` on complex32 too, as F.conv2d: computed in complex64 and rounded back, since
    PyTorch has no complex32 sums on the CPU."""
    @functools.wraps(conv)
    def wrapper(x, weight, bias=None, stride=1, padding=0):
        tensors = (x, weight) if bias is None else (x, weight, bias)
        if not all(isinstance(t, torch.Tensor) and t.dtype == torch.complex32 for t in tensors):
            return conv(x, weight, bias, stride, padding)
        x, weight, bias = (None if t is None else t.to(torch.complex64) for t in (x, weight, bias))
        return conv(x, weight, bias, stride, padding).to(torch.complex32)
    return wrapper


@_complex32_in_complex64
def conv2d_loops(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                 stride: IntOrPair = 1, padding: IntOrPair = 0) -> torch.Tensor:
    """Cross-correlation with plain loops: one window, one kernel, one output number at a time."""
    x, unbatched, (kh, kw), (sh, sw), padding, (out_h, out_w) = _check_conv(
        "conv2d_loops", x, weight, bias, stride, padding)
    x = pad2d(x, padding)
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
    return out[0] if unbatched else out


def _windows(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int],
             padding: tuple[int, int], out: tuple[int, int], fill: float = 0.0) -> torch.Tensor:
    """A (N, C, out_h, out_w, kH, kW) view of every window of x (N, C, H, W) padded with ``fill``.

    ``as_strided`` copies nothing: the next window starts ``stride`` pixels further in memory.
    """
    if any(padding):
        x = pad2d(x, padding, fill)
    n, c, h, w = x.stride()
    return x.as_strided((*x.shape[:2], *out, *kernel),
                        (n, c, h * stride[0], w * stride[1], h, w))


# What makes conv2d fast (benchmarks/conv_speed.py measures it): im2col copies every window into
# a column, for 1,000 digits and 5x5 kernels 25 times the input: 58 MB. Copied in one go, such a
# buffer is fresh memory at every call, which the operating system hands over page by page, and
# the matrix product then reads it back from main memory: that costs more than the arithmetic.
# Copied a few images at a time, each piece (4 MB) reuses memory and is still in the CPU's cache
# when the product reads it. Much smaller pieces mean many small steps, each of which makes the
# CPU threads wait for one another; adding the bias inside the product saves one more step.
COLUMNS_PER_PRODUCT = 1 << 20


@_complex32_in_complex64
def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride: IntOrPair = 1, padding: IntOrPair = 0) -> torch.Tensor:
    """Cross-correlation as a matrix product: every window becomes one column (im2col)."""
    x, unbatched, kernel, stride, padding, out = _check_conv(
        "conv2d", x, weight, bias, stride, padding)
    # (N, C, kH, kW, out_h, out_w), still a view: per image, C*kH*kW numbers for every window
    columns = _windows(x, kernel, stride, padding, out).permute(0, 1, 4, 5, 2, 3)
    kernels = weight.reshape(len(weight), -1)  # (O, C*kH*kW): one row per kernel
    if bias is None:
        bias = weight.new_zeros(len(weight))
    images_per_product = max(1, COLUMNS_PER_PRODUCT // max(1, columns.shape[1:].numel()))
    pieces = []
    for images in columns.split(images_per_product):  # a few images at a time
        matrix = images.reshape(len(images), kernels.shape[1], out[0] * out[1])  # the im2col copy
        # bias + kernels @ matrix for each image, (images, O, out_h * out_w), in one step
        pieces.append(torch.baddbmm(bias[:, None], kernels.expand(len(images), -1, -1), matrix))
    result = torch.cat(pieces)
    result = result.view(len(result), len(weight), *out)
    return result[0] if unbatched else result


def _check_pool(op: str, x: torch.Tensor, kernel_size: IntOrPair, stride: IntOrPair | None,
                padding: IntOrPair, twin: str | None = None):
    """``_check_window`` with PyTorch's pooling defaults and rule: stride defaults to the kernel
    size, padding is at most half the kernel, so every window overlaps the input. The dtypes are
    those of ``F.<twin>`` (default: ``F.<op>``)."""
    checked = _check_window(op, x, kernel_size, kernel_size if stride is None else stride,
                            padding)
    _check_dtype(op, twin or op, x)
    kernel, padding = checked[2], checked[4]
    if any(2 * p > k for k, p in zip(kernel, padding)):
        raise ValueError(f"{op}: padding {padding} is more than half the kernel size {kernel}: "
                         f"pooling padding must be at most kernel_size // 2")
    return checked


def max_pool2d(x: torch.Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0) -> torch.Tensor:
    """The largest value in each window; padding is the lowest value (-inf, or the integer type's
    minimum), so it never wins."""
    x, unbatched, kernel, stride, padding, out = _check_pool(
        "max_pool2d", x, kernel_size, stride, padding)
    lowest = float("-inf") if x.is_floating_point() else torch.iinfo(x.dtype).min
    windows = _windows(x, kernel, stride, padding, out, fill=lowest)
    result = windows.amax(dim=(-2, -1))
    return result[0] if unbatched else result


def avg_pool2d(x: torch.Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0) -> torch.Tensor:
    """The mean of each window; padded zeros count (PyTorch's ``count_include_pad=True``); on
    int64, as PyTorch, the sum divided by the window size rounded toward zero."""
    x, unbatched, kernel, stride, padding, out = _check_pool(
        "avg_pool2d", x, kernel_size, stride, padding)
    windows = _windows(x, kernel, stride, padding, out)
    if x.is_floating_point():
        result = windows.mean(dim=(-2, -1))
    else:
        result = windows.sum(dim=(-2, -1)).div(kernel[0] * kernel[1], rounding_mode="trunc")
    return result[0] if unbatched else result


def max_pool2d_loops(x: torch.Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
                     padding: IntOrPair = 0) -> torch.Tensor:
    """Max pooling with plain loops: one window, one output number at a time."""
    # the same checks and defaults as max_pool2d: stride = kernel size when not given
    x, unbatched, (kh, kw), (sh, sw), padding, (out_h, out_w) = _check_pool(
        "max_pool2d_loops", x, kernel_size, stride, padding, twin="max_pool2d")
    # pad with the lowest value there is, so that the padding is never the largest
    lowest = float("-inf") if x.is_floating_point() else torch.iinfo(x.dtype).min
    x = pad2d(x, padding, lowest)
    out = x.new_zeros(x.shape[0], x.shape[1], out_h, out_w)
    for n in range(x.shape[0]):                  # every image
        for c in range(x.shape[1]):              # every channel, on its own
            for i in range(out_h):               # every window position, row by row
                for j in range(out_w):
                    window = x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    out[n, c, i, j] = window.max()
    return out[0] if unbatched else out


def avg_pool2d_loops(x: torch.Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
                     padding: IntOrPair = 0) -> torch.Tensor:
    """Average pooling with plain loops; padded zeros count in the mean, as in PyTorch."""
    # the same checks and defaults as avg_pool2d: stride = kernel size when not given
    x, unbatched, (kh, kw), (sh, sw), padding, (out_h, out_w) = _check_pool(
        "avg_pool2d_loops", x, kernel_size, stride, padding, twin="avg_pool2d")
    x = pad2d(x, padding)  # zeros
    floating = x.is_floating_point()
    out = x.new_zeros(x.shape[0], x.shape[1], out_h, out_w)
    for n in range(x.shape[0]):                  # every image
        for c in range(x.shape[1]):              # every channel, on its own
            for i in range(out_h):               # every window position, row by row
                for j in range(out_w):
                    window = x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    if floating:
                        out[n, c, i, j] = window.sum() / (kh * kw)  # the padding counts too
                    else:  # int64, as PyTorch: the sum divided by the size, rounded toward zero
                        out[n, c, i, j] = window.sum().div(kh * kw, rounding_mode="trunc")
    return out[0] if unbatched else out


# --- the backward pass: the gradient of the loss with respect to each op's inputs ----------------
# Each ``*_backward`` takes the forward pass's inputs and ``grad_output``, the gradient of the loss
# with respect to the op's output (one number per output number), and returns the gradients with
# respect to the inputs, as autograd would. Floating-point tensors only, as autograd.

def _check_floating(op: str, x: torch.Tensor) -> None:
    """Gradients are fractions: integer and bool tensors are a TypeError saying how to convert."""
    if not x.is_floating_point():
        raise TypeError(f"{op} needs floating-point tensors, got {x.dtype}: convert with "
                        f"x.float() (or x.double() for a gradient check)")


def _check_grad_output(op: str, grad_output: torch.Tensor, x: torch.Tensor,
                       shape: tuple[int, ...], same: str = "input") -> torch.Tensor:
    """``grad_output`` must have the forward output's ``shape`` and ``x``'s dtype; ``same`` names
    what must be passed as in the forward pass."""
    _check_tensor(op, grad_output, "grad_output")
    if tuple(grad_output.shape) != tuple(shape):
        raise ValueError(f"{op}: grad_output has shape {tuple(grad_output.shape)} but the forward "
                         f"output has shape {tuple(shape)}: grad_output holds one number per "
                         f"output number (the loss' gradient with respect to the output); pass "
                         f"the same {same} as in the forward pass")
    if grad_output.dtype != x.dtype:
        raise TypeError(f"{op}: x is {x.dtype} but grad_output is {grad_output.dtype}: convert "
                        f"with grad_output.to(x.dtype)")
    return grad_output


def _fold(columns: torch.Tensor, size: tuple[int, int], stride: tuple[int, int],
          padding: tuple[int, int]) -> torch.Tensor:
    """The way back from ``_windows``: add the numbers of every window (N, C, out_h, out_w, kH, kW)
    into the pixels they came from, (N, C, H, W); what lands on the padding is dropped.

    Windows overlap when the stride is smaller than the kernel: a pixel in several windows gets
    the sum of their numbers. One step per kernel position, all windows at once.
    """
    n, c, out_h, out_w, kh, kw = columns.shape
    (sh, sw), (ph, pw) = stride, padding
    padded = columns.new_zeros(n, c, size[0] + 2 * ph, size[1] + 2 * pw)
    for i in range(kh):
        for j in range(kw):  # the pixel i rows down, j columns right of every window's corner
            padded[:, :, i:i + sh * out_h:sh, j:j + sw * out_w:sw] += columns[..., i, j]
    return padded[:, :, ph:ph + size[0], pw:pw + size[1]]


def conv2d_backward(x: torch.Tensor, weight: torch.Tensor, grad_output: torch.Tensor,
                    stride: IntOrPair = 1, padding: IntOrPair = 0, input_grad: bool = True
                    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """``(grad_x, grad_weight, grad_bias)`` of ``conv2d(x, weight, bias, stride, padding)``;
    ``input_grad=False`` skips grad_x (None), as autograd does for an input such as the images."""
    x4, unbatched, (kh, kw), (sh, sw), (ph, pw), (out_h, out_w) = _check_conv(
        "conv2d_backward", x, weight, None, stride, padding)
    _check_floating("conv2d_backward", x)
    shape = (len(weight), out_h, out_w)
    grad = _check_grad_output("conv2d_backward", grad_output, x,
                              shape if unbatched else (len(x4), *shape),
                              "input, weight, stride and padding")
    grad = grad[None] if unbatched else grad
    # bias: bias[o] is added once to every number of output channel o
    grad_bias = grad.sum(dim=(0, 2, 3))
    # weight: weight[o, c, i, j] meets pixel (p * stride + i, q * stride + j) of input channel c
    # in output (p, q) of channel o: the input correlated with the output gradient, i.e. every
    # window times the output gradient at its position, summed over images and positions
    # (N, C*kH*kW, oh*ow): every window as a column, the im2col matrix of conv2d
    columns = _windows(x4, (kh, kw), (sh, sw), (ph, pw), (out_h, out_w)).permute(
        0, 1, 4, 5, 2, 3).reshape(len(x4), -1, out_h * out_w)
    # per image (O, oh*ow) @ (oh*ow, C*kH*kW), then the sum over the images
    grad_weight = torch.bmm(grad.reshape(*grad.shape[:2], -1), columns.transpose(1, 2)).sum(0)
    grad_weight = grad_weight.view(weight.shape)
    if not input_grad:
        return None, grad_weight, grad_bias
    # input: output (p, q) of channel o was sum(window * weight[o]), so it sends
    # grad[o, p, q] * weight[o] back to the pixels of its window (im2col run backwards), and
    # overlapping windows add up. Collected pixel by pixel, this is the full convolution of the
    # output gradient (spread stride pixels apart) with the kernel turned by 180 degrees.
    kernels = weight.reshape(len(weight), -1)  # (O, C*kH*kW), as in conv2d
    grad_columns = kernels.T @ grad.reshape(*grad.shape[:2], -1)  # (N, C*kH*kW, oh*ow)
    grad_columns = grad_columns.view(len(x4), x4.shape[1], kh, kw, out_h, out_w)
    grad_x = _fold(grad_columns.permute(0, 1, 4, 5, 2, 3), tuple(x4.shape[-2:]), (sh, sw),
                   (ph, pw))
    return (grad_x[0] if unbatched else grad_x), grad_weight, grad_bias


def max_pool2d_backward(x: torch.Tensor, kernel_size: IntOrPair, grad_output: torch.Tensor,
                        stride: IntOrPair | None = None, padding: IntOrPair = 0) -> torch.Tensor:
    """Gradient of ``max_pool2d(x, kernel_size, stride, padding)``: each window's gradient goes to
    its largest pixel only; on a tie, to the first in reading order (PyTorch's rule)."""
    x4, unbatched, kernel, stride, padding, out = _check_pool(
        "max_pool2d_backward", x, kernel_size, stride, padding, twin="max_pool2d")
    _check_floating("max_pool2d_backward", x)
    grad = _check_grad_output("max_pool2d_backward", grad_output, x, (*x.shape[:-2], *out),
                              "input, kernel size, stride and padding")
    grad = grad[None] if unbatched else grad
    windows = _windows(x4, kernel, stride, padding, out, fill=float("-inf"))
    # the winner: the window's largest pixel; on a tie the first, row by row, as argmax picks it
    # (PyTorch's rule)
    winner = windows.flatten(-2).argmax(-1)
    positions = torch.arange(kernel[0] * kernel[1], device=x.device).view(kernel)
    # each window's gradient goes to its winner only, then back to the pixel it came from
    columns = torch.where(winner[..., None, None] == positions, grad[..., None, None], 0.0)
    grad_x = _fold(columns, tuple(x4.shape[-2:]), stride, padding)
    return grad_x[0] if unbatched else grad_x


def avg_pool2d_backward(x: torch.Tensor, kernel_size: IntOrPair, grad_output: torch.Tensor,
                        stride: IntOrPair | None = None, padding: IntOrPair = 0) -> torch.Tensor:
    """Gradient of ``avg_pool2d(x, kernel_size, stride, padding)``: each window's gradient is
    spread evenly, 1 / (kH * kW) to each of its pixels (padding included, then dropped)."""
    x4, unbatched, (kh, kw), stride, padding, out = _check_pool(
        "avg_pool2d_backward", x, kernel_size, stride, padding, twin="avg_pool2d")
    _check_floating("avg_pool2d_backward", x)
    grad = _check_grad_output("avg_pool2d_backward", grad_output, x, (*x.shape[:-2], *out),
                              "input, kernel size, stride and padding")
    grad = grad[None] if unbatched else grad
    share = (grad / (kh * kw))[..., None, None].expand(*grad.shape, kh, kw)  # a copy per pixel
    grad_x = _fold(share, tuple(x4.shape[-2:]), stride, padding)
    return grad_x[0] if unbatched else grad_x


def relu_backward(x: torch.Tensor, grad_output: torch.Tensor) -> torch.Tensor:
    """Gradient of ``relu(x)``: passed where x > 0, zero elsewhere (at 0 too, as PyTorch)."""
    _check_tensor("relu_backward", x, "x")
    _check_floating("relu_backward", x)
    grad = _check_grad_output("relu_backward", grad_output, x, x.shape)
    return torch.where(x > 0, grad, torch.zeros_like(grad))


def linear_backward(x: torch.Tensor, weight: torch.Tensor, grad_output: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(grad_x, grad_weight, grad_bias)`` of ``x @ weight.T + bias`` for x (N, in) and weight
    (out, in)."""
    for name, value in (("x", x), ("weight", weight)):
        _check_tensor("linear_backward", value, name)
        if value.dim() != 2:
            hint = " (flatten the images first: x.flatten(1))" if name == "x" else ""
            shape = "(N, in_features)" if name == "x" else "(out_features, in_features)"
            raise ValueError(f"linear_backward expects {name} of shape {shape}, got shape "
                             f"{tuple(value.shape)}{hint}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"linear_backward: x has {x.shape[1]} features but the weight expects "
                         f"{weight.shape[1]} (weight.shape[1] == x.shape[1])")
    _check_floating("linear_backward", x)
    if weight.dtype != x.dtype:
        raise TypeError(f"linear_backward: x is {x.dtype} but weight is {weight.dtype}: convert "
                        f"with weight.to(x.dtype)")
    grad = _check_grad_output("linear_backward", grad_output, x, (len(x), len(weight)),
                              "input and weight")
    # out[n, o] = sum over i of x[n, i] * weight[o, i] + bias[o]
    return grad @ weight, grad.T @ x, grad.sum(dim=0)


def cross_entropy_backward(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Gradient of ``F.cross_entropy(scores, labels)`` (the batch mean) with respect to the scores:
    ``(softmax(scores) - one_hot(labels)) / N``."""
    _check_tensor("cross_entropy_backward", scores, "scores")
    _check_tensor("cross_entropy_backward", labels, "labels")
    if scores.dim() != 2:
        raise ValueError(f"cross_entropy_backward expects scores of shape (N, classes), got "
                         f"shape {tuple(scores.shape)}")
    _check_floating("cross_entropy_backward", scores)
    if labels.dtype not in INTEGERS or tuple(labels.shape) != (len(scores),):
        raise ValueError(f"labels must be N = {len(scores)} class numbers (an integer tensor of "
                         f"shape ({len(scores)},)), got {labels.dtype} of shape "
                         f"{tuple(labels.shape)}")
    classes = scores.shape[1]
    if len(labels) and not (0 <= int(labels.min()) and int(labels.max()) < classes):
        raise ValueError(f"labels must lie in 0..{classes - 1} (one per class of the scores), "
                         f"got values from {int(labels.min())} to {int(labels.max())}")
    exp = (scores - scores.amax(dim=1, keepdim=True)).exp()  # minus the max: same softmax, no inf
    probabilities = exp / exp.sum(dim=1, keepdim=True)
    one_hot = torch.zeros_like(scores)
    one_hot[torch.arange(len(scores)), labels] = 1.0
    return (probabilities - one_hot) / len(scores)
