"""The package's version: one release per tag, checked by every notebook's setup cell."""

import importlib.util
from pathlib import Path

import pytest

import mnist_tutorial
from mnist_tutorial import __version__, require_version
from mnist_tutorial.errors import CourseError, PackageVersionError

_TOOL = Path(__file__).resolve().parent.parent / ".ci" / "notebook_conventions.py"
_spec = importlib.util.spec_from_file_location("notebook_conventions", _TOOL)
conventions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conventions)


def test_version_is_pyprojects():
    assert conventions.package_version() == __version__


def test_the_installed_version_is_accepted():
    assert require_version(__version__) is None


def test_another_version_is_refused_in_one_line_with_the_fix():
    with pytest.raises(PackageVersionError) as caught:
        require_version("0.0.9")
    message = str(caught.value)
    assert "\n" not in message
    assert f"written for mnist-tutorial 0.0.9, but {__version__} is installed" in message
    repository = conventions.repository_url()
    assert f'%pip install "mnist-tutorial @ git+{repository}@v0.0.9"' in message
    assert "restart the kernel" in message
    assert isinstance(caught.value, ImportError) and isinstance(caught.value, CourseError)


def test_a_version_that_is_not_a_string_is_refused():
    with pytest.raises(TypeError, match=r"version string such as '.*', not \(0, 1, 0\)"):
        require_version((0, 1, 0))


def test_a_source_tree_without_metadata_still_names_the_repository(monkeypatch):
    def not_installed(name):
        raise mnist_tutorial.PackageNotFoundError(name)

    monkeypatch.setattr(mnist_tutorial, "metadata", not_installed)
    with pytest.raises(PackageVersionError, match=conventions.repository_url()):
        require_version("0.0.9")


def test_the_setup_cell_installs_and_requires_this_release():
    setup = conventions.setup_source()
    assert f"git+{conventions.repository_url()}@v{__version__}\n" in setup
    assert setup.endswith(f'mnist_tutorial.require_version("{__version__}")')
