"""MNIST and Fashion-MNIST: where the files live, how they are loaded, and two ways to batch them.

The blog post's way is a ``DataLoader`` over a torchvision dataset that turns every image into a
PIL image and back into a tensor (``ToTensor`` + ``Normalize``). The fast way reads a whole split
once from the original IDX files as one normalised tensor, puts it on the device and slices
batches out of it. torchvision is imported only where it is needed (the download and the blog
post's pipeline): importing it costs seconds, and the fast way does not need it.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
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

from mnist_tutorial.checks import as_int, is_integer
from mnist_tutorial.config import DATA_ENV, quick_mode, repository_root
from mnist_tutorial.errors import DamagedDataError, DataNotFoundError
from mnist_tutorial.files import atomic_write

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
QUICK_PER_CLASS = {"train": 200, "test": 100}
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


# MD5 of each original file, uncompressed, as published with the data sets: a file that differs
# is damaged (cut short by an interrupted copy, or not the original at all)
RAW_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
# the same sizes for both data sets: a 16-byte header and 60,000 or 10,000 images of 28x28,
# or an 8-byte header and one byte per label
RAW_SIZES = {"train-images-idx3-ubyte": 16 + 60_000 * 28 * 28,
             "train-labels-idx1-ubyte": 8 + 60_000,
             "t10k-images-idx3-ubyte": 16 + 10_000 * 28 * 28,
             "t10k-labels-idx1-ubyte": 8 + 10_000}


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}: choose one of {sorted(DATASETS)}")


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
        with (atomic_write(target_raw / name) as temporary, open(temporary, "wb") as out,
              gzip.open(DEBIAN_FASHION_DIR / f"{name}.gz") as source):
            shutil.copyfileobj(source, out)


def _download(dataset: str, root: Path) -> None:
    """Download with torchvision into a scratch folder, then move the finished files in place.

    A download that fails half-way leaves nothing behind: the scratch folder is removed, and so
    is every folder this call created, so a later run never mistakes a partial file for data and
    a mistyped data folder is not left behind as an empty tree.
    """
    target_raw = raw_folder(dataset, root)
    created = [folder for folder in (target_raw, *target_raw.parents) if not folder.exists()]
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=root, prefix=".download-"))
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # torchvision prints every URL it tries
            torchvision_dataset_class(dataset)(scratch, train=True, download=True)
        target_raw.mkdir(parents=True, exist_ok=True)
        for name in RAW_FILES:
            os.replace(raw_folder(dataset, scratch) / name, target_raw / name)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        for folder in created:  # deepest first; only folders that are still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    shutil.rmtree(scratch, ignore_errors=True)


def _reason(error: BaseException) -> str:
    """The first and the last line of an error: what failed, and the underlying cause."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    return lines[0] if len(lines) == 1 else f"{lines[0].rstrip(':')}: {lines[-1]}"


def _damaged(path: Path, what: str) -> DamagedDataError:
    return DamagedDataError(
        f"{path} is damaged: {what}.\n"
        f"  Fix: delete it and run again online (torchvision downloads the original once), or "
        f"replace it with the original file")


_VERIFIED: dict[tuple[str, int, int], bool] = {}  # (path, size, mtime) of files already checked


def verify_raw_files(dataset: str, root: Path) -> None:
    """Check each of the four files: its size, its IDX header and its MD5 against the original.

    Raises ``DamagedDataError`` naming the first bad file and how to fix it. A file that passed
    is not hashed again while its size and modification time stay the same.
    """
    folder = raw_folder(dataset, root)
    for name in RAW_FILES:
        path = folder / name
        status = path.stat()
        key = (str(path.resolve()), status.st_size, status.st_mtime_ns)
        if key in _VERIFIED:
            continue
        if status.st_size != RAW_SIZES[name]:
            raise _damaged(path, f"it holds {status.st_size:,} bytes, the original "
                                 f"{RAW_SIZES[name]:,}")
        with open(path, "rb") as file:
            content = file.read()
        _idx_shape(content, path)
        if hashlib.md5(content).hexdigest() != RAW_MD5[dataset][name]:
            raise _damaged(path, "its bytes differ from the original's (MD5 checksum)")
        _VERIFIED[key] = True


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
        verify_raw_files(dataset, root)
        return root
    if dataset == "fashion" and all((DEBIAN_FASHION_DIR / f"{n}.gz").is_file() for n in RAW_FILES):
        target = root if _writable(root) else default_data_root()
        if missing_files(dataset, target):
            _extract_debian_fashion(raw_folder(dataset, target))
        verify_raw_files(dataset, target)
        return target
    if not download:
        raise DataNotFoundError(_not_found_message(dataset, root, "download=False"))
    if not _writable(root):
        raise DataNotFoundError(_not_found_message(dataset, root, "the folder is read-only"))
    try:
        _download(dataset, root)
    except Exception as error:  # torchvision raises RuntimeError or URLError, sockets OSError
        raise DataNotFoundError(_not_found_message(dataset, root, _reason(error))) from error
    verify_raw_files(dataset, root)
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
    its header raises a ``DamagedDataError`` that names it.
    """
    path = Path(path)
    content = path.read_bytes()
    shape = _idx_shape(content, path)
    values = torch.frombuffer(bytearray(content[4 + 4 * len(shape):]), dtype=IDX_TYPES[content[2]])
    return values.reshape(shape)


def _idx_shape(content: bytes, path: Path) -> list[int]:
    """The shape an IDX file's header announces; ``DamagedDataError`` if the bytes do not fit."""
    if len(content) < 4 or content[:2] != b"\0\0" or content[2] not in IDX_TYPES:
        raise _damaged(path, f"it is not an IDX file of unsigned bytes (its first bytes are "
                             f"{content[:4].hex() or 'missing'})")
    ndim = content[3]
    header = 4 + 4 * ndim
    if len(content) < header:
        raise _damaged(path, "it is cut short inside its header")
    shape = [int.from_bytes(content[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    expected = header + math.prod(shape)
    if len(content) != expected:
        raise _damaged(path, f"it holds {len(content):,} bytes, but its header announces shape "
                             f"{tuple(shape)} ({expected:,} bytes)")
    return shape


def read_raw_split(dataset: str, train: bool, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images (N, 28, 28) uint8, labels (N,) int64)`` straight from the raw IDX files."""
    folder = raw_folder(dataset, root)
    prefix = "train" if train else "t10k"
    images = read_idx(folder / f"{prefix}-images-idx3-ubyte")
    labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte").long()
    if images.dim() != 3 or labels.dim() != 1 or len(images) != len(labels):
        raise DamagedDataError(f"the {prefix} files in {folder} do not match: images of shape "
                               f"{tuple(images.shape)}, labels of shape {tuple(labels.shape)}; "
                               f"replace them with the original files")
    return images, labels


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


def _integer(value: object, wanted: str, example: str) -> int:
    """``value`` as an int (Python, NumPy or 0-d torch integers); else a ValueError."""
    if not is_integer(value):
        raise ValueError(f"{wanted}, got {value!r} (a {type(value).__name__}): pass an integer, "
                         f"e.g. {example}")
    return as_int(value, wanted)


def train_validation_split(split: TensorSplit, validation_size: int,
                           seed: int) -> tuple[TensorSplit, TensorSplit]:
    """``(train, validation)``: ``validation_size`` examples drawn at random (the same ones for the
    same ``seed``) for validation, the rest for training; each part keeps the data set's order."""
    n = len(split)
    wanted = (f"validation_size must be a whole number from 1 to {n - 1} (the split has {n:,} "
              f"examples)")
    size = _integer(validation_size, wanted, "round(0.2 * len(split)) for a fifth")
    seed = _integer(seed, "seed must be a whole number", "0")
    if not 0 < size < n:
        raise ValueError(f"{wanted}, got {size}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    parts = []
    for index in (order[size:], order[:size]):
        index = index.sort().values.to(split.labels.device)
        parts.append(TensorSplit(split.images[index], split.labels[index]))
    return parts[0], parts[1]


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
            generator: torch.Generator | None = None, part: tuple[int, int] = (0, 1)
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(images, labels)`` batches sliced from the tensors, no per-sample work.

    ``part=(rank, processes)`` yields only that process's part of every batch: the batch cut into
    ``processes`` contiguous pieces (sizes differing by at most one), so the processes together
    see each batch exactly as one process would (``mnist_tutorial.distributed``).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    rank, processes = part
    if not 0 <= rank < processes:
        raise ValueError(f"part must be (rank, processes) with 0 <= rank < processes, got {part}")
    n = len(split)
    plain = not shuffle and processes == 1  # plain slices, no copy and no index
    order = None if plain else (torch.randperm(n, generator=generator) if shuffle
                                else torch.arange(n)).to(split.labels.device)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            yield split.images[start:start + batch_size], split.labels[start:start + batch_size]
        else:
            index = order[start:start + batch_size].tensor_split(processes)[rank]
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
