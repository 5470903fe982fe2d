"""Seconds per epoch: the blog post's data pipeline against the project's, same model and settings.

Blog pipeline: ``DataLoader`` over torchvision's MNIST with ``ToTensor`` + ``Normalize``, batch 64,
every image decoded into a PIL image and back, default memory layout.
Project pipeline: the whole split preloaded as one normalised tensor, batches sliced from it,
``channels_last`` layout for model and data, test batches of 1,000.

Both train ``BlogNet`` with SGD (lr 0.01, momentum 0.5, batch 64) from the same initial weights,
with the loop ``fit`` runs (``training.train_epoch_logged``).
Their epochs alternate (blog, project, blog, project, ...) so that a slow patch of the machine
hurts both alike. Usage::

    python benchmarks/train_speed.py --epochs 3 [--device auto|cpu|cuda|mps] [--data DIR]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from mnist_tutorial.data import batches, blog_dataloaders, load_split
from mnist_tutorial.devices import choose_device, synchronize
from mnist_tutorial.models import BlogNet
from mnist_tutorial.training import evaluate, seed_everything, train_epoch_logged


def timed(device, function, *args, **kwargs):
    """``(result, seconds)`` of one call, waiting for the GPU to finish its queue."""
    started = time.perf_counter()
    result = function(*args, **kwargs)
    synchronize(device)
    return result, time.perf_counter() - started


class BlogPipeline:
    """The blog post's way: DataLoader + PIL transforms, default memory layout, test batch 64."""

    name = "blog pipeline"

    def __init__(self, model, device, root, seed):
        self.model = model.to(device)
        self.loaders = blog_dataloaders(root=root, batch_size=64,
                                        generator=torch.Generator().manual_seed(seed))
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.5)

    def train(self, epoch):
        return train_epoch_logged(self.model, self.loaders[0], self.optimizer, epoch=epoch)

    def evaluate(self):
        return evaluate(self.model, self.loaders[1])


class ProjectPipeline:
    """The project's way: preloaded tensors on the device, channels_last, test batch 1,000."""

    name = "project pipeline"
    layout = torch.channels_last

    def __init__(self, model, device, root, seed):
        self.model = model.to(device, memory_format=self.layout)
        self.train_split = load_split(train=True, root=root).to(device, self.layout)
        self.test_split = load_split(train=False, root=root).to(device, self.layout)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.5)
        self.generator = torch.Generator().manual_seed(seed)

    def train(self, epoch):
        return train_epoch_logged(self.model, batches(self.train_split, 64, shuffle=True,
                                                      generator=self.generator),
                                  self.optimizer, epoch=epoch)

    def evaluate(self):
        return evaluate(self.model, batches(self.test_split, 1_000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"),
                        help="auto: a CUDA GPU, then Apple's MPS, then the CPU")
    parser.add_argument("--data", default=None, help="data root (default: $MNIST_TUTORIAL_DATA)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    device = choose_device(args.device)
    seed_everything(args.seed)
    initial = BlogNet()
    pipelines = [kind(copy.deepcopy(initial), device, args.data, args.seed)
                 for kind in (BlogPipeline, ProjectPipeline)]
    print(f"device: {device}, threads: {torch.get_num_threads()}, epochs: {args.epochs}")
    seconds = {p.name: {"train": [], "eval": []} for p in pipelines}
    accuracy = {}
    for epoch in range(1, args.epochs + 1):
        for pipeline in pipelines:
            _, train_s = timed(device, pipeline.train, epoch)
            (correct, total), eval_s = timed(device, pipeline.evaluate)
            seconds[pipeline.name]["train"].append(train_s)
            seconds[pipeline.name]["eval"].append(eval_s)
            accuracy[pipeline.name] = 100 * correct / total
            print(f"epoch {epoch} {pipeline.name:>16}: train {train_s:6.2f} s, "
                  f"eval {eval_s:5.2f} s, test accuracy {accuracy[pipeline.name]:.2f}%")

    print(f"\n{'pipeline':>16} | train s/epoch | eval s/epoch | test accuracy")
    median = {name: {k: statistics.median(v) for k, v in parts.items()}
              for name, parts in seconds.items()}
    for name in median:
        print(f"{name:>16} | {median[name]['train']:13.2f} | {median[name]['eval']:12.2f} | "
              f"{accuracy[name]:.2f}%")
    blog, project = (median[p.name] for p in pipelines)
    print(f"\nspeed-up (median epoch): train {blog['train'] / project['train']:.2f}x, "
          f"eval {blog['eval'] / project['eval']:.2f}x; accuracy difference "
          f"{accuracy['project pipeline'] - accuracy['blog pipeline']:+.2f} pp")


if __name__ == "__main__":
    main()
