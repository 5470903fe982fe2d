"""check_receptive_field: right answers written in different ways pass, each learner's mistake
fails with the hint that names it, the course's own functions are refused, a function that
changes its list fails, and a crash or a wrong type is a failed case."""

import math

import pytest
import torch

from mnist_tutorial import receptive_field as course
from mnist_tutorial.exercises import check_receptive_field
from mnist_tutorial.exercises.core import SKIPPED
from mnist_tutorial.exercises.receptive import CASES, MISTAKES
from tests.helpers import hints


def as_the_text_says(layers):
    """Written to the exercise: r and j start at 1; each layer adds its k - 1 steps of j pixels,
    then its stride multiplies j."""
    r = 1
    j = 1
    for layer in layers:
        kernel_size = layer[0]
        stride = layer[1]
        r = r + (kernel_size - 1) * j
        j = j * stride
    return r


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


def with_autograd(layers):
    """Measured like notebook 02 did: the span of the input pixels one output value depends on."""
    length = 1  # the input pixels one output value needs, from the output back
    for k, s in reversed(layers):
        length = (length - 1) * s + k
    x = torch.ones(1, 1, length + 1, requires_grad=True)
    y = x
    for k, s in layers:
        y = torch.nn.functional.avg_pool1d(y, k, s)
    y[0, 0, 0].backward()
    seen = x.grad[0, 0].nonzero().flatten()
    return int(seen[-1] - seen[0] + 1)


@pytest.mark.parametrize("fn", [as_the_text_says, forward_loop, backward_recursive, by_simulation,
                                numpy_style, with_autograd])
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


def adds_k(layers):
    r, j = 1, 1
    for k, s in layers:
        r += k * j
        j *= s
    return r


def adds_k_from_zero(layers):
    r, j = 0, 1
    for k, s in layers:
        r += k * j
        j *= s
    return r


def previous_stride_only(layers):
    r, before = 1, 1
    for k, s in layers:
        r += (k - 1) * before
        before = s
    return r


def strides_added(layers):
    r, j = 1, 1
    for k, s in layers:
        r += (k - 1) * j
        j += s
    return r


def strides_added_as_steps(layers):
    r, j = 1, 1
    for k, s in layers:
        r += (k - 1) * j
        j += s - 1
    return r


def pairs_swapped(layers):
    r, j = 1, 1
    for s, k in layers:  # each pair is (kernel_size, stride)
        r += (k - 1) * j
        j *= s
    return r


def field_times_stride(layers):
    r = 1
    for k, s in layers:
        r = (r + k - 1) * s
    return r


def backward_from_zero(layers):
    r = 0
    for k, s in reversed(layers):
        r = (r - 1) * s + k
    return r


def empty_is_zero(layers):
    return forward_loop(layers) if layers else 0


BLOG = "the blog post's network: conv 5, pool 2, conv 5, pool 2"
COMPOUND = "strides compound: three 2x2 poolings, then a 3x3 convolution"


@pytest.mark.parametrize("fn, case, hint", [
    (adds_k, "one 5x5 convolution", "expected 5, got 6\nHint: did you add k instead of k - 1?"),
    (adds_k_from_zero, "two 3x3 convolutions", "did you add k instead of k - 1?"),
    (adds_k_from_zero, BLOG, "did you add k instead of k - 1?"),
    (previous_stride_only, BLOG, "expected 16, got 15\nHint: did you use only the previous "
                                 "layer's stride? The jump is the product of *all* the strides"),
    (previous_stride_only, COMPOUND, "did you use only the previous layer's stride?"),
    (strides_added, BLOG, "did you add up the strides? Strides multiply"),
    (strides_added_as_steps, COMPOUND, "expected 24, got 15\nHint: did you add up the strides?"),
    (pairs_swapped, "one 5x5 convolution", "expected 5, got 1\nHint: did you swap kernel size "
                                           "and stride?"),
    (field_times_stride, BLOG, "expected 16, got 34\nHint: did you multiply the field by the "
                               "stride?"),
    (backward_from_zero, BLOG, "expected 16, got 12\nHint: off by one at the start: one output "
                               "value is r = 1 value of the last layer"),
    (empty_is_zero, "no layers: one value is one pixel", "off by one: a single value sees 1"),
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


def test_a_slip_is_named_by_all_answers_not_by_one_case():
    """On the blog post's stack, using only the previous stride gives 15, as an off-by-one
    would: the other cases tell the two apart."""
    off_by_one_hint, off_by_one = MISTAKES[0]
    assert off_by_one_hint.startswith("off by one") and off_by_one(course.BLOG_NET_LAYERS) == 15
    failed = hints(check_receptive_field(previous_stride_only))
    assert failed[BLOG].startswith("expected 16, got 15\nHint: did you use only the previous "
                                   "layer's stride?")


def test_every_mistake_is_told_apart_by_the_cases():
    answers = [tuple(fn(list(layers)) for _, layers in CASES) for _, fn in MISTAKES]
    right = tuple(forward_loop(list(layers)) for _, layers in CASES)
    assert right not in answers
    named = {answer: hint for (hint, _), answer in zip(MISTAKES, answers)}
    assert len(named) == len(answers)  # no two slips give the same answers everywhere


def test_a_mix_of_slips_gets_the_general_hint():
    def skips_the_last_layer(layers):
        return forward_loop(layers[:-1])

    failed = hints(check_receptive_field(skips_the_last_layer))
    assert failed[BLOG] == ("expected 16, got 14\nHint: go through the layers from the input, "
                            "keeping r (the field so far, 1 at the start) and j (input pixels "
                            "between two neighbouring values, 1 at the start): each layer adds "
                            "(k - 1) * j to r, then multiplies j by its stride")


def test_blog_case_prints_expected_and_got():
    failed = hints(check_receptive_field(forgot_the_jump))
    assert failed["the blog post's network: conv 5, pool 2, conv 5, pool 2"].startswith(
        "expected 16, got 11\nHint: did you forget the jump?")


def test_whole_number_answers_of_other_types_are_accepted():
    assert check_receptive_field(lambda layers: float(forward_loop(layers))).passed
    assert check_receptive_field(lambda layers: torch.tensor(forward_loop(layers))).passed


@pytest.mark.parametrize("fn, message", [
    (lambda layers: forward_loop(layers) + 0.5, "a receptive field is a whole number"),
    (lambda layers: str(forward_loop(layers)), "returned an object of type str"),
    (lambda layers: True, "returned True: return the number of pixels"),
    (lambda layers: [forward_loop(layers)], "returned an object of type list"),
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
    assert stopped[0].message.startswith("fn([]) did not finish within 0.05 s")
    assert all(r.message == SKIPPED for r in stopped.results[1:])  # one time limit, not nine
    assert "The cases marked SKIP were not run" in str(stopped)


def test_a_function_that_changes_its_list_fails_and_says_so():
    def pops(stack):
        r, j = 1, 1
        while stack:
            k, s = stack.pop(0)
            r, j = r + (k - 1) * j, j * s
        return r

    report = check_receptive_field(pops)
    assert report[0].passed  # the empty list stays empty
    assert all(result.message.startswith(f"fn({list(layers)!r}) changed its input stack in place "
                                         f"(it is now []), e.g. with stack.pop(), .reverse(), "
                                         f".sort() or stack[i] = ...")
               for result, (_, layers) in zip(report.results[1:], CASES[1:]))
    assert "work on a copy, list(stack)" in report[1].message


def test_reversing_the_list_in_place_is_named_before_the_wrong_order():
    def reverses(layers):
        layers.reverse()
        r = 1
        for k, s in layers:
            r = (r - 1) * s + k
        return r

    failed = hints(check_receptive_field(reverses))
    assert failed[BLOG].startswith("fn([(5, 1), (2, 2), (5, 1), (2, 2)]) changed its input "
                                   "layers in place (it is now [(2, 2), (5, 1), (2, 2), (5, 1)])")


REFUSED = ("called the course's own mnist_tutorial.receptive_field.{}: this exercise asks you to "
           "work the receptive field out yourself from the kernel sizes and strides, so the "
           "checker does not accept that here")


@pytest.mark.parametrize("fn, name", [
    (course.receptive_field, "receptive_field"),
    (lambda layers: course.receptive_field(layers), "receptive_field"),
    (lambda layers: len(range(1000)[course.input_window(layers, 0)]), "input_window"),
    (lambda layers: course.measured_receptive_field(layers), "measured_receptive_field"),
    (lambda layers: course.input_jump(layers) and forward_loop(layers), "input_jump"),
])
def test_the_course_solution_is_refused_under_any_name(fn, name):
    report = check_receptive_field(fn)
    assert len(report.failed) == len(report)
    assert all(result.message == f"fn({list(layers)!r}) {REFUSED.format(name)}"
               for result, (_, layers) in zip(report, CASES))
    assert course.receptive_field(course.BLOG_NET_LAYERS) == 16  # put back afterwards


def test_an_alias_imported_before_the_check_is_refused_too():
    from mnist_tutorial.receptive_field import receptive_field as field

    def sneaky(layers):
        try:
            return field(layers)
        except Exception:  # the refusal is no Exception: catching it changes nothing
            return 0

    report = check_receptive_field(sneaky)
    assert len(report.failed) == len(report)
    assert all(REFUSED.format("receptive_field") in result.message for result in report)


def test_bad_checker_arguments_are_refused():
    with pytest.raises(ValueError, match="pass your function itself"):
        check_receptive_field(16)
    with pytest.raises(ValueError, match="time_limit must be a positive number"):
        check_receptive_field(forward_loop, time_limit=0)
