"""The blog post's network without autograd: forward, backward, SGD with momentum and a short
training run, each against PyTorch's own (autograd, torch.optim.SGD); the input gradient; and the
lesson code notebook 06 shows."""

import inspect

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_tutorial import backprop
from mnist_tutorial.models import BlogNet, ImprovedNet
from mnist_tutorial.training import train_epoch
from tests.helpers import assert_lesson_code


def blog_net(seed: int, pooling: str = "max", dtype=torch.float64) -> BlogNet:
    torch.manual_seed(seed)
    return BlogNet(pooling).to(dtype)


def digits(seed: int, n: int, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 1, 28, 28, generator=generator, dtype=dtype),
            torch.randint(0, 10, (n,), generator=generator))


def autograd_gradients(model, images, labels) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad()
    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    return loss.item(), {name: p.grad.clone() for name, p in model.named_parameters()}


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 5), pooling=st.sampled_from(["max", "avg"]))
def test_gradients_match_autograd(seed, n, pooling):
    model = blog_net(seed, pooling)
    images, labels = digits(seed, n)
    loss, grads = backprop.loss_and_gradients(model, images, labels)
    expected_loss, expected = autograd_gradients(model, images, labels)
    assert loss == pytest.approx(expected_loss, abs=1e-12)
    assert grads.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(grads[name], expected[name], rtol=1e-10, atol=1e-10)


def test_forward_matches_the_model():
    model = blog_net(0)
    images, _ = digits(0, 4)
    scores, saved = backprop.forward(model, images)
    torch.testing.assert_close(scores, model(images), rtol=1e-12, atol=1e-12)
    assert saved["conv1"] is images and saved["fc1"].shape == (4, 320)


@pytest.mark.parametrize("target, channel, cell", [("conv2", 3, (2, 5)), ("conv2", 19, (7, 0)),
                                                   ("score", 7, (0, 0))])
def test_input_gradient_matches_autograd(target, channel, cell):
    model = blog_net(1)
    image = digits(1, 1)[0][0, 0]
    x = image[None, None].clone().requires_grad_()
    if target == "score":
        number = model(x)[0, channel]
    else:
        number = model.conv2(model.relu(model.pooling(model.conv1(x))))[(0, channel, *cell)]
    expected, = torch.autograd.grad(number, x)
    gradient, value = backprop.input_gradient(model, image, target, channel, cell)
    assert value == pytest.approx(number.item(), abs=1e-12)
    torch.testing.assert_close(gradient, expected[0, 0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("target, channel, cell, message", [
    ("conv3", 0, (0, 0), "target must be one of"),
    ("conv2", 20, (0, 0), r"no conv2 unit \(20, 0, 0\).*shape \(20, 8, 8\)"),
    ("conv2", 0, (8, 0), r"no conv2 unit \(0, 8, 0\)"),
    ("score", 10, (0, 0), r"no score unit \(10,\): .* shape \(10,\)"),
    ("conv2", 0, (3,), r"cell must be a pair \(row, column\) .* got \(3,\)"),
    ("conv2", 0, (3, 1, 2), r"cell must be a pair \(row, column\)"),
    ("conv2", 0, 3, r"cell must be a pair \(row, column\) .* got 3"),
])
def test_input_gradient_refuses_units_that_do_not_exist(target, channel, cell, message):
    with pytest.raises(ValueError, match=message):
        backprop.input_gradient(blog_net(0), torch.zeros(28, 28), target, channel, cell)


def test_momentum_sgd_matches_torch_optim_sgd():
    ours, theirs = blog_net(2), blog_net(2)
    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.5)
    sgd = backprop.MomentumSGD(ours, lr=0.05, momentum=0.5)
    for step in range(4):
        images, labels = digits(10 + step, 3)
        _, grads = backprop.loss_and_gradients(ours, images, labels)
        sgd.step(grads)
        optimizer.zero_grad()
        F.cross_entropy(theirs(images), labels).backward()
        optimizer.step()
    for (name, mine), reference in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-10, msg=name)


def test_an_epoch_by_hand_matches_autograds_epoch_in_float32():
    hand, auto = blog_net(3, dtype=torch.float32), blog_net(3, dtype=torch.float32)
    # a smaller last batch: the mean loss is over examples, not the mean of batch means
    batches = [digits(20 + i, 16 if i < 5 else 5, torch.float32) for i in range(6)]
    losses = []
    mean_loss = backprop.train_epoch_by_hand(hand, batches, backprop.MomentumSGD(hand),
                                             on_step=lambda step, loss: losses.append(
                                                 (step, loss)))
    expected = train_epoch(auto, batches, torch.optim.SGD(auto.parameters(), lr=0.01,
                                                          momentum=0.5))
    assert [step for step, _ in losses] == [1, 2, 3, 4, 5, 6]
    assert mean_loss == pytest.approx(expected, abs=1e-5)
    for mine, reference in zip(hand.parameters(), auto.parameters()):
        torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-5)


def test_bad_settings_and_models_are_refused():
    with pytest.raises(ValueError, match="need lr > 0 and 0 <= momentum < 1"):
        backprop.MomentumSGD(blog_net(0), lr=0.0)
    with pytest.raises(ValueError, match="need lr > 0 and 0 <= momentum < 1"):
        backprop.MomentumSGD(blog_net(0), momentum=1.0)
    sgd = backprop.MomentumSGD(blog_net(0))
    with pytest.raises(ValueError, match="need one gradient per parameter"):
        sgd.step({"fc2.bias": torch.zeros(10)})
    with pytest.raises(TypeError, match="written for BlogNet, got ImprovedNet"):
        backprop.forward(ImprovedNet(), torch.zeros(1, 1, 28, 28))
    with pytest.raises(ValueError, match=r"the blog post's order .*BlogNet\(order='relu_pool'\)"):
        backprop.forward(BlogNet(order="relu_pool"), torch.zeros(1, 1, 28, 28))


@pytest.mark.parametrize("function", [backprop.backward, backprop.backward_from_conv2])
def test_backward_passes_refuse_other_models_too(function):
    saved = backprop.forward(blog_net(0, dtype=torch.float32), torch.zeros(1, 1, 28, 28))[1]
    with pytest.raises(TypeError, match="written for BlogNet, got ImprovedNet"):
        function(ImprovedNet(), saved, torch.zeros(1, 10), input_grad=False)
    with pytest.raises(ValueError, match=r"the blog post's order .*BlogNet\(order='relu_pool'\)"):
        function(BlogNet(order="relu_pool"), saved, torch.zeros(1, 10), input_grad=False)


@pytest.mark.parametrize("function", [backprop.backward, backprop.backward_from_conv2],
                         ids=lambda function: function.__name__)
def test_notebook_06_shows_the_chain_rule_as_lesson_code(function):
    assert_lesson_code(function)
    source = inspect.getsource(function)
    assert "_backward(" in source and "POOLING_PASSES[type(model.pooling)]" in source
