"""The convolution and pooling checkers (notebooks 01 and 03): answers written by hand pass,
each common mistake fails with its hint, shortcuts (torch's functionals, unfold, the course's own
ops) are refused, and a learner's crash is reported, never raised."""

import importlib.util
import math
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from IPython.lib.pretty import pretty
from numpy.lib.stride_tricks import sliding_window_view

from mnist_tutorial import im2col, ops, pooling
from mnist_tutorial.exercises import check_conv2d, check_pool2d
from mnist_tutorial.exercises.convolution import SLASH_HINT
from tests.helpers import hints

CONV_CASES, POOL_CASES = 10, 9
SKIPPED_ROWS_CASE = "stride 3, 2x2 kernel on 9x9: rows and columns 2, 5 and 8 fit no window"


def as_pair(value):
    return value if isinstance(value, tuple) else (value, value)


# --- right answers, written by hand as a learner would ------------------------------------------

def conv_as_the_text_says(x, weight, bias=None, stride=1, padding=0):
    """Exactly what notebook 01's exercise text asks: loops, ops.pad2d, ints or pairs, a batch or
    one image, the input's dtype."""
    unbatched = x.dim() == 3
    if unbatched:
        x = x[None]
    (sh, sw), (kh, kw) = as_pair(stride), weight.shape[-2:]
    x = ops.pad2d(x, padding)
    out_h, out_w = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = torch.zeros(x.shape[0], weight.shape[0], out_h, out_w, dtype=x.dtype)
    for n in range(x.shape[0]):
        for o in range(weight.shape[0]):
            for i in range(out_h):
                for j in range(out_w):
                    window = x[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    out[n, o, i, j] = (window * weight[o]).sum()
                    if bias is not None:
                        out[n, o, i, j] += bias[o]
    return out[0] if unbatched else out


def conv_by_kernel_offsets(x, weight, bias=None, stride=1, padding=0):
    """No loop over positions: for each kernel offset (u, v), one strided slice of the padded input
    holds that pixel of every window, and einsum multiplies it with weight[:, :, u, v]."""
    (sh, sw), (ph, pw) = as_pair(stride), as_pair(padding)
    kh, kw = weight.shape[-2:]
    x = F.pad(x, (pw, pw, ph, ph))
    out_h, out_w = (x.shape[-2] - kh) // sh + 1, (x.shape[-1] - kw) // sw + 1
    out = 0
    for u in range(kh):
        for v in range(kw):
            pixels = x[..., u:u + sh * (out_h - 1) + 1:sh, v:v + sw * (out_w - 1) + 1:sw]
            out = out + torch.einsum("...chw,oc->...ohw", pixels, weight[:, :, u, v])
    if bias is not None:
        out = out + bias[:, None, None]
    return out


def conv_im2col_by_hand(x, weight, bias=None, stride=1, padding=0):
    """im2col without unfold: every window flattened into a column with plain slicing, then one
    matrix product."""
    unbatched = x.dim() == 3
    x = ops.pad2d(x[None] if unbatched else x, padding)
    (sh, sw), (kh, kw) = as_pair(stride), weight.shape[-2:]
    out_h, out_w = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    columns = torch.stack([x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].flatten(1)
                           for i in range(out_h) for j in range(out_w)], dim=-1)
    out = (weight.flatten(1) @ columns).reshape(len(x), len(weight), out_h, out_w)
    if bias is not None:
        out += bias.view(-1, 1, 1)
    return out[0] if unbatched else out


def pool_as_the_text_says(x, kernel_size, stride=None, padding=0, kind="max"):
    """Exactly what notebook 03's exercise text asks: loops, F.pad with -inf (zeros for the
    average), ints or pairs, stride=None, a batch or one image."""
    unbatched = x.dim() == 3
    if unbatched:
        x = x[None]
    kh, kw = as_pair(kernel_size)
    sh, sw = as_pair(kernel_size if stride is None else stride)
    ph, pw = as_pair(padding)
    x = F.pad(x, (pw, pw, ph, ph), value=float("-inf") if kind == "max" else 0.0)
    out_h, out_w = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = torch.zeros(x.shape[0], x.shape[1], out_h, out_w, dtype=x.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(out_h):
                for j in range(out_w):
                    window = x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    out[n, c, i, j] = window.max() if kind == "max" else window.mean()
    return out[0] if unbatched else out


def pool_by_kernel_offsets(x, kernel_size, stride=None, padding=0, kind="max"):
    """No loop over positions: one strided slice per kernel offset, stacked, then max or mean."""
    (kh, kw), (ph, pw) = as_pair(kernel_size), as_pair(padding)
    sh, sw = as_pair(stride or kernel_size)
    x = F.pad(x, (pw, pw, ph, ph), value=-math.inf if kind == "max" else 0.0)
    out_h, out_w = (x.shape[-2] - kh) // sh + 1, (x.shape[-1] - kw) // sw + 1
    slices = torch.stack([x[..., u:u + sh * (out_h - 1) + 1:sh, v:v + sw * (out_w - 1) + 1:sw]
                          for u in range(kh) for v in range(kw)])
    return slices.amax(0) if kind == "max" else slices.mean(0)


def with_kind(pool, kind):
    def learner(x, kernel_size, stride=None, padding=0):
        return pool(x, kernel_size, stride, padding, kind=kind)
    return learner


@pytest.mark.parametrize("fn", [conv_as_the_text_says, conv_by_kernel_offsets,
                                conv_im2col_by_hand])
def test_answers_written_by_hand_pass_every_conv_case(fn):
    report = check_conv2d(fn)
    assert report.passed and not report.failed, str(report)
    assert len(report) == CONV_CASES
    assert f"{CONV_CASES} of {CONV_CASES} cases passed" in str(report)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("pool", [pool_as_the_text_says, pool_by_kernel_offsets])
def test_answers_written_by_hand_pass_every_pool_case(pool, kind):
    report = check_pool2d(with_kind(pool, kind), kind)
    assert report.passed, str(report)
    assert f"{POOL_CASES} of {POOL_CASES} cases passed" in str(report)


def test_the_cases_cover_what_the_exercise_texts_state():
    """Spec = checker: the texts say a batch or one image, ints or pairs, the input's dtype, and
    a floor that drops what fits no window: each has its case."""
    conv = [name for name, _, _ in check_conv2d(conv_by_kernel_offsets)]
    assert "one image without a batch axis: (C, H, W)" in conv
    assert "stride and padding as (height, width) pairs" in conv
    assert "float64 numbers in, float64 out" in conv
    assert SKIPPED_ROWS_CASE in conv
    pool = [name for name, _, _ in check_pool2d(with_kind(pool_by_kernel_offsets, "max"))]
    assert "one image without a batch axis: (C, H, W)" in pool
    assert "float64 numbers in, float64 out" in pool


# --- shortcuts are refused ------------------------------------------------------------------------

CONV_TASK = ("this exercise asks you to compute the convolution yourself, with loops or tensor "
             "indexing")
POOL_TASK = "this exercise asks you to compute the pooling yourself, with loops or tensor indexing"


def nn_conv(x, weight, bias=None, stride=1, padding=0):
    layer = torch.nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[-2:], stride, padding,
                            bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer(x).detach()


def unfold_conv(x, weight, bias=None, stride=1, padding=0):
    columns = F.unfold(x if x.dim() == 4 else x[None], weight.shape[-2:], padding=padding,
                       stride=stride)
    return weight.flatten(1) @ columns


def tensor_unfold_conv(x, weight, bias=None, stride=1, padding=0):
    (sh, sw), (kh, kw) = as_pair(stride), weight.shape[-2:]
    windows = ops.pad2d(x, padding).unfold(-2, kh, sh).unfold(-2, kw, sw)
    return torch.einsum("nchwuv,ocuv->nohw", windows, weight)


def aten_conv(x, weight, bias=None, stride=1, padding=0):
    return torch.ops.aten.convolution.default(x, weight, bias, list(as_pair(stride)),
                                              list(as_pair(padding)), [1, 1], False, [0, 0], 1)


def im2col_parts_conv(x, weight, bias=None, stride=1, padding=0):
    return im2col.im2col_parts(x[0, 0], weight[0, 0])["output"][None, None]


def feature_map_conv(x, weight, bias=None, stride=1, padding=0):
    return pooling.feature_map(x, weight[0, 0])


def lesson_conv(x, weight, bias=None, stride=1, padding=0):
    return ops.conv2d.__wrapped__(x, weight, bias, as_pair(stride), as_pair(padding))


def windows_conv(x, weight, bias=None, stride=1, padding=0):
    windows = ops._windows(x, weight.shape[-2:], as_pair(stride), as_pair(padding))
    return torch.einsum("nchwuv,ocuv->nohw", windows, weight)


def numpy_windows_conv(x, weight, bias=None, stride=1, padding=0):
    """numpy's version of unfold: every window as a view, then one einsum."""
    (sh, sw), (ph, pw) = as_pair(stride), as_pair(padding)
    batch = x if x.dim() == 4 else x[None]
    padded = np.pad(batch.numpy(), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = sliding_window_view(padded, tuple(weight.shape[-2:]), axis=(2, 3))[:, :, ::sh, ::sw]
    out = torch.from_numpy(np.einsum("nchwuv,ocuv->nohw", windows, weight.numpy()))
    out = out if bias is None else out + bias[:, None, None]
    return out if x.dim() == 4 else out[0]


def scipy_conv(x, weight, bias=None, stride=1, padding=0):
    """scipy's correlate2d, channel by channel (scipy imported inside, as a learner might)."""
    from scipy.signal import correlate2d
    (sh, sw), batch = as_pair(stride), ops.pad2d(x if x.dim() == 4 else x[None], padding)
    out = torch.tensor(np.array([[sum(correlate2d(image[c], kernel[c], "valid")
                                      for c in range(len(kernel)))[::sh, ::sw]
                                  for kernel in weight.numpy()] for image in batch.numpy()]),
                       dtype=x.dtype)
    out = out if bias is None else out + bias[:, None, None]
    return out if x.dim() == 4 else out[0]


NEEDS_SCIPY = pytest.mark.skipif(importlib.util.find_spec("scipy") is None,
                                 reason="scipy is optional and not installed")


def test_the_numpy_and_scipy_shortcuts_are_right_answers():
    """So the refusal, not a wrong number, is what fails them below."""
    g = torch.Generator().manual_seed(5)
    x, weight, bias = (torch.randn(2, 3, 7, 6, generator=g), torch.randn(4, 3, 3, 2, generator=g),
                       torch.randn(4, generator=g))
    expected = F.conv2d(x, weight, bias, (2, 1), (1, 2))
    scipy = importlib.util.find_spec("scipy") is not None
    for shortcut in [numpy_windows_conv, *([scipy_conv] if scipy else [])]:
        assert torch.allclose(shortcut(x, weight, bias, (2, 1), (1, 2)), expected, atol=1e-5)


@pytest.mark.parametrize("shortcut, called", [
    (numpy_windows_conv, "numpy.lib.stride_tricks.sliding_window_view"),
    pytest.param(scipy_conv, "scipy.signal.correlate2d", marks=NEEDS_SCIPY),
], ids=["sliding_window_view", "scipy.signal"])
def test_numpy_and_scipy_convolutions_are_refused(shortcut, called):
    report = check_conv2d(shortcut)
    assert len(report.failed) == CONV_CASES, str(report)
    assert report[0].message == f"fn(x, weight) called {called}: {CONV_TASK}, so the checker " \
                                f"does not accept that here", str(report)
    assert sliding_window_view(np.arange(3), 2).tolist() == [[0, 1], [1, 2]]  # put back


def test_a_check_imports_no_scipy():
    script = ("import sys\n"
              "from mnist_tutorial.exercises import check_conv2d, check_pool2d\n"
              "from tests.exercises.test_convolution import conv_as_the_text_says\n"
              "assert check_conv2d(conv_as_the_text_says).passed\n"
              "print(sorted(name for name in sys.modules if name.split('.')[0] == 'scipy'))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("shortcut, called", [
    (F.conv2d, "torch's conv2d"),
    (torch.conv2d, "torch's conv2d"),
    (nn_conv, "torch's conv2d"),
    (unfold_conv, "torch's unfold"),
    (tensor_unfold_conv, "torch's unfold"),
    (aten_conv, "torch's convolution.default"),
    (ops.conv2d, "the course's own mnist_tutorial.ops.conv2d"),
    (ops.conv2d_loops, "the course's own mnist_tutorial.ops.conv2d_loops"),
    (lesson_conv, "the course's own mnist_tutorial.ops.conv2d"),
    (windows_conv, "the course's own mnist_tutorial.ops._windows"),
    (im2col_parts_conv, "the course's own mnist_tutorial.im2col.im2col_parts"),
    (feature_map_conv, "the course's own mnist_tutorial.pooling.feature_map"),
], ids=["F.conv2d", "torch.conv2d", "nn.Conv2d", "F.unfold", "Tensor.unfold", "aten",
        "ops.conv2d", "ops.conv2d_loops", "lesson conv2d", "ops._windows", "im2col_parts",
        "feature_map"])
def test_conv_shortcuts_are_refused(shortcut, called):
    report = check_conv2d(shortcut)
    assert not report.passed
    first = report[0].message
    assert first == f"fn(x, weight) called {called}: {CONV_TASK}, so the checker does not accept " \
                    f"that here", str(report)


def test_the_course_functions_work_again_after_a_check():
    check_conv2d(ops.conv2d)
    x, weight = torch.randn(1, 1, 4, 4), torch.randn(1, 1, 2, 2)
    assert torch.allclose(ops.conv2d(x, weight), F.conv2d(x, weight), atol=1e-6)
    assert torch.allclose(ops.max_pool2d(x, 2), F.max_pool2d(x, 2))


def test_a_shortcut_caught_by_the_learner_is_still_refused():
    def sneaky(x, weight, bias=None, stride=1, padding=0):
        try:
            return F.conv2d(x, weight, bias, stride, padding)
        except BaseException:
            return conv_by_kernel_offsets(x, weight, bias, stride, padding)

    report = check_conv2d(sneaky)
    assert len(report.failed) == CONV_CASES
    assert "called torch's conv2d" in report[0].message


def nn_max_pool(x, kernel_size, stride=None, padding=0):
    return torch.nn.MaxPool2d(kernel_size, stride, padding)(x)


def avg_pool_as_conv(x, kernel_size, stride=None, padding=0):
    kh, kw = as_pair(kernel_size)
    ones = torch.ones(x.shape[-3], 1, kh, kw, dtype=x.dtype) / (kh * kw)
    return F.conv2d(x, ones, None, stride or kernel_size, padding, groups=x.shape[-3])


def tensor_unfold_pool(x, kernel_size, stride=None, padding=0):
    (kh, kw), (sh, sw) = as_pair(kernel_size), as_pair(stride or kernel_size)
    return x.unfold(-2, kh, sh).unfold(-2, kw, sw).amax(dim=(-2, -1))


def numpy_windows_pool(x, kernel_size, stride=None, padding=0):
    """numpy's windows, then the largest of each (no padding: enough for the first cases)."""
    (kh, kw), (sh, sw) = as_pair(kernel_size), as_pair(stride or kernel_size)
    windows = sliding_window_view(x.numpy(), (kh, kw), axis=(-2, -1))[..., ::sh, ::sw, :, :]
    return torch.from_numpy(np.ascontiguousarray(windows.max(axis=(-2, -1))))


def scipy_filter_pool(x, kernel_size, stride=None, padding=0):
    """scipy's maximum_filter, then every stride-th window (imported inside, as a learner might)."""
    from scipy.ndimage import maximum_filter
    (kh, kw), (sh, sw) = as_pair(kernel_size), as_pair(stride or kernel_size)
    size = (1,) * (x.dim() - 2) + (kh, kw)
    origin = (0,) * (x.dim() - 2) + (-(kh // 2), -(kw // 2))  # each window from its top left
    top_left = maximum_filter(x.numpy(), size=size, origin=origin)
    rows, columns = (x.shape[-2] - kh) // sh + 1, (x.shape[-1] - kw) // sw + 1
    return torch.from_numpy(top_left[..., :rows * sh:sh, :columns * sw:sw].copy())


def test_the_numpy_and_scipy_pooling_shortcuts_are_right_answers():
    """So the refusal, not a wrong number, is what fails them below."""
    x = torch.randn(2, 3, 7, 8, generator=torch.Generator().manual_seed(6))
    scipy = importlib.util.find_spec("scipy") is not None
    for shortcut in [numpy_windows_pool, *([scipy_filter_pool] if scipy else [])]:
        for kernel, stride in [(2, None), ((3, 2), (2, 1)), (3, 1)]:
            assert torch.equal(shortcut(x, kernel, stride), F.max_pool2d(x, kernel, stride))


@pytest.mark.parametrize("shortcut, called", [
    (numpy_windows_pool, "numpy.lib.stride_tricks.sliding_window_view"),
    pytest.param(scipy_filter_pool, "scipy.ndimage.maximum_filter", marks=NEEDS_SCIPY),
], ids=["sliding_window_view", "scipy.ndimage"])
def test_numpy_and_scipy_pooling_is_refused(shortcut, called):
    report = check_pool2d(shortcut)
    assert len(report.failed) == POOL_CASES, str(report)
    assert report[0].message == (f"fn(x, 2) called {called}: {POOL_TASK}, so the checker does "
                                 f"not accept that here"), str(report)


@pytest.mark.parametrize("kind, shortcut, called", [
    ("max", F.max_pool2d, "torch's max_pool2d"),
    ("max", torch.max_pool2d, "torch's max_pool2d"),
    ("max", nn_max_pool, "torch's max_pool2d"),
    ("max", lambda x, k, stride=None, padding=0: F.adaptive_max_pool2d(x, 2),
     "torch's adaptive_max_pool2d"),
    ("max", tensor_unfold_pool, "torch's unfold"),
    ("avg", F.avg_pool2d, "torch's avg_pool2d"),
    ("avg", lambda x, k, stride=None, padding=0: F.lp_pool2d(x, 1, k, stride),
     "torch's lp_pool2d"),
    ("avg", avg_pool_as_conv, "torch's conv2d"),
    ("max", ops.max_pool2d, "the course's own mnist_tutorial.ops.max_pool2d"),
    ("avg", ops.avg_pool2d, "the course's own mnist_tutorial.ops.avg_pool2d"),
    ("max", ops.max_pool2d_loops, "the course's own mnist_tutorial.ops.max_pool2d_loops"),
    ("avg", ops.avg_pool2d_loops, "the course's own mnist_tutorial.ops.avg_pool2d_loops"),
    ("max", lambda x, k, stride=None, padding=0: ops.pool2d_loops(x, (k, k), (k, k), torch.max),
     "the course's own mnist_tutorial.ops.pool2d_loops"),
    ("max", lambda x, k, stride=None, padding=0: pooling.POOLING_OPS["max"](x, k),
     "the course's own mnist_tutorial.ops.max_pool2d"),
], ids=["F.max_pool2d", "torch.max_pool2d", "nn.MaxPool2d", "adaptive", "Tensor.unfold",
        "F.avg_pool2d", "lp_pool2d", "avg as conv", "ops.max_pool2d", "ops.avg_pool2d",
        "ops.max_pool2d_loops", "ops.avg_pool2d_loops", "ops.pool2d_loops", "POOLING_OPS"])
def test_pool_shortcuts_are_refused(kind, shortcut, called):
    report = check_pool2d(shortcut, kind)
    assert not report.passed
    assert report[0].message == (f"fn(x, 2) called {called}: {POOL_TASK}, so the checker does "
                                 f"not accept that here"), str(report)


# --- the mistakes beginners make, each with its hint ----------------------------------------------

def conv_with(mistake):
    """conv_as_the_text_says with one beginner's mistake in it."""
    def learner(x, weight, bias=None, stride=1, padding=0):
        unbatched = x.dim() == 3
        if unbatched:
            x = x[None]
        sh, sw = as_pair(stride)
        kh, kw = weight.shape[-2:]
        if mistake == "kernel unpacked as (width, height)":
            kw, kh = weight.shape[-2:]
        x = ops.pad2d(x, padding)
        out_h, out_w = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
        if mistake == "/ instead of //":
            out_h, out_w = (x.shape[2] - kh) / sh + 1, (x.shape[3] - kw) / sw + 1
        if mistake == "a ceil size":
            out_h = math.ceil((x.shape[2] - kh) / sh) + 1
            out_w = math.ceil((x.shape[3] - kw) / sw) + 1
        out = torch.zeros(x.shape[0], weight.shape[0], out_h, out_w, dtype=x.dtype)
        for n in range(x.shape[0]):
            for o in range(weight.shape[0]):
                for i in range(out_h):
                    for j in range(out_w):
                        window = x[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                        if mistake == "stride for the size, not the window":
                            window = x[n, :, i:i + kh, j:j + kw]
                        value = (window * weight[o]).sum()
                        if mistake == "no sum over the input channels":
                            for c in range(x.shape[1]):  # = where += was needed
                                value = (window[c] * weight[o, c]).sum()
                        if mistake == "weight instead of weight[o]":
                            value = (window * weight).sum()
                        if bias is not None and mistake == "bias added per input channel":
                            for _ in range(x.shape[1]):
                                value = value + bias[o]
                        elif bias is not None and mistake == "bias summed":
                            value = value + bias.sum()
                        elif bias is not None and mistake == "bias added to every product":
                            value = (window * weight[o] + bias[o]).sum()
                        elif bias is not None and mistake != "out + bias":
                            value = value + bias[o]
                        if mistake == "transposed output":
                            out[n, o, j, i] = value
                        else:
                            out[n, o, i, j] = value
        if bias is not None and mistake == "out + bias":
            out = out + bias
        return out[0] if unbatched else out
    return learner


@pytest.mark.parametrize("mistake, case, hint", [
    ("no sum over the input channels", "the blog post's example: 3x4x4 input, one 3x3x3 kernel",
     "did you add up the input channels?"),
    ("weight instead of weight[o]", "several kernels (output channels) and a bias, batch of 2",
     "multiply the window by weight[o], the kernel of output channel o, not by the whole weight"),
    ("stride for the size, not the window", "stride 2",
     "the output size is right, but did the window move by the stride?"),
    ("stride for the size, not the window",
     SKIPPED_ROWS_CASE,
     "window (i, j) starts at row i * stride, column j * stride (stride=3)"),
    ("bias summed", "several kernels (output channels) and a bias, batch of 2",
     "not the sum of the whole bias"),
    ("bias added per input channel", "several kernels (output channels) and a bias, batch of 2",
     "not inside the loop over input channels"),
    ("bias added to every product", "several kernels (output channels) and a bias, batch of 2",
     "not to every product of the window"),
    ("out + bias", "several kernels (output channels) and a bias, batch of 2",
     "out + bias lines the bias up with the last axis"),
    ("out + bias", "float64 numbers in, float64 out",
     "the bias is added along the wrong axis"),
    ("transposed output", "worked example: 3x3 input, 2x2 kernel",
     "the output's rows and columns are swapped"),
    ("transposed output", "non-square input and kernel", "an index ran past the end of a tensor"),
    ("kernel unpacked as (width, height)", "non-square input and kernel",
     "the kernel's height and width are swapped: weight.shape is (out_channels, in_channels, "
     "kernel_height, kernel_width), here (2, 1, 2, 3)"),
    ("/ instead of //", "worked example: 3x3 input, 2x2 kernel", SLASH_HINT),
    ("/ instead of //", "stride 2", "use // (7 // 2 is 3)"),
    ("a ceil size", SKIPPED_ROWS_CASE,
     "a window runs past the bottom or right edge and comes out smaller: the output size rounds "
     "down"),
])
def test_conv_mistakes_get_their_hint(mistake, case, hint):
    failed = hints(check_conv2d(conv_with(mistake)))
    assert case in failed and hint in failed[case], failed.get(case, failed)
    assert "Hint: " in failed[case]


def test_each_conv_mistake_fails_some_case_and_never_as_a_bare_error():
    for mistake in ["no sum over the input channels", "weight instead of weight[o]",
                    "stride for the size, not the window", "bias summed",
                    "bias added per input channel", "bias added to every product", "out + bias",
                    "transposed output", "kernel unpacked as (width, height)", "/ instead of //",
                    "a ceil size"]:
        failed = hints(check_conv2d(conv_with(mistake)))
        assert failed, mistake
        assert all("Hint: " in message for message in failed.values()), (mistake, failed)


def test_a_ceil_size_that_pads_the_edge_is_named():
    def ceil_padded(x, weight, bias=None, stride=1, padding=0):
        (sh, sw), (kh, kw) = as_pair(stride), weight.shape[-2:]
        x = ops.pad2d(x, padding)
        out_h = math.ceil((x.shape[-2] - kh) / sh) + 1
        out_w = math.ceil((x.shape[-1] - kw) / sw) + 1
        grown = F.pad(x, (0, (out_w - 1) * sw + kw - x.shape[-1],
                          0, (out_h - 1) * sh + kh - x.shape[-2]))
        return conv_by_kernel_offsets(grown, weight, bias, stride)

    failed = hints(check_conv2d(ceil_padded))
    case = SKIPPED_ROWS_CASE
    assert set(failed) == {case, "stride and padding as (height, width) pairs"}
    assert "the size formula rounds down (//), not up" in failed[case]


def test_a_float32_answer_to_float64_inputs_fails_the_dtype_case():
    def float32(x, weight, bias=None, stride=1, padding=0):
        return conv_by_kernel_offsets(x, weight, bias, stride, padding).float()

    failed = hints(check_conv2d(float32))
    assert set(failed) == {"float64 numbers in, float64 out"}
    assert "the numbers are right, but they are torch.float32 where PyTorch gives torch.float64" \
        in failed["float64 numbers in, float64 out"]


def test_an_answer_for_ints_and_batches_only_gets_the_pair_and_batch_hints():
    def ints_and_batches(x, weight, bias=None, stride=1, padding=0):
        n, c, h, w = x.shape
        x = ops.pad2d(x, padding)
        kh, kw = weight.shape[-2:]
        out_h, out_w = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1
        out = torch.zeros(n, len(weight), out_h, out_w, dtype=x.dtype)
        for i in range(out_h):
            for j in range(out_w):
                window = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                out[:, :, i, j] = torch.einsum("nchw,ochw->no", window, weight)
        return out if bias is None else out + bias[:, None, None]

    failed = hints(check_conv2d(ints_and_batches))
    assert set(failed) == {"stride and padding as (height, width) pairs",
                           "one image without a batch axis: (C, H, W)"}
    assert "may each be one int (the same for rows and columns) or a (height, width) pair" \
        in failed["stride and padding as (height, width) pairs"]
    assert "x here is one image (C, H, W), without a batch axis" \
        in failed["one image without a batch axis: (C, H, W)"]


def test_a_bias_used_when_there_is_none_gets_a_hint():
    def bias_always(x, weight, bias=None, stride=1, padding=0):
        return conv_by_kernel_offsets(x, weight, None, stride, padding) + bias[:, None, None]

    failed = hints(check_conv2d(bias_always))
    assert "bias=None means no bias: add bias[o] only when there is one" in failed["stride 2"]


def test_a_pair_used_as_an_int_in_a_slice_gets_the_pair_hint():
    def int_slices(x, weight, bias=None, stride=1, padding=0):
        if isinstance(stride, tuple):
            return x[..., ::stride]  # what i * stride does in a slice: a tuple, no int
        return conv_by_kernel_offsets(x, weight, bias, stride, padding)

    failed = hints(check_conv2d(int_slices))
    assert set(failed) == {"stride and padding as (height, width) pairs"}
    assert "may each be one int (the same for rows and columns) or a (height, width) pair" in \
        failed["stride and padding as (height, width) pairs"]


def pool_with(mistake, kind="max"):
    """pool_as_the_text_says with one beginner's mistake in it."""
    def learner(x, kernel_size, stride=None, padding=0):
        unbatched = x.dim() == 3
        if unbatched:
            x = x[None]
        kh, kw = as_pair(kernel_size)
        sh, sw = as_pair(kernel_size if stride is None else stride)
        ph, pw = as_pair(padding)
        if mistake == "(h, w) pairs swapped":
            kw, kh = as_pair(kernel_size)
            sw, sh = as_pair(kernel_size if stride is None else stride)
        fill = float("-inf") if kind == "max" or mistake == "average padded with -inf" else 0.0
        if mistake == "max padded with zeros":
            fill = 0.0
        x = F.pad(x, (pw, pw, ph, ph), value=fill)
        out_h, out_w = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
        out = torch.zeros(x.shape[0], x.shape[1], out_h, out_w, dtype=x.dtype)
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                for i in range(out_h):
                    for j in range(out_w):
                        window = x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
                        if mistake == "max over all channels":
                            window = x[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                        out[n, c, i, j] = window.max() if kind == "max" else window.mean()
        return out[0] if unbatched else out
    return learner


@pytest.mark.parametrize("mistake, kind, case, hint", [
    ("max over all channels", "max", "a batch of 2 images with 3 channels",
     "pooling works on every channel of every image on its own"),
    ("max over all channels", "avg", "one image without a batch axis: (C, H, W)",
     "take the mean of x[n, c] in the window, one channel at a time"),
    ("(h, w) pairs swapped", "max",
     "non-square windows, stride and padding as (height, width) pairs",
     "pairs are (height, width): did you swap one of them?"),
    ("(h, w) pairs swapped", "avg",
     "non-square windows, stride and padding as (height, width) pairs",
     "pairs are (height, width)"),
    ("average padded with -inf", "avg", "padding 1 on negative numbers",
     "pad with zeros for average pooling: -inf (max pooling's padding)"),
    ("max padded with zeros", "max", "padding 1 on negative numbers",
     "pad with -inf, not zeros, for max pooling"),
])
def test_pool_mistakes_get_their_hint(mistake, kind, case, hint):
    failed = hints(check_pool2d(pool_with(mistake, kind), kind))
    assert case in failed and hint in failed[case], failed.get(case, failed)


def pool_variant(kind="max", pool=None, set_stride=None, set_padding=None, ceil=False,
                 counted=True):
    """pool_by_kernel_offsets with a setting built in: another kind of pooling, a stride or
    padding of its own, a ceil size, or the average over the real numbers only."""
    def learner(x, kernel_size, stride=None, padding=0):
        s = stride if set_stride is None else set_stride(kernel_size, stride)
        p = padding if set_padding is None else set_padding
        kh, kw = as_pair(kernel_size)
        sh, sw = as_pair(s or kernel_size)
        ph, pw = as_pair(p)
        if ceil:  # extend the bottom and right edges so that a partial window fits
            h, w = x.shape[-2] + 2 * ph, x.shape[-1] + 2 * pw
            extra_h = math.ceil((h - kh) / sh) * sh + kh - h
            extra_w = math.ceil((w - kw) / sw) * sw + kw - w
            x = F.pad(x, (pw, pw + extra_w, ph, ph + extra_h),
                      value=-math.inf if (pool or kind) == "max" else 0.0)
            p = 0
        if not counted:
            total = pool_by_kernel_offsets(x, kernel_size, s, p, kind="avg")
            ones = pool_by_kernel_offsets(torch.ones_like(x), kernel_size, s, p, kind="avg")
            return total / ones
        return pool_by_kernel_offsets(x, kernel_size, s, p, kind=pool or kind)
    return learner


@pytest.mark.parametrize("kind, learner, case, hint", [
    ("max", pool_variant(pool="avg"), "a batch of 2 images with 3 channels",
     "looks like average pooling"),
    ("avg", pool_variant("avg", pool="max"), "a batch of 2 images with 3 channels",
     "looks like max pooling"),
    ("max", pool_variant(set_stride=lambda k, s: s or 1),
     "2x2 windows on a 4x4 matrix (stride defaults to the window size)",
     "when no stride is given, it equals the kernel size"),
    ("max", pool_variant(set_stride=lambda k, s: k), "3x3 windows, stride 2",
     "did you ignore the stride?"),
    ("max", pool_variant(ceil=True), "odd size: the last row and column are dropped",
     "the size formula rounds down"),
    ("avg", pool_variant("avg", set_padding=0), "padding 1 on negative numbers",
     "did you forget the padding"),
    ("avg", pool_variant("avg", counted=False), "padding 1 on negative numbers",
     "count_include_pad=True"),
])
def test_more_pool_mistakes_get_their_hint(kind, learner, case, hint):
    failed = hints(check_pool2d(learner, kind))
    assert case in failed and hint in failed[case], failed.get(case, failed)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_raw_errors_get_a_hint(kind):
    def slash(x, kernel_size, stride=None, padding=0):
        stride = stride or kernel_size
        size = (x.shape[-1] - kernel_size) / stride + 1
        return torch.zeros(size)

    def stride_none(x, kernel_size, stride=None, padding=0):
        return x[..., ::stride * 1]

    def batches_only(x, kernel_size, stride=None, padding=0):
        n, c, h, w = x.shape
        return with_kind(pool_by_kernel_offsets, kind)(x, kernel_size, stride, padding)

    def ints_only(x, kernel_size, stride=None, padding=0):
        x = F.pad(x, (padding, padding, padding, padding))
        return with_kind(pool_by_kernel_offsets, kind)(x, kernel_size, stride)

    assert SLASH_HINT in check_pool2d(slash, kind)[0].message
    assert "stride=None means that the stride is the window size" in \
        check_pool2d(stride_none, kind)[0].message
    failed = hints(check_pool2d(batches_only, kind))
    assert set(failed) == {"one image without a batch axis: (C, H, W)"}
    assert "x here is one image (C, H, W), without a batch axis" in \
        failed["one image without a batch axis: (C, H, W)"]
    pairs = "non-square windows, stride and padding as (height, width) pairs"
    message = check_pool2d(ints_only, kind)[6].message
    assert check_pool2d(ints_only, kind)[6].name == pairs
    assert "kernel_size, stride and padding may each be one int" in message, message


# --- answers that must not break the checker ------------------------------------------------------

def test_flipped_kernel_fails_with_the_hint():
    def true_convolution(x, weight, bias=None, stride=1, padding=0):
        return conv_by_kernel_offsets(x, weight.flip(-2, -1), bias, stride, padding)

    report = check_conv2d(true_convolution)
    assert not report.passed and len(report.failed) == len(report)
    for message in hints(report).values():
        assert "did you flip the kernel? PyTorch's conv2d is cross-correlation" in message
    worked = report[0]
    assert worked.name.startswith("worked example") and "max abs difference 14" in worked.message
    assert "expected [[19.0, 25.0], [37.0, 43.0]]" in worked.message


def test_function_that_raises_fails_cleanly():
    def broken(x, weight, bias=None, stride=1, padding=0):
        raise RuntimeError("index out of range")

    report = check_conv2d(broken)
    assert not report.passed and len(report.failed) == CONV_CASES
    assert report[3].message == "fn(x, weight, stride=2) raised RuntimeError: index out of range"
    assert "FAIL  stride 2" in str(report)


def test_unfinished_skeleton_is_reported_as_not_done_yet():
    def skeleton(x, kernel_size, stride=None, padding=0):
        raise NotImplementedError("TODO: write max pooling")

    report = check_pool2d(skeleton)
    assert not report.passed and len(report.failed) == len(report)
    assert all(result.message.startswith("not done yet") for result in report)


def test_missing_parameters_are_reported_and_the_rest_still_checked():
    def no_options(x, weight):
        return conv_by_kernel_offsets(x, weight)

    failed = hints(check_conv2d(no_options))
    assert set(failed) == {"several kernels (output channels) and a bias, batch of 2", "stride 2",
                           SKIPPED_ROWS_CASE, "padding 1 (zeros around the input)",
                           "stride and padding as (height, width) pairs",
                           "float64 numbers in, float64 out"}
    assert all("unexpected keyword argument" in m and "give your function that parameter" in m
               for m in failed.values())


def test_wrong_type_and_wrong_shape():
    report = check_conv2d(lambda x, weight, **options: x.tolist())
    assert "returned an object of type list, expected a torch.Tensor of shape (1, 1, 2, 2)" \
        in report[0].message
    report = check_conv2d(lambda x, weight, **options: x)
    assert report[0].message.startswith("expected shape (1, 1, 2, 2), got (1, 1, 3, 3)")
    assert "count the window positions along each axis" in report[0].message


def test_pool_checker_survives_crashes():
    report = check_pool2d(lambda x, kernel_size: 1 / 0)
    assert not report.passed and len(report.failed) == POOL_CASES
    assert report[0].message == "fn(x, 2) raised ZeroDivisionError: division by zero"


def test_report_renders_as_text_in_a_notebook():
    report = check_pool2d(with_kind(pool_by_kernel_offsets, "avg"), "max")
    text = str(report)
    assert text.startswith(f"check_pool2d (kind='max'): 0 of {POOL_CASES} cases passed\n"
                           f"  FAIL  2x2 windows")
    assert pretty(report) == text


def test_checker_arguments():
    with pytest.raises(ValueError, match="kind must be 'max' or 'avg'"):
        check_pool2d(pool_by_kernel_offsets, "min")
    with pytest.raises(ValueError, match="pass your function itself"):
        check_conv2d(ops.conv2d(torch.zeros(1, 2, 2), torch.zeros(1, 1, 1, 1)))


def conv_answer(change):
    """A conv2d answer: a right one, passed through ``change``."""
    def learner(x, weight, bias=None, stride=1, padding=0):
        return change(conv_by_kernel_offsets(x, weight, bias, stride, padding))
    return learner


@pytest.mark.parametrize("stop", [lambda: exit(), lambda: sys.exit(3)], ids=["exit()", "sys.exit"])
def test_calling_exit_is_a_failed_case(stop):
    def learner(x, weight, bias=None, stride=1, padding=0):
        stop()

    report = check_conv2d(learner)
    assert not report.passed and len(report.failed) == CONV_CASES
    assert report[3].message == ("fn(x, weight, stride=2): your function called exit()/raised "
                                 "SystemExit, which stops Python: return the result instead")


def test_keyboard_interrupt_stops_the_checker():
    def interrupted(x, kernel_size, stride=None, padding=0):
        raise KeyboardInterrupt

    handler = signal.getsignal(signal.SIGALRM)
    with pytest.raises(KeyboardInterrupt):
        check_pool2d(interrupted)
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_other_base_exceptions_and_unprintable_errors_are_failed_cases():
    class Stop(BaseException):
        pass

    class Unprintable(Exception):
        def __str__(self):
            raise ValueError("no message")

    def stops(x, kernel_size, stride=None, padding=0):
        raise Stop("not an Exception")

    report = check_pool2d(stops)
    assert report[0].message == "fn(x, 2) raised Stop: not an Exception"

    def unprintable(x, kernel_size, stride=None, padding=0):
        raise Unprintable

    report = check_pool2d(unprintable)
    assert report[0].message == "fn(x, 2) raised Unprintable"
    assert "FAIL" in str(report)


@pytest.mark.parametrize("change, message", [
    (lambda out: out + 5j, "the answer is real; look for a j (as in 5j)"),
    (lambda out: out.to(torch.complex64), "returned complex numbers"),
    (lambda out: out.to_sparse(), "returned a tensor with layout torch.sparse_coo: return an "
                                  "ordinary (dense) tensor, e.g. with .to_dense()"),
    (lambda out: out.to("meta"), "returned a meta tensor, which has a shape but no values"),
    (lambda out: torch.empty(out.shape, device="meta"), "returned a meta tensor"),
], ids=["plus 5j", "complex", "sparse", "meta", "empty meta"])
def test_complex_sparse_and_meta_answers_fail_every_case(change, message):
    report = check_conv2d(conv_answer(change))
    assert not report.passed and len(report.failed) == CONV_CASES
    assert all(message in result.message for result in report), str(report)
    assert str(report).startswith(f"check_conv2d: 0 of {CONV_CASES} cases passed")
    if "5j" in message:
        assert report[0].message.endswith("returned complex numbers (torch.complex64): the "
                                          "answer is real; look for a j (as in 5j) or a complex "
                                          "tensor in your code")


def test_right_pool_answer_plus_5j_fails():
    def plus_5j(x, kernel_size, stride=None, padding=0):
        return pool_by_kernel_offsets(x, kernel_size, stride, padding) + 5j

    report = check_pool2d(plus_5j)
    assert not report.passed and len(report.failed) == POOL_CASES
    assert "returned complex numbers" in report[0].message


class Unreadable(torch.Tensor):
    """A tensor whose every use fails."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        raise RuntimeError("no values here")


def test_unreadable_tensor_is_a_failed_case():
    report = check_conv2d(conv_answer(lambda out: torch.Tensor._make_subclass(Unreadable, out)))
    assert not report.passed and len(report.failed) == CONV_CASES
    assert report[0].message == ("the checker could not read what fn(x, weight) returned "
                                 "(RuntimeError: no values here): return an ordinary torch.Tensor "
                                 "of numbers")
    assert "FAIL  worked example" in str(report)


def test_an_answer_that_changes_its_input_fails():
    def pads_in_place(x, weight, bias=None, stride=1, padding=0):
        out = conv_by_kernel_offsets(x, weight, bias, stride, padding)
        x.zero_()
        return out

    report = check_conv2d(pads_in_place)
    assert "changed its input x in place" in report[0].message


@pytest.mark.parametrize("time_limit", [0, -1.0, "5", float("inf"), float("nan")])
def test_time_limit_must_be_a_positive_number(time_limit):
    with pytest.raises(ValueError, match="time_limit must be a positive number of seconds"):
        check_pool2d(pool_by_kernel_offsets, time_limit=time_limit)
