"""Learning a kernel by gradient descent: it recovers a known kernel, its steps are plain SGD with
momentum on the hand-written gradient (checked against autograd), and bad input is refused."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F

from mnist_tutorial.kernel_fit import fit_kernel
from mnist_tutorial.kernels import SOBEL_VERTICAL_EDGES
from mnist_tutorial.plotting import plot_kernel_fit


@pytest.fixture
def pairs():
    # smooth random images, like digits: blurred noise
    noise = torch.randn(16, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    images = F.avg_pool2d(noise, 3, 1, 1)
    return images, F.conv2d(images, SOBEL_VERTICAL_EDGES[None, None])


def test_recovers_the_sobel_kernel(pairs):
    fit = fit_kernel(*pairs, steps=300, lr=0.3)
    assert fit.kernels.shape == (301, 3, 3) and fit.losses.shape == (301,)
    torch.testing.assert_close(fit.kernels[-1], SOBEL_VERTICAL_EDGES, rtol=0, atol=1e-2)
    assert fit.losses[-1] < 1e-4 * fit.losses[0]


def test_first_step_follows_autograds_gradient(pairs):
    images, targets = pairs
    fit = fit_kernel(images, targets, steps=1, lr=0.1, seed=3)
    start = fit.kernels[0][None, None].clone().requires_grad_()
    F.mse_loss(F.conv2d(images, start), targets).backward()
    torch.testing.assert_close(fit.kernels[1], (start - 0.1 * start.grad)[0, 0].detach())
    assert fit.losses[0].item() == pytest.approx(
        F.mse_loss(F.conv2d(images, start), targets).item(), rel=1e-5)


def test_the_same_seed_gives_the_same_start(pairs):
    assert torch.equal(fit_kernel(*pairs, steps=1, seed=4).kernels[0],
                       fit_kernel(*pairs, steps=1, seed=4).kernels[0])


@pytest.mark.parametrize("change, message", [
    (lambda x, y: (x[:, 0], y), r"one-channel images \(N, 1, H, W\)"),
    (lambda x, y: (x, y[:, :, 1:]), r"targets must be the inputs convolved with a 3x3 kernel"),
])
def test_bad_shapes_are_refused(pairs, change, message):
    with pytest.raises(ValueError, match=message):
        fit_kernel(*change(*pairs))


def test_bad_settings_and_divergence_are_refused(pairs):
    with pytest.raises(ValueError, match="need steps >= 1, lr > 0"):
        fit_kernel(*pairs, steps=0)
    with pytest.raises(ValueError, match="the learning rate 1000.0 is too large"):
        fit_kernel(*pairs, lr=1000.0, momentum=0.0)


def test_plot_has_titles_and_labels(pairs):
    fit = fit_kernel(*pairs, steps=30)
    figure = plot_kernel_fit(fit, SOBEL_VERTICAL_EDGES)
    try:
        kernels, loss = figure.axes[:-1], figure.axes[-1]
        assert [axes.get_title() for axes in kernels] == ["step 0", "step 5", "step 20",
                                                          "true kernel"]
        assert all(axes.get_xlabel() == "column" for axes in kernels)
        assert loss.get_xlabel() and loss.get_ylabel() and loss.get_title()
    finally:
        plt.close(figure)
