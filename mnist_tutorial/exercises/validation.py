"""Checker for the validation-split exercise (notebook 08): the learner's
``fn(split, validation_size, seed) -> (train, validation)`` on made-up splits whose every image
holds its own index, so the checker can tell which example went where.

Only the learner's calls are timed; the course's own splitting helpers
(``mnist_tutorial.data.train_validation_split``, ``balanced_subset_indices``) are refused while
they run, and a function that changes the split it is given in place fails the case."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from mnist_tutorial import data as course
from mnist_tutorial.data import TensorSplit

from .core import (
    TIME_LIMIT,
    CaseResult,
    CheckReport,
    Forbidden,
    _changed,
    _check_arguments,
    _guarded,
    _named_arguments,
    _session,
    _snapshot,
)

# examples of each digit in MNIST's training set (the tests check them against the files)
MNIST_TRAIN_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
SPREAD = 6  # a class's validation count may be this many standard deviations off its share
VERDICT = ("All cases passed: right sizes, no overlap, nothing lost, reproducible, balanced. "
           "Well done!")
RANDPERM_CODE = "order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))"
FORBIDDEN = Forbidden(functions=(course.train_validation_split, course.balanced_subset_indices),
                      task="split the data yourself")


class _Wrong(Exception):
    """What is wrong with an answer: the case's message."""


def made_up_split(counts: tuple[int, ...], shuffled: bool, seed: int = 0) -> TensorSplit:
    """``counts[c]`` examples of class c, in class order or shuffled; image i is 2x2 and holds i."""
    labels = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    if shuffled:
        labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))]
    images = torch.arange(len(labels), dtype=torch.float32).view(-1, 1, 1, 1).repeat(1, 1, 2, 2)
    return TensorSplit(images, labels)


def _ids(part: object, which: str, split: TensorSplit) -> torch.Tensor:
    """Which examples of ``split`` a returned part holds (their indices)."""
    images, labels = getattr(part, "images", None), getattr(part, "labels", None)
    if not (isinstance(images, torch.Tensor) and isinstance(labels, torch.Tensor)):
        raise _Wrong(f"the {which} part is an object of type {type(part).__name__}: return "
                     f"TensorSplit objects, e.g. TensorSplit(split.images[index], "
                     f"split.labels[index])")
    if len(images) != len(labels):
        raise _Wrong(f"the {which} part has {len(images):,} images but {len(labels):,} labels: "
                     f"index images and labels with the same indices")
    if images.shape[1:] != split.images.shape[1:]:
        raise _Wrong(f"the {which} part's images have shape {tuple(images.shape[1:])}, the "
                     f"data's {tuple(split.images.shape[1:])}: return the examples as they are")
    first = images.detach().cpu().reshape(len(images), -1)[:, 0].double()
    ids = first.long()
    if not (torch.equal(ids.double(), first) and bool(((ids >= 0) & (ids < len(split))).all())
            and torch.equal(images.detach().cpu().float(), split.images[ids])):
        raise _Wrong(f"the {which} part holds images that are not in the data: return the "
                     f"examples unchanged (pick them by index, do not compute new images)")
    if not torch.equal(labels.detach().cpu().long(), split.labels[ids]):
        raise _Wrong(f"in the {which} part, images and labels no longer belong together: index "
                     f"split.images and split.labels with the same indices")
    return ids


def _first_or_last(validation: torch.Tensor, n: int) -> str:
    """A hint when the validation part is the first or the last examples of the data, else ""."""
    v, chosen = len(validation), validation.sort().values
    if torch.equal(chosen, torch.arange(v)):
        return (f"your validation part is the first {v:,} examples: without shuffling it "
                f"inherits the data's order (sorted data: only the first classes). ")
    if torch.equal(chosen, torch.arange(n - v, n)):
        return (f"your validation part is the last {v:,} examples: without shuffling it "
                f"inherits the data's order (sorted data: only the last classes). ")
    return ""


def _parts(answer: object, split: TensorSplit, validation_size: int
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """The indices of ``(train, validation)``, after checking sizes, pairs and overlap."""
    if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
        raise _Wrong(f"returned an object of type {type(answer).__name__}: return a pair "
                     f"(train, validation) of TensorSplit objects")
    train, validation = (_ids(part, which, split) for part, which in
                         zip(answer, ("training (first)", "validation (second)")))
    n, v, classes = len(split), validation_size, len(split.labels.unique())
    sizes = (f"expected {n - v:,} training and {v:,} validation examples, got {len(train):,} "
             f"and {len(validation):,}")
    if (len(train), len(validation)) == (v, n - v) and v != n - v:
        raise _Wrong(f"{sizes}\nHint: did you return (validation, train)? The training part "
                     f"comes first")
    if (len(train), len(validation)) != (n - v, v):
        if len(validation) != v and abs(len(validation) - v) < classes:
            hint = ("if you take a share of every class, the per-class counts must add up to "
                    "validation_size exactly: round them down, then give the examples left over "
                    "to some of the classes")
        elif len(train) + len(validation) != n:
            hint = f"the two parts together must hold all {n:,} examples, each once"
        else:
            hint = "the validation part has validation_size examples, the training part the rest"
        raise _Wrong(f"{sizes}\nHint: {hint}")
    for ids, which in ((train, "training"), (validation, "validation")):
        repeated = len(ids) - len(ids.unique())
        if repeated:
            raise _Wrong(f"{repeated:,} examples appear more than once in the {which} part, so "
                         f"others are missing\nHint: draw without putting back: one permutation "
                         f"(torch.randperm), not torch.randint")
    shared = len(train) + len(validation) - len(torch.cat([train, validation]).unique())
    if shared:
        raise _Wrong(f"{shared:,} examples are in both parts (and as many in neither): the "
                     f"validation score would be measured on images the network trained on\n"
                     f"Hint: take both parts from one permutation: order[:validation_size] and "
                     f"order[validation_size:]")
    return train, validation


def _check_balance(split: TensorSplit, validation: torch.Tensor) -> None:
    """Every class's share of the validation part is close to its share of the data."""
    n, v = len(split), len(validation)
    counts = torch.bincount(split.labels)
    chosen = torch.bincount(split.labels[validation], minlength=len(counts))
    for label, (total, got) in enumerate(zip(counts.tolist(), chosen.tolist())):
        expected = v * total / n  # hypergeometric mean and standard deviation
        spread = math.sqrt(v * (total / n) * (1 - total / n) * (n - v) / max(n - 1, 1))
        if abs(got - expected) > SPREAD * spread + 1:
            raise _Wrong(f"class {label} has {got:,} of the {v:,} validation examples "
                         f"({got / v:.1%}) but {total / n:.1%} of the data: expected about "
                         f"{expected:,.0f}\nHint: {_first_or_last(validation, n)}"
                         f"A shuffled (or per-class) choice keeps every class's share")


def _single(split: Callable[[], TensorSplit], validation_size: int, seed: int,
            balance: bool) -> tuple[Callable, Callable]:
    """``(call, judge)`` for one call of the learner's function."""
    data = split()

    def call(run: Callable) -> object:
        return run(split(), validation_size, seed)

    def judge(answer: object) -> tuple[bool, str]:
        try:
            train, validation = _parts(answer, data, validation_size)
            if balance:
                _check_balance(data, validation)
        except _Wrong as wrong:
            return False, str(wrong)
        return True, f"{len(train):,} + {len(validation):,} examples"
    return call, judge


def _twice(split: Callable[[], TensorSplit], validation_size: int, seeds: tuple[int, int]
           ) -> tuple[Callable, Callable]:
    """``(call, judge)`` for two calls: the same seed must give the same split, two seeds two."""
    data = split()
    same = seeds[0] == seeds[1]

    def call(run: Callable) -> object:
        return [run(split(), validation_size, seed) for seed in seeds]

    def judge(answers: object) -> tuple[bool, str]:
        try:
            first, second = (_parts(answer, data, validation_size)[1] for answer in answers)
        except _Wrong as wrong:
            return False, str(wrong)
        equal = torch.equal(first.sort().values, second.sort().values)
        if same and not equal:
            return False, (f"seed {seeds[0]} twice gave two different validation parts\nHint: "
                           f"without a generator, torch.randperm uses PyTorch's global random "
                           f"numbers, which move on after every call. Make the random order "
                           f"from the seed: {RANDPERM_CODE}")
        if not same and equal:
            return False, (f"seeds {seeds[0]} and {seeds[1]} gave the same validation part\n"
                           f"Hint: {_first_or_last(first, len(data))}Make the random order "
                           f"from the seed argument, so that another seed gives another order, "
                           f"e.g. {RANDPERM_CODE}")
        return True, "the same seed, the same split" if same else "two seeds, two splits"
    return call, judge


SLOW_HINT = ("Or a search that is too slow rather than endless: `i not in part` on a list or a "
             "tensor looks through all of it for every i (60,000 x 10,000 times for MNIST's "
             "sizes); use a set, or take both parts from one permutation")


class _SplitChanged(Exception):
    """The learner's function changed the split it was given: the case's message."""


def _changed_split_message(call_text: str, name: str) -> str:
    return (f"{call_text} changed {name} in place (e.g. with {name}[...] = ..., += or a method "
            f"ending in _): that would also change the caller's data, the training set itself. "
            f"Pick the examples by index instead ({name}[index] is a new tensor) and leave the "
            f"split you are given as it is")


def check_validation_split(fn: Callable, *,
                           time_limit: float | None = TIME_LIMIT) -> CheckReport:
    """Check ``fn(split, validation_size, seed) -> (train, validation)`` (TensorSplits) on 6
    cases: sizes, no overlap, nothing lost, images kept with their labels, the same split for
    the same seed and another for another seed, and every class's share kept. Each call is
    stopped after ``time_limit`` seconds (None: no limit); the course's splitting helpers are
    refused while it runs, and so is a change to the split it is given."""
    _check_arguments(fn, time_limit)
    tenth = tuple(round(count / 10) for count in MNIST_TRAIN_COUNTS)
    cases = [
        ("20 of 100 examples: sizes, no overlap, nothing lost",
         "fn(split, 20, 0)", _single(lambda: made_up_split((10,) * 10, True), 20, 0, False)),
        ("classes stored in order (all the 0s first): every class keeps its share",
         "fn(split, 1000, 1)", _single(lambda: made_up_split(tenth, False), 1000, 1, True)),
        ("the same seed twice gives the same split",
         "fn(split, 1000, 7) twice", _twice(lambda: made_up_split(tenth, True), 1000, (7, 7))),
        ("two seeds give two different splits",
         "fn(split, 1000, 1) and fn(split, 1000, 2)",
         _twice(lambda: made_up_split(tenth, True), 1000, (1, 2))),
        ("1,005 for validation: not a multiple of the 10 classes",
         "fn(split, 1005, 3)", _single(lambda: made_up_split(tenth, True, 1), 1005, 3, True)),
        ("MNIST's sizes: 60,000 -> 50,000 training + 10,000 validation",
         "fn(split, 10000, 0)",
         _single(lambda: made_up_split(MNIST_TRAIN_COUNTS, True, 2), 10_000, 0, True)),
    ]
    with _session(time_limit, FORBIDDEN) as session:
        learner = session.learner(fn, watch_inputs=False)  # the split: checked in watched()

        def watched(split: TensorSplit, validation_size: int, seed: int) -> object:
            before = _snapshot(_named_arguments(fn, (split, validation_size, seed), {}))
            answer = learner(split, validation_size, seed)
            changed = _changed(before)
            if changed:
                raise _SplitChanged(changed)
            return answer

        results = []
        for name, call_text, (call, judge) in cases:
            def run(name=name, call_text=call_text, call=call, judge=judge) -> CaseResult:
                try:
                    answer = call(watched)
                except _SplitChanged as change:
                    return CaseResult(name, False, _changed_split_message(call_text, str(change)))
                return CaseResult(name, *judge(answer))
            result = _guarded(name, call_text, run, time_limit)
            if f"{call_text} did not finish within" in result.message:
                result = CaseResult(name, False, f"{result.message}\n{SLOW_HINT}")
            results.append(result)
    return CheckReport("check_validation_split", tuple(results), VERDICT)
