import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from mnist_tutorial import errors
from mnist_tutorial.checkpoints import read_checkpoint, save_checkpoint
from mnist_tutorial.cli import EXIT_CODES, EXIT_STATUS, build_parser, main, resolve_recipe
from mnist_tutorial.history import History
from mnist_tutorial.models import BlogNet
from mnist_tutorial.recipes import RECIPES, Recipe
from tests.helpers import run_cli

FINAL_LINE = re.compile(r"^test accuracy: \d{1,3}\.\d\d% \(\d+/\d+\)$")


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
    assert main(["train", "--data", str(tmp_path), "--epochs", "1"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: MNIST is not on disk and could not be downloaded")
    assert str(tmp_path / "MNIST" / "raw") in err and "MNIST_TUTORIAL_DATA" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--batch-size", "-3"], "--batch-size must be at least 1"),
    (["--lr", "0"], "--lr must be a positive number, got 0.0"),
    (["--lr", "nan"], "--lr must be a positive number, got nan"),
    (["--lr", "inf"], "--lr must be a positive number, got inf"),
    (["--momentum", "nan"], "--momentum must lie in [0, 1), got nan"),
    (["--momentum", "1.5"], "--momentum must lie in [0, 1), got 1.5"),
])
def test_bad_numbers_are_refused(args, message, capsys):
    assert main(["train", *args]) == 2
    assert message in capsys.readouterr().err


def test_resume_from_missing_checkpoint(mnist_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MNIST_TUTORIAL_QUICK", "1")
    code = main(["train", "--data", str(mnist_root), "--resume", str(tmp_path / "nope.pt")])
    assert code == 4 and "no checkpoint at" in capsys.readouterr().err


@pytest.fixture(scope="module")
def one_epoch_checkpoint(mnist_root, tmp_path_factory):
    """A checkpoint of the blog recipe after 1 epoch on the quick subset (saved once)."""
    path = tmp_path_factory.mktemp("checkpoints") / "blog.pt"
    result = run_cli("--epochs", "1", "--save", str(path), root=mnist_root)
    assert result.returncode == 0, result.stderr
    return path


def copy_of(path, tmp_path):
    copy = tmp_path / "copy.pt"
    copy.write_bytes(path.read_bytes())
    return copy


def test_resume_with_other_settings_is_refused_and_the_checkpoint_kept(
        mnist_root, tmp_path, one_epoch_checkpoint):
    path = copy_of(one_epoch_checkpoint, tmp_path)
    before = path.read_bytes()
    result = run_cli("--resume", str(path), "--dataset", "fashion", "--lr", "0.05",
                     "--batch-size", "32", root=mnist_root)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for line in ("dataset: 'mnist' in the checkpoint, 'fashion' now",
                 "lr: 0.01 in the checkpoint, 0.05 now",
                 "batch_size: 64 in the checkpoint, 32 now", "--allow-changes"):
        assert line in result.stderr
    assert path.read_bytes() == before and result.stdout == ""


def test_allow_changes_needs_a_new_file_and_keeps_the_original(
        mnist_root, tmp_path, one_epoch_checkpoint):
    path = copy_of(one_epoch_checkpoint, tmp_path)
    before = path.read_bytes()
    refused = run_cli("--resume", str(path), "--lr", "0.05", "--epochs", "2", "--allow-changes",
                      root=mnist_root)
    assert refused.returncode == 2 and "needs --save to a new file" in refused.stderr
    changed = tmp_path / "changed.pt"
    result = run_cli("--resume", str(path), "--lr", "0.05", "--epochs", "2", "--allow-changes",
                     "--save", str(changed), root=mnist_root)
    assert result.returncode == 0, result.stderr
    assert path.read_bytes() == before and changed.is_file()
    assert result.stdout.count("Accuracy of the network") == 1


def test_another_model_is_named_not_misadvised(mnist_root, tmp_path, one_epoch_checkpoint):
    result = run_cli("--model", "fast", "--resume", str(one_epoch_checkpoint), root=mnist_root)
    assert result.returncode == 2
    assert "model: 'blog' in the checkpoint, 'fast' now" in result.stderr
    assert "one-cycle schedule planned for" not in result.stderr


def test_resuming_a_finished_run_says_so_and_trains_nothing(mnist_root, one_epoch_checkpoint):
    result = run_cli("--resume", str(one_epoch_checkpoint), "--epochs", "1", root=mnist_root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("nothing to do:") and "already holds 1 epochs" in result.stdout
    assert "Accuracy of the network" not in result.stdout


@pytest.mark.parametrize("content, code", [(b"", 4), (b"garbage", 4)])
def test_a_corrupt_or_empty_checkpoint_exits_4(mnist_root, tmp_path, content, code):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    result = run_cli("--resume", str(path), root=mnist_root)
    assert result.returncode == code and str(path) in result.stderr
    assert "Traceback" not in result.stderr and "weights_only=False" not in result.stderr


def test_an_unwritable_save_path_is_refused_before_training(mnist_root, tmp_path):
    result = run_cli("--save", str(tmp_path), root=mnist_root)
    assert result.returncode == 5 and "it is a folder" in result.stderr
    assert "device:" not in result.stdout  # refused before any work


def test_damaged_data_exits_3_naming_the_file(mnist_root, tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        original = mnist_root / "MNIST" / "raw" / name
        (folder / name).write_bytes(original.read_bytes()[:-10] if name.startswith("train-i")
                                    else original.read_bytes())
    result = run_cli("--epochs", "1", root=tmp_path)
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert str(folder / "train-images-idx3-ubyte") in result.stderr


def test_ctrl_c_prints_the_resume_command_and_exits_130(mnist_root, tmp_path):
    checkpoint = tmp_path / "run.pt"
    env = {**os.environ, "MNIST_TUTORIAL_QUICK": "1", "MNIST_TUTORIAL_DATA": str(mnist_root)}
    process = subprocess.Popen([sys.executable, "-m", "mnist_tutorial", "train", "--epochs", "50",
                                "--save", str(checkpoint)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in process.stdout:  # the first epoch is tested, its checkpoint comes next
            if line.startswith("Accuracy of the network"):
                break
        deadline = time.monotonic() + 60
        while not checkpoint.is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert f"python -m mnist_tutorial train --resume {checkpoint}" in err
    saved_epoch = read_checkpoint(checkpoint)["epoch"]
    assert f"(epoch {saved_epoch})" in err
    resumed = run_cli("--resume", str(checkpoint), "--epochs", str(saved_epoch + 1),
                      root=mnist_root)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("Accuracy of the network") == 1


def parse(*args):
    return build_parser().parse_args(["train", *args])


def test_blog_model_keeps_the_blog_defaults_and_improved_has_its_own():
    assert resolve_recipe(parse()) == Recipe(epochs=10, batch_size=64, lr=0.01, momentum=0.5)
    assert resolve_recipe(parse("--model", "improved")) == RECIPES["improved"]
    overridden = resolve_recipe(parse("--model", "improved", "--epochs", "3", "--batch-size", "32",
                                      "--lr", "0.001"))
    assert (overridden.epochs, overridden.batch_size, overridden.lr) == (3, 32, 0.001)
    assert overridden.optimizer == "adamw" and overridden.augment
    assert resolve_recipe(parse("--momentum", "0.9")).momentum == 0.9


def test_momentum_is_refused_for_the_improved_recipe(capsys):
    assert main(["train", "--model", "improved", "--momentum", "0.9"]) == 2
    assert "--momentum applies to SGD" in capsys.readouterr().err


def test_cli_trains_the_improved_model_in_quick_mode(mnist_root, tmp_path):
    checkpoint = tmp_path / "improved.pt"
    result = run_cli("--model", "improved", "--epochs", "2", "--save", str(checkpoint),
                     root=mnist_root)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[1].startswith("recipe: 2 epochs, batch 128, adamw with a one-cycle schedule")
    assert FINAL_LINE.match(lines[-1]) and lines[-1].endswith("/1000)")
    assert result.stdout.count("Accuracy of the network on the test images") == 2
    accuracy = float(lines[-1].split()[2].rstrip("%"))
    assert accuracy > 50  # ten classes: chance is 10 %
    refused = run_cli("--model", "improved", "--epochs", "3", "--resume", str(checkpoint),
                      root=mnist_root)
    assert refused.returncode == 2
    assert "epochs: 2 in the checkpoint (the length its one-cycle schedule is planned for), " \
           "3 now" in refused.stderr


def test_every_course_error_has_one_exit_status_from_the_table(capsys):
    course_errors = {value for value in vars(errors).values() if isinstance(value, type)
                     and issubclass(value, errors.CourseError) and value is not errors.CourseError}
    course_errors.discard(errors.EmptyImageError)  # the digit pad's; the CLI reads no images
    course_errors.discard(errors.PackageVersionError)  # the notebooks' setup cell's
    assert course_errors <= set(EXIT_STATUS)  # every error the CLI can raise has its status
    assert EXIT_STATUS == {errors.SettingsError: 2, errors.DataNotFoundError: 3,
                           errors.DamagedDataError: 3, errors.CheckpointError: 4,
                           errors.CheckpointWriteError: 5, KeyboardInterrupt: 130}
    assert set(EXIT_STATUS.values()) <= set(EXIT_CODES)  # and --help explains it
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    shown = capsys.readouterr().out
    for code, (meaning, _) in EXIT_CODES.items():
        assert f"{code:>3}  {meaning}" in shown


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_that_is_not_there_exits_2(capsys):
    assert main(["train", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: device 'cuda' was asked for but is not available here")
    assert "Traceback" not in err


def test_a_checkpoint_of_an_unknown_data_set_exits_4(tmp_path, capsys):
    model = BlogNet()
    path = save_checkpoint(tmp_path / "kmnist.pt", model, torch.optim.SGD(model.parameters(), 0.1),
                           1, History(), {"model": "blog", "dataset": "kmnist"})
    assert main(["train", "--resume", str(path)]) == 4
    err = capsys.readouterr().err
    assert "trained on a data set called 'kmnist'" in err and "Traceback" not in err
