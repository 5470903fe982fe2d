import importlib.util
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbval.plugin import find_comment_markers, find_metadata_tags

# the maintainers' notebook tool lives with CI (.ci/notebook_conventions.py), not among the tests
_TOOL = Path(__file__).resolve().parent.parent / ".ci" / "notebook_conventions.py"
_spec = importlib.util.spec_from_file_location("notebook_conventions", _TOOL)
conventions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conventions)

NOTEBOOKS = sorted((conventions.REPOSITORY_ROOT / "notebooks").glob("*.ipynb"))
VIEW = conventions.WIDGET_VIEW
PYTHON_METADATA = {"kernelspec": conventions.KERNELSPEC,
                   "language_info": {"name": "python", "version": "3.11.7"}}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_follows_the_conventions(path):
    assert conventions.problems(path) == []


def test_repository_url_has_one_home():
    url = conventions.repository_url()
    assert url.startswith("https://github.com/") and url.count("/") == 4
    assert url in conventions.setup_source()


# ---------------------------------------------------------------------------------------------
# Small notebooks built with nbformat, written as Jupyter writes them


def course_notebook(path: Path, *cells, metadata=None, widgets=None) -> Path:
    """A notebook at ``path`` with a good header, then ``cells`` (from cell 2 on)."""
    title = new_markdown_cell(
        f"# Example\n\nWhat this notebook teaches.\n\n{conventions.badge(path)}")
    setup = new_code_cell(conventions.setup_source(), execution_count=1)
    metadata = PYTHON_METADATA if metadata is None else metadata
    notebook = new_notebook(cells=[title, setup, *cells],
                            metadata=json.loads(json.dumps(metadata)))
    if widgets is not None:
        notebook.metadata["widgets"] = {conventions.WIDGET_STATE: {
            "state": widgets, "version_major": 2, "version_minor": 0}}
    nbformat.write(notebook, path)
    return path


def code(text, count=2, outputs=(), tags=None):
    cell = new_code_cell(text, execution_count=count, outputs=list(outputs))
    if tags is not None:
        cell.metadata["tags"] = tags
    return cell


def stdout(text):
    return new_output("stream", name="stdout", text=text)


def fix_twice(path: Path) -> None:
    """Fix ``path``, which must change; then fix again, which must change nothing."""
    assert conventions.fix(path) is True
    fixed = path.read_bytes()
    assert conventions.fix(path) is False
    assert path.read_bytes() == fixed


def test_a_good_notebook_passes_and_fix_leaves_it_byte_for_byte(tmp_path):
    path = course_notebook(tmp_path / "09_example.ipynb", code("print(1)", outputs=[stdout("1\n")]))
    before = path.read_bytes()
    assert conventions.problems(path) == []
    assert conventions.fix(path) is False
    assert path.read_bytes() == before
    # nbformat's own formatting, so Jupyter saving the notebook gives the same bytes too
    assert before.decode() == conventions.dumps(json.loads(before))


def test_checker_accepts_a_good_notebook_and_fix_writes_the_setup(tmp_path):
    path = tmp_path / "09_example.ipynb"
    path.write_text(json.dumps({"cells": [new_markdown_cell("# Example\n\nWhat this teaches."),
                                          code("1 + 1", count=1)],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert conventions.problems(path)  # no badge, no setup cell, no kernelspec yet
    fix_twice(path)
    assert conventions.problems(path) == [
        "cell 1 was never run: commit notebooks executed in full mode"]


def test_checker_catches_a_wrong_badge_and_setup(tmp_path):
    good = conventions.badge(tmp_path / "01_x.ipynb")
    wrong = good.replace("github.com", "example.org").replace(
        "colab.research.google.com/github/", "colab.research.google.com/github/someone/")
    path = course_notebook(tmp_path / "01_x.ipynb", code("print(1)", outputs=[stdout("1\n")]))
    notebook = json.loads(path.read_text())
    notebook["cells"][0]["source"] = f"# X\n\nOverview.\n\n{wrong}"
    notebook["cells"][1]["source"] = conventions.setup_source().replace(
        "git+https://github.com/", "git+https://gitlab.com/")
    path.write_text(conventions.dumps(notebook))
    assert conventions.problems(path) == [
        f"first cell lacks the Colab badge for this repository: {good}",
        "second cell must be the setup cell (run --fix to write it)",
    ]
    fix_twice(path)
    assert conventions.problems(path) == []


# ---------------------------------------------------------------------------------------------
# 1. kernelspec and language_info


def test_kernelspec_missing_is_added(tmp_path):
    path = course_notebook(tmp_path / "09_example.ipynb", code("1", outputs=[stdout("1\n")]),
                           metadata={"jupytext": {}})
    kernel = json.dumps(conventions.KERNELSPEC)
    assert conventions.problems(path) == [
        f"metadata has no kernelspec (run --fix to add {kernel})",
        "metadata.language_info.name is None, expected 'python' (run --fix)",
    ]
    fix_twice(path)
    assert conventions.problems(path) == []
    metadata = json.loads(path.read_text())["metadata"]
    assert metadata == {"jupytext": {}, "kernelspec": conventions.KERNELSPEC,
                        "language_info": {"name": "python"}}


def test_kernelspec_of_another_name_is_replaced(tmp_path):
    other = {"display_name": "Python 3", "language": "python", "name": "python3"}
    path = course_notebook(tmp_path / "09_example.ipynb", code("1", outputs=[stdout("1\n")]),
                           metadata={**PYTHON_METADATA, "kernelspec": other})
    assert conventions.problems(path) == [
        f"metadata.kernelspec is {json.dumps(other)}, "
        f"expected {json.dumps(conventions.KERNELSPEC)} (run --fix)"]
    fix_twice(path)
    assert conventions.problems(path) == []
    assert json.loads(path.read_text())["metadata"]["language_info"]["version"] == "3.11.7"


# ---------------------------------------------------------------------------------------------
# 2. orphaned widget state


def model(name, **state):
    return {"model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
            "model_name": name, "state": {"_model_name": name, **state}}


def ref(model_id):
    return f"IPY_MODEL_{model_id}"


def view(model_id):
    return new_output("display_data", data={
        VIEW: {"model_id": model_id, "version_major": 2, "version_minor": 0},
        "text/plain": "VBox()"})


def test_orphaned_widget_models_are_dropped(tmp_path):
    displayed = {
        "box": model("VBoxModel", children=[ref("slider"), ref("play")], layout=ref("layout1")),
        "layout1": model("LayoutModel"),
        "slider": model("IntSliderModel", layout=ref("layout2"), style=ref("style")),
        "layout2": model("LayoutModel"),
        "style": model("SliderStyleModel"),
        "play": model("PlayModel"),
        "link": model("LinkModel", source=[ref("play"), "value"], target=[ref("slider"), "value"]),
    }
    orphans = {  # an old tqdm progress bar
        "bar": model("HBoxModel", children=[ref("progress"), ref("label")]),
        "progress": model("FloatProgressModel", style=ref("bar_style")),
        "bar_style": model("ProgressStyleModel"),
        "label": model("HTMLModel", value="100%"),
    }
    path = course_notebook(tmp_path / "09_example.ipynb",
                           code("explorer()", outputs=[view("box")]),
                           widgets={**displayed, **orphans})
    assert conventions.problems(path) == [
        "metadata.widgets holds 4 widget models that no stored output displays "
        "(about 1 KB; run --fix to drop them)"]
    fix_twice(path)
    assert conventions.problems(path) == []
    notebook = json.loads(path.read_text())
    assert conventions.widget_state(notebook) == displayed
    assert notebook["metadata"]["widgets"][conventions.WIDGET_STATE]["version_major"] == 2


def test_widget_metadata_goes_when_no_model_is_displayed(tmp_path):
    path = course_notebook(tmp_path / "09_example.ipynb", code("1", outputs=[stdout("1\n")]),
                           widgets={"bar": model("HBoxModel", children=[ref("label")]),
                                    "label": model("HTMLModel")})
    assert conventions.problems(path) == [
        "metadata.widgets holds 2 widget models that no stored output displays "
        "(about 1 KB; run --fix to drop them)"]
    fix_twice(path)
    assert conventions.problems(path) == []
    assert "widgets" not in json.loads(path.read_text())["metadata"]


# ---------------------------------------------------------------------------------------------
# 3. nbval markers as cell tags


def test_nbval_comments_become_cell_tags(tmp_path):
    path = course_notebook(
        tmp_path / "09_example.ipynb",
        code("# NBVAL_CHECK_OUTPUT\nprint(1)", outputs=[stdout("1\n")]),
        code("print(2)\n# NBVAL_SKIP\n# NBVAL_IGNORE_OUTPUT", outputs=[stdout("2\n")],
             tags=["nbval-skip"]),
        code("  ## NBVAL_RAISES_EXCEPTION\nraise ValueError('bad value')", outputs=[
            new_output("error", ename="ValueError", evalue="bad value", traceback=[])]),
        code("print(4)  # NBVAL_CHECK_OUTPUT: not a marker for nbval", outputs=[stdout("4\n")]),
    )
    before = [cell for cell in json.loads(path.read_text())["cells"]]
    assert conventions.problems(path) == [
        "cell 2 has the nbval comment '# NBVAL_CHECK_OUTPUT' that learners see "
        "(run --fix to make it the cell tag 'nbval-check-output')",
        "cell 3 has the nbval comment '# NBVAL_SKIP' that learners see "
        "(run --fix to make it the cell tag 'nbval-skip')",
        "cell 3 has the nbval comment '# NBVAL_IGNORE_OUTPUT' that learners see "
        "(run --fix to make it the cell tag 'nbval-ignore-output')",
        "cell 4 has the nbval comment '# NBVAL_RAISES_EXCEPTION' that learners see "
        "(run --fix to make it the cell tag 'raises-exception')",
    ]
    fix_twice(path)
    assert conventions.problems(path) == []
    cells = json.loads(path.read_text())["cells"]
    assert [conventions.source(cell) for cell in cells[2:]] == [
        "print(1)", "print(2)", "raise ValueError('bad value')",
        "print(4)  # NBVAL_CHECK_OUTPUT: not a marker for nbval"]
    assert [cell["metadata"].get("tags") for cell in cells[2:]] == [
        ["nbval-check-output"], ["nbval-skip", "nbval-ignore-output"], ["raises-exception"], None]
    assert all(isinstance(cell["source"], list) for cell in cells)  # as nbformat stores them
    for old, new in zip(before[2:], cells[2:]):  # nbval reads the tags as it read the comments
        assert dict(find_metadata_tags(new["metadata"])) == dict(
            find_comment_markers(conventions.source(old)))


def test_nbval_comment_in_a_cell_stored_as_one_string(tmp_path):
    path = course_notebook(tmp_path / "09_example.ipynb", code("1", outputs=[stdout("1\n")]))
    notebook = json.loads(path.read_text())
    notebook["cells"].append(code("# NBVAL_CHECK_OUTPUT\nprint(1)\n", outputs=[stdout("1\n")]))
    path.write_text(conventions.dumps(notebook))
    fix_twice(path)
    cell = json.loads(path.read_text())["cells"][3]
    assert cell["source"] == "print(1)\n" and cell["metadata"]["tags"] == ["nbval-check-output"]


# ---------------------------------------------------------------------------------------------
# 4. stderr noise, 5. errors, 6. checked cells without outputs: reported, never fixed


def assert_reported_not_fixed(path: Path, expected: list[str]) -> None:
    before = path.read_bytes()
    assert conventions.problems(path) == expected
    assert conventions.fix(path) is False
    assert path.read_bytes() == before
    assert conventions.problems(path) == expected


def test_stderr_noise_is_reported(tmp_path):
    warning = "\n/site-packages/torch/profiler.py:12: UserWarning: profiler is slow\n  warn()\n"
    path = course_notebook(
        tmp_path / "09_example.ipynb",
        code("train()", outputs=[stdout("done\n"), new_output("stream", name="stderr",
                                                              text=warning)]),
        code("raise ValueError", tags=["raises-exception"], outputs=[
            new_output("stream", name="stderr", text="a warning first\n"),
            new_output("error", ename="ValueError", evalue="", traceback=[])]),
    )
    assert_reported_not_fixed(path, [
        "cell 2 has stderr noise in its stored output: "
        "'/site-packages/torch/profiler.py:12: UserWarning: profiler is slow'"])


def test_error_outputs_are_reported(tmp_path):
    path = course_notebook(tmp_path / "09_example.ipynb", code("1 / 0", outputs=[new_output(
        "error", ename="ZeroDivisionError", evalue="division by zero", traceback=["..."])]))
    assert_reported_not_fixed(path, [
        "cell 2 has an error in its stored output: ZeroDivisionError: division by zero"])


def test_checked_cells_without_outputs_are_reported(tmp_path):
    path = course_notebook(tmp_path / "09_example.ipynb",
                           code("x = 1", tags=["nbval-check-output"]),
                           code("print(1)", tags=["nbval-check-output"], outputs=[stdout("1\n")]))
    assert_reported_not_fixed(path, [
        "cell 2 is tagged nbval-check-output but has no stored output: it checks nothing"])


def test_never_run_cells_are_reported(tmp_path):
    path = course_notebook(tmp_path / "09_example.ipynb", code("print(1)", count=None))
    assert_reported_not_fixed(path, [
        "cell 2 was never run: commit notebooks executed in full mode"])


# ---------------------------------------------------------------------------------------------
# The command line


def test_command_line_checks_and_fixes(tmp_path, capsys):
    path = course_notebook(tmp_path / "09_example.ipynb",
                           code("# NBVAL_CHECK_OUTPUT\nprint(1)", outputs=[stdout("1\n")]),
                           metadata={})
    assert conventions.main([str(path)]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"{path}: metadata has no kernelspec (run --fix to add " \
                         f"{json.dumps(conventions.KERNELSPEC)})"
    assert printed[-1] == "3 problem(s) in 1 notebook(s)"
    assert conventions.main(["--fix", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"fixed {path}",
                                                    "1 notebook(s) follow the conventions"]
    assert conventions.main(["--fix"]) == 2
