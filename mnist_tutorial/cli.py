"""Command line: ``python -m mnist_tutorial train`` trains a model with the seed's settings."""

from __future__ import annotations

import argparse
import sys

import torch

from mnist_tutorial.data import DATASETS, DataNotFoundError, load_split, quick_mode
from mnist_tutorial.models import MODELS, build_model
from mnist_tutorial.training import DEVICES, choose_device, fit, seed_everything


def preferred_memory_format(device: torch.device) -> torch.memory_format:
    """channels_last where it is measured faster (CPU, CUDA); the default layout on MPS."""
    return torch.contiguous_format if device.type == "mps" else torch.channels_last


def build_parser() -> argparse.ArgumentParser:
    """The ``train`` command and its options; the defaults are the seed's settings."""
    parser = argparse.ArgumentParser(prog="python -m mnist_tutorial",
                                     description="Train the course's CNNs on MNIST.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model and report its test accuracy",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--model", choices=sorted(MODELS), default="seed")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=0.01)
    train.add_argument("--momentum", type=float, default=0.5)
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


def train_command(args: argparse.Namespace) -> str:
    """Run the ``train`` command; returns the final ``test accuracy: ...`` line."""
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.lr <= 0:
        raise ValueError(f"--lr must be positive, got {args.lr}")
    device = choose_device(args.device)
    print(f"device: {device}; dataset: {args.dataset}{' (quick subset)' if quick_mode() else ''}")
    train = load_split(args.dataset, train=True, root=args.data)
    test = load_split(args.dataset, train=False, root=args.data)
    seed_everything(args.seed)
    model = build_model(args.model).to(device)
    memory_format = preferred_memory_format(device)
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    metadata = {"model": args.model, "dataset": args.dataset, "batch_size": args.batch_size,
                "lr": args.lr, "momentum": args.momentum}
    history = fit(model, train, test, optimizer, epochs=args.epochs, batch_size=args.batch_size,
                  seed=args.seed, log=print, checkpoint_path=args.save or args.resume,
                  resume_from=args.resume, metadata=metadata, memory_format=memory_format)
    if not history.test_accuracy:
        raise ValueError(f"nothing to do: the checkpoint already holds {args.epochs} epochs; "
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
