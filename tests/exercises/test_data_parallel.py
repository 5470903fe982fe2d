"""The gradient-averaging checker (notebook 09) runs a learner's file in two Gloo processes; the
course's own averaging is refused in the file and while the learner's function runs."""

import importlib
import inspect
import textwrap

import pytest
import torch
import torch.distributed as dist

from mnist_tutorial.distributed import World
from mnist_tutorial.exercises import check_average_gradients
from mnist_tutorial.exercises.data_parallel import _case, _reference_average
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


COURSE = ("your file imports the course's own code (mnist_tutorial: mnist_tutorial.distributed's "
          "World.mean averages over the processes), which is not your answer. This exercise asks "
          "you to average the gradients yourself with torch.distributed.all_reduce")


@pytest.mark.parametrize("body, refused", [
    ("from torch.nn.parallel import DistributedDataParallel\n\n\ndef average_gradients(model):\n"
     "    pass\n", "DistributedDataParallel does the averaging for you"),
    ("from mnist_tutorial.exercises import data_parallel\n\n\ndef average_gradients(model):\n"
     "    data_parallel._reference_average(model)\n", COURSE),
    ("from mnist_tutorial.distributed import World\n\n\ndef average_gradients(model):\n"
     "    world = World(dist.get_rank(), dist.get_world_size(), torch.device('cpu'), 'gloo')\n"
     "    for p in model.parameters():\n        p.grad.copy_(world.mean(p.grad))\n", COURSE),
    ("import mnist_tutorial.distributed\n\n\ndef average_gradients(model):\n    pass\n", COURSE),
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


@pytest.fixture
def one_process(tmp_path):
    """A process group of this process alone, as each torchrun process has one of two."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)
    yield
    dist.destroy_process_group()


def course_mean(model):
    """What the file check cannot see: the course's module imported by a name built at run
    time."""
    distributed = importlib.import_module("mnist_" + "tutorial.distributed")
    world = distributed.World(dist.get_rank(), dist.get_world_size(), torch.device("cpu"), "gloo")
    for p in model.parameters():
        p.grad.copy_(world.mean(p.grad))


def course_mean_caught(model):
    try:
        course_mean(model)
    except Exception:  # the refusal is no Exception: catching it changes nothing
        pass


def course_reference(model):
    importlib.import_module("mnist_" + "tutorial.exercises.data_parallel")._reference_average(model)


RUN_TIME_REFUSAL = ("average_gradients(model) called the course's own {}: this exercise asks you "
                    "to average the gradients yourself with torch.distributed.all_reduce, so the "
                    "checker does not accept that here")


@pytest.mark.parametrize("average, name", [
    (course_mean, "mnist_tutorial.distributed.World.mean"),
    (course_mean_caught, "mnist_tutorial.distributed.World.mean"),
    (course_reference, "mnist_tutorial.exercises.data_parallel._reference_average"),
])
def test_the_course_average_is_refused_while_the_learner_runs(one_process, average, name):
    result = _case("a case", average, 0, 8)
    assert not result.passed
    assert result.message == RUN_TIME_REFUSAL.format(name)
    world = World(0, 1, torch.device("cpu"), "gloo")
    assert torch.equal(world.mean(torch.ones(3)), torch.ones(3))  # put back afterwards


def test_an_own_average_passes_in_one_process(one_process):
    def average_gradients(model):
        for p in model.parameters():
            dist.all_reduce(p.grad)
            p.grad.div_(dist.get_world_size())

    assert _case("a case", average_gradients, 0, 8).passed


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
