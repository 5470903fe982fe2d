"""The plain-loop pooling functions (the solution of notebook 03's exercise) against
torch.nn.functional: random cases (hypothesis), integer dtypes, the checker, bad input."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings

from mnist_tutorial import ops
from mnist_tutorial.exercises import check_pool2d
from tests.strategies import pool_cases


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


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int64, torch.float64])
def test_max_pool2d_loops_on_other_dtypes(dtype):
    x = torch.randint(0 if dtype == torch.uint8 else -50, 50, (2, 3, 7, 6),
                      generator=torch.Generator().manual_seed(0)).to(dtype)
    expected = F.max_pool2d(x, 3, 2, 1)  # the padding never wins, even on negative integers
    assert torch.equal(ops.max_pool2d_loops(x, 3, 2, 1), expected)


def test_avg_pool2d_loops_on_int64_rounds_toward_zero_as_pytorch():
    x = torch.randint(-50, 50, (2, 2, 7, 7), generator=torch.Generator().manual_seed(1))
    assert torch.equal(ops.avg_pool2d_loops(x, 3, 2, 1), F.avg_pool2d(x, 3, 2, 1))


@pytest.mark.parametrize("fn, kind", [(ops.max_pool2d_loops, "max"),
                                      (ops.avg_pool2d_loops, "avg")])
def test_the_exercise_checker_accepts_the_loops(fn, kind):
    report = check_pool2d(fn, kind)
    assert report.passed, str(report)


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
