"""The output-size checker: right answers pass, each common mistake fails with its hint, and a
learner's crash is reported, never raised."""

import math

import pytest
import torch
import torch.nn.functional as F

from mnist_tutorial import ops
from mnist_tutorial.exercises import check_conv_output_size
from mnist_tutorial.exercises.shapes import CASES
from tests.helpers import hints

# --- right answers, written the way different learners would ------------------------------------

def with_formula(size, kernel, padding=0, stride=1):
    if kernel > size + 2 * padding:
        raise ValueError("the kernel does not fit in the padded input")
    return (size + 2 * padding - kernel) // stride + 1


def counting_positions(size, kernel, padding=0, stride=1):
    starts = range(0, size + 2 * padding - kernel + 1, stride)
    if len(starts) == 0:
        raise ValueError(f"a {kernel}-wide kernel has no place in {size + 2 * padding} pixels")
    return len(starts)


def walking_the_window(size, kernel, padding=0, stride=1):
    padded = size + 2 * padding
    if kernel > padded:
        raise ValueError("kernel too large")
    count, start = 0, 0
    while start + kernel <= padded:
        count, start = count + 1, start + stride
    return count


def asking_pytorch(size, kernel, padding=0, stride=1):
    try:
        out = F.conv2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, kernel, kernel),
                       stride=stride, padding=padding)
    except RuntimeError as error:
        raise ValueError(str(error)) from None
    return out.shape[-1]


@pytest.mark.parametrize("fn", [ops.conv_output_size, with_formula, counting_positions,
                                walking_the_window, asking_pytorch])
def test_right_answers_pass_every_case(fn):
    report = check_conv_output_size(fn)
    assert report.passed, str(report)
    assert len(report) == len(CASES) == 13
    assert "13 of 13 cases passed" in str(report)
    assert str(report).endswith("the sizes F.conv2d gives. Well done!")


def test_cases_cover_what_the_exercise_promises():
    expected = {case.name: case.expected for case in CASES}
    assert sum(value is None for value in expected.values()) == 3  # kernels that do not fit
    assert any(case.stride > 1 and (case.padded - case.kernel) % case.stride for case in CASES)
    assert any(case.padding > case.kernel for case in CASES)
    for case in CASES:  # the reference agrees with PyTorch, refusal included
        if case.expected is None:
            with pytest.raises(ValueError, match="Kernel size can't be greater"):
                asking_pytorch(case.size, case.kernel, case.padding, case.stride)
        else:
            assert case.expected == asking_pytorch(case.size, case.kernel, case.padding,
                                                   case.stride)


# --- wrong answers, each as a learner would write it ---------------------------------------------

def forgot_plus_one(size, kernel, padding=0, stride=1):
    if kernel > size + 2 * padding:
        raise ValueError("does not fit")
    return (size + 2 * padding - kernel) // stride


def plus_one_inside(size, kernel, padding=0, stride=1):
    if kernel > size + 2 * padding:
        raise ValueError("does not fit")
    return (size + 2 * padding - kernel + 1) // stride


def true_division(size, kernel, padding=0, stride=1):
    if kernel > size + 2 * padding:
        raise ValueError("does not fit")
    return (size + 2 * padding - kernel) / stride + 1


def rounds_up(size, kernel, padding=0, stride=1):
    if kernel > size + 2 * padding:
        raise ValueError("does not fit")
    return math.ceil((size + 2 * padding - kernel) / stride) + 1


def rounds_to_nearest(size, kernel, padding=0, stride=1):
    if kernel > size + 2 * padding:
        raise ValueError("does not fit")
    return round((size + 2 * padding - kernel) / stride) + 1


def padding_once(size, kernel, padding=0, stride=1):
    if kernel > size + padding:
        raise ValueError("does not fit")
    return (size + padding - kernel) // stride + 1


def no_padding(size, kernel, padding=0, stride=1):
    if kernel > size:
        raise ValueError("does not fit")
    return (size - kernel) // stride + 1


def no_stride(size, kernel, padding=0, stride=1):
    if kernel > size + 2 * padding:
        raise ValueError("does not fit")
    return size + 2 * padding - kernel + 1


def never_raises(size, kernel, padding=0, stride=1):
    return (size + 2 * padding - kernel) // stride + 1


def checks_the_unpadded_size(size, kernel, padding=0, stride=1):
    if kernel > size:
        raise ValueError("the kernel is larger than the image")
    return (size + 2 * padding - kernel) // stride + 1


def asserts_instead(size, kernel, padding=0, stride=1):
    assert kernel <= size + 2 * padding, "kernel too big"
    return (size + 2 * padding - kernel) // stride + 1


def returns_a_tensor(size, kernel, padding=0, stride=1):
    return F.conv2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, kernel, kernel),
                    stride=stride, padding=padding).shape[-1] * torch.ones((), dtype=torch.long)


@pytest.mark.parametrize("learner, case, hint", [
    (forgot_plus_one, "the blog post's conv1: 28x28 digit, 5x5 kernel",
     "did you forget the + 1"),
    (plus_one_inside, "stride 2 that divides evenly", "(or put it inside the division)"),
    (true_division, "the blog post's conv1: 28x28 digit, 5x5 kernel",
     "the answer is a float: use // (whole-number division) instead of /"),
    (true_division, "stride 2 that does not divide: the last column is skipped",
     "/ keeps the fraction and gives a float"),
    (rounds_up, "stride 2 that does not divide: the last column is skipped",
     "did you round up"),
    (rounds_to_nearest, "stride 3, kernel 2: the columns between windows are skipped",
     "did you round up (or to the nearest number)?"),
    (padding_once, "'same' padding: 28x28, 5x5 kernel, padding 2",
     "is the padding counted once? padding=2 adds 2 columns on EACH side"),
    (padding_once, "kernel larger than the input, but padding makes it fit",
     "compare the kernel with size + 2 * padding"),
    (no_padding, "padding larger than the kernel", "did you forget the padding?"),
    (no_stride, "stride 3 that does not divide, with padding", "did you ignore the stride?"),
    (never_raises, "kernel larger than the input: ValueError", "raise ValueError"),
    (never_raises, "kernel larger than the input, stride 2: ValueError",
     "returned 0, but the kernel (5) is larger than the padded input (3 + 2 x 0 = 3)"),
    (checks_the_unpadded_size, "kernel larger than the input, but padding makes it fit",
     "the kernel (7) does fit the PADDED input (4 + 2 x 2 = 8)"),
    (asserts_instead, "kernel larger than the padded input: ValueError",
     "Hint: the kernel does not fit, and then no window fits, so there is no output size: raise "
     "ValueError"),
    (returns_a_tensor, "the blog post's conv1: 28x28 digit, 5x5 kernel",
     "return a Python int (type Tensor is not one"),
])
def test_mistakes_fail_with_their_hint(learner, case, hint):
    report = check_conv_output_size(learner)
    failed = hints(report)
    assert not report.passed
    assert case in failed and hint in failed[case], failed.get(case)


def test_every_wrong_answer_fails_only_where_it_is_wrong():
    failed = hints(check_conv_output_size(never_raises))
    assert set(failed) == {case.name for case in CASES if case.expected is None}
    failed = hints(check_conv_output_size(checks_the_unpadded_size))
    assert set(failed) == {"kernel larger than the input, but padding makes it fit"}


def test_messages_say_what_was_called_and_expected():
    report = check_conv_output_size(forgot_plus_one)
    assert report[0].message.startswith("fn(28, 5) returned 23, expected 24\n")
    assert "fn(10, 4, padding=2, stride=3) returned 3, expected 4" in hints(report)[
        "stride 3 that does not divide, with padding"]


def test_unfinished_skeleton_is_reported_as_not_done_yet():
    def skeleton(size, kernel, padding=0, stride=1):
        raise NotImplementedError("write it")

    report = check_conv_output_size(skeleton)
    assert len(report.failed) == 13
    assert all(result.message.startswith("not done yet") for result in report)
    assert str(report).startswith("check_conv_output_size: 0 of 13 cases passed")


def test_crashes_and_missing_parameters_are_failed_cases():
    report = check_conv_output_size(lambda size, kernel: (size - kernel) + 1)
    failed = hints(report)
    assert "the blog post's conv1: 28x28 digit, 5x5 kernel" not in failed
    assert "give your function the parameters padding=0 and stride=1" in failed[
        "stride 2 that divides evenly"]
    report = check_conv_output_size(lambda size, kernel, padding=0, stride=1: 1 // 0)
    assert report[0].message == "fn(28, 5) raised ZeroDivisionError: integer division or modulo " \
                                "by zero"


def test_exit_and_endless_loops_do_not_stop_the_checker():
    def exits(size, kernel, padding=0, stride=1):
        exit()

    assert "called exit()" in check_conv_output_size(exits)[0].message

    def endless(size, kernel, padding=0, stride=1):
        count = 0
        while count >= 0:
            count += stride
        return count

    report = check_conv_output_size(endless, time_limit=0.05)
    assert not report.passed and "did not finish within 0.05 s" in report[0].message


def test_checker_arguments():
    with pytest.raises(ValueError, match="pass your function itself"):
        check_conv_output_size(24)
    with pytest.raises(ValueError, match="time_limit must be a positive number"):
        check_conv_output_size(with_formula, time_limit=0)
