import os
import pickle
import signal
import subprocess
import sys

import pytest
import torch

from mnist_tutorial.checkpoints import (
    CheckpointError,
    CheckpointWriteError,
    default_checkpoint_path,
    load_checkpoint,
    load_network,
    save_checkpoint,
)
from mnist_tutorial.history import History
from mnist_tutorial.training import train_epoch
from tests.helpers import make_model_and_optimizer, toy_split


def test_checkpoint_round_trip(tmp_path):
    model, optimizer = make_model_and_optimizer()
    split = toy_split(64, seed=0)
    train_epoch(model, [(split.images, split.labels)], optimizer)
    history = History(loss=[1.0], loss_epoch=[1.0], accuracy=[50.0])
    path = save_checkpoint(tmp_path / "sub" / "net.pt", model, optimizer, epoch=1,
                           history=history, metadata={"model": "blog"})
    assert [p.name for p in path.parent.iterdir()] == ["net.pt"]  # no temporary file left
    other, other_optimizer = make_model_and_optimizer(seed=1)
    state = load_checkpoint(path, other, other_optimizer)
    assert state["epoch"] == 1 and state["history"] == history
    assert state["metadata"] == {"model": "blog"}
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    assert optimizer.state_dict()["state"][0]["momentum_buffer"].equal(
        other_optimizer.state_dict()["state"][0]["momentum_buffer"])


def test_failed_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    model, optimizer = make_model_and_optimizer()
    path = save_checkpoint(tmp_path / "net.pt", model, optimizer, epoch=1, history=History())
    before = path.read_bytes()

    def broken_save(obj, f):
        with open(f, "wb") as handle:
            handle.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, optimizer, epoch=2, history=History())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.pt"]


def test_load_checkpoint_errors(tmp_path):
    model, optimizer = make_model_and_optimizer()
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt", model)
    wrong = torch.nn.Linear(3, 2)
    path = save_checkpoint(tmp_path / "linear.pt", wrong, torch.optim.SGD(wrong.parameters(), 0.1),
                           epoch=1, history=History(), metadata={"model": "linear"})
    with pytest.raises(CheckpointError, match="holds weights of 'linear' that do not fit BlogNet"):
        load_checkpoint(path, model)


def test_quick_mode_checkpoints_never_replace_full_ones(monkeypatch):
    monkeypatch.setenv("MNIST_TUTORIAL_QUICK", "0")
    full = default_checkpoint_path("blog_net")
    monkeypatch.setenv("MNIST_TUTORIAL_QUICK", "1")
    quick = default_checkpoint_path("blog_net")
    assert full.name == "blog_net.pt" and quick.name == "blog_net-quick.pt"
    assert full.parent == quick.parent and full.parent.name == "checkpoints"


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"not a checkpoint at all", "cannot be read as a checkpoint"),
])
def test_corrupt_and_empty_checkpoints_are_refused_clearly(tmp_path, content, message):
    model, _ = make_model_and_optimizer()
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as caught:
        load_checkpoint(path, model)
    assert str(path) in str(caught.value) and "weights_only=False" not in str(caught.value)


class Payload:
    """Unpickling this would write a file: the sign that a checkpoint ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_malicious_checkpoint_does_not_run_its_payload(tmp_path):
    model, _ = make_model_and_optimizer()
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.pt"
    torch.save({"model": Payload(str(marker)), "epoch": 1}, path, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="refused for safety") as caught:
        load_checkpoint(path, model)
    assert not marker.exists()
    assert "weights_only=False" not in str(caught.value)


def test_a_truncated_checkpoint_is_refused(tmp_path):
    model, optimizer = make_model_and_optimizer()
    path = save_checkpoint(tmp_path / "net.pt", model, optimizer, epoch=1, history=History())
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match="cannot be read as a checkpoint"):
        load_checkpoint(path, model)


def test_a_save_removes_temporary_files_of_an_earlier_killed_save(tmp_path):
    model, optimizer = make_model_and_optimizer()
    stale = tmp_path / ".net.pt.abc123.tmp"
    stale.write_bytes(b"half-written by a killed process")
    other = tmp_path / ".other.pt.abc123.tmp"  # another checkpoint's: not ours to remove
    other.write_bytes(b"x")
    save_checkpoint(tmp_path / "net.pt", model, optimizer, epoch=1, history=History())
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.pt.abc123.tmp", "net.pt"]


def test_checkpoints_get_the_umask_permissions(tmp_path):
    model, optimizer = make_model_and_optimizer()
    previous = os.umask(0o027)
    try:
        path = save_checkpoint(tmp_path / "net.pt", model, optimizer, epoch=1, history=History())
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o640


def test_unwritable_destinations_are_refused_before_writing(tmp_path):
    model, optimizer = make_model_and_optimizer()
    with pytest.raises(CheckpointWriteError, match="it is a folder"):
        save_checkpoint(tmp_path, model, optimizer, epoch=1, history=History())
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(CheckpointWriteError, match="is not a writable folder"):
        save_checkpoint(tmp_path / "a-file" / "net.pt", model, optimizer, epoch=1,
                        history=History())


def test_a_full_disk_is_reported_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    model, optimizer = make_model_and_optimizer()

    def disk_full(obj, f):
        with open(f, "wb") as handle:
            handle.write(b"part")
        raise RuntimeError("[enforce fail at inline_container.cc:858] . PytorchStreamWriter "
                           "failed writing file data/0: file write failed")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointWriteError, match="free some disk space"):
        save_checkpoint(tmp_path / "net.pt", model, optimizer, epoch=1, history=History())
    assert list(tmp_path.iterdir()) == []


SLOW_SAVE = """
import sys, time, torch
from mnist_tutorial.checkpoints import save_checkpoint
from mnist_tutorial.history import History

def slow_save(obj, f):
    with open(f, "wb") as handle:
        handle.write(b"the first bytes of a checkpoint")
        handle.flush()
        print("writing", flush=True)
        time.sleep(60)

torch.save = slow_save
model = torch.nn.Linear(2, 2)
save_checkpoint(sys.argv[1], model, torch.optim.SGD(model.parameters(), 0.1), 1, History())
"""


def test_a_save_killed_mid_write_is_cleaned_up_by_the_next_one(tmp_path):
    path = tmp_path / "net.pt"
    process = subprocess.Popen([sys.executable, "-c", SLOW_SAVE, str(path)],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "writing"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".net.pt.")  # the killed save's
    model, optimizer = make_model_and_optimizer()
    save_checkpoint(path, model, optimizer, epoch=1, history=History())
    assert [p.name for p in tmp_path.iterdir()] == ["net.pt"]
    assert load_checkpoint(path, make_model_and_optimizer()[0])["epoch"] == 1


SAVE_A_NOTEBOOK_CLASS = """
import sys, torch
import torch.nn.functional as F
from mnist_tutorial.checkpoints import save_network

SCALE = 3.0  # a global of the notebook, used in forward

def scaled_relu(x):
    return F.relu(x) * SCALE

class Net(torch.nn.Module):  # defined in __main__, as a class in a notebook cell is
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 2, kernel_size=5)

    def forward(self, x):
        return scaled_relu(F.max_pool2d(self.conv1(x), 2)).flatten(1)

torch.manual_seed(0)
net = Net()
save_network(sys.argv[1], net)
torch.save(net(torch.ones(1, 1, 28, 28)).detach(), sys.argv[2])
"""

LOAD_IT = """
import sys, torch
from mnist_tutorial.checkpoints import load_network

net = load_network(sys.argv[1])
print(type(net).__name__, [name for name, _ in net.named_children()])
torch.save(net(torch.ones(1, 1, 28, 28)).detach(), sys.argv[2])
"""


def test_a_network_saved_whole_loads_where_its_class_is_unknown(tmp_path):
    """A class from a notebook's __main__ travels in the file: another process rebuilds it."""
    path = tmp_path / "checkpoints" / "my-net.pt"
    saved, loaded = tmp_path / "saved.pt", tmp_path / "loaded.pt"
    subprocess.run([sys.executable, "-c", SAVE_A_NOTEBOOK_CLASS, str(path), str(saved)],
                   check=True, timeout=120)
    done = subprocess.run([sys.executable, "-c", LOAD_IT, str(path), str(loaded)],
                          check=True, timeout=120, capture_output=True, text=True)
    assert done.stdout.split("\n")[0] == "Net ['conv1']"
    assert torch.equal(torch.load(loaded), torch.load(saved))
    assert [p.name for p in path.parent.iterdir()] == ["my-net.pt"]  # no temporary file left


def test_loading_a_network_that_is_not_there_or_damaged_is_refused_clearly(tmp_path):
    with pytest.raises(CheckpointError, match="no network saved at .*save_network"):
        load_network(tmp_path / "none.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a network")
    with pytest.raises(CheckpointError, match="bad.pt cannot be loaded as a network.*save the "
                                              "network again"):
        load_network(tmp_path / "bad.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "dict.pt")
    with pytest.raises(CheckpointError, match="holds a dict, not a network"):
        load_network(tmp_path / "dict.pt")
