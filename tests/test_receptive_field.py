"""Receptive fields: the formula against autograd's measurement and against the blog post's
network itself."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_tutorial.models import BlogNet
from mnist_tutorial.receptive_field import (
    BLOG_NET_LAYERS,
    conv2_field_box,
    input_jump,
    input_window,
    measured_receptive_field,
    receptive_field,
)


def test_blog_net_values_see_16_pixels_4_apart():
    assert receptive_field(BLOG_NET_LAYERS) == measured_receptive_field(BLOG_NET_LAYERS) == 16
    assert input_jump(BLOG_NET_LAYERS) == 4
    assert input_window(BLOG_NET_LAYERS, 0) == slice(0, 16)
    assert input_window(BLOG_NET_LAYERS, 3) == slice(12, 28)  # the last pool2 row ends at 28


def test_small_stacks_by_hand():
    assert receptive_field([]) == 1 and input_jump([]) == 1
    assert receptive_field([(3, 1), (3, 1)]) == 5
    assert receptive_field([(3, 2), (3, 1), (3, 1)]) == 11
    assert receptive_field([(1, 3), (3, 1)]) == measured_receptive_field([(1, 3), (3, 1)]) == 7


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(1, 3)), max_size=5))
def test_formula_equals_autograd_measurement(layers):
    assert receptive_field(layers) == measured_receptive_field(layers)


def test_a_pool2_value_depends_only_on_its_window_of_the_digit():
    torch.manual_seed(0)
    model = BlogNet().eval()
    x = torch.randn(1, 1, 28, 28, requires_grad=True)
    pool2 = model.pooling(model.conv2(model.pooling(model.conv1(x)).relu()))
    for row, col in ((0, 0), (1, 2), (3, 3)):
        grad, = torch.autograd.grad(pool2[0, 5, row, col], x, retain_graph=True)
        outside = torch.ones(28, 28, dtype=torch.bool)
        outside[input_window(BLOG_NET_LAYERS, row), input_window(BLOG_NET_LAYERS, col)] = False
        assert grad[0, 0][outside].abs().max() == 0
        assert grad[0, 0][~outside].abs().max() > 0


@pytest.mark.parametrize("layers, message", [
    ([(5,)], "layer 0 is \\(5,\\): give every layer as a pair"),
    ([(5, 1), (0, 2)], "layer 1 is \\(0, 2\\): kernel_size and stride must be positive"),
    ([(5, 1.5)], "must be positive whole numbers"),
    ([5], "layer 0 is 5"),
])
def test_bad_layers_are_refused_with_the_fix(layers, message):
    with pytest.raises(ValueError, match=message):
        receptive_field(layers)


@pytest.mark.parametrize("layers", [16, None])
def test_a_stack_that_is_not_a_list_is_refused_with_the_fix(layers):
    with pytest.raises(ValueError, match=f"layers is {layers}: give a list of \\(kernel_size, "
                                         f"stride\\) pairs from the input to the output, e.g. "
                                         f"\\[\\(5, 1\\), \\(2, 2\\)\\]"):
        receptive_field(layers)


def test_bad_index_is_refused():
    with pytest.raises(ValueError, match="index must be a whole number >= 0"):
        input_window(BLOG_NET_LAYERS, -1)


def test_conv2_field_box_corners():
    assert conv2_field_box((0, 0)) == (0, 0, 14, 14)
    assert conv2_field_box((7, 7)) == (14, 14, 28, 28)  # the last one ends at the image's edge
    assert conv2_field_box((1, 5)) == (2, 10, 16, 24)


def test_conv2_field_box_is_what_autograd_reaches():
    # an independent check: autograd through conv1, 2x2 average pooling and conv2 (all-ones
    # kernels) on an all-ones image reaches exactly the box's pixels
    x = torch.ones(1, 1, 28, 28, requires_grad=True)
    ones = torch.ones(1, 1, 5, 5)
    out = torch.nn.functional.conv2d(torch.nn.functional.avg_pool2d(
        torch.nn.functional.conv2d(x, ones), 2), ones)
    out[0, 0, 3, 6].backward()
    rows, columns = x.grad[0, 0].nonzero().unbind(1)
    top, left, bottom, right = conv2_field_box((3, 6))
    assert (rows.min(), columns.min(), rows.max() + 1, columns.max() + 1) == (top, left, bottom,
                                                                             right)
