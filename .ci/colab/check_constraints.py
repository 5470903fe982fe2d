"""Resolve the course against Colab's pip freeze as constraints: nothing Colab has may change.

Usage: ``python .ci/colab/check_constraints.py URL HAS`` with the Colab environment's Python,
``URL`` the course as pip takes it (``git+file:///checkout@commit``) and ``HAS`` a file to write.

pip resolves the course from scratch (``--ignore-installed --dry-run``) with every version in
Colab's freeze as a constraint, less Colab's PyTorch build (constraints.py says why): if the
course needed another version of anything Colab has, pip finds no solution and this fails with
pip's message. Then it checks the PyTorch build apart: Colab's torch and torchvision must satisfy
the course's requirements. It prints what pip would add that Colab lacks, and writes to ``HAS``
the packages of the resolution that Colab has (``name==version``), for run to preinstall.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

sys.path.insert(0, str(Path(__file__).resolve().parent))
from constraints import PYTORCH_BUILD, constraints, normalized, pinned_versions  # noqa: E402


def resolve(url: str, folder: Path) -> list[dict]:
    """pip's ``--report`` install list for ``url`` under Colab's constraints (fails on conflict)."""
    constraint_file, report_file = folder / "constraints.txt", folder / "report.json"
    constraint_file.write_text("\n".join(constraints()) + "\n")
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
               "--quiet", "--report", str(report_file), "--constraint", str(constraint_file), url]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        errors = "\n".join(line for line in done.stderr.splitlines()
                           if not line.startswith("WARNING: Location"))
        sys.exit(f"colab: the course cannot be installed with Colab's versions:\n{errors}")
    return json.loads(report_file.read_text())["install"]


def main(url: str, has_file: Path) -> None:
    colab = pinned_versions()
    with tempfile.TemporaryDirectory() as folder:
        install = resolve(url, Path(folder))
    by_name = {normalized(item["metadata"]["name"]): item for item in install}
    changed = [f"{name} {item['metadata']['version']} (Colab: {colab[name]})"
               for name, item in by_name.items()
               if name in colab and not PYTORCH_BUILD.match(name)
               and item["metadata"]["version"] != colab[name]]
    assert not changed, f"the course would change what Colab has installed: {changed}"

    course = by_name["mnist-tutorial"]["metadata"]
    environment = default_environment() | {"python_version": "3.12", "extra": ""}  # Colab's
    unmet = []
    for line in course.get("requires_dist", []):
        requirement = Requirement(line)
        name = normalized(requirement.name)
        if requirement.marker and not requirement.marker.evaluate(environment):
            continue
        if name in colab and not requirement.specifier.contains(colab[name], prereleases=True):
            unmet.append(f"{line} (Colab has {colab[name]})")
    assert not unmet, f"Colab's versions do not meet the course's requirements: {unmet}"

    added = sorted(f"{item['metadata']['name']} {item['metadata']['version']}"
                   for name, item in by_name.items()
                   if name not in colab and name != "mnist-tutorial"
                   and not PYTORCH_BUILD.match(name))
    has = sorted(f"{name}=={colab[name]}" for name in by_name
                 if name in colab and not PYTORCH_BUILD.match(name))
    has_file.write_text("\n".join(has) + "\n")
    print(f"colab: the course resolves with Colab's versions ({len(has)} packages Colab has, "
          f"none changed; its torch {colab['torch']} and torchvision {colab['torchvision']} meet "
          f"the requirements); pip would add: {', '.join(added) or 'nothing else'}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], Path(sys.argv[2]))
