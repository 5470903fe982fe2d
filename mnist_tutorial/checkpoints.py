"""Checkpoints: a run's weights, optimizer state and history, written atomically, read safely;
and whole networks, their class's code included, for a network written in a notebook."""

from __future__ import annotations

import os
from pathlib import Path

import cloudpickle
import torch
from torch import nn

from mnist_tutorial.config import quick_mode, repository_root
from mnist_tutorial.errors import CheckpointError, CheckpointWriteError
from mnist_tutorial.files import atomic_write
from mnist_tutorial.history import History

Scheduler = torch.optim.lr_scheduler.LRScheduler


def default_checkpoint_path(name: str) -> Path:
    """``checkpoints/<name>.pt`` at the repository root (git-ignored), or in the current folder.

    In quick mode the name gets a ``-quick`` suffix, so a test run never overwrites a model
    trained on the full data.
    """
    suffix = "-quick" if quick_mode() else ""
    return (repository_root() or Path.cwd()) / "checkpoints" / f"{name}{suffix}.pt"


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


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer,
                    epoch: int, history: History, metadata: dict | None = None,
                    scheduler: Scheduler | None = None) -> Path:
    """Write weights, optimizer (and scheduler) state, epoch, history and plain metadata atomically.

    The file is written under a temporary name in the same folder, then renamed
    (``files.atomic_write``), so an interrupted save never leaves a half-written checkpoint under
    ``path``. A failed write raises ``CheckpointWriteError``.
    """
    path = check_writable(path)
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "history": history.to_dict(),
        "metadata": dict(metadata or {}),
    }
    if scheduler is not None:
        checkpoint["scheduler"] = scheduler.state_dict()
    return _write(path, checkpoint, "checkpoint")


def _write(path: Path, content: object, what: str, **save_options) -> Path:
    """``torch.save`` to a temporary file next to ``path``, renamed to ``path`` when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_write(path) as temporary:
            torch.save(content, temporary, **save_options)
    except (OSError, RuntimeError) as error:  # torch's zip writer reports a full disk so
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise CheckpointWriteError(f"could not write the {what} {path} ({reason}): free "
                                   f"some disk space or save somewhere else") from error
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
    return {"epoch": checkpoint["epoch"], "history": History.from_dict(checkpoint["history"]),
            "metadata": checkpoint["metadata"]}


def save_network(path: str | os.PathLike, model: nn.Module) -> Path:
    """Write ``model`` whole, its class's code with its weights, so another notebook can load it.

    Weights alone (a ``state_dict``) need the class to rebuild the network, and a class written
    in a notebook exists only in that notebook's running kernel. ``cloudpickle`` writes the code
    of such a class, and of the functions it calls, into the file; a class from an installed
    package (``torch.nn.Conv2d``) is stored by name. Written atomically, like a checkpoint.
    """
    return _write(check_writable(path), model, "network", pickle_module=cloudpickle)


def load_network(path: str | os.PathLike, device: torch.device | str = "cpu") -> nn.Module:
    """The network ``save_network`` wrote to ``path``, on ``device``.

    Unlike ``read_checkpoint``, this runs code from the file (the network's class), so load only
    networks you saved yourself. Raises ``CheckpointError`` when the file is missing or cannot be
    loaded, saying what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no network saved at {path}: save one with save_network first")
    try:
        model = torch.load(path, map_location=device, weights_only=False)
    except Exception as error:  # damaged, or its code does not run in this Python
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CheckpointError(
            f"{path} cannot be loaded as a network ({type(error).__name__}: {reason}): it is "
            f"damaged, or was saved by another version of Python or of its libraries; save the "
            f"network again") from error
    if not isinstance(model, nn.Module):
        raise CheckpointError(f"{path} holds a {type(model).__name__}, not a network: save one "
                              f"with save_network")
    return model
