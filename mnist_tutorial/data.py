"""MNIST and Fashion-MNIST: where the files live, how they are loaded, and two ways to batch them.

The blog post's way is a ``DataLoader`` over a torchvision dataset that turns every image into a
PIL image and back into a tensor (``ToTensor`` + ``Normalize``). The fast way reads a whole split
once from the original IDX files as one normalised tensor, puts it on the device and slices
batches out of it. torchvision is imported only where it is needed (the download and the blog
post's pipeline): importing it costs seconds, and the fast way does not need it.
"""

from __future__ import annotations

import gzip
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader, Subset

if TYPE_CHECKING:
    from torchvision import datasets, transforms

# each data set's torchvision class, which is also the name of its folder under the data root
DATASETS = {"mnist": "MNIST", "fashion": "FashionMNIST"}
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# Mean and standard deviation of the training pixels (scaled to [0, 1]); `compute_mean_std`
# recomputes them and the tests check these against it. MNIST's pair is the one the blog post
# uses.
NORMALIZATION = {"mnist": (0.1307, 0.3081), "fashion": (0.2860, 0.3530)}
CLASS_NAMES = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
}
DATA_ENV = "MNIST_TUTORIAL_DATA"
QUICK_ENV = "MNIST_TUTORIAL_QUICK"
QUICK_PER_CLASS = {"train": 200, "test": 100}
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


class DataNotFoundError(FileNotFoundError):
    """The data set's files are not on disk and could not be fetched."""


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}: choose one of {sorted(DATASETS)}")


def repository_root() -> Path | None:
    """The checkout this package was installed from (editable install), or None."""
    candidate = Path(__file__).resolve().parent.parent
    return candidate if (candidate / "pyproject.toml").is_file() else None


def default_data_root() -> Path:
    """``data/`` at the repository root, or in the current folder when installed from a wheel."""
    return (repository_root() or Path.cwd()) / "data"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Resolve the data root: the argument, else ``$MNIST_TUTORIAL_DATA``, else the default."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return default_data_root()


def torchvision_dataset_class(dataset: str) -> type[datasets.MNIST]:
    """torchvision's ``MNIST`` or ``FashionMNIST`` class (imports torchvision on first use)."""
    _check_dataset(dataset)
    from torchvision import datasets

    return getattr(datasets, DATASETS[dataset])


def raw_folder(dataset: str, root: Path) -> Path:
    """Where the four files live: ``<root>/MNIST/raw`` or ``<root>/FashionMNIST/raw``."""
    _check_dataset(dataset)
    return root / DATASETS[dataset] / "raw"


def missing_files(dataset: str, root: Path) -> list[str]:
    """The raw files that are not (yet) in ``raw_folder(dataset, root)``."""
    folder = raw_folder(dataset, root)
    return [name for name in RAW_FILES if not (folder / name).is_file()]


def _writable(folder: Path) -> bool:
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    return existing is not None and os.access(existing, os.W_OK)


def _extract_debian_fashion(target_raw: Path) -> None:
    """Decompress Debian's Fashion-MNIST files into ``target_raw``, each one atomically."""
    target_raw.mkdir(parents=True, exist_ok=True)
    for name in RAW_FILES:
        with tempfile.NamedTemporaryFile(dir=target_raw, prefix=f".{name}.", delete=False) as out:
            with gzip.open(DEBIAN_FASHION_DIR / f"{name}.gz") as source:
                shutil.copyfileobj(source, out)
        os.replace(out.name, target_raw / name)


def _download(dataset: str, root: Path) -> None:
    """Download with torchvision into a scratch folder, then move the finished files in place.

    A download that fails half-way leaves only the scratch folder, which is removed, so a later
    run never mistakes a partial file for data.
    """
    target_raw = raw_folder(dataset, root)
    target_raw.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=root, prefix=".download-"))
    try:
        torchvision_dataset_class(dataset)(scratch, train=True, download=True)
        for name in RAW_FILES:
            os.replace(raw_folder(dataset, scratch) / name, target_raw / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _not_found_message(dataset: str, root: Path, reason: str) -> str:
    folder = raw_folder(dataset, root)
    return (
        f"{DATASETS[dataset]} is not on disk and could not be downloaded ({reason}).\n"
        f"  Looked in: {folder}\n"
        f"  Expected the four files: {', '.join(RAW_FILES)}\n"
        f"  Fix: go online and run again (torchvision downloads about 12 MB once), or copy the "
        f"four files into that folder, or set {DATA_ENV} to a folder that holds "
        f"{DATASETS[dataset]}/raw/ with them, e.g. export {DATA_ENV}=/path/to/data"
    )


def ensure_files(dataset: str = "mnist", root: str | os.PathLike | None = None,
                 download: bool = True) -> Path:
    """Make sure the raw files are on disk and return the root that holds them.

    Order: the files already there; for Fashion-MNIST, Debian's ``dataset-fashion-mnist`` copy
    (extracted into the root, or into the default root when the root is read-only); a download.
    Raises ``DataNotFoundError`` with the folder searched, the files expected and the fix.
    """
    _check_dataset(dataset)
    root = data_root(root)
    if not missing_files(dataset, root):
        return root
    if dataset == "fashion" and all((DEBIAN_FASHION_DIR / f"{n}.gz").is_file() for n in RAW_FILES):
        target = root if _writable(root) else default_data_root()
        if missing_files(dataset, target):
            _extract_debian_fashion(raw_folder(dataset, target))
        return target
    if not download:
        raise DataNotFoundError(_not_found_message(dataset, root, "download=False"))
    if not _writable(root):
        raise DataNotFoundError(_not_found_message(dataset, root, "the folder is read-only"))
    try:
        _download(dataset, root)
    except Exception as error:  # torchvision raises RuntimeError or URLError, sockets OSError
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataNotFoundError(_not_found_message(dataset, root, reason)) from error
    return root


def load_torchvision(dataset: str = "mnist", train: bool = True,
                     root: str | os.PathLike | None = None,
                     transform=None) -> datasets.MNIST:
    """The torchvision dataset (``MNIST`` or ``FashionMNIST``); downloads only missing files."""
    found_root = ensure_files(dataset, root)
    return torchvision_dataset_class(dataset)(found_root, train=train, transform=transform,
                                              download=False)


IDX_TYPES = {0x08: torch.uint8}  # the IDX data types MNIST uses: unsigned bytes


def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """The array in an IDX file (MNIST's format): a big-endian header, then the raw values.

    The header is two zero bytes, a type code (0x08: unsigned byte), the number of dimensions,
    then each dimension as a 4-byte big-endian integer. A file that is too short or too long for
    its header raises a ``ValueError`` that names it.
    """
    path = Path(path)
    content = path.read_bytes()
    if len(content) < 4 or content[:2] != b"\0\0" or content[2] not in IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (its first bytes are "
                         f"{content[:4].hex() or 'missing'}): replace it with the original file")
    ndim = content[3]
    header = 4 + 4 * ndim
    if len(content) < header:
        raise ValueError(f"{path} is cut short inside its header: replace it with the original")
    shape = [int.from_bytes(content[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    expected = header + math.prod(shape)
    if len(content) != expected:
        raise ValueError(f"{path} holds {len(content):,} bytes, but its header announces shape "
                         f"{tuple(shape)} ({expected:,} bytes): the file is damaged or cut "
                         f"short; delete it (a download fetches it again) or copy the original")
    values = torch.frombuffer(bytearray(content[header:]), dtype=IDX_TYPES[content[2]])
    return values.reshape(shape)


def read_raw_split(dataset: str, train: bool, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images (N, 28, 28) uint8, labels (N,) int64)`` straight from the raw IDX files."""
    folder = raw_folder(dataset, root)
    prefix = "train" if train else "t10k"
    images = read_idx(folder / f"{prefix}-images-idx3-ubyte")
    labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte").long()
    if images.dim() != 3 or labels.dim() != 1 or len(images) != len(labels):
        raise ValueError(f"the {prefix} files in {folder} do not match: images of shape "
                         f"{tuple(images.shape)}, labels of shape {tuple(labels.shape)}; "
                         f"replace them with the original files")
    return images, labels


def quick_mode() -> bool:
    """True when ``MNIST_TUTORIAL_QUICK=1``: notebooks and the CLI use a small subset (for CI)."""
    return os.environ.get(QUICK_ENV, "0").strip() == "1"


def balanced_subset_indices(labels: torch.Tensor, per_class: int) -> torch.Tensor:
    """Indices of the first ``per_class`` examples of every class, in data set order (fixed)."""
    chosen = []
    for label in labels.unique(sorted=True):
        where = (labels == label).nonzero().flatten()
        if len(where) < per_class:
            raise ValueError(f"class {int(label)} has only {len(where)} examples, "
                             f"fewer than per_class={per_class}")
        chosen.append(where[:per_class])
    return torch.cat(chosen).sort().values


def _quick_indices(labels: torch.Tensor, train: bool, quick: bool | None) -> torch.Tensor | None:
    if not (quick_mode() if quick is None else quick):
        return None
    return balanced_subset_indices(labels, QUICK_PER_CLASS["train" if train else "test"])


def compute_mean_std(images: torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation of all pixels of uint8 images, scaled to [0, 1]."""
    pixels = images.to(torch.float64) / 255
    return pixels.mean().item(), pixels.std().item()


def normalize(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 images (N, H, W) -> float (N, 1, H, W), the same numbers ToTensor + Normalize give."""
    return images.unsqueeze(1).float().div(255).sub(mean).div(std)


@dataclass(frozen=True)
class TensorSplit:
    """A whole split as two tensors: normalised images (N, 1, 28, 28) and labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device | str, memory_format=torch.contiguous_format) -> TensorSplit:
        """A copy on ``device`` (and in ``memory_format``, e.g. ``torch.channels_last``)."""
        images = self.images.to(device).contiguous(memory_format=memory_format)
        return TensorSplit(images, self.labels.to(device))


def load_split(dataset: str = "mnist", train: bool = True,
               root: str | os.PathLike | None = None, device: torch.device | str = "cpu",
               quick: bool | None = None) -> TensorSplit:
    """A whole split as one normalised tensor on ``device``; the quick subset in quick mode."""
    images, labels = read_raw_split(dataset, train, ensure_files(dataset, root))
    subset = _quick_indices(labels, train, quick)
    if subset is not None:
        images, labels = images[subset], labels[subset]
    mean, std = NORMALIZATION[dataset]
    return TensorSplit(normalize(images, mean, std), labels.long()).to(device)


def batches(split: TensorSplit, batch_size: int, shuffle: bool = False, drop_last: bool = False,
            generator: torch.Generator | None = None
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(images, labels)`` batches sliced from the tensors, no per-sample work."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    n = len(split)
    order = torch.randperm(n, generator=generator).to(split.labels.device) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            yield split.images[start:start + batch_size], split.labels[start:start + batch_size]
        else:
            index = order[start:start + batch_size]
            yield split.images[index], split.labels[index]


def batch_count(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches ``batches`` yields for ``n`` examples."""
    return n // batch_size if drop_last else -(-n // batch_size)


def blog_transform(dataset: str = "mnist") -> transforms.Compose:
    """The blog post's per-image pipeline: PIL image -> ``ToTensor`` -> ``Normalize``."""
    from torchvision import transforms

    mean, std = NORMALIZATION[dataset]
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean,), (std,))])


def blog_dataloaders(dataset: str = "mnist", root: str | os.PathLike | None = None,
                     batch_size: int = 64, quick: bool | None = None,
                     generator: torch.Generator | None = None) -> tuple[DataLoader, DataLoader]:
    """The blog post's data pipeline: two shuffling ``DataLoader``s over torchvision datasets."""
    loaders = []
    for train in (True, False):
        source = load_torchvision(dataset, train, root, transform=blog_transform(dataset))
        subset = _quick_indices(source.targets, train, quick)
        if subset is not None:
            source = Subset(source, subset.tolist())
        loaders.append(DataLoader(source, batch_size=batch_size, shuffle=True, generator=generator))
    return loaders[0], loaders[1]
