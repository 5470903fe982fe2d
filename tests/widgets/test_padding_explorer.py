import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F

from mnist_tutorial.padding import coverage_counts
from mnist_tutorial.widgets.padding_explorer import (
    PaddingStrideExplorer,
    plot_coverage,
    plot_window_path,
)
from tests.helpers import brute_force_coverage


@pytest.mark.parametrize("size, kernel, padding, stride",
                         [(7, 3, 0, 1), (7, 3, 1, 1), (7, 3, 1, 2), (8, 3, 0, 3), (5, 5, 0, 1),
                          (12, 7, 3, 4), (1, 1, 0, 1), (6, 2, 2, 3)])
def test_explorer_matches_pytorch(size, kernel, padding, stride):
    explorer = PaddingStrideExplorer(size=size, kernel=kernel, padding=padding, stride=stride)
    expected = F.conv2d(explorer.input, explorer.weight, stride=stride, padding=padding)
    assert explorer.fits
    assert explorer.output_shape == tuple(expected.shape[-2:])
    assert len(explorer.window_positions) == expected[0, 0].numel()
    assert torch.allclose(explorer.hand_output, expected, atol=1e-5)
    assert explorer.max_abs_difference == (explorer.hand_output - expected).abs().max().item()
    assert explorer.max_abs_difference < 1e-5
    assert torch.equal(explorer.coverage, brute_force_coverage(size, kernel, padding, stride))
    assert f"= {expected.shape[-1]}, so the output is" in explorer.message


def test_setting_a_value_updates_every_result():
    explorer = PaddingStrideExplorer(size=7, kernel=3)
    assert explorer.output_shape == (5, 5)
    explorer.stride = 2
    assert explorer.output_shape == (3, 3) and explorer.window_positions[1] == (0, 2)
    explorer.set(padding=1, size=9)
    assert (explorer.size, explorer.padding, explorer.output_shape) == (9, 1, (5, 5))
    assert explorer.input.shape == (1, 1, 9, 9)
    assert torch.allclose(explorer.hand_output,
                          F.conv2d(explorer.input, explorer.weight, stride=2, padding=1), atol=1e-5)


def test_kernel_that_does_not_fit_gives_a_message_not_a_crash():
    explorer = PaddingStrideExplorer(size=4, kernel=3)
    explorer.kernel = 7
    assert not explorer.fits
    assert explorer.output_shape is None and explorer.window_positions == []
    assert explorer.hand_output is None and explorer.max_abs_difference is None
    assert explorer.message.startswith("The kernel does not fit")
    assert "7" in explorer.message and "4 + 2 x 0 = 4" in explorer.message
    assert torch.equal(explorer.coverage, torch.zeros(4, 4, dtype=torch.int64))
    with pytest.raises(RuntimeError):  # PyTorch refuses too
        F.conv2d(explorer.input, explorer.weight)
    explorer.padding = 2  # 4 + 2*2 = 8 >= 7: fits again
    assert explorer.fits and explorer.output_shape == (2, 2)


@pytest.mark.parametrize("values, wrong", [({"padding": -1}, "padding"), ({"stride": 0}, "stride"),
                                           ({"size": 0}, "size"), ({"kernel": 2.5}, "kernel"),
                                           ({"stride": True}, "stride"),
                                           ({"dilation": 2}, "dilation")])
def test_bad_settings_raise_clear_errors(values, wrong):
    explorer = PaddingStrideExplorer()
    with pytest.raises(ValueError, match=wrong):
        explorer.set(**values)
    assert explorer.output_shape == (5, 5)  # nothing changed


def test_widget_sliders_drive_the_explorer_and_follow_it():
    explorer = PaddingStrideExplorer(size=7, kernel=3)
    widget = explorer.widget
    assert widget is explorer.widget  # built once
    assert list(explorer.controls) == ["size", "kernel", "padding", "stride"]
    explorer.controls["stride"].value = 2
    assert explorer.stride == 2 and explorer.output_shape == (3, 3)
    summary, image = widget.children[2], widget.children[3]
    assert "= 3, so the output is 3x3" in summary.value
    assert bytes(image.value).startswith(b"\x89PNG")
    explorer.set(kernel=9)
    assert explorer.controls["kernel"].value == 9 and explorer.controls["kernel"].max >= 9
    assert "does not fit" in summary.value and "red" in summary.value
    assert bytes(image.value) == explorer.png()


def test_figures_have_titles_and_labels():
    figure = PaddingStrideExplorer(size=6, kernel=3, padding=1, stride=2).plot()
    for axes in figure.axes[:2]:
        assert axes.get_title() and axes.get_xlabel() and axes.get_ylabel()
    path, coverage = figure.axes[:2]
    assert figure.get_suptitle() == "Output shape: (3, 3)"
    assert path.get_title() == "n=6, k=3, p=1, s=2: 3x3 windows"
    centres = path.lines[0].get_xydata()  # window centres: corners (0, 0), (0, 2), ... plus 1
    assert centres.tolist() == [[column + 1, row + 1] for row in (0, 2, 4) for column in (0, 2, 4)]
    counts = coverage_counts(6, 3, 1, 2)
    assert (coverage.images[0].get_array() == counts.numpy()).all()
    written = [text.get_text() for text in coverage.texts]
    assert written == [str(count) for count in counts.flatten().tolist()]
    plt.close(figure)
    figure = PaddingStrideExplorer(size=4, kernel=7).plot()  # no window fits: a note, no path
    path = figure.axes[0]
    assert path.get_title() == "No window fits" and not path.lines[0].get_visible()
    assert "does not fit" in figure.get_suptitle()
    plt.close(figure)
    ax = plot_coverage(coverage_counts(5, 3), "coverage")
    assert ax.figure.axes[1].get_ylabel() == "times covered by the kernel"  # the colour bar
    plt.close(ax.figure)
    ax = plot_window_path(5, 3, 1, 2)
    assert ax.get_title() == "n=5, k=3, p=1, s=2: 3x3 windows"
    plt.close(ax.figure)
