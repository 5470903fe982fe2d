"""check_train_epoch and check_evaluate: right loops written differently pass; each common mistake
fails with its hint; a learner's crash is reported, never raised."""


import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mnist_tutorial.exercises import check_evaluate, check_train_epoch
from mnist_tutorial.exercises.training import (
    HINT_ARGMAX,
    HINT_BATCH_ACCURACIES,
    HINT_BATCH_MEANS,
    HINT_EVAL_MODE,
    HINT_LEN,
    HINT_SOFTMAX_BEFORE_LOSS,
    HINT_STEP_FIRST,
    HINT_TRAIN_MODE,
    HINT_ZERO_GRAD,
)
from mnist_tutorial.training import evaluate
from tests.helpers import hints

SMALLER_LAST = "a smaller last batch (8, 8, 3): the loss is the mean over the examples"
DROPOUT = "a model with dropout, handed over in evaluation mode"


def blog_loop(model, batches, optimizer):
    """The blog post's loop, returning the mean over the examples."""
    criterion = nn.CrossEntropyLoss()
    model.train()
    total, count = 0.0, 0
    for images, labels in batches:
        y_pred = model(images)
        loss = criterion(y_pred, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)
        count += len(labels)
    return total / count


def summed_loop(model, batches, optimizer):
    """Summed losses, model.zero_grad, lists of losses: the same updates written differently."""
    model.train(True)
    losses, sizes = [], []
    for x, y in batches:
        model.zero_grad()
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (loss / len(y)).backward()
        optimizer.step()
        losses.append(loss.item())
        sizes.append(y.numel())
    return sum(losses) / sum(sizes)


def log_softmax_loop(model, batches, optimizer):
    """log_softmax + nll_loss is CrossEntropyLoss; the sum kept as a tensor, returned as float."""
    model.train()
    total, count = torch.zeros(()), 0
    for images, labels in batches:
        optimizer.zero_grad(set_to_none=False)
        loss = F.nll_loss(F.log_softmax(model(images), dim=1), labels)
        loss.backward()
        optimizer.step()
        total += loss.detach() * labels.shape[0]
        count += labels.shape[0]
    return float(total / count)


@pytest.mark.parametrize("fn", [blog_loop, summed_loop, log_softmax_loop])
def test_right_training_loops_pass(fn):
    report = check_train_epoch(fn)
    assert report.passed, str(report)
    assert str(report).endswith("All cases agree with the reference training loop. Well done!")


def loop_with(mistake):
    """The blog post's loop with one learner's mistake built in."""
    def train(model, batches, optimizer):
        criterion = nn.CrossEntropyLoss()
        if mistake != "no train()":
            model.train()
        total, count, means = 0.0, 0, []
        for images, labels in batches:
            scores = model(images)
            if mistake == "softmax":
                scores = F.softmax(scores, dim=1)
            loss = criterion(scores, labels)
            if mistake != "no zero_grad":
                optimizer.zero_grad()
            if mistake == "step first":  # no learning: step finds no gradients
                optimizer.step()
                loss.backward()
            else:
                loss.backward()
                optimizer.step()
            total += loss.item() * len(labels)
            count += len(labels)
            means.append(loss.item())
        return sum(means) / len(means) if mistake == "batch means" else total / count
    return train


@pytest.mark.parametrize("mistake, hint, failing", [
    ("no zero_grad", HINT_ZERO_GRAD, 4),  # one case has a single batch: nothing piles up
    ("step first", HINT_STEP_FIRST, 5),
    ("softmax", HINT_SOFTMAX_BEFORE_LOSS, 5),
    ("no train()", HINT_TRAIN_MODE, 1),
    ("batch means", HINT_BATCH_MEANS, 1),
])
def test_each_training_mistake_fails_with_its_hint(mistake, hint, failing):
    failed = hints(check_train_epoch(loop_with(mistake)))
    assert len(failed) == failing, failed
    assert all(f"Hint: {hint}" in message for message in failed.values())
    if mistake == "no train()":
        assert set(failed) == {DROPOUT}
    if mistake == "batch means":
        assert set(failed) == {SMALLER_LAST}
        assert "returned the loss" in failed[SMALLER_LAST]
        assert "the weights" not in failed[SMALLER_LAST]


def test_zero_grad_between_backward_and_step_means_no_learning():
    def train(model, batches, optimizer):
        model.train()
        total, count = 0.0, 0
        for images, labels in batches:
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.zero_grad()
            optimizer.step()
            total, count = total + loss.item() * len(labels), count + len(labels)
        return total / count

    failed = hints(check_train_epoch(train))
    assert len(failed) == 5
    assert all(f"Hint: {HINT_STEP_FIRST}" in m for m in failed.values())


def test_mistakes_together_still_name_the_mode():
    def train(model, batches, optimizer):  # no train() and no zero_grad
        total, count = 0.0, 0
        for images, labels in batches:
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(labels), count + len(labels)
        return total / count

    assert f"Hint: {HINT_TRAIN_MODE}" in hints(check_train_epoch(train))[DROPOUT]


def test_returned_values_that_are_no_float():
    def returns_tensor(model, batches, optimizer):
        blog_loop(model, batches, optimizer)
        return torch.tensor(1.0)

    def returns_nothing(model, batches, optimizer):
        blog_loop(model, batches, optimizer)

    failed = hints(check_train_epoch(returns_tensor))
    assert len(failed) == 5
    assert all("returned a tensor [1.0]; return a Python float" in m and ".item()" in m
               for m in failed.values())
    assert all("the weights" not in m for m in failed.values())  # the weights were right
    assert "returned None (type NoneType); return a float" in \
        next(iter(hints(check_train_epoch(returns_nothing)).values()))


def test_asking_the_batches_for_their_length():
    def train(model, batches, optimizer):
        total = 0.0
        model.train()
        for images, labels in batches:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            total += loss.item()
        return total / len(batches)

    failed = hints(check_train_epoch(train))
    assert len(failed) == 5
    assert all("has no len()" in m and f"Hint: {HINT_LEN}" in m for m in failed.values())


def test_unfinished_crashing_and_endless_loops_are_reported():
    def skeleton(model, batches, optimizer):
        raise NotImplementedError("train_one_epoch is not written yet")

    report = check_train_epoch(skeleton)
    assert all(r.message == "not done yet: fn(model, batches, optimizer) still raises "
                            "NotImplementedError" for r in report)

    def crashes(model, batches, optimizer):
        for images in batches:
            model(images)  # a (images, labels) pair is no tensor

    assert all("raised TypeError" in m for m in hints(check_train_epoch(crashes)).values())

    def endless(model, batches, optimizer):
        while True:
            pass

    failed = hints(check_train_epoch(endless, time_limit=0.1))  # without the limit: no return
    assert all("did not finish within 0.1 s" in m for m in failed.values())
    with pytest.raises(ValueError, match="time_limit must be a positive number"):
        check_train_epoch(blog_loop, time_limit=-1)


def examples_counted(fn, counts: list[int]):
    """``fn`` that first records how many examples its batches hold."""
    def counting(model, batches, *rest):
        batches = list(batches)
        counts.append(sum(len(labels) for _, labels in batches))
        return fn(model, batches, *rest)
    return counting


def test_training_checker_is_small_and_leaves_the_random_state_alone():
    counts = []
    torch.manual_seed(5)
    state = torch.get_rng_state()
    check_train_epoch(examples_counted(loop_with("no zero_grad"), counts))
    assert 0 < sum(counts) <= 256  # a few small batches per case: the check answers at once
    assert torch.equal(torch.get_rng_state(), state)


# check_evaluate ----------------------------------------------------------------------------------

UNEVEN = "a smaller last batch (10, 10, 3): every example counts the same"
IN_TRAINING = "a model with dropout, handed over in training mode"


@torch.no_grad()
def accuracy_blog(model, batches):
    """The blog post's Test(): torch.max over dim 1, counts over all examples."""
    model.eval()
    correct = total = 0
    for data, target in batches:
        _, predicted = torch.max(model(data).data, 1)
        total += target.size(0)
        correct += (predicted == target).sum().item()
    return 100 * correct / total


def accuracy_concatenated(model, batches):
    """All predictions first, one mean at the end, inference_mode instead of no_grad."""
    model.train(False)
    hits = []
    with torch.inference_mode():
        for images, labels in batches:
            hits.append(model(images).argmax(dim=-1) == labels)
    return torch.cat(hits).float().mean().item() * 100


def accuracy_package(model, batches):
    """The package's evaluate gives (correct, total)."""
    correct, total = evaluate(model, batches)
    return 100.0 * correct / total


@pytest.mark.parametrize("fn", [accuracy_blog, accuracy_concatenated, accuracy_package])
def test_right_accuracies_pass(fn):
    report = check_evaluate(fn)
    assert report.passed, str(report)
    assert str(report).endswith("All cases agree with the reference accuracy. Well done!")


def accuracy_with(mistake):
    @torch.no_grad()
    def accuracy(model, batches):
        if mistake != "no eval()":
            model.eval()
        correct, total, per_batch = 0, 0, []
        for images, labels in batches:
            predicted = model(images).argmax(dim=0 if mistake == "dim 0" else 1)
            right = (predicted == labels).sum().item()
            correct, total = correct + right, total + len(labels)
            per_batch.append(100 * right / len(labels))
        if mistake == "batch means":
            return sum(per_batch) / len(per_batch)
        if mistake == "fraction":
            return correct / total
        if mistake == "count":
            return correct
        return 100 * correct / total
    return accuracy


@pytest.mark.parametrize("mistake, hint, failing", [
    ("no eval()", HINT_EVAL_MODE, {IN_TRAINING}),
    ("batch means", HINT_BATCH_ACCURACIES, {UNEVEN, "batches of 7, 7 and 6"}),
    ("fraction", "a fraction instead of percent? Multiply by 100", None),
    ("count", "the number of correct answers?", None),
])
def test_each_accuracy_mistake_fails_with_its_hint(mistake, hint, failing):
    failed = hints(check_evaluate(accuracy_with(mistake)))
    assert failed and all(f"Hint: {hint}" in message for message in failed.values())
    if failing is None:  # every case
        assert len(failed) == 5
    else:
        assert set(failed) == failing


def test_argmax_over_the_images_is_named_whether_or_not_it_crashes():
    failed = hints(check_evaluate(accuracy_with("dim 0")))
    assert len(failed) == 5
    assert all(f"Hint: {HINT_ARGMAX}" in message for message in failed.values())
    assert "returned 15, expected 55 (11 of 20 right)" in failed[
        "two batches of 10 (10 classes: argmax over the right axis)"]
    assert "raised RuntimeError: The size of tensor a (10) must match" in failed[UNEVEN]


def test_accuracy_answers_that_are_no_number():
    def pair(model, batches):
        return evaluate(model, batches)

    failed = hints(check_evaluate(pair))
    assert len(failed) == 5
    assert all("not the pair (correct, total): compute 100 * correct / total" in m
               for m in failed.values())

    def skeleton(model, batches):
        raise NotImplementedError

    assert all(r.message.startswith("not done yet") for r in check_evaluate(skeleton))


def test_accuracy_checker_is_small_and_leaves_the_random_state_alone():
    counts = []
    torch.manual_seed(7)
    state = torch.get_rng_state()
    check_evaluate(examples_counted(accuracy_with("no eval()"), counts))
    assert 0 < sum(counts) <= 256
    assert torch.equal(torch.get_rng_state(), state)


def test_step_before_backward_with_stale_gradients():
    def train(model, batches, optimizer):  # each step uses the previous batch's gradients
        model.train()
        total, count = 0.0, 0
        for images, labels in batches:
            loss = F.cross_entropy(model(images), labels)
            optimizer.step()
            optimizer.zero_grad()
            loss.backward()
            total, count = total + loss.item() * len(labels), count + len(labels)
        return total / count

    failed = hints(check_train_epoch(train))
    assert len(failed) == 5
    assert all(f"Hint: {HINT_STEP_FIRST}" in m for m in failed.values())
