import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"torch": "pytorch"}  # where conda-forge names a package differently from PyPI


def requirement_names(lines):
    names = set()
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=!;\s]", line, maxsplit=1)[0].lower())
    return names


def test_environment_yml_has_the_same_packages_as_requirements():
    pip_names = requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    text = (ROOT / "environment.yml").read_text()
    dependencies = text.split("dependencies:")[1].split("  - pip:")[0]
    conda_lines = [line.strip()[2:] for line in dependencies.splitlines()
                   if line.startswith("  - ") and line.strip() != "- pip"]
    conda_names = requirement_names(conda_lines) - {"python"}
    assert conda_names == {CONDA_NAMES.get(name, name) for name in pip_names}
    assert "conda-forge" in text and "  - pytorch\n" not in text.split("dependencies")[0]


def test_requirements_install_the_package_editable():
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert "-e ." in lines
    assert not [line for line in lines if "==" in line], "lower bounds only: no pins"


def test_readme_lists_every_notebook_and_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "pip install -r requirements.txt" in readme and "\npytest\n" in readme
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"notebooks/{notebook.name}" in readme, f"README does not list {notebook.name}"


def test_a_plain_install_holds_every_module(tmp_path):
    """Colab installs the package from git without -e: the wheel must hold every module, the
    subpackages' too, and nothing else (the tests are a package as well, but not part of it)."""
    pytest.importorskip("setuptools", minversion="70.1")  # builds wheels without the wheel package
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("mnist_tutorial", "tests"):
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "--wheel-dir", str(tmp_path / "wheel"), str(tmp_path)],
                   check=True, capture_output=True)
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    packed = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    modules = {path.relative_to(ROOT).as_posix()
               for path in (ROOT / "mnist_tutorial").rglob("*.py")}
    assert {"mnist_tutorial/widgets/engine.py", "mnist_tutorial/exercises/core.py"} <= modules
    assert modules <= packed, f"missing from the wheel: {sorted(modules - packed)}"
    assert packed <= modules, f"not the package's: {sorted(packed - modules)}"
