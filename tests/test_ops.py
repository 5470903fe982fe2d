"""The from-scratch forward ops against torch.nn.functional: random cases (hypothesis), the
plain-loop versions, worked examples done by hand, every bad input, and the lesson code the
notebooks show. The backward passes: tests/test_ops_backward.py."""

import inspect
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_tutorial import ops
from mnist_tutorial.op_checks import INTEGERS
from mnist_tutorial.ops import (
    avg_pool2d,
    conv2d,
    conv2d_loops,
    conv_output_size,
    max_pool2d,
    pad2d,
)
from tests.helpers import assert_lesson_code
from tests.strategies import conv_cases, int_or_pair, pair, pool_cases, random_tensor

FAST = settings(max_examples=80, deadline=None)
SLOW = settings(max_examples=40, deadline=None)  # conv2d_loops: one Python step per output number


# --- random cases against torch.nn.functional -------------------------------------------------

@FAST
@given(conv_cases())
def test_conv2d_matches_pytorch(case):
    x, weight, bias, stride, padding = case
    expected = F.conv2d(x, weight, bias, stride, padding)
    got = conv2d(x, weight, bias, stride, padding)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@SLOW
@given(conv_cases(max_size=6))
def test_conv2d_loops_matches_pytorch(case):
    x, weight, bias, stride, padding = case
    expected = F.conv2d(x, weight, bias, stride, padding)
    got = conv2d_loops(x, weight, bias, stride, padding)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@FAST
@given(pool_cases(max_size=10, max_batch=3))
def test_max_pool2d_matches_pytorch(case):
    x, kernel, stride, padding = case
    expected = F.max_pool2d(x, kernel, stride, padding)
    got = max_pool2d(x, kernel, stride, padding)
    assert got.shape == expected.shape
    assert torch.equal(got, expected)  # a max picks one of the inputs: exact


@FAST
@given(pool_cases(max_size=10, max_batch=3))
def test_avg_pool2d_matches_pytorch(case):
    x, kernel, stride, padding = case
    expected = F.avg_pool2d(x, kernel, stride, padding)  # count_include_pad=True by default
    got = avg_pool2d(x, kernel, stride, padding)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@FAST
@given(dims=st.integers(2, 4), padding=int_or_pair(0, 3), value=st.sampled_from([0.0, -1.5]),
       seed=st.integers(0, 2**16), data=st.data())
def test_pad2d_matches_pytorch(dims, padding, value, seed, data):
    shape = data.draw(st.lists(st.integers(1, 5), min_size=dims, max_size=dims))
    x = random_tensor(seed, *shape)
    ph, pw = pair(padding)
    expected = F.pad(x, (pw, pw, ph, ph), value=value)
    assert torch.equal(pad2d(x, padding, value=value), expected)


@FAST
@given(n=st.integers(1, 30), kernel=st.integers(1, 7), padding=st.integers(0, 3),
       stride=st.integers(1, 4))
def test_conv_output_size_matches_pytorch(n, kernel, padding, stride):
    if kernel > n + 2 * padding:
        with pytest.raises(ValueError, match="larger than the padded input"):
            conv_output_size(n, kernel, padding, stride)
        return
    out = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, kernel, kernel),
                   stride=stride, padding=padding)
    assert conv_output_size(n, kernel, padding, stride) == out.shape[-1]


@pytest.mark.parametrize("columns_per_product", [1, 700, 10**9])
def test_conv2d_in_pieces_matches_pytorch(monkeypatch, columns_per_product):
    # 7 images, each 6x3 = 18 windows of 2*3*3 = 18 numbers: 324 numbers of im2col per image,
    # so the batch goes through in 7 pieces of one image, 4 pieces (2+2+2+1) or one piece
    monkeypatch.setattr("mnist_tutorial.ops.COLUMNS_PER_PRODUCT", columns_per_product)
    x = random_tensor(5, 7, 2, 6, 7).requires_grad_()
    weight = random_tensor(6, 4, 2, 3, 3).requires_grad_()
    ours = conv2d(x, weight, stride=(1, 2), padding=(1, 0))
    theirs = F.conv2d(x, weight, stride=(1, 2), padding=(1, 0))
    torch.testing.assert_close(ours, theirs)
    grads = [torch.autograd.grad(out.sum(), (x, weight)) for out in (ours, theirs)]
    for mine, reference in zip(*grads):
        torch.testing.assert_close(mine, reference)


def test_conv2d_gradients_match_pytorch():
    x = random_tensor(0, 2, 3, 9, 7).requires_grad_()
    weight = random_tensor(1, 4, 3, 3, 2).requires_grad_()
    bias = random_tensor(2, 4).requires_grad_()
    grads = []
    for conv in (conv2d, F.conv2d):
        conv(x, weight, bias, stride=(2, 1), padding=(1, 0)).pow(2).sum().backward()
        grads.append([t.grad.clone() for t in (x, weight, bias)])
        for t in (x, weight, bias):
            t.grad = None
    for ours, theirs in zip(*grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layout", ["channels_last", "sliced", "float64"])
def test_conv2d_and_pools_take_any_memory_layout(layout):
    x = random_tensor(3, 2, 3, 10, 11)
    weight = random_tensor(4, 5, 3, 3, 3)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "sliced":
        x = x[:, :, 1:, 2:]
    else:
        x, weight = x.double(), weight.double()
    torch.testing.assert_close(conv2d(x, weight), F.conv2d(x, weight))
    assert torch.equal(max_pool2d(x, 2), F.max_pool2d(x, 2))
    torch.testing.assert_close(avg_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 3, 2, 1))


# --- the plain-loop pooling (the solution of notebook 03's exercise) ------------------------------

@settings(max_examples=60, deadline=None)
@given(pool_cases())
def test_max_pool2d_loops_matches_pytorch(case):
    x, kernel, stride, padding = case
    expected = F.max_pool2d(x, kernel, stride, padding)
    got = ops.max_pool2d_loops(x, kernel, stride, padding)
    assert got.shape == expected.shape and torch.equal(got, expected)  # a max is one input: exact


@settings(max_examples=60, deadline=None)
@given(pool_cases())
def test_avg_pool2d_loops_matches_pytorch(case):
    x, kernel, stride, padding = case
    expected = F.avg_pool2d(x, kernel, stride, padding)  # count_include_pad=True by default
    got = ops.avg_pool2d_loops(x, kernel, stride, padding)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)



def test_pool2d_loops_hands_each_window_to_the_pooling_function():
    """Any reduction fits the loop: a min pool is minus the max pool of minus x."""
    x = torch.randn(2, 3, 7, 6)
    got = ops.pool2d_loops(x, (3, 2), (2, 1), lambda window: window.min())
    assert torch.equal(got, -F.max_pool2d(-x, (3, 2), (2, 1)))
    windows = []
    ops.pool2d_loops(x[:1, :1], (3, 3), (3, 3), lambda window: windows.append(window) or 0.0)
    assert [window.shape for window in windows] == [(3, 3)] * 4  # 2 x 2 positions, row by row
    assert torch.equal(windows[1], x[0, 0, 0:3, 3:6])

@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int64, torch.float64])
def test_max_pool2d_loops_on_other_dtypes(dtype):
    x = torch.randint(0 if dtype == torch.uint8 else -50, 50, (2, 3, 7, 6),
                      generator=torch.Generator().manual_seed(0)).to(dtype)
    expected = F.max_pool2d(x, 3, 2, 1)  # the padding never wins, even on negative integers
    assert torch.equal(ops.max_pool2d_loops(x, 3, 2, 1), expected)


def test_avg_pool2d_loops_on_int64_rounds_toward_zero_as_pytorch():
    x = torch.randint(-50, 50, (2, 2, 7, 7), generator=torch.Generator().manual_seed(1))
    assert torch.equal(ops.avg_pool2d_loops(x, 3, 2, 1), F.avg_pool2d(x, 3, 2, 1))


# --- every dtype, as torch.nn.functional --------------------------------------------------------

DTYPE_NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64",
               "float16", "bfloat16", "float32", "float64", "complex32", "complex64", "complex128",
               "float8_e4m3fn", "float8_e5m2"]
ALL_DTYPES = [getattr(torch, name) for name in DTYPE_NAMES if hasattr(torch, name)]
TWINS = {"conv2d": (conv2d, F.conv2d), "conv2d_loops": (conv2d_loops, F.conv2d),
         "max_pool2d": (max_pool2d, F.max_pool2d), "avg_pool2d": (avg_pool2d, F.avg_pool2d)}


def small_integers(seed: int, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    """Whole numbers in [-3, 3] ([0, 3] for unsigned types, 1j + 2 times them for complex ones)."""
    values = torch.randint(-3, 4, shape, generator=torch.Generator().manual_seed(seed))
    if dtype == torch.bool or not dtype.is_signed:
        values = values.abs()
    return (values * (1 + 2j) if dtype.is_complex else values).to(dtype)


def as_integers(x: torch.Tensor, dtype: torch.dtype, scale: float) -> torch.Tensor:
    """A float tensor of hypothesis' cases as whole numbers of ``dtype``, never below its range."""
    x = x.mul(scale).round()
    return (x if dtype.is_signed else x.abs()).to(dtype)


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("op", TWINS)
def test_every_dtype_as_pytorch(op, dtype):
    ours, theirs = TWINS[op]
    x = small_integers(0, 2, 3, 6, 7, dtype=dtype)
    if op.startswith("conv"):
        args = (x, small_integers(1, 4, 3, 3, 2, dtype=dtype), small_integers(2, 4, dtype=dtype))
    else:
        args = (x, 3)
    try:
        expected = theirs(*args, stride=2, padding=1)
    except (RuntimeError, NotImplementedError):  # PyTorch refuses this dtype: so do we, clearly
        with pytest.raises(TypeError, match=rf"{op} does not work on {dtype} tensors, and "
                                            r"neither does F\.\w+: convert the input first"):
            ours(*args, stride=2, padding=1)
        return
    torch.testing.assert_close(ours(*args, stride=2, padding=1), expected)  # same dtype, too


@FAST
@given(pool_cases(max_size=10, max_batch=3), st.sampled_from(INTEGERS))
def test_max_pool2d_on_integers_matches_pytorch(case, dtype):
    x, kernel, stride, padding = case
    x = as_integers(x, dtype, 40)
    assert torch.equal(max_pool2d(x, kernel, stride, padding),
                       F.max_pool2d(x, kernel, stride, padding))


@FAST
@given(pool_cases(max_size=10, max_batch=3))
def test_avg_pool2d_on_int64_matches_pytorch(case):
    x, kernel, stride, padding = case
    x = as_integers(x, torch.int64, 40)
    assert torch.equal(avg_pool2d(x, kernel, stride, padding),
                       F.avg_pool2d(x, kernel, stride, padding))


@SLOW
@pytest.mark.parametrize("conv", [conv2d, conv2d_loops])
@given(case=conv_cases(max_size=6), dtype=st.sampled_from(INTEGERS))
def test_convs_on_integers_match_pytorch(conv, case, dtype):
    x, weight, bias, stride, padding = (None if t is None else as_integers(t, dtype, 2)
                                        if isinstance(t, torch.Tensor) else t for t in case)
    # int8 and uint8 sums may wrap around; they wrap the same way as PyTorch's
    assert torch.equal(conv(x, weight, bias, stride, padding),
                       F.conv2d(x, weight, bias, stride, padding))


def test_integer_pooling_by_hand():
    x = torch.full((1, 3, 3), -100, dtype=torch.int8)
    assert torch.equal(max_pool2d(x, 3, 2, padding=1), x[:, :2, :2])  # padding is -128: never wins
    assert torch.equal(max_pool2d(x.abs().to(torch.uint8), 3, 2, padding=1),
                       torch.full((1, 2, 2), 100, dtype=torch.uint8))
    # windows (pad, -7), (-7, 0), (0, 5), (5, pad): the sums divided by 2, rounded toward zero
    row = torch.tensor([[[-7, 0, 5]]])
    assert torch.equal(avg_pool2d(row, (1, 2), 1, (0, 1)), torch.tensor([[[-3, -3, 2, 2]]]))


@pytest.mark.parametrize("conv", [conv2d, conv2d_loops])
@pytest.mark.parametrize("dtypes", [(torch.float32, torch.float64, None),
                                    (torch.int64, torch.int32, None),
                                    (torch.float32, torch.int64, None),
                                    (torch.float32, torch.float32, torch.float64),
                                    (torch.int64, torch.int64, torch.float32)], ids=str)
def test_mixed_dtypes_refused_as_pytorch(conv, dtypes):
    x, weight = torch.ones(1, 4, 4, dtype=dtypes[0]), torch.ones(1, 1, 2, 2, dtype=dtypes[1])
    bias = None if dtypes[2] is None else torch.ones(1, dtype=dtypes[2])
    with pytest.raises(RuntimeError):
        F.conv2d(x, weight, bias)
    name = "weight" if dtypes[1] != dtypes[0] else "bias"
    with pytest.raises(TypeError, match=rf"{conv.__name__}: x is {dtypes[0]} but {name} is "
                                        rf"\S+: the input, weight and bias must have one dtype "
                                        rf"\(F\.conv2d refuses mixed dtypes too\); convert with "
                                        rf"{name}\.to\(x\.dtype\)"):
        conv(x, weight, bias)


@pytest.mark.parametrize("dtypes", [(torch.bool, torch.bool), (torch.bool, torch.float32),
                                    (torch.float32, torch.bool)], ids=str)
def test_both_convs_refuse_bool_with_the_same_message(dtypes):
    x, weight = torch.ones(1, 4, 4, dtype=dtypes[0]), torch.ones(1, 1, 2, 2, dtype=dtypes[1])
    with pytest.raises((RuntimeError, NotImplementedError)):
        F.conv2d(x, weight)
    messages = []
    for conv in (conv2d, conv2d_loops):
        with pytest.raises(TypeError) as error:
            conv(x, weight)
        messages.append(str(error.value).replace("conv2d_loops", "conv2d"))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("conv", [conv2d, conv2d_loops])
def test_zero_kernels_refused_as_pytorch(conv):
    x, weight = torch.ones(1, 1, 4, 4), torch.ones(0, 1, 2, 2)
    with pytest.raises(RuntimeError, match="expected weight to be at least 1 at dimension 0"):
        F.conv2d(x, weight)
    with pytest.raises(ValueError, match=r"the weight holds no kernels, shape \(0, 1, 2, 2\): "
                                         rf"{conv.__name__} needs at least one kernel"):
        conv(x, weight, torch.ones(0))


@pytest.mark.parametrize("call, name, kind", [
    (lambda: conv2d(np.ones((1, 4, 4)), torch.ones(1, 1, 2, 2)), "x", "numpy.ndarray"),
    (lambda: conv2d_loops(torch.ones(1, 4, 4), [[[[1.0]]]]), "weight", "list"),
    (lambda: conv2d(torch.ones(1, 4, 4), torch.ones(1, 1, 2, 2), np.zeros(1)), "bias",
     "numpy.ndarray"),
    (lambda: max_pool2d(np.ones((1, 4, 4)), 2), "x", "numpy.ndarray"),
    (lambda: avg_pool2d([[[1.0, 2.0]]], 1), "x", "list"),
    (lambda: pad2d(np.ones((2, 2)), 1), "x", "numpy.ndarray"),
])
def test_non_tensors_are_a_type_error_that_says_how_to_convert(call, name, kind):
    with pytest.raises(TypeError, match=rf"expected a torch\.Tensor as {name}, got {kind}: "
                                        rf"convert with torch\.as_tensor\({name}\)"):
        call()


def test_pytorch_refuses_numpy_arrays_too():
    with pytest.raises(TypeError):
        F.conv2d(np.ones((1, 4, 4)), torch.ones(1, 1, 2, 2))
    with pytest.raises(TypeError):
        F.max_pool2d(np.ones((1, 4, 4)), 2)


# --- worked examples, by hand ---------------------------------------------------------------------

@pytest.mark.parametrize("conv", [conv2d, conv2d_loops])
def test_worked_example_3x3_input_2x2_kernel(conv):
    x = torch.tensor([[[[0.0, 1, 2], [3, 4, 5], [6, 7, 8]]]])
    kernel = torch.tensor([[[[0.0, 1], [2, 3]]]])
    # top left: 0*0 + 1*1 + 3*2 + 4*3 = 19; top right: 1*0 + 2*1 + 4*2 + 5*3 = 25, ...
    expected = torch.tensor([[[[19.0, 25], [37, 43]]]])
    assert torch.equal(conv(x, kernel), expected)


@pytest.mark.parametrize("conv", [conv2d, conv2d_loops])
def test_blog_example_3x4x4_input_3x3x3_kernel(conv):
    x = torch.arange(48.0).reshape(3, 4, 4)  # channel c holds 16c, ..., 16c + 15
    kernel = torch.ones(1, 3, 3, 3)
    # top left window: 45 per channel plus 9 * 16c, summed over c = 0, 1, 2 -> 135 + 432 = 567;
    # one step right adds 27 (1 per pixel), one step down adds 108 (4 per pixel)
    expected = torch.tensor([[[567.0, 594], [675, 702]]])
    out = conv(x, kernel)
    assert torch.equal(out, expected)
    per_channel = sum(conv(x[c:c + 1], kernel[:, c:c + 1]) for c in range(3))
    assert torch.equal(out, per_channel)  # each channel with its own kernel channel, then summed


@pytest.mark.parametrize("conv", [conv2d, conv2d_loops])
def test_stride_padding_bias_by_hand(conv):
    x = torch.arange(16.0).reshape(1, 4, 4)
    ones = torch.ones(1, 1, 2, 2)
    assert torch.equal(conv(x, ones, stride=2), torch.tensor([[[10.0, 18], [42, 50]]]))
    assert torch.equal(conv(x, ones, torch.tensor([0.5]), stride=2),
                       torch.tensor([[[10.5, 18.5], [42.5, 50.5]]]))
    padded = conv(torch.ones(1, 2, 2), torch.ones(1, 1, 3, 3), padding=1)
    assert torch.equal(padded, torch.full((1, 2, 2), 4.0))  # each window sees all four ones
    two_kernels = conv(x, torch.stack([ones, -ones]).squeeze(1), stride=2)
    assert two_kernels.shape == (2, 2, 2) and torch.equal(two_kernels[1], -two_kernels[0])


def test_pooling_by_hand():
    x = torch.arange(16.0).reshape(1, 4, 4)
    assert torch.equal(max_pool2d(x, 2), torch.tensor([[[5.0, 7], [13, 15]]]))
    assert torch.equal(avg_pool2d(x, 2), torch.tensor([[[2.5, 4.5], [10.5, 12.5]]]))
    negative = -torch.ones(1, 2, 2)
    assert torch.equal(max_pool2d(negative, 2, padding=1), -torch.ones(1, 2, 2))  # never the pad
    assert torch.equal(avg_pool2d(negative, 2, padding=1), torch.full((1, 2, 2), -0.25))


def test_pad2d_by_hand():
    padded = pad2d(torch.tensor([[1.0, 2], [3, 4]]), (1, 0))
    assert torch.equal(padded, torch.tensor([[0.0, 0], [1, 2], [3, 4], [0, 0]]))


def test_conv_output_size_by_hand():
    assert conv_output_size(28, 5) == 24             # the blog post's conv1
    assert conv_output_size(28, 5, padding=2) == 28  # "same" padding keeps the size
    assert conv_output_size(7, 3, padding=1, stride=2) == 4
    assert conv_output_size(8, 2, stride=3) == 3     # the last column does not fit and is dropped


def test_blog_network_shapes():
    x = torch.zeros(64, 1, 28, 28)
    x = max_pool2d(conv2d(x, torch.zeros(10, 1, 5, 5)), 2)
    assert x.shape == (64, 10, 12, 12)
    assert max_pool2d(conv2d(x, torch.zeros(20, 10, 5, 5)), 2).shape == (64, 20, 4, 4)


# --- bad input ------------------------------------------------------------------------------------

CONVS = pytest.mark.parametrize("conv", [conv2d, conv2d_loops])
POOLS = pytest.mark.parametrize("pool", [max_pool2d, avg_pool2d])


@CONVS
def test_channel_mismatch(conv):
    with pytest.raises(ValueError, match=r"input has 3 channels but the kernel has 2: a kernel "
                                         r"must have as many channels as its input"):
        conv(torch.zeros(3, 4, 4), torch.zeros(1, 2, 3, 3))


@CONVS
@pytest.mark.parametrize("stride", [0, -1, (1, 0)])
def test_conv_stride_must_be_positive(conv, stride):
    with pytest.raises(ValueError, match="stride must be positive"):
        conv(torch.zeros(1, 5, 5), torch.zeros(1, 1, 3, 3), stride=stride)


@CONVS
@pytest.mark.parametrize("padding", [-1, (0, -2)])
def test_conv_padding_must_not_be_negative(conv, padding):
    with pytest.raises(ValueError, match="padding must be zero or positive"):
        conv(torch.zeros(1, 5, 5), torch.zeros(1, 1, 3, 3), padding=padding)


@CONVS
def test_conv_kernel_larger_than_padded_input(conv):
    with pytest.raises(ValueError, match=r"kernel \(5\) is larger than the padded input "
                                         r"\(4 \+ 2 x 0 = 4\) along the height"):
        conv(torch.zeros(1, 4, 6), torch.zeros(1, 1, 5, 5))
    conv(torch.zeros(1, 4, 6), torch.zeros(1, 1, 5, 5), padding=1)  # fits once padded


@CONVS
@pytest.mark.parametrize("shape", [(4, 4), (1, 1, 1, 4, 4), (4,)])
def test_conv_input_dimensions(conv, shape):
    with pytest.raises(ValueError, match=r"expects an input of shape \(N, C, H, W\) or "
                                         r"\(C, H, W\), got \d dimensions"):
        conv(torch.zeros(shape), torch.zeros(1, 1, 2, 2))


@CONVS
@pytest.mark.parametrize("shape", [(2, 2), (1, 2, 2), (1, 1, 1, 2, 2)])
def test_conv_weight_dimensions(conv, shape):
    with pytest.raises(ValueError, match=r"expects a weight of shape \(out_channels, "
                                         r"in_channels, kH, kW\)"):
        conv(torch.zeros(1, 4, 4), torch.zeros(shape))


@CONVS
def test_conv_bias_shape(conv):
    with pytest.raises(ValueError, match=r"bias must have one value per output channel, "
                                         r"shape \(2,\), got shape \(3,\)"):
        conv(torch.zeros(1, 4, 4), torch.zeros(2, 1, 2, 2), torch.zeros(3))


@CONVS
@pytest.mark.parametrize("stride", [(1, 2, 3), 1.5, "2", True])
def test_conv_stride_type(conv, stride):
    with pytest.raises(ValueError, match="stride must be an int"):
        conv(torch.zeros(1, 4, 4), torch.zeros(1, 1, 2, 2), stride=stride)


@POOLS
def test_pool_errors(pool):
    x = torch.zeros(1, 4, 4)
    with pytest.raises(ValueError, match="stride must be positive"):
        pool(x, 2, stride=0)
    with pytest.raises(ValueError, match="padding must be zero or positive"):
        pool(x, 2, padding=-1)
    with pytest.raises(ValueError, match=r"kernel \(5\) is larger than the padded input"):
        pool(x, 5)
    with pytest.raises(ValueError, match="more than half the kernel size"):
        pool(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"expects an input of shape \(N, C, H, W\)"):
        pool(torch.zeros(4, 4), 2)
    with pytest.raises(ValueError, match="kernel size must be at least 1"):
        pool(x, 0)


@pytest.mark.parametrize("fn", [ops.max_pool2d_loops, ops.avg_pool2d_loops])
@pytest.mark.parametrize("call, error, message", [
    (lambda fn: fn(torch.zeros(4, 4), 2), ValueError,
     r"expects an input of shape \(N, C, H, W\) or \(C, H, W\).*x\[None\]"),
    (lambda fn: fn(torch.zeros(1, 4, 4), 2, padding=2), ValueError,
     r"padding \(2, 2\) is more than half the kernel size"),
    (lambda fn: fn(torch.zeros(1, 4, 4), 5), ValueError, "larger than the padded input"),
    (lambda fn: fn(torch.zeros(1, 4, 4), 2, 0), ValueError, "stride must be positive"),
    (lambda fn: fn(torch.zeros(1, 4, 4, dtype=torch.bool), 2), TypeError, "does not work on"),
    (lambda fn: fn([[[1.0]]], 1), TypeError, r"convert with torch.as_tensor\(x\)"),
])
def test_loops_refuse_bad_input_as_the_fast_versions(fn, call, error, message):
    with pytest.raises(error, match=message):
        call(fn)


def test_pad2d_errors():
    with pytest.raises(ValueError, match="needs at least 2 dimensions"):
        pad2d(torch.zeros(3), 1)
    with pytest.raises(ValueError, match="padding must be zero or positive"):
        pad2d(torch.zeros(3, 3), (1, -1))


@pytest.mark.parametrize("args, message", [
    ((4, 3, 0, 0), "stride must be positive"),
    ((4, 3, -1, 1), "padding must be zero or positive"),
    ((4, 7, 1, 1), "larger than the padded input"),
    ((0, 1, 0, 1), "must be at least 1"),
    ((4, 2.0, 0, 1), "kernel size must be an int"),
])
def test_conv_output_size_errors(args, message):
    with pytest.raises(ValueError, match=message):
        conv_output_size(*args)


# --- the lesson code the notebooks show -----------------------------------------------------------

LESSONS = [ops.conv2d_loops, ops.conv2d, ops.pad2d, ops.max_pool2d, ops.avg_pool2d,
           ops.max_pool2d_loops, ops.avg_pool2d_loops, ops.conv_output_size, ops.conv2d_backward,
           ops.max_pool2d_backward, ops.avg_pool2d_backward, ops.relu_backward,
           ops.linear_backward, ops.cross_entropy_backward]


@pytest.mark.parametrize("function", LESSONS, ids=lambda function: function.__name__)
def test_the_notebooks_show_lesson_code(function):
    assert_lesson_code(function)


def test_conv2d_loops_source_is_just_the_loops():
    source = inspect.getsource(ops.conv2d_loops)
    assert source.count("for ") == 4 and "pad2d(x, padding)" in source
    assert "wrap" not in source and "complex" not in source


@pytest.mark.parametrize("function", LESSONS, ids=lambda function: function.__name__)
def test_public_functions_keep_their_names_docstrings_and_signatures(function):
    lesson = function.__wrapped__
    assert function is not lesson and function.__name__ == lesson.__name__
    assert function.__doc__ == lesson.__doc__ and function.__module__ == "mnist_tutorial.ops"
    public = inspect.signature(function)
    assert list(public.parameters) == list(inspect.signature(lesson).parameters)


def test_public_signatures_are_those_of_pytorch():
    defaults = {name: {p.name: p.default for p in inspect.signature(getattr(ops, name))
                       .parameters.values() if p.default is not inspect.Parameter.empty}
                for name in ("conv2d", "conv2d_loops", "max_pool2d", "avg_pool2d_loops",
                             "conv2d_backward", "max_pool2d_backward", "pad2d")}
    assert defaults["conv2d"] == defaults["conv2d_loops"] == {"bias": None, "stride": 1,
                                                              "padding": 0}
    assert defaults["max_pool2d"] == defaults["avg_pool2d_loops"] == {"stride": None,
                                                                      "padding": 0}
    assert defaults["conv2d_backward"] == {"stride": 1, "padding": 0, "input_grad": True}
    assert defaults["max_pool2d_backward"] == {"stride": None, "padding": 0}
    assert defaults["pad2d"] == {"value": 0.0}


def test_the_lesson_code_reads_batches_and_pairs():
    # what the wrappers hand over: a 4-d batch and (height, width) pairs
    x, weight = random_tensor(0, 2, 3, 7, 6), random_tensor(1, 4, 3, 3, 2)
    torch.testing.assert_close(ops.conv2d.__wrapped__(x, weight, None, (2, 1), (1, 0)),
                               F.conv2d(x, weight, None, (2, 1), (1, 0)))
    assert torch.equal(ops.max_pool2d_loops.__wrapped__(x, (3, 2), (2, 2), (1, 1)),
                       F.max_pool2d(x, (3, 2), 2, 1))
    assert ops.lowest_value(torch.int8) == -128 and ops.lowest_value(torch.float16) == -math.inf
