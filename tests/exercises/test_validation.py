"""check_validation_split: right splits written in different ways pass, each learner's mistake
fails with the hint that names it, the course's own split is refused, a function that changes
the split it is given fails, and a crash or a wrong type is a failed case."""

import random

import numpy as np
import pytest
import torch

from mnist_tutorial import data as course
from mnist_tutorial.data import TensorSplit, train_validation_split
from mnist_tutorial.exercises import check_validation_split
from mnist_tutorial.exercises.core import SKIPPED
from mnist_tutorial.exercises.validation import made_up_split
from tests.helpers import hints

SORTED_CASE = "classes stored in order (all the 0s first): every class keeps its share"
SAME_SEED = "the same seed twice gives the same split"
TWO_SEEDS = "two seeds give two different splits"
SIZES = "20 of 100 examples: sizes, no overlap, nothing lost"
ODD_SIZE = "1,005 for validation: not a multiple of the 10 classes"
MNIST_SIZES = "MNIST's sizes: 60,000 -> 50,000 training + 10,000 validation"

def take(split, index):
    return TensorSplit(split.images[index], split.labels[index])


def as_the_text_says(split, validation_size, seed):
    """Written to the exercise: a random order fixed by the seed, the first validation_size
    examples of it for validation, the rest for training, images and labels picked together."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    order = torch.randperm(len(split.labels), generator=generator)
    validation_index = order[:validation_size]
    train_index = order[validation_size:]
    train = TensorSplit(split.images[train_index], split.labels[train_index])
    validation = TensorSplit(split.images[validation_index], split.labels[validation_index])
    return train, validation


def python_random_and_a_set(split, validation_size, seed):
    chosen = random.Random(seed).sample(range(len(split)), validation_size)
    taken = set(chosen)
    rest = [i for i in range(len(split)) if i not in taken]
    return take(split, rest), take(split, chosen)


def shuffled_with_generator(split, validation_size, seed):
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(split), generator=generator)
    return take(split, order[validation_size:]), take(split, order[:validation_size])


def stratified(split, validation_size, seed):
    """Each class gives its share; the examples left over by rounding down go to the classes
    with the largest remainders."""
    generator = torch.Generator().manual_seed(seed)
    n = len(split)
    classes = split.labels.unique()
    wanted = [validation_size * int((split.labels == c).sum()) / n for c in classes]
    counts = [int(w) for w in wanted]
    by_remainder = sorted(range(len(classes)), key=lambda i: wanted[i] - counts[i], reverse=True)
    for i in by_remainder[:validation_size - sum(counts)]:
        counts[i] += 1
    validation, train = [], []
    for c, count in zip(classes, counts):
        where = (split.labels == c).nonzero().flatten()
        where = where[torch.randperm(len(where), generator=generator)]
        validation.append(where[:count])
        train.append(where[count:])
    return take(split, torch.cat(train)), take(split, torch.cat(validation))


def with_numpy(split, validation_size, seed):
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(split)))
    return [take(split, order[validation_size:]), take(split, order[:validation_size])]


@pytest.mark.parametrize("fn", [as_the_text_says, shuffled_with_generator, stratified,
                                with_numpy, python_random_and_a_set])
def test_right_answers_pass(fn):
    report = check_validation_split(fn)
    assert report.passed, str(report)
    assert "6 of 6 cases passed" in str(report)
    assert "reproducible, balanced. Well done!" in str(report)


def first_n(split, validation_size, seed):
    return take(split, slice(validation_size, None)), take(split, slice(0, validation_size))


def last_n(split, validation_size, seed):
    cut = len(split) - validation_size
    return take(split, slice(0, cut)), take(split, slice(cut, None))


def loses_one(split, validation_size, seed):
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    return take(split, order[validation_size + 1:]), take(split, order[:validation_size])


def a_fifth_whatever_the_size(split, validation_size, seed):
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    cut = len(split) // 5
    return take(split, order[cut:]), take(split, order[:cut])


def two_permutations(split, validation_size, seed):
    generator = torch.Generator().manual_seed(seed)
    validation = torch.randperm(len(split), generator=generator)[:validation_size]
    train = torch.randperm(len(split), generator=generator)[validation_size:]
    return take(split, train), take(split, validation)


def ignores_the_seed(split, validation_size, seed):
    order = torch.randperm(len(split))
    return take(split, order[validation_size:]), take(split, order[:validation_size])


def fixed_seed(split, validation_size, seed):
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(0))
    return take(split, order[validation_size:]), take(split, order[:validation_size])


def swapped(split, validation_size, seed):
    train, validation = shuffled_with_generator(split, validation_size, seed)
    return validation, train


def rounded_per_class(split, validation_size, seed):
    generator = torch.Generator().manual_seed(seed)
    validation, train = [], []
    for c in split.labels.unique():
        where = (split.labels == c).nonzero().flatten()
        where = where[torch.randperm(len(where), generator=generator)]
        count = round(validation_size * len(where) / len(split))
        validation.append(where[:count])
        train.append(where[count:])
    return take(split, torch.cat(train)), take(split, torch.cat(validation))


def labels_shuffled_separately(split, validation_size, seed):
    generator = torch.Generator().manual_seed(seed)
    images = split.images[torch.randperm(len(split), generator=generator)]
    labels = split.labels[torch.randperm(len(split), generator=generator)]
    return (TensorSplit(images[validation_size:], labels[validation_size:]),
            TensorSplit(images[:validation_size], labels[:validation_size]))


def with_replacement(split, validation_size, seed):
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(len(split), (len(split),), generator=generator)
    return take(split, index[validation_size:]), take(split, index[:validation_size])


def tensors_instead_of_splits(split, validation_size, seed):
    train, validation = shuffled_with_generator(split, validation_size, seed)
    return train.images, validation.images


@pytest.mark.parametrize("fn, case, hint", [
    (first_n, SORTED_CASE, "your validation part is the first 1,000 examples: without "
                           "shuffling"),
    (first_n, TWO_SEEDS, "your validation part is the first 1,000 examples: without shuffling "
                         "it inherits the data's order (sorted data: only the first classes). "
                         "Make the random order from the seed argument"),
    (last_n, SORTED_CASE, "your validation part is the last 1,000 examples: without "
                          "shuffling"),
    (loses_one, SIZES, "expected 80 training and 20 validation examples, got 79 and 20\n"
                       "Hint: the two parts together must hold all 100 examples, each once"),
    (a_fifth_whatever_the_size, MNIST_SIZES, "expected 50,000 training and 10,000 validation "
                                             "examples, got 48,000 and 12,000\nHint: the "
                                             "validation part has validation_size examples"),
    (two_permutations, SIZES, "examples are in both parts (and as many in neither)"),
    (ignores_the_seed, SAME_SEED, "without a generator, torch.randperm uses PyTorch's global "
                                  "random numbers, which move on after every call. Make the "
                                  "random order from the seed: order = torch.randperm(n, "
                                  "generator=torch.Generator().manual_seed(seed))"),
    (fixed_seed, TWO_SEEDS, "seeds 1 and 2 gave the same validation part\nHint: Make the random "
                            "order from the seed argument, so that another seed gives another "
                            "order, e.g. order = torch.randperm(n, "),
    (swapped, SIZES, "expected 80 training and 20 validation examples, got 20 and 80\n"
                     "Hint: did you return (validation, train)?"),
    (rounded_per_class, ODD_SIZE, "if you take a share of every class, the per-class counts "
                                  "must add up to validation_size exactly"),
    (labels_shuffled_separately, SIZES, "images and labels no longer belong together"),
    (with_replacement, SIZES, "appear more than once in the training part"),
    (tensors_instead_of_splits, SIZES, "the training (first) part is an object of type Tensor: "
                                       "return TensorSplit objects"),
])
def test_mistakes_fail_with_their_hint(fn, case, hint):
    report = check_validation_split(fn)
    assert not report.passed
    failed = hints(report)
    assert case in failed, str(report)
    assert hint in failed[case], failed[case]


def test_first_n_on_sorted_classes_names_the_class_and_its_share():
    message = hints(check_validation_split(first_n))[SORTED_CASE]
    assert message.startswith("class 0 has 592 of the 1,000 validation examples (59.2%) but "
                              "9.9% of the data: expected about 99")


def test_skeleton_crash_and_endless_loop_are_failed_cases():
    def skeleton(split, validation_size, seed):
        raise NotImplementedError

    def crashes(split, validation_size, seed):
        return split.images[validation_size:], split.lables

    def endless(split, validation_size, seed):
        while True:
            pass

    assert all(r.message.startswith("not done yet") for r in check_validation_split(skeleton))
    crashed = check_validation_split(crashes)
    assert crashed[0].message == ("fn(split, 20, 0) raised AttributeError: 'TensorSplit' object "
                                  "has no attribute 'lables'")
    stopped = check_validation_split(endless, time_limit=0.05)
    assert len(stopped.failed) == 6
    assert stopped[0].message.startswith("fn(split, 20, 0) did not finish within 0.05 s")
    assert all(r.message == SKIPPED for r in stopped.results[1:])  # one time limit, not six


def test_a_search_too_slow_for_mnist_sizes_is_told_apart_from_an_endless_loop():
    def searches_a_list(split, validation_size, seed):
        chosen = random.Random(seed).sample(range(len(split)), validation_size)
        rest = [i for i in range(len(split)) if i not in chosen]  # 60,000 x 10,000 steps
        return take(split, rest), take(split, chosen)

    report = check_validation_split(searches_a_list, time_limit=0.5)
    slow = [r.message for r in report.failed if "did not finish within 0.5 s" in r.message]
    assert slow and "`i not in part` on a list or a tensor looks through all of it" in slow[0]
    assert "use a set, or take both parts from one permutation" in slow[0]


def test_shuffling_the_given_split_in_place_fails_and_names_what_changed():
    def shuffles_in_place(data, validation_size, seed):
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
        data.images[:] = data.images[order]
        data.labels[:] = data.labels[order]
        return take(data, slice(validation_size, None)), take(data, slice(0, validation_size))

    report = check_validation_split(shuffles_in_place)
    assert len(report.failed) == len(report)
    assert report[0].message == (
        "fn(split, 20, 0) changed data.images in place (e.g. with data.images[...] = ..., += or "
        "a method ending in _): that would also change the caller's data, the training set "
        "itself. Pick the examples by index instead (data.images[index] is a new tensor) and "
        "leave the split you are given as it is")

    def relabels(split, validation_size, seed):
        split.labels.zero_()
        return shuffled_with_generator(split, validation_size, seed)

    assert "changed split.labels in place" in check_validation_split(relabels)[0].message


REFUSED = ("called the course's own mnist_tutorial.data.{}: this exercise asks you to split the "
           "data yourself, so the checker does not accept that here")


@pytest.mark.parametrize("fn, name", [
    (train_validation_split, "train_validation_split"),
    (lambda split, size, seed: course.train_validation_split(split, size, seed=seed),
     "train_validation_split"),
    (lambda split, size, seed: (take(split, slice(None)),
                                take(split, course.balanced_subset_indices(split.labels, 1))),
     "balanced_subset_indices"),
])
def test_the_course_split_is_refused_under_any_name(fn, name):
    report = check_validation_split(fn)
    assert len(report.failed) == len(report)
    assert all(REFUSED.format(name) in result.message for result in report)
    split = made_up_split((5, 5), True)
    assert len(train_validation_split(split, 3, 0)[1]) == 3  # put back afterwards


def test_made_up_split_holds_each_index_in_its_image():
    split = made_up_split((2, 3), shuffled=False)
    assert split.labels.tolist() == [0, 0, 1, 1, 1]
    assert split.images.shape == (5, 1, 2, 2)
    assert split.images[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4]


def test_mnist_class_counts_are_the_real_ones(mnist_root):
    from mnist_tutorial.data import load_split
    from mnist_tutorial.exercises.validation import MNIST_TRAIN_COUNTS

    labels = load_split("mnist", train=True, root=mnist_root, quick=False).labels
    assert tuple(torch.bincount(labels).tolist()) == MNIST_TRAIN_COUNTS


@pytest.mark.parametrize("size, seed", [(np.int64(10), np.int32(3)), (torch.tensor(10),
                                                                      torch.tensor(3))])
def test_train_validation_split_accepts_numpy_and_torch_integers(size, seed):
    split = TensorSplit(torch.arange(50.0).view(50, 1, 1, 1), torch.arange(50) % 5)
    expected = train_validation_split(split, 10, 3)
    for got, wanted in zip(train_validation_split(split, size, seed), expected):
        assert torch.equal(got.images, wanted.images) and torch.equal(got.labels, wanted.labels)


SIZE_RULE = "validation_size must be a whole number from 1 to 49 (the split has 50 examples), "


@pytest.mark.parametrize("size, shown", [
    (True, "True (a bool)"), (torch.tensor(True), "tensor(True) (a Tensor)"),
    (2.5, "2.5 (a float)"), (np.float64(10.0), f"{np.float64(10.0)!r} (a float64)"),
    ("10", "'10' (a str)"),
])
def test_train_validation_split_refuses_non_integers_and_says_why(size, shown):
    split = TensorSplit(torch.zeros(50, 1, 1, 1), torch.zeros(50, dtype=torch.long))
    with pytest.raises(ValueError) as raised:
        train_validation_split(split, size, seed=0)
    assert str(raised.value) == (f"{SIZE_RULE}got {shown}: pass an integer, e.g. "
                                 f"round(0.2 * len(split)) for a fifth")


@pytest.mark.parametrize("size, shown", [(np.int64(50), "50"), (torch.tensor(0), "0")])
def test_numpy_and_torch_integers_out_of_range_are_shown_as_numbers(size, shown):
    split = TensorSplit(torch.zeros(50, 1, 1, 1), torch.zeros(50, dtype=torch.long))
    with pytest.raises(ValueError) as raised:
        train_validation_split(split, size, seed=0)
    assert str(raised.value) == f"{SIZE_RULE}got {shown}"


def test_train_validation_split_refuses_a_fractional_seed():
    split = TensorSplit(torch.zeros(50, 1, 1, 1), torch.zeros(50, dtype=torch.long))
    with pytest.raises(ValueError, match="seed must be a whole number, got 1.5 \\(a float\\): "
                                         "pass an integer, e.g. 0"):
        train_validation_split(split, 10, seed=1.5)
