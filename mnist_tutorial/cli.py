"""Command line: ``python -m mnist_tutorial train`` trains a model with its recipe's settings.

With no options it reproduces the blog post's run (``--model blog``); ``--model improved`` (and
``fast``, ``residual``) use the recipes notebook 07 arrives at (``mnist_tutorial.recipes``).
``--epochs``, ``--batch-size`` and ``--lr`` override them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from mnist_tutorial.data import DATASETS, DataNotFoundError, batch_count, load_split, quick_mode
from mnist_tutorial.models import MODELS, build_model
from mnist_tutorial.recipes import RECIPES, Recipe, build_training, preferred_memory_format
from mnist_tutorial.training import DEVICES, choose_device, fit, seed_everything


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where it is None (the help text says what happens)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        return action.help if action.default is None else super()._get_help_string(action)


def recipe_defaults(name: str) -> str:
    """``blog 10, improved 15, ...``: one recipe setting for every model, for the help text."""
    return ", ".join(f"{model} {getattr(recipe, name):g}" for model, recipe in RECIPES.items())


def build_parser() -> argparse.ArgumentParser:
    """The ``train`` command and its options; unset numbers come from the model's recipe."""
    parser = argparse.ArgumentParser(prog="python -m mnist_tutorial",
                                     description="Train the course's CNNs on MNIST.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model and report its test accuracy",
                                formatter_class=HelpFormatter)
    train.add_argument("--model", choices=sorted(MODELS), default="blog")
    train.add_argument("--epochs", type=int, default=None,
                       help=f"default: {recipe_defaults('epochs')}")
    train.add_argument("--batch-size", type=int, default=None,
                       help=f"default: {recipe_defaults('batch_size')}")
    train.add_argument("--lr", type=float, default=None,
                       help=f"learning rate, the peak of the one-cycle schedule for all models but "
                            f"blog; default: {recipe_defaults('lr')}")
    train.add_argument("--momentum", type=float, default=None,
                       help="SGD momentum, blog model only; default: 0.5")
    train.add_argument("--data", metavar="DIR", default=None,
                       help="data root (default: $MNIST_TUTORIAL_DATA, else data/)")
    train.add_argument("--dataset", choices=sorted(DATASETS), default="mnist")
    train.add_argument("--device", choices=DEVICES, default="auto")
    train.add_argument("--seed", type=int, default=1)
    train.add_argument("--save", metavar="PATH", default=None,
                       help="write a checkpoint here after every epoch")
    train.add_argument("--resume", metavar="PATH", default=None,
                       help="continue from this checkpoint (and keep saving to it unless --save)")
    return parser


def resolve_recipe(args: argparse.Namespace) -> Recipe:
    """The model's recipe with the numbers given on the command line put in."""
    recipe = RECIPES[args.model]
    if args.momentum is not None and recipe.optimizer != "sgd":
        raise ValueError(f"--momentum applies to SGD (the blog model); {args.model} trains with "
                         f"{recipe.optimizer}: leave --momentum out")
    given = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
             "momentum": args.momentum}
    return Recipe(**{**vars(recipe), **{k: v for k, v in given.items() if v is not None}})


def check_resume_epochs(path: str, epochs: int) -> None:
    """A one-cycle schedule is planned for a fixed length: resuming must keep the saved --epochs."""
    if not Path(path).is_file():
        return  # load_checkpoint says what is missing
    saved = torch.load(path, map_location="cpu", weights_only=True)["metadata"].get("epochs")
    if saved is not None and saved != epochs:
        raise ValueError(f"{path} was trained with a one-cycle schedule planned for {saved} "
                         f"epochs: resume it with --epochs {saved}, not {epochs}")


def train_command(args: argparse.Namespace) -> str:
    """Run the ``train`` command; returns the final ``test accuracy: ...`` line."""
    for name in ("epochs", "batch_size"):
        if getattr(args, name) is None:
            continue
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, "
                             f"got {getattr(args, name)}")
    if args.lr is not None and args.lr <= 0:
        raise ValueError(f"--lr must be positive, got {args.lr}")
    recipe = resolve_recipe(args)
    if args.resume and recipe.optimizer == "adamw":
        check_resume_epochs(args.resume, recipe.epochs)
    device = choose_device(args.device)
    print(f"device: {device}; dataset: {args.dataset}{' (quick subset)' if quick_mode() else ''}")
    if args.model != "blog":
        print(f"recipe: {recipe.epochs} epochs, batch {recipe.batch_size}, {recipe.optimizer} "
              f"with a one-cycle schedule peaking at lr {recipe.lr:g}, weight decay "
              f"{recipe.weight_decay:g}, augmentation {'on' if recipe.augment else 'off'}")
    train = load_split(args.dataset, train=True, root=args.data)
    test = load_split(args.dataset, train=False, root=args.data)
    seed_everything(args.seed)
    model = build_model(args.model).to(device)
    memory_format = preferred_memory_format(device)
    model = model.to(memory_format=memory_format)
    optimizer, scheduler, augment = build_training(
        recipe, model, recipe.epochs * batch_count(len(train), recipe.batch_size), args.dataset)
    metadata = {"model": args.model, "dataset": args.dataset, "batch_size": recipe.batch_size,
                "lr": recipe.lr, "momentum": recipe.momentum}
    history = fit(model, train, test, optimizer, epochs=recipe.epochs,
                  batch_size=recipe.batch_size, seed=args.seed, log=print,
                  checkpoint_path=args.save or args.resume, resume_from=args.resume,
                  metadata=metadata, memory_format=memory_format, scheduler=scheduler,
                  augment=augment)
    if not history.test_accuracy:
        raise ValueError(f"nothing to do: the checkpoint already holds {recipe.epochs} epochs; "
                         f"ask for more with --epochs")
    accuracy = history.test_accuracy[-1]
    correct = round(accuracy * len(test) / 100)
    return f"test accuracy: {accuracy:.2f}% ({correct}/{len(test)})"


def main(argv: list[str] | None = None) -> int:
    """Entry point; errors the user can fix are printed plainly, with exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        print(train_command(args))
    except (DataNotFoundError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
