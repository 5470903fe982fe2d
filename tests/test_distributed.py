"""Data-parallel training under torchrun (``mnist_tutorial.distributed``), on the CPU with Gloo.

The runs start real processes: ``torchrun --standalone --nproc_per_node=2 -m mnist_tutorial
train`` in quick mode (2,000 training images, so with batch 64 the last batch holds 16). The NCCL
path cannot run without GPUs; its branches are forced by replacing the capability queries.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mnist_tutorial import distributed
from mnist_tutorial.checkpoints import read_checkpoint
from mnist_tutorial.cli import main
from mnist_tutorial.data import TensorSplit, batches
from mnist_tutorial.distributed import Launch, World
from mnist_tutorial.errors import SettingsError
from mnist_tutorial.models import BlogNet

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "mnist_tutorial", "train"]
ONE_PROCESS = [sys.executable, "-m", "mnist_tutorial", "train"]
# float32 sums in another order (each rank sums half a batch, then the all-reduce adds the
# halves): after 64 steps the weights differ by ~1e-8, far below this, while one step of
# training changes them by ~1e-3
TOLERANCE = 1e-6


def environment(root) -> dict:
    """Quick mode on the data at ``root``, one thread per process, no torchrun in the parent."""
    env = {**os.environ, "MNIST_TUTORIAL_QUICK": "1", "MNIST_TUTORIAL_DATA": str(root),
           "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        env.pop(name, None)
    return env


def start(command, root, *args) -> subprocess.Popen:
    """The command with ``args`` in its own process group, its output captured."""
    return subprocess.Popen([*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=environment(root), start_new_session=True)


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[str, str]:
    """``(stdout, stderr)`` once it ends; the whole process group is killed if it hangs."""
    try:
        return process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def largest_difference(first: Path, second: Path) -> float:
    """The largest absolute difference between the two checkpoints' weights."""
    a, b = read_checkpoint(first)["model"], read_checkpoint(second)["model"]
    assert a.keys() == b.keys()
    return max((a[name] - b[name]).abs().max().item() for name in a)


def test_two_processes_end_with_the_weights_of_one_and_resume(mnist_root, tmp_path):
    one, two = tmp_path / "one.pt", tmp_path / "two.pt"
    single = start(ONE_PROCESS, mnist_root, "--epochs", "2", "--save", str(one))
    first = start(TORCHRUN, mnist_root, "--epochs", "1", "--save", str(two))
    out, err = finish(first)
    assert first.returncode == 0, err
    assert "distributed: 2 processes (gloo), global batch 64, 32 per process" in out
    assert out.count("Accuracy of the network") == 1  # rank 0 alone evaluates and prints
    resumed = start(TORCHRUN, mnist_root, "--resume", str(two), "--epochs", "2")
    out, err = finish(resumed)
    assert resumed.returncode == 0, err
    assert out.count("Accuracy of the network") == 1 and out.count("test accuracy:") == 1
    single_out, single_err = finish(single)
    assert single.returncode == 0, single_err
    assert read_checkpoint(two)["epoch"] == 2
    assert largest_difference(one, two) < TOLERANCE
    assert single_out.splitlines()[-1] == out.splitlines()[-1]  # the same test accuracy
    assert list(tmp_path.glob("*.tmp")) == []


def worker_pids(parent: int, timeout: float = 60) -> dict[int, int]:
    """``{rank: pid}`` of torchrun's workers, read from their environments in /proc."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        ranks = {}
        for pid in map(int, children):
            with open(f"/proc/{pid}/environ", "rb") as file:
                env = dict(item.split(b"=", 1) for item in file.read().split(b"\0") if b"=" in item)
            if b"RANK" in env:
                ranks[int(env[b"RANK"])] = pid
        if len(ranks) == 2:
            return ranks
        time.sleep(0.1)
    raise AssertionError("torchrun did not start two workers")


def wait_for_first_checkpoint(process: subprocess.Popen, checkpoint: Path) -> None:
    """Read rank 0's output until epoch 1 is evaluated, then wait for its checkpoint."""
    for line in process.stdout:
        if line.startswith("Accuracy of the network"):
            break
    deadline = time.monotonic() + 60
    while not checkpoint.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpoint.is_file()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads workers from /proc")
def test_a_killed_rank_stops_the_others_and_leaves_a_whole_checkpoint(mnist_root, tmp_path):
    checkpoint = tmp_path / "run.pt"
    process = start(TORCHRUN, mnist_root, "--epochs", "50", "--save", str(checkpoint))
    try:
        ranks = worker_pids(process.pid)
        wait_for_first_checkpoint(process, checkpoint)
        os.kill(ranks[1], signal.SIGKILL)
        started = time.monotonic()
        _, err = finish(process, timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0
    assert time.monotonic() - started < 30  # the survivor does not wait for its peer
    root_cause = err.split("Root Cause", 1)[1]
    assert "rank      : 1 (local_rank: 1)" in root_cause and "Signal 9 (SIGKILL)" in root_cause
    assert "error:" not in err  # no second message from the rank that was left
    assert 'mnist_tutorial' not in "".join(line for line in err.splitlines(True)
                                           if line.lstrip().startswith("File "))
    assert read_checkpoint(checkpoint)["epoch"] >= 1  # a whole checkpoint of an earlier epoch
    assert list(tmp_path.glob("*.tmp")) == []
    assert all(not Path(f"/proc/{pid}").exists() for pid in ranks.values())


def test_ctrl_c_stops_every_rank_and_prints_the_resume_command_once(mnist_root, tmp_path):
    checkpoint = tmp_path / "run.pt"
    process = start(TORCHRUN, mnist_root, "--epochs", "50", "--save", str(checkpoint))
    try:
        wait_for_first_checkpoint(process, checkpoint)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, err = finish(process, timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0
    resume = ("torchrun --standalone --nproc_per_node=2 -m mnist_tutorial train "
              f"--resume {checkpoint}")
    assert err.count("interrupted; the last checkpoint is") == 1 and err.count(resume) == 1
    epoch = read_checkpoint(checkpoint)["epoch"]
    assert f"(epoch {epoch})" in err
    assert "KeyboardInterrupt" not in err.split("interrupted;")[0]  # no rank's traceback first
    assert list(tmp_path.glob("*.tmp")) == []


# --- errors with one line, in this process ---------------------------------------------------

def torchrun_environment(monkeypatch, world_size=2, rank=0, local_world_size=None):
    """The variables torchrun gives a worker (without starting any)."""
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("WORLD_SIZE", str(world_size))
    monkeypatch.setenv("LOCAL_RANK", str(rank))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(local_world_size or world_size))


def test_a_distributed_only_option_without_torchrun_is_refused(monkeypatch, capsys):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert main(["train", "--backend", "gloo", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --backend applies to a distributed run")
    assert "torchrun --standalone --nproc_per_node=2 -m mnist_tutorial train --backend gloo" in err


def test_a_global_batch_that_does_not_divide_is_refused(monkeypatch, capsys):
    torchrun_environment(monkeypatch)
    assert main(["train", "--batch-size", "63"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: --batch-size 63 does not divide among 2 processes (each takes an equal "
                   "part of every batch): use a multiple of 2, e.g. --batch-size 62\n")


def test_only_rank_0_prints_an_error_every_rank_meets(monkeypatch, capsys):
    torchrun_environment(monkeypatch, rank=1)
    assert main(["train", "--batch-size", "63"]) == 2
    assert capsys.readouterr().err == ""


def test_a_busy_rendezvous_port_is_one_error_line(monkeypatch, capsys):
    """A rank that hosts the rendezvous itself (MASTER_PORT given, no torchrun agent store)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        torchrun_environment(monkeypatch, world_size=1)
        monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
        monkeypatch.setenv("MASTER_PORT", str(port))
        monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)
        assert main(["train", "--device", "cpu", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: the rendezvous at 127.0.0.1:{port} could not start")
    assert "torchrun --master-port=PORT" in err and "--standalone" in err


def fake_gpus(monkeypatch, count: int) -> list:
    """CUDA reported available with ``count`` GPUs; records what the process group is given."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)
    calls = []
    monkeypatch.setattr(distributed.dist, "init_process_group",
                        lambda backend, **kwargs: calls.append((backend, kwargs)))
    return calls


def test_more_processes_than_gpus_with_nccl_is_refused(monkeypatch, capsys):
    calls = fake_gpus(monkeypatch, 1)
    torchrun_environment(monkeypatch, world_size=2)
    assert main(["train", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: torchrun started 2 processes on this machine, but it has 1 GPU: one "
                   "process per GPU, so use --nproc_per_node=1 (or --device cpu to train on "
                   "the CPU with Gloo)\n")
    assert calls == []  # refused before joining the group


def test_nccl_on_cuda_uses_the_local_ranks_gpu(monkeypatch):
    calls = fake_gpus(monkeypatch, 2)
    world = distributed.start(Launch(rank=3, world_size=4, local_rank=1, local_world_size=2),
                              torch.device("cuda"))
    assert world == World(rank=3, size=4, device=torch.device("cuda", 1), backend="nccl")
    assert calls[0][0] == "nccl" and calls[0][1]["rank"] == 3 and calls[0][1]["world_size"] == 4
    wrapped = []
    monkeypatch.setattr(distributed, "DistributedDataParallel",
                        lambda model, device_ids: wrapped.append(device_ids))
    world.wrap(BlogNet())
    assert wrapped == [[1]]
    World(0, 2, torch.device("cpu"), "gloo").wrap(BlogNet())
    assert wrapped[-1] is None  # Gloo on the CPU: no device ids


@pytest.mark.parametrize("device, asked, expected", [
    ("cpu", "auto", "gloo"), ("cuda", "auto", "nccl"), ("cuda", "gloo", "gloo"),
    ("cpu", "nccl", "--backend nccl needs CUDA GPUs"), ("mps", "auto", "add --device cpu")])
def test_the_backend_follows_the_device(device, asked, expected):
    if expected in distributed.BACKENDS:
        assert distributed.choose_backend(torch.device(device), asked) == expected
    else:
        with pytest.raises(SettingsError, match=expected):
            distributed.choose_backend(torch.device(device), asked)


def test_launch_is_read_from_torchruns_variables():
    assert distributed.launch_from_environment({"RANK": "0"}) is None
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert distributed.launch_from_environment(env) == Launch(3, 4, 1, 2)


# --- the sharding and the loss weighting ----------------------------------------------------

def test_the_parts_of_every_batch_make_up_the_one_process_batch():
    split = TensorSplit(torch.arange(23.0).reshape(23, 1, 1, 1), torch.arange(23))
    for shuffle in (False, True):
        whole = list(batches(split, 10, shuffle, generator=torch.Generator().manual_seed(5)))
        parts = [list(batches(split, 10, shuffle, generator=torch.Generator().manual_seed(5),
                              part=(rank, 2))) for rank in range(2)]
        assert [len(labels) for _, labels in parts[0]] == [5, 5, 2]  # 3 examples: 2 and 1
        assert [len(labels) for _, labels in parts[1]] == [5, 5, 1]
        for (images, labels), (_, first), (_, second) in zip(whole, *parts, strict=True):
            assert torch.equal(labels, torch.cat([first, second]))
            assert torch.equal(images.flatten().long(), labels)
    with pytest.raises(ValueError, match="0 <= rank < processes"):
        next(batches(split, 10, part=(2, 2)))


def test_weighted_part_losses_average_to_the_whole_batchs_gradient(monkeypatch):
    """Parts of 4 and 3 examples: DDP's mean of the two gradients equals one process's."""
    images, labels = torch.randn(7, 1, 28, 28), torch.arange(7) % 10
    model = BlogNet()
    F.cross_entropy(model(images), labels).backward()
    expected = [p.grad.clone() for p in model.parameters()]
    sizes = {4: 3, 3: 4}  # the other rank's part size, which the all-reduce adds
    monkeypatch.setattr(distributed.dist, "all_reduce",
                        lambda tensor: tensor.add_(sizes[int(tensor)]))
    world = World(0, 2, torch.device("cpu"), "gloo")
    averaged = [torch.zeros_like(p) for p in model.parameters()]
    for part in (slice(0, 4), slice(4, 7)):
        model.zero_grad()
        loss, size = world.loss(model(images[part]), labels[part])
        assert int(size) == 7
        loss.backward()
        for total, p in zip(averaged, model.parameters(), strict=True):
            total += p.grad / world.size  # what DDP's all-reduce computes
    for got, want in zip(averaged, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_ctrl_c_handling_ignores_the_second_signal_and_restores_without_one():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with distributed.handling_ctrl_c():
        assert signal.getsignal(signal.SIGINT) not in before
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    try:
        with pytest.raises(KeyboardInterrupt), distributed.handling_ctrl_c():
            signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
        signal.raise_signal(signal.SIGINT)  # torchrun's forwarded Ctrl-C: ignored, no exception
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])
