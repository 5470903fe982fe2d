import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_tutorial.data import TensorSplit
from mnist_tutorial.evaluation import (
    confusion_matrix,
    misclassified_indices,
    per_class_accuracy,
    predict,
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
