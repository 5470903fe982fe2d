"""Training and evaluation: the blog post's loop, a history to plot, checkpoints that resume."""

from __future__ import annotations

import glob
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from mnist_tutorial.data import TensorSplit, batch_count, batches, quick_mode, repository_root

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
Augment = Callable[[torch.Tensor], torch.Tensor]
Scheduler = torch.optim.lr_scheduler.LRScheduler
DEVICES = ("auto", "cuda", "mps", "cpu")


def _mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def choose_device(preference: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; a named device must be available."""
    if preference not in DEVICES:
        raise ValueError(f"unknown device {preference!r}: choose one of {', '.join(DEVICES)}")
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    available = {"cuda": torch.cuda.is_available, "mps": _mps_available, "cpu": lambda: True}
    if not available[preference]():
        raise ValueError(f"device {preference!r} was asked for but is not available here: "
                         f"use --device auto or cpu "
                         f"(on Colab: Runtime -> Change runtime type -> GPU)")
    return torch.device(preference)


def seed_everything(seed: int) -> None:
    """Seed Python's and PyTorch's random generators (PyTorch's covers every GPU too)."""
    random.seed(seed)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed an epoch starts from, so a resumed run shuffles exactly like an unbroken one."""
    return seed * 1_000 + epoch


def show_progress() -> bool:
    """Progress bars in a terminal or a notebook, not when output goes to a file or CI."""
    if os.environ.get("CI"):
        return False
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return sys.stderr.isatty() or hasattr(shell, "kernel")


@dataclass
class History:
    """What a run measured: loss per logging interval and test accuracy per epoch."""

    loss_epoch: list[float] = field(default_factory=list)  # fractional epoch of each loss point
    loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)  # percent, one per epoch
    train_seconds: list[float] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[float]]:
        """Plain lists, safe for ``torch.load(weights_only=True)``."""
        return asdict(self)


def train_epoch(model: nn.Module, train_batches: Batches, optimizer: torch.optim.Optimizer,
                epoch: int = 1, log_interval: int = 300, log: Callable[[str], None] | None = None,
                history: History | None = None, total: int | None = None,
                memory_format: torch.memory_format = torch.contiguous_format,
                scheduler: Scheduler | None = None, augment: Augment | None = None) -> float:
    """One pass over the training batches, the blog post's loop; returns the mean loss per example.

    Every ``log_interval`` batches the mean loss of those batches goes into ``history`` and, in
    the blog post's format ``[epoch, batch] loss: x.xxx``, to ``log``. Optional: ``augment`` changes
    each batch of images before the model sees it (see ``mnist_tutorial.augmentation``), and
    ``scheduler`` (e.g. ``OneCycleLR``) takes one step after every batch.
    """
    device = next(model.parameters()).device
    criterion = nn.CrossEntropyLoss()
    model.train()
    running = torch.zeros((), device=device)  # summed on the device: no GPU sync every batch
    epoch_total = torch.zeros((), device=device)  # loss times batch size: a smaller last batch
    examples = 0                                  # counts for what it holds
    progress = tqdm(train_batches, total=total, desc=f"epoch {epoch}", leave=False,
                    disable=not show_progress())
    for batch_index, (images, labels) in enumerate(progress, start=1):
        images = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        labels = labels.to(device, non_blocking=True)
        if augment is not None:
            images = augment(images)
        loss = criterion(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        running += loss.detach()
        epoch_total += loss.detach() * len(labels)
        examples += len(labels)
        if batch_index % log_interval == 0:
            mean_loss = running.item() / log_interval
            running.zero_()
            progress.set_postfix(loss=f"{mean_loss:.3f}")
            if history is not None:
                history.loss_epoch.append(epoch - 1 + batch_index / (total or batch_index))
                history.loss.append(mean_loss)
            if log is not None:
                log(f"[{epoch}, {batch_index:5d}] loss: {mean_loss:.3f}")
    return epoch_total.item() / max(examples, 1)


@torch.no_grad()
def evaluate(model: nn.Module, test_batches: Batches,
             memory_format: torch.memory_format = torch.contiguous_format) -> tuple[int, int]:
    """``(correct, total)`` over the batches; no gradients are needed to test."""
    device = next(model.parameters()).device
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    total = 0
    for images, labels in test_batches:
        images = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        labels = labels.to(device, non_blocking=True)
        correct += (model(images).argmax(dim=1) == labels).sum()
        total += len(labels)
    return int(correct.item()), total


def default_checkpoint_path(name: str) -> Path:
    """``checkpoints/<name>.pt`` at the repository root (git-ignored), or in the current folder.

    In quick mode the name gets a ``-quick`` suffix, so a test run never overwrites a model
    trained on the full data.
    """
    suffix = "-quick" if quick_mode() else ""
    return (repository_root() or Path.cwd()) / "checkpoints" / f"{name}{suffix}.pt"


class CheckpointError(ValueError):
    """A checkpoint cannot be read: missing, empty, damaged, or not this course's kind."""


class CheckpointWriteError(OSError):
    """A checkpoint cannot be written: the folder is read-only, the path is a folder, or the
    disk is full."""


def check_writable(path: str | os.PathLike) -> Path:
    """Fail now, before any training, if a checkpoint could not be written to ``path``."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointWriteError(f"cannot save a checkpoint to {path}: it is a folder; give a "
                                   f"file name such as {path / 'model.pt'}")
    folder = next((p for p in path.parents if p.exists()), Path.cwd())
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise CheckpointWriteError(f"cannot save a checkpoint to {path}: {folder} is not a "
                                   f"writable folder; choose another path")
    if path.exists() and not os.access(path, os.W_OK):
        raise CheckpointWriteError(f"cannot save a checkpoint to {path}: the file is read-only")
    return path


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer,
                    epoch: int, history: History, metadata: dict | None = None,
                    scheduler: Scheduler | None = None) -> Path:
    """Write weights, optimizer (and scheduler) state, epoch, history and plain metadata atomically.

    The file is written under a temporary name in the same folder, then renamed, so an
    interrupted save never leaves a half-written checkpoint under ``path``; temporary files that
    an earlier, killed save left behind are removed after the next successful one. The file gets
    the usual permissions (0666 less the umask). A failed write raises ``CheckpointWriteError``.
    """
    path = check_writable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "history": history.to_dict(),
        "metadata": dict(metadata or {}),
    }
    if scheduler is not None:
        checkpoint["scheduler"] = scheduler.state_dict()
    prefix = f".{path.name}."
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    os.close(handle)
    try:
        os.chmod(temporary, 0o666 & ~_umask())
        torch.save(checkpoint, temporary)
        os.replace(temporary, path)
    except (OSError, RuntimeError) as error:  # torch's zip writer reports a full disk so
        Path(temporary).unlink(missing_ok=True)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise CheckpointWriteError(f"could not write the checkpoint {path} ({reason}): free "
                                   f"some disk space or save somewhere else") from error
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    for stale in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        stale.unlink(missing_ok=True)
    return path


def read_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> dict:
    """The checkpoint's contents, loaded safely (tensors and plain data only, never code).

    Raises ``CheckpointError`` when the file is missing, empty, damaged or not a checkpoint of
    this course, saying which file and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: train with --save {path} first")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): a save was cut short; delete it and "
                              f"train again, or resume from another checkpoint")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # pickle, zip and EOF errors all mean: not a readable checkpoint
        raise CheckpointError(
            f"{path} cannot be read as a checkpoint ({type(error).__name__}): it is damaged, "
            f"or not a file this course saved, or it holds more than weights and plain data, "
            f"which is refused for safety; delete it and train again") from None
    missing = {"model", "optimizer", "epoch", "history", "metadata"} - set(checkpoint) \
        if isinstance(checkpoint, dict) else {"everything"}
    if missing:
        raise CheckpointError(f"{path} is not a checkpoint of this course (it lacks "
                              f"{', '.join(sorted(missing))}): resume from a file that "
                              f"--save wrote")
    return checkpoint


def load_checkpoint(path: str | os.PathLike, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Scheduler | None = None) -> dict:
    """Load a checkpoint into ``model`` (and optimizer, scheduler): its epoch, history, metadata."""
    path = Path(path)
    checkpoint = read_checkpoint(path, next(model.parameters()).device)
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as error:
        saved = checkpoint.get("metadata", {}).get("model", "an unknown model")
        raise CheckpointError(f"checkpoint {path} holds weights of {saved!r} that do not fit "
                              f"{type(model).__name__}: {str(error).splitlines()[0]}") from error
    if optimizer is not None:
        try:
            optimizer.load_state_dict(checkpoint["optimizer"])
        except (ValueError, KeyError) as error:
            raise CheckpointError(f"checkpoint {path} holds the state of another optimizer "
                                  f"({error}): resume with the settings it was saved "
                                  f"with") from error
    if scheduler is not None:
        if "scheduler" not in checkpoint:
            raise CheckpointError(f"checkpoint {path} holds no learning-rate schedule, but this "
                                  f"run uses one: resume it with the settings it was saved with")
        scheduler.load_state_dict(checkpoint["scheduler"])
    return {"epoch": checkpoint["epoch"], "history": History(**checkpoint["history"]),
            "metadata": checkpoint["metadata"]}


def fit(model: nn.Module, train: TensorSplit, test: TensorSplit,
        optimizer: torch.optim.Optimizer, epochs: int = 10, batch_size: int = 64, seed: int = 1,
        eval_batch_size: int = 1_000, log_interval: int = 300,
        log: Callable[[str], None] | None = None,
        checkpoint_path: str | os.PathLike | None = None,
        resume_from: str | os.PathLike | None = None,
        metadata: dict | None = None, memory_format: torch.memory_format = torch.contiguous_format,
        on_epoch_end: Callable[[int, History], None] | None = None,
        scheduler: Scheduler | None = None, augment: Augment | None = None) -> History:
    """Train for ``epochs`` epochs on tensors, testing after each; returns the history.

    Each epoch's shuffle starts from ``epoch_seed(seed, epoch)``, so a run resumed from a
    checkpoint (``resume_from``) ends with the same weights as one that was never stopped.
    With ``checkpoint_path`` a checkpoint is written after every epoch. ``scheduler`` steps after
    every batch (build it for ``epochs * batch_count(len(train), batch_size)`` steps); ``augment``
    changes every training batch.
    """
    history, first_epoch = History(), 1
    if resume_from is not None:
        state = load_checkpoint(resume_from, model, optimizer, scheduler)
        history, first_epoch = state["history"], state["epoch"] + 1
    train = train.to(next(model.parameters()).device, memory_format)
    test = test.to(next(model.parameters()).device, memory_format)
    for epoch in range(first_epoch, epochs + 1):
        torch.manual_seed(epoch_seed(seed, epoch))  # dropout and augmentation, if the model has any
        shuffle = torch.Generator().manual_seed(epoch_seed(seed, epoch))
        started = time.perf_counter()
        train_epoch(model, batches(train, batch_size, shuffle=True, generator=shuffle), optimizer,
                    epoch=epoch, log_interval=log_interval, log=log, history=history,
                    total=batch_count(len(train), batch_size), memory_format=memory_format,
                    scheduler=scheduler, augment=augment)
        history.train_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        correct, total = evaluate(model, batches(test, eval_batch_size), memory_format)
        history.eval_seconds.append(time.perf_counter() - started)
        history.test_accuracy.append(100 * correct / total)
        if log is not None:
            log(f"Accuracy of the network on the test images: {100 * correct / total:.2f} % "
                f"[{correct}/{total}]")
        if checkpoint_path is not None:
            save_checkpoint(checkpoint_path, model, optimizer, epoch, history,
                            {**(metadata or {}), "seed": seed, "epochs": epochs}, scheduler)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
    return history
