"""Where the windows go and how often each pixel is seen: against brute force, autograd and
unfold."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mnist_tutorial.padding import coverage_counts, window_positions
from tests.helpers import brute_force_coverage

settings_strategy = st.tuples(st.integers(1, 10), st.integers(1, 6), st.integers(0, 3),
                              st.integers(1, 4))


@settings(max_examples=60, deadline=None)
@given(settings_strategy)
def test_coverage_matches_brute_force_and_autograd(values):
    size, kernel, padding, stride = values
    assume(kernel <= size + 2 * padding)
    counts = coverage_counts(size, kernel, padding, stride)
    assert torch.equal(counts, brute_force_coverage(size, kernel, padding, stride))
    # PyTorch agrees: the gradient of sum(conv(x, all-ones kernel)) counts the windows per pixel
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    F.conv2d(x, torch.ones(1, 1, kernel, kernel), stride=stride, padding=padding).sum().backward()
    assert torch.equal(counts, x.grad[0, 0].long())


def test_coverage_by_hand_the_seeds_argument():
    assert coverage_counts(7, 3).tolist()[0] == [1, 2, 3, 3, 3, 2, 1]
    assert coverage_counts(7, 3)[3, 3] == 9
    padded = coverage_counts(7, 3, padding=1)
    assert padded[0, 0] == 4 and padded[0, 3] == 6 and padded[3, 3] == 9
    assert torch.equal(coverage_counts(7, 3, padding=2), torch.full((7, 7), 9))  # full padding
    # stride 2 without padding on 6 pixels never reaches the last column
    assert coverage_counts(6, 3, stride=2)[:, -1].tolist() == [0] * 6


@settings(max_examples=40, deadline=None)
@given(settings_strategy)
def test_window_positions_are_the_windows_unfold_takes_in_order(values):
    size, kernel, padding, stride = values
    assume(kernel <= size + 2 * padding)
    x = torch.randn(1, 1, size, size)
    padded = F.pad(x, (padding,) * 4)[0, 0]
    positions = window_positions(size, kernel, padding, stride)
    mine = torch.stack([padded[r:r + kernel, c:c + kernel].flatten() for r, c in positions], dim=1)
    assert torch.equal(mine, F.unfold(x, kernel, padding=padding, stride=stride)[0])


def test_window_positions_by_hand():
    assert window_positions(5, 3, padding=0, stride=2) == [(0, 0), (0, 2), (2, 0), (2, 2)]
    with pytest.raises(ValueError, match="larger than the padded input"):
        window_positions(3, 5)
