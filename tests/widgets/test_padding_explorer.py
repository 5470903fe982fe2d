import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mnist_tutorial.widgets.padding_explorer import (
    PaddingStrideExplorer,
    coverage_counts,
    plot_coverage,
    plot_window_path,
    window_positions,
)

settings_strategy = st.tuples(st.integers(1, 10), st.integers(1, 6), st.integers(0, 3),
                              st.integers(1, 4))


def brute_force_coverage(size, kernel, padding, stride):
    """For every pixel, count the windows (found by walking the padded grid) that contain it."""
    starts = range(0, size + 2 * padding - kernel + 1, stride)
    counts = torch.zeros(size, size, dtype=torch.int64)
    for i in range(size):
        for j in range(size):
            counts[i, j] = sum(top <= i + padding < top + kernel
                               and left <= j + padding < left + kernel
                               for top in starts for left in starts)
    return counts


@settings(max_examples=60, deadline=None)
@given(settings_strategy)
def test_coverage_matches_brute_force_and_autograd(values):
    size, kernel, padding, stride = values
    assume(kernel <= size + 2 * padding)
    counts = coverage_counts(size, kernel, padding, stride)
    assert torch.equal(counts, brute_force_coverage(size, kernel, padding, stride))
    # PyTorch agrees: the gradient of sum(conv(x, all-ones kernel)) counts the windows per pixel
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    F.conv2d(x, torch.ones(1, 1, kernel, kernel), stride=stride, padding=padding).sum().backward()
    assert torch.equal(counts, x.grad[0, 0].long())


def test_coverage_by_hand_the_seeds_argument():
    assert coverage_counts(7, 3).tolist()[0] == [1, 2, 3, 3, 3, 2, 1]
    assert coverage_counts(7, 3)[3, 3] == 9
    padded = coverage_counts(7, 3, padding=1)
    assert padded[0, 0] == 4 and padded[0, 3] == 6 and padded[3, 3] == 9
    assert torch.equal(coverage_counts(7, 3, padding=2), torch.full((7, 7), 9))  # full padding
    # stride 2 without padding on 6 pixels never reaches the last column
    assert coverage_counts(6, 3, stride=2)[:, -1].tolist() == [0] * 6


@settings(max_examples=40, deadline=None)
@given(settings_strategy)
def test_window_positions_are_the_windows_unfold_takes_in_order(values):
    size, kernel, padding, stride = values
    assume(kernel <= size + 2 * padding)
    x = torch.randn(1, 1, size, size)
    padded = F.pad(x, (padding,) * 4)[0, 0]
    positions = window_positions(size, kernel, padding, stride)
    mine = torch.stack([padded[r:r + kernel, c:c + kernel].flatten() for r, c in positions], dim=1)
    assert torch.equal(mine, F.unfold(x, kernel, padding=padding, stride=stride)[0])


def test_window_positions_by_hand():
    assert window_positions(5, 3, padding=0, stride=2) == [(0, 0), (0, 2), (2, 0), (2, 2)]
    with pytest.raises(ValueError, match="larger than the padded input"):
        window_positions(3, 5)


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
