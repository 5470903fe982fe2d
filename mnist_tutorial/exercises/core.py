"""What every checker shares: run a learner's function case by case, never crash on its bugs, and
report what passed and what to look at when it did not.

A checker never crashes on a learner's mistake: an exception (even ``exit()``), an endless loop
(stopped after a time limit), a wrong type, shape or kind of tensor (complex, sparse, meta) is
reported as a failed case; only KeyboardInterrupt, the notebook's stop button, gets through.
When the learner's answer equals what a common mistake gives (a flipped kernel, a forgotten bias,
an ignored stride, zero padding in max pooling...), the message names it.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import inspect
import math
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

import torch
from torch.overrides import TorchFunctionMode

from mnist_tutorial.config import one_thread

# absolute and relative, for a learner's tensor answer against the reference's: float32 sums of a
# few dozen products agree this closely
OUTPUT_TOLERANCE = 1e-4
SHOW_VALUES = 16  # a failed case prints both answers when they are this small
VALUE_HINT = "work out one output number by hand and compare it with the expected one"
TIME_LIMIT = 5.0  # seconds per call: far more than any answer needs, only an endless loop hits it
IMPORT_WAIT = 0.05  # seconds a time limit that falls inside an import waits before it tries again
WINDOW = 1  # a failed case with many numbers shows this many neighbours around its first difference
SKIPPED = "skipped: an earlier case ran out of time"
T = TypeVar("T")


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

    def assert_passed(self) -> None:
        """Raise AssertionError, with the report as its message, unless every case passed: a
        graded cell (nbgrader's) gives its points only when it raises nothing."""
        if not self.passed:
            raise AssertionError(str(self))

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
            if message == SKIPPED:
                lines.append(f"  SKIP  {name}")
                continue
            lines.append(f"  {'PASS' if passed else 'FAIL'}  {name}")
            if not passed:
                lines.extend(f"        {line}" for line in message.splitlines())
        if any(result.message == SKIPPED for result in self.results):
            lines.append("The cases marked SKIP were not run, as one case ran out of time: "
                         "fix that one and check again.")
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


class _Refused(BaseException):
    """The learner's code called what its exercise asks it to write; not an Exception either."""


class _InputChanged(BaseException):
    """The learner's function changed one of its inputs in place."""


def _importing() -> bool:
    """True while some module is being imported: a time limit waits until the import is done, as
    an exception inside a half-run import (torch._dynamo, on the first optimizer) breaks it for
    the rest of the kernel's life."""
    return any(getattr(getattr(module, "__spec__", None), "_initializing", False)
               for module in list(sys.modules.values()))


def _alarm_usable() -> bool:
    """Whether a SIGALRM timer can stop the call: Linux and macOS, main thread, a handler that can
    be put back (None: set outside Python)."""
    return (hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGALRM) is not None)


def _time_limited(call: Callable[[], T], seconds: float | None) -> T:
    """``call()``, stopped by _TimeUp after ``seconds`` (never inside an import): by a SIGALRM
    timer where there is one, else by a watchdog thread (Windows, other threads)."""
    if seconds is None:
        return call()
    if _alarm_usable():
        return _with_alarm(call, seconds)
    return _with_watchdog(call, seconds)


def _with_alarm(call: Callable[[], T], seconds: float) -> T:
    """The SIGALRM way; the previous handler and timer are restored."""
    fired = False

    def alarm(signum, frame) -> None:
        nonlocal fired
        if fired:  # once, and never after the call
            return
        if _importing():
            signal.setitimer(signal.ITIMER_REAL, IMPORT_WAIT)
            return
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


def _with_watchdog(call: Callable[[], T], seconds: float) -> T:
    """The thread way, for where there is no SIGALRM: a watchdog thread raises _TimeUp in the
    calling thread (at its next Python instruction) once ``seconds`` have passed."""
    target, done, lock = threading.get_ident(), threading.Event(), threading.Lock()
    fired = False

    def watch() -> None:
        nonlocal fired
        wait = seconds
        while not done.wait(wait):
            with lock:
                if done.is_set():
                    return
                if _importing():
                    wait = IMPORT_WAIT
                    continue
                fired = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target),
                                                           ctypes.py_object(_TimeUp))
                return

    watchdog = threading.Thread(target=watch, name="exercise time limit", daemon=True)
    watchdog.start()
    try:
        return call()
    finally:
        with lock:
            done.set()
            if fired:  # not delivered yet: take it back
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), None)
        watchdog.join()


def _raised_by_torch(error: BaseException) -> bool:
    """Whether ``error`` came from inside PyTorch (e.g. "not implemented for 'Long'"), not from
    the learner's own ``raise NotImplementedError``."""
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback is None or f"{os.sep}torch{os.sep}" in traceback.tb_frame.f_code.co_filename


def _text(error: BaseException) -> str:
    """``Name: message`` of an exception, or just its name when its message cannot be printed."""
    try:
        return f"{type(error).__name__}: {error}"
    except Exception:
        return type(error).__name__


@dataclass(frozen=True)
class Forbidden:
    """What a learner's function may not call while its check runs: torch functions and tensor
    methods by name (``"conv2d"`` covers ``F.conv2d``, ``torch.conv2d`` and ``nn.Conv2d``), the
    course's own solutions, and other libraries' functions by their public dotted names (e.g.
    ``"scipy.signal.correlate2d"``, refused once their module is loaded: a library is never
    imported for this); ``task`` completes "this exercise asks you to ..."."""

    torch_names: frozenset[str] = frozenset()
    functions: tuple[Callable, ...] = ()
    task: str = "write this yourself"
    library_functions: tuple[str, ...] = ()

    def named_functions(self) -> tuple[tuple[str, types.FunctionType], ...]:
        """``(name, function)`` of every Python function to refuse now: the course's, and those
        of ``library_functions`` whose module is loaded (numpy's dispatched functions by their
        implementation)."""
        found = [(f"{function.__module__}.{function.__qualname__}", function)
                 for function in self.functions]
        for name in self.library_functions:
            module_name, _, attribute = name.rpartition(".")
            function = getattr(sys.modules.get(module_name), attribute, None)
            function = getattr(function, "_implementation", function)  # numpy's dispatcher
            if isinstance(function, types.FunctionType):
                found.append((name, function))
        return tuple(found)


class _Refusing(TorchFunctionMode):
    """Fails every call of a forbidden torch function made while it is active."""

    def __init__(self, session: _Session) -> None:
        super().__init__()
        self.session = session

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in self.session.forbidden.torch_names:
            raise self.session.refuse(f"torch's {name}")
        return func(*args, **(kwargs or {}))


def _refuse_course_function(name: str) -> _Refused:
    """What a forbidden Python function (the course's own, or e.g. torch.nn.grad's or scipy's)
    runs instead of its own code during a check."""
    session = _SESSION.get()
    what = f"the course's own {name}" if name.startswith("mnist_tutorial.") else name
    return session.refuse(what) if session else _Refused(what)


@functools.cache
def _refusing_code(name: str, free_variables: int) -> types.CodeType:
    """Code for a course function during a check: refuse, whatever the arguments. It has as many
    free variables as the function's own code (a wrapper's closure), as Python requires."""
    cells = [f"cell{i}" for i in range(free_variables)]
    source = (f"def outer({', '.join(cells)}):\n"
              f"    def refused(*args, **kwargs):\n"
              f"        ({''.join(cell + ', ' for cell in cells)})\n"
              f"        raise __import__({__name__!r}, fromlist=['_'])"
              f"._refuse_course_function({name!r})\n"
              f"    return refused\n")
    namespace: dict = {}
    exec(compile(source, f"<refused {name}>", "exec"), namespace)
    return namespace["outer"](*cells).__code__


@contextmanager
def _functions_refused(named: tuple[tuple[str, types.FunctionType], ...]) -> Iterator[None]:
    """Swap each function's code for code that refuses, so every name it goes by refuses."""
    saved = []
    try:
        for name, function in named:
            saved.append((function, function.__code__))
            function.__code__ = _refusing_code(name, len(function.__code__.co_freevars))
        yield
    finally:
        for function, code in saved:
            function.__code__ = code


class _Session:
    """One check: its time limit (per call of the learner's code; after the first call that runs
    out of time the remaining cases are skipped), what that code may not call, and what it did."""

    def __init__(self, time_limit: float | None, forbidden: Forbidden | None) -> None:
        self.time_limit, self.forbidden = time_limit, forbidden or Forbidden()
        self.timed_out = False
        self.refused = ""  # what the learner's code called that it may not, in the current case

    def refuse(self, what: str) -> _Refused:
        self.refused = self.refused or what
        return _Refused(what)

    def learner(self, fn: Callable, *, watch_inputs: bool = True) -> Callable:
        """``fn`` run as learner code: timed, refusing what it may not call, and (with
        ``watch_inputs``) failing when it changes a tensor it was given."""
        def run(*args, **kwargs):
            refused = self.forbidden.named_functions()
            with _functions_refused(refused), _Refusing(self):
                result = _time_limited(lambda: fn(*args, **kwargs), self.time_limit)
            return refused, result

        def call(*args, **kwargs):
            before = _snapshot(_named_arguments(fn, args, kwargs)) if watch_inputs else []
            refused, result = run(*args, **kwargs)
            if not self.refused and self.forbidden.named_functions() != refused:
                _, result = run(*args, **kwargs)  # it imported a library it may not use: again
            if self.refused:
                raise _Refused(self.refused)
            changed = _changed(before)
            if changed:
                value = next(value for name, value, _ in before if name == changed)
                kind = "tensor" if isinstance(value, torch.Tensor) else type(value).__name__
                raise _InputChanged(f"{changed}|{kind}")
            return result
        return call


_SESSION: ContextVar[_Session | None] = ContextVar("exercise check", default=None)


@contextmanager
def _session(time_limit: float | None, forbidden: Forbidden | None = None) -> Iterator[_Session]:
    """The check that runs inside the ``with`` block."""
    session = _Session(time_limit, forbidden)
    token = _SESSION.set(session)
    try:
        yield session
    finally:
        _SESSION.reset(token)


def _named_arguments(fn: Callable, args: tuple, kwargs: dict) -> list[tuple[str, object]]:
    """``(name, value)`` of each argument, named as the learner's function names them."""
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
        return list(bound.arguments.items())
    except (TypeError, ValueError):
        return [*((f"argument {i + 1}", arg) for i, arg in enumerate(args)), *kwargs.items()]


def _snapshot(named: list[tuple[str, object]]) -> list[tuple[str, object, object]]:
    """``(name, object, copy)`` of every tensor, list and dict among the arguments (and inside
    them), to see afterwards whether the learner's function changed one in place."""
    saved = []
    for name, value in named:
        if isinstance(value, torch.Tensor):
            saved.append((name, value, value.detach().clone()))
        elif isinstance(value, list):
            saved.append((name, value, list(value)))
            saved.extend(_snapshot([(f"{name}[{i}]", item) for i, item in enumerate(value)]))
        elif isinstance(value, tuple):
            saved.extend(_snapshot([(f"{name}[{i}]", item) for i, item in enumerate(value)]))
        elif isinstance(value, dict):
            saved.append((name, value, dict(value)))
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            saved.extend(_snapshot([(f"{name}.{f.name}", getattr(value, f.name))
                                    for f in dataclasses.fields(value)]))
    return saved


def _changed(saved: list[tuple[str, object, object]]) -> str:
    """The first argument in ``saved`` that is no longer as it was, or ""."""
    for name, value, copy in saved:
        if isinstance(value, torch.Tensor):
            same = (value.shape == copy.shape and value.dtype == copy.dtype
                    and bool(((value == copy) | (value.isnan() & copy.isnan())).all()))
        else:
            same = value == copy if isinstance(value, dict) else (
                len(value) == len(copy) and all(a is b for a, b in zip(value, copy)))
        if not same:
            return name
    return ""


def _changed_message(call_text: str, change: str) -> str:
    """What to tell a learner whose function changed an input (``change``: "name|kind")."""
    name, _, kind = change.partition("|")
    how = "+=, [...] = or a method ending in _"
    if kind == "tensor" and "." not in name:
        advice = f"work on {name}.clone() or a new tensor"
    elif kind == "tensor":
        advice = "build new tensors (e.g. by indexing)"
    else:
        how, advice = ".pop(), .append(), .sort() or [...] =", f"build a new {kind} instead"
    return (f"{call_text} changed its input {name} in place (e.g. with {how}): that would also "
            f"change the caller's data; {advice}")


def _attempt(name: str, call_text: str, call: Callable[[], object],
             judge: Callable[[object], CaseResult], time_limit: float | None, *,
             answer: str = "an ordinary torch.Tensor of numbers",
             parameter_hint: str = "give your function that parameter, with PyTorch's default.",
             raised: Callable[[BaseException], CaseResult | None] | None = None) -> CaseResult:
    """``judge(call())``: whatever the learner's function does (an exception, ``exit()``, an
    endless loop, a forbidden call, a change to its input, an unreadable answer) becomes a failed
    case, never an exception. Inside a ``_session`` the learner's calls are timed there and a
    case after one that ran out of time is skipped; outside one, ``call`` is timed as a whole.
    ``raised`` may turn an exception into its own verdict (None: the usual message); ``answer``
    says what to return when the answer cannot be read."""
    session = _SESSION.get()
    if session is not None:
        if session.timed_out:
            return CaseResult(name, False, SKIPPED)
        session.refused = ""

    def run() -> CaseResult:
        try:
            got = call()
        except (KeyboardInterrupt, _TimeUp, _Refused, _InputChanged):
            raise
        except NotImplementedError as error:
            if not _raised_by_torch(error):
                return CaseResult(name, False, f"not done yet: {call_text} still raises "
                                               f"NotImplementedError")
            message = f"{call_text} raised {_text(error)}"
            return CaseResult(name, False, f"{message}\nHint: PyTorch cannot do this operation "
                                           f"on these tensors (look at their dtypes: e.g. a loss "
                                           f"needs float scores and integer labels)")
        except SystemExit:
            return CaseResult(name, False, f"{call_text}: your function called exit()/raised "
                                           f"SystemExit, which stops Python: return the result "
                                           f"instead")
        except BaseException as error:  # the learner's bug is the report, not a crash
            if session is not None and session.refused:
                raise _Refused(session.refused) from None  # it caught the refusal itself
            verdict = raised(error) if raised is not None else None
            if verdict is not None:
                return verdict
            message = f"{call_text} raised {_text(error)}"
            if isinstance(error, TypeError) and "unexpected keyword" in str(error):
                message += f"\nHint: {parameter_hint}"
            return CaseResult(name, False, message)
        if session is not None and session.refused:
            raise _Refused(session.refused)
        return judge(got)

    try:
        return run() if session is not None else _time_limited(run, time_limit)
    except KeyboardInterrupt:
        raise
    except _TimeUp:
        if session is not None:
            session.timed_out = True
        limit = session.time_limit if session is not None else time_limit
        return CaseResult(name, False, f"{call_text} did not finish within {limit:g} s\n"
                                       f"Hint: is there a loop that never ends, e.g. a while loop "
                                       f"whose condition stays true?")
    except _Refused as refusal:
        task = session.forbidden.task if session is not None else "write this yourself"
        return CaseResult(name, False, f"{call_text} called {refusal}: this exercise asks you to "
                                       f"{task}, so the checker does not accept that here")
    except _InputChanged as change:
        return CaseResult(name, False, _changed_message(call_text, str(change)))
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
        if got.dtype != expected.dtype:
            return False, (f"{label}the numbers are right, but they are {got.dtype} where PyTorch "
                           f"gives {expected.dtype} for these inputs\nHint: make new tensors "
                           f"with the input's dtype, e.g. torch.zeros(..., dtype=x.dtype)")
        return True, f"{label}shape {_shape(got)}, max abs difference {difference:.2g}"
    message = (f"{label}shape {_shape(got)} is right but the values differ: max abs difference "
               f"{difference:.3g}\nHint: {hint or VALUE_HINT}")
    if got.numel() <= SHOW_VALUES:
        message += (f"\nexpected {expected.squeeze().tolist()}"
                    f"\ngot      {got.squeeze().tolist()}")
    else:
        message += "\n" + _around_first_difference(got, expected)
    return False, message


def _around_first_difference(got: torch.Tensor, expected: torch.Tensor) -> str:
    """The first differing number's index and the few numbers around it, in both answers."""
    close = torch.isclose(got.double(), expected.double(), rtol=OUTPUT_TOLERANCE,
                          atol=OUTPUT_TOLERANCE)
    index = [int(i) for i in (~close).nonzero()[0]]
    if got.dim() < 2:
        start = max(index[0] - WINDOW, 0) if index else 0
        window = (slice(start, start + 2 * WINDOW + 1),)
        where = f"[{start}:{start + 2 * WINDOW + 1}]"
    else:
        row, column = index[-2], index[-1]
        rows = slice(max(row - WINDOW, 0), row + WINDOW + 1)
        columns = slice(max(column - WINDOW, 0), column + WINDOW + 1)
        window = (*index[:-2], rows, columns)
        where = (f"[{', '.join(map(str, index[:-2]))}{', ' if index[:-2] else ''}"
                 f"{rows.start}:{rows.stop}, {columns.start}:{columns.stop}]")
    first = tuple(index)
    return (f"first difference at index {first}: expected {expected[first].item():.4g}"
            f", got {got[first].item():.4g}\naround it, {where}:"
            f"\nexpected {expected[window].tolist()}\ngot      {got[window].tolist()}")


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
           judge: Callable[[Callable, object, float | None], CaseResult] = _judge, *,
           forbidden: Forbidden | None = None) -> CheckReport:
    """Check the arguments, then judge ``fn`` on every case, as learner code (timed, refusing
    what ``forbidden`` names, watching its inputs)."""
    _check_arguments(fn, time_limit)
    with _session(time_limit, forbidden) as session:
        learner = session.learner(fn)
        return CheckReport(title, tuple(judge(learner, case, time_limit) for case in cases))


def _numbers(generator: torch.Generator, *shape: int, low: int = -3, high: int = 4) -> torch.Tensor:
    """Small whole numbers as float32, so every answer can be worked out by hand."""
    return torch.randint(low, high, shape, generator=generator).float()
