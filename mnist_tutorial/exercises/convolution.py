"""Checkers for the convolution and pooling exercises (notebooks 01 and 03): the learner's function
against ``F.conv2d`` / ``F.max_pool2d`` / ``F.avg_pool2d`` on small cases with whole numbers."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..checks import pair
from .core import TIME_LIMIT, CheckReport, _Case, _check, _numbers

CONV_SHAPE_HINT = ("along each axis the output size is (size + 2 * padding - kernel) // stride + 1,"
                   " and the output channels are the kernels (weight.shape[0])")


def _conv_case(name: str, x: torch.Tensor, weight: torch.Tensor, **kwargs) -> _Case:
    """A conv2d case; the mistakes are computed by F.conv2d with the mistake built in."""
    bias, stride, padding = kwargs.get("bias"), kwargs.get("stride", 1), kwargs.get("padding", 0)
    mistakes = [("did you flip the kernel? PyTorch's conv2d is cross-correlation: the kernel "
                 "slides over the input as it is, without flipping",
                 F.conv2d(x, weight.flip(-2, -1), bias, stride, padding))]
    if weight.shape[-2] == weight.shape[-1]:
        mistakes.append(("did you swap the kernel's rows and columns? weight[o, c, i, j] "
                         "multiplies the pixel i rows down and j columns right of the window's "
                         "corner", F.conv2d(x, weight.transpose(-2, -1), bias, stride, padding)))
    if bias is not None:
        mistakes.append(("did you forget the bias? add bias[o] to every number of output "
                         "channel o", F.conv2d(x, weight, None, stride, padding)))
    if stride != 1:
        mistakes.append((f"did you ignore the stride? the window jumps stride={stride!r} "
                         f"pixels at each step", F.conv2d(x, weight, bias, 1, padding)))
    if padding != 0:
        mistakes.append((f"did you forget the padding? first add padding={padding!r} rows and "
                         f"columns of zeros on each side", F.conv2d(x, weight, bias, stride)))
    if isinstance(stride, tuple) or isinstance(padding, tuple):
        mistakes.append(("pairs are (height, width): did you swap them?",
                         F.conv2d(x, weight, bias, _swap(stride), _swap(padding))))
    expected = F.conv2d(x, weight, bias, stride, padding)
    if x.dim() == 3:
        mistakes.append(("for one (C, H, W) image, return (out_channels, H_out, W_out), without "
                         "a batch axis", expected.unsqueeze(0)))
    return _Case(name, (x, weight), kwargs, expected, mistakes, CONV_SHAPE_HINT)


def _swap(value: int | tuple[int, int]) -> int | tuple[int, int]:
    return value[::-1] if isinstance(value, tuple) else value


def check_conv2d(fn: Callable, *, time_limit: float | None = TIME_LIMIT) -> CheckReport:
    """Check ``fn(x, weight, bias=None, stride=1, padding=0)`` against ``F.conv2d`` on 9 cases,
    each stopped after ``time_limit`` seconds (None: no limit)."""
    g = torch.Generator().manual_seed(0)
    cases = [
        _conv_case("worked example: 3x3 input, 2x2 kernel",
                   torch.arange(9.0).reshape(1, 1, 3, 3),
                   torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])),
        _conv_case("the blog post's example: 3x4x4 input, one 3x3x3 kernel",
                   _numbers(g, 1, 3, 4, 4), _numbers(g, 1, 3, 3, 3)),
        _conv_case("several kernels (output channels) and a bias, batch of 2",
                   _numbers(g, 2, 2, 5, 5), _numbers(g, 3, 2, 3, 3), bias=_numbers(g, 3)),
        _conv_case("stride 2", _numbers(g, 1, 1, 7, 7), _numbers(g, 1, 1, 3, 3), stride=2),
        _conv_case("stride 3: the last column that does not fit is skipped",
                   _numbers(g, 1, 1, 8, 8), _numbers(g, 1, 1, 2, 2), stride=3),
        _conv_case("padding 1 (zeros around the input)",
                   _numbers(g, 1, 2, 4, 4), _numbers(g, 2, 2, 3, 3), padding=1),
        _conv_case("non-square input and kernel", _numbers(g, 2, 1, 5, 7), _numbers(g, 2, 1, 2, 3)),
        _conv_case("stride and padding as (height, width) pairs",
                   _numbers(g, 1, 1, 6, 8), _numbers(g, 1, 1, 3, 2), stride=(2, 1), padding=(1, 2)),
        _conv_case("one image without a batch axis: (C, H, W)",
                   _numbers(g, 2, 5, 5), _numbers(g, 3, 2, 3, 3)),
    ]
    return _check("check_conv2d", fn, cases, time_limit)


POOL_SHAPE_HINT = ("along each axis the output size is (size + 2 * padding - kernel) // stride + 1,"
                   " with stride = kernel_size when no stride is given")
REFERENCE_POOLING = {"max": F.max_pool2d, "avg": F.avg_pool2d}  # kind -> torch functional


def _pool_case(kind: str, name: str, x: torch.Tensor, kernel_size, **kwargs) -> _Case:
    """A pooling case; the mistakes are computed by F.*_pool2d with the mistake built in."""
    pool, other = REFERENCE_POOLING[kind], REFERENCE_POOLING["avg" if kind == "max" else "max"]
    stride, padding = kwargs.get("stride"), kwargs.get("padding", 0)
    expected = pool(x, kernel_size, stride, padding)
    mistakes = [(f"this looks like {'average' if kind == 'max' else 'max'} pooling; "
                 f"{kind} pooling keeps the {'largest value' if kind == 'max' else 'mean'} "
                 f"of each window", other(x, kernel_size, stride, padding)),
                ("PyTorch drops the rows and columns that do not fill a whole window "
                 "(the size formula rounds down)", pool(x, kernel_size, stride, padding,
                                                        ceil_mode=True))]
    if stride is None:
        mistakes.append(("when no stride is given, it equals the kernel size: the windows "
                         "do not overlap", pool(x, kernel_size, 1, padding)))
    elif stride != kernel_size:
        mistakes.append((f"did you ignore the stride? the window jumps stride={stride!r} "
                         f"pixels at each step", pool(x, kernel_size, kernel_size, padding)))
    if padding != 0:
        mistakes.append((f"did you forget the padding (padding={padding!r} on each side)?",
                         pool(x, kernel_size, stride)))
        ph, pw = pair(padding, "padding")
        if kind == "max":
            mistakes.append(("pad with -inf, not zeros, for max pooling, so that padding is "
                             "never the largest value", pool(F.pad(x, (pw, pw, ph, ph)),
                                                             kernel_size, stride)))
        else:
            mistakes.append(("PyTorch counts the padded zeros in the average "
                             "(count_include_pad=True): divide by the full window size",
                             F.avg_pool2d(x, kernel_size, stride, padding,
                                          count_include_pad=False)))
    if x.dim() == 3:
        mistakes.append(("for one (C, H, W) image, return (C, H_out, W_out), without a batch "
                         "axis", expected.unsqueeze(0)))
    return _Case(name, (x, kernel_size), kwargs, expected, mistakes, POOL_SHAPE_HINT)


def check_pool2d(fn: Callable, kind: str = "max", *,
                 time_limit: float | None = TIME_LIMIT) -> CheckReport:
    """Check ``fn(x, kernel_size, stride=None, padding=0)`` against ``F.max_pool2d`` or
    ``F.avg_pool2d`` (``kind="max"`` or ``"avg"``) on 8 cases, each stopped after ``time_limit``
    seconds (None: no limit)."""
    if kind not in REFERENCE_POOLING:
        raise ValueError(f"kind must be 'max' or 'avg', got {kind!r}")
    g = torch.Generator().manual_seed(1)
    cases = [
        _pool_case(kind, "2x2 windows on a 4x4 matrix (stride defaults to the window size)",
                   _numbers(g, 1, 1, 4, 4, low=0, high=10), 2),
        _pool_case(kind, "a batch of 2 images with 3 channels", _numbers(g, 2, 3, 6, 6), 2),
        _pool_case(kind, "overlapping windows: 3x3, stride 1", _numbers(g, 1, 1, 5, 5), 3,
                   stride=1),
        _pool_case(kind, "3x3 windows, stride 2", _numbers(g, 1, 1, 7, 7), 3, stride=2),
        _pool_case(kind, "odd size: the last row and column are dropped",
                   _numbers(g, 1, 1, 5, 5), 2),
        _pool_case(kind, "padding 1 on negative numbers",
                   _numbers(g, 1, 2, 5, 5, low=-9, high=0), 3, stride=2, padding=1),
        _pool_case(kind, "non-square windows, stride and padding as (height, width) pairs",
                   _numbers(g, 1, 1, 5, 8, low=-9, high=0), (2, 3), stride=(1, 2),
                   padding=(1, 1)),
        _pool_case(kind, "one image without a batch axis: (C, H, W)", _numbers(g, 3, 4, 4), 2),
    ]
    return _check(f"check_pool2d (kind={kind!r})", fn, cases, time_limit)
