"""Beyond one accuracy number: every prediction, the confusion matrix, the digits it gets wrong."""

from __future__ import annotations

import torch
from torch import nn

from mnist_tutorial.augmentation import background, translate
from mnist_tutorial.data import TensorSplit, batches
from mnist_tutorial.training import evaluation_mode


@torch.no_grad()
def predict(model: nn.Module, split: TensorSplit,
            batch_size: int = 1_000) -> tuple[torch.Tensor, torch.Tensor]:
    """``(predictions, probabilities)`` on the CPU: argmax class (N,) and softmax (N, classes).

    The model runs in evaluation mode on its own device; its train/eval mode is restored afterwards.
    """
    device = next(model.parameters()).device
    probabilities = []
    with evaluation_mode(model):
        for images, _ in batches(split, batch_size):
            scores = model(images.to(device, non_blocking=True))
            probabilities.append(torch.softmax(scores.float(), dim=1).cpu())
    probabilities = torch.cat(probabilities)
    return probabilities.argmax(dim=1), probabilities


@torch.no_grad()
def shifted_accuracy(model: nn.Module, split: TensorSplit, shift: tuple[int, int],
                     fill: float = background("mnist"), batch_size: int = 1_000) -> float:
    """Accuracy (percent) on ``split`` when every image is moved ``shift = (down, right)`` whole
    pixels (negative: up, left), the uncovered border filled with ``fill`` (MNIST's normalised
    black).

    The model runs in evaluation mode on its own device; its train/eval mode is restored afterwards.
    """
    if (len(shift) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) for s in shift)
            or max(abs(s) for s in shift) >= min(split.images.shape[-2:])):
        raise ValueError(f"shift must be (down, right) in whole pixels, smaller than the image, "
                         f"got {shift!r}")
    device = next(model.parameters()).device
    correct = 0
    with evaluation_mode(model):
        for images, labels in batches(split, batch_size):
            moved = translate(images, torch.tensor([shift]).expand(len(images), 2), fill)
            predicted = model(moved.to(device, non_blocking=True)).argmax(dim=1)
            correct += int((predicted.cpu() == labels.cpu()).sum())
    return 100 * correct / len(split)


def loses_ink(images: torch.Tensor, shift: tuple[int, int],
              fill: float = background("mnist")) -> torch.Tensor:
    """For each image (N, C, H, W), whether moving it ``shift = (down, right)`` pixels pushes
    some of its ink (any pixel brighter than the background ``fill``) out of the picture."""
    down, right = shift
    leaving = torch.zeros(images.shape[-2:], dtype=torch.bool, device=images.device)
    if down > 0:
        leaving[-down:] = True  # the bottom rows leave
    if down < 0:
        leaving[:-down] = True  # the top rows leave
    if right > 0:
        leaving[:, -right:] = True
    if right < 0:
        leaving[:, :-right] = True
    ink = (images > fill + 1e-6).any(dim=1)  # (N, H, W)
    return (ink & leaving).flatten(1).any(dim=1)


def _check_labels(labels: torch.Tensor, predictions: torch.Tensor) -> None:
    """Both 1-D integer tensors of the same length."""
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.ndim != 1 or values.dtype.is_floating_point or values.dtype == torch.bool:
            raise ValueError(f"{name} must be a 1-D tensor of integer class indices, "
                             f"got shape {tuple(values.shape)} and dtype {values.dtype}")
    if len(labels) != len(predictions):
        raise ValueError(f"labels and predictions must have the same length, "
                         f"got {len(labels)} and {len(predictions)}")


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor,
                     num_classes: int = 10) -> torch.Tensor:
    """Counts (num_classes, num_classes): row = true label, column = predicted label."""
    _check_labels(labels, predictions)
    labels, predictions = labels.cpu().long(), predictions.cpu().long()
    for name, values in (("labels", labels), ("predictions", predictions)):
        if len(values) and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} must lie in 0..{num_classes - 1} for "
                             f"num_classes={num_classes}, "
                             f"got values from {int(values.min())} to {int(values.max())}")
    pairs = labels * num_classes + predictions
    return torch.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_accuracy(matrix: torch.Tensor) -> torch.Tensor:
    """Percent of each true class predicted correctly: diagonal / row sum (NaN for an empty row)."""
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be a square confusion matrix, "
                         f"got shape {tuple(matrix.shape)}")
    matrix = matrix.double()
    return 100 * matrix.diagonal() / matrix.sum(dim=1)


def misclassified_indices(labels: torch.Tensor, predictions: torch.Tensor) -> torch.Tensor:
    """Indices (in data set order) of the examples whose prediction differs from the label."""
    _check_labels(labels, predictions)
    return (labels.cpu() != predictions.cpu()).nonzero().flatten()
