"""Checker for the output-size exercise (notebook 02): the learner's ``fn(size, kernel, padding=0,
stride=1)`` against ``ops.conv_output_size``, including kernels that do not fit (a ValueError)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..checks import is_integer
from ..ops import conv_output_size
from .core import TIME_LIMIT, CaseResult, CheckReport, _attempt, _check_arguments, _text

FORMULA_HINT = ("count the window's start positions 0, stride, 2 * stride, ... up to "
                "size + 2 * padding - kernel, the last start where the window still fits")
DOES_NOT_FIT = ("no window fits, so there is no output size: raise ValueError, e.g. "
                "raise ValueError(\"the kernel is larger than the padded input\")")


@dataclass(frozen=True)
class _SizeCase:
    """One call of the learner's function and its answer: a size, or None for a ValueError."""

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
        if case.kernel > case.size:
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
    cases, each stopped after ``time_limit`` seconds (None: no limit)."""
    _check_arguments(fn, time_limit)
    return CheckReport("check_conv_output_size",
                       tuple(_judge(fn, case, time_limit) for case in CASES),
                       verdict="All cases agree with the output-size formula, and so with the "
                               "sizes F.conv2d gives. Well done!")
