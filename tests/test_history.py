import pytest
import torch

from mnist_tutorial.history import History


def test_to_dict_and_from_dict_round_trip():
    history = History(loss_epoch=[0.5, 1.0], loss=[2.0, 1.5], accuracy=[91.0], split="validation",
                      train_seconds=[3.0], eval_seconds=[0.5])
    values = history.to_dict()
    assert values["split"] == "validation" and values["accuracy"] == [91.0]
    assert History.from_dict(values) == history


def test_from_dict_reads_a_checkpoint_saved_before_split_existed():
    old = {"loss_epoch": [1.0], "loss": [0.3], "test_accuracy": [97.5, 98.1],
           "train_seconds": [4.0], "eval_seconds": [0.2]}
    history = History.from_dict(old)
    assert history.accuracy == [97.5, 98.1] and history.split == "test"
    assert history.loss == [0.3] and "test_accuracy" in old  # the caller's dict is left alone
    assert history.accuracy_epoch == [1, 2]  # saved before accuracy_epoch: one per epoch


def test_accuracy_epoch_is_kept_when_given():
    history = History(accuracy=[98.0], accuracy_epoch=[15])
    assert History.from_dict(history.to_dict()).accuracy_epoch == [15]


def test_to_dict_is_plain_data_for_a_safe_load(tmp_path):
    path = tmp_path / "history.pt"
    torch.save(History(accuracy=[50.0]).to_dict(), path)
    assert History.from_dict(torch.load(path, weights_only=True)).accuracy == [50.0]


def test_unknown_fields_are_refused():
    with pytest.raises(TypeError):
        History.from_dict({"accuracy": [1.0], "top5": [2.0]})
