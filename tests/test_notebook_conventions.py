import json
from pathlib import Path

import notebook_conventions as conventions
import pytest

NOTEBOOKS = sorted((conventions.REPOSITORY_ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_follows_the_conventions(path):
    assert conventions.problems(path) == []


def test_repository_url_has_one_home():
    url = conventions.repository_url()
    assert url.startswith("https://github.com/") and url.count("/") == 4
    assert url in conventions.setup_source()


def write_notebook(path: Path, cells: list[dict]) -> Path:
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    return path


def markdown(text):
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def code(text, count=1, outputs=()):
    return {"cell_type": "code", "metadata": {}, "source": text, "execution_count": count,
            "outputs": list(outputs)}


def test_checker_accepts_a_good_notebook_and_fix_writes_the_setup(tmp_path):
    path = write_notebook(tmp_path / "09_example.ipynb",
                          [markdown("# Example\n\nWhat this notebook teaches."), code("1 + 1")])
    assert conventions.problems(path)  # no badge, no setup cell yet
    conventions.fix(path)
    assert conventions.problems(path) == ["cell 1 was never run: commit notebooks executed in full mode"]


def test_checker_catches_a_wrong_badge_and_setup(tmp_path):
    good = conventions.badge(tmp_path / "01_x.ipynb")
    wrong = good.replace("github.com", "example.org").replace(
        "colab.research.google.com/github/", "colab.research.google.com/github/someone/")
    path = write_notebook(tmp_path / "01_x.ipynb", [
        markdown(f"# X\n\nOverview.\n\n{wrong}"),
        code(conventions.setup_source().replace("git+https://github.com/", "git+https://gitlab.com/")),
        code("print(1)  # NBVAL_CHECK_OUTPUT"),
        code("raise ValueError", outputs=[{"output_type": "error", "ename": "ValueError"}]),
    ])
    found = conventions.problems(path)
    assert any("lacks the Colab badge" in p for p in found)
    assert any("second cell must be the setup cell" in p for p in found)
    assert any("cell 2 is marked NBVAL_CHECK_OUTPUT but has no stored output" in p for p in found)
    assert any("cell 3 has an error" in p for p in found)
