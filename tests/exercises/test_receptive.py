"""check_receptive_field: right answers written in different ways pass, each learner's mistake
fails with the hint that names it, and a crash or a wrong type is a failed case."""

import math

import pytest
import torch

from mnist_tutorial.exercises import check_receptive_field
from mnist_tutorial.exercises.receptive import CASES
from mnist_tutorial.receptive_field import receptive_field
from tests.helpers import hints


def forward_loop(layers):
    r, j = 1, 1
    for k, s in layers:
        r = r + (k - 1) * j
        j = j * s
    return r


def backward_recursive(layers):
    """From the output back: one value of the last layer needs (r - 1) * s + k values before it."""
    if not layers:
        return 1
    *earlier, (k, s) = layers
    return backward_recursive_from(earlier, (1 - 1) * s + k)


def backward_recursive_from(layers, r):
    if not layers:
        return r
    *earlier, (k, s) = layers
    return backward_recursive_from(earlier, (r - 1) * s + k)


def by_simulation(layers):
    """Grow the set of input pixels one output value depends on, layer by layer from the top."""
    seen = {0}
    for k, s in reversed(layers):
        seen = {p * s + i for p in seen for i in range(k)}
    return max(seen) - min(seen) + 1


def numpy_style(layers):
    jumps = [math.prod(s for _, s in layers[:i]) for i in range(len(layers))]
    return 1 + sum((k - 1) * j for (k, _), j in zip(layers, jumps))


@pytest.mark.parametrize("fn", [receptive_field, forward_loop, backward_recursive, by_simulation,
                                numpy_style])
def test_right_answers_pass(fn):
    report = check_receptive_field(fn)
    assert report.passed, str(report)
    assert f"{len(CASES)} of {len(CASES)} cases passed" in str(report)
    assert str(report).endswith("All cases agree with the receptive fields autograd measures. "
                                "Well done!")


def sum_of_kernels(layers):
    return sum(k for k, s in layers)


def forgot_the_plus_one(layers):
    r, j = 0, 1
    for k, s in layers:
        r += (k - 1) * j
        j *= s
    return r


def forgot_the_jump(layers):
    r = 1
    for k, _ in layers:
        r += k - 1
    return r


def own_stride(layers):
    r = 1
    for k, s in layers:
        r += (k - 1) * s
    return r


def jump_updated_first(layers):
    r, j = 1, 1
    for k, s in layers:
        j *= s
        r += (k - 1) * j
    return r


def backward_in_forward_order(layers):
    r = 1
    for k, s in layers:  # the backward step, but starting at the input
        r = (r - 1) * s + k
    return r


def returns_the_jump(layers):
    return math.prod(s for k, s in layers)


def product_of_kernels(layers):
    r = 1
    for k, _ in layers:
        r *= k
    return r


@pytest.mark.parametrize("fn, case, hint", [
    (sum_of_kernels, "two 3x3 convolutions", "did you add up the kernel sizes?"),
    (forgot_the_plus_one, "no layers: one value is one pixel", "off by one: a single value sees "
                                                               "1 pixel"),
    (forgot_the_jump, "the blog post's network: conv 5, pool 2, conv 5, pool 2",
     "did you forget the jump?"),
    (own_stride, "the blog post's network: conv 5, pool 2, conv 5, pool 2",
     "did you multiply by the layer's own stride?"),
    (jump_updated_first, "the blog post's network: conv 5, pool 2, conv 5, pool 2",
     "did you update the jump before using it?"),
    (backward_in_forward_order, "the blog post's network: conv 5, pool 2, conv 5, pool 2",
     "did you go through the layers in the wrong order?"),
    (returns_the_jump, "one 5x5 convolution", "this is the jump (the product of the strides)"),
    (product_of_kernels, "two 3x3 convolutions", "expected 5, got 9\nHint: did you multiply the "
                                                 "kernel sizes? Each layer adds to the field"),
])
def test_mistakes_fail_with_their_hint(fn, case, hint):
    report = check_receptive_field(fn)
    assert not report.passed
    failed = hints(report)
    assert hint in failed[case], failed[case]


def test_blog_case_prints_expected_and_got():
    failed = hints(check_receptive_field(forgot_the_jump))
    assert failed["the blog post's network: conv 5, pool 2, conv 5, pool 2"].startswith(
        "expected 16, got 11\nHint: did you forget the jump?")


def test_whole_number_answers_of_other_types_are_accepted():
    assert check_receptive_field(lambda layers: float(receptive_field(layers))).passed
    assert check_receptive_field(lambda layers: torch.tensor(receptive_field(layers))).passed


@pytest.mark.parametrize("fn, message", [
    (lambda layers: receptive_field(layers) + 0.5, "a receptive field is a whole number"),
    (lambda layers: str(receptive_field(layers)), "returned an object of type str"),
    (lambda layers: True, "returned True: return the number of pixels"),
    (lambda layers: [receptive_field(layers)], "returned an object of type list"),
])
def test_wrong_types_fail_every_case(fn, message):
    report = check_receptive_field(fn)
    assert len(report.failed) == len(report)
    assert all(message in result.message for result in report.failed)


def test_skeleton_crash_and_endless_loop_are_failed_cases():
    def skeleton(layers):
        raise NotImplementedError("write me")

    def crashes(layers):
        return layers[0][0]  # IndexError on the empty stack

    def endless(layers):
        while True:
            pass

    assert all(r.message.startswith("not done yet") for r in check_receptive_field(skeleton))
    crashed = check_receptive_field(crashes)
    assert crashed[0].message == "fn([]) raised IndexError: list index out of range"
    assert crashed[1].passed
    stopped = check_receptive_field(endless, time_limit=0.05)
    assert all("did not finish within 0.05 s" in r.message for r in stopped)


def test_the_learner_cannot_spoil_later_cases_by_changing_the_list():
    def pops(layers):
        result = receptive_field(layers)
        layers.clear()
        return result

    assert check_receptive_field(pops).passed


def test_bad_checker_arguments_are_refused():
    with pytest.raises(ValueError, match="pass your function itself"):
        check_receptive_field(16)
    with pytest.raises(ValueError, match="time_limit must be a positive number"):
        check_receptive_field(receptive_field, time_limit=0)
