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
    save_checkpoint,
)
from mnist_tutorial.exercises import check_train_epoch
from mnist_tutorial.history import History
from mnist_tutorial.models import BlogNet
from mnist_tutorial.training import choose_device, evaluate, fit, seed_everything, train_epoch
from tests.helpers import toy_split


def make_model_and_optimizer(seed: int = 0):
    seed_everything(seed)
    model = BlogNet()
    return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)


def test_choose_device():
    assert choose_device("cpu") == torch.device("cpu")
    assert choose_device("auto").type in {"cuda", "mps", "cpu"}
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda' was asked for but is not available"):
            choose_device("cuda")


def test_a_few_training_steps_lower_the_loss():
    model, _ = make_model_and_optimizer()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    split = toy_split(256, seed=0)
    batches = [(split.images[i:i + 32], split.labels[i:i + 32]) for i in range(0, 256, 32)]
    before = torch.nn.functional.cross_entropy(model(split.images), split.labels).item()
    for epoch in range(1, 6):
        train_epoch(model, batches, optimizer, epoch=epoch)
    after = torch.nn.functional.cross_entropy(model(split.images), split.labels).item()
    assert after < 0.5 * before


def test_train_epoch_logs_in_the_blog_format():
    model, optimizer = make_model_and_optimizer()
    split = toy_split(64, seed=0)
    batches = [(split.images[i:i + 8], split.labels[i:i + 8]) for i in range(0, 64, 8)]
    lines, history = [], History()
    mean = train_epoch(model, batches, optimizer, epoch=3, log_interval=4, log=lines.append,
                       history=history, total=8)
    assert len(lines) == 2 and lines[0].startswith("[3,     4] loss: ")
    assert history.loss_epoch == [2.5, 3.0]
    assert mean == pytest.approx(sum(history.loss) / 2, rel=1e-5)


def test_evaluate_counts_correct_predictions():
    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.nn.functional.one_hot(x.flatten(1)[:, 0].long(), 10).float()

    images = torch.tensor([1, 2, 3, 4.0]).view(4, 1, 1, 1)
    labels = torch.tensor([1, 2, 0, 4])
    assert evaluate(Fixed(), [(images[:2], labels[:2]), (images[2:], labels[2:])]) == (3, 4)


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


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_resume_ends_with_the_same_weights(tmp_path, layout):
    train, test = toy_split(200, seed=0), toy_split(50, seed=1)
    settings = dict(batch_size=16, seed=7, log_interval=5, memory_format=layout)

    model, optimizer = make_model_and_optimizer()
    model = model.to(memory_format=layout)
    unbroken = fit(model, train, test, optimizer, epochs=3, **settings)

    first, first_optimizer = make_model_and_optimizer()
    first = first.to(memory_format=layout)
    fit(first, train, test, first_optimizer, epochs=2, checkpoint_path=tmp_path / "c.pt",
        **settings)
    second, second_optimizer = make_model_and_optimizer(seed=99)  # different start: all must load
    second = second.to(memory_format=layout)
    resumed = fit(second, train, test, second_optimizer, epochs=3, resume_from=tmp_path / "c.pt",
                  **settings)

    for (name, a), b in zip(model.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name
    assert resumed.accuracy == unbroken.accuracy
    assert resumed.loss == unbroken.loss


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


def test_train_epoch_passes_the_notebook_05_checker():
    """The package's loop is a right answer to the exercise: mean loss per example, weights."""
    report = check_train_epoch(train_epoch)
    assert report.passed, str(report)
