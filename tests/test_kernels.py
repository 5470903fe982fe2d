import pytest
import torch
import torch.nn.functional as F

from mnist_tutorial import kernels
from mnist_tutorial.kernels import PRESETS, get_kernel


def apply(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """PyTorch's own convolution of one (H, W) image with one (3, 3) kernel."""
    return F.conv2d(image[None, None], kernel[None, None])[0, 0]


def step_image(vertical: bool) -> torch.Tensor:
    """6x6: dark (0) on the left and bright (1) on the right, or top/bottom when not vertical."""
    image = torch.zeros(6, 6)
    image[:, 3:] = 1
    return image if vertical else image.T


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_3x3_float_tensor(name):
    kernel = PRESETS[name]
    assert kernel.shape == (3, 3) and kernel.dtype == torch.float32


@pytest.mark.parametrize("name", ["identity", "box_blur", "gaussian_blur", "sharpen"])
def test_blurs_sharpen_and_identity_keep_a_flat_image(name):
    flat = torch.full((5, 5), 7.0)
    torch.testing.assert_close(apply(flat, PRESETS[name]), torch.full((3, 3), 7.0))


@pytest.mark.parametrize("name", ["horizontal_edges", "vertical_edges", "sobel_horizontal_edges",
                                  "sobel_vertical_edges"])
def test_edge_kernels_see_nothing_in_a_flat_image(name):
    assert torch.equal(apply(torch.full((5, 5), 7.0), PRESETS[name]), torch.zeros(3, 3))


def test_identity_copies_the_inside_of_the_image():
    image = torch.randn(7, 9, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(apply(image, kernels.IDENTITY), image[1:-1, 1:-1])


@pytest.mark.parametrize("vertical_kernel, horizontal_kernel, peak", [
    (kernels.VERTICAL_EDGES, kernels.HORIZONTAL_EDGES, 3.0),
    (kernels.SOBEL_VERTICAL_EDGES, kernels.SOBEL_HORIZONTAL_EDGES, 4.0),
])
def test_edge_kernels_fire_on_their_edge_only(vertical_kernel, horizontal_kernel, peak):
    # dark-to-bright from left to right: the two windows that straddle the edge see it
    expected = torch.zeros(4, 4)
    expected[:, 1:3] = peak
    assert torch.equal(apply(step_image(vertical=True), vertical_kernel), expected)
    assert torch.equal(apply(step_image(vertical=True), horizontal_kernel), torch.zeros(4, 4))
    assert torch.equal(apply(step_image(vertical=False), horizontal_kernel), expected.T)
    assert torch.equal(apply(step_image(vertical=False), vertical_kernel), torch.zeros(4, 4))
    # a bright-to-dark edge gives the same strength with the opposite sign
    assert torch.equal(apply(1 - step_image(vertical=True), vertical_kernel), -expected)


def test_sobel_and_gaussian_are_outer_products():
    smooth, derivative = torch.tensor([1.0, 2.0, 1.0]), torch.tensor([-1.0, 0.0, 1.0])
    assert torch.equal(kernels.SOBEL_VERTICAL_EDGES, torch.outer(smooth, derivative))
    assert torch.equal(kernels.SOBEL_HORIZONTAL_EDGES, torch.outer(derivative, smooth))
    torch.testing.assert_close(kernels.GAUSSIAN_BLUR, torch.outer(smooth, smooth) / 16)
    assert torch.equal(kernels.HORIZONTAL_EDGES, kernels.VERTICAL_EDGES.T)


def test_blurs_and_sharpen_compute_what_they_claim():
    image = torch.randn(8, 10, generator=torch.Generator().manual_seed(1))
    centre = image[1:-1, 1:-1]
    neighbours = image[:-2, 1:-1] + image[2:, 1:-1] + image[1:-1, :-2] + image[1:-1, 2:]
    torch.testing.assert_close(apply(image, kernels.SHARPEN), 5 * centre - neighbours)
    box_mean = F.avg_pool2d(image[None, None], 3, stride=1)[0, 0]
    torch.testing.assert_close(apply(image, kernels.BOX_BLUR), box_mean)
    # the Gaussian blur is [1, 2, 1] / 4 along the rows, then along the columns
    rows = F.conv2d(image[None, None], torch.tensor([[[[1.0, 2.0, 1.0]]]]) / 4)
    both = F.conv2d(rows, torch.tensor([[[[1.0], [2.0], [1.0]]]]) / 4)[0, 0]
    torch.testing.assert_close(apply(image, kernels.GAUSSIAN_BLUR), both)


def test_get_kernel_returns_a_copy():
    kernel = get_kernel("sharpen")
    assert torch.equal(kernel, kernels.SHARPEN)
    kernel[1, 1] = 100
    assert kernels.SHARPEN[1, 1] == 5 and PRESETS["sharpen"][1, 1] == 5


def test_unknown_kernel_name_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown kernel 'laplace': choose one of \['box_blur'"):
        get_kernel("laplace")
