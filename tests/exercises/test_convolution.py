"""The exercise checkers: right answers pass, each common mistake fails with its hint, and a
learner's crash is reported, never raised."""

import signal
import sys

import pytest
import torch
import torch.nn.functional as F
from IPython.lib.pretty import pretty

from mnist_tutorial import ops
from mnist_tutorial.exercises import check_conv2d, check_pool2d
from tests.helpers import hints


@pytest.mark.parametrize("fn", [ops.conv2d, ops.conv2d_loops, F.conv2d])
def test_correct_conv_passes_every_case(fn):
    report = check_conv2d(fn)
    assert report.passed and not report.failed
    assert len(report) == 9 and all(passed for _, passed, _ in report)
    assert "9 of 9 cases passed" in str(report)


@pytest.mark.parametrize("kind, fn", [("max", ops.max_pool2d), ("max", F.max_pool2d),
                                      ("avg", ops.avg_pool2d), ("avg", F.avg_pool2d)])
def test_correct_pool_passes_every_case(kind, fn):
    report = check_pool2d(fn, kind)
    assert report.passed, str(report)
    assert "8 of 8 cases passed" in str(report)


def test_flipped_kernel_fails_with_the_hint():
    def true_convolution(x, weight, bias=None, stride=1, padding=0):
        return F.conv2d(x, weight.flip(-2, -1), bias, stride, padding)

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
    assert not report.passed and len(report.failed) == 9
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
        return F.conv2d(x, weight)

    failed = hints(check_conv2d(no_options))
    assert set(failed) == {"several kernels (output channels) and a bias, batch of 2", "stride 2",
                           "stride 3: the last column that does not fit is skipped",
                           "padding 1 (zeros around the input)",
                           "stride and padding as (height, width) pairs"}
    assert all("unexpected keyword argument" in m and "give your function that parameter" in m
               for m in failed.values())


def test_wrong_type_and_wrong_shape():
    report = check_conv2d(lambda x, weight, **options: x.tolist())
    assert "returned an object of type list, expected a torch.Tensor of shape (1, 1, 2, 2)" \
        in report[0].message
    report = check_conv2d(lambda x, weight, **options: x)
    assert report[0].message.startswith("expected shape (1, 1, 2, 2), got (1, 1, 3, 3)")
    assert "(size + 2 * padding - kernel) // stride + 1" in report[0].message


@pytest.mark.parametrize("mistake, case, hint", [
    (lambda x, w, b=None, s=1, p=0: F.conv2d(x, w, None, s, p),
     "several kernels (output channels) and a bias, batch of 2", "did you forget the bias?"),
    (lambda x, w, b=None, s=1, p=0: F.conv2d(x, w, b, 1, p), "stride 2",
     "did you ignore the stride?"),
    (lambda x, w, b=None, s=1, p=0: F.conv2d(x, w, b, s, 0), "padding 1 (zeros around the input)",
     "did you forget the padding?"),
    (lambda x, w, b=None, s=1, p=0: F.conv2d(x, w, b, s[::-1] if isinstance(s, tuple) else s,
                                             p[::-1] if isinstance(p, tuple) else p),
     "stride and padding as (height, width) pairs", "pairs are (height, width)"),
    (lambda x, w, b=None, s=1, p=0: F.conv2d(x, w.transpose(-2, -1), b, s, p),
     "the blog post's example: 3x4x4 input, one 3x3x3 kernel", "did you swap the kernel's rows"),
    (lambda x, w, b=None, s=1, p=0: F.conv2d(x if x.dim() == 4 else x[None], w, b, s, p),
     "one image without a batch axis: (C, H, W)", "without a batch axis"),
])
def test_conv_mistakes_get_their_hint(mistake, case, hint):
    def learner(x, weight, bias=None, stride=1, padding=0):
        return mistake(x, weight, bias, stride, padding)

    failed = hints(check_conv2d(learner))
    assert case in failed and hint in failed[case]


@pytest.mark.parametrize("kind, learner, case, hint", [
    ("max", F.avg_pool2d, "a batch of 2 images with 3 channels", "looks like average pooling"),
    ("avg", F.max_pool2d, "a batch of 2 images with 3 channels", "looks like max pooling"),
    ("max", lambda x, k, stride=None, padding=0: F.max_pool2d(x, k, stride or 1, padding),
     "2x2 windows on a 4x4 matrix (stride defaults to the window size)",
     "when no stride is given, it equals the kernel size"),
    ("max", lambda x, k, stride=None, padding=0: F.max_pool2d(x, k, stride, padding,
                                                             ceil_mode=True),
     "odd size: the last row and column are dropped", "the size formula rounds down"),
    ("max", lambda x, k, stride=None, padding=0: F.max_pool2d(x, k, k, padding),
     "3x3 windows, stride 2", "did you ignore the stride?"),
    ("max", lambda x, k, stride=None, padding=0: ops.max_pool2d(ops.pad2d(x, padding), k, stride),
     "padding 1 on negative numbers", "pad with -inf, not zeros, for max pooling"),
    ("avg", lambda x, k, stride=None, padding=0: F.avg_pool2d(x, k, stride, padding,
                                                             count_include_pad=False),
     "padding 1 on negative numbers", "count_include_pad=True"),
    ("avg", lambda x, k, stride=None, padding=0: F.avg_pool2d(x, k, stride),
     "padding 1 on negative numbers", "did you forget the padding"),
])
def test_pool_mistakes_get_their_hint(kind, learner, case, hint):
    failed = hints(check_pool2d(learner, kind))
    assert case in failed and hint in failed[case], failed.get(case)


def test_pool_checker_survives_crashes():
    report = check_pool2d(lambda x, kernel_size: 1 / 0)
    assert not report.passed and len(report.failed) == 8
    assert report[0].message == "fn(x, 2) raised ZeroDivisionError: division by zero"


def test_report_renders_as_text_in_a_notebook():
    report = check_pool2d(ops.avg_pool2d, "max")
    text = str(report)
    assert text.startswith("check_pool2d (kind='max'): 0 of 8 cases passed\n  FAIL  2x2 windows")
    assert pretty(report) == text


def test_checker_arguments():
    with pytest.raises(ValueError, match="kind must be 'max' or 'avg'"):
        check_pool2d(ops.max_pool2d, "min")
    with pytest.raises(ValueError, match="pass your function itself"):
        check_conv2d(ops.conv2d(torch.zeros(1, 2, 2), torch.zeros(1, 1, 1, 1)))


# --- answers that must not break the checker ------------------------------------------------------

def conv_answer(change):
    """A conv2d answer: the right one, passed through ``change``."""
    def learner(x, weight, bias=None, stride=1, padding=0):
        return change(F.conv2d(x, weight, bias, stride, padding))
    return learner


@pytest.mark.parametrize("stop", [lambda: exit(), lambda: sys.exit(3)], ids=["exit()", "sys.exit"])
def test_calling_exit_is_a_failed_case(stop):
    def learner(x, weight, bias=None, stride=1, padding=0):
        stop()

    report = check_conv2d(learner)
    assert not report.passed and len(report.failed) == 9
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
    (lambda out: out + 5j, "returned complex numbers (torch.complex64): the answer is real; look "
                           "for a j (as in 5j)"),
    (lambda out: out.to(torch.complex64), "returned complex numbers"),
    (lambda out: out.to_sparse(), "returned a tensor with layout torch.sparse_coo: return an "
                                  "ordinary (dense) tensor, e.g. with .to_dense()"),
    (lambda out: out.to("meta"), "returned a meta tensor, which has a shape but no values"),
    (lambda out: torch.empty(out.shape, device="meta"), "returned a meta tensor"),
], ids=["plus 5j", "complex", "sparse", "meta", "empty meta"])
def test_complex_sparse_and_meta_answers_fail_every_case(change, message):
    report = check_conv2d(conv_answer(change))
    assert not report.passed and len(report.failed) == 9
    assert all(message in result.message for result in report), str(report)
    assert str(report).startswith("check_conv2d: 0 of 9 cases passed")


def test_right_pool_answer_plus_5j_fails():
    report = check_pool2d(lambda x, k, stride=None, padding=0: F.max_pool2d(x, k, stride,
                                                                           padding) + 5j)
    assert not report.passed and len(report.failed) == 8
    assert "returned complex numbers" in report[0].message


class Unreadable(torch.Tensor):
    """A tensor whose every use fails."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        raise RuntimeError("no values here")


def test_unreadable_tensor_is_a_failed_case():
    report = check_conv2d(conv_answer(lambda out: torch.Tensor._make_subclass(Unreadable, out)))
    assert not report.passed and len(report.failed) == 9
    assert report[0].message == ("the checker could not read what fn(x, weight) returned "
                                 "(RuntimeError: no values here): return an ordinary torch.Tensor "
                                 "of numbers")
    assert "FAIL  worked example" in str(report)


@pytest.mark.parametrize("time_limit", [0, -1.0, "5", float("inf"), float("nan")])
def test_time_limit_must_be_a_positive_number(time_limit):
    with pytest.raises(ValueError, match="time_limit must be a positive number of seconds"):
        check_pool2d(F.max_pool2d, time_limit=time_limit)


@pytest.mark.parametrize("fn, kind", [(ops.max_pool2d_loops, "max"),
                                      (ops.avg_pool2d_loops, "avg")])
def test_the_pool_checker_accepts_the_package_loops(fn, kind):
    report = check_pool2d(fn, kind)
    assert report.passed, str(report)
