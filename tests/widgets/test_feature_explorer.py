
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from mnist_tutorial.activations import top_patches
from mnist_tutorial.data import TensorSplit, load_split
from mnist_tutorial.models import MLP
from mnist_tutorial.plotting import plot_probabilities, shared_limit
from mnist_tutorial.widgets import feature_explorer as fe
from mnist_tutorial.widgets.feature_explorer import FeatureExplorer
from tests.helpers import (
    BLOG_LAYERS,
    FUNCTIONAL_LAYERS,
    FunctionalNet,
    by_hand,
    functional_by_hand,
    seeded_net,
)


@pytest.fixture(scope="module")
def split(mnist_root):
    return load_split("mnist", train=False, quick=True)


def test_kernel_figures_are_titled_and_labelled(split):
    trained, untrained = seeded_net(1), seeded_net(2)
    conv1 = fe.plot_conv1_kernels(trained, untrained)
    assert "conv1" in conv1._suptitle.get_text()
    assert len(conv1.axes) == 21  # 20 kernels and a colour bar
    conv2 = fe.plot_conv2_kernels(trained, untrained)
    assert conv2.axes[0].get_xlabel().startswith("input channel")
    assert conv2.axes[0].get_ylabel().startswith("output channel")
    limit = shared_limit(trained.conv2.weight, untrained.conv2.weight)
    assert {image.get_clim() for axes in conv2.axes for image in axes.images} == {(-limit, limit)}
    responses = fe.plot_kernel_responses(trained, split.images[0], "7")
    assert responses._suptitle.get_text()
    patches = fe.plot_top_patches(*top_patches(trained, split.images[:50], 3))
    assert patches.axes[0].get_ylabel() == "kernel 0"
    axes = plot_probabilities(torch.tensor([0.1] * 10), label=3)
    assert axes.get_ylabel() == "probability" and "true label: 3" in axes.get_xlabel()
    plt.close("all")


# --- the explorer ---------------------------------------------------------------------------------
def test_explorer_shows_the_model_activations(split):
    model = seeded_net()
    explorer = FeatureExplorer(model, split, index=5, layer="conv2")
    x = split.images[5:6]
    with torch.no_grad():
        expected = by_hand(model, x)
        probabilities = torch.softmax(model(x), dim=1)[0]
    assert explorer.index == 5 and explorer.layers == BLOG_LAYERS
    assert torch.allclose(explorer.feature_maps, expected["conv2"][0], atol=1e-5)
    assert np.allclose(explorer.probabilities, probabilities.numpy(), atol=1e-6)
    for layer in BLOG_LAYERS:
        explorer.set(layer=layer)
        assert torch.allclose(explorer.feature_maps, expected[layer][0], atol=1e-5)
    explorer.set(index=17)
    expected = by_hand(model, split.images[17:18])["relu2"][0].detach()
    assert torch.allclose(explorer.feature_maps, expected, atol=1e-5)
    assert "#17" in explorer.message
    figure = explorer.plot()
    assert "#17" in figure._suptitle.get_text()
    maps = [axes for axes in figure.axes if axes.get_title().startswith("channel")]
    assert [axes.get_title() for axes in maps] == [f"channel {c}" for c in range(20)]
    for axes, channel in zip(maps, expected):
        assert np.allclose(axes.images[0].get_array(), channel.numpy(), atol=1e-5)
    bars = next(axes for axes in figure.axes if axes.get_ylabel() == "probability")
    heights = [bar.get_height() for bar in bars.patches]
    assert np.allclose(heights, explorer.probabilities, atol=1e-6)
    label = int(split.labels[17])
    assert any(text.get_text() == f"true label: {label}" for text in bars.texts)
    plt.close(figure)


def test_explorer_shows_every_map_of_a_functional_network(split):
    torch.manual_seed(0)
    model = FunctionalNet()  # pooling and ReLU as functions, as pytorch/examples writes them
    explorer = FeatureExplorer(model, split, index=3)
    assert explorer.layers == FUNCTIONAL_LAYERS and explorer.layer == "conv1"  # the first map
    expected = functional_by_hand(model, split.images[3:4])
    for layer in FUNCTIONAL_LAYERS:
        explorer.set(layer=layer)
        assert torch.allclose(explorer.feature_maps, expected[layer][0], atol=1e-5), layer
    assert list(explorer.controls["layer"].options) == FUNCTIONAL_LAYERS
    explorer.controls["layer"].value = "relu #2"
    assert explorer.layer == "relu #2" and explorer.feature_maps.shape == (20, 4, 4)
    figure = explorer.plot()
    assert any(text.get_text().startswith("relu #2: 20 feature maps")
               for text in figure.findobj(plt.Text))
    plt.close(figure)


@pytest.mark.parametrize("model, message", [
    (MLP(), "MLP computes no feature maps"),
    (torch.nn.Conv2d(3, 8, kernel_size=3), "Conv2d cannot read MNIST digits: given a batch of "
                                           "shape \\(1, 1, 28, 28\\)"),
])
def test_explorer_refuses_a_network_it_cannot_show(split, model, message):
    with pytest.raises(ValueError, match=message):
        FeatureExplorer(model, split)


def test_filters_select_the_right_digits(split):
    model = seeded_net()
    explorer = FeatureExplorer(model, split)
    with torch.no_grad():
        predicted = model(split.images).argmax(dim=1)
    explorer.set(class_filter=3)
    assert torch.equal(explorer.candidates, (split.labels == 3).nonzero().flatten())
    assert split.labels[explorer.index] == 3
    explorer.set(misclassified_only=True)
    wrong_threes = ((split.labels == 3) & (predicted != 3)).nonzero().flatten()
    assert torch.equal(explorer.candidates, wrong_threes)
    assert explorer.index in wrong_threes.tolist()
    explorer.set(class_filter=None)
    assert torch.equal(explorer.candidates, (predicted != split.labels).nonzero().flatten())
    explorer.set(misclassified_only=False)
    assert len(explorer.candidates) == len(split)
    explorer.set(class_filter=8)
    picks = {explorer.random() for _ in range(5)}
    assert all(split.labels[i] == 8 for i in picks) and len(picks) > 1


def test_explorer_rejects_bad_settings(split):
    explorer = FeatureExplorer(seeded_net(), split, class_filter=1)
    not_a_one = int((split.labels != 1).nonzero()[0])
    with pytest.raises(ValueError, match="does not pass the filters"):
        explorer.set(index=not_a_one)
    with pytest.raises(ValueError, match="unknown layer 'fc1'"):
        explorer.set(layer="fc1")
    with pytest.raises(ValueError, match="digit 0-9 or None"):
        explorer.set(class_filter=10)
    with pytest.raises(ValueError, match="index must lie in"):
        explorer.set(index=len(split))
    assert explorer.class_filter == 1  # a rejected change leaves the settings as they were


def test_no_matching_digit_gives_a_message(split):
    model = seeded_net()
    with torch.no_grad():
        predicted = model(split.images[:100]).argmax(dim=1)
    always_right = TensorSplit(split.images[:100], predicted)  # labels = predictions: no mistakes
    explorer = FeatureExplorer(model, always_right, misclassified_only=True)
    assert explorer.index is None and explorer.feature_maps is None
    assert explorer.probabilities is None
    assert "No test digit" in explorer.message and explorer.plot() is None
    assert explorer.random() is None
    view = explorer.widget  # builds without error: slider disabled, no picture
    assert explorer.controls["digit"].disabled and explorer.controls["random"].disabled
    picture = view.children[-1]
    assert isinstance(picture, widgets.Image) and picture.layout.display == "none"
    assert explorer.png() == b"" and bytes(picture.value) == b""


def test_widget_controls_drive_the_explorer(split):
    explorer = FeatureExplorer(seeded_net(), split)
    assert explorer._widget is None  # built on first use
    controls = explorer.controls
    assert explorer._widget is not None
    assert list(controls) == ["digit", "random", "class", "misclassified", "layer"]
    controls["class"].value = 4
    assert explorer.class_filter == 4 and split.labels[explorer.index] == 4
    assert controls["digit"].max == len(explorer.candidates) - 1
    controls["digit"].value = 3
    assert explorer.index == int(explorer.candidates[3])
    controls["layer"].value = "pool2"
    assert explorer.layer == "pool2" and explorer.feature_maps.shape == (20, 4, 4)
    controls["misclassified"].value = True
    assert explorer.misclassified_only
    explorer.set(class_filter=None, misclassified_only=False, layer="conv1")  # Python -> controls
    assert controls["class"].value == -1 and not controls["misclassified"].value
    assert controls["layer"].value == "conv1"
    status, picture = explorer.widget.children[-2:]
    assert f"#{explorer.index}" in status.value
    controls["random"].click()
    position = int((explorer.candidates == explorer.index).nonzero()[0, 0])
    assert controls["digit"].value == position
    assert picture.layout.display != "none" and bytes(picture.value).startswith(b"\x89PNG")
    assert bytes(picture.value) == explorer.png()  # the picture shows the digit now
