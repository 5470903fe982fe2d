"""The blog post's network trained without autograd: its forward pass, its backward pass written
layer by layer with ``mnist_tutorial.ops``, and SGD with momentum (notebook 06).

The weights are the parameters of a ``BlogNet``, changed in place under ``torch.no_grad()``, so
the same model can be tested with ``training.evaluate`` and compared with one trained by
``loss.backward()``. ``forward``, ``backward`` and ``backward_from_conv2`` are lesson code (the
chain rule, layer by layer, as notebook 06 shows it); the last block of the module wraps them in
the check that the model is a BlogNet in the blog post's order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from mnist_tutorial import ops
from mnist_tutorial.models import BlogNet

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
# the forward and backward functions of each pooling layer class BlogNet may hold
POOLING_PASSES = {nn.MaxPool2d: (ops.max_pool2d, ops.max_pool2d_backward),
                  nn.AvgPool2d: (ops.avg_pool2d, ops.avg_pool2d_backward)}


def forward(model: BlogNet, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The scores (N, 10) and what the backward pass needs: every layer's input, by layer name."""
    pool, _ = POOLING_PASSES[type(model.pooling)]
    saved = {"conv1": images}
    saved["pool1"] = ops.conv2d(images, model.conv1.weight, model.conv1.bias)  # (N, 10, 24, 24)
    saved["relu1"] = pool(saved["pool1"], 2)                                   # (N, 10, 12, 12)
    saved["conv2"] = torch.relu(saved["relu1"])
    saved["pool2"] = ops.conv2d(saved["conv2"], model.conv2.weight,
                                model.conv2.bias)                              # (N, 20, 8, 8)
    saved["relu2"] = pool(saved["pool2"], 2)                                   # (N, 20, 4, 4)
    saved["fc1"] = torch.relu(saved["relu2"]).flatten(1)                       # (N, 320)
    saved["relu3"] = saved["fc1"] @ model.fc1.weight.T + model.fc1.bias        # (N, 50)
    saved["fc2"] = torch.relu(saved["relu3"])
    scores = saved["fc2"] @ model.fc2.weight.T + model.fc2.bias                # (N, 10)
    return scores, saved


def backward(model: BlogNet, saved: dict[str, torch.Tensor], grad_scores: torch.Tensor,
             input_grad: bool = False) -> dict[str, torch.Tensor]:
    """The gradient of the loss with respect to every parameter, by the name
    ``model.named_parameters()`` gives it, from its gradient with respect to the scores: the chain
    rule, layer by layer from fc2 back to conv1. ``input_grad``: the images' gradient too
    (``"images"``)."""
    _, pool_backward = POOLING_PASSES[type(model.pooling)]
    grads = {}
    grad, grads["fc2.weight"], grads["fc2.bias"] = ops.linear_backward(
        saved["fc2"], model.fc2.weight, grad_scores)
    grad = ops.relu_backward(saved["relu3"], grad)
    grad, grads["fc1.weight"], grads["fc1.bias"] = ops.linear_backward(
        saved["fc1"], model.fc1.weight, grad)
    grad = grad.view(saved["relu2"].shape)                                # undo the flatten
    grad = ops.relu_backward(saved["relu2"], grad)
    grad = pool_backward(saved["pool2"], 2, grad)                         # at conv2's output
    return {**grads, **backward_from_conv2(model, saved, grad, input_grad)}


def backward_from_conv2(model: BlogNet, saved: dict[str, torch.Tensor], grad: torch.Tensor,
                        input_grad: bool) -> dict[str, torch.Tensor]:
    """From the gradient with respect to conv2's output back to conv1 (and the images)."""
    _, pool_backward = POOLING_PASSES[type(model.pooling)]
    grads = {}
    grad, grads["conv2.weight"], grads["conv2.bias"] = ops.conv2d_backward(
        saved["conv2"], model.conv2.weight, grad)
    grad = ops.relu_backward(saved["relu1"], grad)
    grad = pool_backward(saved["pool1"], 2, grad)
    # the images are no parameter: their gradient is skipped unless asked for, as autograd does
    images, grads["conv1.weight"], grads["conv1.bias"] = ops.conv2d_backward(
        saved["conv1"], model.conv1.weight, grad, input_grad=input_grad)
    if input_grad:
        grads["images"] = images
    return grads


def loss_and_gradients(model: BlogNet, images: torch.Tensor, labels: torch.Tensor
                       ) -> tuple[float, dict[str, torch.Tensor]]:
    """The batch's mean cross-entropy loss and its gradients, computed without autograd."""
    with torch.no_grad():
        scores, saved = forward(model, images)
        loss = F.cross_entropy(scores, labels).item()
        return loss, backward(model, saved, ops.cross_entropy_backward(scores, labels))


TARGETS = ("conv2", "score")


def input_gradient(model: BlogNet, image: torch.Tensor, target: str = "conv2", channel: int = 0,
                   cell: tuple[int, int] = (0, 0)) -> tuple[torch.Tensor, float]:
    """How one number of the network changes with each pixel of one image (28x28): the gradient
    of a conv2 output (``channel``, ``cell``; before pooling) or of the score of class
    ``channel``, by the hand-written backward pass; and that number's value."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if target == "conv2" and (not isinstance(cell, (tuple, list)) or len(cell) != 2):
        raise ValueError(f"cell must be a pair (row, column) of conv2's 8x8 output, e.g. (3, 5), "
                         f"got {cell!r}")
    images = torch.as_tensor(image, dtype=model.conv1.weight.dtype).reshape(1, 1, 28, 28)
    with torch.no_grad():
        scores, saved = forward(model, images)
        output = scores if target == "score" else saved["pool2"]  # conv2's output: (1, 20, 8, 8)
        index = (0, channel) if target == "score" else (0, channel, *cell)
        if not (0 <= channel < output.shape[1]) or (
                target == "conv2" and not all(0 <= v < n for v, n in zip(cell, output.shape[2:]))):
            raise ValueError(f"no {target} unit {index[1:]}: the {target} output of one image "
                             f"has shape {tuple(output.shape[1:])}")
        grad = torch.zeros_like(output)
        grad[index] = 1.0  # d unit / d unit
        grads = (backward(model, saved, grad, input_grad=True) if target == "score"
                 else backward_from_conv2(model, saved, grad, input_grad=True))
        return grads["images"][0, 0], output[index].item()


class MomentumSGD:
    """SGD with momentum as ``torch.optim.SGD`` computes it, on a model's parameters in place:
    ``velocity = momentum * velocity + grad`` (the first step: ``grad``), then
    ``weight -= lr * velocity``."""

    def __init__(self, model: nn.Module, lr: float = 0.01, momentum: float = 0.5) -> None:
        if not lr > 0 or not 0 <= momentum < 1:
            raise ValueError(f"need lr > 0 and 0 <= momentum < 1, got lr={lr}, "
                             f"momentum={momentum}")
        self.parameters = dict(model.named_parameters())
        self.lr, self.momentum = lr, momentum
        self.velocity: dict[str, torch.Tensor] = {}

    def step(self, grads: dict[str, torch.Tensor]) -> None:
        """Move every parameter one step against its velocity."""
        if set(grads) != set(self.parameters):
            raise ValueError(f"need one gradient per parameter {sorted(self.parameters)}, got "
                             f"{sorted(grads)}")
        with torch.no_grad():
            for name, weight in self.parameters.items():
                if name in self.velocity:
                    self.velocity[name].mul_(self.momentum).add_(grads[name])
                else:
                    self.velocity[name] = grads[name].clone()
                weight.sub_(self.lr * self.velocity[name])


def train_epoch_by_hand(model: BlogNet, train_batches: Batches, optimizer: MomentumSGD,
                        on_step: Callable[[int, float], None] | None = None) -> float:
    """One pass over the batches with the hand-written backward pass; returns the mean loss per
    example, as ``training.train_epoch`` does.

    ``on_step(step, loss)`` is called after every step (the first is 1) with the batch's loss.
    """
    model.train()
    total, examples, steps = 0.0, 0, 0
    for images, labels in train_batches:
        loss, grads = loss_and_gradients(model, images, labels)
        optimizer.step(grads)
        steps += 1
        total, examples = total + loss * len(labels), examples + len(labels)
        if on_step is not None:
            on_step(steps, loss)
    return total / max(examples, 1)


def _check_model(model: BlogNet) -> None:
    """The hand-written passes are written for a BlogNet in the blog post's order."""
    if not isinstance(model, BlogNet):
        raise TypeError(f"the hand-written backward pass is written for BlogNet, got "
                        f"{type(model).__name__}")
    if model.order != "pool_relu":
        raise ValueError(f"the hand-written backward pass follows the blog post's order (conv, "
                         f"pool, ReLU), got BlogNet(order={model.order!r}): use BlogNet()")


def _model_checked(lesson: Callable) -> Callable:
    """``lesson(model, ...)`` after ``_check_model(model)``; ``inspect.getsource`` shows the
    lesson (``__wrapped__``)."""
    @functools.wraps(lesson)
    def checked(model: BlogNet, *args, **kwargs):
        _check_model(model)
        return lesson(model, *args, **kwargs)
    return checked


# the public passes: the lesson code above behind the check of the model
forward = _model_checked(forward)
backward = _model_checked(backward)
backward_from_conv2 = _model_checked(backward_from_conv2)
