"""The output-size checker: right answers pass, each common mistake fails with its hint, and a
learner's crash is reported, never raised."""

import importlib.util
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view

from mnist_tutorial import ops
from mnist_tutorial.exercises import check_conv_output_size
from mnist_tutorial.exercises.core import SKIPPED
from mnist_tutorial.exercises.shapes import CASES, PREDICTIONS, check_size_predictions
from mnist_tutorial.ops import conv_output_size as renamed_reference
from mnist_tutorial.padding import window_positions
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


def rounding_up_the_other_way(size, kernel, padding=0, stride=1):
    room = size + 2 * padding - kernel
    if room < 0:
        raise ValueError("no window fits")
    return int(math.floor(room / stride)) + 1


def written_to_the_text(size, kernel, padding=0, stride=1):
    """What the exercise text asks, read literally: count the windows that fit in the padded
    input; none fits: ValueError."""
    padded = size + 2 * padding
    windows = 0
    for start in range(padded):
        if start % stride == 0 and start + kernel <= padded:
            windows += 1
    if windows == 0:
        raise ValueError("not even one window fits in the padded input")
    return windows


@pytest.mark.parametrize("fn", [with_formula, counting_positions, walking_the_window,
                                rounding_up_the_other_way, written_to_the_text])
def test_right_answers_pass_every_case(fn):
    report = check_conv_output_size(fn)
    assert report.passed, str(report)
    assert len(report) == len(CASES) == 13
    assert "13 of 13 cases passed" in str(report)
    assert str(report).endswith("the sizes F.conv2d gives. Well done!")


def asking_pytorch(size, kernel, padding=0, stride=1):
    try:
        out = F.conv2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, kernel, kernel),
                       stride=stride, padding=padding)
    except RuntimeError as error:
        raise ValueError(str(error)) from None
    return out.shape[-1]


def test_cases_cover_what_the_exercise_promises():
    expected = {case.name: case.expected for case in CASES}
    assert sum(value is None for value in expected.values()) == 3  # kernels that do not fit
    assert any(case.stride > 1 and (case.padded - case.kernel) % case.stride for case in CASES)
    assert any(case.padding > case.kernel for case in CASES)
    assert any(case.kernel == case.padded for case in CASES)
    for case in CASES:  # the reference agrees with PyTorch, refusal included
        if case.expected is None:
            with pytest.raises(ValueError, match="Kernel size can't be greater"):
                asking_pytorch(case.size, case.kernel, case.padding, case.stride)
        else:
            assert case.expected == asking_pytorch(case.size, case.kernel, case.padding,
                                                   case.stride)


# --- shortcuts: the size from PyTorch or from the course's own functions -------------------------

def max_pooling_a_dummy(size, kernel, padding=0, stride=1):
    return F.max_pool2d(torch.zeros(1, 1, size + 2 * padding, size + 2 * padding), kernel,
                        stride).shape[-1]


def unfolding_a_range(size, kernel, padding=0, stride=1):
    return torch.arange(size + 2 * padding).unfold(0, kernel, stride).shape[0]


def with_f_unfold(size, kernel, padding=0, stride=1):
    patches = F.unfold(torch.zeros(1, 1, size, 1), (kernel, 1), padding=(padding, 0),
                       stride=stride)
    return patches.shape[-1]


def with_a_conv_layer(size, kernel, padding=0, stride=1):
    layer = torch.nn.Conv2d(1, 1, kernel, stride=stride, padding=padding)
    return layer(torch.zeros(1, 1, size, size)).shape[-1]


def with_the_course_conv2d(size, kernel, padding=0, stride=1):
    return ops.conv2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, kernel, kernel),
                      stride=stride, padding=padding).shape[-1]


def counting_the_course_positions(size, kernel, padding=0, stride=1):
    return int(len(window_positions(size, kernel, padding, stride)) ** 0.5)


def through_an_alias(size, kernel, padding=0, stride=1):
    return renamed_reference(size, kernel, padding, stride)


def hiding_the_refusal(size, kernel, padding=0, stride=1):
    try:
        return ops.conv_output_size(size, kernel, padding, stride)
    except BaseException:
        return (size + 2 * padding - kernel) // stride + 1


def numpy_windows_of_zeros(size, kernel, padding=0, stride=1):
    return sliding_window_view(np.zeros(size + 2 * padding), kernel)[::stride].shape[0]


def scipy_convolving_zeros(size, kernel, padding=0, stride=1):
    from scipy.signal import convolve
    return len(convolve(np.zeros(size + 2 * padding), np.zeros(kernel), "valid")[::stride])


@pytest.mark.parametrize("shortcut, called", [
    (ops.conv_output_size, "the course's own mnist_tutorial.ops.conv_output_size"),
    (through_an_alias, "the course's own mnist_tutorial.ops.conv_output_size"),
    (hiding_the_refusal, "the course's own mnist_tutorial.ops.conv_output_size"),
    (ops.conv_output_size.__wrapped__, "the course's own mnist_tutorial.ops.conv_output_size"),
    (asking_pytorch, "torch's conv2d"),
    (with_a_conv_layer, "torch's conv2d"),
    (max_pooling_a_dummy, "torch's max_pool2d"),
    (unfolding_a_range, "torch's unfold"),
    (with_f_unfold, "torch's unfold"),
    (with_the_course_conv2d, "the course's own mnist_tutorial.ops.conv2d"),
    (counting_the_course_positions, "the course's own mnist_tutorial.padding.window_positions"),
    (numpy_windows_of_zeros, "numpy.lib.stride_tricks.sliding_window_view"),
    pytest.param(scipy_convolving_zeros, "scipy.signal.convolve", marks=pytest.mark.skipif(
        importlib.util.find_spec("scipy") is None, reason="scipy is optional and not installed")),
])
def test_shortcuts_are_refused(shortcut, called):
    report = check_conv_output_size(shortcut)
    assert not report.passed
    assert len(report.failed) == len(CASES), str(report)
    assert report[0].message.startswith(
        f"fn(28, 5) called {called}: this exercise asks you to count the window positions "
        f"yourself, from the four numbers, so the checker does not accept that here"), report[0]


def test_refused_functions_work_again_after_the_check():
    check_conv_output_size(through_an_alias)
    assert ops.conv_output_size(8, 3, stride=2) == 3 == len(window_positions(8, 3, 0, 2)) ** 0.5
    check_conv_output_size(numpy_windows_of_zeros)
    assert numpy_windows_of_zeros(8, 3, stride=2) == 3
    assert check_conv_output_size(with_formula).passed


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
    if kernel > size + 2 * padding:
        raise ValueError("does not fit")
    return torch.tensor(size + 2 * padding - kernel) // stride + 1


def equal_kernel_raises(size, kernel, padding=0, stride=1):
    if kernel >= size + 2 * padding:
        raise ValueError("does not fit")
    return (size + 2 * padding - kernel) // stride + 1


def range_without_the_last_start(size, kernel, padding=0, stride=1):
    starts = range(0, size + 2 * padding - kernel, stride)
    if len(starts) == 0:
        raise ValueError("no window fits")
    return len(starts)


def times_stride(size, kernel, padding=0, stride=1):
    if kernel > size + 2 * padding:
        raise ValueError("does not fit")
    return (size + 2 * padding - kernel) * stride + 1


def zero_when_it_does_not_fit(size, kernel, padding=0, stride=1):
    return max((size + 2 * padding - kernel) // stride + 1, 0)


def raises_the_wrong_error(size, kernel, padding=0, stride=1):
    if kernel > size + 2 * padding:
        raise RuntimeError("kernel too big")
    return (size + 2 * padding - kernel) // stride + 1


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
    (equal_kernel_raises, "kernel as large as the input: one position",
     "a kernel exactly as long as the padded input (5) fits once, at start 0: raise only when the "
     "kernel is LARGER"),
    (range_without_the_last_start, "kernel as large as the input: one position",
     "if you count the starts with range(...), its stop is left out"),
    (range_without_the_last_start, "stride 2 that divides evenly", "did you forget the + 1"),
    (times_stride, "stride 2 that divides evenly", "did you multiply by the stride?"),
    (zero_when_it_does_not_fit, "kernel larger than the padded input: ValueError",
     "returned 0, but the kernel (7) is larger than the padded input (4 + 2 x 1 = 6)\nHint: no "
     "window fits, so there is no output size: raise ValueError"),
    (raises_the_wrong_error, "kernel larger than the input: ValueError",
     "fn(4, 7) raised RuntimeError: kernel too big\nHint: the kernel does not fit, and then no "
     "window fits"),
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
    assert all(result.message == SKIPPED for result in report[1:]), str(report)  # one limit


def test_checker_arguments():
    with pytest.raises(ValueError, match="pass your function itself"):
        check_conv_output_size(24)
    with pytest.raises(ValueError, match="time_limit must be a positive number"):
        check_conv_output_size(with_formula, time_limit=0)


# --- the predictions, worked out by hand before the function ------------------------------------

RIGHT = {"size 28, kernel 5, padding 0, stride 1": 24, "size 28, kernel 5, padding 2, stride 1": 28,
         "size 8, kernel 3, padding 0, stride 2": 3, "size 7, kernel 2, padding 0, stride 3": 2,
         "size 7, kernel 3, padding 1, stride 2": 4, "size 4, kernel 7, padding 0, stride 1": 0,
         "size 4, kernel 7, padding 2, stride 1": 2}


def test_right_predictions_pass():
    assert [case.name for case in PREDICTIONS] == list(RIGHT)
    for case in PREDICTIONS:  # the right counts are PyTorch's, 0 where it refuses
        try:
            size = asking_pytorch(case.size, case.kernel, case.padding, case.stride)
        except ValueError:
            size = 0
        assert RIGHT[case.name] == size
    report = check_size_predictions(dict(RIGHT))
    assert report.passed, str(report)
    assert str(report).endswith("Now write the count as a function.")
    assert check_size_predictions({key: float(value) for key, value in RIGHT.items()}).passed


def test_the_template_is_not_done_yet():
    report = check_size_predictions(dict.fromkeys(RIGHT))
    assert len(report.failed) == len(RIGHT)
    assert all(message == "not done yet: replace None with your prediction"
               for _, _, message in report)
    assert check_size_predictions(dict.fromkeys(RIGHT, ...))[0].message.startswith("not done")


def predicted(**changes):
    """RIGHT with some settings predicted otherwise: changes are 'a'... for the settings' order."""
    keys = list(RIGHT)
    return {**RIGHT, **{keys[ord(letter) - ord("a")]: value for letter, value in changes.items()}}


@pytest.mark.parametrize("predictions, setting, hint", [
    (predicted(a=23), "size 28, kernel 5, padding 0, stride 1",
     "you predicted 23, which is too few\nHint: you may have counted the jumps, not the windows"),
    (predicted(b=24), "size 28, kernel 5, padding 2, stride 1",
     "the window also slides over the padding: the padded row is 28 + 2 x 2 = 32 long"),
    (predicted(b=26), "size 28, kernel 5, padding 2, stride 1",
     "padding 2 adds 2 columns on EACH side"),
    (predicted(c=4), "size 8, kernel 3, padding 0, stride 2",
     "too many\nHint: a window counts only where it fits entirely: the columns too few for one "
     "more jump are never visited (round down, not up)"),
    (predicted(c=6), "size 8, kernel 3, padding 0, stride 2",
     "the window jumps 2 columns at each step: only every 2th start is a window"),
    (predicted(d=3), "size 7, kernel 2, padding 0, stride 3", "(round down, not up)"),
    (predicted(d=1), "size 7, kernel 2, padding 0, stride 3", "counted the jumps, not the windows"),
    (predicted(e=3), "size 7, kernel 3, padding 1, stride 2",
     "counted the jumps, not the windows: the first window stands at the very start, before any "
     "jump; count it too; or padding 1 adds 1 columns on EACH side"),
    (predicted(e=5), "size 7, kernel 3, padding 1, stride 2",
     "count the starts: the first at 0, then every 2 column(s), as long as the whole kernel (3) "
     "still fits in the padded row (9 long)"),
    (predicted(f=-2), "size 4, kernel 7, padding 0, stride 1",
     "a count of windows is never negative: the kernel (7) is wider than the padded row "
     "(4 + 2 x 0 = 4), so not even one window fits: write 0"),
    (predicted(f=1), "size 4, kernel 7, padding 0, stride 1", "not even one window fits: write 0"),
    (predicted(g=0), "size 4, kernel 7, padding 2, stride 1",
     "a window does fit: the padded row is 4 + 2 x 2 = 8 long, and the kernel 7"),
    (predicted(a=23.5), "size 28, kernel 5, padding 0, stride 1",
     "you predicted 23.5\nHint: a prediction is a whole number: a window that only partly fits "
     "is no window"),
    (predicted(f="error"), "size 4, kernel 7, padding 0, stride 1",
     "you predicted 'error'\nHint: a prediction is a whole number of window positions (0 where "
     "not even one window fits)"),
    (predicted(b=32), "size 28, kernel 5, padding 2, stride 1",
     "that counts every column of the padded row as a start, but a window starting in the last 4 "
     "column(s) would stick out of it"),
    (predicted(a=28), "size 28, kernel 5, padding 0, stride 1", "every column of the row as a"),
    (predicted(a="24"), "size 28, kernel 5, padding 0, stride 1", "written as an int, e.g. 3"),
    (predicted(a=True), "size 28, kernel 5, padding 0, stride 1", "written as an int"),
])
def test_wrong_predictions_get_a_hint_not_the_answer(predictions, setting, hint):
    report = check_size_predictions(predictions)
    failed = hints(report)
    assert set(failed) == {setting}, failed
    assert hint in failed[setting], failed[setting]
    assert "expected" not in failed[setting] and "answer" not in failed[setting]


def test_a_wrong_prediction_is_not_told_the_right_number():
    message = hints(check_size_predictions(predicted(a=23, c=4)))
    assert "24" not in message["size 28, kernel 5, padding 0, stride 1"]
    assert not re.search(r"\b3\b", message["size 8, kernel 3, padding 0, stride 2"].replace(
        "kernel 3", ""))


def test_changed_or_missing_keys_are_named():
    predictions = dict(RIGHT)
    value = predictions.pop("size 28, kernel 5, padding 0, stride 1")
    predictions["size 28, kernel 5"] = value
    failed = hints(check_size_predictions(predictions))
    assert set(failed) == {"size 28, kernel 5, padding 0, stride 1",
                           "unknown setting 'size 28, kernel 5'"}
    assert "keep every key of the dict as it was given" in failed[
        "size 28, kernel 5, padding 0, stride 1"]
    with pytest.raises(ValueError, match="pass your dict of predictions"):
        check_size_predictions([24, 28, 3, 2, 4, 0, 2])
