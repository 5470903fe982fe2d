"""Training and evaluation: the blog post's loop, a history to plot, checkpoints that resume."""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn
from tqdm.auto import tqdm

from mnist_tutorial.checkpoints import load_checkpoint, save_checkpoint
from mnist_tutorial.config import show_progress
from mnist_tutorial.data import TensorSplit, batch_count, batches
from mnist_tutorial.history import History

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


@contextlib.contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model.eval()`` meanwhile (dropout off, BatchNorm's running statistics), then the mode
    the model had before."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


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
        history.accuracy.append(100 * correct / total)
        if log is not None:
            log(f"Accuracy of the network on the test images: {100 * correct / total:.2f} % "
                f"[{correct}/{total}]")
        if checkpoint_path is not None:
            save_checkpoint(checkpoint_path, model, optimizer, epoch, history,
                            {**(metadata or {}), "seed": seed, "epochs": epochs}, scheduler)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
    return history
