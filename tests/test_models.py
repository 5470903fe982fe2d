import pytest
import torch
import torch.nn.functional as F

from mnist_tutorial.models import MLP, BlogNet, build_model, count_parameters


def test_blog_net_shapes_layer_by_layer():
    net = BlogNet()
    x = torch.randn(2, 1, 28, 28)
    x = net.conv1(x)
    assert x.shape == (2, 10, 24, 24)
    x = net.relu(net.pooling(x))
    assert x.shape == (2, 10, 12, 12)
    x = net.conv2(x)
    assert x.shape == (2, 20, 8, 8)
    x = net.relu(net.pooling(x))
    assert x.shape == (2, 20, 4, 4)
    assert x.flatten(1).shape == (2, 320)
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_blog_net_parameter_count_by_hand():
    conv1 = 10 * 1 * 5 * 5 + 10
    conv2 = 20 * 10 * 5 * 5 + 20
    fc1 = 320 * 50 + 50
    fc2 = 50 * 10 + 10
    assert count_parameters(BlogNet()) == conv1 + conv2 + fc1 + fc2 == 21_840


def test_blog_net_forward_matches_functional_ops_in_blog_order():
    torch.manual_seed(0)
    net = BlogNet()
    x = torch.randn(3, 1, 28, 28)
    y = F.relu(F.max_pool2d(F.conv2d(x, net.conv1.weight, net.conv1.bias), 2))
    y = F.relu(F.max_pool2d(F.conv2d(y, net.conv2.weight, net.conv2.bias), 2))
    y = F.relu(F.linear(y.flatten(1), net.fc1.weight, net.fc1.bias))
    y = F.linear(y, net.fc2.weight, net.fc2.bias)
    torch.testing.assert_close(net(x), y)


def test_build_model_by_name():
    assert isinstance(build_model("blog"), BlogNet)
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model("resnet")


def test_average_pooling_variant():
    net = BlogNet(pooling="avg")
    assert isinstance(net.pooling, torch.nn.AvgPool2d)
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert count_parameters(net) == 21_840
    with pytest.raises(ValueError, match="unknown pooling 'min'"):
        BlogNet(pooling="min")


def test_relu_before_pooling_order():
    torch.manual_seed(0)
    x = torch.randn(3, 1, 28, 28)
    for pooling, pool in (("max", F.max_pool2d), ("avg", F.avg_pool2d)):
        net = BlogNet(pooling=pooling, order="relu_pool")
        y = pool(F.relu(F.conv2d(x, net.conv1.weight, net.conv1.bias)), 2)
        y = pool(F.relu(F.conv2d(y, net.conv2.weight, net.conv2.bias)), 2)
        y = F.linear(F.relu(F.linear(y.flatten(1), net.fc1.weight, net.fc1.bias)),
                     net.fc2.weight, net.fc2.bias)
        torch.testing.assert_close(net(x), y)
        blog_order = BlogNet(pooling=pooling)
        blog_order.load_state_dict(net.state_dict())  # the same weights: the order is no weight
        same = torch.allclose(blog_order(x), net(x))
        assert same == (pooling == "max")  # ReLU and max commute; ReLU and mean do not
    with pytest.raises(ValueError, match="unknown order 'relu_first'"):
        BlogNet(order="relu_first")


def test_mlp_size_and_function():
    net = MLP()
    assert count_parameters(net) == 784 * 27 + 27 + 27 * 10 + 10 == 21_475
    assert abs(count_parameters(net) - count_parameters(BlogNet())) < 400
    x = torch.randn(4, 1, 28, 28)
    expected = F.linear(F.relu(F.linear(x.reshape(4, 784), net.fc1.weight, net.fc1.bias)),
                        net.fc2.weight, net.fc2.bias)
    torch.testing.assert_close(net(x), expected)
    assert count_parameters(MLP(hidden=100)) == 784 * 100 + 100 + 100 * 10 + 10
    for hidden in (0, 2.5, True):
        with pytest.raises(ValueError, match="hidden must be a positive whole number"):
            MLP(hidden=hidden)
