"""The teacher edition: a student edition of the notebooks built with nbgrader, and grades per
exercise for the submissions that nbgrader autogrades.

``notebooks/`` is nbgrader's source as it is. Its exercise cells carry nbgrader's cell metadata:
the learner's skeleton is an answer cell, the checker cell below it a locked graded cell with
points, and the cells that hold or announce a reference solution carry the tag
``reference-solution``. None of that changes what a self-learner sees. ``build`` copies the
notebooks into a course folder, adds each graded cell's hidden tests, writes the course's
``nbgrader_config.py`` and runs nbgrader's ``generate_assignment``; release, collect, autograde
and feedback are nbgrader's own commands, and ``ExerciseGrades`` exports one row per student
and exercise (README, "For teachers").

    python -m mnist_tutorial.teacher build COURSE_DIR [NOTEBOOK ...]
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.plugins import ExportPlugin

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
REMOVED_TAG = "reference-solution"  # cells left out of the student edition
CELL_TIMEOUT = 120  # seconds a cell may run while grading: an endless loop costs its exercise only
HIDDEN_SEED = 2024  # the hidden cases' random numbers; a teacher may change it in the course source
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CSV_COLUMNS = ("student", "assignment", "exercise", "points", "max_points")

# grade id -> the checks its cell runs when graded, hidden from the student edition: the visible
# check again, strictly (a failed case raises, so the cell earns nothing), and, for a checker with
# random cases, the same cases with other numbers, so that an answer tuned to the visible ones fails
GRADED_CHECKS: dict[str, tuple[str, ...]] = {
    "conv2d": ("check_conv2d(my_conv2d)", f"check_conv2d(my_conv2d, seed={HIDDEN_SEED})"),
    "output_size": ("check_conv_output_size(my_output_size)",),
    "max_pool2d": ("check_pool2d(my_max_pool2d)",
                   f"check_pool2d(my_max_pool2d, seed={HIDDEN_SEED})"),
    "avg_pool2d": ('check_pool2d(my_avg_pool2d, kind="avg")',
                   f'check_pool2d(my_avg_pool2d, kind="avg", seed={HIDDEN_SEED})'),
    "net": ("check_net(Net)",),
    "train_one_epoch": ("check_train_epoch(train_one_epoch)",),
    "accuracy": ("check_evaluate(accuracy)",),
    "max_pool2d_backward": ("check_max_pool2d_backward(my_max_pool2d_backward)",
                            "check_max_pool2d_backward(my_max_pool2d_backward, "
                            f"seed={HIDDEN_SEED})"),
    "conv2d_backward": ("check_conv2d_backward(my_conv2d_backward)",
                        f"check_conv2d_backward(my_conv2d_backward, seed={HIDDEN_SEED})"),
    "receptive_field": ("check_receptive_field(my_receptive_field)",),
    "validation_split": ("check_validation_split(my_train_validation_split)",),
    "average_gradients": ('check_average_gradients(WORK / "average.py")',),
}

CONFIG = '''\
# nbgrader's settings for this course, written by `python -m mnist_tutorial.teacher build`
# (it never overwrites this file: delete it to get the defaults back).
import os

from mnist_tutorial.teacher import student_edition_preprocessors

c = get_config()  # noqa: F821 (nbgrader defines it)
c.CourseDirectory.course_id = "mnist-tutorial"
# The student edition: the answer cells keep the learner's skeleton, the cells tagged
# reference-solution are left out, the outputs cleared, the hidden tests removed.
c.GenerateAssignment.preprocessors = student_edition_preprocessors()
c.TagRemovePreprocessor.enabled = True
c.TagRemovePreprocessor.remove_cell_tags = {{"{tag}"}}
# Grading: each cell may run {timeout} s (an endless loop then costs that exercise only), and the
# notebooks train on quick mode's small subset, as the exercises do not depend on it.
c.ExecutePreprocessor.timeout = {timeout}
# nbgrader counts any stderr output of a graded cell as a failure, so a warning printed by a right
# answer would cost its points: drop stderr there. A failed check raises, which still counts.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = "(?s)."  # any text
os.environ.setdefault("MNIST_TUTORIAL_QUICK", "1")
# Release and collect without JupyterHub: the exchange folder sits inside the course folder, and
# `nbgrader zip_collect ASSIGNMENT` collects the files that students uploaded, named
# STUDENT--NOTEBOOK.ipynb, from downloaded/ASSIGNMENT/archive/.
c.Exchange.root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exchange")
c.ZipCollectApp.collector_plugin = "nbgrader.plugins.FileNameCollectorPlugin"
c.FileNameCollectorPlugin.named_regexp = (
    r".*/(?P<student_id>[A-Za-z0-9_.-]+?)--(?P<file_id>\\d\\d_[a-z0-9_]+)(?: \\(\\d+\\))?\\.ipynb$")
'''


def student_edition_preprocessors() -> list[type]:
    """nbgrader's generate_assignment steps, with the reference-solution cells removed first and
    without ClearSolutions, which would replace each skeleton with a bare ``raise``."""
    from nbconvert.preprocessors import TagRemovePreprocessor
    from nbgrader.converters import GenerateAssignment

    steps = GenerateAssignment.preprocessors.default()
    return [TagRemovePreprocessor, *(step for step in steps if step.__name__ != "ClearSolutions")]


def nbgrader_cell(cell: dict) -> dict:
    """The cell's nbgrader metadata (empty for a cell nbgrader leaves alone)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def is_graded(cell: dict) -> bool:
    return bool(nbgrader_cell(cell).get("grade"))


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def graded_source(visible: str, grade_id: str) -> str:
    """A graded cell's source in the course: the check the student sees, then the hidden tests,
    which import the checkers again (a cell above may have reused their names)."""
    if grade_id not in GRADED_CHECKS:
        raise ValueError(f"no graded checks for grade id {grade_id!r}: add them to "
                         f"mnist_tutorial.teacher.GRADED_CHECKS")
    checks = GRADED_CHECKS[grade_id]
    checkers = sorted({check.split("(", 1)[0] for check in checks})
    hidden = [BEGIN_HIDDEN,
              f"from mnist_tutorial.exercises import {', '.join(checkers)}",
              "",
              *(f"{check}.assert_passed()" for check in checks),
              END_HIDDEN]
    return visible.rstrip("\n") + "\n" + "\n".join(hidden)


def course_source(notebook: dict) -> dict:
    """``notebook`` as nbgrader's source: every graded cell gets its hidden tests, and the stored
    widget state goes (nbgrader clears the outputs that display it)."""
    notebook = copy.deepcopy(notebook)
    notebook["metadata"].pop("widgets", None)
    for cell in notebook["cells"]:
        if is_graded(cell):
            cell["source"] = graded_source(source(cell), nbgrader_cell(cell)["grade_id"])
    return notebook


def notebook_paths(names: Iterable[str] = ()) -> list[Path]:
    """The notebooks named (``01_convolution_by_hand``, with or without ``.ipynb``), or all."""
    names = list(names)
    if not names:
        return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    paths = [NOTEBOOKS / (name if name.endswith(".ipynb") else f"{name}.ipynb")
             for name in (Path(name).name for name in names)]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise ValueError(f"no such notebook in {NOTEBOOKS}: {', '.join(missing)}; the notebooks "
                         f"are {', '.join(p.stem for p in sorted(NOTEBOOKS.glob('*.ipynb')))}")
    return paths


def nbgrader(course: Path, *arguments: str) -> None:
    """Run one nbgrader command in the course folder; its error is raised with its output."""
    done = subprocess.run([sys.executable, "-m", "nbgrader", *arguments], cwd=course,
                          capture_output=True, text=True)
    output = done.stdout + done.stderr
    if done.returncode or "Exception while loading config file" in output:  # a broken config
        raise RuntimeError(f"nbgrader {' '.join(arguments)} failed:\n{output}")  # is only logged


def build(course: Path, names: Iterable[str] = ()) -> list[Path]:
    """Build the student edition of the notebooks named (all by default) into ``course``: one
    nbgrader assignment per notebook, named like it; returns the released notebooks. Building
    them all regenerates every assignment in the course's source folder, in one nbgrader run."""
    paths = notebook_paths(names)
    course = Path(course).resolve()
    course.mkdir(parents=True, exist_ok=True)
    config = course / "nbgrader_config.py"
    if not config.exists():
        config.write_text(CONFIG.format(tag=REMOVED_TAG, timeout=CELL_TIMEOUT))
    for path in paths:
        target = course / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        notebook = course_source(json.loads(path.read_text(encoding="utf-8")))
        target.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")
    for assignment in [path.stem for path in paths] if names else ["*"]:
        nbgrader(course, "generate_assignment", assignment, "--force")
    return [course / "release" / path.stem / path.name for path in paths]


class ExerciseGrades(ExportPlugin):
    """nbgrader export to a CSV file of one row per student and exercise (grade cell):
    ``nbgrader export --exporter=mnist_tutorial.teacher.ExerciseGrades --to grades.csv``."""

    def export(self, gradebook: Gradebook) -> None:
        destination = self.to or "grades.csv"
        with open(destination, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            for assignment in gradebook.assignments:
                if self.assignment and assignment.name not in self.assignment:
                    continue
                for submission in sorted(assignment.submissions, key=lambda s: s.student_id):
                    if self.student and submission.student_id not in self.student:
                        continue
                    for notebook in submission.notebooks:
                        for grade in sorted(notebook.grades, key=lambda g: g.name):
                            writer.writerow((submission.student_id, assignment.name,
                                             grade.name, grade.score, grade.max_score))
        self.log.info("Exported the points per exercise to %s", destination)


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnist_tutorial.teacher",
                                     description="The course's teacher edition, with nbgrader.")
    commands = parser.add_subparsers(dest="command", required=True)
    build_command = commands.add_parser(
        "build", help="build the student edition into a course folder (nbgrader's layout)")
    build_command.add_argument("course", type=Path, help="the course folder (created if needed)")
    build_command.add_argument("notebooks", nargs="*",
                               help="e.g. 01_convolution_by_hand (default: every notebook)")
    options = parser.parse_args(arguments)
    try:
        released = build(options.course, options.notebooks)
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in released:
        print(f"student edition: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
