"""check_net: the blog post's Net written in several right ways passes; each common mistake fails
with its hint; a broken class is reported, never raised."""


import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mnist_tutorial.activations import layer_names, layer_outputs
from mnist_tutorial.checkpoints import save_network
from mnist_tutorial.errors import CheckpointError
from mnist_tutorial.exercises import check_net, load_learner_net, network, save_learner_net
from mnist_tutorial.exercises.network import (
    BUILD,
    HINT_AVERAGE,
    HINT_DROPOUT,
    HINT_LAST_RELU,
    HINT_SOFTMAX_OUTPUT,
    OUTPUT,
    PARAMETERS,
    SAME,
    STAGES,
)
from mnist_tutorial.models import BlogNet, ImprovedNet, build_model
from tests.helpers import hints

REFUSED = ("this exercise asks you to write the network yourself (a class of your own, from "
           "nn.Module, whose __init__ creates its layers), so the checker does not accept that "
           "here")


class BlogPostNet(nn.Module):
    """The blog post's code as it stands."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.pooling = nn.MaxPool2d(kernel_size=2)
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)
        self.ReLU = nn.ReLU()

    def forward(self, x):
        batch_size = x.size(0)
        x = self.ReLU(self.pooling(self.conv1(x)))
        x = self.ReLU(self.pooling(self.conv2(x)))
        x = x.view(batch_size, -1)
        x = self.ReLU(self.fc1(x))
        return self.fc2(x)


class SequentialNet(nn.Module):
    """Other names, fully connected layers created first, conv -> ReLU -> pool (the same function
    with max pooling), functional pooling."""

    def __init__(self):
        super().__init__()
        self.classifier = nn.Sequential(nn.Linear(320, 50), nn.ReLU(), nn.Linear(50, 10))
        self.features = nn.ModuleList([nn.Conv2d(1, 10, 5), nn.Conv2d(10, 20, 5)])

    def forward(self, x):
        for conv in self.features:
            x = F.max_pool2d(torch.relu(conv(x)), 2)
        return self.classifier(torch.flatten(x, 1))


class FunctionalNet(nn.Module):
    """nn.Module holding only the layers with weights; ReLU as clamp."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 10, (5, 5))
        self.b = nn.Conv2d(10, 20, (5, 5))
        self.c = nn.Linear(20 * 4 * 4, 50)
        self.d = nn.Linear(50, 10)

    def forward(self, x):
        x = F.max_pool2d(self.a(x), kernel_size=2, stride=2).clamp(min=0)
        x = F.max_pool2d(self.b(x), kernel_size=2, stride=2).clamp(min=0)
        return self.d(F.relu(self.c(x.reshape(len(x), -1))))


class AsTheTextSays(nn.Module):
    """Written exactly to notebook 04's exercise: the table of shapes, row by row, with nn.ReLU and
    nn.MaxPool2d layers and x.flatten(1)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.fc1 = nn.Linear(20 * 4 * 4, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = self.relu(self.pool(self.conv1(x)))
        x = self.relu(self.pool(self.conv2(x)))
        x = x.flatten(1)
        x = self.relu(self.fc1(x))
        return self.fc2(x)


class AllSequentialNet(nn.Module):
    """The whole network as one nn.Sequential, with nn.Flatten."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
            nn.Flatten(), nn.Linear(320, 50), nn.ReLU(), nn.Linear(50, 10))

    def forward(self, x):
        return self.layers(x)


class ParameterNet(nn.Module):
    """Its own nn.Parameter tensors and F.conv2d / F.linear in forward."""

    def __init__(self):
        super().__init__()
        self.w1, self.b1 = nn.Parameter(torch.randn(10, 1, 5, 5)), nn.Parameter(torch.zeros(10))
        self.w2, self.b2 = nn.Parameter(torch.randn(20, 10, 5, 5)), nn.Parameter(torch.zeros(20))
        self.w3, self.b3 = nn.Parameter(torch.randn(50, 320)), nn.Parameter(torch.zeros(50))
        self.w4, self.b4 = nn.Parameter(torch.randn(10, 50)), nn.Parameter(torch.zeros(10))

    def forward(self, x):
        x = F.relu(F.max_pool2d(F.conv2d(x, self.w1, self.b1), 2), inplace=True)
        x = F.relu(F.max_pool2d(F.conv2d(x, self.w2, self.b2), 2))
        x = F.relu(F.linear(x.view(x.size(0), -1), self.w3, self.b3))
        return F.linear(x, self.w4, self.b4)


@pytest.mark.parametrize("net_class", [BlogPostNet, SequentialNet, FunctionalNet, AsTheTextSays,
                                       AllSequentialNet, ParameterNet])
def test_right_networks_pass(net_class):
    report = check_net(net_class)
    assert report.passed, str(report)
    assert "5 of 5 cases passed" in str(report)
    assert str(report).endswith("All cases agree with the course's BlogNet. Well done!")


@pytest.mark.parametrize("net_class, maps", [
    (BlogPostNet, ["conv1", "pool1", "ReLU1", "conv2", "pool2", "ReLU2"]),
    (SequentialNet, ["features.0 (Conv2d)", "relu #1", "max_pool2d #1", "features.1 (Conv2d)",
                     "relu #2", "max_pool2d #2"]),
    (FunctionalNet, ["a", "max_pool2d #1", "clamp #1", "b", "max_pool2d #2", "clamp #2"]),
    (AllSequentialNet, ["layers.0 (Conv2d)", "layers.1 (MaxPool2d)", "layers.2 (ReLU)",
                        "layers.3 (Conv2d)", "layers.4 (MaxPool2d)", "layers.5 (ReLU)"]),
    (ParameterNet, ["conv2d #1", "max_pool2d #1", "relu #1", "conv2d #2", "max_pool2d #2",
                    "relu #2"]),
])
def test_a_learners_net_is_kept_and_comes_back_with_trained_weights(tmp_path, net_class, maps):
    """Saved by notebook 04, loaded by 07 with BlogNet's weights: BlogNet's function and maps,
    under the names the learner's code gives them."""
    path = tmp_path / "my-net.pt"
    assert save_learner_net(net_class, path) == path
    torch.manual_seed(3)
    trained = BlogNet()
    net = load_learner_net(trained, path)
    assert type(net).__name__ == net_class.__name__ and not net.training
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert torch.allclose(net(x), trained(x), atol=1e-5)
    assert layer_names(net) == maps
    ours, blogs = layer_outputs(net, x), layer_outputs(trained, x)
    assert torch.allclose(ours[maps[0]], blogs["conv1"], atol=1e-5)
    assert torch.allclose(ours[maps[-1]], blogs["relu2"], atol=1e-5)  # ReLU and max pool commute


def test_a_net_that_fails_the_check_is_not_kept(tmp_path):
    path = tmp_path / "my-net.pt"
    assert save_learner_net(SoftmaxNet, path) is None and not path.exists()
    assert load_learner_net(BlogNet(), path) is None  # notebook 07 then shows BlogNet


def test_a_kept_network_that_is_not_the_blog_posts_is_refused(tmp_path):
    path = save_network(tmp_path / "my-net.pt", nn.Sequential(nn.Conv2d(1, 10, 5), nn.Flatten(),
                                                              nn.Linear(5760, 10)))
    with pytest.raises(CheckpointError, match="holds a Sequential that does not compute what "
                                              "BlogNet computes.*notebook 04 again"):
        load_learner_net(BlogNet(), path)


class SoftmaxNet(BlogPostNet):
    def forward(self, x):
        return F.softmax(super().forward(x), dim=1)


class LogSoftmaxNet(BlogPostNet):
    def forward(self, x):
        return F.log_softmax(super().forward(x), dim=1)


class ReluAtTheEndNet(BlogPostNet):
    def forward(self, x):
        return self.ReLU(super().forward(x))


class AveragePoolingNet(BlogPostNet):
    def __init__(self):
        super().__init__()
        self.pooling = nn.AvgPool2d(2)


class TextbookAveragePoolingNet(BlogPostNet):
    """conv -> ReLU -> average pool: also not the blog post's network."""

    def forward(self, x):
        x = F.avg_pool2d(F.relu(self.conv1(x)), 2)
        x = F.avg_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def without_relu(place):
    class MissingReluNet(BlogPostNet):
        def forward(self, x):
            relu = [self.ReLU, self.ReLU, self.ReLU]
            relu[place] = nn.Identity()
            x = relu[0](self.pooling(self.conv1(x)))
            x = relu[1](self.pooling(self.conv2(x)))
            return self.fc2(relu[2](self.fc1(x.flatten(1))))
    return MissingReluNet


@pytest.mark.parametrize("net_class, hint", [
    (SoftmaxNet, HINT_SOFTMAX_OUTPUT),
    (LogSoftmaxNet, HINT_SOFTMAX_OUTPUT),
    (ReluAtTheEndNet, HINT_LAST_RELU),
    (AveragePoolingNet, HINT_AVERAGE),
    (TextbookAveragePoolingNet, HINT_AVERAGE),
    (without_relu(0), "a missing ReLU after the first pooling (before conv2)?"),
    (without_relu(1), "a missing ReLU after the second pooling (before fc1)?"),
    (without_relu(2), "a missing ReLU after fc1 (before fc2)?"),
])
def test_wrong_functions_with_the_right_layers_fail_with_the_hint(net_class, hint):
    failed = hints(check_net(net_class))
    assert set(failed) == {SAME}, failed
    assert "with BlogNet's weights copied in, the outputs differ by up to" in failed[SAME]
    assert f"Hint: {hint}" in failed[SAME]


def test_two_mistakes_at_once_are_both_named_from_the_trace():
    class SoftmaxAndAverage(AveragePoolingNet):
        def forward(self, x):
            return super().forward(x).softmax(dim=1)

    message = hints(check_net(SoftmaxAndAverage))[SAME]
    assert f"Hint: {HINT_AVERAGE}" in message and f"Hint: {HINT_SOFTMAX_OUTPUT}" in message


def test_wrong_kernel_size_names_the_kernel_and_the_flattened_size():
    class ThreeByThree(BlogPostNet):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 10, kernel_size=3)
            self.conv2 = nn.Conv2d(10, 20, kernel_size=3)

    failed = hints(check_net(ThreeByThree))
    assert set(failed) == {PARAMETERS, OUTPUT, STAGES, SAME}
    assert "18,480 parameters, expected 21,840" in failed[PARAMETERS]
    assert "Hint: conv1 has 3x3 kernels: the blog post's are 5x5" in failed[PARAMETERS]
    assert "Hint: conv2 has 3x3 kernels" in failed[PARAMETERS]
    assert "mat1 and mat2 shapes cannot be multiplied" in failed[OUTPUT]
    assert ("your last feature maps have shape (5, 20, 5, 5), so x.flatten(1).shape is (5, 500)"
            in failed[OUTPUT])
    assert "conv1       (5, 10, 26, 26)    (5, 10, 24, 24)" in failed[STAGES]
    assert "Hint: conv1: nn.Conv2d(1, 10, kernel_size=5): 28 - 5 + 1 = 24" in failed[STAGES]
    assert failed[SAME].startswith("skipped: the parameters' shapes differ")


def test_view_minus_one_hides_a_wrong_size_in_the_batch_axis():
    class WrongChannels(BlogPostNet):
        """40 channels in conv2 and the blog post's view(-1, 320): 640 numbers per image become
        two rows, so the batch doubles."""

        def __init__(self):
            super().__init__()
            self.conv2 = nn.Conv2d(10, 40, kernel_size=5)

        def forward(self, x):
            x = self.ReLU(self.pooling(self.conv1(x)))
            x = self.ReLU(self.pooling(self.conv2(x)))
            return self.fc2(self.ReLU(self.fc1(x.view(-1, 320))))

    failed = hints(check_net(WrongChannels))
    assert "Hint: conv2 maps 10 channels to 40: the blog post's maps 10 to 20" in failed[PARAMETERS]
    assert "net(x) has shape (10, 10), expected (5, 10)" in failed[OUTPUT]
    assert "x.flatten(1).shape is (5, 640)" in failed[OUTPUT]


def test_flatten_without_the_batch_axis():
    class FlattenAll(BlogPostNet):
        def forward(self, x):
            x = self.ReLU(self.pooling(self.conv1(x)))
            x = self.ReLU(self.pooling(self.conv2(x)))
            return self.fc2(self.ReLU(self.fc1(x.flatten())))

    failed = hints(check_net(FlattenAll))
    assert set(failed) == {OUTPUT, STAGES, SAME}
    assert "fc1 got a tensor of shape (1600,): flatten each image separately with x.flatten(1)" \
        in failed[OUTPUT]


def test_wrong_fully_connected_sizes_and_missing_bias():
    class Wide(BlogPostNet):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(320, 64, bias=False)
            self.fc2 = nn.Linear(64, 10)

    message = hints(check_net(Wide))[PARAMETERS]
    assert "Hint: fc1 is nn.Linear(320, 64): the blog post's is nn.Linear(320, 50)" in message
    assert "Hint: found 3 bias vectors, expected 4" in message


def test_unfinished_skeleton_is_not_done_yet():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            raise NotImplementedError("Net's layers are not written yet")

    report = check_net(Net)
    assert not report.passed and len(report.failed) == 5
    assert report[0].message == "not done yet: Net() still raises NotImplementedError"
    assert all(r.message.startswith("skipped: Net() could not be built") for r in report[1:])


def test_unfinished_forward_is_not_done_yet():
    class Net(BlogPostNet):
        def forward(self, x):
            raise NotImplementedError

    failed = hints(check_net(Net))
    assert set(failed) == {OUTPUT, STAGES, SAME}
    assert failed[OUTPUT] == "not done yet: net(x) still raises NotImplementedError"


def test_broken_classes_are_reported_not_raised():
    class NoSuper(nn.Module):
        def __init__(self):
            self.conv1 = nn.Conv2d(1, 10, 5)

    message = hints(check_net(NoSuper))[BUILD]
    assert "Hint: start __init__ with super().__init__()" in message
    assert "pass the class itself, check_net(Net), not check_net(Net())" in \
        hints(check_net(BlogPostNet()))[BUILD]

    class Exits(BlogPostNet):
        def forward(self, x):
            exit()

    assert "called exit()" in hints(check_net(Exits))[OUTPUT]

    def not_a_module():
        return [1, 2]

    assert "gave an object of type list" in hints(check_net(not_a_module))[BUILD]
    with pytest.raises(ValueError, match=r"pass your class itself \(e.g. check_net\(Net\)\)"):
        check_net(42)


def test_endless_forward_is_stopped():
    class Endless(BlogPostNet):
        def forward(self, x):
            while True:
                pass

    failed = hints(check_net(Endless, time_limit=0.2))  # without the limit: no return
    assert "did not finish within 0.2 s" in failed[OUTPUT]
    assert failed[STAGES] == failed[SAME] == "skipped: an earlier case ran out of time"


def test_few_images_and_the_random_state_and_threads_left_alone():
    images_seen, threads_seen = [], []

    class Counting(SoftmaxNet):
        def forward(self, x):
            images_seen.append(len(x))
            threads_seen.append(torch.get_num_threads())
            return super().forward(x)

    torch.manual_seed(123)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        check_net(Counting)
        assert torch.get_num_threads() == 2  # the setting is put back
    finally:
        torch.set_num_threads(threads)
    assert set(threads_seen) == {1}  # the cases run on one thread
    assert 0 < sum(images_seen) <= 64  # a few small batches: the check answers at once
    assert torch.equal(torch.get_rng_state(), state)


def test_hand_written_softmax_is_named():
    """The named mistakes are looked for on the in-order copy of the weights, not on the last
    swapped one (conv1's and fc2's biases have the same shape)."""
    class HandSoftmax(BlogPostNet):
        def forward(self, x):
            e = super().forward(x).exp()
            return e / e.sum(1, keepdim=True)

    message = hints(check_net(HandSoftmax))[SAME]
    assert f"Hint: {HINT_SOFTMAX_OUTPUT}" in message
    assert "compare with the plan" not in message


def test_padding_is_named_when_the_kernel_is_right():
    class PaddedNet(BlogPostNet):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 10, kernel_size=5, padding=2)
            self.fc1 = nn.Linear(500, 50)

    message = hints(check_net(PaddedNet))[STAGES]
    assert "conv1: 28 pixels in, 28 out" in message
    assert "leave padding=0 and stride=1" in message


def test_stage_table_pairs_stages_by_name_when_one_is_missing():
    class OnePooling(BlogPostNet):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(20 * 10 * 10, 50)

        def forward(self, x):
            x = self.ReLU(self.conv1(x))
            x = self.ReLU(self.pooling(self.conv2(x)))
            return self.fc2(self.ReLU(self.fc1(x.flatten(1))))

    message = hints(check_net(OnePooling))[STAGES]
    rows = {line.split()[0] + (" " + line.split()[1] if line.startswith("pooling") else ""): line
            for line in message.splitlines()[1:] if not line.startswith("Hint")}
    assert "(5, 10, 24, 24)" in rows["conv1"] and rows["conv1"].count("(5, 10, 24, 24)") == 2
    assert "(5, 20, 20, 20)" in rows["conv2"] and "(5, 20, 8, 8)" in rows["conv2"]
    assert "(5, 20, 10, 10)" in rows["pooling 1"]  # your only pooling is the first one
    assert rows["pooling 2"].split()[2] == "-"  # and no second one
    # the first stage whose shape differs is named, with what it should do
    assert message.splitlines()[-1] == "Hint: pooling 1: 2x2 max pooling halves 24 to 12"


def test_pool_then_relu_or_relu_then_pool_both_pass_with_max_pooling():
    class TextbookOrder(BlogPostNet):
        def forward(self, x):
            x = self.pooling(self.ReLU(self.conv1(x)))
            x = self.pooling(self.ReLU(self.conv2(x)))
            return self.fc2(self.ReLU(self.fc1(x.flatten(1))))

    assert check_net(TextbookOrder).passed


def test_only_the_learners_code_is_timed(monkeypatch):
    """The reference network, its outputs and the mistakes' outputs are the checker's own work:
    made slower than the time limit, they still do not count against the learner."""
    slow_mistakes = network._mistakes

    def slow(*args):
        time.sleep(0.5)
        return slow_mistakes(*args)

    monkeypatch.setattr(network, "_mistakes", slow)
    assert check_net(AsTheTextSays, time_limit=0.3).passed
    message = hints(check_net(_forward_with(torch.sigmoid), time_limit=0.3))[SAME]
    assert "Hint: sigmoid instead of ReLU" in message


class Subclass(BlogNet):
    pass


class ImprovedSubclass(ImprovedNet):
    pass


SHARED = BlogNet()  # as the notebook's `model`, made before the exercise


class HoldsOne(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = SHARED

    def forward(self, x):
        return self.inner(x)


class HoldsOneInAList(BlogPostNet):
    def __init__(self):
        super().__init__()
        self.helpers = [SHARED]


class MakesOne(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = BlogNet()

    def forward(self, x):
        return self.net(x)


class MakesOneByName(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = build_model("blog")


def returns_one():
    return SHARED


class CallsOne(BlogPostNet):
    def forward(self, x):
        return SHARED(x)


class BorrowsForward(nn.Module):
    """BlogNet's own forward on layers of the same names."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 10, 5), nn.Conv2d(10, 20, 5)
        self.fc1, self.fc2 = nn.Linear(320, 50), nn.Linear(50, 10)
        self.pooling, self.relu, self.order = nn.MaxPool2d(2), nn.ReLU(), "pool_relu"

    forward = BlogNet.forward


@pytest.mark.parametrize("net_class, case, what", [
    (Subclass, BUILD, "class Subclass(BlogNet) builds on the course's own BlogNet"),
    (BlogNet, BUILD, "BlogNet is the course's own network"),
    (ImprovedSubclass, BUILD, "class ImprovedSubclass(ImprovedNet) builds on the course's own "
                              "ImprovedNet"),
    (HoldsOne, BUILD, "Net() holds the course's own BlogNet (as self.inner)"),
    (HoldsOneInAList, BUILD, "Net() holds the course's own BlogNet (in self.helpers)"),
    (MakesOne, BUILD, "Net() called the course's own mnist_tutorial.models.BlogNet.__init__"),
    (MakesOneByName, BUILD, "Net() called the course's own mnist_tutorial.models.build_model"),
    (returns_one, BUILD, "Net() gave the course's own BlogNet"),
    (CallsOne, OUTPUT, "net(x) called the course's own mnist_tutorial.models.BlogNet.forward"),
    (BorrowsForward, OUTPUT, "net(x) called the course's own "
                             "mnist_tutorial.models.BlogNet.forward"),
])
def test_the_course_networks_are_refused(net_class, case, what):
    report = check_net(net_class)
    failed = hints(report)
    assert not report.passed
    assert failed[case] == f"{what}: {REFUSED}"
    if case == BUILD:
        assert all(r.message.startswith("skipped: ") for r in report[1:])
    else:  # every case that runs the forward pass refuses it
        assert failed[STAGES] == failed[SAME] == failed[OUTPUT]
    assert BlogNet.forward.__code__.co_name == "forward"  # the course's code is put back
    assert check_net(AsTheTextSays).passed  # and works for the next check


def _forward_with(activation):
    class OtherActivation(BlogPostNet):
        def forward(self, x):
            x = activation(self.pooling(self.conv1(x)))
            x = activation(self.pooling(self.conv2(x)))
            return self.fc2(activation(self.fc1(x.flatten(1))))
    return OtherActivation


@pytest.mark.parametrize("activation, name", [(torch.sigmoid, "sigmoid"), (nn.Sigmoid(), "sigmoid"),
                                              (torch.tanh, "tanh"), (nn.Tanh(), "tanh"),
                                              (F.leaky_relu, "leaky_relu")])
def test_another_activation_instead_of_relu_is_named(activation, name):
    message = hints(check_net(_forward_with(activation)))[SAME]
    places = ("after the first pooling (before conv2), after the second pooling (before fc1) and "
              "after fc1 (before fc2)")
    assert f"Hint: {name} instead of ReLU {places}? The blog post uses ReLU, max(x, 0)" in message
    assert "missing ReLU" not in message


def test_one_sigmoid_among_the_relus_is_named_where_it_is():
    class OneSigmoid(BlogPostNet):
        def forward(self, x):
            x = self.ReLU(self.pooling(self.conv1(x)))
            x = self.ReLU(self.pooling(self.conv2(x)))
            return self.fc2(torch.sigmoid(self.fc1(x.flatten(1))))

    message = hints(check_net(OneSigmoid))[SAME]
    assert "Hint: sigmoid instead of ReLU after fc1 (before fc2)?" in message
    assert "squashes every number into (0, 1)" in message


class LayersInForward(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        x = F.relu(F.max_pool2d(nn.Conv2d(1, 10, 5)(x), 2))
        x = F.relu(F.max_pool2d(nn.Conv2d(10, 20, 5)(x), 2))
        return nn.Linear(50, 10)(F.relu(nn.Linear(320, 50)(x.flatten(1))))


def test_layers_created_in_forward_are_named():
    message = hints(check_net(LayersInForward))[PARAMETERS]
    assert message.startswith("0 parameters, expected 21,840")
    assert ("Hint: your forward creates layers (nn.Conv2d(...), nn.Linear(...) inside forward): "
            "create them in __init__") in message
    assert "so that their weights are registered as the network's parameters" in message
    assert "found 0 convolutions" not in message


def test_a_list_of_registered_layers_is_no_mistake():
    class WithAList(BlogPostNet):
        def __init__(self):
            super().__init__()
            self.convs = [self.conv1, self.conv2]  # the layers are attributes too
            self.fc1 = nn.Linear(500, 50)

    message = hints(check_net(WithAList))[PARAMETERS]
    assert "plain Python list" not in message
    assert "Hint: fc1 is nn.Linear(500, 50)" in message


def test_some_layers_created_in_forward_are_named_too():
    class HalfInForward(BlogPostNet):
        def __init__(self):
            super().__init__()
            del self.fc2

        def forward(self, x):
            x = self.ReLU(self.pooling(self.conv1(x)))
            x = self.ReLU(self.pooling(self.conv2(x)))
            return nn.Linear(50, 10)(self.ReLU(self.fc1(x.flatten(1))))

    message = hints(check_net(HalfInForward))[PARAMETERS]
    assert "Hint: your forward creates layers (nn.Linear(...) inside forward)" in message


def test_layers_in_a_plain_list_or_local_variables_are_named():
    class PlainList(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Conv2d(1, 10, 5), nn.Conv2d(10, 20, 5), nn.Linear(320, 50),
                           nn.Linear(50, 10)]

        def forward(self, x):
            a, b, c, d = self.layers
            x = F.relu(F.max_pool2d(a(x), 2))
            x = F.relu(F.max_pool2d(b(x), 2))
            return d(F.relu(c(x.flatten(1))))

    class NoSelf(nn.Module):
        def __init__(self):
            super().__init__()
            conv1 = nn.Conv2d(1, 10, kernel_size=5)  # noqa: F841
            conv2 = nn.Conv2d(10, 20, kernel_size=5)  # noqa: F841
            fc1, fc2 = nn.Linear(320, 50), nn.Linear(50, 10)  # noqa: F841

        forward = FunctionalNet.forward

    message = hints(check_net(PlainList))[PARAMETERS]
    assert ("Hint: the layers in self.layers are in a plain Python list, so PyTorch does not see "
            "their weights: use nn.ModuleList([...]) or nn.Sequential(...)") in message
    failed = hints(check_net(NoSelf))
    assert ("Hint: __init__ creates nn.Conv2d and nn.Linear but Net has none: store each layer "
            "on self (self.conv1 = nn.Conv2d(...)); a local variable (conv1 = ...) is gone when "
            "__init__ ends") in failed[PARAMETERS]
    assert ("'NoSelf' object has no attribute 'a'\nHint: forward uses self.a, which __init__ did "
            "not create: create it there (self.a = ...), with the same name") in failed[OUTPUT]

    class NoSelfSameNames(NoSelf):
        forward = BlogPostNet.forward

        def __init__(self):
            super().__init__()
            ReLU = nn.ReLU()  # noqa: F841

    message = hints(check_net(NoSelfSameNames))[OUTPUT]
    assert ("'NoSelfSameNames' object has no attribute 'ReLU'\nHint: forward uses self.ReLU, "
            "which __init__ did not create: in __init__, ReLU = ... makes a local variable, gone "
            "when __init__ ends; write self.ReLU = ...") in message


def test_misspelled_methods_are_named():
    class Foward(BlogPostNet):
        def foward(self, x):
            return BlogPostNet.forward(self, x)

    Foward.forward = nn.Module.forward  # as if BlogPostNet had no forward either
    failed = hints(check_net(Foward))
    assert failed[OUTPUT].startswith("Net has no method named forward (foward: a typo?)")
    assert "define def forward(self, x) in the class, indented like __init__" in failed[OUTPUT]
    assert failed[STAGES] == failed[SAME] == "skipped: Net has no forward method (see above)"

    class Int(nn.Module):
        def __int__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 10, 5)

        forward = BlogPostNet.forward

    message = hints(check_net(Int))[PARAMETERS]
    assert ("Hint: Net has no __init__ of its own: is __int__ meant to be __init__ (two "
            "underscores on each side)?") in message


def test_wrong_flatten_size_in_fc1_is_named_without_blaming_the_flatten():
    class Fc500(BlogPostNet):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(20 * 5 * 5, 50)

    failed = hints(check_net(Fc500))
    assert "Hint: fc1 is nn.Linear(500, 50): the blog post's is nn.Linear(320, 50)" in \
        failed[PARAMETERS]
    assert ("Hint: x.flatten(1).shape is (5, 320), right: 20 channels x 4 x 4 = 320 numbers per "
            "image reach fc1, but your fc1 is nn.Linear(500, 50) and takes 500") in failed[OUTPUT]
    assert "flatten each image separately" not in failed[OUTPUT]


def _flattened_with(flatten):
    class Flattened(BlogPostNet):
        def forward(self, x):
            x = self.ReLU(self.pooling(self.conv1(x)))
            x = self.ReLU(self.pooling(self.conv2(x)))
            return self.fc2(self.ReLU(self.fc1(flatten(x))))
    return Flattened


@pytest.mark.parametrize("flatten, hint", [
    (lambda x: x.view(64, -1), "fc1 got a tensor of shape (64, 25): flatten each image "
                               "separately with x.flatten(1)"),
    (lambda x: x.view(5, -1), "x.flatten(1).shape is (1, 320), right, but fc1 got a tensor of "
                              "shape (5, 64): flatten each image separately"),
    (lambda x: x.view(-1), "fc1 got a tensor of shape (1600,)"),
    (lambda x: x.squeeze(), "fc1 got a tensor of shape (5, 20, 4, 4)"),
    (lambda x: x.reshape(320), "x.reshape(320) does not fit the 1600 numbers of a tensor of "
                               "shape (5, 20, 4, 4): flatten each image with x.flatten(1) or "
                               "x.view(x.size(0), -1), which keep the batch axis"),
])
def test_flattening_that_loses_the_batch_axis_is_named(flatten, hint):
    message = hints(check_net(_flattened_with(flatten)))[OUTPUT]
    assert "\nHint: " in message and hint in message.split("\nHint: ")[1], message


def test_a_batch_of_one_image_is_checked_too():
    """x.view(-1) and x.squeeze() fail on the batch of 5 already; a size fixed at 5, or a
    flatten that works for one image only, fail on the single image."""
    failed = hints(check_net(_flattened_with(lambda x: x.view(5, -1))))
    assert set(failed) == {OUTPUT}
    assert failed[OUTPUT].startswith("net(x) with x of shape (1, 1, 28, 28) raised RuntimeError")


@pytest.mark.parametrize("forward, hint", [
    (lambda self, x: self.fc2(nn.ReLU(self.conv1(x))),
     "a layer object, nn.ReLU, reached a layer as if it were data: nn.ReLU(x) creates a layer"),
    (lambda self, x: nn.relu(self.conv1(x)),
     "torch.nn has no relu (it has ReLU): the layers are classes with capitals (nn.Conv2d, "
     "nn.ReLU(), nn.MaxPool2d(2)), the functions live in torch.nn.functional (F.relu(x), "
     "F.max_pool2d(x, 2))"),
    (lambda self, x: conv1(x),  # noqa: F821
     "inside forward the layer is self.conv1, not conv1"),
    (lambda self, x: self.conv3(x), "forward uses self.conv3, which __init__ did not create"),
    (lambda self, x: self.conv2(self.conv2(x)),
     "a convolution that takes 10 channels got 1: a convolution's in_channels must be the number "
     "of channels coming in"),
    (lambda self, x: self.conv1(x.flatten(1)),
     "a convolution got a flattened tensor: flatten only after the second pooling"),
])
def test_raw_errors_of_the_forward_get_a_hint(forward, hint, monkeypatch):
    conv1 = object()  # noqa: F841 (the lambda above means the layer, not this)

    class Raises(BlogPostNet):
        pass

    Raises.forward = forward
    message = hints(check_net(Raises))[OUTPUT]
    assert f"\nHint: {hint}" in message, message
    assert "[...]" in message or len(message.splitlines()) == 2


def test_a_layer_name_without_its_capitals_is_named_in_the_constructor():
    class Lowercase(BlogPostNet):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.conv2d(1, 10, 5)

    assert "Hint: torch.nn has no conv2d (it has Conv2d): the layers are classes with capitals" \
        in hints(check_net(Lowercase))[BUILD]


def test_raw_errors_of_the_constructor_get_a_hint():
    class Sized(BlogPostNet):
        def __init__(self, classes):
            super().__init__()

    message = hints(check_net(Sized))[BUILD]
    assert "missing 1 required positional argument: 'classes'" in message
    assert "Hint: check_net builds your network as Net(), without arguments" in message


def test_dropout_and_a_forgotten_return_are_named():
    class Dropped(BlogPostNet):
        def forward(self, x):
            x = self.ReLU(self.pooling(self.conv1(x)))
            x = self.ReLU(self.pooling(self.conv2(x)))
            return self.fc2(F.dropout(self.ReLU(self.fc1(x.flatten(1)))))

    class NoReturn(BlogPostNet):
        def forward(self, x):
            super().forward(x)

    assert f"Hint: {HINT_DROPOUT}" in hints(check_net(Dropped))[SAME]
    assert "returned an object of type NoneType: return fc2's output, a tensor of shape (N, 10) " \
           "(a forgotten return?)" in hints(check_net(NoReturn))[OUTPUT]


def test_a_forward_that_changes_its_input_batch_fails():
    class Normalising(BlogPostNet):
        def forward(self, x):
            x -= 0.1307
            return super().forward(x)

    failed = hints(check_net(Normalising))
    assert failed[OUTPUT].startswith("net(x) changed its input x in place")


def test_an_endless_constructor_costs_one_time_limit():
    class Endless(BlogPostNet):
        def __init__(self):
            super().__init__()
            while True:
                pass

    report = check_net(Endless, time_limit=0.2)
    assert "Net() did not finish within 0.2 s" in report[0].message
    assert [r.message for r in report[1:]] == ["skipped: an earlier case ran out of time"] * 4


def test_a_missing_argument_names_the_layers_arguments():
    class NoKernel(BlogPostNet):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 10)

    class NoPoolingSize(BlogPostNet):
        def forward(self, x):
            return F.max_pool2d(self.conv1(x))

    assert ("Hint: nn.Conv2d needs 'kernel_size': nn.Conv2d(in_channels, out_channels, "
            "kernel_size)") in hints(check_net(NoKernel))[BUILD]
    failed = hints(check_net(NoPoolingSize))
    assert "Hint: F.max_pool2d needs 'kernel_size': F.max_pool2d(x, kernel_size)" in \
        failed[OUTPUT]
    assert failed[STAGES].endswith("Hint: pooling 1: net(x) stopped with an error before this "
                                   "stage (see the output case)")


def test_a_layer_class_stored_without_brackets_is_named():
    class ClassNotLayer(BlogPostNet):
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU

        def forward(self, x):
            return self.conv2(self.act(self.pooling(self.conv1(x))))

    class ReplacedByTheClass(BlogPostNet):
        def __init__(self):
            super().__init__()
            self.ReLU = nn.ReLU  # a layer of that name exists: PyTorch refuses at once

    message = hints(check_net(ClassNotLayer))[OUTPUT]
    assert "got (ReLU, Parameter" in message and message.count("\n") == 1  # cut to one line
    assert "and so does self.layer(x) after self.layer = nn.ReLU without the ()" in message
    assert ("Hint: self.ReLU = nn.ReLU stores the class itself, not a layer: create the layer "
            "with brackets, nn.ReLU(...)") in hints(check_net(ReplacedByTheClass))[BUILD]


def test_a_forgotten_last_layer_and_another_dtype_are_named():
    class NoFc2(BlogPostNet):
        def forward(self, x):
            x = self.ReLU(self.pooling(self.conv1(x)))
            x = self.ReLU(self.pooling(self.conv2(x)))
            return self.ReLU(self.fc1(x.flatten(1)))

    class Double(BlogPostNet):
        def forward(self, x):
            return super().forward(x.double())

    message = hints(check_net(NoFc2))[OUTPUT]
    assert message.endswith("net(x) has shape (5, 50), expected (5, 10)\n"
                            "Hint: end with fc2 = nn.Linear(50, 10)")
    assert "Hint: the layers' weights are float32 and x came in float32: leave its dtype alone" \
        in hints(check_net(Double))[OUTPUT]


def test_a_subclass_of_nn_sequential_passes():
    class Stack(nn.Sequential):
        def __init__(self):
            super().__init__(nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
                             nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
                             nn.Linear(320, 50), nn.ReLU(), nn.Linear(50, 10))

    assert check_net(Stack).passed
