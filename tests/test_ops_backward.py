"""The hand-written backward passes against autograd: random shapes, strides and paddings in
float64 (hypothesis; at least 1,000 cases for each backward function), PyTorch's
rule for max-pool ties, and every bad input."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_tutorial import ops
from tests.strategies import conv_cases, pool_cases, random_tensor

EXAMPLES = 1_000  # random cases per backward function (the course promises more than a thousand)
TOLERANCE = 1e-10  # float64 sums of a few hundred products agree to about 1e-14


def numbers(seed: int, *shape: int, whole: bool = False) -> torch.Tensor:
    """Random float64 numbers; ``whole``: small whole numbers, so that max-pool windows tie."""
    return random_tensor(seed, *shape, dtype=torch.float64, whole=whole)


def autograd(forward, inputs: list[torch.Tensor], grad_output_seed: int):
    """The forward output's shape, a random grad_output, and autograd's gradients of inputs."""
    leaves = [t.clone().requires_grad_() for t in inputs]
    out = forward(*leaves)
    grad_output = numbers(grad_output_seed, *out.shape)
    grads = torch.autograd.grad(out, leaves, grad_output)
    return grad_output, grads


def assert_close(got: torch.Tensor, expected: torch.Tensor) -> None:
    assert got.shape == expected.shape and got.dtype == expected.dtype
    torch.testing.assert_close(got, expected, rtol=TOLERANCE, atol=TOLERANCE)


# --- random cases against autograd (float64) ---------------------------------------------------

@settings(max_examples=EXAMPLES, deadline=None)
@given(conv_cases(max_size=7, max_batch=2, dtype=torch.float64), st.integers(0, 2**16))
def test_conv2d_backward_matches_autograd(case, seed):
    x, weight, _, stride, padding = case
    bias = numbers(seed + 7, len(weight))
    grad_output, expected = autograd(lambda x, w, b: F.conv2d(x, w, b, stride, padding),
                                     [x, weight, bias], seed)
    got = ops.conv2d_backward(x, weight, grad_output, stride, padding)
    assert isinstance(got, tuple) and len(got) == 3
    for mine, theirs in zip(got, expected):
        assert_close(mine, theirs)
    grad_x, grad_weight, grad_bias = ops.conv2d_backward(x, weight, grad_output, stride, padding,
                                                         input_grad=False)
    assert grad_x is None
    assert_close(grad_weight, expected[1])
    assert_close(grad_bias, expected[2])


@settings(max_examples=EXAMPLES, deadline=None)
@given(pool_cases(dtype=torch.float64), st.integers(0, 2**16))
def test_max_pool2d_backward_matches_autograd(case, seed):
    x, kernel, stride, padding = case
    grad_output, (expected,) = autograd(lambda x: F.max_pool2d(x, kernel, stride, padding), [x],
                                        seed)
    assert_close(ops.max_pool2d_backward(x, kernel, grad_output, stride, padding), expected)


@settings(max_examples=300, deadline=None)
@given(pool_cases(dtype=torch.float64, whole=True), st.integers(0, 2**16))
def test_max_pool2d_backward_breaks_ties_as_pytorch(case, seed):
    # whole numbers from -2 to 2: most windows hold their maximum twice or more
    x, kernel, stride, padding = case
    grad_output, (expected,) = autograd(lambda x: F.max_pool2d(x, kernel, stride, padding), [x],
                                        seed)
    assert_close(ops.max_pool2d_backward(x, kernel, grad_output, stride, padding), expected)


@settings(max_examples=EXAMPLES, deadline=None)
@given(pool_cases(dtype=torch.float64), st.integers(0, 2**16))
def test_avg_pool2d_backward_matches_autograd(case, seed):
    x, kernel, stride, padding = case
    grad_output, (expected,) = autograd(lambda x: F.avg_pool2d(x, kernel, stride, padding), [x],
                                        seed)
    assert_close(ops.avg_pool2d_backward(x, kernel, grad_output, stride, padding), expected)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.integers(0, 2**16),
       st.booleans())
def test_relu_backward_matches_autograd(shape, seed, whole):
    x = numbers(seed, *shape, whole=whole)  # whole numbers: many exact zeros, where the slope is 0
    grad_output, (expected,) = autograd(torch.relu, [x], seed + 1)
    assert_close(ops.relu_backward(x, grad_output), expected)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.integers(1, 6), st.integers(1, 8), st.integers(1, 8), st.integers(0, 2**16))
def test_linear_backward_matches_autograd(n, features_in, features_out, seed):
    x, weight = numbers(seed, n, features_in), numbers(seed + 1, features_out, features_in)
    bias = numbers(seed + 2, features_out)
    grad_output, expected = autograd(F.linear, [x, weight, bias], seed + 3)
    for mine, theirs in zip(ops.linear_backward(x, weight, grad_output), expected):
        assert_close(mine, theirs)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.integers(1, 9), st.integers(1, 12), st.integers(0, 2**16), st.floats(0.1, 100.0))
def test_cross_entropy_backward_matches_autograd(n, classes, seed, scale):
    scores = numbers(seed, n, classes) * scale  # large scores too: softmax must not overflow
    labels = torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(seed))
    leaf = scores.clone().requires_grad_()
    F.cross_entropy(leaf, labels).backward()
    assert_close(ops.cross_entropy_backward(scores, labels), leaf.grad)


# --- worked examples ------------------------------------------------------------------------------

def test_conv2d_backward_on_notebook_01s_example():
    # 3x3 input 0..8, 2x2 kernel [[0, 1], [2, 3]], every output gradient 1: each input pixel
    # gets the sum of the kernel numbers that touched it, i.e. the full convolution of a 2x2
    # block of ones with the flipped kernel
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    weight = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    grad_x, grad_weight, grad_bias = ops.conv2d_backward(x, weight, torch.ones(1, 1, 2, 2))
    assert grad_x.tolist() == [[[[0.0, 1.0, 1.0], [2.0, 6.0, 4.0], [2.0, 5.0, 3.0]]]]
    # weight[i, j] met the 2x2 block of pixels starting at (i, j): their sums
    assert grad_weight.tolist() == [[[[8.0, 12.0], [20.0, 24.0]]]]
    assert grad_bias.tolist() == [4.0]


def test_max_pool2d_backward_routes_to_the_first_maximum():
    x = torch.tensor([[[[1.0, 5.0, 2.0, 2.0],
                        [5.0, 0.0, 2.0, 2.0]]]])
    grad_x = ops.max_pool2d_backward(x, 2, torch.tensor([[[[10.0, 20.0]]]]))
    # window 1: 5 twice, the first in reading order wins; window 2: four 2s, the top left wins
    assert grad_x.tolist() == [[[[0.0, 10.0, 20.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]]


def test_avg_pool2d_backward_spreads_evenly_and_overlaps_add_up():
    grad_x = ops.avg_pool2d_backward(torch.zeros(1, 1, 3, 3), 2, torch.ones(1, 1, 2, 2), 1)
    assert grad_x.tolist() == [[[[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]]]


def test_cross_entropy_backward_is_softmax_minus_one_hot_over_n():
    scores = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    grad = ops.cross_entropy_backward(scores, torch.tensor([0, 1]))
    assert grad.tolist() == [[-0.25, 0.25], [0.25, -0.25]]


# --- bad inputs -------------------------------------------------------------------------------

def test_conv2d_backward_refuses_a_grad_output_of_another_shape():
    x, weight = torch.zeros(2, 3, 8, 8), torch.zeros(4, 3, 3, 3)
    with pytest.raises(ValueError, match=r"grad_output has shape \(2, 4, 6, 6\) but the forward "
                                         r"output has shape \(2, 4, 3, 3\).*stride and padding"):
        ops.conv2d_backward(x, weight, torch.zeros(2, 4, 6, 6), stride=2)
    with pytest.raises(ValueError, match=r"forward output has shape \(4, 6, 6\)"):
        ops.conv2d_backward(x[0], weight, torch.zeros(1, 4, 6, 6))


@pytest.mark.parametrize("call, error, message", [
    (lambda: ops.conv2d_backward(torch.zeros(8, 8), torch.zeros(1, 1, 3, 3), torch.zeros(6, 6)),
     ValueError, r"expects an input of shape \(N, C, H, W\) or \(C, H, W\).*x\[None\]"),
    (lambda: ops.conv2d_backward(torch.zeros(1, 2, 8, 8), torch.zeros(1, 1, 3, 3),
                                 torch.zeros(1, 1, 6, 6)),
     ValueError, "the input has 2 channels but the kernel has 1"),
    (lambda: ops.conv2d_backward(torch.zeros(1, 1, 4, 4, dtype=torch.long),
                                 torch.zeros(1, 1, 3, 3, dtype=torch.long),
                                 torch.zeros(1, 1, 2, 2, dtype=torch.long)),
     TypeError, r"needs floating-point tensors, got torch.int64: convert with x.float\(\)"),
    (lambda: ops.conv2d_backward(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3),
                                 torch.zeros(1, 1, 2, 2, dtype=torch.float64)),
     TypeError, r"grad_output is torch.float64: convert with grad_output.to\(x.dtype\)"),
    (lambda: ops.conv2d_backward(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3), [[1.0]]),
     TypeError, r"expected a torch.Tensor as grad_output, got list"),
    (lambda: ops.max_pool2d_backward(torch.zeros(1, 1, 4, 4), 2, torch.zeros(1, 1, 4, 4)),
     ValueError, r"grad_output has shape \(1, 1, 4, 4\) but the forward output has shape "
                 r"\(1, 1, 2, 2\).*the same input, kernel size, stride and padding"),
    (lambda: ops.max_pool2d_backward(torch.zeros(4, 4), 2, torch.zeros(2, 2)),
     ValueError, r"expects an input of shape \(N, C, H, W\) or \(C, H, W\)"),
    (lambda: ops.max_pool2d_backward(torch.zeros(1, 4, 4), 2, torch.zeros(1, 2, 2), padding=2),
     ValueError, "padding .* is more than half the kernel size"),
    (lambda: ops.avg_pool2d_backward(torch.zeros(1, 5, 5), 3, torch.zeros(1, 3, 3), stride=2),
     ValueError, r"grad_output has shape \(1, 3, 3\) but the forward output has shape "
                 r"\(1, 2, 2\)"),
    (lambda: ops.avg_pool2d_backward(torch.zeros(1, 2, 2, dtype=torch.long), 2,
                                     torch.zeros(1, 1, 1, dtype=torch.long)),
     TypeError, "needs floating-point tensors"),
    (lambda: ops.relu_backward(torch.zeros(3, 4), torch.zeros(4, 3)),
     ValueError, r"grad_output has shape \(4, 3\) but the forward output has shape \(3, 4\)"
                 r".*pass the same input as in the forward pass"),
    (lambda: ops.linear_backward(torch.zeros(2, 1, 4, 4), torch.zeros(5, 16), torch.zeros(2, 5)),
     ValueError, r"expects x of shape \(N, in_features\).*x.flatten\(1\)"),
    (lambda: ops.linear_backward(torch.zeros(2, 16), torch.zeros(5, 15), torch.zeros(2, 5)),
     ValueError, r"linear_backward: x has 16 features but the weight expects 15"),
    (lambda: ops.linear_backward(torch.zeros(2, 16), torch.zeros(5, 16), torch.zeros(5, 2)),
     ValueError, r"grad_output has shape \(5, 2\) but the forward output has shape \(2, 5\)"
                 r".*pass the same input and weight as in the forward pass"),
    (lambda: ops.cross_entropy_backward(torch.zeros(10), torch.tensor([3])),
     ValueError, r"expects scores of shape \(N, classes\), got shape \(10,\)"),
    (lambda: ops.cross_entropy_backward(torch.zeros(2, 10), torch.tensor([3.0, 1.0])),
     ValueError, r"labels must be N = 2 class numbers"),
    (lambda: ops.cross_entropy_backward(torch.zeros(2, 10), torch.tensor([3, 10])),
     ValueError, r"labels must lie in 0..9.*from 3 to 10"),
], ids=["conv 2-d input", "conv channels", "conv integers", "conv mixed dtypes", "conv list",
        "max-pool shape", "max-pool 2-d input", "max-pool padding", "avg-pool stride",
        "avg-pool integers", "relu shape", "linear 4-d input", "linear features",
        "linear grad_output", "cross-entropy 1-d scores", "cross-entropy float labels",
        "cross-entropy label range"])
def test_bad_inputs_say_what_to_fix(call, error, message):
    with pytest.raises(error, match=message):
        call()
