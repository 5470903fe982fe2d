"""Checkers for notebook 05's exercises: the learner's training epoch and test accuracy, run on a
tiny fixed model and data set and compared with the course's reference loop.

``check_train_epoch(fn)`` runs ``fn(model, batches, optimizer)`` from a fixed model and optimizer
state and compares the weights it leaves and the loss it returns with the blog post's loop;
``check_evaluate(fn)`` compares ``fn(model, batches)`` with the accuracy in percent. While the
learner's function runs, the checker watches what it does with what it was given: the model's
mode and whether a graph is recorded in every forward pass, which optimizer takes the steps,
whether a batch's graph stays alive after its step, whether the weights or the batches change.
When the learner's numbers equal what a common mistake gives (no ``zero_grad``, ``step`` before
``backward``, a softmax before the loss, ``NLLLoss`` on raw scores, ``reduction="sum"``, the wrong
mode, the mean of batch means...), the message names it. Only the learner's call is timed; the
course's own training and accuracy functions are refused while it runs.
"""

from __future__ import annotations

import gc
import math
import numbers
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from mnist_tutorial import backprop, evaluation
from mnist_tutorial import training as course_training
from mnist_tutorial.config import one_thread

from .core import (
    TIME_LIMIT,
    CaseResult,
    CheckReport,
    Forbidden,
    _attempt,
    _check_arguments,
    _session,
)

Batch = tuple[torch.Tensor, torch.Tensor]
# relative tolerances, for float32 numbers that the learner's code computes in another order
WEIGHT_TOLERANCE = 1e-4  # the weights an epoch leaves
RESULT_TOLERANCE = 1e-4  # the mean loss or the accuracy a function returns
HINT_ZERO_GRAD = ("no optimizer.zero_grad()? Without it each batch's gradients are added to all "
                  "the previous ones (they pile up in .grad). Written without its parentheses, "
                  "optimizer.zero_grad does nothing")
HINT_STEP_FIRST = ("optimizer.step() before loss.backward()? The step uses the gradients that "
                   "backward puts in .grad, so the order is zero_grad, backward, then step "
                   "(zero_grad between backward and step wipes them too)")
HINT_SOFTMAX_BEFORE_LOSS = ("a softmax before the loss? CrossEntropyLoss takes the raw scores "
                            "model(images) and applies log-softmax itself (notebook 04)")
HINT_NLL_RAW = ("NLLLoss on the raw scores? NLLLoss expects log-probabilities: on raw scores it "
                "just pushes the right class's score up without limit. Use nn.CrossEntropyLoss() "
                "on the scores, which applies log-softmax itself")
HINT_SUM_REDUCTION = ('reduction="sum"? Then a batch\'s loss is the sum over its images, and its '
                      "gradient (so each step) is the batch size times too large: use the "
                      "default, nn.CrossEntropyLoss(), the mean over the batch")
HINT_TRAIN_MODE = ("the model stayed in evaluation mode: call model.train() at the start (with "
                   "its parentheses), so that dropout (and batch norm) behave as in training")
HINT_EVAL_MODE = ("the model stayed in training mode: call model.eval() at the start (with its "
                  "parentheses), so that dropout is switched off while testing")
HINT_NO_GRAD_CALL = ("torch.no_grad needs its parentheses in a with statement: "
                     "with torch.no_grad():")
HINT_ARGMAX_FLAT = ("argmax without dim? scores.argmax() is the position of the largest number "
                    "in the whole flattened batch: the predicted class of each image is the "
                    "position of the largest of its own ten scores, argmax along the class "
                    "dimension")
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
HINT_NO_BACKWARD = ("no gradients were computed: loss.backward() never ran (written without "
                    "its parentheses, loss.backward does nothing), so the steps had nothing to "
                    "go on")
HINT_UNPACK = ("each batch is a pair (images, labels): unpack it in the loop, for images, labels "
               "in ...; the model takes the images, the loss the scores and the labels")
HINT_LOSS_ORDER = ("the loss takes the model's scores first, then the labels: "
                   "criterion(model(images), labels)")
HINT_FLOAT_BACKWARD = ("backward on a Python float? loss.item() is only the number: call "
                       "loss.backward() on the loss tensor, and .item() for the number you add up")
HINT_NO_GRAPH = ("backward on a loss without a graph: was the forward pass run under "
                 "torch.no_grad(), or the loss detached? Training needs the graph; only the "
                 "number you add up is cut loose from it, with loss.item()")
HINT_DEVICE = ("the batch was moved to another device than the model's: leave the device moves "
               "out, as the exercise says (the checker's model and batches are on the CPU)")
HINT_ZERO_COUNT = ("a division by zero: the count of examples stayed 0. Add len(labels) to it "
                   "for every batch, inside the loop")
HINT_MAX_PAIR = ("torch.max(scores, dim) gives a pair (values, indices): the predicted classes "
                 "are the indices, torch.max(scores, 1)[1], or scores.argmax(dim=1)")
HINT_EXHAUSTED = ("the loop found no batches left: they can be looped over only once, and "
                  "something went through them before the loop (a list(...), a sum(...) or a "
                  "first loop that counts them). Count the examples inside the one loop, or "
                  "keep the batches with batches = list(train_batches) and loop over that")
HINT_OWN_OPTIMIZER = ("the steps were taken by another optimizer than the one your function is "
                      "given (one built inside the function, or one from elsewhere in the "
                      "notebook): step the optimizer argument, which was built for this model's "
                      "weights and keeps its state (momentum) from step to step")
HINT_NEW_OPTIMIZER = ("a new optimizer for every batch? Each new one starts without momentum "
                      "and with its own settings: build none, step the optimizer your function "
                      "is given")
HINT_GRAPH_KEPT = ("each batch's graph was still alive after its step: adding up the loss "
                   "tensors (total += loss), or keeping them or the scores in a list, holds on "
                   "to every batch's whole graph, and memory grows batch after batch. Add up "
                   "loss.item() (a Python float) instead")
HINT_DOUBLE_BACKWARD = ("backward through a graph that backward already went through: call "
                        "loss.backward() once per batch, on that batch's own loss (a running "
                        "total of loss tensors still holds the earlier batches' graphs)")
HINT_NO_GRAD = ("the forward passes recorded a graph: testing needs no gradients, so run them "
                "under torch.no_grad() (a with torch.no_grad(): block around the loop, or "
                "@torch.no_grad() above the def)")
HINT_TESTING_TRAINS = ("testing changed the model's weights: an accuracy must not train, so no "
                       "loss.backward() and no optimizer step on the test batches")
HINT_TESTING_STEPS = ("an optimizer took a step while testing: an accuracy must not train (that "
                      "optimizer's own model changed), so no optimizer at all in accuracy")
HINT_TESTING_BACKWARD = ("loss.backward() while testing? The accuracy needs no loss and no "
                         "gradients: count the images whose predicted class equals the label")


class _Marker:
    """Hangs on a forward pass's graph (as a hook that changes nothing) so that a weak reference
    to it says whether that graph is still alive; counts the backward passes through it."""

    def __init__(self, watch: _Watch) -> None:
        self.watch = watch

    def __call__(self, grad_outputs):
        self.watch.backwards += 1


@dataclass
class _Watch:
    """What the learner's code does with one case's model, optimizer and batches: hooks on the
    model and on every optimizer's step, and the batches handed out one at a time."""

    model: nn.Module
    optimizer: torch.optim.Optimizer | None
    batches: list[Batch]
    modes: list[bool] = field(default_factory=list)  # training mode of every forward pass
    grad_modes: list[bool] = field(default_factory=list)  # whether each one recorded a graph
    exhausted_before: int | None = None  # forward passes done when the batches ran out
    graphs: list[weakref.ref] = field(default_factory=list)  # one per forward that made a graph
    graph_kept: bool = False
    backwards: int = 0  # backward passes through a forward pass's graph
    steps: int = 0  # steps of the optimizer the learner was given
    others: list[torch.optim.Optimizer] = field(default_factory=list)  # other optimizers stepped
    _handles: list = field(default_factory=list)

    def iterator(self) -> Iterator[Batch]:
        """The batches, to be looped over once, like ``data.batches``."""
        yield from self.batches
        self.exhausted_before = len(self.modes)

    def _before_forward(self, module: nn.Module, inputs) -> None:
        self.modes.append(module.training)
        self.grad_modes.append(torch.is_grad_enabled())
        # the previous forward's graph may still be in the learner's variables; older ones not
        if not self.graph_kept and self._alive(self.graphs[:-1]):
            self.graph_kept = True

    def _after_forward(self, module: nn.Module, inputs, output) -> None:
        if isinstance(output, torch.Tensor) and output.grad_fn is not None:
            marker = _Marker(self)
            output.grad_fn.register_prehook(marker)
            self.graphs.append(weakref.ref(marker))

    @staticmethod
    def _alive(graphs: list[weakref.ref]) -> bool:
        if not any(graph() is not None for graph in graphs):
            return False
        gc.collect()  # a graph caught in a reference cycle is no leak
        return any(graph() is not None for graph in graphs)

    def _after_step(self, optimizer, args, kwargs) -> None:
        if optimizer is self.optimizer:
            self.steps += 1
        elif not any(optimizer is other for other in self.others):
            self.others.append(optimizer)

    def __enter__(self) -> _Watch:
        self._handles = [self.model.register_forward_pre_hook(self._before_forward),
                         self.model.register_forward_hook(self._after_forward),
                         register_optimizer_step_post_hook(self._after_step)]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()

    def finish(self) -> None:
        """After the call: a graph that outlived the learner's function was kept somewhere."""
        if not self.graph_kept and self._alive(self.graphs):
            self.graph_kept = True

    def changed_batch(self, fresh: list[Batch]) -> str:
        """A problem when the learner's code changed a batch's tensors in place, or ""."""
        for i, (batch, original) in enumerate(zip(self.batches, fresh), start=1):
            for what, tensor, before in zip(("images", "labels"), batch, original):
                if tensor.shape != before.shape or not torch.equal(tensor, before):
                    return (f"your function changed the {what} of batch {i} in place (e.g. with "
                            f"+=, /=, [...] = or a method ending in _): that would also change "
                            f"the data set the batches come from. Compute a new tensor instead "
                            f"(e.g. {what} = {what} / 2 rather than {what} /= 2)")
        return ""

    def too_few_forwards(self) -> str:
        """A hint when not every batch went through the model, or ""."""
        count = len(self.batches)
        if not self.modes and self.exhausted_before == 0:
            return HINT_EXHAUSTED
        if len(self.modes) < count:
            return (f"the model saw only {len(self.modes)} of the {count} batches: was one "
                    f"taken out before the loop (e.g. next(iter(...)) to look at the first "
                    f"batch)? Every batch must go through the model once")
        return ""


class _TorchNotImplemented(Exception):
    """A NotImplementedError that torch raised (e.g. log-softmax of whole numbers), which is not
    the skeleton's "not written yet"."""


def _learner_call(learner: Callable, *args) -> object:
    """``learner(*args)``, with torch's own NotImplementedError told apart from the skeleton's."""
    try:
        return learner(*args)
    except NotImplementedError as error:
        if "not implemented for" in str(error):
            raise _TorchNotImplemented(str(error)) from None
        raise


def _warm_up() -> None:
    """Build and step one throwaway optimizer: the first optimizer a process builds imports
    torch._dynamo (a second or two), which must happen before any timed call of the learner's."""
    weight = nn.Parameter(torch.zeros(1))
    weight.grad = torch.zeros(1)
    torch.optim.SGD([weight], lr=0.1, momentum=0.5).step()


def _raised(error: BaseException, name: str, call_text: str, watch: _Watch | None
            ) -> CaseResult | None:
    """A failed case with a hint, for an exception a common mistake raises; None: the usual
    message."""
    text = str(error)
    hint = ""
    if watch is not None and not watch.modes and watch.exhausted_before == 0:
        hint = HINT_EXHAUSTED
    elif isinstance(error, TypeError) and "has no len()" in text:
        hint = HINT_LEN
    elif isinstance(error, ZeroDivisionError):
        hint = HINT_ZERO_COUNT
    elif isinstance(error, AttributeError) and "'float' object has no attribute 'backward'" in text:
        hint = HINT_FLOAT_BACKWARD
    elif isinstance(error, AttributeError) and "'bool' object has no attribute" in text:
        hint = HINT_MAX_PAIR
    elif "values to unpack" in text or ("not tuple" in text or "not list" in text
                                        or "got (tuple" in text or "got (list" in text):
        hint = HINT_UNPACK
    elif "Expected all tensors to be on the same device" in text:
        hint = HINT_DEVICE
    elif ("Expected floating point type for target" in text
          or "expected scalar type Long but found Float" in text
          or isinstance(error, _TorchNotImplemented) and "'Long'" in text):
        hint = HINT_LOSS_ORDER
    elif "modified by an inplace operation" in text:  # backward after step changed the weights
        hint = HINT_STEP_FIRST
        text = text.split(". Hint")[0]
    elif "backward through the graph a second time" in text:
        hint = HINT_DOUBLE_BACKWARD
        text = text.split(". Specify")[0]
    elif "does not require grad and does not have a grad_fn" in text and watch is not None:
        hint = HINT_TESTING_BACKWARD if watch.optimizer is None else HINT_NO_GRAPH
    elif "must match the size of tensor" in text:
        hint = HINT_ARGMAX
    elif "does not support the context manager protocol" in text:
        hint = HINT_NO_GRAD_CALL
    if not hint:
        return None
    kind = ("NotImplementedError" if isinstance(error, _TorchNotImplemented)
            else type(error).__name__)
    return CaseResult(name, False, f"{call_text} raised {kind}: {text}\nHint: {hint}")


def _run_case(name: str, call_text: str, run: Callable[[list], CaseResult],
              time_limit: float | None) -> CaseResult:
    """``run(holder)`` as one guarded case on one PyTorch thread; ``run`` puts its watch in
    ``holder`` so that an exception's hint can see what the learner's code did."""
    holder: list[_Watch] = []
    with one_thread():
        return _attempt(name, call_text, lambda: run(holder), lambda verdict: verdict,
                        time_limit, answer="a Python float",
                        raised=lambda error: _raised(error, name, call_text,
                                                     holder[0] if holder else None))


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


# check_train_epoch -------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class _Result:
    """What an epoch left behind: the weights and the returned loss (or what was returned)."""

    weights: list[torch.Tensor]
    answer: object


LOSSES = {
    "": lambda scores, labels: F.cross_entropy(scores, labels),
    "softmax": lambda scores, labels: F.cross_entropy(scores.softmax(dim=1), labels),
    "softmax, NLLLoss": lambda scores, labels: F.nll_loss(scores.softmax(dim=1), labels),
    "NLLLoss on raw scores": lambda scores, labels: F.nll_loss(scores, labels),
    "reduction sum": lambda scores, labels: F.cross_entropy(scores, labels, reduction="sum"),
}


def _reference_epoch(model: nn.Module, batches: list[Batch], optimizer: torch.optim.Optimizer,
                     mistake: str = "") -> float:
    """The blog post's loop, or that loop with one named mistake built in; returns the mean loss
    over the examples (or what the mistake returns)."""
    loss_of = LOSSES.get(mistake, LOSSES[""])
    if mistake != "eval mode":
        model.train()
    total, count, means = 0.0, 0, []
    for images, labels in batches:
        loss = loss_of(model(images), labels)
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
    if mistake == "per batch":
        return total / len(means)
    if mistake == "means over examples":
        return sum(means) / count
    return total / count


def _reference(setup: _Setup, mistake: str = "") -> _Result:
    """The reference loop (with ``mistake`` built in) from the case's fixed start."""
    model = setup.model()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)  # the same dropout masks as the learner's run
        answer = _reference_epoch(model, setup.batches(), setup.optimizer(model), mistake)
    return _Result([p.detach().clone() for p in model.parameters()], answer)


# what the learner's code may not call: the course's own epochs and accuracies, this module's too
COURSE_FUNCTIONS = (course_training.train_epoch, course_training.train_epoch_logged,
                    course_training.fit, course_training.evaluate, backprop.train_epoch_by_hand,
                    evaluation.predict, evaluation.shifted_accuracy, _reference_epoch)
EPOCH_FORBIDDEN = Forbidden(functions=COURSE_FUNCTIONS, task="write the training epoch yourself")
ACCURACY_FORBIDDEN = Forbidden(functions=COURSE_FUNCTIONS, task="compute the accuracy yourself")
EPOCH_MISTAKES = (("no zero_grad", HINT_ZERO_GRAD), ("softmax", HINT_SOFTMAX_BEFORE_LOSS),
                  ("softmax, NLLLoss", HINT_SOFTMAX_BEFORE_LOSS),
                  ("NLLLoss on raw scores", HINT_NLL_RAW), ("reduction sum", HINT_SUM_REDUCTION),
                  ("eval mode", HINT_TRAIN_MODE))
LOSS_MISTAKES = (("batch means", HINT_BATCH_MEANS),
                 ("sum", "the sum of the batch losses? Divide by the number of examples"),
                 ("per batch", "divided by the number of batches? The mean is over the "
                               "examples: divide by the number of examples"),
                 ("means over examples", "the batch means added up, then divided by the number "
                                         "of examples? A batch's loss is the mean over its "
                                         "images: multiply it by len(labels) before adding it"))


def _weights_hint(watch: _Watch, weights: list[torch.Tensor], setup: _Setup) -> str:
    """What most likely made the epoch's weights differ from the reference's."""
    hint = watch.too_few_forwards()
    if hint:
        return hint
    if watch.backwards == 0:
        return HINT_NO_BACKWARD
    if watch.steps == 0 and watch.others:
        return HINT_NEW_OPTIMIZER if len(watch.others) > 1 else HINT_OWN_OPTIMIZER
    if watch.steps != len(setup.sizes):
        return (f"the optimizer took {watch.steps} steps for {len(setup.sizes)} batches: one "
                f"step per batch, on that batch's loss (written without its parentheses, "
                f"optimizer.step does nothing)")
    start = [p.detach() for p in setup.model().parameters()]
    if _same_weights(weights, start):
        return HINT_STEP_FIRST
    hint = next((hint for mistake, hint in EPOCH_MISTAKES
                 if _same_weights(weights, _reference(setup, mistake).weights)), "")
    if not hint and not all(watch.modes):
        hint = HINT_TRAIN_MODE
    return hint or ("compare with the blog post's loop: for every batch zero_grad, forward, "
                    "loss, backward, step")


def _judge_epoch(learner: Callable, setup: _Setup, holder: list) -> CaseResult:
    """Run the learner's epoch from the case's fixed start and compare with the reference."""
    model = setup.model()
    optimizer = setup.optimizer(model)
    watch = _Watch(model, optimizer, setup.batches())
    holder.append(watch)
    with torch.random.fork_rng(devices=[]), watch:
        torch.manual_seed(1)  # the same dropout masks for every run
        answer = _learner_call(learner, model, watch.iterator(), optimizer)
    watch.finish()
    expected = _reference(setup)
    weights = [p.detach().clone() for p in model.parameters()]
    changed = watch.changed_batch(setup.batches())
    problems = [changed] if changed else []
    if not _same_weights(weights, expected.weights):
        difference = max((a - b).abs().max().item() for a, b in zip(weights, expected.weights))
        hint = "" if changed else f"\nHint: {_weights_hint(watch, weights, setup)}"
        problems.append(f"the weights after the epoch differ from the reference loop's by up to "
                        f"{difference:.3g}{hint}")
    elif watch.steps == 0 and watch.others:  # right weights from an optimizer of its own
        problems.append(f"the right weights, but not from the optimizer it was given\n"
                        f"Hint: {HINT_OWN_OPTIMIZER}")
    loss, problem = _number(answer, "the mean loss over the epoch's examples")
    if problem:
        problems.append(problem)
    elif not _close(loss, expected.answer):
        hint = next((hint for mistake, hint in LOSS_MISTAKES
                     if _close(loss, _reference(setup, mistake).answer)), "")
        problems.append(f"returned the loss {loss:.6f}, expected {expected.answer:.6f} (the mean "
                        f"over the examples)" + (f"\nHint: {hint}" if hint else ""))
    if watch.graph_kept:
        problems.append(f"the loss is right, but memory would grow: {HINT_GRAPH_KEPT}"
                        if not problems else f"Hint: {HINT_GRAPH_KEPT}")
    if problems:
        return CaseResult(setup.name, False, "\n".join(problems))
    return CaseResult(setup.name, True, f"same weights as the reference loop, mean loss "
                                        f"{loss:.4f}")


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
    loss weighted by its size), on 5 cases. Each call of ``fn`` is stopped after ``time_limit``
    seconds (None: no limit; after one call runs out of time the remaining cases are skipped).
    ``fn`` must step the optimizer it is given, in training mode, keep no batch's graph alive
    after its step and leave the batches as they are; the course's own training functions are
    refused."""
    _check_arguments(fn, time_limit)
    _warm_up()
    call_text = "fn(model, batches, optimizer)"
    with _session(time_limit, EPOCH_FORBIDDEN) as session:
        learner = session.learner(fn, watch_inputs=False)  # the model and optimizer must change
        results = tuple(
            _run_case(setup.name, call_text, partial(_judge_epoch, learner, setup), time_limit)
            for setup in EPOCH_SETUPS)
    return CheckReport("check_train_epoch", results,
                       "All cases agree with the reference training loop. Well done!")


# check_evaluate ----------------------------------------------------------------------------------

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
                                    "examples and multiply by 100"),
                (float(100 * sum(right) // sum(sizes)), "// rounds down to a whole number: use "
                                                        "/ for the percentage")]
    if setup.training:
        model = setup.model()
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(1)
            correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in batches)
        mistakes.append((100 * correct / sum(sizes), HINT_EVAL_MODE))
    model = setup.model().eval()
    with torch.no_grad():
        correct = sum(int((model(x).argmax() == y).sum()) for x, y in batches)
    mistakes.append((100 * correct / sum(sizes), HINT_ARGMAX_FLAT))
    if all(n == 10 for n in sizes):  # argmax over the images gives 10 answers too
        model = setup.model().eval()
        with torch.no_grad():
            correct = sum(int((model(x).argmax(0) == y).sum()) for x, y in batches)
        mistakes.append((100 * correct / sum(sizes), HINT_ARGMAX))
    return mistakes


def _judge_accuracy(learner: Callable, setup: _TestSetup, holder: list) -> CaseResult:
    """Run the learner's accuracy on the case's model and batches and compare."""
    model = setup.model()
    before = [t.detach().clone() for t in model.state_dict().values()]
    watch = _Watch(model, None, setup.batches())
    holder.append(watch)
    with torch.random.fork_rng(devices=[]), watch:
        torch.manual_seed(1)
        answer = _learner_call(learner, model, watch.iterator())
    expected = setup.accuracy()
    accuracy, problem = _number(answer, "the accuracy in percent")
    if isinstance(answer, tuple):
        problem += " (not the pair (correct, total): compute 100 * correct / total)"
    problems = [problem] if problem else []
    hint = ""
    if not problem and not _close(accuracy, expected):
        hint = watch.too_few_forwards() or next(
            (hint for value, hint in _accuracy_mistakes(setup) if _close(accuracy, value)), "")
        if not hint and any(watch.modes):
            hint = HINT_EVAL_MODE
        problems.append(f"returned {accuracy:.4g}, expected {expected:.4g} ({sum(setup.right)} "
                        f"of {sum(setup.sizes)} right)" + (f"\nHint: {hint}" if hint else ""))
    if any(watch.modes) and hint != HINT_EVAL_MODE:  # the text asks for evaluation mode
        problems.append(f"a forward pass ran in training mode\nHint: {HINT_EVAL_MODE}")
    if any(watch.grad_modes):
        problems.append(f"a forward pass ran with gradients on\nHint: {HINT_NO_GRAD}")
    if not all(torch.equal(a, b) for a, b in zip(before, model.state_dict().values())):
        problems.append(f"Hint: {HINT_TESTING_TRAINS}")
    elif watch.others:
        problems.append(f"Hint: {HINT_TESTING_STEPS}")
    changed = watch.changed_batch(setup.batches())
    if changed:
        problems.insert(0, changed)
    if problems:
        return CaseResult(setup.name, False, "\n".join(problems))
    return CaseResult(setup.name, True, f"{accuracy:.2f} %")


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
    examples with the model in evaluation mode and no graph recorded (``torch.no_grad()``), on 5
    cases; the weights and the batches must stay as they are. Each call of ``fn`` is stopped
    after ``time_limit`` seconds (None: no limit; after one call runs out of time the remaining
    cases are skipped); the course's own accuracy functions are refused."""
    _check_arguments(fn, time_limit)
    _warm_up()
    call_text = "fn(model, batches)"
    with _session(time_limit, ACCURACY_FORBIDDEN) as session:
        learner = session.learner(fn, watch_inputs=False)  # checked here: weights and batches
        results = tuple(
            _run_case(setup.name, call_text, partial(_judge_accuracy, learner, setup), time_limit)
            for setup in TEST_SETUPS)
    return CheckReport("check_evaluate", results,
                       "All cases agree with the reference accuracy. Well done!")
