"""Helper package of the CNN-on-MNIST course: data, models, training, and what notebooks show.

The names most notebooks use can be imported from here (``from mnist_tutorial import load_split,
BlogNet, fit``); everything else from its module. Nothing here imports matplotlib or the widgets.
"""

from importlib.metadata import PackageNotFoundError, metadata

from mnist_tutorial import ops
from mnist_tutorial.config import quick_mode
from mnist_tutorial.data import batches, load_split
from mnist_tutorial.devices import choose_device
from mnist_tutorial.errors import PackageVersionError
from mnist_tutorial.evaluation import predict
from mnist_tutorial.models import BlogNet, count_parameters
from mnist_tutorial.training import evaluate, fit, seed_everything, train_epoch

__version__ = "0.1.0"  # the same as pyproject.toml's; each release is tagged v<version>


def _repository_url() -> str:
    """The course's repository, from the installed package's metadata (pyproject's URL)."""
    try:
        urls = metadata("mnist-tutorial").get_all("Project-URL") or []
    except PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip() == "Repository":
            return url.strip()
    return "https://github.com/cnn-mnist-course/mnist-tutorial"  # run from a source tree


def require_version(version: str) -> None:
    """Raise PackageVersionError, with the command that installs ``version``, unless it is this one.

    The notebooks' setup cell calls it with the release the notebook was written for.
    """
    if not isinstance(version, str):
        raise TypeError(f"require_version takes a version string such as {__version__!r}, "
                        f"not {version!r}")
    if version != __version__:
        raise PackageVersionError(
            f"This notebook was written for mnist-tutorial {version}, but {__version__} is "
            f'installed: run  %pip install "mnist-tutorial @ git+{_repository_url()}@v{version}"  '
            "then restart the kernel (Colab: Runtime > Restart session) and run the notebook "
            "again.")


__all__ = [
    "BlogNet",
    "batches",
    "choose_device",
    "count_parameters",
    "evaluate",
    "fit",
    "load_split",
    "ops",
    "predict",
    "quick_mode",
    "require_version",
    "seed_everything",
    "train_epoch",
]
