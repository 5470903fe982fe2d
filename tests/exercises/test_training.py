"""check_train_epoch and check_evaluate: right loops written differently pass; each common mistake
fails with its hint; shortcuts through the course's own functions are refused; only the learner's
call is timed; a learner's crash is reported, never raised."""

import subprocess
import sys
import textwrap
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mnist_tutorial import backprop, evaluate, fit, predict, train_epoch
from mnist_tutorial.data import TensorSplit
from mnist_tutorial.exercises import check_evaluate, check_train_epoch, core
from mnist_tutorial.exercises import training as checker
from mnist_tutorial.exercises.training import (
    HINT_ARGMAX,
    HINT_ARGMAX_FLAT,
    HINT_BATCH_ACCURACIES,
    HINT_BATCH_MEANS,
    HINT_DEVICE,
    HINT_DOUBLE_BACKWARD,
    HINT_EVAL_MODE,
    HINT_EXHAUSTED,
    HINT_FLOAT_BACKWARD,
    HINT_GRAPH_KEPT,
    HINT_LEN,
    HINT_LOSS_ORDER,
    HINT_MAX_PAIR,
    HINT_NEW_OPTIMIZER,
    HINT_NLL_RAW,
    HINT_NO_BACKWARD,
    HINT_NO_GRAD,
    HINT_NO_GRAD_CALL,
    HINT_NO_GRAPH,
    HINT_OWN_OPTIMIZER,
    HINT_SOFTMAX_BEFORE_LOSS,
    HINT_STEP_FIRST,
    HINT_SUM_REDUCTION,
    HINT_TESTING_BACKWARD,
    HINT_TESTING_STEPS,
    HINT_TESTING_TRAINS,
    HINT_TRAIN_MODE,
    HINT_UNPACK,
    HINT_ZERO_COUNT,
    HINT_ZERO_GRAD,
)
from mnist_tutorial.training import train_epoch_logged
from tests.helpers import hints

EPOCH_CASES = 5
SMALLER_LAST = "a smaller last batch (8, 8, 3): the loss is the mean over the examples"
DROPOUT = "a model with dropout, handed over in evaluation mode"
ONE_BATCH = "one batch only"
WELL_DONE = "All cases agree with the reference training loop. Well done!"


def fails_everywhere_with(report, hint, cases=EPOCH_CASES):
    """Every case failed, each with ``hint``."""
    failed = hints(report)
    assert len(failed) == cases, str(report)
    assert all(f"Hint: {hint}" in message for message in failed.values()), str(report)
    return failed


# check_train_epoch: right answers ----------------------------------------------------------------

def text_loop(model, train_batches, optimizer):
    """Written exactly to the exercise's text (the notebook's reference solution)."""
    criterion = nn.CrossEntropyLoss()
    model.train()
    total, count = 0.0, 0
    for images, labels in train_batches:
        loss = criterion(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)
        count += len(labels)
    return total / count


def blog_loop(model, batches, optimizer):
    """The blog post's loop with its own names, returning the mean over the examples."""
    criterion = nn.CrossEntropyLoss()
    model.train()
    running_loss, count = 0.0, 0
    for batch_idx, (data, target) in enumerate(batches):  # noqa: B007 (the blog post's)
        y_pred = model(data)
        loss = criterion(y_pred, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running_loss += loss.item() * len(target)
        count += len(target)
    return running_loss / count


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
    """log_softmax + nll_loss is CrossEntropyLoss; the sum kept as a detached tensor."""
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


def listed_first_loop(model, train_batches, optimizer):
    """The batches kept in a list first, the examples counted before the loop."""
    train_batches = list(train_batches)
    examples = sum(len(labels) for _, labels in train_batches)
    model.train()
    weighted = []
    for images, labels in train_batches:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        weighted.append(loss.item() * len(labels) / examples)
    return sum(weighted)


def zero_grad_last_loop(model, batches, optimizer):
    """zero_grad after the step: .grad starts empty, so each step still has its batch's alone."""
    criterion = torch.nn.CrossEntropyLoss()
    model.train()
    total = count = 0
    for x, y in batches:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        total, count = total + float(loss.detach()) * y.size(0), count + y.size(0)
    return total / count


@pytest.mark.parametrize("fn", [text_loop, blog_loop, summed_loop, log_softmax_loop,
                                listed_first_loop, zero_grad_last_loop])
def test_right_training_loops_pass(fn):
    report = check_train_epoch(fn)
    assert report.passed, str(report)
    assert str(report).endswith(WELL_DONE)


# check_train_epoch: mistakes ---------------------------------------------------------------------

LOSSES = {
    "softmax": lambda scores, labels: nn.CrossEntropyLoss()(F.softmax(scores, dim=1), labels),
    "softmax, NLLLoss": lambda scores, labels: nn.NLLLoss()(scores.softmax(1), labels),
    "NLLLoss": lambda scores, labels: nn.NLLLoss()(scores, labels),
    "sum": lambda scores, labels: nn.CrossEntropyLoss(reduction="sum")(scores, labels),
}


def loop_with(mistake):
    """The text's loop with one learner's mistake built in."""
    def train(model, batches, optimizer):
        criterion = LOSSES.get(mistake, nn.CrossEntropyLoss())
        if mistake != "no train()":
            model.train()
        total, count, means = 0.0, 0, []
        for images, labels in batches:
            loss = criterion(model(images), labels)
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
        if mistake == "batch means":
            return sum(means) / len(means)
        if mistake == "per batch":
            return total / len(means)
        if mistake == "means over examples":
            return sum(means) / count
        return total / count
    return train


@pytest.mark.parametrize("mistake, hint, failing", [
    ("no zero_grad", HINT_ZERO_GRAD, 4),  # one case has a single batch: nothing piles up
    ("step first", HINT_STEP_FIRST, 5),
    ("softmax", HINT_SOFTMAX_BEFORE_LOSS, 5),
    ("softmax, NLLLoss", HINT_SOFTMAX_BEFORE_LOSS, 5),
    ("NLLLoss", HINT_NLL_RAW, 5),
    ("sum", HINT_SUM_REDUCTION, 5),
    ("no train()", HINT_TRAIN_MODE, 1),
    ("batch means", HINT_BATCH_MEANS, 1),
    ("per batch", "divided by the number of batches?", 5),
    ("means over examples", "the batch means added up, then divided by the number of "
                            "examples?", 5),
])
def test_each_training_mistake_fails_with_its_hint(mistake, hint, failing):
    failed = hints(check_train_epoch(loop_with(mistake)))
    assert len(failed) == failing, failed
    assert all(f"Hint: {hint}" in message for message in failed.values()), failed
    if mistake == "no train()":
        assert set(failed) == {DROPOUT}
    if mistake in ("batch means", "per batch", "means over examples"):
        assert "returned the loss" in failed[SMALLER_LAST]
        assert "the weights" not in failed[SMALLER_LAST]
    if mistake == "batch means":
        assert set(failed) == {SMALLER_LAST}


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

    fails_everywhere_with(check_train_epoch(train), HINT_STEP_FIRST)


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

    fails_everywhere_with(check_train_epoch(train), HINT_STEP_FIRST)


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


def loop_keeping(keep):
    """A right loop that also keeps something of every batch: ``keep(loss, scores)``."""
    def train(model, batches, optimizer):
        model.train()
        total, count, kept = 0.0, 0, []
        for images, labels in batches:
            scores = model(images)
            loss = F.cross_entropy(scores, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(labels)
            count += len(labels)
            kept.append(keep(loss, scores))
        return total / count
    return train


def test_summing_the_loss_tensors_keeps_every_graph_and_fails():
    def train(model, batches, optimizer):  # the notebook's warning: total += loss
        model.train()
        total, count = 0, 0
        for images, labels in batches:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss * len(labels)
            count += len(labels)
        return total.item() / count

    failed = hints(check_train_epoch(train))
    assert set(failed) == {result.name for result in checker.EPOCH_SETUPS} - {ONE_BATCH}
    assert all(message.startswith(f"the loss is right, but memory would grow: {HINT_GRAPH_KEPT}")
               for message in failed.values())
    for keep in (lambda loss, scores: loss, lambda loss, scores: scores):  # lists of tensors
        assert len(hints(check_train_epoch(loop_keeping(keep)))) == EPOCH_CASES - 1
    for keep in (lambda loss, scores: loss.detach(), lambda loss, scores: scores.argmax(1)):
        assert check_train_epoch(loop_keeping(keep)).passed  # nothing of the graph is kept


def test_a_graph_kept_after_the_call_fails_even_with_one_batch():
    kept = []

    def train(model, batches, optimizer):
        total = text_loop(model, batches, optimizer)
        kept.append(model(torch.zeros(1, 1, 8, 8)))  # an output with its graph, kept outside
        return total

    failed = hints(check_train_epoch(train))
    assert len(failed) == EPOCH_CASES and all(HINT_GRAPH_KEPT in m for m in failed.values())


def test_backward_through_a_running_total_names_it():
    def train(model, batches, optimizer):
        model.train()
        total, count = 0, 0
        for images, labels in batches:
            total = total + F.cross_entropy(model(images), labels) * len(labels)
            count += len(labels)
            optimizer.zero_grad()
            (total / count).backward()
            optimizer.step()
        return total.item() / count

    failed = hints(check_train_epoch(train))
    assert len(failed) == EPOCH_CASES - 1  # one batch: one backward, the right one
    assert all("raised RuntimeError: Trying to backward through the graph a second time" in m
               and f"Hint: {HINT_DOUBLE_BACKWARD}" in m for m in failed.values())


def test_an_optimizer_of_its_own_is_named():
    def new_in_the_loop(model, batches, optimizer):
        model.train()
        total, count = 0.0, 0
        for images, labels in batches:
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(labels), count + len(labels)
        return total / count

    failed = hints(check_train_epoch(new_in_the_loop))
    assert len(failed) == EPOCH_CASES
    assert all(f"Hint: {HINT_NEW_OPTIMIZER}" in m for name, m in failed.items()
               if name != ONE_BATCH)
    assert f"Hint: {HINT_OWN_OPTIMIZER}" in failed[ONE_BATCH]  # one batch: one new optimizer

    def built_once(model, batches, optimizer):
        return text_loop(model, batches, torch.optim.SGD(model.parameters(), lr=0.01))

    fails_everywhere_with(check_train_epoch(built_once), HINT_OWN_OPTIMIZER)

    other = nn.Linear(2, 2)  # the notebook's global optimizer, built for another model
    global_optimizer = torch.optim.SGD(other.parameters(), lr=0.01)

    def uses_a_global(model, batches, optimizer):
        other(torch.zeros(1, 2)).sum().backward()
        return text_loop(model, batches, global_optimizer)

    fails_everywhere_with(check_train_epoch(uses_a_global), HINT_OWN_OPTIMIZER)

    def right_weights_from_a_copy(model, batches, optimizer):  # the same settings, its own
        return text_loop(model, batches, type(optimizer)(model.parameters(),
                                                         **optimizer.defaults))

    failed = fails_everywhere_with(check_train_epoch(right_weights_from_a_copy),
                                   HINT_OWN_OPTIMIZER)
    assert all(m.startswith("the right weights, but not from the optimizer it was given")
               for m in failed.values())


def test_batches_used_up_before_the_loop():
    def counted_first(model, train_batches, optimizer):
        examples = sum(len(labels) for _, labels in train_batches)
        model.train()
        total = 0.0
        for images, labels in train_batches:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(labels)
        return total / examples

    failed = fails_everywhere_with(check_train_epoch(counted_first), HINT_EXHAUSTED)
    assert all(HINT_STEP_FIRST not in m for m in failed.values())

    def listed_then_counted(model, train_batches, optimizer):
        print(sum(1 for _ in train_batches), "batches")  # then a ZeroDivisionError at the end
        return text_loop(model, train_batches, optimizer)

    failed = fails_everywhere_with(check_train_epoch(listed_then_counted), HINT_EXHAUSTED)
    assert all("raised ZeroDivisionError" in m for m in failed.values())

    def peeked(model, train_batches, optimizer):
        train_batches = iter(train_batches)
        first_images, _ = next(train_batches)  # a look at the first batch's shape
        return text_loop(model, train_batches, optimizer)

    failed = hints(check_train_epoch(peeked))
    assert len(failed) == EPOCH_CASES
    assert all("the model saw only 2 of the 3 batches" in m for name, m in failed.items()
               if name != ONE_BATCH)
    assert f"Hint: {HINT_EXHAUSTED}" in failed[ONE_BATCH]


def test_calls_written_without_parentheses():
    def no_backward(model, batches, optimizer):
        model.train()
        total, count = 0.0, 0
        for images, labels in batches:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward  # noqa: B018 (the mistake)
            optimizer.step()
            total, count = total + loss.item() * len(labels), count + len(labels)
        return total / count

    fails_everywhere_with(check_train_epoch(no_backward), HINT_NO_BACKWARD)

    def no_step(model, batches, optimizer):
        model.train()
        total, count = 0.0, 0
        for images, labels in batches:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step  # noqa: B018 (the mistake)
            total, count = total + loss.item() * len(labels), count + len(labels)
        return total / count

    failed = fails_everywhere_with(check_train_epoch(no_step), "the optimizer took 0 steps for")
    assert "0 steps for 3 batches" in failed[SMALLER_LAST] and "parentheses" in failed[ONE_BATCH]


def test_batches_changed_in_place():
    def normalises_in_place(model, batches, optimizer):
        def normalised():
            for images, labels in batches:
                images -= images.mean()
                yield images, labels
        return text_loop(model, normalised(), optimizer)

    failed = hints(check_train_epoch(normalises_in_place))
    assert len(failed) == EPOCH_CASES
    assert all(m.startswith("your function changed the images of batch 1 in place")
               and "Hint" not in m for m in failed.values())


@pytest.mark.parametrize("body, hint, error", [
    ("for images in batches:\n    model(images)", HINT_UNPACK, "TypeError"),
    ("for images, labels, extra in batches:\n    pass", HINT_UNPACK, "ValueError"),
    ("for images, labels in batches:\n    F.cross_entropy(labels, model(images))",
     HINT_LOSS_ORDER, "NotImplementedError"),
    ("for images, labels in batches:\n    F.cross_entropy(model(images), labels).item()"
     ".backward()", HINT_FLOAT_BACKWARD, "AttributeError"),
    ("for images, labels in batches:\n    with torch.no_grad():\n        loss = "
     "F.cross_entropy(model(images), labels)\n    loss.backward()", HINT_NO_GRAPH,
     "RuntimeError"),
    ("count = 0\nfor images, labels in batches:\n    model(images)\nreturn 1 / count",
     HINT_ZERO_COUNT,
     "ZeroDivisionError"),
    ("return 1 / len(batches)", HINT_LEN, "TypeError"),
    ("raise RuntimeError('Expected all tensors to be on the same device, but found at least "
     "two devices, cuda:0 and cpu!')", HINT_DEVICE, "RuntimeError"),
])
def test_crashes_beginners_hit_get_a_hint(body, hint, error):
    namespace = {"torch": torch, "F": F}
    exec(f"def train(model, batches, optimizer):\n{textwrap.indent(body, '    ')}", namespace)
    failed = fails_everywhere_with(check_train_epoch(namespace["train"]), hint)
    assert all(f"raised {error}" in m for m in failed.values()), failed


def test_returned_values_that_are_no_float():
    def returns_tensor(model, batches, optimizer):
        text_loop(model, batches, optimizer)
        return torch.tensor(1.0)

    def returns_nothing(model, batches, optimizer):
        text_loop(model, batches, optimizer)

    failed = hints(check_train_epoch(returns_tensor))
    assert len(failed) == 5
    assert all("returned a tensor [1.0]; return a Python float" in m and ".item()" in m
               for m in failed.values())
    assert all("the weights" not in m for m in failed.values())  # the weights were right
    assert "returned None (type NoneType); return a float" in \
        next(iter(hints(check_train_epoch(returns_nothing)).values()))


@pytest.fixture(params=["alarm", "watchdog"])
def limit_path(request, monkeypatch):
    """Run the test with the SIGALRM timer and again with the watchdog thread (Windows' way)."""
    if request.param == "watchdog":
        monkeypatch.setattr(core, "_alarm_usable", lambda: False)
    return request.param


def test_unfinished_crashing_and_endless_loops_are_reported(limit_path):
    def skeleton(model, batches, optimizer):
        raise NotImplementedError("train_one_epoch is not written yet")

    report = check_train_epoch(skeleton)
    assert all(r.message == "not done yet: fn(model, batches, optimizer) still raises "
                            "NotImplementedError" for r in report)

    def endless(model, batches, optimizer):
        while True:
            pass

    start = time.monotonic()
    report = check_train_epoch(endless, time_limit=0.2)  # without the limit: no return
    assert time.monotonic() - start < 5  # one time limit, not one per case
    assert report[0].message.startswith("fn(model, batches, optimizer) did not finish within "
                                        "0.2 s")
    assert all(result.message == core.SKIPPED for result in report.results[1:])
    with pytest.raises(ValueError, match="time_limit must be a positive number"):
        check_train_epoch(text_loop, time_limit=-1)


# shortcuts and timing ----------------------------------------------------------------------------

train_one_epoch = train_epoch  # the shortcut the issue names


def through_fit(model, batches, optimizer):
    images, labels = (torch.cat(parts) for parts in zip(*batches))
    split = TensorSplit(images, labels)
    return fit(model, split, split, optimizer, epochs=1).loss[-1]


def through_the_checker(model, batches, optimizer):
    return checker._reference_epoch(model, batches, optimizer)


@pytest.mark.parametrize("fn, name", [
    (train_one_epoch, "mnist_tutorial.training.train_epoch"),
    (lambda model, batches, optimizer: train_epoch(model, batches, optimizer),
     "mnist_tutorial.training.train_epoch"),
    (lambda model, batches, optimizer: train_epoch_logged(model, batches, optimizer),
     "mnist_tutorial.training.train_epoch_logged"),
    (lambda model, batches, optimizer: backprop.train_epoch_by_hand(model, batches, optimizer),
     "mnist_tutorial.backprop.train_epoch_by_hand"),
    (through_fit, "mnist_tutorial.training.fit"),
    (through_the_checker, "mnist_tutorial.exercises.training._reference_epoch"),
])
def test_the_courses_own_epochs_are_refused(fn, name):
    report = check_train_epoch(fn)
    assert all(message == f"fn(model, batches, optimizer) called the course's own {name}: this "
                          f"exercise asks you to write the training epoch yourself, so the "
                          f"checker does not accept that here"
               for message in hints(report).values())
    assert len(hints(report)) == EPOCH_CASES
    assert check_train_epoch(text_loop).passed  # the functions work again afterwards
    assert train_epoch.__code__.co_name == "train_epoch"


def test_only_the_learners_call_is_timed(monkeypatch):
    reference = checker._reference

    def slow_reference(*args, **kwargs):
        time.sleep(0.3)  # the checker's own work, longer than the limit
        return reference(*args, **kwargs)

    monkeypatch.setattr(checker, "_reference", slow_reference)
    assert check_train_epoch(text_loop, time_limit=0.25).passed
    assert check_evaluate(accuracy_text, time_limit=0.25).passed


def test_the_first_optimizer_is_built_before_the_learners_code_runs():
    """Building the first optimizer imports torch._dynamo; a time limit must never fire in it."""
    code = textwrap.dedent("""
        import sys
        from tests.exercises.test_training import text_loop
        from mnist_tutorial.exercises import check_train_epoch

        seen = []
        def train(model, batches, optimizer):
            seen.append("torch._dynamo" in sys.modules)
            return text_loop(model, batches, optimizer)

        report = check_train_epoch(train, time_limit=1.0)
        assert report.passed and all(seen), str(report)
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


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

TWO_OF_TEN = "two batches of 10 (10 classes: argmax over the right axis)"
UNEVEN = "a smaller last batch (10, 10, 3): every example counts the same"
IN_TRAINING = "a model with dropout, handed over in training mode"
ACCURACY_CASES = 5


@torch.no_grad()
def accuracy_text(model, test_batches):
    """Written exactly to the exercise's text (the notebook's reference solution)."""
    model.eval()
    correct, total = 0, 0
    for images, labels in test_batches:
        correct += (model(images).argmax(dim=1) == labels).sum().item()
        total += len(labels)
    return 100 * correct / total


def accuracy_blog(model, batches):
    """The blog post's Test(): torch.max over dim 1 inside a with block."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
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


@pytest.mark.parametrize("fn", [accuracy_text, accuracy_blog, accuracy_concatenated])
def test_right_accuracies_pass(fn):
    report = check_evaluate(fn)
    assert report.passed, str(report)
    assert str(report).endswith("All cases agree with the reference accuracy. Well done!")


def accuracy_with(mistake):
    def accuracy(model, batches):
        if mistake != "no eval()":
            model.eval()
        correct, total, per_batch = 0, 0, []
        with torch.set_grad_enabled(mistake in ("no no_grad", "detach")):
            for images, labels in batches:
                scores = model(images)
                if mistake == "detach":
                    scores = scores.detach()
                predicted = (scores.argmax() if mistake == "flat argmax"
                             else scores.argmax(dim=0 if mistake == "dim 0" else 1))
                right = (predicted == labels).sum().item()
                correct, total = correct + right, total + len(labels)
                per_batch.append(100 * right / len(labels))
        if mistake == "batch means":
            return sum(per_batch) / len(per_batch)
        if mistake == "fraction":
            return correct / total
        if mistake == "count":
            return correct
        if mistake == "floor":
            return 100 * correct // total
        return 100 * correct / total
    return accuracy


@pytest.mark.parametrize("mistake, hint, failing", [
    ("no eval()", HINT_EVAL_MODE, {IN_TRAINING}),
    ("batch means", HINT_BATCH_ACCURACIES, {UNEVEN, "batches of 7, 7 and 6"}),
    ("fraction", "a fraction instead of percent? Multiply by 100", None),
    ("count", "the number of correct answers?", None),
    ("floor", "// rounds down to a whole number: use /", {UNEVEN, IN_TRAINING}),
    ("flat argmax", HINT_ARGMAX_FLAT, None),
    ("no no_grad", HINT_NO_GRAD, None),  # the right numbers, but a graph recorded
    ("detach", HINT_NO_GRAD, None),
])
def test_each_accuracy_mistake_fails_with_its_hint(mistake, hint, failing):
    failed = hints(check_evaluate(accuracy_with(mistake)))
    assert failed and all(f"Hint: {hint}" in message for message in failed.values()), failed
    if failing is None:  # every case
        assert len(failed) == ACCURACY_CASES
    else:
        assert set(failed) == failing


def test_training_mode_fails_even_when_the_number_is_right():
    @torch.no_grad()
    def accuracy(model, batches):
        model[1].p = 0.0  # no dropout: training mode gives the right numbers here
        model.train()
        correct = total = 0
        for images, labels in batches:
            correct += (model(images).argmax(1) == labels).sum().item()
            total += len(labels)
        return 100 * correct / total

    failed = fails_everywhere_with(check_evaluate(accuracy), HINT_EVAL_MODE, ACCURACY_CASES)
    assert all(m.startswith("a forward pass ran in training mode") for m in failed.values())


def test_an_accuracy_that_trains_fails():
    def trains_on_the_test_batches(model, batches):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        model.eval()
        correct = total = 0
        for images, labels in batches:
            scores = model(images)
            loss = F.cross_entropy(scores, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            correct += (scores.argmax(1) == labels).sum().item()
            total += len(labels)
        return 100 * correct / total

    failed = fails_everywhere_with(check_evaluate(trains_on_the_test_batches),
                                   HINT_TESTING_TRAINS, ACCURACY_CASES)
    assert all(f"Hint: {HINT_NO_GRAD}" in m for m in failed.values())

    other = nn.Linear(2, 2)
    global_optimizer = torch.optim.SGD(other.parameters(), lr=0.1)

    def steps_a_global_optimizer(model, batches):
        result = accuracy_text(model, batches)
        other(torch.ones(1, 2)).sum().backward()
        global_optimizer.step()  # copied from the training loop
        return result

    fails_everywhere_with(check_evaluate(steps_a_global_optimizer), HINT_TESTING_STEPS,
                          ACCURACY_CASES)

    @torch.no_grad()
    def backward_under_no_grad(model, batches):
        model.eval()
        for images, labels in batches:
            F.cross_entropy(model(images), labels).backward()

    failed = fails_everywhere_with(check_evaluate(backward_under_no_grad), HINT_TESTING_BACKWARD,
                                   ACCURACY_CASES)
    assert all("raised RuntimeError" in m for m in failed.values())

    @torch.no_grad()
    def changes_a_weight(model, batches):
        model[2].bias.zero_()
        return accuracy_text(model, batches)

    assert all(f"Hint: {HINT_TESTING_TRAINS}" in m
               for m in hints(check_evaluate(changes_a_weight)).values())


def test_argmax_over_the_images_is_named_whether_or_not_it_crashes():
    failed = fails_everywhere_with(check_evaluate(accuracy_with("dim 0")), HINT_ARGMAX,
                                   ACCURACY_CASES)
    assert "returned 15, expected 55 (11 of 20 right)" in failed[TWO_OF_TEN]
    assert "raised RuntimeError: The size of tensor a (10) must match" in failed[UNEVEN]


def test_other_accuracy_crashes_get_a_hint():
    @torch.no_grad()
    def max_pair(model, batches):
        model.eval()
        correct = total = 0
        for images, labels in batches:
            predicted = torch.max(model(images), 1)  # (values, indices)
            correct += (predicted == labels).sum().item()
            total += len(labels)
        return 100 * correct / total

    fails_everywhere_with(check_evaluate(max_pair), HINT_MAX_PAIR, ACCURACY_CASES)

    def no_grad_without_parentheses(model, batches):
        with torch.no_grad:
            return accuracy_text(model, batches)

    fails_everywhere_with(check_evaluate(no_grad_without_parentheses), HINT_NO_GRAD_CALL,
                          ACCURACY_CASES)

    @torch.no_grad()
    def counted_first(model, batches):
        total = sum(len(labels) for _, labels in batches)
        correct = sum((model(x).argmax(1) == y).sum().item() for x, y in batches)
        return 100 * correct / total

    fails_everywhere_with(check_evaluate(counted_first), HINT_EXHAUSTED, ACCURACY_CASES)

    @torch.no_grad()
    def changes_the_images(model, batches):
        model.eval()
        correct = total = 0
        for images, labels in batches:
            images.mul_(1.0 + 1e-3)
            correct += (model(images).argmax(1) == labels).sum().item()
            total += len(labels)
        return 100 * correct / total

    failed = hints(check_evaluate(changes_the_images))
    assert len(failed) == ACCURACY_CASES
    assert all(m.startswith("your function changed the images of batch 1 in place")
               for m in failed.values())


def test_accuracy_answers_that_are_no_number():
    @torch.no_grad()
    def pair(model, batches):
        model.eval()
        correct = total = 0
        for images, labels in batches:
            correct += (model(images).argmax(1) == labels).sum().item()
            total += len(labels)
        return correct, total

    failed = hints(check_evaluate(pair))
    assert len(failed) == ACCURACY_CASES
    assert all("not the pair (correct, total): compute 100 * correct / total" in m
               for m in failed.values())

    @torch.no_grad()
    def tensor(model, batches):
        model.eval()
        correct = total = 0
        for images, labels in batches:
            correct += (model(images).argmax(1) == labels).sum()
            total += len(labels)
        return 100 * correct / total

    assert all("return a Python float" in m and ".item()" in m
               for m in hints(check_evaluate(tensor)).values())

    def skeleton(model, batches):
        raise NotImplementedError

    assert all(r.message.startswith("not done yet") for r in check_evaluate(skeleton))


def through_predict(model, batches):
    images, labels = (torch.cat(parts) for parts in zip(*batches))
    predictions, _ = predict(model, TensorSplit(images, labels))
    return 100 * (predictions == labels).float().mean().item()


@pytest.mark.parametrize("fn, name", [
    (lambda model, batches: 100 * (lambda c, t: c / t)(*evaluate(model, batches)),
     "mnist_tutorial.training.evaluate"),
    (through_predict, "mnist_tutorial.evaluation.predict"),
])
def test_the_courses_own_accuracies_are_refused(fn, name):
    failed = hints(check_evaluate(fn))
    assert len(failed) == ACCURACY_CASES
    assert all(m == f"fn(model, batches) called the course's own {name}: this exercise asks "
                    f"you to compute the accuracy yourself, so the checker does not accept that "
                    f"here" for m in failed.values())


def test_accuracy_checker_is_small_and_leaves_the_random_state_alone():
    counts = []
    torch.manual_seed(7)
    state = torch.get_rng_state()
    check_evaluate(examples_counted(accuracy_with("no eval()"), counts))
    assert 0 < sum(counts) <= 256
    assert torch.equal(torch.get_rng_state(), state)
