"""What every checker shares (mnist_tutorial/exercises/core.py): one time limit per check that
works with and without SIGALRM and never fires inside an import, refused shortcuts, inputs changed
in place, and readable failure messages."""

import signal
import subprocess
import sys
import textwrap
import threading
import time
import types

import pytest
import torch
import torch.nn.functional as F

from mnist_tutorial import ops
from mnist_tutorial.exercises import core
from mnist_tutorial.exercises.core import Forbidden, _Case, _check
from tests.helpers import hints

FORBIDDEN = Forbidden(frozenset({"conv2d"}), (ops.conv2d_loops,), "compute the convolution")


def cases(count: int = 4) -> list[_Case]:
    """``count`` cases of a made-up exercise: double the input."""
    inputs = [torch.arange(1.0, i + 2).reshape(1, 1, 1, i + 1) for i in range(count)]
    return [_Case(f"case {i}", (x,), {}, 2 * x) for i, x in enumerate(inputs)]


def check(fn, time_limit=core.TIME_LIMIT, forbidden=FORBIDDEN, count=4):
    return _check("check_double", fn, cases(count), time_limit, forbidden=forbidden)


@pytest.fixture(params=["alarm", "watchdog"])
def limit_path(request, monkeypatch):
    """Run the test with the SIGALRM timer and again with the watchdog thread (Windows' way)."""
    if request.param == "watchdog":
        monkeypatch.setattr(core, "_alarm_usable", lambda: False)
    return request.param


def endless_on_case_1(x):
    while x.numel() == 2:
        pass
    return 2 * x


def test_a_right_answer_passes():
    report = check(lambda x: x + x)
    assert report.passed and len(report) == 4, str(report)


def test_an_endless_loop_costs_one_time_limit_and_skips_the_rest(limit_path):
    start = time.monotonic()
    report = check(endless_on_case_1, time_limit=0.3, count=6)
    assert time.monotonic() - start < 3
    assert [result.passed for result in report] == [True] + [False] * 5
    assert report[1].message.startswith("fn(x) did not finish within 0.3 s\nHint: is there a "
                                        "loop that never ends")
    assert all(result.message == core.SKIPPED for result in report.results[2:])
    text = str(report)
    assert text.count("SKIP  case") == 4 and text.count("ran out of time") == 1


def test_a_loop_that_catches_exception_is_stopped_too(limit_path):
    def stubborn(x):
        while True:
            try:
                time.sleep(0.01)
            except Exception:
                pass

    report = check(stubborn, time_limit=0.2)
    assert "did not finish within 0.2 s" in report[0].message


def test_the_alarm_handler_and_timer_are_put_back():
    alarms = []
    old = signal.signal(signal.SIGALRM, lambda signum, frame: alarms.append(signum))
    try:
        handler = signal.getsignal(signal.SIGALRM)
        signal.setitimer(signal.ITIMER_REAL, 100.0)
        assert not check(endless_on_case_1, time_limit=0.2).passed
        assert signal.getsignal(signal.SIGALRM) is handler
        assert 90.0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 100.0 and not alarms
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_outside_the_main_thread_the_watchdog_keeps_the_limit():
    reports = []
    thread = threading.Thread(target=lambda: reports.append(check(endless_on_case_1, 0.2)))
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive() and "did not finish within 0.2 s" in reports[0][1].message


def test_the_watchdog_never_fires_after_the_call(monkeypatch):
    monkeypatch.setattr(core, "_alarm_usable", lambda: False)
    for _ in range(50):  # answers that finish just around the limit
        check(lambda x: (time.sleep(0.004), 2 * x)[1], time_limit=0.005, count=1)
    time.sleep(0.05)  # a late exception would surface here, or in the next line
    assert sum(range(10)) == 45


def test_the_limit_waits_for_an_import_to_finish(limit_path, tmp_path, monkeypatch):
    name = f"slow_module_{limit_path}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent("""
        import time
        end = time.monotonic() + 0.6
        while time.monotonic() < end:  # Python instructions all along, as a real import has
            pass
        finished = True
    """))
    monkeypatch.syspath_prepend(str(tmp_path))

    def imports_then_loops(x):
        __import__(name)
        while True:
            pass

    report = check(imports_then_loops, time_limit=0.2, count=1)
    assert "did not finish within 0.2 s" in report[0].message
    assert sys.modules[name].finished  # the import ran to its end


def test_a_timeout_while_the_first_optimizer_is_built_leaves_the_next_check_working():
    # in a fresh process, where the first optimizer imports torch._dynamo (about 2 s here)
    script = textwrap.dedent("""
        import torch
        from mnist_tutorial.exercises import check_train_epoch
        from mnist_tutorial.exercises.core import _Case, _check

        def builds_an_optimizer(x):
            torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
            while True:
                pass

        case = _Case("case", (torch.ones(1),), {}, 2 * torch.ones(1))
        print(_check("first", builds_an_optimizer, [case], 0.01)[0].message.splitlines()[0])

        def right(model, batches, optimizer):
            loss_fn, total, count = torch.nn.CrossEntropyLoss(), 0.0, 0
            model.train()
            for images, labels in batches:
                optimizer.zero_grad()
                loss = loss_fn(model(images), labels)
                loss.backward()
                optimizer.step()
                total, count = total + loss.item() * len(labels), count + len(labels)
            return total / count

        print(check_train_epoch(right).passed)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["fn(x) did not finish within 0.01 s", "True"]


def test_a_forbidden_torch_function_is_refused_by_every_name():
    weight = torch.ones(1, 1, 1, 1)
    for shortcut in (lambda x: F.conv2d(x, 2 * weight), lambda x: torch.conv2d(x, 2 * weight),
                     lambda x: torch.nn.Conv2d(1, 1, 1, bias=False)(x)):
        report = check(shortcut)
        assert report[0].message == ("fn(x) called torch's conv2d: this exercise asks you to "
                                     "compute the convolution, so the checker does not accept "
                                     "that here")
        assert not any(result.passed for result in report)


def test_a_course_solution_is_refused_under_any_name_and_put_back():
    solution = ops.conv2d_loops
    code = solution.__code__
    weight = 2 * torch.ones(1, 1, 1, 1)
    report = check(lambda x: solution(x, weight))
    assert report[0].message.startswith("fn(x) called the course's own "
                                        "mnist_tutorial.ops.conv2d_loops: this exercise")
    assert solution.__code__ is code
    assert torch.equal(ops.conv2d_loops(torch.ones(1, 1, 2, 2), weight), 2 * torch.ones(1, 1, 2, 2))


def made_up_library(name: str) -> types.ModuleType:
    """A module standing in for numpy or scipy: ``doubled`` is the function an exercise refuses."""
    module = types.ModuleType(name)
    exec("def doubled(x):\n    return 2 * x\n", module.__dict__)
    return module


def test_a_library_function_is_refused_where_its_module_is_loaded_and_put_back(monkeypatch):
    library = made_up_library("made_up_windows")
    monkeypatch.setitem(sys.modules, "made_up_windows", library)
    code = library.doubled.__code__
    forbidden = Forbidden(task="double it yourself",
                          library_functions=("made_up_windows.doubled",))
    report = check(lambda x: library.doubled(x), forbidden=forbidden)
    assert report[0].message == ("fn(x) called made_up_windows.doubled: this exercise asks you "
                                 "to double it yourself, so the checker does not accept that here")
    assert not any(result.passed for result in report)
    assert library.doubled.__code__ is code
    assert library.doubled(3) == 6


def test_a_library_the_learner_imports_during_the_check_is_refused_from_the_first_case(
        monkeypatch):
    library = made_up_library("made_up_windows")
    monkeypatch.delitem(sys.modules, "made_up_windows", raising=False)

    def imports_it(x):  # as ``from scipy.signal import correlate2d`` inside the function does
        return sys.modules.setdefault("made_up_windows", library).doubled(x)

    forbidden = Forbidden(library_functions=("made_up_windows.doubled",))
    report = check(imports_it, forbidden=forbidden)
    assert [result.passed for result in report] == [False] * 4
    assert report[0].message.startswith("fn(x) called made_up_windows.doubled: ")


def test_a_library_that_is_not_loaded_is_not_imported_for_its_refusal():
    forbidden = Forbidden(library_functions=("made_up_unloaded.doubled", "numpy.convolve"))
    assert [name for name, _ in forbidden.named_functions()] == ["numpy.convolve"]
    assert "made_up_unloaded" not in sys.modules
    assert check(lambda x: 2 * x, forbidden=forbidden).passed


def test_a_refusal_the_learner_catches_still_fails_the_case():
    def hides_it(x):
        try:
            return F.conv2d(x, 2 * torch.ones(1, 1, 1, 1))
        except BaseException:
            return 2 * x

    assert "called torch's conv2d" in check(hides_it)[0].message


def test_allowed_torch_functions_keep_working_under_the_refusal():
    assert check(lambda x: torch.stack([v * 2 for v in x.flatten()]).reshape(x.shape)).passed


@pytest.mark.parametrize("change, name", [
    (lambda x: x.mul_(2), "x"),
    (lambda x: x.__setitem__((0, 0, 0, 0), 0.0) or 2 * x, "x"),
])
def test_an_input_changed_in_place_fails_and_names_it(change, name):
    message = check(change)[0].message
    assert message.startswith(f"fn(x) changed its input {name} in place")
    assert message.endswith(f"work on {name}.clone() or a new tensor")


def test_a_changed_list_is_named_by_the_learners_parameter():
    def pops(layers, size):
        layers.pop()
        return size

    with core._session(None) as session:
        with pytest.raises(core._InputChanged) as raised:
            session.learner(pops)([(3, 1), (2, 2)], 1)
    assert core._changed_message("fn(stack, 1)", str(raised.value)) == (
        "fn(stack, 1) changed its input layers in place (e.g. with .pop(), .append(), .sort() or "
        "[...] =): that would also change the caller's data; build a new list instead")


def test_a_big_failed_case_shows_the_numbers_around_the_first_difference():
    x = torch.zeros(1, 2, 6, 6)
    expected = x + 1
    case = _Case("big", (x,), {}, expected)

    def one_wrong(x):
        out = x + 1
        out[0, 1, 3, 4] = 7
        return out

    message = _check("big", one_wrong, [case], None)[0].message
    assert "first difference at index (0, 1, 3, 4): expected 1, got 7" in message
    assert "around it, [0, 1, 2:5, 3:6]:" in message
    assert "got      [[1.0, 1.0, 1.0], [1.0, 7.0, 1.0], [1.0, 1.0, 1.0]]" in message


def test_right_numbers_in_another_dtype_fail_and_say_so():
    message = check(lambda x: (2 * x).double())[0].message
    assert message.startswith("the numbers are right, but they are torch.float64 where PyTorch "
                              "gives torch.float32")


def test_without_a_session_the_old_way_still_times_the_call():
    result = core._attempt("case", "fn()", lambda: time.sleep(5), lambda got: None, 0.2)
    assert "did not finish within 0.2 s" in result.message


def test_hints_helper_sees_every_failed_case():
    assert set(hints(check(lambda x: x))) == {"case 0", "case 1", "case 2", "case 3"}


def test_a_not_implemented_error_from_torch_is_not_called_not_done_yet():
    def wrong_dtypes(x):
        return F.cross_entropy(x.long().flatten(0, 2), x.flatten(0, 2))  # labels and scores swapped

    message = check(wrong_dtypes)[0].message
    assert message.startswith("fn(x) raised NotImplementedError:")
    assert "Hint: PyTorch cannot do this operation on these tensors" in message
    assert check(lambda x: (_ for _ in ()).throw(NotImplementedError))[0].message == (
        "not done yet: fn(x) still raises NotImplementedError")


def test_a_forbidden_function_outside_the_course_is_named_as_it_is():
    forbidden = Forbidden(functions=(torch.nn.grad.conv2d_input,), task="write the gradient")
    report = check(lambda x: torch.nn.grad.conv2d_input(x.shape, torch.ones(1, 1, 1, 1), x),
                   forbidden=forbidden)
    assert report[0].message.startswith("fn(x) called torch.nn.grad.conv2d_input: this exercise")
