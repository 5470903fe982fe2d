"""Checkers for the convolution and pooling exercises (notebooks 01 and 03): the learner's function
against ``F.conv2d`` / ``F.max_pool2d`` / ``F.avg_pool2d`` on small cases with whole numbers.

The learner writes the operation: while a check runs, torch's convolution and pooling functions
(and their ``torch.*``, ``Tensor`` and ``nn`` forms, ``unfold``), the course's own solutions
(``mnist_tutorial.ops``) and numpy's and scipy's ready-made windows and convolutions
(``sliding_window_view``, ``scipy.signal.correlate2d``, ``scipy.ndimage.maximum_filter``...)
refuse to run. Tensor indexing, reductions and matrix products stay.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import im2col, ops, pooling
from ..checks import pair
from .core import (
    TIME_LIMIT,
    CaseResult,
    CheckReport,
    Forbidden,
    _attempt,
    _call_text,
    _Case,
    _check,
    _numbers,
    _text,
    _verdict,
)

CONV_SHAPE_HINT = ("count the window positions along each axis: a window starts at 0, stride, "
                   "2 * stride, ... and must lie wholly inside the padded input; the output "
                   "channels are the kernels (weight.shape[0])")


def _torch_names(keep: Callable[[str], bool], *extra: str) -> frozenset[str]:
    """The names (as a TorchFunctionMode sees them) of every torch function, ``torch.nn.functional``
    function and Tensor method whose name passes ``keep``, plus ``extra``, with their
    ``torch.ops.aten`` overloads (``convolution.default``)."""
    names = {name for space in (torch, torch._C._nn, F, torch.Tensor) for name in dir(space)
             if keep(name.lower())} | set(extra)
    for name in list(names):
        packet = getattr(torch.ops.aten, name, None)
        overloads = packet.overloads() if hasattr(packet, "overloads") else []
        names.update(f"{name}.{overload}" for overload in overloads)
    return frozenset(names)


def _is_convolution(name: str) -> bool:
    return "conv" in name and "convert" not in name


def _is_pooling(name: str) -> bool:
    return "pool" in name


WINDOW_NAMES = ("unfold", "fold", "im2col", "col2im")  # every window as a column, and back
# numpy's and scipy's (and scikit-image's) ready-made windows, convolutions and window filters,
# refused where their module is loaded. numpy's as_strided stays, as torch's does: given the
# right shape and strides it is tensor indexing, and working those out is the window arithmetic
# the exercises teach; sliding_window_view works them out for you, as torch's unfold does.
LIBRARY_WINDOWS = (
    "numpy.lib.stride_tricks.sliding_window_view", "numpy.convolve", "numpy.correlate",
    *(f"scipy.signal.{name}" for name in (
        "convolve", "correlate", "convolve2d", "correlate2d", "fftconvolve", "oaconvolve")),
    *(f"scipy.ndimage.{name}" for name in (
        "convolve", "correlate", "convolve1d", "correlate1d", "maximum_filter",
        "maximum_filter1d", "minimum_filter", "minimum_filter1d", "uniform_filter",
        "uniform_filter1d", "generic_filter", "generic_filter1d", "rank_filter",
        "percentile_filter", "median_filter")),
    "skimage.util.view_as_windows", "skimage.util.view_as_blocks", "skimage.measure.block_reduce")
CONV_FORBIDDEN = Forbidden(
    _torch_names(_is_convolution, *WINDOW_NAMES),
    (ops.conv2d, ops.conv2d.__wrapped__, ops.conv2d_loops, ops.conv2d_loops.__wrapped__,
     ops._windows, im2col.im2col_parts, pooling.feature_map),
    "compute the convolution yourself, with loops or tensor indexing",
    LIBRARY_WINDOWS)
POOL_FORBIDDEN = Forbidden(
    _torch_names(lambda name: _is_pooling(name) or _is_convolution(name), *WINDOW_NAMES),
    (ops.max_pool2d, ops.max_pool2d.__wrapped__, ops.avg_pool2d, ops.avg_pool2d.__wrapped__,
     ops.max_pool2d_loops, ops.max_pool2d_loops.__wrapped__, ops.avg_pool2d_loops,
     ops.avg_pool2d_loops.__wrapped__, ops.pool2d_loops, ops._windows),
    "compute the pooling yourself, with loops or tensor indexing",
    LIBRARY_WINDOWS)


@dataclass(frozen=True)
class _HintedCase(_Case):
    """A case that also turns the raw errors beginners hit into hints: ``errors(error)`` gives
    the hint for an exception (or "" for the usual message)."""

    errors: Callable[[BaseException], str] | None = None


def _judge(fn: Callable, case: _HintedCase, time_limit: float | None) -> CaseResult:
    call_text = _call_text(case)

    def raised(error: BaseException) -> CaseResult | None:
        try:
            hint = case.errors(error) if case.errors is not None else ""
        except Exception:  # an error without a printable message: the usual report
            hint = ""
        return CaseResult(case.name, False, f"{call_text} raised {_text(error)}\nHint: {hint}") \
            if hint else None

    return _attempt(case.name, call_text, lambda: fn(*case.args, **case.kwargs),
                    lambda got: _verdict(case, got), time_limit, raised=raised)


SLASH_HINT = ("a size became a float: / always divides to a float (7 / 2 is 3.5, even 4 / 1 is "
              "4.0), and range() and torch.zeros() need whole numbers; use // (7 // 2 is 3), "
              "which also rounds down as the size formula does")
PAIR_HINT = ("{names} may each be one int (the same for rows and columns) or a (height, width) "
             "pair: turn an int s into (s, s) first, then use the pair's two numbers")
UNBATCHED_HINT = ("x here is one image (C, H, W), without a batch axis: add one (x[None]), "
                  "compute, and remove it from the result (out[0])")
INDEX_HINT = ("an index ran past the end of a tensor: check that each loop runs over the right "
              "size ({sizes}) and that the output tensor has the shape you loop over")


def _common_error_hint(error: BaseException, x: torch.Tensor, pairs: str, sizes: str,
                       pair_case: bool) -> str:
    """The hint for a raw error any conv or pooling answer can hit, or ""."""
    text = str(error)
    if isinstance(error, TypeError) and "float" in text and (
            "integer" in text or "int" in text or "slice indices" in text):
        return SLASH_HINT
    if x.dim() == 3 and isinstance(error, (ValueError, IndexError, RuntimeError)) and (
            "unpack" in text or "dimension" in text or "too many indices" in text):
        return UNBATCHED_HINT
    if isinstance(error, (TypeError, ValueError)) and (
            "cannot unpack non-iterable int" in text
            or (pair_case and ("tuple" in text or "too many values to unpack" in text
                               or "slice indices" in text))):
        return PAIR_HINT.format(names=pairs)
    if isinstance(error, TypeError) and "slice indices" in text:
        return SLASH_HINT
    if isinstance(error, IndexError) and "out of bounds" in text:
        return INDEX_HINT.format(sizes=sizes)
    return ""


def _conv_error_hint(x: torch.Tensor, weight: torch.Tensor, bias, stride, padding
                     ) -> Callable[[BaseException], str]:
    """What a raw error in this conv case most likely means."""
    (kh, kw), (sh, sw), (ph, pw) = weight.shape[-2:], pair(stride, "stride"), pair(padding, "p")
    height, width = x.shape[-2] + 2 * ph, x.shape[-1] + 2 * pw
    pair_case = isinstance(stride, tuple) or isinstance(padding, tuple)

    def hint(error: BaseException) -> str:
        common = _common_error_hint(
            error, x, "stride and padding",
            "images: x.shape[0], kernels: weight.shape[0], input channels: x.shape[1], output "
            "rows and columns: the size formula", pair_case)
        if common:
            return common
        if bias is None and isinstance(error, TypeError) and "NoneType" in str(error):
            return ("bias=None means no bias: add bias[o] only when there is one (if bias is "
                    "not None: ...)")
        if not (isinstance(error, RuntimeError) and "must match the size" in str(error)):
            return ""
        causes = []
        if kh != kw:
            causes.append(f"the kernel's height and width are swapped: weight.shape is "
                          f"(out_channels, in_channels, kernel_height, kernel_width), here "
                          f"{tuple(weight.shape)}, so a window is {kh} rows by {kw} columns")
        if (height - kh) % sh or (width - kw) % sw:
            causes.append("a window runs past the bottom or right edge and comes out smaller: "
                          "the output size rounds down, (size + 2 * padding - kernel) // stride "
                          "+ 1, and window (i, j) starts at row i * stride, column j * stride")
        if bias is not None:
            causes.append("the bias is added along the wrong axis: bias[o] belongs to output "
                          "channel o (bias[:, None, None] lines it up with (O, H_out, W_out))")
        causes.append("a window is taken from the wrong place: x[n, :, i * stride:i * stride + "
                      "kernel_height, j * stride:j * stride + kernel_width] has every channel")
        return ("two tensors of different shapes met, most likely a window and its kernel. "
                "Possible causes: " + "; or ".join(causes))
    return hint


def _conv_case(name: str, x: torch.Tensor, weight: torch.Tensor, **kwargs) -> _HintedCase:
    """A conv2d case; the mistakes are computed by F.conv2d with the mistake built in."""
    bias, stride, padding = kwargs.get("bias"), kwargs.get("stride", 1), kwargs.get("padding", 0)
    expected = F.conv2d(x, weight, bias, stride, padding)
    batch = x if x.dim() == 4 else x[None]
    (sh, sw), (ph, pw) = pair(stride, "stride"), pair(padding, "padding")
    (out_h, out_w), (kh, kw) = expected.shape[-2:], weight.shape[-2:]
    channels, kernels = weight.shape[1], weight.shape[0]

    def conv(inputs=x, w=weight, b=bias, s=stride, p=padding) -> torch.Tensor:
        return F.conv2d(inputs, w, b, s, p)

    mistakes = [("did you flip the kernel? PyTorch's conv2d is cross-correlation: the kernel "
                 "slides over the input as it is, without flipping", conv(w=weight.flip(-2, -1)))]
    if kh == kw:
        mistakes.append(("did you swap the kernel's rows and columns? weight[o, c, i, j] "
                         "multiplies the pixel i rows down and j columns right of the window's "
                         "corner", conv(w=weight.transpose(-2, -1))))
    if out_h == out_w:
        mistakes.append(("the output's rows and columns are swapped: out[..., i, j] is the window "
                         "i rows down and j columns right (out[..., j, i] puts it in the wrong "
                         "place)", expected.transpose(-2, -1)))
    if channels > 1:
        hint = ("did you add up the input channels? A kernel has one channel per input channel "
                "and output number (n, o, i, j) is the sum, over all C channels and the window, "
                "of window x weight[o]; here C = " + str(channels))
        mistakes += [(hint, conv(inputs=x[..., :1, :, :], w=weight[:, :1])),
                     (hint, conv(inputs=x[..., -1:, :, :], w=weight[:, -1:])),
                     (hint, torch.stack([conv(inputs=x[..., c:c + 1, :, :],
                                              w=weight[:, c:c + 1]) for c in range(channels)],
                                        dim=-3))]
    if kernels > 1:
        mistakes.append(("every output channel got the same sum of all the kernels: multiply the "
                         "window by weight[o], the kernel of output channel o, not by the whole "
                         "weight", conv(w=weight.sum(0, keepdim=True).repeat(kernels, 1, 1, 1))))
    if bias is not None:
        plain = conv(b=None)
        mistakes += [
            ("did you forget the bias? add bias[o] to every number of output channel o", plain),
            ("add bias[o], one number, to output channel o; not the sum of the whole bias",
             plain + bias.sum()),
            ("add bias[o] once to each output number, after the sum over the channels; not "
             "inside the loop over input channels", conv(b=bias * channels)),
            ("add bias[o] once to each output number, after the sum; not to every product of "
             "the window", conv(b=bias * channels * kh * kw)),
            ("add bias[o] once to each output number; here it was added once per image of the "
             "batch", conv(b=bias * len(batch)))]
        if out_w == kernels:
            mistakes.append(("out + bias lines the bias up with the last axis, the columns "
                             "(bias[j] on column j): bias[o] belongs to output channel o, e.g. "
                             "out + bias[:, None, None]", plain + bias))
    if (sh, sw) != (1, 1):
        mistakes += [(f"did you ignore the stride? the window jumps stride={stride!r} pixels at "
                      f"each step", conv(s=1)),
                     (f"the output size is right, but did the window move by the stride? window "
                      f"(i, j) starts at row i * stride, column j * stride (stride={stride!r})",
                      conv(s=1)[..., :out_h, :out_w])]
    if (ph, pw) != (0, 0):
        mistakes.append((f"did you forget the padding? first add padding={padding!r} rows and "
                         f"columns of zeros on each side", conv(p=0)))
    if isinstance(stride, tuple) or isinstance(padding, tuple):
        mistakes.append(("pairs are (height, width): did you swap them?",
                         conv(s=_swap(stride), p=_swap(padding))))
    height, width = x.shape[-2] + 2 * ph, x.shape[-1] + 2 * pw
    ceil_h = math.ceil((height - kh) / sh) + 1
    ceil_w = math.ceil((width - kw) / sw) + 1
    if (ceil_h, ceil_w) != (out_h, out_w):
        extra = ((ceil_h - 1) * sh + kh - height, (ceil_w - 1) * sw + kw - width)
        grown = F.pad(F.pad(x, (pw, pw, ph, ph)), (0, max(extra[1], 0), 0, max(extra[0], 0)))
        mistakes.append(("PyTorch drops the rows and columns that do not fill a whole window: the "
                         "size formula rounds down (//), not up", conv(inputs=grown, p=0)))
    if x.dim() == 3:
        mistakes.append(("for one (C, H, W) image, return (out_channels, H_out, W_out), without "
                         "a batch axis", expected.unsqueeze(0)))
    return _HintedCase(name, (x, weight), kwargs, expected, mistakes, CONV_SHAPE_HINT,
                       _conv_error_hint(x, weight, bias, stride, padding))


def _swap(value: int | tuple[int, int]) -> int | tuple[int, int]:
    return value[::-1] if isinstance(value, tuple) else value


def check_conv2d(fn: Callable, *, time_limit: float | None = TIME_LIMIT,
                 seed: int = 0) -> CheckReport:
    """Check ``fn(x, weight, bias=None, stride=1, padding=0)`` against ``F.conv2d`` on 10 cases:
    batches (N, C, H, W) and one image (C, H, W), stride and padding as ints and as (height,
    width) pairs, float32 and float64. Each call is stopped after ``time_limit`` seconds (None:
    no limit); torch's convolutions, ``unfold``, the course's own ``conv2d`` and numpy's and
    scipy's windows and convolutions (``LIBRARY_WINDOWS``) are refused.
    ``seed`` draws the random cases' numbers: another seed, the same cases with other numbers."""
    g = torch.Generator().manual_seed(seed)
    cases = [
        _conv_case("worked example: 3x3 input, 2x2 kernel",
                   torch.arange(9.0).reshape(1, 1, 3, 3),
                   torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])),
        _conv_case("the blog post's example: 3x4x4 input, one 3x3x3 kernel",
                   _numbers(g, 1, 3, 4, 4), _numbers(g, 1, 3, 3, 3)),
        _conv_case("several kernels (output channels) and a bias, batch of 2",
                   _numbers(g, 2, 3, 5, 5), _numbers(g, 3, 3, 3, 3), bias=_numbers(g, 3)),
        _conv_case("stride 2", _numbers(g, 1, 1, 7, 7), _numbers(g, 1, 1, 3, 3), stride=2),
        _conv_case("stride 3, 2x2 kernel on 9x9: rows and columns 2, 5 and 8 fit no window",
                   _numbers(g, 1, 1, 9, 9), _numbers(g, 1, 1, 2, 2), stride=3),
        _conv_case("padding 1 (zeros around the input)",
                   _numbers(g, 1, 2, 4, 4), _numbers(g, 2, 2, 3, 3), padding=1),
        _conv_case("non-square input and kernel", _numbers(g, 2, 1, 5, 7), _numbers(g, 2, 1, 2, 3)),
        _conv_case("stride and padding as (height, width) pairs",
                   _numbers(g, 1, 1, 6, 8), _numbers(g, 1, 1, 3, 2), stride=(2, 1), padding=(1, 2)),
        _conv_case("one image without a batch axis: (C, H, W)",
                   _numbers(g, 2, 5, 5), _numbers(g, 3, 2, 3, 3)),
        _conv_case("float64 numbers in, float64 out",
                   _numbers(g, 1, 2, 4, 4).double(), _numbers(g, 2, 2, 2, 2).double(),
                   bias=_numbers(g, 2).double()),
    ]
    return _check("check_conv2d", fn, cases, time_limit, _judge, forbidden=CONV_FORBIDDEN)


POOL_SHAPE_HINT = ("along each axis the output size is (size + 2 * padding - kernel) // stride + 1,"
                   " with stride = kernel_size when no stride is given")
REFERENCE_POOLING = {"max": F.max_pool2d, "avg": F.avg_pool2d}  # kind -> torch functional


def _pool_error_hint(kind: str, x: torch.Tensor, kernel_size, stride, padding
                     ) -> Callable[[BaseException], str]:
    """What a raw error in this pooling case most likely means."""
    pair_case = any(isinstance(value, tuple) for value in (kernel_size, stride, padding))

    def hint(error: BaseException) -> str:
        text = str(error)
        if stride is None and isinstance(error, TypeError) and "NoneType" in text:
            return ("stride=None means that the stride is the window size: set stride = "
                    "kernel_size when it is None, before using it")
        common = _common_error_hint(
            error, x, "kernel_size, stride and padding",
            "images: x.shape[0], channels: x.shape[1], output rows and columns: the size "
            "formula", pair_case)
        if common:
            return common
        if isinstance(error, (RuntimeError, IndexError)) and ("numel() == 0" in text
                                                              or "empty" in text):
            return ("a window is empty: it starts past the edge of the (padded) input. The output "
                    "size rounds down, (size + 2 * padding - kernel) // stride + 1, and window "
                    "(i, j) starts at row i * stride, column j * stride")
        return ""
    return hint


def _pool_case(kind: str, name: str, x: torch.Tensor, kernel_size, **kwargs) -> _HintedCase:
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
    ph, pw = pair(padding, "padding")
    if padding != 0:
        mistakes.append((f"did you forget the padding (padding={padding!r} on each side)?",
                         pool(x, kernel_size, stride)))
        if kind == "max":
            mistakes.append(("pad with -inf, not zeros, for max pooling, so that padding is "
                             "never the largest value", pool(F.pad(x, (pw, pw, ph, ph)),
                                                             kernel_size, stride)))
        else:
            mistakes += [
                ("PyTorch counts the padded zeros in the average (count_include_pad=True): "
                 "divide by the full window size", F.avg_pool2d(x, kernel_size, stride, padding,
                                                                count_include_pad=False)),
                ("pad with zeros for average pooling: -inf (max pooling's padding) makes the "
                 "mean of every window that touches it -inf",
                 pool(F.pad(x, (pw, pw, ph, ph), value=-math.inf), kernel_size, stride))]
    channels = x.shape[-3]
    if channels > 1 or x.dim() == 4 and len(x) > 1:
        hint = ("pooling works on every channel of every image on its own: take the "
                f"{'largest value' if kind == 'max' else 'mean'} of x[n, c] in the window, one "
                "channel at a time, not of all channels together")
        for axes in ((-3,), tuple(range(x.dim() - 2))):  # all channels; all images and channels
            together = (x.amax if kind == "max" else x.mean)(dim=axes, keepdim=True)
            pooled = pool(together, kernel_size, stride, padding)
            mistakes += [(hint, pooled.expand_as(expected)), (hint, pooled),
                         (hint, pooled.squeeze(-3))]
    if any(isinstance(value, tuple) for value in (kernel_size, stride, padding)):
        swaps = {(_swap(kernel_size), _swap(stride), _swap(padding)), (_swap(kernel_size),
                 stride, padding), (kernel_size, _swap(stride), padding),
                 (kernel_size, stride, _swap(padding))} - {(kernel_size, stride, padding)}
        for k, s, p in sorted(swaps, key=repr):
            try:
                mistakes.append(("pairs are (height, width): did you swap one of them?",
                                 pool(x, k, s, p)))
            except RuntimeError:  # a swapped padding PyTorch refuses for the swapped window
                pass
    if x.dim() == 3:
        mistakes.append(("for one (C, H, W) image, return (C, H_out, W_out), without a batch "
                         "axis", expected.unsqueeze(0)))
    return _HintedCase(name, (x, kernel_size), kwargs, expected, mistakes, POOL_SHAPE_HINT,
                       _pool_error_hint(kind, x, kernel_size, stride, padding))


def check_pool2d(fn: Callable, kind: str = "max", *,
                 time_limit: float | None = TIME_LIMIT, seed: int = 1) -> CheckReport:
    """Check ``fn(x, kernel_size, stride=None, padding=0)`` against ``F.max_pool2d`` or
    ``F.avg_pool2d`` (``kind="max"`` or ``"avg"``) on 9 cases: batches (N, C, H, W) and one image
    (C, H, W), sizes as ints and as (height, width) pairs, float32 and float64. Each call is
    stopped after ``time_limit`` seconds (None: no limit); torch's pooling (and convolution),
    ``unfold``, the course's own pooling and numpy's and scipy's windows and filters
    (``LIBRARY_WINDOWS``) are refused. ``seed`` draws the random cases'
    numbers: another seed, the same cases with other numbers."""
    if kind not in REFERENCE_POOLING:
        raise ValueError(f"kind must be 'max' or 'avg', got {kind!r}")
    g = torch.Generator().manual_seed(seed)
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
        _pool_case(kind, "float64 numbers in, float64 out", _numbers(g, 1, 2, 4, 4).double(), 2),
    ]
    return _check(f"check_pool2d (kind={kind!r})", fn, cases, time_limit, _judge,
                  forbidden=POOL_FORBIDDEN)


