"""Checkers for notebook 05's exercises: the learner's training epoch and test accuracy, run on a
tiny fixed model and data set and compared with the course's reference loop.

``check_train_epoch(fn)`` runs ``fn(model, batches, optimizer)`` from a fixed model and optimizer
state and compares the weights it leaves and the loss it returns with the blog post's loop;
``check_evaluate(fn)`` compares ``fn(model, batches)`` with the accuracy in percent. When the
learner's numbers equal what a common mistake gives (no ``zero_grad``, ``step`` before
``backward``, a softmax before the loss, the wrong mode, the mean of batch means...), the
message names it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from .core import TIME_LIMIT, CaseResult, CheckReport, _check_arguments, _guarded

Batch = tuple[torch.Tensor, torch.Tensor]
# relative tolerances, for float32 numbers that the learner's code computes in another order
WEIGHT_TOLERANCE = 1e-4  # the weights an epoch leaves
RESULT_TOLERANCE = 1e-4  # the mean loss or the accuracy a function returns
HINT_ZERO_GRAD = ("no optimizer.zero_grad()? Without it each batch's gradients are added to all "
                  "the previous ones (they pile up in .grad)")
HINT_STEP_FIRST = ("optimizer.step() before loss.backward()? The step uses the gradients that "
                   "backward puts in .grad, so the order is zero_grad, backward, then step "
                   "(zero_grad between backward and step wipes them too)")
HINT_SOFTMAX_BEFORE_LOSS = ("a softmax before the loss? CrossEntropyLoss takes the raw scores "
                            "model(images) and applies log-softmax itself (notebook 04)")
HINT_TRAIN_MODE = ("the model stayed in evaluation mode: call model.train() at the start, so that "
                   "dropout (and batch norm) behave as in training")
HINT_EVAL_MODE = ("the model stayed in training mode: call model.eval() at the start, so that "
                  "dropout is switched off while testing")
HINT_BATCH_MEANS = ("the mean of the batch means? A batch's loss is already the mean over its n "
                    "images, and the last batch is smaller, so it must count less: add up "
                    "loss.item() * len(labels) and divide by the number of examples")
HINT_BATCH_ACCURACIES = ("the mean of the batches' accuracies? The last batch is smaller, so it "
                         "must count less: add up the correct answers and divide by the number of "
                         "examples")
HINT_LEN = ("the batches can be looped over only once and have no len() (like "
            "data.batches): count the examples as you go, e.g. with len(labels)")
HINT_ARGMAX = ("argmax over the wrong axis? scores has shape (batch, 10): the predicted class "
               "of each image is scores.argmax(dim=1)")


@dataclass(frozen=True)
class _Setup:
    """A case's fixed starting point: how to build the model and optimizer, and the batches."""

    name: str
    sizes: tuple[int, ...]  # examples per batch
    dropout: float = 0.0
    momentum: float = 0.0
    training: bool = True  # the mode the model is handed over in

    def model(self) -> nn.Module:
        """The same small network with the same weights every time."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(),
                                  nn.Dropout(self.dropout), nn.Linear(4 * 6 * 6, 10))
        return model.train(self.training)

    def optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.SGD(model.parameters(), lr=0.5, momentum=self.momentum)

    def batches(self) -> list[Batch]:
        generator = torch.Generator().manual_seed(sum(self.sizes))
        return [(torch.randn(n, 1, 8, 8, generator=generator),
                 torch.randint(0, 10, (n,), generator=generator)) for n in self.sizes]


def _once(items: list[Batch]) -> Iterator[Batch]:
    """The batches as an iterator that can be looped over once, like ``data.batches``."""
    yield from items


@dataclass(frozen=True)
class _Result:
    """What an epoch left behind: the weights and the returned loss (or what was returned)."""

    weights: list[torch.Tensor]
    answer: object


def _reference_epoch(model: nn.Module, batches: list[Batch], optimizer: torch.optim.Optimizer,
                     mistake: str = "") -> float:
    """The blog post's loop, or that loop with one named mistake built in; returns the mean loss
    over the examples (or what the mistake returns)."""
    criterion = nn.CrossEntropyLoss()
    if mistake != "eval mode":
        model.train()
    total, count, means = 0.0, 0, []
    for images, labels in batches:
        scores = model(images)
        loss = criterion(scores.softmax(dim=1) if mistake == "softmax" else scores, labels)
        if mistake != "no zero_grad":
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)
        count += len(labels)
        means.append(loss.item())
    if mistake == "batch means":
        return sum(means) / len(means)
    if mistake == "sum":
        return sum(means)
    return total / count


def _run_epoch(fn: Callable, setup: _Setup) -> _Result:
    """Run ``fn`` from the case's fixed start."""
    model = setup.model()
    optimizer = setup.optimizer(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)  # the same dropout masks for every run
        answer = fn(model, _once(setup.batches()), optimizer)
    return _Result([p.detach().clone() for p in model.parameters()], answer)


def _run_mistake(mistake: str, setup: _Setup) -> _Result:
    """The reference loop with ``mistake`` built in, from the case's fixed start."""
    return _run_epoch(partial(_reference_epoch, mistake=mistake), setup)


def _check_setups(title: str, call_text: str, judge: Callable[[Callable, Any], CaseResult],
                  fn: Callable, setups: Sequence, time_limit: float | None,
                  verdict: str) -> CheckReport:
    """Check the arguments, then ``judge(fn, setup)`` for every setup, guarded and timed."""
    _check_arguments(fn, time_limit)
    results = tuple(_guarded(setup.name, call_text, lambda setup=setup: judge(fn, setup),
                             time_limit)
                    for setup in setups)
    return CheckReport(title, results, verdict)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RESULT_TOLERANCE, abs_tol=1e-6)


def _same_weights(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(x.shape == y.shape and torch.allclose(x, y, rtol=WEIGHT_TOLERANCE, atol=1e-6)
               for x, y in zip(a, b))


def _number(answer: object, what: str) -> tuple[float | None, str]:
    """``answer`` as a float, or None and why it is not one."""
    if isinstance(answer, torch.Tensor):
        return None, (f"returned a tensor {answer.detach().flatten()[:4].tolist()}; return a "
                      f"Python float: {what} (.item() turns a one-number tensor into a float)")
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        return None, f"returned {answer!r} (type {type(answer).__name__}); return a float: {what}"
    if not math.isfinite(answer):
        return None, f"returned {answer}; return a finite float: {what}"
    return float(answer), ""


EPOCH_MISTAKES = (("no zero_grad", HINT_ZERO_GRAD), ("softmax", HINT_SOFTMAX_BEFORE_LOSS),
                  ("eval mode", HINT_TRAIN_MODE))
LOSS_MISTAKES = (("batch means", HINT_BATCH_MEANS),
                 ("sum", "the sum of the batch losses? Divide by the number of examples"))


def _judge_epoch(fn: Callable, setup: _Setup) -> CaseResult:
    expected = _run_epoch(_reference_epoch, setup)
    modes: list[bool] = []
    got = _run_epoch(_recording_modes(fn, modes), setup)
    start = [p.detach() for p in setup.model().parameters()]
    problems = []
    if not _same_weights(got.weights, expected.weights):
        difference = max((a - b).abs().max().item() for a, b in zip(got.weights, expected.weights))
        hint = HINT_STEP_FIRST if _same_weights(got.weights, start) else next(
            (hint for mistake, hint in EPOCH_MISTAKES
             if _same_weights(got.weights, _run_mistake(mistake, setup).weights)),
            "")
        if not hint and modes and not all(modes):
            hint = HINT_TRAIN_MODE
        hint = hint or ("compare with the blog post's loop: for every batch zero_grad, "
                        "forward, loss, backward, step")
        problems.append(f"the weights after the epoch differ from the reference loop's by up to "
                        f"{difference:.3g}\nHint: {hint}")
    loss, problem = _number(got.answer, "the mean loss over the epoch's examples")
    if problem:
        problems.append(problem)
    elif not _close(loss, expected.answer):
        hint = next((hint for mistake, hint in LOSS_MISTAKES
                     if _close(loss, _run_mistake(mistake, setup).answer)), "")
        problems.append(f"returned the loss {loss:.6f}, expected {expected.answer:.6f} (the mean "
                        f"over the examples)" + (f"\nHint: {hint}" if hint else ""))
    if problems:
        return CaseResult(setup.name, False, "\n".join(problems))
    return CaseResult(setup.name, True, f"same weights as the reference loop, mean loss "
                                        f"{loss:.4f}")


def _recording_modes(fn: Callable, modes: list[bool]) -> Callable:
    """``fn`` with every forward pass of its model writing down whether it ran in training mode,
    and a hint when it asked the batches for their number."""
    def wrapped(model: nn.Module, *args):
        model.register_forward_pre_hook(lambda module, inputs: modes.append(module.training))
        try:
            return fn(model, *args)
        except TypeError as error:
            if "has no len()" in str(error):
                raise TypeError(f"{error}\nHint: {HINT_LEN}") from None
            raise
        except RuntimeError as error:  # backward after step changed the weights it needs
            if "modified by an inplace operation" in str(error):
                raise RuntimeError(f"{str(error).split('. Hint')[0]}\nHint: "
                                   f"{HINT_STEP_FIRST}") from None
            raise
    return wrapped


EPOCH_SETUPS = (
    _Setup("three batches of 8, plain SGD", (8, 8, 8)),
    _Setup("SGD with momentum 0.5, as in the blog post", (8, 8, 8), momentum=0.5),
    _Setup("a smaller last batch (8, 8, 3): the loss is the mean over the examples", (8, 8, 3),
           momentum=0.5),
    _Setup("a model with dropout, handed over in evaluation mode", (8, 8, 8), dropout=0.5,
           momentum=0.5, training=False),
    _Setup("one batch only", (5,)),
)


def check_train_epoch(fn: Callable, *, time_limit: float | None = TIME_LIMIT) -> CheckReport:
    """Check ``fn(model, batches, optimizer) -> float``, one epoch of the blog post's loop with
    ``CrossEntropyLoss`` that returns the mean loss over the epoch's examples (each batch's mean
    loss weighted by its size), on 5 cases; each case is stopped after ``time_limit`` seconds
    (None: no limit)."""
    return _check_setups("check_train_epoch", "fn(model, batches, optimizer)", _judge_epoch, fn,
                         EPOCH_SETUPS, time_limit,
                         "All cases agree with the reference training loop. Well done!")


@dataclass(frozen=True)
class _TestSetup:
    """A case of ``check_evaluate``: batch sizes and how many of each batch the model gets right."""

    name: str
    sizes: tuple[int, ...]
    right: tuple[int, ...]  # correct answers per batch in evaluation mode
    training: bool = False  # the mode the model is handed over in

    def model(self) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(2)
            model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 10))
        return model.train(self.training)

    def batches(self) -> list[Batch]:
        """Random images labelled so that the model in evaluation mode gets ``right`` of each."""
        generator = torch.Generator().manual_seed(len(self.sizes))
        model = self.model().eval()
        batches = []
        for n, right in zip(self.sizes, self.right):
            images = torch.randn(n, 1, 4, 4, generator=generator)
            with torch.no_grad():
                predicted = model(images).argmax(dim=1)
            labels = torch.where(torch.arange(n) < right, predicted, (predicted + 1) % 10)
            batches.append((images, labels))
        return batches

    def accuracy(self) -> float:
        return 100 * sum(self.right) / sum(self.sizes)


def _accuracy_mistakes(setup: _TestSetup) -> list[tuple[float, str]]:
    """What the common mistakes return on this case."""
    batches = setup.batches()
    right, sizes = setup.right, setup.sizes
    mistakes = [(100 * sum(r / n for r, n in zip(right, sizes)) / len(sizes),
                 HINT_BATCH_ACCURACIES),
                (sum(right) / sum(sizes), "a fraction instead of percent? Multiply by 100"),
                (float(sum(right)), "the number of correct answers? Divide by the number of "
                                    "examples and multiply by 100")]
    if setup.training:
        model = setup.model()
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(1)
            correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in batches)
        mistakes.append((100 * correct / sum(sizes), HINT_EVAL_MODE))
    if all(n == 10 for n in sizes):  # argmax over the images gives 10 answers too
        model = setup.model().eval()
        with torch.no_grad():
            correct = sum(int((model(x).argmax(0) == y).sum()) for x, y in batches)
        mistakes.append((100 * correct / sum(sizes), HINT_ARGMAX))
    return mistakes


def _judge_accuracy(fn: Callable, setup: _TestSetup) -> CaseResult:
    modes: list[bool] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        try:
            answer = _recording_modes(fn, modes)(setup.model(), _once(setup.batches()))
        except RuntimeError as error:
            if "must match the size of tensor" in str(error):
                raise RuntimeError(f"{error}\nHint: {HINT_ARGMAX}") from None
            raise
    expected = setup.accuracy()
    accuracy, problem = _number(answer, "the accuracy in percent")
    if isinstance(answer, tuple):
        problem += " (not the pair (correct, total): compute 100 * correct / total)"
    if problem:
        return CaseResult(setup.name, False, problem)
    if _close(accuracy, expected):
        return CaseResult(setup.name, True, f"{accuracy:.2f} %")
    hint = next((hint for value, hint in _accuracy_mistakes(setup) if _close(accuracy, value)), "")
    if not hint and any(modes):
        hint = HINT_EVAL_MODE
    return CaseResult(setup.name, False, f"returned {accuracy:.4g}, expected {expected:.4g} "
                                         f"({sum(setup.right)} of {sum(setup.sizes)} right)"
                      + (f"\nHint: {hint}" if hint else ""))


TEST_SETUPS = (
    _TestSetup("two batches of 10 (10 classes: argmax over the right axis)", (10, 10), (7, 4)),
    _TestSetup("a smaller last batch (10, 10, 3): every example counts the same", (10, 10, 3),
               (9, 5, 1)),
    _TestSetup("a model with dropout, handed over in training mode", (10, 10, 10), (8, 6, 3),
               training=True),
    _TestSetup("batches of 7, 7 and 6", (7, 7, 6), (7, 0, 6)),
    _TestSetup("one batch, all right", (9,), (9,)),
)


def check_evaluate(fn: Callable, *, time_limit: float | None = TIME_LIMIT) -> CheckReport:
    """Check ``fn(model, batches) -> float``, the test accuracy in percent over all the batches'
    examples with the model in evaluation mode, on 5 cases; each case is stopped after
    ``time_limit`` seconds (None: no limit)."""
    return _check_setups("check_evaluate", "fn(model, batches)", _judge_accuracy, fn, TEST_SETUPS,
                         time_limit, "All cases agree with the reference accuracy. Well done!")
