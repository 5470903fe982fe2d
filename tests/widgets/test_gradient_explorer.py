"""The gradient explorer: the gradient it shows is autograd's, a conv2 output's is zero outside
its 14x14 receptive field, settings are checked, and the widget's controls drive it."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from mnist_tutorial.models import BlogNet
from mnist_tutorial.widgets.gradient_explorer import FIELD, JUMP, GradientExplorer


@pytest.fixture
def explorer():
    torch.manual_seed(0)
    images = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    return GradientExplorer(BlogNet(), images)


def autograd_gradient(explorer):
    model = explorer.model
    x = explorer.images[explorer.index][None, None].clone().requires_grad_()
    if explorer.target == "score":
        number = model(x)[0, explorer.channel]
    else:
        number = model.conv2(model.relu(model.pooling(model.conv1(x))))[
            (0, explorer.channel, *explorer.cell)]
    return torch.autograd.grad(number, x)[0][0, 0], number.item()


@pytest.mark.parametrize("settings", [{}, {"channel": 7, "cell": (0, 7)}, {"index": 2},
                                      {"target": "score", "channel": 4}])
def test_gradient_is_autograds(explorer, settings):
    explorer.set(**settings)
    expected, value = autograd_gradient(explorer)
    torch.testing.assert_close(explorer.gradient, expected, rtol=1e-4, atol=1e-6)
    assert explorer.value == pytest.approx(value, abs=1e-5)


@pytest.mark.parametrize("cell", [(0, 0), (3, 3), (7, 7), (2, 6)])
def test_a_conv2_output_depends_only_on_its_receptive_field(explorer, cell):
    explorer.set(cell=cell, channel=5)
    top, left, bottom, right = explorer.field
    assert (top, left, bottom - top, right - left) == (2 * cell[0], 2 * cell[1], 14, 14)
    outside = explorer.gradient.clone()
    outside[top:bottom, left:right] = 0
    assert torch.count_nonzero(outside) == 0
    assert 0 < explorer.nonzero <= 14 * 14
    assert f"rows {top}-{bottom - 1}, columns {left}-{right - 1}" in explorer.message


def test_field_and_jump_follow_the_formula():
    # r = 1 + (5 - 1) * 1 + (2 - 1) * 1 + (5 - 1) * 2 = 14; the jump is the pooling's stride 2
    assert (FIELD, JUMP) == (1 + 4 * 1 + 1 * 1 + 4 * 2, 2)


def test_a_class_score_depends_on_most_pixels(explorer):
    explorer.set(target="score", channel=3)
    assert explorer.field is None and explorer.nonzero > 14 * 14
    assert explorer.message.startswith("score of class 3 = ")


def test_switching_to_scores_keeps_the_channel_a_class(explorer):
    explorer.set(channel=15)
    explorer.set(target="score")
    assert explorer.channel == 9


@pytest.mark.parametrize("settings, message", [
    ({"target": "fc1"}, "target must be one of"),
    ({"channel": 20}, "channel must be an integer from 0 to 19 for target 'conv2'"),
    ({"target": "score", "channel": 10}, "channel must be an integer from 0 to 9"),
    ({"cell": (8, 0)}, r"cell must be a pair \(row, column\) of integers from 0 to 7"),
    ({"cell": 3}, "cell must be a pair"),
    ({"index": 4}, "index must be an integer from 0 to 3"),
    ({"index": 1.5}, "index must be an integer"),
    ({"size": 3}, "unknown setting 'size'"),
])
def test_bad_settings_change_nothing(explorer, settings, message):
    before = explorer.gradient.clone()
    with pytest.raises(ValueError, match=message):
        explorer.set(**settings)
    assert torch.equal(explorer.gradient, before) and explorer.target == "conv2"


def test_bad_inputs():
    with pytest.raises(ValueError, match="images must be 28x28 digits"):
        GradientExplorer(BlogNet(), torch.zeros(2, 1, 20, 20))
    with pytest.raises(TypeError, match="BlogNet's gradients"):
        GradientExplorer(torch.nn.Linear(2, 2), torch.zeros(2, 1, 28, 28))


def test_plot_has_titles_and_labels(explorer):
    figure = explorer.plot()
    try:
        assert "depends on" in figure._suptitle.get_text()
        for axes in figure.axes[:2]:
            assert axes.get_title() and axes.get_xlabel() == "column"
        assert all(axes.get_ylabel() for axes in figure.axes[2:])  # the colour bars
    finally:
        plt.close(figure)


def test_controls_drive_the_explorer(explorer):
    first = explorer.png()
    assert first.startswith(b"\x89PNG")
    controls = explorer.controls
    controls["channel"].value = 6
    assert explorer.channel == 6 and explorer.png() != first
    controls["row"].value = 5
    assert explorer.cell == (5, 3)
    controls["digit"].value = 3
    assert explorer.index == 3
    controls["target"].value = "score"
    assert explorer.target == "score" and controls["channel"].max == 9
    assert controls["row"].disabled
    assert explorer._status.value == explorer.message
