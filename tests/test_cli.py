import os
import re
import subprocess
import sys

import pytest

from mnist_tutorial.cli import main

FINAL_LINE = re.compile(r"^test accuracy: \d{1,3}\.\d\d% \(\d+/\d+\)$")


def run_cli(*args, root):
    env = {**os.environ, "MNIST_TUTORIAL_QUICK": "1", "MNIST_TUTORIAL_DATA": str(root)}
    return subprocess.run([sys.executable, "-m", "mnist_tutorial", "train", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_train_end_to_end_in_quick_mode_and_resume(mnist_root, tmp_path):
    checkpoint = tmp_path / "blog.pt"
    first = run_cli("--epochs", "1", "--save", str(checkpoint), root=mnist_root)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert FINAL_LINE.match(lines[-1]) and lines[-1].endswith("/1000)")
    assert sum(FINAL_LINE.match(line) is not None for line in lines) == 1
    assert re.match(r"Accuracy of the network on the test images: [\d.]+ % \[\d+/1000\]", lines[-2])
    assert checkpoint.is_file()

    resumed = run_cli("--epochs", "2", "--resume", str(checkpoint), root=mnist_root)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("Accuracy of the network") == 1  # only epoch 2 was run
    assert FINAL_LINE.match(resumed.stdout.strip().splitlines()[-1])


def test_offline_with_empty_folder_exits_with_a_clear_message(tmp_path, no_network, capsys):
    assert main(["train", "--data", str(tmp_path), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: MNIST is not on disk and could not be downloaded")
    assert str(tmp_path / "MNIST" / "raw") in err and "MNIST_TUTORIAL_DATA" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--batch-size", "-3"], "--batch-size must be at least 1"),
    (["--lr", "0"], "--lr must be positive"),
])
def test_bad_numbers_are_refused(args, message, capsys):
    assert main(["train", *args]) == 2
    assert message in capsys.readouterr().err


def test_resume_from_missing_checkpoint(mnist_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MNIST_TUTORIAL_QUICK", "1")
    code = main(["train", "--data", str(mnist_root), "--resume", str(tmp_path / "nope.pt")])
    assert code == 2 and "no checkpoint at" in capsys.readouterr().err
