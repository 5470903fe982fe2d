"""check_net: the blog post's Net written in several right ways passes; each common mistake fails
with its hint; a broken class is reported, never raised."""


import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mnist_tutorial.exercises import check_net
from mnist_tutorial.exercises.network import (
    BUILD,
    HINT_AVERAGE,
    HINT_LAST_RELU,
    HINT_SOFTMAX_OUTPUT,
    OUTPUT,
    PARAMETERS,
    SAME,
    STAGES,
)
from mnist_tutorial.models import BlogNet
from tests.helpers import hints


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


@pytest.mark.parametrize("net_class", [BlogPostNet, SequentialNet, FunctionalNet, BlogNet])
def test_right_networks_pass(net_class):
    report = check_net(net_class)
    assert report.passed, str(report)
    assert "5 of 5 cases passed" in str(report)
    assert str(report).endswith("All cases agree with the course's BlogNet. Well done!")


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
