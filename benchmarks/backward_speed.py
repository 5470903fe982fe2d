"""Seconds per epoch: the blog post's network trained with the hand-written backward pass
(``mnist_tutorial.backprop``, no autograd) against ``loss.backward()``, same machine, same run.

Both start from the same initial weights and see the same batches in the same order (batch 64,
SGD with lr 0.01 and momentum 0.5, preloaded tensors, default memory layout for both). The epoch
is cut into chunks of ``--chunk`` batches that the two take in turn, in the order A B B A A B...,
so that a busy patch of a shared machine slows both alike. The report gives both times, their
ratio (goal: the hand-written epoch within 3x of autograd's), the largest weight difference
after the epoch and both test accuracies. Usage::

    python benchmarks/backward_speed.py [--batches N] [--chunk 25] [--threads N] [--data DIR]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from mnist_tutorial.backprop import MomentumSGD, train_epoch_by_hand
from mnist_tutorial.data import batches, load_split
from mnist_tutorial.models import BlogNet
from mnist_tutorial.training import evaluate, seed_everything, train_epoch

GOAL = 3.0  # the hand-written epoch should take at most 3x autograd's time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=None,
                        help="train on the first N batches only (default: the whole epoch, 938)")
    parser.add_argument("--chunk", type=int, default=25, help="batches per turn (default 25)")
    parser.add_argument("--threads", type=int, default=None,
                        help="PyTorch CPU threads (default: PyTorch's choice)")
    parser.add_argument("--data", default=None, help="data root (default: $MNIST_TUTORIAL_DATA)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.chunk < 1 or (args.batches is not None and args.batches < 1):
        parser.error("--chunk and --batches must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    train = load_split(train=True, root=args.data)
    test = load_split(train=False, root=args.data)
    order = torch.Generator().manual_seed(args.seed)
    epoch = list(batches(train, 64, shuffle=True, generator=order))[:args.batches]
    seed_everything(args.seed)
    hand, auto = BlogNet(), BlogNet()
    auto.load_state_dict(copy.deepcopy(hand.state_dict()))
    hand_sgd = MomentumSGD(hand, lr=0.01, momentum=0.5)
    auto_sgd = torch.optim.SGD(auto.parameters(), lr=0.01, momentum=0.5)
    runs = {"autograd": lambda chunk: train_epoch(auto, chunk, auto_sgd),
            "by hand": lambda chunk: train_epoch_by_hand(hand, chunk, hand_sgd)}
    seconds = {name: 0.0 for name in runs}
    print(f"threads: {torch.get_num_threads()}, batches: {len(epoch)} of 64 images, "
          f"turns of {args.chunk} batches (A B B A ...)")
    for turn, start in enumerate(range(0, len(epoch), args.chunk)):
        chunk = epoch[start:start + args.chunk]
        names = list(runs) if turn % 2 == 0 else list(runs)[::-1]
        for name in names:
            started = time.perf_counter()
            runs[name](chunk)
            seconds[name] += time.perf_counter() - started

    accuracy = {}
    for name, model in (("autograd", auto), ("by hand", hand)):
        correct, total = evaluate(model, batches(test, 1_000))
        accuracy[name] = 100 * correct / total
    difference = max((a - b).abs().max().item()
                     for a, b in zip(hand.parameters(), auto.parameters()))
    print(f"\n{'backward pass':>13} | seconds | test accuracy")
    for name in runs:
        print(f"{name:>13} | {seconds[name]:7.2f} | {accuracy[name]:.2f}%")
    ratio = seconds["by hand"] / seconds["autograd"]
    print(f"\nratio by hand / autograd: {ratio:.2f}x (goal: at most {GOAL:.0f}x: "
          f"{'met' if ratio <= GOAL else 'NOT met'}); largest weight difference after the "
          f"epoch {difference:.2g}; accuracy difference "
          f"{accuracy['by hand'] - accuracy['autograd']:+.2f} points")


if __name__ == "__main__":
    main()
