import pytest
import torch
import torch.nn.functional as F

from mnist_tutorial.models import (
    MLP,
    BlogNet,
    FastNet,
    ImprovedNet,
    ResidualBlock,
    ResidualNet,
    build_model,
    count_parameters,
)
from mnist_tutorial.training import seed_everything


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


def test_improved_net_shapes_layer_by_layer():
    net = ImprovedNet().eval()
    x = torch.randn(2, 1, 28, 28)
    x = net.relu(net.norm1(net.pooling(net.conv1(x))))
    assert x.shape == (2, 32, 12, 12)
    x = net.relu(net.norm2(net.pooling(net.conv2(x))))
    assert x.shape == (2, 64, 4, 4)
    x = net.relu(net.norm3(net.fc1(x.flatten(1))))
    assert x.shape == (2, 128)
    assert net.fc2(x).shape == (2, 10)


def test_improved_net_parameter_count_by_hand():
    conv1 = 32 * 1 * 5 * 5  # no bias: BatchNorm's shift replaces it
    conv2 = 64 * 32 * 5 * 5
    fc1 = 1024 * 128
    fc2 = 128 * 10 + 10
    norms = 2 * (32 + 64 + 128)  # a scale and a shift per channel
    assert count_parameters(ImprovedNet()) == conv1 + conv2 + fc1 + fc2 + norms == 184_810
    without = ImprovedNet(batch_norm=False, dropout=0.0)
    assert count_parameters(without) == conv1 + 32 + conv2 + 64 + fc1 + 128 + fc2 == 184_586


def test_improved_net_with_the_blog_knobs_is_the_blog_net():
    seed_everything(0)
    blog = BlogNet()
    plain = ImprovedNet(channels=(10, 20), hidden=50, batch_norm=False, dropout=0.0)
    assert count_parameters(plain) == count_parameters(blog) == 21_840
    plain.load_state_dict(blog.state_dict())  # same names, same shapes
    x = torch.randn(4, 1, 28, 28)
    torch.testing.assert_close(plain(x), blog(x))


def test_improved_net_forward_matches_functional_ops_in_eval_mode():
    torch.manual_seed(0)
    net = ImprovedNet()
    for norm in (net.norm1, net.norm2, net.norm3):  # non-trivial running statistics
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.uniform_(-0.5, 0.5)
    net.eval()

    def bn(y, norm):
        return F.batch_norm(y, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                            training=False, eps=norm.eps)

    x = torch.randn(3, 1, 28, 28)
    y = F.relu(bn(F.max_pool2d(F.conv2d(x, net.conv1.weight), 2), net.norm1))
    y = F.relu(bn(F.max_pool2d(F.conv2d(y, net.conv2.weight), 2), net.norm2))
    y = F.relu(bn(F.linear(y.flatten(1), net.fc1.weight), net.norm3))
    y = F.linear(y, net.fc2.weight, net.fc2.bias)
    torch.testing.assert_close(net(x), y)


def test_dropout_acts_only_in_training():
    torch.manual_seed(0)
    net = ImprovedNet(dropout=0.5)
    x = torch.randn(8, 1, 28, 28)
    net.train()
    assert not torch.allclose(net(x), net(x))  # a fresh random mask each call
    net.eval()
    torch.testing.assert_close(net(x), net(x))


def test_improved_net_refuses_bad_knobs():
    with pytest.raises(ValueError, match="dropout is a probability"):
        ImprovedNet(dropout=1.0)
    with pytest.raises(ValueError, match="two positive channel counts"):
        ImprovedNet(channels=(32,))
    with pytest.raises(ValueError, match="blocks must be at least 1"):
        ResidualNet(blocks=0)
    with pytest.raises(ValueError, match="channels must be a positive integer"):
        ResidualBlock(0)


def test_residual_block_adds_its_input_back():
    torch.manual_seed(0)
    block = ResidualBlock(4).eval()
    x = torch.randn(2, 4, 6, 6)

    def bn(y, norm):
        return F.batch_norm(y, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                            training=False, eps=norm.eps)

    correction = bn(F.conv2d(F.relu(bn(F.conv2d(x, block.conv1.weight, padding=1), block.norm1)),
                             block.conv2.weight, padding=1), block.norm2)
    torch.testing.assert_close(block(x), F.relu(x + correction))
    assert block(x).shape == x.shape
    plain = ResidualBlock(4, skip=False).eval()
    plain.load_state_dict(block.state_dict())
    torch.testing.assert_close(plain(x), F.relu(correction))
    # with the last BatchNorm's scale at zero the correction vanishes: the block passes x through
    block.norm2.weight.data.zero_()
    block.norm2.bias.data.zero_()
    torch.testing.assert_close(block(x), F.relu(x))


def test_residual_net_is_the_improved_net_plus_blocks():
    net = ResidualNet(blocks=2)
    block = 2 * (32 * 32 * 3 * 3) + 2 * (2 * 32)
    assert count_parameters(net) == count_parameters(ImprovedNet()) + 2 * block
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_fast_net_is_a_narrow_improved_net_without_dropout():
    net = FastNet()
    assert (net.conv1.out_channels, net.conv2.out_channels, net.fc1.out_features) == (16, 32, 128)
    assert net.dropout.p == 0.0 and isinstance(net.norm1, torch.nn.BatchNorm2d)
    by_hand = 16 * 25 + 32 * 16 * 25 + 512 * 128 + 128 * 10 + 10 + 2 * (16 + 32 + 128)
    assert count_parameters(net) == by_hand == 80_378
