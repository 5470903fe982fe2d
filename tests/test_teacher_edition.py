"""The teacher edition (mnist_tutorial.teacher): the student edition that nbgrader builds from
notebooks/, and nbgrader's autograding of made-up submissions, end to end, in a temporary course
folder."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mnist_tutorial import teacher
from mnist_tutorial.exercises import (
    check_conv2d,
    check_conv2d_backward,
    check_max_pool2d_backward,
    check_pool2d,
)

README = Path(__file__).resolve().parents[1] / "README.md"
GRADED_TIMEOUT = 20  # seconds per cell in the autograde test: far above any cell of 03 (quick)


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def cells_by_id(notebook: dict) -> dict[str, dict]:
    return {cell["id"]: cell for cell in notebook["cells"]}


def removed(cell: dict) -> bool:
    return teacher.REMOVED_TAG in cell["metadata"].get("tags", [])


def points(notebook: dict) -> dict[str, float]:
    """grade id -> points of every graded cell, as the notebook's metadata gives them."""
    return {teacher.nbgrader_cell(cell)["grade_id"]: teacher.nbgrader_cell(cell)["points"]
            for cell in notebook["cells"] if teacher.is_graded(cell)}


def run_nbgrader(course: Path, *arguments: str, env: dict | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "nbgrader", *arguments], cwd=course, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


# ---------------------------------------------------------------------------------------------
# The exercise cells' metadata and the graded checks


def test_every_exercise_is_an_answer_cell_with_a_graded_checker_after_it():
    for path in teacher.notebook_paths():
        cells = read(path)["cells"]
        for index, cell in enumerate(cells):
            if (cell["cell_type"] != "code"
                    or "raise NotImplementedError" not in teacher.source(cell)):
                continue
            assert teacher.nbgrader_cell(cell).get("solution") is True, (path.name, index)
            checker = cells[index + 1]
            assert teacher.is_graded(checker), (path.name, index + 1)
            assert teacher.nbgrader_cell(checker)["locked"] is True
            assert not removed(cell) and not removed(checker)


def test_the_graded_checks_match_the_graded_cells():
    graded = {}
    for path in teacher.notebook_paths():
        for cell in read(path)["cells"]:
            if teacher.is_graded(cell):
                graded[teacher.nbgrader_cell(cell)["grade_id"]] = teacher.source(cell).strip()
    assert set(graded) == set(teacher.GRADED_CHECKS)
    for grade_id, visible in graded.items():
        # the first graded check is the visible one, made strict
        assert visible.endswith(teacher.GRADED_CHECKS[grade_id][0]), grade_id


def test_the_readme_table_gives_every_exercise_its_points():
    text = README.read_text(encoding="utf-8")
    for path in teacher.notebook_paths():
        for grade_id, value in points(read(path)).items():
            assert f"| `{grade_id}` | {value} |" in text, grade_id


def test_assert_passed_raises_with_the_report_only_when_a_case_failed():
    check_pool2d(_max_pool_by_hand).assert_passed()
    wrong = check_pool2d(lambda x, kernel_size, stride=None, padding=0: x)
    with pytest.raises(AssertionError, match="0 of 9 cases passed"):
        wrong.assert_passed()


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _max_pool_by_hand(x, kernel_size, stride=None, padding=0):
    """Max pooling with indexing, as a learner may write it."""
    unbatched = x.dim() == 3
    x = x[None] if unbatched else x
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(kernel_size if stride is None else stride)
    x = F.pad(x, (pw, pw, ph, ph), value=float("-inf"))
    rows, columns = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = torch.stack([torch.stack([x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].amax((-2, -1))
                                    for j in range(columns)], -1) for i in range(rows)], -2)
    return out[0] if unbatched else out


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
                and torch.equal(a, b))
    return a == b


def memorising(checker, reference, **options):
    """An answer tuned to the visible cases: it records their inputs, then answers those (and
    nothing else) from a table computed with the library."""
    seen = []
    checker(lambda *args, **kwargs: seen.append((args, kwargs)) or torch.zeros(0), **options)
    table = [(args, kwargs, reference(*args, **kwargs)) for args, kwargs in seen]

    def answer(*args, **kwargs):
        for known, known_kwargs, result in table:
            if (len(known) == len(args) and all(map(same, known, args))
                    and known_kwargs.keys() == kwargs.keys()
                    and all(same(known_kwargs[key], kwargs[key]) for key in kwargs)):
                return result
        return torch.zeros(0)
    return answer


def conv_backward_by_autograd(x, weight, grad_output, stride=1, padding=0):
    x, weight = x.clone().requires_grad_(), weight.clone().requires_grad_()
    bias = torch.zeros(weight.shape[0], dtype=x.dtype, requires_grad=True)
    F.conv2d(x, weight, bias, stride, padding).backward(grad_output)
    return x.grad, weight.grad, bias.grad


def max_pool_backward_by_autograd(x, kernel_size, grad_output, stride=None, padding=0):
    x = x.clone().requires_grad_()
    F.max_pool2d(x, kernel_size, stride, padding).backward(grad_output)
    return x.grad


@pytest.mark.parametrize("checker, reference, options", [
    (check_conv2d, F.conv2d, {}),
    (check_pool2d, F.max_pool2d, {}),
    (check_pool2d, F.avg_pool2d, {"kind": "avg"}),
    (check_conv2d_backward, conv_backward_by_autograd, {}),
    (check_max_pool2d_backward, max_pool_backward_by_autograd, {}),
])
def test_a_hidden_seed_fails_an_answer_tuned_to_the_visible_cases(checker, reference, options):
    tuned = memorising(checker, reference, **options)
    assert checker(tuned, **options).passed
    hidden = checker(tuned, seed=teacher.HIDDEN_SEED, **options)
    assert not hidden.passed
    visible_names = [result.name for result in checker(tuned, **options)]
    assert [result.name for result in hidden] == visible_names  # the same cases, other numbers
    assert len(hidden.failed) >= len(hidden) - 2  # only the fixed worked examples still pass


# notebook -> {the learner's name: the reference solution's name}, for the exercises with hidden
# cases
REFERENCE_NAMES = {
    "01_convolution_by_hand": {"my_conv2d": "solution"},
    "03_pooling": {"my_max_pool2d": "solution_max_pool2d", "my_avg_pool2d": "solution_avg_pool2d"},
    "06_backpropagation_by_hand": {"my_max_pool2d_backward": "solution",
                                   "my_conv2d_backward": "conv_solution"},
}


@pytest.mark.parametrize("stem", sorted(REFERENCE_NAMES))
def test_the_reference_solutions_pass_the_hidden_cases(stem):
    cells = read(teacher.NOTEBOOKS / f"{stem}.ipynb")["cells"]
    namespace: dict = {}
    imports = next(cell for cell in cells if "from mnist_tutorial" in teacher.source(cell))
    exec(teacher.source(imports), namespace)
    for cell in cells:
        if removed(cell) and cell["cell_type"] == "code":
            namespace_before = set(namespace)
            exec(teacher.source(cell), namespace)
            assert set(namespace) > namespace_before
    for learner, reference in REFERENCE_NAMES[stem].items():
        namespace[learner] = namespace[reference]
    graded = [teacher.nbgrader_cell(cell)["grade_id"] for cell in cells if teacher.is_graded(cell)]
    hidden = [check for grade_id in graded for check in teacher.GRADED_CHECKS[grade_id][1:]]
    assert len(hidden) == len(REFERENCE_NAMES[stem])  # every one has its hidden cases
    for check in hidden:
        exec(f"{check}.assert_passed()", namespace)


def test_the_graded_source_adds_the_hidden_checks_after_the_visible_one():
    text = teacher.graded_source("check_conv2d(my_conv2d)\n", "conv2d")
    lines = text.splitlines()
    assert lines[0] == "check_conv2d(my_conv2d)"
    assert lines[1] == teacher.BEGIN_HIDDEN and lines[-1] == teacher.END_HIDDEN
    assert "from mnist_tutorial.exercises import check_conv2d" in lines
    assert f"check_conv2d(my_conv2d, seed={teacher.HIDDEN_SEED}).assert_passed()" in lines
    with pytest.raises(ValueError, match="no graded checks for grade id 'nonsense'"):
        teacher.graded_source("check_conv2d(my_conv2d)", "nonsense")


def test_an_unknown_notebook_is_refused_with_the_names_there_are():
    with pytest.raises(ValueError, match="no such notebook.*10_nothing.*01_convolution_by_hand"):
        teacher.notebook_paths(["10_nothing"])


# ---------------------------------------------------------------------------------------------
# The student edition


@pytest.fixture(scope="module")
def full_course(tmp_path_factory) -> Path:
    course = tmp_path_factory.mktemp("course")
    released = teacher.build(course)
    assert [path.name for path in released] == [p.name for p in teacher.notebook_paths()]
    return course


@pytest.mark.nbgrader
def test_the_student_edition_holds_no_solution_and_no_output(full_course):
    for path in teacher.notebook_paths():
        original = read(path)
        student = read(full_course / "release" / path.stem / path.name)
        kept = cells_by_id(student)
        assert "widgets" not in student["metadata"]
        for cell in original["cells"]:
            if removed(cell):
                assert cell["id"] not in kept, (path.name, cell["id"])
            else:
                assert cell["id"] in kept, (path.name, cell["id"])
        solutions = [teacher.source(cell) for cell in original["cells"] if removed(cell)
                     and cell["cell_type"] == "code"]
        assert solutions, path.name  # every notebook has a reference solution to remove
        for cell in student["cells"]:
            text = teacher.source(cell)
            assert "Reference solution" not in text and "reference solution;" not in text
            assert teacher.BEGIN_HIDDEN not in text and "assert_passed" not in text
            assert all(text.strip() not in solution for solution in solutions if text.strip()
                       and cell["cell_type"] == "code" and len(text) > 200), (path.name, text)
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None
        for cell_id, cell in kept.items():
            nbgrader = teacher.nbgrader_cell(cell)
            if nbgrader.get("solution"):  # the learner's skeleton, unchanged
                assert teacher.source(cell) == teacher.source(cells_by_id(original)[cell_id])
            if nbgrader.get("grade"):  # the visible check, locked
                assert nbgrader["locked"] is True
                visible = teacher.source(cells_by_id(original)[cell_id]).rstrip()
                assert teacher.source(cell) == visible


@pytest.mark.nbgrader
def test_the_course_source_keeps_the_hidden_tests_for_grading(full_course):
    for path in teacher.notebook_paths():
        source = read(full_course / "source" / path.stem / path.name)
        for cell in source["cells"]:
            if teacher.is_graded(cell):
                grade_id = teacher.nbgrader_cell(cell)["grade_id"]
                assert teacher.source(cell).endswith(teacher.END_HIDDEN)
                for check in teacher.GRADED_CHECKS[grade_id]:
                    assert f"{check}.assert_passed()" in teacher.source(cell)


def test_the_build_command_refuses_an_unknown_notebook(tmp_path, capsys):
    assert teacher.main(["build", str(tmp_path / "course"), "10_nothing"]) == 1
    assert "error: no such notebook" in capsys.readouterr().err
    assert not (tmp_path / "course").exists()


# ---------------------------------------------------------------------------------------------
# Autograding made-up submissions of notebook 03 (two exercises: max_pool2d 2 points, avg 1)

NOTEBOOK = "03_pooling"


def reference_code() -> str:
    """The code of 03's reference-solution cell."""
    cells = read(teacher.NOTEBOOKS / f"{NOTEBOOK}.ipynb")["cells"]
    return next(teacher.source(cell) for cell in cells
                if removed(cell) and cell["cell_type"] == "code")


def answer_index(notebook: dict, grade_id: str) -> int:
    return next(i for i, cell in enumerate(notebook["cells"])
                if teacher.nbgrader_cell(cell).get("grade_id") == f"{grade_id}_answer")


def checker_index(notebook: dict, grade_id: str) -> int:
    return next(i for i, cell in enumerate(notebook["cells"])
                if teacher.nbgrader_cell(cell).get("grade_id") == grade_id)


def set_source(notebook: dict, index: int, text: str) -> None:
    notebook["cells"][index]["source"] = text


def trimmed(notebook: dict) -> dict:
    """Only the cells up to the imports, and the exercise cells: what grading needs (the lesson
    cells cost time; the untouched submission keeps them all)."""
    cells = notebook["cells"]
    first = next(i for i, cell in enumerate(cells) if "from mnist_tutorial" in teacher.source(cell))
    keep = cells[:first + 1] + [cell for cell in cells[first + 1:] if teacher.nbgrader_cell(cell)]
    return {**notebook, "cells": keep}


RIGHT_MAX = reference_code() + "\n\nmy_max_pool2d = solution_max_pool2d\n"
RIGHT_AVG = reference_code() + "\n\nmy_avg_pool2d = solution_avg_pool2d\n"  # on its own
WRONG_AVG = ("def my_avg_pool2d(x, kernel_size, stride=None, padding=0):\n"
             "    return solution_max_pool2d(x, kernel_size, stride, padding)  # max, not mean\n")
SHORTCUT_MAX = (reference_code()
                + "\n\ndef my_max_pool2d(x, kernel_size, stride=None, padding=0):\n"
                + "    return F.max_pool2d(x, kernel_size, stride, padding)\n")
WARNING_MAX = (reference_code() + "\n\nimport warnings\n\n\n"
               "def my_max_pool2d(x, kernel_size, stride=None, padding=0):\n"
               "    warnings.warn('my note to myself')  # goes to stderr\n"
               "    return solution_max_pool2d(x, kernel_size, stride, padding)\n")
TUNED_MAX = (reference_code() + "\n\nfrom tests.test_teacher_edition import memorising\n\n"
             "my_max_pool2d = memorising(check_pool2d, F.max_pool2d)\n")


def submissions(student_edition: dict) -> dict[str, tuple[dict, set[str]]]:
    """student id -> (notebook, the exercises it should get the points of)."""
    made = {}

    def make(name: str, right: set[str], max_answer: str | None = None,
             avg_answer: str | None = None, full: bool = False):
        notebook = json.loads(json.dumps(student_edition))
        if max_answer is not None:
            set_source(notebook, answer_index(notebook, "max_pool2d"), max_answer)
        if avg_answer is not None:
            set_source(notebook, answer_index(notebook, "avg_pool2d"), avg_answer)
        made[name] = (notebook if full else trimmed(notebook), right)
        return made[name][0]

    make("untouched", set(), full=True)
    make("all_right", {"max_pool2d", "avg_pool2d"}, RIGHT_MAX, RIGHT_AVG)
    make("partly_wrong", {"max_pool2d"}, RIGHT_MAX, WRONG_AVG)
    make("shortcut", {"avg_pool2d"}, SHORTCUT_MAX, RIGHT_AVG)
    make("right_but_warns", {"max_pool2d", "avg_pool2d"}, WARNING_MAX, RIGHT_AVG)
    make("tuned_to_visible", {"avg_pool2d"}, TUNED_MAX, RIGHT_AVG)
    make("endless_loop", {"avg_pool2d"}, "while True:\n    pass\n" + RIGHT_MAX, RIGHT_AVG)
    make("syntax_error", {"max_pool2d"}, RIGHT_MAX, "def my_avg_pool2d(x, kernel_size:\n")
    deleted = make("deleted_checker", {"avg_pool2d"}, RIGHT_MAX, RIGHT_AVG)
    del deleted["cells"][checker_index(deleted, "max_pool2d")]
    edited = make("edited_checker", {"avg_pool2d"},
                  "def my_max_pool2d(x, kernel_size, stride=None, padding=0):\n    return x\n",
                  RIGHT_AVG)
    checker = edited["cells"][checker_index(edited, "max_pool2d")]
    checker["source"] = "print('all cases passed')  # edited to always pass\n"
    checker["metadata"]["nbgrader"]["locked"] = False
    failing = make("failing_import", set(), RIGHT_MAX, RIGHT_AVG)
    first = next(i for i, cell in enumerate(failing["cells"])
                 if "from mnist_tutorial" in teacher.source(cell))
    set_source(failing, first, "import mnist_tutorial_misspelled\n"
               + teacher.source(failing["cells"][first]))
    return made


@pytest.mark.nbgrader
def test_autograding_gives_every_submission_its_points(tmp_path, mnist_root):
    course = tmp_path / "course"
    (released,) = teacher.build(course, [NOTEBOOK])
    rules = points(read(teacher.NOTEBOOKS / f"{NOTEBOOK}.ipynb"))
    made = submissions(read(released))
    archive = course / "downloaded" / NOTEBOOK / "archive"
    archive.mkdir(parents=True)
    for student, (notebook, _) in made.items():  # as uploaded: STUDENT--NOTEBOOK.ipynb
        (archive / f"{student}--{NOTEBOOK}.ipynb").write_text(json.dumps(notebook, indent=1))

    env = {**os.environ, "MNIST_TUTORIAL_QUICK": "1", "MNIST_TUTORIAL_DATA": str(mnist_root),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}  # for TUNED_MAX's import
    run_nbgrader(course, "zip_collect", NOTEBOOK, env=env)
    assert sorted(p.name for p in (course / "submitted").iterdir()) == sorted(made)
    run_nbgrader(course, "autograde", NOTEBOOK, f"--ExecutePreprocessor.timeout={GRADED_TIMEOUT}",
                 env=env)
    run_nbgrader(course, "generate_feedback", NOTEBOOK, env=env)
    run_nbgrader(course, "export", "--exporter=mnist_tutorial.teacher.ExerciseGrades",
                 "--to=grades.csv", env=env)

    with open(course / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == teacher.CSV_COLUMNS
    got = {(row["student"], row["exercise"]): float(row["points"]) for row in rows}
    expected = {(student, exercise): (value if exercise in right else 0.0)
                for student, (_, right) in made.items() for exercise, value in rules.items()}
    assert got == expected
    assert {float(row["max_points"]) for row in rows if row["exercise"] == "max_pool2d"} == {
        rules["max_pool2d"]}
    for student in made:
        feedback = course / "feedback" / student / NOTEBOOK / f"{NOTEBOOK}.html"
        assert feedback.is_file(), student
    # the edited checker was graded as released, with its hidden tests
    graded = read(course / "autograded" / "edited_checker" / NOTEBOOK / f"{NOTEBOOK}.ipynb")
    checker = graded["cells"][checker_index(graded, "max_pool2d")]
    assert f"seed={teacher.HIDDEN_SEED}" in teacher.source(checker)
    assert "always pass" not in teacher.source(checker)
    # the endless loop cost its own cell only
    looping = read(course / "autograded" / "endless_loop" / NOTEBOOK / f"{NOTEBOOK}.ipynb")
    outputs = looping["cells"][answer_index(looping, "max_pool2d")]["outputs"]
    assert any(output.get("ename") in {"CellTimeoutError", "KeyboardInterrupt"}
               for output in outputs), outputs
