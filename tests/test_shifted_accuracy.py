"""shifted_accuracy: the test accuracy on digits moved by whole pixels."""

import pytest
import torch
from torch import nn

from mnist_tutorial.augmentation import background, translate
from mnist_tutorial.data import TensorSplit
from mnist_tutorial.evaluation import shifted_accuracy
from mnist_tutorial.models import BlogNet


class BrightestRow(nn.Module):
    """Predicts the row (0-9) of the brightest pixel of the top ten rows: a shift of one row down
    changes every answer by one."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        rows = x[:, 0, :10, :].amax(dim=2)  # (N, 10)
        return rows + 0 * self.unused


def dots(rows, columns):
    """One bright pixel per image on the MNIST background, labelled with its row."""
    images = torch.full((len(rows), 1, 28, 28), background("mnist"))
    images[torch.arange(len(rows)), 0, torch.tensor(rows), torch.tensor(columns)] = 2.8
    return TensorSplit(images, torch.tensor(rows))


def test_shift_moves_the_answer_by_whole_pixels():
    split = dots([0, 3, 5, 8, 9], [4, 10, 20, 27, 0])
    model = BrightestRow()
    assert shifted_accuracy(model, split, (0, 0)) == 100
    assert shifted_accuracy(model, split, (1, 0)) == 0  # one row down: every answer one too high
    # one row up: the dot of row 0 leaves the image, and an empty image's argmax is row 0 again
    assert shifted_accuracy(model, split, (-1, 0)) == 20
    # sideways the row stays, unless the dot leaves the image (column 27 to the right, 0 to the
    # left): then its row is background like all others, and argmax says row 0
    assert shifted_accuracy(model, split, (0, 2)) == 80
    assert shifted_accuracy(model, split, (0, -1)) == 80
    assert shifted_accuracy(model, split, (0, -5)) == 80


def test_agrees_with_translate_and_a_plain_evaluation():
    torch.manual_seed(0)
    split = TensorSplit(torch.randn(50, 1, 28, 28), torch.randint(0, 10, (50,)))
    model = BlogNet().train()
    moved = translate(split.images, torch.tensor([[-2, 3]]).expand(50, 2), background("mnist"))
    with torch.no_grad():
        expected = 100 * (model.eval()(moved).argmax(1) == split.labels).float().mean().item()
    model.train()
    got = shifted_accuracy(model, split, (-2, 3), batch_size=7)
    assert got == pytest.approx(expected)
    assert model.training  # the mode is put back


@pytest.mark.parametrize("shift", [(1,), (1, 2, 3), (0.5, 0), (28, 0), (True, 0)])
def test_bad_shifts_are_refused(shift):
    split = dots([1], [1])
    with pytest.raises(ValueError, match="shift must be"):
        shifted_accuracy(BrightestRow(), split, shift)
