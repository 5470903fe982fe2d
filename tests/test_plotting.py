import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib import colors

from mnist_tutorial import plotting
from mnist_tutorial.history import History
from mnist_tutorial.plotting import (
    LiveCurves,
    MapsAndPrediction,
    NumberGrid,
    as_image_tensor,
    figure_png,
    kernel_mosaic,
    plot_confusion_matrix,
    plot_feature_maps,
    plot_image_grid,
    plot_maps_and_prediction,
    plot_training_curves,
    shared_limit,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def image_axes(figure):
    return [axes for axes in figure.axes if axes.images and axes.get_label() != "<colorbar>"]


def test_image_grid_draws_every_image_with_its_title_and_data():
    images = torch.arange(13 * 28 * 28, dtype=torch.float32).reshape(13, 1, 28, 28)
    titles = [f"digit {i}" for i in range(13)]
    figure = plot_image_grid(images, titles=titles, ncols=5, title="Thirteen digits")
    panels = image_axes(figure)
    assert len(panels) == 13 and len(figure.axes) == 13  # no empty panels, no colour bar
    assert [axes.get_title() for axes in panels] == titles
    assert figure.get_suptitle() == "Thirteen digits"
    np.testing.assert_array_equal(panels[7].images[0].get_array(), images[7, 0].numpy())
    rows = {axes.get_subplotspec().rowspan.start for axes in panels}
    assert rows == {0, 1, 2}  # 13 images in rows of 5


def test_image_grid_shares_the_colour_scale_and_labels_the_colour_bar():
    images = torch.randn(4, 6, 6)
    figure = plot_image_grid(images, title="Kernels", vmin=-2.0, vmax=2.0, colorbar_label="weight")
    panels = image_axes(figure)
    assert len(panels) == 4 and len(figure.axes) == 5
    assert all(axes.images[0].get_clim() == (-2.0, 2.0) for axes in panels)
    colorbar = [axes for axes in figure.axes if axes not in panels][0]
    assert "weight" in (colorbar.get_ylabel(), colorbar.get_xlabel())


def test_image_grid_with_colour_bar_uses_the_data_range_by_default():
    images = torch.tensor([[[0.0, 1.0]], [[-3.0, 0.5]]])
    figure = plot_image_grid(images, title="Two", colorbar_label="value")
    assert all(axes.images[0].get_clim() == (-3.0, 1.0) for axes in image_axes(figure))


def test_image_grid_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        plot_image_grid(torch.zeros(28, 28))
    with pytest.raises(ValueError, match="one per image"):
        plot_image_grid(torch.zeros(3, 28, 28), titles=["a", "b"])
    with pytest.raises(ValueError, match="ncols"):
        plot_image_grid(torch.zeros(3, 28, 28), ncols=0)


def test_feature_maps_one_panel_per_channel_on_one_scale():
    maps = torch.randn(1, 10, 24, 24)
    figure = plot_feature_maps(maps, "conv1 output", ncols=5)
    panels = image_axes(figure)
    assert len(panels) == 10
    assert [axes.get_title() for axes in panels] == [f"channel {c}" for c in range(10)]
    assert figure.get_suptitle() == "conv1 output"
    expected = (maps.min().item(), maps.max().item())
    assert all(np.allclose(axes.images[0].get_clim(), expected) for axes in panels)
    np.testing.assert_allclose(panels[3].images[0].get_array(), maps[0, 3].numpy())
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        plot_feature_maps(torch.zeros(2, 3, 4, 4), "two images")


def history():
    return History(loss_epoch=[0.5, 1.0, 1.5, 2.0], loss=[1.0, 0.3, 0.2, 0.1],
                   accuracy=[96.0, 97.5], train_seconds=[1.0, 1.0], eval_seconds=[0.1, 0.1])


def test_training_curves_plot_the_history_and_the_blog():
    blog = [96.35, 97.28, 98.25]
    figure = plot_training_curves(history(), blog_accuracy=blog)
    loss_axes, accuracy_axes = figure.axes
    assert loss_axes.get_title() and accuracy_axes.get_title() and figure.get_suptitle()
    assert loss_axes.get_xlabel() == accuracy_axes.get_xlabel() == "epoch"
    assert "loss" in loss_axes.get_ylabel() and "accuracy" in accuracy_axes.get_ylabel()
    np.testing.assert_array_equal(loss_axes.lines[0].get_xdata(), [0.5, 1.0, 1.5, 2.0])
    np.testing.assert_array_equal(loss_axes.lines[0].get_ydata(), [1.0, 0.3, 0.2, 0.1])
    ours, theirs = accuracy_axes.lines
    np.testing.assert_array_equal(ours.get_xdata(), [1, 2])
    np.testing.assert_array_equal(ours.get_ydata(), [96.0, 97.5])
    np.testing.assert_array_equal(theirs.get_ydata(), blog)


def test_training_curves_accept_a_checkpoint_dict_and_reject_other_things():
    figure = plot_training_curves(history().to_dict())
    assert len(figure.axes[1].lines) == 1
    with pytest.raises(ValueError, match="History"):
        plot_training_curves([1, 2, 3])


def test_live_curves_outside_a_notebook_redraw_one_figure_and_print(capsys):
    live = LiveCurves(epochs=10, blog_accuracy=[96.35, 97.28])
    figure = live.figure
    run = history()
    live.update(1, History(loss_epoch=run.loss_epoch[:2], loss=run.loss[:2], accuracy=[96.0]))
    live.update(2, run)
    assert live.figure is figure and len(figure.axes) == 2 and live.updates == 2
    assert plt.get_fignums() == []  # not a pyplot figure: the backend never shows it again
    accuracy_axes = live.accuracy_axes
    np.testing.assert_array_equal(accuracy_axes.lines[0].get_ydata(), [96.0, 97.5])
    assert len(accuracy_axes.lines) == 2 and accuracy_axes.get_xlim() == (0.5, 10.5)
    assert figure.get_suptitle() == "Training live: epoch 2 of 10"
    assert capsys.readouterr().out.splitlines() == ["epoch 1: test accuracy 96.00%",
                                                    "epoch 2: test accuracy 97.50%"]
    assert live.png().startswith(b"\x89PNG")


def test_curves_and_printed_lines_name_the_split_the_accuracy_was_measured_on(capsys):
    run = history()
    run.split = "validation"
    accuracy_axes = plot_training_curves(run).axes[1]
    assert accuracy_axes.get_title() == "Validation accuracy"
    assert accuracy_axes.get_ylabel() == "validation accuracy (%)"
    old = {key: value for key, value in history().to_dict().items() if key != "split"}
    old["test_accuracy"] = old.pop("accuracy")  # a checkpoint saved before ``split`` existed
    accuracy_axes = plot_training_curves(old).axes[1]
    assert accuracy_axes.get_title() == "Test accuracy"
    assert accuracy_axes.get_ylabel() == "test accuracy (%)"
    live = LiveCurves(epochs=2)
    live.update(2, run.to_dict())
    assert live.accuracy_axes.get_ylabel() == "validation accuracy (%)"
    assert capsys.readouterr().out.splitlines() == ["epoch 2: validation accuracy 97.50%"]


def test_live_curves_in_a_notebook_update_one_display(monkeypatch):
    shown = []

    class Handle:
        def update(self, image):
            shown.append(("update", image.data))

    def display(image, display_id=False):
        assert display_id is True
        shown.append(("display", image.data))
        return Handle()

    monkeypatch.setattr(plotting, "in_notebook", lambda: True)
    monkeypatch.setattr("IPython.display.display", display)
    live = LiveCurves(epochs=3)
    for epoch in (1, 2, 3):
        live.update(epoch, history())
    assert [kind for kind, _ in shown] == ["display", "update", "update"]
    assert all(data.startswith(b"\x89PNG") for _, data in shown)


def test_live_curves_rejects_zero_epochs():
    with pytest.raises(ValueError, match="epochs"):
        LiveCurves(epochs=0)


def test_confusion_matrix_figure_shows_every_count_and_names_the_axes():
    matrix = torch.tensor([[5, 1, 0], [0, 7, 2], [3, 0, 9]])
    names = ["cat", "dog", "bird"]
    figure = plot_confusion_matrix(matrix, names, "Pets")
    axes = figure.axes[0]
    assert axes.get_title() == "Pets"
    assert axes.get_xlabel() == "predicted label" and axes.get_ylabel() == "true label"
    assert [t.get_text() for t in axes.get_xticklabels()] == names
    assert [t.get_text() for t in axes.get_yticklabels()] == names
    written = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
               for t in axes.texts}
    assert written == {(r, c): str(int(matrix[r, c])) for r in range(3) for c in range(3)}
    drawn = axes.images[0].get_array()
    assert drawn.mask[0, 2] and drawn.mask[1, 0]  # empty cells are masked (drawn white)
    assert drawn[2, 2] == 9
    assert len(figure.axes) == 2  # the matrix and its colour bar


def test_confusion_matrix_figure_rejects_bad_input():
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(torch.zeros(2, 3), ["a", "b"], "x")
    with pytest.raises(ValueError, match="class names"):
        plot_confusion_matrix(torch.zeros(2, 2), ["a"], "x")


def png_size_and_colour_type(png: bytes) -> tuple[int, int, int]:
    """Width, height and colour type (2: RGB, 6: RGBA) from a PNG's header."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big"), png[25]


def test_figure_png_is_a_png_of_the_figure_size():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1), dpi=72)
    figure.add_subplot().plot([0, 1])
    assert png_size_and_colour_type(figure_png(figure)) == (144, 72, 2)  # opaque: RGB
    assert png_size_and_colour_type(figure_png(figure, dpi=50)) == (100, 50, 2)
    assert figure.dpi == 72  # the figure's own dpi is back
    figure.patch.set_alpha(0)
    assert png_size_and_colour_type(figure_png(figure))[2] == 6  # see-through: RGBA kept


@pytest.mark.parametrize("channels", [3, 4])
def test_png_bytes_is_a_png_that_reads_back_the_same(channels):
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (7, 5, channels), dtype=np.uint8)
    png = plotting.png_bytes(pixels)
    assert png_size_and_colour_type(png) == (5, 7, 2 if channels == 3 else 6)
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == ("RGB" if channels == 3 else "RGBA")
        assert np.array_equal(np.asarray(image), pixels)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) or \(H, W, 4\) uint8"):
        plotting.png_bytes(pixels.astype(float))


def test_figure_png_of_a_pyplot_figure_keeps_its_canvas():
    figure = plot_training_curves(history())
    canvas = figure.canvas
    png = figure_png(figure, dpi=40)
    assert png_size_and_colour_type(png)[:2] == (440, 160)
    assert figure.canvas is canvas and plt.fignum_exists(figure.number)


def test_maps_and_prediction_updates_the_same_panels():
    maps = torch.randn(10, 24, 24, generator=torch.Generator().manual_seed(0))
    probabilities = torch.softmax(torch.arange(10.0), dim=0)
    figure = plot_maps_and_prediction(torch.zeros(1, 28, 28), maps, probabilities, "conv1",
                                      title="A digit", label=3)
    assert figure.get_suptitle() == "A digit"
    panels = MapsAndPrediction(plt.figure(), channels=10)
    for layer, size in (("conv1", 24), ("pool1", 12)):
        maps = torch.randn(10, size, size, generator=torch.Generator().manual_seed(size))
        panels.update(torch.ones(28, 28), maps, probabilities, layer, title=layer, label=None)
        assert [shown.get_array().shape for shown in panels.maps] == [(size, size)] * 10
        np.testing.assert_allclose(panels.maps[4].get_array(), maps[4].numpy())
        assert panels.maps[0].get_clim() == (maps.min().item(), maps.max().item())
        assert panels.maps[0].axes.get_xlim() == (-0.5, size - 0.5)
        title = f"{layer}: 10 feature maps of {size}x{size}, one colour scale"
        assert panels.maps_title.get_text() == title
    heights = [bar.get_height() for bar in panels.bars]
    np.testing.assert_allclose(heights, probabilities.numpy(), rtol=1e-6)
    assert panels.bars[9].get_facecolor() != panels.bars[0].get_facecolor()  # the prediction
    assert panels.bar_axes.get_xlabel() == "digit" and panels.bar_axes.get_ylabel()
    with pytest.raises(ValueError, match="these panels show 10 channels, got 20"):
        panels.update(torch.ones(28, 28), torch.zeros(20, 8, 8), probabilities, "conv2", "x")


def test_as_image_tensor_takes_one_image_or_a_batch():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for variant in (image, image[None], image[None, None], image.tolist(), torch.tensor(image)):
        converted = as_image_tensor(variant)
        assert converted.dtype == torch.float32
        assert torch.equal(converted, torch.tensor(image).float())
    batch = torch.zeros(5, 1, 3, 4)
    assert as_image_tensor(batch, batch=True).shape == (5, 3, 4)
    assert as_image_tensor(batch[:, 0], batch=True).shape == (5, 3, 4)
    assert as_image_tensor(torch.zeros(1, 1, 3, 4), batch=True).shape == (1, 3, 4)
    with pytest.raises(ValueError, match=r"kernel must be one 2-D image .*got shape \(2, 3, 4\)"):
        as_image_tensor(torch.zeros(2, 3, 4), "kernel")
    with pytest.raises(ValueError, match=r"images must be a batch .*got shape \(3, 4\)"):
        as_image_tensor(torch.zeros(3, 4), "images", batch=True)
    with pytest.raises(ValueError, match="image is empty"):
        as_image_tensor(torch.zeros(0, 4))
    with pytest.raises(ValueError, match=r"got shape \(5, 1, 4\)"):  # not one image
        as_image_tensor(torch.zeros(5, 1, 4))


def test_number_grid_follows_new_values_and_sizes():
    figure, axes = plt.subplots()
    grid = NumberGrid(axes, "viridis", annotate_up_to=3, ticks_up_to=3)
    grid.show(torch.tensor([[0.0, 1.0], [2.0, float("nan")]]), 0, 2)
    visible = [text for text in grid.texts if text.get_visible()]
    assert [text.get_text() for text in visible] == ["0", "1", "2"]  # NaN: blank
    assert [text.get_position() for text in visible] == [(0, 0), (1, 0), (0, 1)]
    assert visible[0].get_color() == "white" and visible[2].get_color() == "black"  # viridis
    assert axes.get_xlim() == (-0.5, 1.5) and list(axes.get_xticks()) == [0, 1]
    assert grid.image.get_clim() == (0, 2)
    grid.show(torch.full((4, 4), 0.25), -1, 1)  # larger than annotate_up_to: no numbers, no ticks
    assert not any(text.get_visible() for text in grid.texts)
    assert axes.get_ylim() == (3.5, -0.5) and list(axes.get_xticks()) == []
    grid.show(torch.full((3, 3), 0.25), -1, 1)
    assert sum(text.get_visible() for text in grid.texts) == 9 and len(grid.texts) == 9
    assert grid.texts[8].get_text() == "0.25"


def test_kernel_mosaic_places_every_kernel():
    weight = torch.randn(20, 10, 5, 5)
    mosaic = kernel_mosaic(weight)
    assert mosaic.shape == (20 * 6 - 1, 10 * 6 - 1)
    for out_channel, in_channel in [(0, 0), (7, 3), (19, 9)]:
        top, left = 6 * out_channel, 6 * in_channel
        assert torch.equal(mosaic[top:top + 5, left:left + 5], weight[out_channel, in_channel])
    assert torch.isnan(mosaic[5]).all() and torch.isnan(mosaic[:, 5]).all()
    assert torch.isnan(mosaic).sum() == mosaic.numel() - weight.numel()
    with pytest.raises(ValueError, match="\\(out, in, kh, kw\\)"):
        kernel_mosaic(torch.zeros(10, 5, 5))


def test_shared_limit_is_the_largest_absolute_weight():
    assert shared_limit(torch.tensor([0.2, -0.5]), torch.tensor([[0.4]])) == 0.5


def test_equivariance_draws_titled_labelled_panels_on_one_centred_scale():
    digit = torch.zeros(8, 8)
    digit[2:5, 3] = 1.0
    moved = torch.roll(digit, shifts=(-1, 2), dims=(0, 1))
    digit_map, moved_map = torch.randn(6, 6), torch.randn(6, 6)
    difference = torch.full((6, 6), float("nan"))
    difference[1:, :4] = 0.0
    figure = plotting.plot_equivariance(digit, moved, digit_map, moved_map, difference, (-1, 2),
                                        map_name="vertical-edge map")
    panels = image_axes(figure)
    assert [axes.get_title() for axes in panels] == [
        "the digit", "moved 1 up, 2 right", "its vertical-edge map", "the moved digit's map",
        "moved digit's map, moved back,\nminus the digit's map"]
    assert all((axes.get_xlabel(), axes.get_ylabel()) == ("column", "row") for axes in panels)
    assert figure.get_suptitle().startswith("Translation equivariance")
    np.testing.assert_array_equal(panels[1].images[0].get_array(), moved.numpy())
    limit = digit_map.abs().max().item()
    assert all(axes.images[0].get_clim() == pytest.approx((-limit, limit)) for axes in panels[2:])
    assert panels[4].images[0].get_cmap().get_bad() == pytest.approx(colors.to_rgba("dimgrey"))
    colour_bar = next(axes for axes in figure.axes if axes.get_label() == "<colorbar>")
    assert colour_bar.get_ylabel().startswith("response")


def test_equivariance_names_a_shift_in_words_and_rejects_mismatched_maps():
    image, values = torch.zeros(5, 5), torch.zeros(3, 3)
    titles = {shift: image_axes(plotting.plot_equivariance(image, image, values, values, values,
                                                           shift))[1].get_title()
              for shift in [(2, 0), (0, -1), (0, 0)]}
    assert titles == {(2, 0): "moved 2 down", (0, -1): "moved 1 left", (0, 0): "not moved"}
    with pytest.raises(ValueError, match="the three maps"):
        plotting.plot_equivariance(image, image, values, torch.zeros(4, 4), values, (1, 1))
