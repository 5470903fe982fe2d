"""Recipes: how each model of the course is trained (optimizer, schedule, augmentation, batch size).

The blog post's network trains with the blog post's settings; ``improved``, ``fast`` and
``residual`` with the recipes notebook 08 arrives at. ``build_training`` turns a recipe into the
objects a training loop needs; ``load_or_train_blog_net`` gives notebooks a trained network.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mnist_tutorial.augmentation import RandomAffine, background
from mnist_tutorial.checkpoints import default_checkpoint_path, load_checkpoint, save_checkpoint
from mnist_tutorial.config import quick_mode, repository_root
from mnist_tutorial.data import TensorSplit, load_split
from mnist_tutorial.devices import choose_device
from mnist_tutorial.models import BlogNet
from mnist_tutorial.training import Augment, Scheduler, fit, seed_everything

OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class Recipe:
    """How a model is trained unless the command line says otherwise.

    ``optimizer="sgd"``: plain SGD with momentum at a constant learning rate (the blog post's way).
    ``optimizer="adamw"``: AdamW with weight decay and a one-cycle schedule peaking at ``lr``.
    ``augment``: train on randomly turned, zoomed and moved digits (``RandomAffine``).
    """

    epochs: int
    batch_size: int
    lr: float
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    augment: bool = False


RECIPES = {
    "blog": Recipe(epochs=10, batch_size=64, lr=0.01, momentum=0.5),
    "improved": Recipe(epochs=15, batch_size=128, lr=3e-3, optimizer="adamw",
                       weight_decay=1e-4, augment=True),
    "fast": Recipe(epochs=2, batch_size=256, lr=4e-3, optimizer="adamw", weight_decay=5e-4),
    "residual": Recipe(epochs=15, batch_size=128, lr=3e-3, optimizer="adamw",
                       weight_decay=1e-4, augment=True),
}


def build_training(recipe: Recipe, model: nn.Module, total_steps: int, dataset: str = "mnist"
                   ) -> tuple[torch.optim.Optimizer, Scheduler | None, Augment | None]:
    """The optimizer, the per-batch learning-rate schedule over ``total_steps`` batches (or None)
    and the augmentation (or None)."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1 (the number of batches the schedule "
                         f"covers), got {total_steps}")
    if recipe.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                    weight_decay=recipe.weight_decay)
        scheduler = None
    elif recipe.optimizer == "adamw":
        optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr,
                                      weight_decay=recipe.weight_decay)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr,
                                                        total_steps=total_steps)
    else:
        raise ValueError(f"unknown optimizer {recipe.optimizer!r}: choose one of {OPTIMIZERS}")
    augment = RandomAffine(fill=background(dataset)) if recipe.augment else None
    return optimizer, scheduler, augment


def preferred_memory_format(device: torch.device) -> torch.memory_format:
    """channels_last where it is measured faster (CPU, CUDA); the default layout on MPS."""
    return torch.contiguous_format if device.type == "mps" else torch.channels_last


def _mnist_splits() -> tuple[TensorSplit, TensorSplit]:
    """MNIST's training and test splits (the quick subsets in quick mode)."""
    return load_split("mnist", train=True), load_split("mnist", train=False)


def _short(path: Path) -> str:
    """``path`` relative to the repository root when it lies inside it (short, no user names)."""
    root = repository_root()
    try:
        return str(path.resolve().relative_to(root)) if root else str(path)
    except ValueError:
        return str(path)


def load_or_train_blog_net(path: str | os.PathLike | None = None,
                           data: Callable[[], tuple[TensorSplit, TensorSplit]] | None = None,
                           epochs: int | None = None,
                           log: Callable[[str], None] = print,
                           device: str = "auto") -> nn.Module:
    """Notebook 05's trained BlogNet from its checkpoint; trained here and saved when it is missing.

    Training runs on ``device`` (``auto``: the best one present, as ``choose_device`` picks); the
    model comes back on the CPU either way.

    ``data`` returns ``(train, test)`` splits (default: MNIST via ``load_split``). ``epochs``
    defaults to the blog post's 10, or 2 in quick mode. A checkpoint saved in quick mode is not used
    in full mode: it is retrained with the full data.
    """
    path = Path(path) if path is not None else default_checkpoint_path("blog_net")
    shown = _short(path)
    epochs = epochs if epochs is not None else (2 if quick_mode() else RECIPES["blog"].epochs)
    model = BlogNet()
    if path.is_file():
        state = load_checkpoint(path, model)
        trained_quick = bool(state["metadata"].get("quick", False))
        if quick_mode() or not trained_quick:
            history = state["history"]
            log(f"Loaded the trained BlogNet from {shown} ({state['epoch']} epochs, "
                f"{history.split} accuracy {history.accuracy[-1]:.2f} %).")
            return model
        log(f"{shown} was trained in quick mode: training the full model again.")
    else:
        log(f"No checkpoint at {shown} (notebook 05 saves one): training BlogNet for {epochs} "
            f"epochs now.")
    train, test = (data or _mnist_splits)()
    recipe = RECIPES["blog"]
    seed_everything(1)
    on = choose_device(device)
    model = BlogNet().to(on)
    optimizer, _, _ = build_training(recipe, model, total_steps=1)
    history = fit(model, train, test, optimizer, epochs=epochs, batch_size=recipe.batch_size,
                  seed=1)
    save_checkpoint(path, model, optimizer, epochs, history,
                    {"model": "blog", "quick": quick_mode(), "saved_by": "load_or_train_blog_net"})
    log(f"Trained on {on.type}: {history.split} accuracy {history.accuracy[-1]:.2f} %; saved to "
        f"{shown}.")
    return model.cpu()
