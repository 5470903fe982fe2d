"""What each layer outputs: the recorded feature maps are the functional forward pass, whether
the network computes them with modules or with functions, and the top patches are the strongest
conv1 responses."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mnist_tutorial.activations import layer_names, layer_outputs, top_patches
from mnist_tutorial.data import load_split
from mnist_tutorial.models import MLP
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


@pytest.mark.parametrize("pooling, pool", [("max", F.max_pool2d), ("avg", F.avg_pool2d)])
def test_layer_outputs_equal_the_functional_forward_pass(pooling, pool):
    model = seeded_net(pooling=pooling).train()
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    outputs = layer_outputs(model, x)
    assert list(outputs) == BLOG_LAYERS == layer_names(model)
    with torch.no_grad():
        expected = by_hand(model, x, pool)
    for name in BLOG_LAYERS:
        assert torch.allclose(outputs[name], expected[name], atol=1e-5), name
    assert [tuple(outputs[n].shape[1:]) for n in BLOG_LAYERS] == [
        (10, 24, 24), (10, 12, 12), (10, 12, 12), (20, 8, 8), (20, 4, 4), (20, 4, 4)]
    assert model.training  # mode restored
    assert all(not module._forward_hooks for module in model.modules())  # hooks removed


def digits(count: int = 2, seed: int = 1) -> torch.Tensor:
    """Random stand-ins for ``count`` digits (N, 1, 28, 28)."""
    return torch.randn(count, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def assert_maps(outputs: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    """The same names in the same order, and the same values."""
    assert list(outputs) == list(expected)
    for name, value in expected.items():
        assert torch.allclose(outputs[name], value, atol=1e-5), name


def test_functional_calls_are_recorded_in_forward_order():
    torch.manual_seed(0)
    model = FunctionalNet()
    x = digits()
    assert_maps(layer_outputs(model, x), functional_by_hand(model, x))
    assert layer_names(model) == FUNCTIONAL_LAYERS  # fc1's relu (2-D) is counted, not kept


class Block(nn.Module):
    """A submodule whose forward calls functions: their maps are named after the block."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv(x).relu())  # a residual sum, and ReLU as a tensor method


class BranchNet(nn.Module):
    """Two branches added, residual blocks, a layer used twice and an ``if`` on the data."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, kernel_size=3, padding=1)
        self.wide = nn.Conv2d(4, 4, kernel_size=5, padding=2)
        self.narrow = nn.Conv2d(4, 4, kernel_size=1)
        self.block1, self.block2 = Block(4), Block(4)
        self.fc = nn.Linear(4 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.sigmoid(self.stem(x))
        x = self.wide(x) + self.narrow(x)
        if x.mean() > -1e9:  # data-dependent control flow (torch.fx cannot trace this)
            x = F.avg_pool2d(self.block1(x), 2)
        x = self.block2(F.max_pool2d(self.block1(x), 2))
        return self.fc(x.flatten(1))


def test_branches_residuals_and_submodules_are_recorded():
    torch.manual_seed(0)
    model = BranchNet()
    x = digits()

    def block(name, b, inputs):
        conv = F.conv2d(inputs, b.conv.weight, b.conv.bias, padding=1)
        return {f"{name}.conv": conv, f"{name}.relu": F.relu(conv),
                f"{name}.relu'": F.relu(inputs + F.relu(conv))}

    with torch.no_grad():
        stem = F.conv2d(x, model.stem.weight, model.stem.bias, padding=1)
        wide = F.conv2d(torch.sigmoid(stem), model.wide.weight, model.wide.bias, padding=2)
        narrow = F.conv2d(torch.sigmoid(stem), model.narrow.weight, model.narrow.bias)
        first = block("block1", model.block1, wide + narrow)
        pooled = F.avg_pool2d(first["block1.relu'"], 2)
        second = block("block1", model.block1, pooled)
        halved = F.max_pool2d(second["block1.relu'"], 2)
        third = block("block2", model.block2, halved)
    expected = {"stem": stem, "sigmoid #1": torch.sigmoid(stem), "wide": wide, "narrow": narrow,
                "block1.conv1": first["block1.conv"], "block1.relu #1": first["block1.relu"],
                "block1.relu #2": first["block1.relu'"], "avg_pool2d #1": pooled,
                "block1.conv2": second["block1.conv"], "block1.relu #3": second["block1.relu"],
                "block1.relu #4": second["block1.relu'"], "max_pool2d #1": halved,
                "block2.conv": third["block2.conv"], "block2.relu #1": third["block2.relu"],
                "block2.relu #2": third["block2.relu'"]}
    assert_maps(layer_outputs(model, x), expected)


def test_a_sequential_is_named_by_place_and_type():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 6, kernel_size=3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(6 * 13 * 13, 10))
    x = digits()
    with torch.no_grad():
        conv = F.conv2d(x, model[0].weight, model[0].bias)
    assert_maps(layer_outputs(model, x), {"0 (Conv2d)": conv, "1 (ReLU)": F.relu(conv),
                                          "2 (MaxPool2d)": F.max_pool2d(F.relu(conv), 2)})


def test_a_module_is_one_map_not_two():
    """nn.Conv2d calls F.conv2d, nn.ReLU F.relu, nn.MaxPool2d F.max_pool2d: each map once."""
    torch.manual_seed(0)
    model = seeded_net()
    x = digits(1)
    outputs = layer_outputs(model, x)
    assert list(outputs) == BLOG_LAYERS
    assert not any("#" in name for name in outputs)
    # an in-place ReLU after a module changes the tensor the module returned, not the copy kept
    model.relu = nn.ReLU(inplace=True)
    with torch.no_grad():
        conv1 = F.conv2d(x, model.conv1.weight, model.conv1.bias)
    assert torch.allclose(layer_outputs(model, x)["pool1"], F.max_pool2d(conv1, 2), atol=1e-6)
    assert bool((layer_outputs(model, x)["pool1"] < 0).any())


class ScoresOnly(nn.Module):
    """Returns (N, 3) scores: not a digit classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, kernel_size=28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).flatten(1)


@pytest.mark.parametrize("model, message", [
    (MLP(), "MLP computes no feature maps: nothing in its forward pass outputs \\(N, C, H, W\\)"),
    (nn.Conv2d(3, 8, kernel_size=3), "Conv2d cannot read MNIST digits: given a batch of shape "
                                     "\\(1, 1, 28, 28\\).*to have 3 channels, but got 1.*"
                                     "takes \\(N, 1, 28, 28\\)"),
    (ScoresOnly(), "ScoresOnly returned \\(1, 3\\) for a batch of shape \\(1, 1, 28, 28\\).*"
                   "\\(N, 10\\)"),
    (nn.ReLU(), "ReLU has no weights"),
])
def test_a_model_the_explorers_cannot_show_gets_a_clear_error(model, message):
    with pytest.raises(ValueError, match=message):
        layer_names(model)
    assert all(not module._forward_hooks and not module._forward_pre_hooks
               for module in model.modules())  # the recorder cleaned up after the failure


def test_layer_names_needs_a_network():
    with pytest.raises(TypeError, match="need a network \\(a torch.nn.Module\\), got function"):
        layer_names(F.relu)


def test_layer_outputs_needs_a_batch():
    with pytest.raises(ValueError, match="images\\[None\\]"):
        layer_outputs(seeded_net(), torch.zeros(1, 28, 28))


def test_top_patches_are_the_strongest_responses(split):
    model = seeded_net()
    images = split.images[:200]
    patches, responses = top_patches(model, images, count=4)
    assert patches.shape == (10, 4, 5, 5) and responses.shape == (10, 4)
    with torch.no_grad():
        maps = F.conv2d(images, model.conv1.weight, model.conv1.bias)
    assert torch.allclose(responses[:, 0], maps.amax(dim=(0, 2, 3)))
    assert bool((responses[:, :-1] >= responses[:, 1:]).all())
    by_hand = (patches * model.conv1.weight[:, None, 0]).sum(dim=(2, 3)) + model.conv1.bias[:, None]
    assert torch.allclose(by_hand.detach(), responses, atol=1e-5)
