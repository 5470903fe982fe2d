"""What every checker shares: run a learner's function case by case, never crash on its bugs, and
report what passed and what to look at when it did not.

A checker never crashes on a learner's mistake: an exception (even ``exit()``), an endless loop
(stopped after a time limit), a wrong type, shape or kind of tensor (complex, sparse, meta) is
reported as a failed case; only KeyboardInterrupt, the notebook's stop button, gets through.
When the learner's answer equals what a common mistake gives (a flipped kernel, a forgotten bias,
an ignored stride, zero padding in max pooling...), the message names it.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from mnist_tutorial.config import one_thread

# absolute and relative, for a learner's tensor answer against the reference's: float32 sums of a
# few dozen products agree this closely
OUTPUT_TOLERANCE = 1e-4
SHOW_VALUES = 16  # a failed case prints both answers when they are this small
VALUE_HINT = "work out one output number by hand and compare it with the expected one"
TIME_LIMIT = 5.0  # seconds per case: far more than any answer needs, only an endless loop hits it


class CaseResult(NamedTuple):
    """One case: its name, whether it passed, and what was expected and found."""

    name: str
    passed: bool
    message: str


@dataclass(frozen=True)
class CheckReport:
    """All cases of one check; iterate over it for ``(name, passed, message)`` triples."""

    title: str
    results: tuple[CaseResult, ...]
    verdict: str = "All cases agree with PyTorch. Well done!"  # the closing line when all passed

    @property
    def passed(self) -> bool:
        """True when every case passed."""
        return all(result.passed for result in self.results)

    @property
    def failed(self) -> list[CaseResult]:
        """The cases that did not pass."""
        return [result for result in self.results if not result.passed]

    def __iter__(self) -> Iterator[CaseResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> CaseResult:
        return self.results[index]

    def __str__(self) -> str:
        count = sum(result.passed for result in self.results)
        lines = [f"{self.title}: {count} of {len(self.results)} cases passed"]
        for name, passed, message in self.results:
            lines.append(f"  {'PASS' if passed else 'FAIL'}  {name}")
            if not passed:
                lines.extend(f"        {line}" for line in message.splitlines())
        if self.passed:
            lines.append(self.verdict)
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        """Show the text report when the report is the last value of a notebook cell."""
        printer.text(str(self))


@dataclass(frozen=True)
class _Case:
    """Arguments for the learner's function, the right answer, and what common mistakes give."""

    name: str
    args: tuple
    kwargs: dict
    expected: torch.Tensor
    mistakes: list[tuple[str, torch.Tensor]] = field(default_factory=list)
    shape_hint: str = ""


def _shape(value: torch.Tensor) -> tuple[int, ...]:
    return tuple(value.shape)


def _same(got: torch.Tensor, other: torch.Tensor) -> bool:
    return got.shape == other.shape and torch.allclose(
        got.double(), other.double(), rtol=OUTPUT_TOLERANCE, atol=OUTPUT_TOLERANCE)


def _call_text(case: _Case) -> str:
    """How the case called the learner's function, e.g. ``fn(x, weight, stride=2)``."""
    names = ["x", *("weight" if isinstance(arg, torch.Tensor) else repr(arg)
                    for arg in case.args[1:])]
    names += [f"{key}={key if isinstance(value, torch.Tensor) else repr(value)}"
              for key, value in case.kwargs.items()]
    return f"fn({', '.join(names)})"


class _TimeUp(BaseException):
    """The time limit's alarm; not an Exception, so a learner's ``except Exception`` lets it by."""


def _time_limited(call: Callable[[], CaseResult], seconds: float | None) -> CaseResult:
    """``call()``, stopped by _TimeUp after ``seconds`` where a SIGALRM timer can do it (Linux and
    macOS, main thread); the previous SIGALRM handler and timer are restored."""
    if (seconds is None or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGALRM) is None):  # None: set outside Python, unrestorable
        return call()
    fired = False

    def alarm(signum, frame) -> None:
        nonlocal fired
        if not fired:  # once, and never after the call
            fired = True
            raise _TimeUp

    start, (delay, interval) = time.monotonic(), signal.getitimer(signal.ITIMER_REAL)
    previous_handler = signal.signal(signal.SIGALRM, alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return call()
        finally:
            fired = True  # should the alarm come just before this line, the restore still runs
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if delay:
            signal.setitimer(signal.ITIMER_REAL, max(delay - (time.monotonic() - start), 1e-6),
                             interval)


def _text(error: BaseException) -> str:
    """``Name: message`` of an exception, or just its name when its message cannot be printed."""
    try:
        return f"{type(error).__name__}: {error}"
    except Exception:
        return type(error).__name__


def _attempt(name: str, call_text: str, call: Callable[[], object],
             judge: Callable[[object], CaseResult], time_limit: float | None, *,
             answer: str = "an ordinary torch.Tensor of numbers",
             parameter_hint: str = "give your function that parameter, with PyTorch's default.",
             raised: Callable[[BaseException], CaseResult | None] | None = None) -> CaseResult:
    """``judge(call())``, stopped after ``time_limit`` seconds: whatever the learner's function
    does (an exception, ``exit()``, an endless loop, an unreadable answer) becomes a failed case,
    never an exception. ``raised`` may turn an exception into its own verdict (None: the usual
    message); ``answer`` says what to return when the answer cannot be read."""

    def run() -> CaseResult:
        try:
            got = call()
        except (KeyboardInterrupt, _TimeUp):
            raise
        except NotImplementedError:
            return CaseResult(name, False, f"not done yet: {call_text} still raises "
                                           f"NotImplementedError")
        except SystemExit:
            return CaseResult(name, False, f"{call_text}: your function called exit()/raised "
                                           f"SystemExit, which stops Python: return the result "
                                           f"instead")
        except BaseException as error:  # the learner's bug is the report, not a crash
            verdict = raised(error) if raised is not None else None
            if verdict is not None:
                return verdict
            message = f"{call_text} raised {_text(error)}"
            if isinstance(error, TypeError) and "unexpected keyword" in str(error):
                message += f"\nHint: {parameter_hint}"
            return CaseResult(name, False, message)
        return judge(got)

    try:
        return _time_limited(run, time_limit)
    except KeyboardInterrupt:
        raise
    except _TimeUp:
        return CaseResult(name, False, f"{call_text} did not finish within {time_limit:g} s\n"
                                       f"Hint: is there a loop that never ends, e.g. a while loop "
                                       f"whose condition stays true?")
    except BaseException as error:  # reading the answer failed, e.g. a tensor without values
        return CaseResult(name, False, f"the checker could not read what {call_text} returned "
                                       f"({_text(error)}): return {answer}")


def _judge(fn: Callable, case: _Case, time_limit: float | None) -> CaseResult:
    """Run one tensor case: the learner's answer against the expected tensor."""
    return _attempt(case.name, _call_text(case), lambda: fn(*case.args, **case.kwargs),
                    lambda got: _verdict(case, got), time_limit)


def _verdict(case: _Case, got: object) -> CaseResult:
    """Judge the learner's answer to one tensor case."""
    return CaseResult(case.name, *_compare(got, case.expected, case.mistakes, case.shape_hint,
                                           _call_text(case)))


def _compare(got: object, expected: torch.Tensor, mistakes: list[tuple[str, torch.Tensor]],
             shape_hint: str, call_text: str, label: str = "") -> tuple[bool, str]:
    """(passed, message) for one tensor answer; a mistake's hint when ``got`` equals its value.
    ``label`` starts every message (e.g. "grad_x: " for one part of an answer)."""
    if not isinstance(got, torch.Tensor):
        return False, (f"{label}returned an object of type {type(got).__name__}, expected a "
                       f"torch.Tensor of shape {_shape(expected)}")
    problem = _unusable(got)
    if problem:
        return False, f"{label}{call_text} returned {problem}"
    got = got.detach().cpu()
    hint = next((hint for hint, wrong in mistakes if _same(got, wrong)), "")
    if got.shape != expected.shape:
        return False, (f"{label}expected shape {_shape(expected)}, got {_shape(got)}\n"
                       f"Hint: {hint or shape_hint}")
    difference = (got.double() - expected.double()).abs().max().item()
    if _same(got, expected):
        return True, f"{label}shape {_shape(got)}, max abs difference {difference:.2g}"
    message = (f"{label}shape {_shape(got)} is right but the values differ: max abs difference "
               f"{difference:.3g}\nHint: {hint or VALUE_HINT}")
    if got.numel() <= SHOW_VALUES:
        message += (f"\nexpected {expected.squeeze().tolist()}"
                    f"\ngot      {got.squeeze().tolist()}")
    return False, message


def _guarded(name: str, call_text: str, run: Callable[[], CaseResult],
             time_limit: float | None) -> CaseResult:
    """``run()`` for a case that calls the learner's code itself (a class, a training loop): what
    that code raises, an ``exit()`` or an endless loop becomes a failed case, never an exception.

    It runs on one PyTorch thread (put back afterwards): on tensors this small, threads only wait
    for each other, and on a busy machine a case took seconds instead of milliseconds."""
    with one_thread():
        return _attempt(name, call_text, run, lambda verdict: verdict, time_limit)


def _unusable(got: torch.Tensor) -> str:
    """What makes ``got`` no answer whatever its numbers (sparse, meta, complex), or ""."""
    if got.layout != torch.strided:
        return (f"a tensor with layout {got.layout}: return an ordinary (dense) tensor, e.g. "
                f"with .to_dense()")
    if got.is_meta:
        return ("a meta tensor, which has a shape but no values: compute the numbers on the "
                "CPU (look for device='meta' or .to('meta') in your code)")
    if got.is_complex():
        return (f"complex numbers ({got.dtype}): the answer is real; look for a j (as in 5j) or "
                f"a complex tensor in your code")
    return ""


def _check_arguments(fn: Callable, time_limit: float | None) -> None:
    """Refuse what is no function or no time limit, saying what to pass instead."""
    if not callable(fn):
        raise ValueError(f"pass your function itself (e.g. check(my_function)), got {fn!r}")
    if time_limit is not None and not (isinstance(time_limit, (int, float))
                                       and 0 < time_limit < math.inf):
        raise ValueError(f"time_limit must be a positive number of seconds per case, or None for "
                         f"no limit, got {time_limit!r}")


def _check(title: str, fn: Callable, cases: list, time_limit: float | None,
           judge: Callable[[Callable, object, float | None], CaseResult] = _judge) -> CheckReport:
    """Check the arguments, then judge ``fn`` on every case."""
    _check_arguments(fn, time_limit)
    return CheckReport(title, tuple(judge(fn, case, time_limit) for case in cases))


def _numbers(generator: torch.Generator, *shape: int, low: int = -3, high: int = 4) -> torch.Tensor:
    """Small whole numbers as float32, so every answer can be worked out by hand."""
    return torch.randint(low, high, shape, generator=generator).float()
