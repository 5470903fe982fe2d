"""The package's layout keeps its promises: lesson code imports no plotting or widget library, no
module imports one from a higher layer, and what a notebook shows with ``inspect.getsource`` is
short lesson code.

Layers, lowest first: base (config, checks, errors) < lessons (the lesson, data and training
modules, and the package's ``__init__``) < figures (plotting) < widgets (``widgets/``). The
checkers (``exercises/``) build on lessons only; the command line (cli, ``__main__``) and the
teacher edition (teacher) on anything but the widgets. Every top-level module is listed below, so
a new one must be given a layer.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mnist_tutorial"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

BASE_MODULES = ("checks", "config", "devices", "errors", "files", "op_checks")
LESSON_MODULES = ("activations", "augmentation", "backprop", "checkpoints", "data",
                  "distributed", "evaluation", "history", "im2col", "kernel_fit", "kernels",
                  "models", "ops", "padding", "pooling", "preprocessing", "receptive_field",
                  "recipes", "training")
FIGURE_MODULES = ("plotting",)
APP_MODULES = ("cli", "__main__", "teacher")
SUBPACKAGES = ("exercises", "widgets")
GUI_LIBRARIES = ("anywidget", "ipywidgets", "matplotlib")

# what each layer may import (its own layer included)
ALLOWED = {
    "base": {"base"},
    "lessons": {"base", "lessons"},
    "figures": {"base", "lessons", "figures"},
    "widgets": {"base", "lessons", "figures", "widgets"},
    "exercises": {"base", "lessons", "exercises"},
    "app": {"base", "lessons", "figures", "exercises", "app"},
}

MAX_SHOWN_LINES = 25
SHOW_PATTERNS = (r"\bgetsource\(\s*([A-Za-z_][\w.]*)\s*\)",  # inspect.getsource(X), getsource(X)
                 r"\b[Ss]ee\s+`([A-Za-z_][\w.]*)`",  # see `module.function`
                 r"``([A-Za-z_][\w.]*)``")  # ``module.function``


def layer(module: str) -> str | None:
    """The layer of a module of the package (``mnist_tutorial.ops`` -> "lessons"), or None."""
    parts = module.split(".")[1:]
    if not parts:
        return "lessons"  # the package's __init__: what ``import mnist_tutorial.ops`` runs first
    top = parts[0]
    for name, modules in (("base", BASE_MODULES), ("lessons", LESSON_MODULES),
                          ("figures", FIGURE_MODULES), ("app", APP_MODULES)):
        if top in modules:
            return name
    return top if top in SUBPACKAGES else None


def test_every_top_level_module_has_a_layer():
    found = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    found |= {path.name for path in PACKAGE.iterdir()
              if path.is_dir() and any(path.glob("*.py"))}
    listed = [*BASE_MODULES, *LESSON_MODULES, *FIGURE_MODULES, *APP_MODULES, *SUBPACKAGES]
    assert len(listed) == len(set(listed)), "a module is listed in two layers"
    assert sorted(found - set(listed)) == [], "add these modules to a layer's list above"
    assert sorted(set(listed) - found) == [], "these listed modules no longer exist"



def _readme_layout_rows() -> dict[str, set[str]]:
    """The README's layout table: for each ``mnist_tutorial`` row, the module names it lists."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`mnist_tutorial/"):
            rows[cells[0]] = set(re.findall(r"`([A-Za-z_]\w*)`", cells[1]))
    return rows


def test_the_readme_layout_table_matches_the_tree():
    rows = _readme_layout_rows()
    expected = {"`mnist_tutorial/` base": set(BASE_MODULES),
                "`mnist_tutorial/` lessons": set(LESSON_MODULES),
                "`mnist_tutorial/` figures": set(FIGURE_MODULES),
                "`mnist_tutorial/` app": set(APP_MODULES)}
    for package in SUBPACKAGES:
        expected[f"`mnist_tutorial/{package}/`"] = {
            path.stem for path in (PACKAGE / package).glob("*.py")} - {"__init__"}
    assert sorted(rows) == sorted(expected), "the README's layout table has other rows"
    for row, modules in expected.items():
        assert rows[row] == modules, (f"README layout row {row}: lists "
                                      f"{sorted(rows[row] - modules)} that are not there, "
                                      f"lacks {sorted(modules - rows[row])}")

# --- a. lesson code runs without the plotting and widget libraries ------------------------------

def _gui_modules_after(imports: str) -> list[str]:
    """The GUI libraries' modules in ``sys.modules`` after ``python -c "import IMPORTS"``."""
    code = (f"import sys, {imports}; print(sorted(m for m in sys.modules "
            f"if m.split('.')[0] in {GUI_LIBRARIES!r}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def test_the_core_modules_import_no_gui_library():
    imports = ("mnist_tutorial.ops, mnist_tutorial.models, mnist_tutorial.training, "
               "mnist_tutorial.backprop")
    assert _gui_modules_after(imports) == []


def test_no_base_or_lesson_module_imports_a_gui_library():
    """All of them in one Python: each import says which GUI modules it brought in first."""
    modules = [f"mnist_tutorial.{name}" for name in (*BASE_MODULES, *LESSON_MODULES)]
    code = ("import importlib, json, sys\n"
            "brought = {}\n"
            "for name in sys.argv[1:]:\n"
            "    before = set(sys.modules)\n"
            "    importlib.import_module(name)\n"
            f"    new = sorted(m for m in set(sys.modules) - before "
            f"if m.split('.')[0] in {GUI_LIBRARIES!r})\n"
            "    if new:\n"
            "        brought[name] = new[:5]\n"
            "print(json.dumps(brought))\n")
    result = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    brought = json.loads(result.stdout.strip().splitlines()[-1])
    assert brought == {}, f"importing these brought in GUI modules: {brought}"


# --- b. no module imports one from a higher layer ------------------------------------------------

def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or path.is_dir()


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every ``mnist_tutorial`` import in the file, also inside functions."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((node.lineno, candidate if _is_module(candidate) else base))
    return sorted({(line, name) for line, name in found
                   if name == "mnist_tutorial" or name.startswith("mnist_tutorial.")})


def test_no_module_imports_a_higher_layer():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        own = layer(module)
        for line, imported in _imports(path):
            theirs = layer(imported)
            if theirs not in ALLOWED.get(own, ()):
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({own}) imports {imported} "
                             f"({theirs})")
    assert wrong == []


def test_no_base_or_lesson_module_mentions_a_gui_library_in_an_import():
    """Also the imports inside functions, which the test above cannot see."""
    wrong = []
    for name in (*BASE_MODULES, *LESSON_MODULES):
        path = PACKAGE / f"{name}.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            wrong += [f"{name}.py:{node.lineno} imports {imported}" for imported in names
                      if imported.split(".")[0] in GUI_LIBRARIES]
    assert wrong == []


def test_the_import_collector_sees_relative_imports():
    sample = PACKAGE / "exercises" / "convolution.py"
    assert (sample.exists() and any(name.startswith("mnist_tutorial.exercises.")
                                    for _, name in _imports(sample)))
    assert layer("mnist_tutorial.widgets.engine") == "widgets"
    assert layer("mnist_tutorial.plotting") == "figures" and layer("mnist_tutorial") == "lessons"
    assert layer("mnist_tutorial.not_a_module") is None


# --- c. what a notebook shows is lesson code ----------------------------------------------------

@dataclass(frozen=True)
class Shown:
    """A function of the package that a notebook shows or points at, and what is wrong with it."""

    notebook: str
    name: str  # as the notebook writes it, e.g. ops.conv2d_loops
    target: str  # where it lives, e.g. mnist_tutorial.ops.conv2d_loops
    lines: int
    problems: tuple[str, ...]


def _code(cell: dict) -> str:
    """A code cell's source with IPython's magics and shell lines blanked out."""
    lines = "".join(cell["source"]).splitlines()
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def _imported_names(cells: list[dict]) -> dict[str, str]:
    """What each name imported from the package in the notebook's code cells stands for:
    ``ops`` -> ``mnist_tutorial.ops``, ``max_pool2d`` -> ``mnist_tutorial.ops.max_pool2d``."""
    names = {}
    for cell in cells:
        try:
            tree = ast.parse(_code(cell)) if cell["cell_type"] == "code" else ast.Module()
        except SyntaxError:  # its getsource calls then fail to resolve, which a test reports
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module and (
                    node.module.split(".")[0] == "mnist_tutorial"):
                names.update({alias.asname or alias.name: f"{node.module}.{alias.name}"
                              for alias in node.names})
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "mnist_tutorial":
                        key = alias.asname or alias.name.split(".")[0]
                        names[key] = alias.name if alias.asname else "mnist_tutorial"
    return names


def _resolve(target: str) -> object:
    """The object a dotted name of the package stands for: the longest importable module, then
    attributes (``mnist_tutorial.models.ResidualBlock.forward``)."""
    parts = target.split(".")
    for split in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            value = getattr(value, attribute)
        return value
    raise ImportError(target)


def _shown_names(path: Path) -> list[tuple[str, str]]:
    """(name as written, dotted target) of every package function the notebook shows or points
    at, in order, each once."""
    cells = json.loads(path.read_text())["cells"]
    imported = _imported_names(cells)
    found = {}
    for cell in cells:
        text = _code(cell) if cell["cell_type"] == "code" else "".join(cell["source"])
        for pattern in SHOW_PATTERNS:
            for name in re.findall(pattern, text):
                root, _, rest = name.partition(".")
                if root in imported:
                    found.setdefault(name, ".".join(filter(None, [imported[root], rest])))
                elif root == "mnist_tutorial":
                    found.setdefault(name, name)
    return list(found.items())


def _private_calls(node: ast.AST) -> set[str]:
    """The underscore-private functions the code calls (``_helper(...)``, ``ops._pair(...)``)."""
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            callee = call.func
            name = (callee.id if isinstance(callee, ast.Name)
                    else callee.attr if isinstance(callee, ast.Attribute) else "")
            if name.startswith("_") and not name.startswith("__"):
                names.add(name)
    return names


def _lesson_code_problems(source: str) -> tuple[int, tuple[str, ...]]:
    """The length of shown code (its non-blank lines, comments counted, the docstring not) and
    what keeps it from being lesson code."""
    source = textwrap.dedent(source)
    (definition,) = ast.parse(source).body
    lines = source.splitlines()
    docstring = set()
    body = getattr(definition, "body", [])
    if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        docstring = set(range(body[0].lineno - 1, body[0].end_lineno))
    length = sum(1 for index, line in enumerate(lines) if line.strip() and index not in docstring)
    problems = []
    if length > MAX_SHOWN_LINES:
        problems.append(f"{length} lines, more than {MAX_SHOWN_LINES}")
    if getattr(definition, "decorator_list", []):
        problems.append("the notebook shows a decorator line")
    private = sorted(_private_calls(definition))
    if len(private) > 1:
        problems.append(f"calls {len(private)} private helpers: {', '.join(private)}")
    return length, tuple(problems)


def _shown() -> list[Shown]:
    shown = []
    for path in NOTEBOOKS:
        for name, target in _shown_names(path):
            try:
                value = _resolve(target)
            except (ImportError, AttributeError) as error:
                shown.append(Shown(path.name, name, target, 0, (f"does not resolve: {error}",)))
                continue
            if inspect.ismodule(value) or not callable(value):
                continue  # a pointer to a module or a constant shows no function
            length, problems = _lesson_code_problems(inspect.getsource(value))
            shown.append(Shown(path.name, name, target, length, problems))
    return shown


def test_what_the_notebooks_show_is_lesson_code():
    """Every function a notebook prints with ``inspect.getsource`` (or points at with "see
    `module.function`" or ``module.function``): at most 25 non-blank lines counted without its
    docstring (comments count: the reader reads them), no decorator line in what getsource
    shows, and calls to at most one underscore-private helper. The list is printed (``-s``)."""
    shown = _shown()
    table = "\n".join(f"{s.notebook:<36} {s.name:<34} {s.lines:>3} lines"
                      + (f"  FAIL: {'; '.join(s.problems)}" if s.problems else "")
                      for s in shown)
    print(f"\nfunctions the notebooks show:\n{table}")
    assert shown, "no notebook shows a function: has the getsource pattern changed?"
    assert not [s for s in shown if s.problems], f"not lesson code:\n{table}"


def test_the_lesson_code_rules_catch_what_they_say():
    plain = 'def f(x):\n    """Doc\n    string."""\n\n    return _g(x) + _g(x)\n'
    assert _lesson_code_problems(plain) == (2, ())
    decorated = "@functools.cache\ndef f(x):\n    return x\n"
    assert _lesson_code_problems(decorated)[1] == ("the notebook shows a decorator line",)
    two_helpers = "def f(x):\n    return ops._pair(x, 'x') + _check(x) + x.__len__()\n"
    assert _lesson_code_problems(two_helpers)[1] == ("calls 2 private helpers: _check, _pair",)
    long = "def f(x):\n" + "    x += 1\n" * MAX_SHOWN_LINES + "    return x\n"
    assert _lesson_code_problems(long)[1] == (f"{MAX_SHOWN_LINES + 2} lines, more than 25",)


def test_notebook_names_resolve_through_their_imports(tmp_path):
    notebook = tmp_path / "example.ipynb"
    cells = [{"cell_type": "code", "source": ["%matplotlib inline\n",
                                              "from mnist_tutorial import ops\n",
                                              "from mnist_tutorial.models import ResidualBlock"]},
             {"cell_type": "code", "source": ["print(inspect.getsource(ops.conv2d_loops))\n",
                                              "getsource(ResidualBlock.forward)"]},
             {"cell_type": "markdown", "source": ["see `ops.pad2d`, not `F.pad` or ``F.conv2d``"]}]
    notebook.write_text(json.dumps({"cells": cells}))
    assert _shown_names(notebook) == [
        ("ops.conv2d_loops", "mnist_tutorial.ops.conv2d_loops"),
        ("ResidualBlock.forward", "mnist_tutorial.models.ResidualBlock.forward"),
        ("ops.pad2d", "mnist_tutorial.ops.pad2d")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_getsource_call_names_a_package_function(path):
    """A ``getsource`` call whose argument the notebook's imports cannot place is a test gap."""
    cells = json.loads(path.read_text())["cells"]
    imported = _imported_names(cells)
    calls = [name for cell in cells if cell["cell_type"] == "code"
             for name in re.findall(SHOW_PATTERNS[0], _code(cell))]
    assert [name for name in calls if name.partition(".")[0] not in imported] == []
