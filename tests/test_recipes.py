import math

import pytest
import torch

from mnist_tutorial import recipes
from mnist_tutorial.augmentation import RandomAffine, background
from mnist_tutorial.checkpoints import load_checkpoint, save_checkpoint
from mnist_tutorial.data import TensorSplit
from mnist_tutorial.history import History
from mnist_tutorial.models import BlogNet, FastNet, ImprovedNet, ResidualNet, build_model
from mnist_tutorial.recipes import RECIPES, Recipe, build_training, load_or_train_blog_net
from tests.helpers import seeded_net


def test_build_model_knows_the_new_models():
    assert isinstance(build_model("improved"), ImprovedNet)
    assert isinstance(build_model("fast"), FastNet)
    assert isinstance(build_model("residual"), ResidualNet)
    assert set(RECIPES) == {"blog", "improved", "fast", "residual"}


def test_build_training_follows_the_recipe():
    model = ImprovedNet()
    optimizer, scheduler, augment = build_training(RECIPES["blog"], model, total_steps=100)
    assert isinstance(optimizer, torch.optim.SGD) and scheduler is None and augment is None
    assert optimizer.param_groups[0]["lr"] == 0.01 and optimizer.param_groups[0]["momentum"] == 0.5
    recipe = RECIPES["improved"]
    optimizer, scheduler, augment = build_training(recipe, model, 1_500, dataset="fashion")
    assert isinstance(optimizer, torch.optim.AdamW)
    assert isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR)
    assert scheduler.total_steps == 1_500
    assert optimizer.param_groups[0]["weight_decay"] == recipe.weight_decay
    assert isinstance(augment, RandomAffine) and augment.fill == background("fashion")
    with pytest.raises(ValueError, match="unknown optimizer 'adam'"):
        build_training(Recipe(1, 1, 0.1, optimizer="adam"), model, 10)
    with pytest.raises(ValueError, match="total_steps must be at least 1"):
        build_training(recipe, model, 0)


# --- load_or_train_blog_net: the checkpoint notebooks 06 and 07 use ---------------------------
def toy_data() -> tuple[TensorSplit, TensorSplit]:
    generator = torch.Generator().manual_seed(0)
    images, labels = torch.randn(64, 1, 28, 28, generator=generator), torch.arange(64) % 10
    return TensorSplit(images, labels), TensorSplit(images[:20], labels[:20])


def test_load_or_train_trains_saves_and_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_TUTORIAL_QUICK", "1")
    path = tmp_path / "blog_net.pt"
    lines = []
    trained = load_or_train_blog_net(path, data=toy_data, epochs=1, log=lines.append)
    assert path.is_file() and "No checkpoint" in lines[0] and "saved" in lines[-1]
    assert load_checkpoint(path, BlogNet())["metadata"]["quick"] is True
    lines.clear()
    loaded = load_or_train_blog_net(path, data=toy_data, log=lines.append)
    assert lines[0].startswith("Loaded")
    for name, value in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value)



def test_load_or_train_trains_on_the_device_choose_device_picks(tmp_path, monkeypatch):
    """Not always the CPU: on Colab 06 and 07 retrain without 05's checkpoint, on its GPU."""
    asked = []

    def fake_choose_device(preference):
        asked.append(preference)
        return torch.device("cpu")  # the only device this test can really train on

    monkeypatch.setattr(recipes, "choose_device", fake_choose_device)
    monkeypatch.setenv("MNIST_TUTORIAL_QUICK", "1")
    lines = []
    model = load_or_train_blog_net(tmp_path / "net.pt", data=toy_data, epochs=1, log=lines.append)
    assert asked == ["auto"] and "Trained on cpu" in lines[-1]
    assert next(model.parameters()).device == torch.device("cpu")
    load_or_train_blog_net(tmp_path / "other.pt", data=toy_data, epochs=1, log=lines.append,
                           device="cpu")
    assert asked == ["auto", "cpu"]

def test_a_quick_checkpoint_is_retrained_in_full_mode(tmp_path, monkeypatch):
    path = tmp_path / "blog_net.pt"
    model = seeded_net()
    save_checkpoint(path, model, torch.optim.SGD(model.parameters(), lr=0.01), 2,
                    History(accuracy=[50.0, 60.0]), {"quick": True})
    monkeypatch.setenv("MNIST_TUTORIAL_QUICK", "0")
    lines = []
    load_or_train_blog_net(path, data=toy_data, epochs=1, log=lines.append)
    assert "quick mode" in lines[0]
    assert load_checkpoint(path, BlogNet())["metadata"]["quick"] is False
    assert math.isfinite(load_checkpoint(path, BlogNet())["history"].accuracy[-1])
