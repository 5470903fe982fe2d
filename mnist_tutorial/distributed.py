"""Data-parallel training over several processes: ``torch.distributed`` and DDP under torchrun.

``torchrun --standalone --nproc_per_node=N -m mnist_tutorial train`` starts N copies of the
command line and tells each its place in environment variables (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``). Every copy builds the same model from the same seed and reads the same shuffled
order of the training set; each takes its own part of every global batch, and
``DistributedDataParallel`` averages the gradients over the processes (an all-reduce) during
``loss.backward()``, so every process makes the same update. The backend follows the device:
Gloo on the CPU, NCCL on CUDA GPUs (one process per GPU, the local rank's GPU).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mnist_tutorial.errors import SettingsError

BACKENDS = ("auto", "gloo", "nccl")
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
TIMEOUT = datetime.timedelta(minutes=5)  # a collective that waits longer than this fails
LAUNCH_EXAMPLE = "torchrun --standalone --nproc_per_node=2 -m mnist_tutorial train"


@dataclass(frozen=True)
class Launch:
    """Where torchrun put this process: its rank among all, how many, its rank on this machine."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int


@dataclass(frozen=True)
class World:
    """A started process group: this process's rank, the number of processes, its device."""

    rank: int
    size: int
    device: torch.device
    backend: str

    @property
    def leader(self) -> bool:
        """Rank 0 logs, evaluates and writes checkpoints."""
        return self.rank == 0

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's weighted loss on its part of the global batch, and the global batch size.

        DDP averages gradients: every process gets (1/N) * sum over ranks of grad L_r. One process
        minimises the mean loss over the global batch of b examples, (1/b) * sum_i loss_i. The two
        agree when L_r = N * (sum of this rank's losses) / b, even when the parts differ in size
        (a last batch that does not split evenly). Every rank needs b, so the part sizes are
        summed with one small all-reduce.
        """
        size = torch.tensor(len(labels), device=labels.device)
        dist.all_reduce(size)
        return F.cross_entropy(logits, labels, reduction="sum") * self.size / size, size

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of ``value`` over all processes (for the logged losses)."""
        value = value.clone()
        dist.all_reduce(value)
        return value / self.size

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in DDP: the same start everywhere, gradients averaged in ``backward``."""
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)


def launch_from_environment(environ: dict | None = None) -> Launch | None:
    """The torchrun launch this process is part of, or None when started on its own."""
    environ = os.environ if environ is None else environ
    if not all(name in environ for name in TORCHRUN_VARIABLES):
        return None
    rank, size, local = (int(environ[name]) for name in TORCHRUN_VARIABLES)
    return Launch(rank, size, local, int(environ.get("LOCAL_WORLD_SIZE", size)))


def check_batch_divides(batch_size: int, world_size: int) -> int:
    """The per-process batch; a ``SettingsError`` when the global batch does not divide."""
    if batch_size % world_size:
        lower = max(world_size, batch_size - batch_size % world_size)
        raise SettingsError(f"--batch-size {batch_size} does not divide among {world_size} "
                            f"processes (each takes an equal part of every batch): use a "
                            f"multiple of {world_size}, e.g. --batch-size {lower}")
    return batch_size // world_size


def choose_backend(device: torch.device, backend: str = "auto") -> str:
    """Gloo on the CPU, NCCL on CUDA; ``nccl`` asked for without a GPU is refused."""
    if device.type not in ("cpu", "cuda"):
        raise SettingsError(f"distributed training runs on the CPU or on CUDA GPUs, not on "
                            f"{device.type}: add --device cpu")
    if backend == "auto":
        return "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and device.type != "cuda":
        raise SettingsError("--backend nccl needs CUDA GPUs: use --backend gloo (or auto) on "
                            "the CPU")
    return backend


def rank_device(device: torch.device, launch: Launch) -> torch.device:
    """The local rank's GPU on CUDA (one process per GPU), else ``device`` itself."""
    if device.type != "cuda":
        return device
    count = torch.cuda.device_count()
    if launch.local_world_size > count:
        raise SettingsError(f"torchrun started {launch.local_world_size} processes on this "
                            f"machine, but it has {count} GPU{'s' if count != 1 else ''}: one "
                            f"process per GPU, so use --nproc_per_node={count} (or --device cpu "
                            f"to train on the CPU with Gloo)")
    return torch.device("cuda", launch.local_rank)


def _rendezvous_failure(error: Exception) -> SettingsError:
    """The error of a rendezvous that could not start, with the fix."""
    address = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    return SettingsError(f"the rendezvous at {address} could not start "
                         f"({str(error).strip().splitlines()[0]}): the port is busy, most "
                         f"likely another run uses it; pick a free one with "
                         f"torchrun --master-port=PORT, or let torchrun choose with "
                         f"--standalone")


def start(launch: Launch, device: torch.device, backend: str = "auto") -> World:
    """Join the process group torchrun set up; the rank's device and backend."""
    backend = choose_backend(device, backend)
    device = rank_device(device, launch)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(backend, rank=launch.rank, world_size=launch.world_size,
                                timeout=TIMEOUT)
    except (dist.DistNetworkError, dist.DistStoreError) as error:
        raise _rendezvous_failure(error) from None
    return World(launch.rank, launch.world_size, device, backend)


def _ignore_ctrl_c() -> None:
    """From now on SIGINT and SIGTERM are ignored (the process is ending by itself)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@contextlib.contextmanager
def handling_ctrl_c() -> Iterator[None]:
    """Under torchrun, Ctrl-C reaches every rank and torchrun itself, which then passes the
    signal on (SIGINT, or SIGTERM in older versions); after the first Ctrl-C a rank ignores both,
    so rank 0 can say how to resume and every rank ends by itself. Without a Ctrl-C the handlers
    are put back afterwards."""
    came = []

    def interrupted(signum: int, frame: object) -> None:
        came.append(signum)
        _ignore_ctrl_c()
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGINT, interrupted), signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if not came:
            signal.signal(signal.SIGINT, before[0])
            signal.signal(signal.SIGTERM, before[1])


def stop() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()
