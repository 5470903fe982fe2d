"""Command line: ``python -m mnist_tutorial train`` trains a model with its recipe's settings.

With no options it reproduces the blog post's run (``--model blog``); ``--model improved`` (and
``fast``, ``residual``) use the recipes notebook 08 arrives at (``mnist_tutorial.recipes``).
``--epochs``, ``--batch-size`` and ``--lr`` override them. Under ``torchrun`` the same command
trains with DistributedDataParallel, one process per CPU share or GPU
(``mnist_tutorial.distributed``); only rank 0 prints and writes checkpoints.

Every failure the user can fix is a ``CourseError`` and ends in one ``error:`` line (no traceback)
and the exit status ``EXIT_CODES`` gives its class; only a bug in the course shows a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist

from mnist_tutorial.checkpoints import check_writable, read_checkpoint
from mnist_tutorial.config import quick_mode
from mnist_tutorial.data import DATASETS, batch_count, load_split
from mnist_tutorial.devices import DEVICES, choose_device
from mnist_tutorial.distributed import (
    BACKENDS,
    LAUNCH_EXAMPLE,
    Launch,
    World,
    check_batch_divides,
    handling_ctrl_c,
    launch_from_environment,
    start,
    stop,
)
from mnist_tutorial.errors import (
    CheckpointError,
    CheckpointWriteError,
    CourseError,
    DamagedDataError,
    DataNotFoundError,
    SettingsError,
)
from mnist_tutorial.models import MODELS, build_model
from mnist_tutorial.recipes import RECIPES, Recipe, build_training, preferred_memory_format
from mnist_tutorial.training import fit, seed_everything

# exit status: what it means (``--help`` lists these) and the errors that end in it
EXIT_CODES = {
    0: ("trained (or the checkpoint already holds every epoch asked for)", ()),
    1: ("a bug in the course: please report the traceback", ()),
    2: ("bad options, or settings that differ from the checkpoint's", (SettingsError,)),
    3: ("the data is missing or damaged", (DataNotFoundError, DamagedDataError)),
    4: ("the checkpoint to resume is missing, damaged or of another model", (CheckpointError,)),
    5: ("a checkpoint cannot be written (read-only folder, a folder as the path, full disk)",
        (CheckpointWriteError,)),
    130: ("interrupted (Ctrl-C); the message says how to resume", (KeyboardInterrupt,)),
}
EXIT_STATUS = {error: code for code, (_, errors) in EXIT_CODES.items() for error in errors}
# the settings a checkpoint records and a resumed run must keep (or change with --allow-changes)
RESUMED_SETTINGS = ("model", "dataset", "quick", "seed", "optimizer", "lr", "momentum",
                    "weight_decay", "batch_size", "augment")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
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
    codes = "\n".join(f"  {code:>3}  {meaning}" for code, (meaning, _) in EXIT_CODES.items())
    train = commands.add_parser("train", help="train a model and report its test accuracy",
                                formatter_class=HelpFormatter,
                                epilog=f"exit status:\n{codes}")
    train.add_argument("--model", choices=sorted(MODELS), default=None,
                       help="default: blog (or the checkpoint's, with --resume)")
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
    train.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                       help="default: mnist (or the checkpoint's, with --resume)")
    train.add_argument("--device", choices=DEVICES, default="auto")
    train.add_argument("--seed", type=int, default=None,
                       help="random seed; default: 1 (or the checkpoint's, with --resume)")
    train.add_argument("--save", metavar="PATH", default=None,
                       help="write a checkpoint here after every epoch")
    train.add_argument("--resume", metavar="PATH", default=None,
                       help="continue from this checkpoint with its settings (and keep saving "
                            "to it unless --save)")
    train.add_argument("--allow-changes", action="store_true",
                       help="resume even where the options differ from the checkpoint's "
                            "settings; needs --save to a new file, so the original is kept")
    train.add_argument("--backend", choices=BACKENDS, default=None,
                       help="torch.distributed backend, only under torchrun (default: auto, "
                            "Gloo on the CPU and NCCL on CUDA)")
    return parser


def check_numbers(args: argparse.Namespace) -> None:
    """Refuse numbers that cannot train: below 1, not positive, NaN or infinite."""
    for name in ("epochs", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise SettingsError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise SettingsError(f"--lr must be a positive number, got {args.lr}")
    if args.momentum is not None and not (math.isfinite(args.momentum)
                                          and 0 <= args.momentum < 1):
        raise SettingsError(f"--momentum must lie in [0, 1), got {args.momentum}")


def resolve_recipe(args: argparse.Namespace) -> Recipe:
    """The model's recipe with the numbers given on the command line put in."""
    model = args.model or "blog"
    recipe = RECIPES[model]
    if args.momentum is not None and recipe.optimizer != "sgd":
        raise SettingsError(f"--momentum applies to SGD (the blog model); {model} trains with "
                            f"{recipe.optimizer}: leave --momentum out")
    given = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
             "momentum": args.momentum}
    return replace(recipe, **{k: v for k, v in given.items() if v is not None})


def run_settings(args: argparse.Namespace, recipe: Recipe) -> dict:
    """Everything a checkpoint records about this run (see ``RESUMED_SETTINGS``)."""
    return {"model": args.model or "blog", "dataset": args.dataset or "mnist",
            "quick": quick_mode(), "seed": 1 if args.seed is None else args.seed,
            "optimizer": recipe.optimizer, "lr": recipe.lr, "momentum": recipe.momentum,
            "weight_decay": recipe.weight_decay, "batch_size": recipe.batch_size,
            "augment": recipe.augment}


def adopt_checkpoint_settings(args: argparse.Namespace, saved: dict) -> None:
    """Options left out take the checkpoint's values, so ``--resume PATH`` alone continues."""
    if saved.get("model") is not None and saved["model"] not in MODELS:
        raise CheckpointError(f"{args.resume} holds a model called {saved['model']!r}, which "
                              f"this version of the course does not have (it has "
                              f"{', '.join(sorted(MODELS))}): train it again")
    if saved.get("dataset") is not None and saved["dataset"] not in DATASETS:
        raise CheckpointError(f"{args.resume} was trained on a data set called "
                              f"{saved['dataset']!r}, which this version of the course does not "
                              f"have (it has {', '.join(sorted(DATASETS))}): train it again")
    for name in ("model", "dataset", "seed"):
        if getattr(args, name) is None and saved.get(name) is not None:
            setattr(args, name, saved[name])
    if args.model != saved.get("model", args.model):
        return  # another model: its own recipe, and the differences are reported
    for name in ("batch_size", "lr"):
        if getattr(args, name) is None and saved.get(name) is not None:
            setattr(args, name, saved[name])
    if args.momentum is None and saved.get("optimizer") == "sgd" and "momentum" in saved:
        args.momentum = saved["momentum"]
    if args.epochs is None and saved.get("optimizer") == "adamw" and "epochs" in saved:
        args.epochs = saved["epochs"]  # a one-cycle schedule is planned for its length


def differences(saved: dict, settings: dict, epochs: int) -> list[str]:
    """``name: saved -> now`` for every recorded setting this run would change."""
    changed = [f"{name}: {saved[name]!r} in the checkpoint, {settings[name]!r} now"
               for name in RESUMED_SETTINGS if name in saved and saved[name] != settings[name]]
    if settings["optimizer"] == "adamw" and saved.get("epochs") not in (None, epochs):
        changed.append(f"epochs: {saved['epochs']!r} in the checkpoint (the length its "
                       f"one-cycle schedule is planned for), {epochs!r} now")
    return changed


def check_launch(args: argparse.Namespace, launch: Launch | None) -> None:
    """Refuse the distributed-only options in a run that torchrun did not start."""
    if args.backend is not None and launch is None:
        raise SettingsError(f"--backend applies to a distributed run, and this one was not "
                            f"started by torchrun (no RANK, WORLD_SIZE, LOCAL_RANK in the "
                            f"environment): launch it as {LAUNCH_EXAMPLE} --backend "
                            f"{args.backend} ..., or leave --backend out")


def train_command(args: argparse.Namespace, launch: Launch | None = None) -> str:
    """Run the ``train`` command; returns the final line to print (rank 0's, under torchrun)."""
    check_numbers(args)
    check_launch(args, launch)
    saved, done = {}, 0
    if args.resume:
        checkpoint = read_checkpoint(args.resume)
        saved, done = checkpoint["metadata"], checkpoint["epoch"]
        adopt_checkpoint_settings(args, saved)
    recipe = resolve_recipe(args)
    if launch is not None:
        check_batch_divides(recipe.batch_size, launch.world_size)
    settings = run_settings(args, recipe)
    destination = args.save or args.resume
    if args.resume:
        changed = differences(saved, settings, recipe.epochs)
        if changed and not args.allow_changes:
            raise SettingsError(
                f"{args.resume} was trained with other settings:\n  " + "\n  ".join(changed)
                + "\n  Leave these options out to continue as it was trained, or add "
                  "--allow-changes --save NEW.pt to train a changed copy")
        if changed and (args.save is None or Path(args.save).resolve()
                        == Path(args.resume).resolve()):
            raise SettingsError(f"--allow-changes needs --save to a new file: the changed run "
                                f"must not replace {args.resume}")
        if done >= recipe.epochs:
            return (f"nothing to do: {args.resume} already holds {done} epochs (asked for "
                    f"{recipe.epochs}); ask for more with --epochs")
    if destination:
        check_writable(destination)
    try:
        device = choose_device(args.device)
    except ValueError as error:  # a device asked for but not there
        raise SettingsError(str(error)) from None
    if launch is None:
        return train_on(args, recipe, settings, device, destination)
    world = start(launch, device, args.backend or "auto")
    try:
        return train_on(args, recipe, settings, world.device, destination, world)
    finally:
        stop()


def train_on(args: argparse.Namespace, recipe: Recipe, settings: dict, device: torch.device,
             destination: str | None, world: World | None = None) -> str:
    """Load the data, build the model and train it on ``device`` (in ``world``, under torchrun)."""
    say = print if world is None or world.leader else (lambda *_: None)
    say(f"device: {device}; dataset: {settings['dataset']}"
        f"{' (quick subset)' if settings['quick'] else ''}")
    if world is not None:
        say(f"distributed: {world.size} processes ({world.backend}), global batch "
            f"{recipe.batch_size}, {recipe.batch_size // world.size} per process")
    if settings["model"] != "blog":
        say(f"recipe: {recipe.epochs} epochs, batch {recipe.batch_size}, {recipe.optimizer} "
            f"with a one-cycle schedule peaking at lr {recipe.lr:g}, weight decay "
            f"{recipe.weight_decay:g}, augmentation {'on' if recipe.augment else 'off'}")
    train = load_split(settings["dataset"], train=True, root=args.data)
    test = load_split(settings["dataset"], train=False, root=args.data)
    seed_everything(settings["seed"])
    memory_format = preferred_memory_format(device)
    model = build_model(settings["model"]).to(device, memory_format=memory_format)
    steps = recipe.epochs * batch_count(len(train), recipe.batch_size)
    optimizer, scheduler, augment = build_training(recipe, model, steps, settings["dataset"])
    history = fit(model, train, test, optimizer, epochs=recipe.epochs,
                  batch_size=recipe.batch_size, seed=settings["seed"], log=say,
                  checkpoint_path=destination, resume_from=args.resume, metadata=settings,
                  memory_format=memory_format, scheduler=scheduler, augment=augment,
                  world=world)
    if world is not None and not world.leader:
        return ""
    accuracy = history.accuracy[-1]
    correct = round(accuracy * len(test) / 100)
    return f"{history.split} accuracy: {accuracy:.2f}% ({correct}/{len(test)})"


def resume_command(launch: Launch | None) -> str:
    """The command that starts training again: under torchrun, with as many processes."""
    if launch is None:
        return "python -m mnist_tutorial train"
    return (f"torchrun --standalone --nproc_per_node={launch.local_world_size} "
            f"-m mnist_tutorial train")


def interrupted_message(args: argparse.Namespace, launch: Launch | None = None) -> str:
    """What Ctrl-C leaves behind, and the command that continues from it."""
    destination = args.save or args.resume
    if destination is None or not Path(destination).is_file():
        return ("interrupted before any checkpoint was saved; add --save PATH to be able to "
                "resume next time")
    try:
        epoch = read_checkpoint(destination)["epoch"]
    except CheckpointError:
        return f"interrupted; {destination} cannot be read, so start again"
    data = f" --data {args.data}" if args.data else ""
    return (f"interrupted; the last checkpoint is {destination} (epoch {epoch}). Continue with:\n"
            f"  {resume_command(launch)} --resume {destination}{data}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: the command's result, or one ``error:`` line and an exit status.

    Under torchrun every rank meets the same settings and data errors, so only rank 0 prints
    them (and the resume command after Ctrl-C). A rank whose peers failed or were killed stops
    without a message of its own: torchrun's report names the rank that failed first.
    """
    args = build_parser().parse_args(argv)
    launch = launch_from_environment()
    with handling_ctrl_c() if launch is not None else contextlib.nullcontext():
        return run_train(args, launch)


def run_train(args: argparse.Namespace, launch: Launch | None) -> int:
    """``train_command``'s result printed, or its error as one line; the exit status."""
    quiet = launch is not None and launch.rank != 0
    try:
        result = train_command(args, launch)
        if result:
            print(result)
    except KeyboardInterrupt:
        if not quiet:
            print(interrupted_message(args, launch), file=sys.stderr)
        return EXIT_STATUS[KeyboardInterrupt]
    except CourseError as error:
        status = EXIT_STATUS[type(error)]  # a CourseError missing from the table is a bug
        if not quiet:
            print(f"error: {error}", file=sys.stderr)
        return status
    except dist.DistError:
        if launch is None:
            raise
        return 1  # a peer failed or was killed: torchrun reports which one
    return 0
