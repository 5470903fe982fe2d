import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mnist_tutorial.augmentation import background, translate
from mnist_tutorial.data import TensorSplit
from mnist_tutorial.evaluation import (
    confusion_matrix,
    loses_ink,
    misclassified_indices,
    per_class_accuracy,
    predict,
    shifted_accuracy,
)
from mnist_tutorial.models import BlogNet


def label_pairs(max_classes=6, max_size=60):
    """(num_classes, labels, predictions) with every value a valid class."""
    return st.integers(1, max_classes).flatmap(lambda k: st.tuples(
        st.just(k),
        st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), max_size=max_size)))


@given(label_pairs())
@settings(max_examples=60, deadline=None)
def test_confusion_matrix_matches_brute_force_counts(case):
    num_classes, pairs = case
    labels = torch.tensor([t for t, _ in pairs], dtype=torch.long)
    predictions = torch.tensor([p for _, p in pairs], dtype=torch.long)
    matrix = confusion_matrix(labels, predictions, num_classes)
    expected = [[sum(1 for t, p in pairs if (t, p) == (row, column))
                 for column in range(num_classes)]
                for row in range(num_classes)]
    assert matrix.tolist() == expected
    assert matrix.sum() == len(pairs)
    wrong = misclassified_indices(labels, predictions)
    assert wrong.tolist() == [i for i, (t, p) in enumerate(pairs) if t != p]
    assert len(wrong) == matrix.sum() - matrix.trace()


def test_per_class_accuracy_by_hand():
    matrix = torch.tensor([[8, 2, 0], [1, 1, 2], [0, 0, 0]])
    accuracy = per_class_accuracy(matrix)
    assert accuracy[:2].tolist() == pytest.approx([80.0, 25.0])
    assert math.isnan(accuracy[2])  # no examples of class 2: undefined, not 0 %


def test_evaluation_helpers_reject_bad_input():
    labels = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="same length"):
        confusion_matrix(labels, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="integer class indices"):
        confusion_matrix(labels.float(), labels)
    with pytest.raises(ValueError, match=r"0\.\.1"):
        confusion_matrix(labels, labels, num_classes=2)
    with pytest.raises(ValueError, match="integer class indices"):
        misclassified_indices(labels.reshape(1, 3), labels.reshape(1, 3))
    with pytest.raises(ValueError, match="square"):
        per_class_accuracy(torch.zeros(2, 3))


def test_predict_matches_softmax_of_the_model_and_restores_train_mode():
    torch.manual_seed(0)
    model = BlogNet()
    split = TensorSplit(torch.randn(25, 1, 28, 28), torch.randint(0, 10, (25,)))
    model.train()
    predictions, probabilities = predict(model, split, batch_size=7)
    assert model.training
    model.eval()
    with torch.no_grad():
        expected = torch.softmax(model(split.images), dim=1)
    assert probabilities.shape == (25, 10) and predictions.shape == (25,)
    torch.testing.assert_close(probabilities, expected)
    assert torch.equal(predictions, expected.argmax(dim=1))
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(25))


def test_predict_works_on_a_channels_last_model():
    torch.manual_seed(1)
    model = BlogNet().to(memory_format=torch.channels_last)
    split = TensorSplit(torch.randn(5, 1, 28, 28), torch.zeros(5, dtype=torch.long))
    predictions, probabilities = predict(model, split)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(probabilities, torch.softmax(model(split.images), dim=1))


# --- shifted_accuracy: the accuracy on digits moved by whole pixels ---------------------------
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


@settings(max_examples=60, deadline=None)
@given(st.integers(-9, 9), st.integers(-9, 9), st.integers(0, 2**31 - 1))
def test_loses_ink_agrees_with_the_ink_left_after_translate(down, right, seed):
    generator = torch.Generator().manual_seed(seed)
    fill = background("mnist")
    images = torch.full((6, 1, 9, 9), fill)
    ink = torch.rand(6, 1, 9, 9, generator=generator) < 0.08
    images[ink] = 2.0
    moved = translate(images, torch.tensor([[down, right]] * 6), fill)
    lost = (moved > fill + 1e-6).sum(dim=(1, 2, 3)) < ink.sum(dim=(1, 2, 3))
    assert torch.equal(loses_ink(images, (down, right), fill), lost)


def test_loses_ink_on_one_pixel_in_the_corner():
    image = torch.zeros(1, 1, 4, 4)
    image[0, 0, 3, 0] = 1.0  # bottom left
    assert [bool(loses_ink(image, shift, 0.0)) for shift in
            [(0, 0), (1, 0), (-1, 0), (0, -1), (0, 1), (-3, 3)]] == [False, True, False, True,
                                                                     False, False]
