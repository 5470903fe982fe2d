"""Training and evaluation: the blog post's loop, a history to plot, checkpoints that resume."""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from mnist_tutorial.checkpoints import load_checkpoint, save_checkpoint
from mnist_tutorial.config import show_progress
from mnist_tutorial.data import TensorSplit, batch_count, batches
from mnist_tutorial.distributed import World
from mnist_tutorial.history import History

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
Augment = Callable[[torch.Tensor], torch.Tensor]
Scheduler = torch.optim.lr_scheduler.LRScheduler
def seed_everything(seed: int) -> None:
    """Seed Python's and PyTorch's random generators (PyTorch's covers every GPU too)."""
    random.seed(seed)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed an epoch starts from, so a resumed run shuffles exactly like an unbroken one."""
    return seed * 1_000 + epoch


def train_epoch(model: nn.Module, batches: Batches, optimizer: torch.optim.Optimizer) -> float:
    """One pass over the batches, the blog post's loop; returns the mean loss per example."""
    device = next(model.parameters()).device
    model.train()
    total_loss, count = 0.0, 0
    for images, labels in batches:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(labels)
        count += len(labels)
    return total_loss / count


def train_epoch_logged(model: nn.Module, batches: Batches, optimizer: torch.optim.Optimizer,
                       epoch: int = 1, log_interval: int = 300,
                       log: Callable[[str], None] | None = None, history: History | None = None,
                       total: int | None = None, scheduler: Scheduler | None = None,
                       augment: Augment | None = None, world: World | None = None) -> float:
    """``train_epoch`` as ``fit`` runs it: with a progress bar, the loss logged, a schedule and
    augmentation; returns the mean loss per example.

    Every ``log_interval`` batches the mean loss of those batches goes into ``history`` and, in
    the blog post's format ``[epoch, batch] loss: x.xxx``, to ``log``. Optional: ``augment`` changes
    each batch of images before the model sees it (see ``mnist_tutorial.augmentation``), and
    ``scheduler`` (e.g. ``OneCycleLR``) takes one step after every batch. The losses are summed on
    the model's device, so a GPU is not made to wait for every batch's loss. With ``world`` (a
    distributed run, the model wrapped in DDP, ``batches`` this process's parts) each part's loss
    is weighted so that the averaged gradient is the whole batch's (``World.loss``), and the
    logged and returned losses are those of the whole batches.
    """
    device = next(model.parameters()).device
    model.train()
    interval_loss = torch.zeros((), device=device)  # summed over the batches since the last log
    epoch_loss = torch.zeros((), device=device)  # loss times batch size: a smaller last batch
    count = 0                                    # counts for what it holds
    progress = tqdm(batches, total=total, desc=f"epoch {epoch}", leave=False,
                    disable=not show_progress())
    for batch_index, (images, labels) in enumerate(progress, start=1):
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        if augment is not None:
            images = augment(images)
        optimizer.zero_grad()
        if world is None:
            loss, size = F.cross_entropy(model(images), labels), len(labels)
        else:
            loss, size = world.loss(model(images), labels)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        interval_loss += loss.detach()
        epoch_loss += loss.detach() * size
        count += size
        if batch_index % log_interval == 0:
            if world is not None:  # every process's weighted loss averages to the batch's
                interval_loss = world.mean(interval_loss)
            mean_loss = interval_loss.item() / log_interval
            interval_loss.zero_()
            progress.set_postfix(loss=f"{mean_loss:.3f}")
            if history is not None:
                history.loss_epoch.append(epoch - 1 + batch_index / (total or batch_index))
                history.loss.append(mean_loss)
            if log is not None:
                log(f"[{epoch}, {batch_index:5d}] loss: {mean_loss:.3f}")
    if world is not None:
        epoch_loss = world.mean(epoch_loss)
    return epoch_loss.item() / max(int(count), 1)


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


def evaluate(model: nn.Module, batches: Batches) -> tuple[int, int]:
    """``(correct, total)`` over the batches, in evaluation mode; the model's mode is restored."""
    device = next(model.parameters()).device
    correct, total = 0, 0
    with torch.no_grad(), evaluation_mode(model):
        for images, labels in batches:
            images, labels = images.to(device), labels.to(device)
            correct += (model(images).argmax(dim=1) == labels).sum().item()
            total += len(labels)
    return correct, total


def fit(model: nn.Module, train: TensorSplit, evaluation: TensorSplit,
        optimizer: torch.optim.Optimizer, epochs: int = 10, batch_size: int = 64, seed: int = 1,
        eval_batch_size: int = 1_000, log_interval: int = 300,
        log: Callable[[str], None] | None = None,
        checkpoint_path: str | os.PathLike | None = None,
        resume_from: str | os.PathLike | None = None,
        metadata: dict | None = None, memory_format: torch.memory_format = torch.contiguous_format,
        on_epoch_end: Callable[[int, History], None] | None = None,
        scheduler: Scheduler | None = None, augment: Augment | None = None,
        evaluation_name: str = "test", world: World | None = None,
        evaluate_each_epoch: bool = True) -> History:
    """Train for ``epochs`` epochs on tensors, measuring the accuracy on ``evaluation`` after each
    (only after the last with ``evaluate_each_epoch=False``); returns the history.

    ``evaluation_name`` says what ``evaluation`` is (``"test"``, or ``"validation"`` for a part
    held out of the training set): the history's ``split`` and the log lines use it. Each epoch's
    shuffle starts from ``epoch_seed(seed, epoch)``, so a run resumed from a checkpoint
    (``resume_from``) ends with the same weights as one that was never stopped. With
    ``checkpoint_path`` a checkpoint is written after every epoch. ``memory_format`` (e.g.
    ``torch.channels_last``) is the layout the data is put in, as the model's. ``scheduler`` steps
    after every batch (build it for ``epochs * batch_count(len(train), batch_size)`` steps);
    ``augment`` changes every training batch.

    With ``world`` (a distributed run, ``mnist_tutorial.distributed``) the model trains wrapped in
    DDP on this process's part of every batch; only rank 0 evaluates, logs and writes
    checkpoints (the other ranks' history stays without accuracies).
    """
    history, first_epoch = History(split=evaluation_name), 1
    if resume_from is not None:
        state = load_checkpoint(resume_from, model, optimizer, scheduler)
        history, first_epoch = state["history"], state["epoch"] + 1
    device = next(model.parameters()).device
    train, evaluation = train.to(device, memory_format), evaluation.to(device, memory_format)
    trained = model if world is None else world.wrap(model)  # DDP shares model's parameters
    part = (0, 1) if world is None else (world.rank, world.size)
    leader = world is None or world.leader
    for epoch in range(first_epoch, epochs + 1):
        torch.manual_seed(epoch_seed(seed, epoch))  # dropout and augmentation, if the model has any
        shuffle = torch.Generator().manual_seed(epoch_seed(seed, epoch))
        started = time.perf_counter()
        train_epoch_logged(trained, batches(train, batch_size, shuffle=True, generator=shuffle,
                                            part=part),
                           optimizer, epoch=epoch, log_interval=log_interval,
                           log=log if leader else None, history=history if leader else None,
                           total=batch_count(len(train), batch_size), scheduler=scheduler,
                           augment=augment, world=world)
        history.train_seconds.append(time.perf_counter() - started)
        if not leader:
            continue
        if evaluate_each_epoch or epoch == epochs:
            started = time.perf_counter()
            correct, total = evaluate(model, batches(evaluation, eval_batch_size))
            history.eval_seconds.append(time.perf_counter() - started)
            history.accuracy.append(100 * correct / total)
            history.accuracy_epoch.append(epoch)
            if log is not None:
                log(f"Accuracy of the network on the {evaluation_name} images: "
                    f"{100 * correct / total:.2f} % [{correct}/{total}]")
        if checkpoint_path is not None:
            save_checkpoint(checkpoint_path, model, optimizer, epoch, history,
                            {**(metadata or {}), "seed": seed, "epochs": epochs}, scheduler)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
    return history
