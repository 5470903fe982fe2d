"""Checkers for the output-size exercises (notebook 02): first the learner's predicted sizes for
a few settings (``check_size_predictions``), then the learner's ``fn(size, kernel, padding=0,
stride=1)`` against ``ops.conv_output_size``, kernels that do not fit (a ValueError) included
(``check_conv_output_size``). The function is checked as the learner's own work: computing the
size by running a convolution, a pooling or ``unfold`` on a dummy tensor (torch's, or numpy's and
scipy's windows and convolutions), or calling the course's own size functions, fails the case."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .. import op_checks, ops, padding
from ..checks import is_integer
from ..ops import conv_output_size
from .convolution import LIBRARY_WINDOWS
from .core import (
    TIME_LIMIT,
    CaseResult,
    CheckReport,
    Forbidden,
    _attempt,
    _check_arguments,
    _session,
    _text,
)

FORMULA_HINT = ("count the window's start positions 0, stride, 2 * stride, ... up to "
                "size + 2 * padding - kernel, the last start where the window still fits")
DOES_NOT_FIT = ("no window fits, so there is no output size: raise ValueError, e.g. "
                "raise ValueError(\"the kernel is larger than the padded input\")")

# what the learner's size function may not call: every torch op that computes an output size
# from a dummy tensor, and the course's own functions that compute one
FORBIDDEN = Forbidden(
    torch_names=frozenset({
        "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
        "convolution", "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
        "max_pool2d_with_indices", "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d",
        "avg_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d", "unfold", "fold"}),
    functions=(ops.conv_output_size, ops.conv_output_size.__wrapped__,
               op_checks._checked_output_size, padding.window_positions, padding.coverage_counts,
               ops.conv2d, ops.conv2d_loops, ops.max_pool2d, ops.avg_pool2d, ops.pool2d_loops,
               ops.max_pool2d_loops, ops.avg_pool2d_loops),
    task="count the window positions yourself, from the four numbers",
    library_functions=LIBRARY_WINDOWS)


@dataclass(frozen=True)
class _SizeCase:
    """One setting and its answer: a size, or None where no window fits."""

    name: str
    size: int
    kernel: int
    padding: int = 0
    stride: int = 1

    @property
    def options(self) -> dict[str, int]:
        """The keyword arguments that differ from their defaults (padding=0, stride=1)."""
        return {name: value for name, value, default in
                (("padding", self.padding, 0), ("stride", self.stride, 1)) if value != default}

    @property
    def call(self) -> str:
        """How the case calls the learner's function, e.g. ``fn(8, 3, stride=2)``."""
        options = [f"{name}={value}" for name, value in self.options.items()]
        return f"fn({', '.join([str(self.size), str(self.kernel), *options])})"

    @property
    def padded(self) -> int:
        """The length of the padded input."""
        return self.size + 2 * self.padding

    @property
    def expected(self) -> int | None:
        """The right output size (ops.conv_output_size), or None where no window fits."""
        try:
            return conv_output_size(self.size, self.kernel, self.padding, self.stride)
        except ValueError:
            return None

    def mistakes(self) -> list[tuple[str, int]]:
        """What each common mistake answers, with the hint that names it."""
        n, k, p, s = self.size, self.kernel, self.padding, self.stride
        return [
            ("did you forget the + 1 (or put it inside the division)? the first window comes "
             "before any jump; only the room left for jumps, size + 2 * padding - kernel, is "
             "divided by the stride", (n + 2 * p - k) // s),
            ("did you round up (or to the nearest number)? the floor (//) drops the columns too "
             "few for another jump: the window never visits them",
             math.ceil((n + 2 * p - k) / s) + 1),
            (f"is the padding counted once? padding={p} adds {p} columns on EACH side, "
             f"2 * padding in all", (n + p - k) // s + 1),
            (f"did you forget the padding? the window slides over the padded input, "
             f"size + 2 * padding = {n + 2 * p} long", (n - k) // s + 1),
            (f"did you ignore the stride? the window jumps stride={s} pixels at each step",
             n + 2 * p - k + 1),
            (f"did you multiply by the stride? each jump moves the window stride={s} pixels "
             f"further, so the room for jumps holds fewer of them: divide",
             (n + 2 * p - k) * s + 1),
        ]


CASES = [
    _SizeCase("the blog post's conv1: 28x28 digit, 5x5 kernel", 28, 5),
    _SizeCase("the blog post's conv2: 12x12 maps, 5x5 kernel", 12, 5),
    _SizeCase("'same' padding: 28x28, 5x5 kernel, padding 2", 28, 5, padding=2),
    _SizeCase("stride 2 that divides evenly", 7, 3, padding=1, stride=2),
    _SizeCase("stride 2 that does not divide: the last column is skipped", 8, 3, stride=2),
    _SizeCase("stride 3 that does not divide, with padding", 10, 4, padding=2, stride=3),
    _SizeCase("stride 3, kernel 2: the columns between windows are skipped", 7, 2, stride=3),
    _SizeCase("padding larger than the kernel", 4, 3, padding=5),
    _SizeCase("kernel as large as the input: one position", 5, 5),
    _SizeCase("kernel larger than the input, but padding makes it fit", 4, 7, padding=2),
    _SizeCase("kernel larger than the input: ValueError", 4, 7),
    _SizeCase("kernel larger than the padded input: ValueError", 4, 7, padding=1),
    _SizeCase("kernel larger than the input, stride 2: ValueError", 3, 5, stride=2),
]


# --- the predictions: output sizes worked out by hand, before any formula ------------------------

def _key(size: int, kernel: int, padding: int, stride: int) -> str:
    return f"size {size}, kernel {kernel}, padding {padding}, stride {stride}"


PREDICTIONS = [_SizeCase(_key(*setting), *setting) for setting in
               [(28, 5, 0, 1), (28, 5, 2, 1), (8, 3, 0, 2), (7, 2, 0, 3), (7, 3, 1, 2),
                (4, 7, 0, 1), (4, 7, 2, 1)]]


def _prediction_mistakes(case: _SizeCase) -> list[tuple[str, int]]:
    """What each common slip predicts for ``case``, with a hint in terms of counting windows."""
    n, k, p, s = case.size, case.kernel, case.padding, case.stride
    room = case.padded - k
    mistakes = [
        ("you may have counted the jumps, not the windows: the first window stands at the very "
         "start, before any jump; count it too", room // s),
        ("a window counts only where it fits entirely: the columns too few for one more jump "
         "are never visited (round down, not up)", math.ceil(room / s) + 1),
    ]
    mistakes.append((f"that counts every column of the {'padded ' if p else ''}row as a start, "
                     f"but a window starting in the last {k - 1} column(s) would stick out of it",
                     case.padded))
    if p:
        mistakes += [
            (f"padding {p} adds {p} columns on EACH side: the padded row is {n} + 2 x {p} = "
             f"{case.padded} long", (n + p - k) // s + 1),
            (f"the window also slides over the padding: the padded row is {n} + 2 x {p} = "
             f"{case.padded} long", (n - k) // s + 1),
        ]
    if s > 1:
        mistakes.append((f"the window jumps {s} columns at each step: only every {s}th start is "
                         f"a window", room + 1))
    return mistakes


def _judge_prediction(case: _SizeCase, got: object) -> CaseResult:
    """One prediction against the right count (0 where no window fits)."""
    right = case.expected or 0
    shown = f"you predicted {got!r}"
    if got is None or got is Ellipsis:
        return CaseResult(case.name, False, "not done yet: replace None with your prediction")
    if isinstance(got, float) and got.is_integer():
        got = int(got)
    if isinstance(got, float) and math.isfinite(got):
        return CaseResult(case.name, False,
                          f"{shown}\nHint: a prediction is a whole number: a window that only "
                          f"partly fits is no window, so count only the whole ones")
    if not (is_integer(got) and not isinstance(got, (bool, torch.Tensor))):
        return CaseResult(case.name, False,
                          f"{shown}\nHint: a prediction is a whole number of window positions "
                          f"(0 where not even one window fits), written as an int, e.g. 3")
    if got == right:
        return CaseResult(case.name, True, f"{right}: right")
    if right == 0:
        return CaseResult(case.name, False, f"{shown}\nHint: " + (
            "a count of windows is never negative: " if got < 0 else "") +
            f"the kernel ({case.kernel}) is wider than the padded row ({case.size} + 2 x "
            f"{case.padding} = {case.padded}), so not even one window fits: write 0")
    if got <= 0:
        hint = (f"a window does fit: the padded row is {case.size} + 2 x {case.padding} = "
                f"{case.padded} long, and the kernel {case.kernel}")
    else:
        hints = [hint for hint, wrong in _prediction_mistakes(case) if wrong == got]
        hint = "; or ".join(hints) or (
            f"count the starts: the first at 0, then every {case.stride} column(s), as long as "
            f"the whole kernel ({case.kernel}) still fits in the padded row ({case.padded} long)")
    return CaseResult(case.name, False,
                      f"{shown}, which is too {'many' if got > right else 'few'}\nHint: {hint}")


def check_size_predictions(predictions: dict) -> CheckReport:
    """Check the learner's predicted output sizes: ``predictions`` maps each setting ("size 28,
    kernel 5, padding 0, stride 1", ...) to the number of window positions along one row, 0 where
    not even one window fits. A wrong prediction gets a hint, never the answer."""
    if not isinstance(predictions, dict):
        raise ValueError(f"pass your dict of predictions (setting -> size), got "
                         f"{type(predictions).__name__}")
    results = []
    for case in PREDICTIONS:
        if case.name in predictions:
            results.append(_judge_prediction(case, predictions[case.name]))
        else:
            results.append(CaseResult(case.name, False,
                                      f"no prediction for {case.name!r}: keep every key of the "
                                      f"dict as it was given, and fill in its value"))
    known = {case.name for case in PREDICTIONS}
    for key in predictions:
        if key not in known:
            results.append(CaseResult(f"unknown setting {key!r}", False,
                                      f"{key!r} is not one of the settings to predict: keep the "
                                      f"keys as they were given (a changed key counts as missing)"))
    return CheckReport("check_size_predictions", tuple(results),
                       verdict="Every prediction is right: you can count window positions. "
                               "Now write the count as a function.")


# --- the function --------------------------------------------------------------------------------

def _is_int_answer(value: object) -> bool:
    """A Python or numpy integer; no tensor, not even a 0-d one: the exercise asks for an int."""
    return is_integer(value) and not isinstance(value, torch.Tensor)


def _judge(fn: Callable, case: _SizeCase, time_limit: float | None) -> CaseResult:
    """Run one case; whatever the learner's function does becomes a message, never an exception."""
    return _attempt(case.name, case.call, lambda: fn(case.size, case.kernel, **case.options),
                    lambda got: _verdict(case, got), time_limit, answer="an int",
                    parameter_hint="give your function the parameters padding=0 and stride=1.",
                    raised=lambda error: _raised(case, error))


def _raised(case: _SizeCase, error: BaseException) -> CaseResult | None:
    """The verdict on an exception: right for a kernel that does not fit when it is a ValueError;
    None where the usual message says enough."""
    if isinstance(error, ValueError):
        if case.expected is None:
            return CaseResult(case.name, True, f"raised {_text(error)}")
        message = f"{case.call} raised {_text(error)}, but the answer is {case.expected}"
        if case.kernel == case.padded:
            message += (f"\nHint: a kernel exactly as long as the padded input ({case.kernel}) "
                        f"fits once, at start 0: raise only when the kernel is LARGER than "
                        f"size + 2 * padding (and if you count the starts with range(...), its "
                        f"stop is left out: range(0, 0) is empty)")
        elif case.kernel > case.size:
            message += (f"\nHint: the kernel ({case.kernel}) does fit the PADDED input "
                        f"({case.size} + 2 x {case.padding} = {case.padded}): compare the kernel "
                        f"with size + 2 * padding")
        return CaseResult(case.name, False, message)
    if case.expected is None and not (isinstance(error, TypeError)
                                      and "unexpected keyword" in str(error)):
        return CaseResult(case.name, False, f"{case.call} raised {_text(error)}\nHint: the "
                                            f"kernel does not fit, and then {DOES_NOT_FIT}")
    return None


def _verdict(case: _SizeCase, got: object) -> CaseResult:
    """Judge the learner's answer to one case."""
    expected = case.expected
    if expected is None:
        return CaseResult(case.name, False, _no_error_message(case, got))
    if _is_int_answer(got) and got == expected:
        return CaseResult(case.name, True, f"returned {expected}")
    return CaseResult(case.name, False, _wrong_size_message(case, got, expected))


def _no_error_message(case: _SizeCase, got: object) -> str:
    """A kernel that does not fit, answered with a number instead of a ValueError."""
    return (f"{case.call} returned {got!r}, but the kernel ({case.kernel}) is larger than the "
            f"padded input ({case.size} + 2 x {case.padding} = {case.padded})\n"
            f"Hint: {DOES_NOT_FIT}")


def _wrong_size_message(case: _SizeCase, got: object, expected: int) -> str:
    """What is wrong with an answer that is not the int ``expected``, and what to look at."""
    message = f"{case.call} returned {got!r}, expected {expected}"
    if isinstance(got, float) and got == expected:
        return (f"{message}, an int\nHint: the answer is a float: use // (whole-number "
                f"division) instead of /, or convert with int(...)")
    if isinstance(got, float):
        return (f"{message}\nHint: / keeps the fraction and gives a float: use // (whole-number "
                f"division), which rounds down")
    if not _is_int_answer(got):
        return (f"{message}\nHint: return a Python int (type {type(got).__name__} is not one; "
                f"int(...) or .item() converts it)")
    hint = next((hint for hint, wrong in case.mistakes() if wrong == got), FORMULA_HINT)
    return f"{message}\nHint: {hint}"


def check_conv_output_size(fn: Callable, *,
                           time_limit: float | None = TIME_LIMIT) -> CheckReport:
    """Check ``fn(size, kernel, padding=0, stride=1)`` against ``ops.conv_output_size`` on 13
    cases, each call stopped after ``time_limit`` seconds (None: no limit; after one call runs
    out of time the remaining cases are skipped). ``fn`` must count the positions itself:
    running a convolution, pooling or unfold, or the course's own size functions, fails a case."""
    _check_arguments(fn, time_limit)
    with _session(time_limit, FORBIDDEN) as session:
        learner = session.learner(fn)
        results = tuple(_judge(learner, case, time_limit) for case in CASES)
    return CheckReport("check_conv_output_size", results,
                       verdict="All cases agree with the output-size formula, and so with the "
                               "sizes F.conv2d gives. Well done!")
