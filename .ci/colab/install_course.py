"""Install the course into the Colab environment by running the notebooks' setup cell itself.

Usage: ``python .ci/colab/install_course.py URL HAS`` with the Colab environment's Python,
``URL`` this checkout as pip takes it (``git+file:///checkout@commit``), ``HAS`` the packages of
the course's resolution that Colab has (written by check_constraints.py).

First the environment is made to hold what Colab holds of them: ``HAS`` installed at Colab's
versions; the course and everything Colab lacks removed, except the test tools.

The cell is run as written in the notebooks, in IPython (Colab's 7.34), from an empty folder so
that the checkout is not importable; only its install line points here instead of at GitHub's
tag. Then: the package imports from site-packages, holds every file git has in mnist_tutorial/,
and pip changed no version of anything installed before (it may add what Colab lacks).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / ".ci"))
sys.path.insert(0, str(ROOT / ".ci" / "colab"))
import notebook_conventions as conventions  # noqa: E402
from constraints import PYTORCH_BUILD, constraints, normalized, pinned_versions  # noqa: E402

TEST_TOOLS = {"nbval", "coverage", "playwright", "pyee"}  # not on Colab: CI tests with them

DONE = "setup cell done:"


def pip(*arguments: str) -> str:
    """Run this Python's pip; its output (fails with pip's errors)."""
    done = subprocess.run([sys.executable, "-m", "pip", *arguments], capture_output=True,
                          text=True)
    if done.returncode:
        sys.exit(f"colab: pip {' '.join(arguments)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def installed() -> dict[str, str]:
    """Every installed distribution's version, by normalized name."""
    listing = pip("list", "--format=json")
    return {normalized(entry["name"]): entry["version"] for entry in json.loads(listing)}


def hold_what_colab_holds(has_file: Path) -> None:
    """Install ``has_file`` at Colab's versions; remove the course and what Colab lacks."""
    with tempfile.TemporaryDirectory() as folder:
        constraint_file = Path(folder) / "constraints.txt"
        constraint_file.write_text("\n".join(constraints()) + "\n")
        pip("install", "--quiet", "--requirement", str(has_file), "--constraint",
            str(constraint_file))
    colab = pinned_versions()
    lacking = [name for name in installed() if name not in colab and name not in TEST_TOOLS
               and not PYTORCH_BUILD.match(name)]
    if lacking:
        pip("uninstall", "--yes", "--quiet", *lacking)


def setup_cell(url: str) -> str:
    """The notebooks' setup cell, its GitHub URL and tag replaced by ``url``."""
    cells = {conventions.source(conventions.read(path)["cells"][1])
             for path in sorted((ROOT / "notebooks").glob("*.ipynb"))}
    assert cells == {conventions.setup_source()}, "the notebooks' setup cells differ: run " \
        "python .ci/notebook_conventions.py --fix notebooks/*.ipynb"
    published = f"git+{conventions.repository_url()}@v{conventions.package_version()}"
    cell = conventions.setup_source()
    assert published in cell, f"the setup cell does not install {published}"
    return cell.replace(published, url)


def main(url: str, has_file: Path) -> None:
    hold_what_colab_holds(has_file)
    before = installed()
    code = setup_cell(url) + f"\nprint({DONE!r}, mnist_tutorial.__file__)"
    with tempfile.TemporaryDirectory() as empty:
        done = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor",
                               "-c", code], cwd=empty, capture_output=True, text=True)
    output = done.stdout + done.stderr
    lines = [line for line in output.splitlines() if line.startswith(DONE)]
    assert done.returncode == 0 and lines, f"the setup cell failed:\n{output}"
    package = Path(lines[0].removeprefix(DONE).strip()).parent
    assert "site-packages" in package.parts, f"mnist_tutorial was imported from {package}"

    tracked = subprocess.run(["git", "ls-tree", "-r", "--name-only", url.rpartition("@")[2],
                              "mnist_tutorial"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    missing = [name for name in tracked
               if not (package.parent / name).is_file()]
    assert not missing, f"the installed package lacks files that git has: {missing}"

    after = installed()
    changed = sorted(f"{name} {before[name]} -> {after.get(name, 'removed')}"
                     for name in before if after.get(name) != before[name])
    assert not changed, f"the setup cell's pip changed installed packages: {changed}"
    added = sorted(f"{name} {version}" for name, version in after.items() if name not in before)
    print(f"colab: the setup cell installed {package} ({len(tracked)} files, as in git); "
          f"pip added {', '.join(added)} and changed nothing installed")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], Path(sys.argv[2]))
