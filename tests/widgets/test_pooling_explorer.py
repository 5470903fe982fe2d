import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mnist_tutorial.widgets.pooling_explorer import PoolingExplorer, plot_shift_changes

TORCH_POOL = {"max": F.max_pool2d, "avg": F.avg_pool2d}


@pytest.fixture
def image():
    return torch.randn(9, 11, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("size, stride, padding", [(2, None, 0), (3, None, 1), (3, 2, 1), (3, 1, 0),
                                                   (2, 3, 0), (4, 2, 2), (1, 1, 0), (9, 1, 0)])
def test_pooled_matches_pytorch(image, kind, size, stride, padding):
    explorer = PoolingExplorer(image, kind=kind, size=size, stride=stride, padding=padding)
    expected = TORCH_POOL[kind](image[None, None], size, stride, padding)[0, 0]
    assert explorer.output_shape == tuple(expected.shape)
    assert torch.allclose(explorer.pooled, expected, atol=1e-6)
    assert explorer.stride == (size if stride is None else stride)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_chosen_cell_is_made_from_its_window(image, kind):
    explorer = PoolingExplorer(image, kind=kind, size=3, stride=2, padding=1)
    for row in range(explorer.output_shape[0]):
        for column in range(explorer.output_shape[1]):
            explorer.cell = (row, column)
            top, left, bottom, right = explorer.window
            assert (top, left) == (2 * row - 1, 2 * column - 1)
            assert (bottom - top, right - left) == (3, 3)
            values = explorer.window_values
            # by hand: max of the real pixels (padding is -inf); mean counts padded zeros (sum / 9)
            by_hand = values.max() if kind == "max" else values.sum() / 9
            assert explorer.cell_value == pytest.approx(by_hand.item(), abs=1e-5)
            assert explorer.cell_value == pytest.approx(explorer.pooled[row, column].item())


def test_window_by_hand_on_a_tiny_matrix():
    x = torch.tensor([[1.0, 3, 2, 0], [4, 6, 5, 1], [0, 2, 9, 8], [7, 1, 3, 4]])
    explorer = PoolingExplorer(x)
    assert explorer.pooled.tolist() == [[6, 5], [7, 9]]
    explorer.set(cell=(1, 0))
    assert explorer.window == (2, 0, 4, 2) and explorer.window_values.tolist() == [[0, 2], [7, 1]]
    explorer.kind = "avg"
    assert explorer.pooled.tolist() == [[3.5, 2.0], [2.5, 6.0]] and explorer.cell_value == 2.5
    assert "mean" in explorer.message and "rows 2..3, columns 0..1" in explorer.message


def test_stride_none_follows_the_window_size(image):
    explorer = PoolingExplorer(image, size=2)
    explorer.size = 3
    assert explorer.stride == 3 and explorer.output_shape == (3, 3)
    explorer.stride = 1
    explorer.size = 2
    assert explorer.stride == 1 and explorer.output_shape == (8, 10)


def test_cell_is_clamped_when_the_map_shrinks_and_checked_when_set(image):
    explorer = PoolingExplorer(image, size=2, cell=(3, 4))
    explorer.size = 4
    assert explorer.output_shape == (2, 2) and explorer.cell == (1, 1)
    with pytest.raises(ValueError, match="outside the pooled map"):
        explorer.cell = (2, 0)
    assert explorer.cell == (1, 1) and explorer.size == 4  # a refused setting changes nothing
    with pytest.raises(ValueError, match="outside the pooled map"):
        explorer.set(size=2, cell=(5, 0))
    assert explorer.size == 4 and explorer.output_shape == (2, 2)


def test_settings_that_do_not_work_give_a_message(image):
    explorer = PoolingExplorer(image, size=2)
    explorer.padding = 2  # more than half the window: PyTorch refuses it too
    assert explorer.pooled is None and explorer.output_shape is None
    assert "at most kernel_size // 2" in explorer.message
    with pytest.raises(RuntimeError):
        F.max_pool2d(image[None, None], 2, 2, 2)
    explorer.size = 4
    assert explorer.pooled is not None and explorer.output_shape == (3, 3)  # (9 + 4 - 4) // 4 + 1


@pytest.mark.parametrize("values, wrong", [({"kind": "min"}, "kind"), ({"size": 0}, "size"),
                                           ({"stride": -1}, "stride"),
                                           ({"padding": 1.5}, "padding"),
                                           ({"cell": (0, -1)}, "cell"), ({"shape": 2}, "shape")])
def test_bad_settings_raise_clear_errors(image, values, wrong):
    with pytest.raises(ValueError, match=wrong):
        PoolingExplorer(image).set(**values)


def test_image_shapes():
    assert PoolingExplorer(torch.ones(1, 1, 4, 4)).image.shape == (4, 4)
    with pytest.raises(ValueError, match="image must be one 2-D image"):
        PoolingExplorer(torch.ones(2, 4, 4))


def test_widget_controls_drive_the_explorer_and_follow_it(image):
    explorer = PoolingExplorer(image)
    controls = explorer.controls
    controls["kind"].value = "avg"
    controls["size"].value = 3
    assert explorer.kind == "avg" and explorer.output_shape == (3, 3)
    assert controls["stride"].value == 3 and controls["row"].max == 2
    controls["row"].value = 2
    controls["column"].value = 1
    assert explorer.cell == (2, 1) and explorer.window == (6, 3, 9, 6)
    summary, image_widget = explorer.widget.children[3], explorer.widget.children[4]
    assert "Cell (2, 1)" in summary.value and bytes(image_widget.value).startswith(b"\x89PNG")
    explorer.set(size=2, stride=1)
    assert controls["size"].value == 2 and controls["row"].max == 7
    assert bytes(image_widget.value) == explorer.png()
    controls["padding"].value = 2  # more than half the window: refused by the pooling itself
    assert explorer.pooled is None and "red" in summary.value


def test_figure_shows_the_window_and_the_pooled_map(image):
    explorer = PoolingExplorer(image, kind="avg", size=3, stride=2, padding=1, cell=(2, 3))
    figure = explorer.plot()
    input_axes, pooled_axes = figure.axes[:2]
    assert all(axes.get_title() and axes.get_xlabel() and axes.get_ylabel()
               for axes in (input_axes, pooled_axes))
    assert figure.axes[2].get_ylabel() == "value"  # the colour bar
    assert pooled_axes.get_title() == f"avg pooled 5x6, cell (2, 3) = {explorer.cell_value:.2f}"
    expected = F.avg_pool2d(image[None, None], 3, 2, 1)[0, 0]
    assert np.allclose(pooled_axes.images[0].get_array(), expected.numpy(), atol=1e-6)
    window = input_axes.patches[0]
    # the window of cell (2, 3): rows 3..5, columns 5..7, drawn from its corner (5 - 0.5, 3 - 0.5)
    assert (window.get_x(), window.get_y(), window.get_width()) == (4.5, 2.5, 3)
    assert input_axes.get_xlim() == (-1.5, 11.5)  # the padding shows
    written = [text.get_text() for text in pooled_axes.texts if text.get_visible()]
    assert written == [f"{value:.3g}" for value in expected.flatten().tolist()]
    plt.close(figure)


def test_plot_shift_changes_is_labelled():
    ax = plot_shift_changes([1, 2], {"feature map": [0.5, 1.0], "max pooled": [0.3, 0.9]})
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.get_legend().get_texts()) == 3
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="values for 2 shifts"):
        plot_shift_changes([1, 2], {"feature map": [0.5]})
