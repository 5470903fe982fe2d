"""Milliseconds per 1,000 digits: the course's ``conv2d`` and ``conv2d_loops`` against ``F.conv2d``.

The blog post's conv1 shape: 10 kernels of 1x5x5 with a bias, on the first 1,000 MNIST test digits
(1x28x28 -> 10x24x24), weights from a seeded ``nn.Conv2d(1, 10, 5)``. Each repeat runs every
function once, in turn, so that a slow patch of a shared machine hurts them alike; the report
gives median and best times, their ratios to ``F.conv2d`` and the largest difference from its
result.
``conv2d_loops`` does one Python step per output number, so it is timed on a few digits only and
scaled to 1,000. A second ``conv2d`` row builds its im2col matrix for all 1,000 digits in one
piece instead of a few digits at a time, to show why ``ops.conv2d`` works in pieces. Usage::

    python benchmarks/conv_speed.py [--repeats 20] [--loop-digits 10] [--threads N]
                                    [--device auto|cpu|cuda|mps] [--data DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from mnist_tutorial import ops
from mnist_tutorial.data import load_split
from mnist_tutorial.devices import choose_device, synchronize

DIGITS = 1_000
GOAL = 3.0  # conv2d should be within 3x of F.conv2d


def seconds(function: Callable[[], torch.Tensor], device: torch.device) -> float:
    """Wall-clock seconds of one call, waiting for the GPU to finish its queue."""
    started = time.perf_counter()
    function()
    synchronize(device)
    return time.perf_counter() - started


def conv2d_in_one_piece(x, weight, bias):
    """``ops.conv2d`` with its im2col matrix built for the whole batch at once."""
    saved, ops.COLUMNS_PER_PRODUCT = ops.COLUMNS_PER_PRODUCT, 1 << 62
    try:
        return ops.conv2d(x, weight, bias)
    finally:
        ops.COLUMNS_PER_PRODUCT = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed runs of the fast functions")
    parser.add_argument("--loop-digits", type=int, default=10, help="digits fed to conv2d_loops")
    parser.add_argument("--loop-repeats", type=int, default=3, help="timed runs of conv2d_loops")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"),
                        help="auto: a CUDA GPU, then Apple's MPS, then the CPU")
    parser.add_argument("--data", default=None, help="data root (default: $MNIST_TUTORIAL_DATA)")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    images = load_split(train=False, root=args.data, quick=False).images[:DIGITS].to(device)
    torch.manual_seed(0)
    conv1 = torch.nn.Conv2d(1, 10, kernel_size=5).to(device)  # the blog post's conv1
    weight, bias = conv1.weight.detach(), conv1.bias.detach()
    few = images[:args.loop_digits]

    # name, function, digits it sees, timed runs
    candidates = [
        ("F.conv2d", lambda: F.conv2d(images, weight, bias), len(images), args.repeats),
        ("ops.conv2d", lambda: ops.conv2d(images, weight, bias), len(images), args.repeats),
        ("conv2d, im2col in one piece", lambda: conv2d_in_one_piece(images, weight, bias),
         len(images), args.repeats),
        ("ops.conv2d_loops", lambda: ops.conv2d_loops(few, weight, bias), len(few),
         args.loop_repeats),
    ]
    reference = F.conv2d(images, weight, bias)
    differences = {}
    for name, function, count, _ in candidates:  # the first call also warms up
        differences[name] = (function() - reference[:count]).abs().max().item()
    times: dict[str, list[float]] = {name: [] for name, *_ in candidates}
    for repeat in range(args.repeats):
        for name, function, count, runs in candidates:
            if repeat < runs:
                times[name].append(seconds(function, device) * DIGITS / count)

    print(f"{DIGITS:,} MNIST test digits (1x28x28), 10 kernels 1x5x5 + bias -> 10x24x24; "
          f"device {device}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}")
    print(f"{'function':<29}{'digits':>7}{'runs':>5}{'median ms':>11}{'best ms':>10}"
          f"{'median/F':>10}{'best/F':>8}{'max |diff|':>12}")
    median = {name: statistics.median(runs) for name, runs in times.items()}
    best = {name: min(runs) for name, runs in times.items()}
    for name, _, count, _ in candidates:
        print(f"{name:<29}{count:>7,}{len(times[name]):>5}{median[name] * 1e3:>11.2f}"
              f"{best[name] * 1e3:>10.2f}{median[name] / median['F.conv2d']:>10.1f}"
              f"{best[name] / best['F.conv2d']:>8.1f}{differences[name]:>12.1e}")
    print(f"Times are per {DIGITS:,} digits; conv2d_loops saw {len(few)} digits per run and its "
          f"times are scaled by {DIGITS / len(few):g}.")
    print("On a busy machine read the best-of column or use --threads 1: with more threads than "
          "free cores, every parallel step waits for a descheduled thread.")
    for label, stats in (("median", median), ("best", best)):
        ratio = stats["ops.conv2d"] / stats["F.conv2d"]
        print(f"Goal, ops.conv2d within {GOAL:g}x of F.conv2d, {label} times: "
              f"{'met' if ratio <= GOAL else 'NOT met'} ({ratio:.1f}x)")


if __name__ == "__main__":
    main()
