"""The conventions every course notebook follows, and a fixer for its first two cells.

1. First cell (Markdown): ``# title``, a one-paragraph overview, and the "Open in Colab" badge.
2. Second cell (code): the setup cell, which on Colab installs the package and turns on
   third-party widgets, and elsewhere does nothing.

The repository URL has one home, ``[project.urls] Repository`` in ``pyproject.toml``; badges and
setup cells are derived from it. After changing it (a fork, a move), run::

    python tests/notebook_conventions.py --fix notebooks/*.ipynb
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_NAME = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def repository_url() -> str:
    """``[project.urls] Repository`` from pyproject.toml, e.g. https://github.com/owner/name."""
    with open(REPOSITORY_ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]["urls"]["Repository"].rstrip("/")


def badge(notebook: Path) -> str:
    """The Markdown of the "Open in Colab" badge for ``notebook``."""
    github_path = repository_url().removeprefix("https://github.com/")
    target = f"https://colab.research.google.com/github/{github_path}/blob/main/notebooks/{notebook.name}"
    return f"[![Open In Colab]({BADGE_IMAGE})]({target})"


def setup_source() -> str:
    """The source of every notebook's second cell."""
    return (
        "# Setup. On Google Colab: install the course package and turn on third-party widgets.\n"
        "# Anywhere else this does nothing: `pip install -r requirements.txt` did the work.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet "mnist-tutorial @ git+{repository_url()}"\n'
        "    from google.colab import output\n"
        "\n"
        "    output.enable_custom_widget_manager()"
    )


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def problems(path: Path) -> list[str]:
    """Every way ``path`` breaks the conventions (empty when it follows them all)."""
    found = []
    if not NOTEBOOK_NAME.match(path.name):
        found.append(f"name {path.name!r} is not NN_lower_case_words.ipynb")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    if len(cells) < 3:
        return found + ["needs a title cell, a setup cell and content"]
    first, second = cells[0], cells[1]
    text = source(first)
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    if first["cell_type"] != "markdown" or not text.startswith("# "):
        found.append("first cell must be Markdown starting with '# title'")
    elif len(paragraphs) < 3 or paragraphs[1].lstrip().startswith(("#", "[![")):
        found.append("first cell needs an overview paragraph between the title and the badge")
    if badge(path) not in text:
        found.append(f"first cell lacks the Colab badge for this repository: {badge(path)}")
    if second["cell_type"] != "code" or source(second).strip() != setup_source():
        found.append("second cell must be the setup cell (run --fix to write it)")
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        if source(cell).strip() and cell.get("execution_count") is None:
            found.append(f"cell {index} was never run: commit notebooks executed in full mode")
        if any(output.get("output_type") == "error" for output in cell.get("outputs", [])):
            found.append(f"cell {index} has an error in its stored output")
        if "# NBVAL_CHECK_OUTPUT" in source(cell) and not cell.get("outputs"):
            found.append(f"cell {index} is marked NBVAL_CHECK_OUTPUT but has no stored output")
    return found


def fix(path: Path) -> None:
    """Rewrite the badge in the first cell and the whole setup cell from pyproject's URL."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    first = notebook["cells"][0]
    lines = [line for line in source(first).splitlines() if "colab-badge.svg" not in line]
    first["source"] = "\n".join(lines).rstrip() + "\n\n" + badge(path)
    setup = {"cell_type": "code", "execution_count": None, "id": "setup", "metadata": {},
             "outputs": [], "source": setup_source()}
    if len(notebook["cells"]) > 1 and "google.colab" in source(notebook["cells"][1]):
        setup["execution_count"] = notebook["cells"][1].get("execution_count")
        notebook["cells"][1] = setup
    else:
        notebook["cells"].insert(1, setup)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:2] != ["--fix"] or len(sys.argv) < 3:
        sys.exit("usage: python tests/notebook_conventions.py --fix NOTEBOOK...")
    for name in sys.argv[2:]:
        fix(Path(name))
        print(f"fixed {name}: {problems(Path(name)) or 'follows the conventions'}")
