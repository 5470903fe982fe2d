"""The conventions every course notebook follows, a checker, and a fixer for what is mechanical.

Header:

1. First cell (Markdown): ``# title``, a one-paragraph overview, and the "Open in Colab" badge.
2. Second cell (code): the setup cell, which installs the package's release the notebook was
   written for where the package is missing (on Colab), and checks the version everywhere.

Hygiene:

3. The notebook metadata names the Python 3 kernel (``kernelspec``, ``language_info``).
4. The stored widget state holds only the models some stored output displays, the models those
   reference (``"IPY_MODEL_<id>"``, transitively), and the ``jslink`` links between them; not
   the leftovers of old runs (stale tqdm progress bars weigh hundreds of KB).
5. nbval markers are cell tags (``nbval-check-output``...), not comments learners read.
6. Stored outputs hold no stderr noise (except in cells tagged ``raises-exception``), no errors
   (same exception), and every cell tagged ``nbval-check-output`` has outputs to check.
7. Every code cell was run: notebooks are committed executed in full mode.

``--fix`` repairs the header, the metadata, the widget state and the nbval markers; stderr noise,
errors and missing outputs are fixed at their source, then the notebook is re-executed. The fixer
writes JSON exactly as Jupyter does (nbformat's ``indent=1``, sorted keys, no ASCII escapes, a
final newline), so a notebook that follows the conventions is left byte for byte unchanged.

The repository URL has one home, ``[project.urls] Repository`` in ``pyproject.toml``; badges and
setup cells are derived from it. After changing it (a fork, a move), or to check and repair::

    python .ci/notebook_conventions.py [--fix] notebooks/*.ipynb
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_NAME = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MODEL_REFERENCE = "IPY_MODEL_"
# jslink/jsdlink models are never displayed, but keep two displayed widgets in step in the page
LINK_MODELS = {"LinkModel", "DirectionalLinkModel"}
# nbval's comment markers (nbval/plugin.py, comment_markers) and the cell tags that replace them
COMMENT_MARKERS = {
    "NBVAL_CHECK_OUTPUT": "nbval-check-output",
    "NBVAL_IGNORE_OUTPUT": "nbval-ignore-output",
    "PYTEST_VALIDATE_IGNORE_OUTPUT": "nbval-ignore-output",
    "NBVAL_SKIP": "nbval-skip",
    "NBVAL_RAISES_EXCEPTION": "raises-exception",
}
RAISES_TAGS = {"raises-exception", "nbval-raises-exception"}


def repository_url() -> str:
    """``[project.urls] Repository`` from pyproject.toml, e.g. https://github.com/owner/name."""
    with open(REPOSITORY_ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]["urls"]["Repository"].rstrip("/")


def badge(notebook: Path) -> str:
    """The Markdown of the "Open in Colab" badge for ``notebook``."""
    github_path = repository_url().removeprefix("https://github.com/")
    target = (f"https://colab.research.google.com/github/{github_path}"
              f"/blob/main/notebooks/{notebook.name}")
    return f"[![Open In Colab]({BADGE_IMAGE})]({target})"


def package_version() -> str:
    """``[project] version`` from pyproject.toml: the release the notebooks are written for."""
    with open(REPOSITORY_ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]["version"]


def setup_source() -> str:
    """The source of every notebook's second cell."""
    version = package_version()
    return (
        "# Setup: the course's package, the release this notebook was written for. Where it is\n"
        "# missing (on Google Colab) pip adds it and nothing else: Colab has all it needs, at\n"
        "# versions it accepts, so nothing installed changes and Colab asks for no restart.\n"
        "# The widgets need no enable_custom_widget_manager(): ipywidgets' own need none, and\n"
        "# the digit pad (an anywidget) turns it on by itself.\n"
        "try:\n"
        "    import mnist_tutorial\n"
        "except ModuleNotFoundError:\n"
        f"    %pip install --quiet git+{repository_url()}@v{version}\n"
        "    import mnist_tutorial\n"
        f'mnist_tutorial.require_version("{version}")'
    )


def source(cell: dict) -> str:
    """A cell's source as one string, whether stored as a list of lines or not."""
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def set_source(cell: dict, text: str, as_list: bool) -> None:
    """Store ``text`` as the cell's source, as a list of lines (nbformat's way) or one string."""
    cell["source"] = text.splitlines(keepends=True) if as_list else text


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def dumps(notebook: dict) -> str:
    """The notebook's JSON exactly as nbformat (and so Jupyter) writes it."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------
# Cell markers and tags


def marker_lines(cell: dict) -> list[tuple[int, str]]:
    """``(line number, marker)`` of each nbval comment marker, matched as nbval matches them."""
    found = []
    for number, line in enumerate(source(cell).splitlines()):
        line = line.strip()
        if line.startswith("#") and line.lstrip("#").strip() in COMMENT_MARKERS:
            found.append((number, line.lstrip("#").strip()))
    return found


def tags(cell: dict) -> list[str]:
    value = cell.get("metadata", {}).get("tags", [])
    return value if isinstance(value, list) else []


def markers(cell: dict) -> set[str]:
    """The cell's nbval tags, counting the ones its comment markers stand for."""
    return set(tags(cell)) | {COMMENT_MARKERS[marker] for _, marker in marker_lines(cell)}


# ---------------------------------------------------------------------------------------------
# Widget state


def widget_state(notebook: dict) -> dict:
    """``model id -> model`` of the widget state stored in the notebook metadata (maybe empty)."""
    state = notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {})
    return state.get("state", {}) if isinstance(state, dict) else {}


def displayed_models(notebook: dict) -> set[str]:
    """The model ids that stored outputs display."""
    shown = set()
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if isinstance(view, dict) and "model_id" in view:
                shown.add(view["model_id"])
    return shown


def references(value) -> Iterator[str]:
    """The model ids that ``"IPY_MODEL_<id>"`` strings anywhere inside ``value`` name."""
    if isinstance(value, str):
        if value.startswith(MODEL_REFERENCE):
            yield value.removeprefix(MODEL_REFERENCE)
    elif isinstance(value, dict):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def reference_closure(state: dict, roots: set[str]) -> set[str]:
    """``roots`` and every model they reference, transitively (ids absent from ``state`` too)."""
    reached, pending = set(), list(roots)
    while pending:
        model = pending.pop()
        if model not in reached:
            reached.add(model)
            pending.extend(references(state.get(model, {}).get("state", {})))
    return reached


def used_models(notebook: dict) -> set[str]:
    """The stored models worth keeping: displayed ones, what they reference, links among them."""
    state = widget_state(notebook)
    kept = reference_closure(state, displayed_models(notebook))
    links = {model for model, entry in state.items() if entry.get("model_name") in LINK_MODELS
             and set(references(entry.get("state", {}))) <= kept}
    return (kept | links) & set(state)


def orphaned_models(notebook: dict) -> dict:
    """``model id -> model`` of the stored models nothing displays."""
    used = used_models(notebook)
    return {model: entry for model, entry in widget_state(notebook).items() if model not in used}


# ---------------------------------------------------------------------------------------------
# The checker


def header_problems(path: Path, cells: list[dict]) -> list[str]:
    found = []
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
    return found


def metadata_problems(notebook: dict) -> list[str]:
    found = []
    metadata = notebook.get("metadata", {})
    kernelspec = metadata.get("kernelspec")
    if kernelspec is None:
        found.append(f"metadata has no kernelspec (run --fix to add {json.dumps(KERNELSPEC)})")
    elif kernelspec != KERNELSPEC:
        found.append(f"metadata.kernelspec is {json.dumps(kernelspec)}, "
                     f"expected {json.dumps(KERNELSPEC)} (run --fix)")
    language = metadata.get("language_info", {}).get("name")
    if language != "python":
        found.append(f"metadata.language_info.name is {language!r}, expected 'python' "
                     "(run --fix)")
    orphans = orphaned_models(notebook)
    if orphans:
        size = math.ceil(len(json.dumps(orphans, indent=1, ensure_ascii=False)) / 1000)
        found.append(f"metadata.widgets holds {len(orphans)} widget models that no stored output "
                     f"displays (about {size} KB; run --fix to drop them)")
    return found


def output_text(output: dict) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else text


def first_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= 100 else line[:99] + "…"


def cell_problems(index: int, cell: dict) -> list[str]:
    found = []
    if cell["cell_type"] != "code":
        return found
    marked = markers(cell)
    outputs = cell.get("outputs", [])
    if source(cell).strip() and cell.get("execution_count") is None:
        found.append(f"cell {index} was never run: commit notebooks executed in full mode")
    for _, marker in marker_lines(cell):
        found.append(f"cell {index} has the nbval comment '# {marker}' that learners see "
                     f"(run --fix to make it the cell tag {COMMENT_MARKERS[marker]!r})")
    expected_to_raise = bool(marked & RAISES_TAGS)
    for output in [] if expected_to_raise else outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            found.append(f"cell {index} has stderr noise in its stored output: "
                         f"{first_line(output_text(output))!r}")
        elif output.get("output_type") == "error":
            found.append(f"cell {index} has an error in its stored output: "
                         f"{output.get('ename', '?')}: {first_line(output.get('evalue', ''))}")
    if "nbval-check-output" in marked and not outputs:
        found.append(f"cell {index} is tagged nbval-check-output but has no stored output: "
                     "it checks nothing")
    return found


def notebook_problems(path: Path, notebook: dict) -> list[str]:
    """Every way ``notebook`` (read from ``path``) breaks the conventions."""
    found = []
    if not NOTEBOOK_NAME.match(path.name):
        found.append(f"name {path.name!r} is not NN_lower_case_words.ipynb")
    cells = notebook["cells"]
    if len(cells) < 3:
        found.append("needs a title cell, a setup cell and content")
    else:
        found += header_problems(path, cells)
    found += metadata_problems(notebook)
    for index, cell in enumerate(cells):
        found += cell_problems(index, cell)
    return found


def problems(path: Path) -> list[str]:
    """Every way ``path`` breaks the conventions (empty when it follows them all)."""
    return notebook_problems(path, read(path))


# ---------------------------------------------------------------------------------------------
# The fixer


def fix_header(path: Path, cells: list[dict], as_list: bool) -> None:
    """Rewrite the badge in the first cell and the whole setup cell from pyproject's URL.

    ``as_list``: store a new setup cell's source as a list of lines, as the notebook does.
    """
    first = cells[0]
    if badge(path) not in source(first):
        lines = [line for line in source(first).splitlines() if "colab-badge.svg" not in line]
        text = "\n".join(lines).rstrip() + "\n\n" + badge(path)
        set_source(first, text, isinstance(first.get("source"), list))
    if len(cells) > 1 and cells[1]["cell_type"] == "code" \
            and source(cells[1]).strip() == setup_source():
        return
    setup = {"cell_type": "code", "execution_count": None, "id": "setup", "metadata": {},
             "outputs": []}
    set_source(setup, setup_source(), as_list)
    if len(cells) > 1 and "%pip install" in source(cells[1]):  # an older setup cell
        old = cells[1]
        setup.update(execution_count=old.get("execution_count"), id=old.get("id", "setup"),
                     metadata=old.get("metadata", {}))
        cells[1] = setup
    else:
        cells.insert(1, setup)


def fix_metadata(notebook: dict) -> None:
    """Name the Python 3 kernel and drop the widget models nothing displays."""
    metadata = notebook.setdefault("metadata", {})
    metadata["kernelspec"] = dict(KERNELSPEC)
    metadata.setdefault("language_info", {})["name"] = "python"
    if orphaned_models(notebook):
        used = used_models(notebook)
        state = metadata["widgets"][WIDGET_STATE]
        state["state"] = {model: entry for model, entry in state["state"].items() if model in used}
        if not state["state"]:
            del metadata["widgets"][WIDGET_STATE]
            if not metadata["widgets"]:
                del metadata["widgets"]


def fix_markers(cell: dict, as_list: bool) -> None:
    """Turn nbval comment markers into cell tags (no duplicates), removing the comment lines."""
    found = marker_lines(cell)
    if not found:
        return
    drop = {number for number, _ in found}
    lines = source(cell).splitlines(keepends=True)
    kept = [line for number, line in enumerate(lines) if number not in drop]
    text = "".join(kept)
    if lines and not lines[-1].endswith("\n"):  # the source had no final newline: keep it so
        text = text.removesuffix("\n")
    set_source(cell, text, as_list)
    cell_tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    for _, marker in found:
        if COMMENT_MARKERS[marker] not in cell_tags:
            cell_tags.append(COMMENT_MARKERS[marker])


def fix(path: Path) -> bool:
    """Repair what can be repaired mechanically; True when ``path`` was rewritten."""
    text = path.read_text(encoding="utf-8")
    notebook = json.loads(text)
    cells = notebook["cells"]
    as_list = any(isinstance(cell.get("source"), list) for cell in cells)
    if cells:
        fix_header(path, cells, as_list)
    fix_metadata(notebook)
    for cell in cells:
        if cell["cell_type"] == "code":
            fix_markers(cell, isinstance(cell.get("source"), list))
    fixed = dumps(notebook)
    if fixed == text:
        return False
    path.write_text(fixed, encoding="utf-8")
    return True


def main(arguments: list[str]) -> int:
    repair = arguments[:1] == ["--fix"]
    names = arguments[1:] if repair else arguments
    if not names or any(name.startswith("-") for name in names):
        print("usage: python .ci/notebook_conventions.py [--fix] NOTEBOOK...", file=sys.stderr)
        return 2
    remaining = 0
    for name in names:
        path = Path(name)
        if repair and fix(path):
            print(f"fixed {name}")
        found = problems(path)
        remaining += len(found)
        for problem in found:
            print(f"{name}: {problem}")
    print(f"{remaining} problem(s) in {len(names)} notebook(s)" if remaining
          else f"{len(names)} notebook(s) follow the conventions")
    return 1 if remaining else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
