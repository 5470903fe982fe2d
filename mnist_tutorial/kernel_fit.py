"""Learning a kernel by gradient descent: start from a random kernel and recover a known one (an
edge detector, say) from pairs of images and their convolutions with it (notebook 06).

The loss is the mean squared difference between ``ops.conv2d(inputs, kernel)`` and the targets;
its gradient with respect to the kernel comes from the hand-written ``ops.conv2d_backward``, and
the kernel follows it with SGD with momentum, as a network's kernels do in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mnist_tutorial import ops


@dataclass(frozen=True)
class KernelFit:
    """The kernel before every step and after the last, (steps + 1, kH, kW), and its loss."""

    kernels: torch.Tensor
    losses: torch.Tensor


def fit_kernel(inputs: torch.Tensor, targets: torch.Tensor, kernel_size: int = 3,
               steps: int = 150, lr: float = 0.1, momentum: float = 0.8,
               seed: int = 0) -> KernelFit:
    """Find the kernel that turns ``inputs`` (N, 1, H, W) into ``targets`` (N, 1, H', W'), from a
    random start (``seed``), with ``steps`` steps of gradient descent on the mean squared error."""
    if inputs.dim() != 4 or inputs.shape[1] != 1:
        raise ValueError(f"inputs must be a batch of one-channel images (N, 1, H, W), got shape "
                         f"{tuple(inputs.shape)}")
    expected = (len(inputs), 1, inputs.shape[2] - kernel_size + 1,
                inputs.shape[3] - kernel_size + 1)
    if tuple(targets.shape) != expected:
        raise ValueError(f"targets must be the inputs convolved with a {kernel_size}x"
                         f"{kernel_size} kernel, shape {expected}, got {tuple(targets.shape)}")
    if steps < 1 or not lr > 0 or not 0 <= momentum < 1:
        raise ValueError(f"need steps >= 1, lr > 0 and 0 <= momentum < 1, got steps={steps}, "
                         f"lr={lr}, momentum={momentum}")
    generator = torch.Generator().manual_seed(seed)
    kernel = 0.5 * torch.randn(1, 1, kernel_size, kernel_size, generator=generator,
                               dtype=inputs.dtype)
    velocity = torch.zeros_like(kernel)
    kernels, losses = [], []
    for _ in range(steps + 1):
        difference = ops.conv2d(inputs, kernel) - targets
        loss = difference.pow(2).mean()
        kernels.append(kernel[0, 0].clone())
        losses.append(loss.item())
        if not torch.isfinite(loss):
            raise ValueError(f"the loss grew to {loss.item()} after {len(losses) - 1} steps: the "
                             f"learning rate {lr} is too large; try a smaller one")
        if len(losses) == steps + 1:
            break
        # d loss / d output: the mean of difference^2 gives 2 * difference / (number of numbers)
        grad_output = 2 * difference / difference.numel()
        _, grad_kernel, _ = ops.conv2d_backward(inputs, kernel, grad_output, input_grad=False)
        velocity = momentum * velocity + grad_kernel
        kernel = kernel - lr * velocity
    return KernelFit(torch.stack(kernels), torch.tensor(losses))
