"""How much a feature map changes when the digit moves, with and without pooling: by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from mnist_tutorial.augmentation import translate
from mnist_tutorial.kernels import VERTICAL_EDGES
from mnist_tutorial.pooling import POOLING_OPS, feature_map, relative_change, shift_change


def test_feature_map_and_relative_change_by_hand():
    images = torch.randn(3, 1, 8, 8)
    expected = F.relu(F.conv2d(images, VERTICAL_EDGES[None, None]))
    assert torch.allclose(feature_map(images, VERTICAL_EDGES), expected, atol=1e-5)
    before = torch.tensor([[[[3.0, 4.0]]]])
    assert relative_change(before, torch.tensor([[[[3.0, 4.0]]]])).item() == 0
    assert relative_change(before, torch.tensor([[[[0.0, 0.0]]]])).item() == 1  # 5 / 5
    assert relative_change(before, torch.tensor([[[[6.0, 8.0]]]])).item() == 1
    with pytest.raises(ValueError, match="same shape"):
        relative_change(before, torch.zeros(1, 1, 1, 3))
    with pytest.raises(ValueError, match="all zeros"):
        relative_change(torch.zeros(1, 1, 1, 2), before)


def test_shift_change_by_hand_one_bright_pixel():
    """One pixel at (4, 4) and a 1x1 kernel: the feature map is the image itself."""
    images = torch.zeros(1, 1, 10, 10)
    images[0, 0, 4, 4] = 1
    identity = torch.ones(1, 1)
    # unpooled: the pixel leaves its place, the maps share nothing: ||e1 - e2|| / ||e1|| = sqrt(2)
    assert shift_change(images, identity, (0, 1), fill=0) == pytest.approx(math.sqrt(2))
    # 2x2 max pooling: (4, 4) and (4, 5) are in the same window, the pooled map does not change
    assert shift_change(images, identity, (0, 1), kind="max", fill=0) == 0
    # ...but moving 2 pixels changes window: the pooled map changes as much as the image
    assert shift_change(images, identity, (0, 2), kind="max", fill=0) == pytest.approx(math.sqrt(2))
    # average pooling: the pixel stays in the same window, so the mean is the same
    assert shift_change(images, identity, (0, 1), kind="avg", fill=0) == 0
    assert shift_change(images, identity, (0, 0), fill=0) == 0
    with pytest.raises(ValueError, match="kind"):
        shift_change(images, identity, (0, 1), kind="median")


def test_shift_by_the_stride_moves_the_pooled_map_by_one_cell():
    images = torch.zeros(2, 1, 16, 16)
    images[:, :, 4:12, 4:12] = torch.rand(2, 1, 8, 8)
    maps = F.max_pool2d(feature_map(images, VERTICAL_EDGES), 2)
    moved = translate(images, torch.tensor([[0, 2], [0, 2]]))
    moved_maps = F.max_pool2d(feature_map(moved, VERTICAL_EDGES), 2)
    assert torch.allclose(moved_maps[..., 1:], maps[..., :-1])
    assert shift_change(images, VERTICAL_EDGES, (0, 2), kind="max", fill=0) > 0.5


def test_pooling_ops_are_the_course_poolings():
    x = torch.randn(2, 1, 6, 6)
    assert list(POOLING_OPS) == ["max", "avg"]
    assert torch.allclose(POOLING_OPS["max"](x, 2), F.max_pool2d(x, 2))
    assert torch.allclose(POOLING_OPS["avg"](x, 2), F.avg_pool2d(x, 2))
