"""im2col drawn out: the column matrix holds the windows, and the product is F.conv2d."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F

from mnist_tutorial import ops
from mnist_tutorial.im2col import im2col_parts
from mnist_tutorial.plotting import plot_im2col


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_worked_example_columns_are_the_windows():
    x = torch.arange(9.0).reshape(3, 3)
    w = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    parts = im2col_parts(x, w)
    assert torch.equal(parts["columns"], torch.tensor([[0.0, 1, 3, 4], [1, 2, 4, 5],
                                                       [3, 4, 6, 7], [4, 5, 7, 8]]))
    assert torch.equal(parts["kernel_row"], torch.tensor([[0.0, 1, 2, 3]]))
    assert torch.equal(parts["outputs"], torch.tensor([[19.0, 25, 37, 43]]))
    assert torch.equal(parts["output"], F.conv2d(x[None, None], w[None, None])[0, 0])


@pytest.mark.parametrize("image_shape, kernel_shape", [((4, 5), (2, 3)), ((6, 3), (3, 1)),
                                                       ((2, 2), (2, 2))])
def test_every_column_is_its_window_and_the_product_is_the_convolution(image_shape,
                                                                      kernel_shape):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-5, 6, image_shape, generator=g).float()
    w = torch.randint(-3, 4, kernel_shape, generator=g).float()
    parts = im2col_parts(x, w)
    (kh, kw), out_w = kernel_shape, parts["output"].shape[1]
    for k in range(parts["columns"].shape[1]):
        i, j = divmod(k, out_w)
        assert torch.equal(parts["columns"][:, k], x[i:i + kh, j:j + kw].flatten())
    assert torch.allclose(parts["output"], ops.conv2d(x[None, None], w[None, None])[0, 0])


def test_figure_shows_the_numbers_of_every_panel():
    x = torch.arange(9.0).reshape(3, 3)
    w = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    figure = plot_im2col(x, w)
    assert len(figure.axes) == 5 and figure.get_suptitle().startswith("im2col")
    written = [[text.get_text() for text in ax.texts if text.get_visible()] for ax in figure.axes]
    assert written[2] == ["0", "1", "3", "4", "1", "2", "4", "5", "3", "4", "6", "7", "4", "5",
                          "7", "8"]
    assert written[3] == ["19", "25", "37", "43"] and written[4] == ["19", "25", "37", "43"]
    for ax in figure.axes:
        assert ax.get_title() and ax.get_xlabel()
    assert len(figure.axes[0].patches) == 4  # one outline per window


@pytest.mark.parametrize("image, kernel, message", [
    (torch.zeros(1, 3, 3), torch.zeros(2, 2), "image must be a 2-D tensor"),
    (torch.zeros(3, 3), [[1, 2]], "kernel must be a 2-D tensor .* got list"),
    (torch.zeros(3, 3), torch.zeros(4, 2), "does not fit"),
])
def test_bad_input_is_a_clear_error(image, kernel, message):
    with pytest.raises(ValueError, match=message):
        im2col_parts(image, kernel)


def test_too_many_windows_for_the_figure():
    with pytest.raises(ValueError, match="25 windows"):
        plot_im2col(torch.zeros(6, 6), torch.zeros(2, 2))
