"""What each layer outputs: the recorded feature maps are the functional forward pass, and the
top patches are the strongest conv1 responses."""

import pytest
import torch
import torch.nn.functional as F

from mnist_tutorial.activations import layer_names, layer_outputs, top_patches
from mnist_tutorial.data import load_split
from tests.helpers import BLOG_LAYERS, by_hand, seeded_net


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
