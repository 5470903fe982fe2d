"""Seconds per epoch: the blog post's network trained by one process against N processes with
DistributedDataParallel (``torchrun``, Gloo on the CPU), same machine, same run.

Both runs are the course's own command line, ``python -m mnist_tutorial train`` and
``torchrun --standalone --nproc_per_node=N -m mnist_tutorial train``, with the same seed and
global batch, so they see the same examples in every step and end with the same weights up to
float rounding (which many steps of training amplify: about 1e-2 after two full epochs).
Every process, the single one included, gets the same number of PyTorch threads (``--threads``,
default: the cores divided by N, so the N processes together use every core once): a process
stands for one device, as a GPU would, and the speed-up says what N devices give over one. The
training seconds per epoch come from the checkpoints' histories (rank 0's clock, evaluation left
out). The report gives both, the speed-up, the scaling efficiency (speed-up / N), both test
accuracies and the largest weight difference. Usage::

    python benchmarks/ddp_speed.py [--processes 2] [--epochs 1] [--batch-size 64] [--threads T]
                                   [--data DIR]

``MNIST_TUTORIAL_QUICK=1`` runs it on the quick subset (a check that it works, not a measurement).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mnist_tutorial.checkpoints import read_checkpoint


def train(command: list[str], options: list[str], threads: int, checkpoint: Path) -> dict:
    """Run the command line to the end; its checkpoint (weights, history)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    result = subprocess.run([*command, "-m", "mnist_tutorial", "train", *options,
                             "--save", str(checkpoint)], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr}")
    return read_checkpoint(checkpoint)


def largest_difference(first: dict, second: dict) -> float:
    """The largest absolute difference between two checkpoints' weights."""
    return max((first["model"][name] - second["model"][name]).abs().max().item()
               for name in first["model"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2, help="N (default 2)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per run (default 1)")
    parser.add_argument("--batch-size", type=int, default=64, help="global batch (default 64)")
    parser.add_argument("--data", default=None, help="data root (default: $MNIST_TUTORIAL_DATA)")
    parser.add_argument("--threads", type=int, default=None,
                        help="PyTorch threads per process (default: cores // N)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.processes < 2 or args.epochs < 1 or args.batch_size % args.processes:
        parser.error("--processes must be at least 2, --epochs at least 1, and --batch-size a "
                     "multiple of --processes")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    share = args.threads or max(1, cores // args.processes)
    options = ["--device", "cpu", "--epochs", str(args.epochs), "--batch-size",
               str(args.batch_size), "--seed", str(args.seed),
               *(["--data", args.data] if args.data else [])]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={args.processes}"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{cores} cores (load average {load:.1f} before the runs); 1 process against "
          f"{args.processes}, {share} thread(s) each; {args.epochs} epoch(s), global batch "
          f"{args.batch_size}")
    with tempfile.TemporaryDirectory() as folder:
        one = train([sys.executable], options, share, Path(folder) / "one.pt")
        many = train(launcher, options, share, Path(folder) / "many.pt")
    rows = {"1 process": one, f"{args.processes} processes": many}
    seconds = {name: sum(run["history"]["train_seconds"]) / args.epochs
               for name, run in rows.items()}
    print(f"\n{'':<14} {'s/epoch':>8} {'test accuracy':>14}")
    for name, run in rows.items():
        print(f"{name:<14} {seconds[name]:>8.2f} {run['history']['accuracy'][-1]:>13.2f}%")
    speedup = seconds["1 process"] / seconds[f"{args.processes} processes"]
    print(f"\nspeed-up {speedup:.2f}x, scaling efficiency {100 * speedup / args.processes:.0f}% "
          f"(speed-up / {args.processes})")
    gap = abs(one["history"]["accuracy"][-1] - many["history"]["accuracy"][-1])
    print(f"test accuracies {'equal' if gap == 0 else f'{gap:.2f} points apart'}; largest "
          f"weight difference {largest_difference(one, many):.1e} (float rounding: the two "
          f"halves of a batch are summed in another order, and training amplifies it over "
          f"many steps)")


if __name__ == "__main__":
    main()
