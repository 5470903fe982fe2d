"""The gradient-averaging checker (notebook 09) runs a learner's file in two Gloo processes."""

import inspect
import textwrap

import pytest

from mnist_tutorial.exercises import check_average_gradients
from mnist_tutorial.exercises.data_parallel import _reference_average
from tests.helpers import hints

HEADER = "import torch\nimport torch.distributed as dist\n\n\n"


def answer(tmp_path, body: str):
    """A learner's file holding ``body`` after the import."""
    path = tmp_path / "average.py"
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def test_the_reference_solution_passes_through_the_same_checker(tmp_path):
    source = inspect.getsource(_reference_average).replace("_reference_average",
                                                           "average_gradients")
    report = check_average_gradients(answer(tmp_path, source))
    assert report.passed, str(report)
    assert len(report) == 2


def test_the_skeleton_is_not_done_yet_and_a_sum_is_named(tmp_path):
    skeleton = check_average_gradients(answer(tmp_path, """\
        def average_gradients(model):
            raise NotImplementedError
        """))
    assert not skeleton.passed
    assert all(m.startswith("not done yet: average_gradients(model) still raises")
               for m in hints(skeleton).values())
    summed = check_average_gradients(answer(tmp_path, """\
        def average_gradients(model):
            for p in model.parameters():
                dist.all_reduce(p.grad)
        """))
    assert not summed.passed
    assert all("summed, not averaged" in m for m in hints(summed).values())


def test_averaging_the_weights_instead_of_the_gradients_is_named(tmp_path):
    """Every process starts from the same weights, so averaging them changes nothing: the
    gradients are still each process's own, and that is what the hint says."""
    weights = check_average_gradients(answer(tmp_path, """\
        def average_gradients(model):
            for p in model.parameters():
                dist.all_reduce(p.data)
                p.data /= dist.get_world_size()
        """))
    assert all("nothing was exchanged" in m for m in hints(weights).values())
    stepped = check_average_gradients(answer(tmp_path, """\
        def average_gradients(model):
            for p in model.parameters():
                dist.all_reduce(p.grad)
                p.grad /= dist.get_world_size()
                p.data -= 0.01 * p.grad
        """))
    assert all("the weights changed: average p.grad" in m for m in hints(stepped).values())


@pytest.mark.parametrize("body, refused", [
    ("from torch.nn.parallel import DistributedDataParallel\n\n\ndef average_gradients(model):\n"
     "    pass\n", "DistributedDataParallel does the averaging for you"),
    ("from mnist_tutorial.exercises import data_parallel\n\n\ndef average_gradients(model):\n"
     "    data_parallel._reference_average(model)\n", "the course's own code is not your answer"),
    ("def average_gradients(model):\n    model.module\n", None),
])
def test_shortcuts_are_refused_before_anything_runs(tmp_path, body, refused, monkeypatch):
    started = []
    monkeypatch.setattr("subprocess.Popen", lambda *a, **k: started.append(a) or 1 / 0)
    if refused is None:  # a harmless file does reach the launch
        with pytest.raises(ZeroDivisionError):
            check_average_gradients(answer(tmp_path, body))
        assert started
        return
    report = check_average_gradients(answer(tmp_path, body))
    assert not report.passed and refused in report[0].message and started == []


def test_a_file_that_fails_to_run_is_one_failed_case(tmp_path):
    report = check_average_gradients(answer(tmp_path, "1 / 0\n\n\ndef average_gradients(m):\n"
                                                      "    pass\n"))
    assert [case.name for case in report] == ["your file"]
    assert "raised ZeroDivisionError: division by zero" in report[0].message


def test_a_missing_file_or_function_says_what_to_do(tmp_path):
    assert "run the %%writefile cell" in check_average_gradients(tmp_path / "no.py")[0].message
    other = answer(tmp_path, "def something_else(model):\n    pass\n")
    message = check_average_gradients(other)[0].message
    assert "defines no function average_gradients(model)" in message
