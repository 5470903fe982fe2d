import subprocess
import sys

import numpy as np
import pytest
import torch

from mnist_tutorial import config, data


def test_root_argument_wins_over_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path / "from_env"))
    assert data.data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert data.data_root() == tmp_path / "from_env"


def test_default_root_is_data_folder_of_the_checkout(monkeypatch):
    monkeypatch.delenv(config.DATA_ENV, raising=False)
    repo = config.repository_root()
    assert repo is not None and (repo / "pyproject.toml").is_file()
    assert data.data_root() == repo / "data"


def test_empty_environment_variable_falls_back_to_default(monkeypatch):
    monkeypatch.setenv(config.DATA_ENV, "")
    assert data.data_root() == data.default_data_root()


def test_raw_folder_follows_torchvision_layout(tmp_path):
    assert data.raw_folder("mnist", tmp_path) == tmp_path / "MNIST" / "raw"
    assert data.raw_folder("fashion", tmp_path) == tmp_path / "FashionMNIST" / "raw"
    with pytest.raises(ValueError, match="unknown dataset 'kmnist'"):
        data.raw_folder("kmnist", tmp_path)


def test_offline_error_names_folder_files_and_variable(tmp_path, no_network):
    with pytest.raises(data.DataNotFoundError) as caught:
        data.load_torchvision("mnist", root=tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    for name in data.RAW_FILES:
        assert name in message
    assert config.DATA_ENV in message
    # nothing was left that a later run could mistake for data
    assert data.missing_files("mnist", tmp_path) == list(data.RAW_FILES)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not list(tmp_path.glob(".download-*"))


def test_no_download_when_files_missing_and_download_false(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="download=False"):
        data.ensure_files("mnist", tmp_path, download=False)


def test_files_present_means_no_download(mnist_root, no_network):
    assert data.ensure_files("mnist", mnist_root) == mnist_root


def test_balanced_subset_is_fixed_and_balanced():
    labels = torch.tensor([3, 1, 1, 2, 3, 3, 2, 1, 2, 3])
    indices = data.balanced_subset_indices(labels, per_class=2)
    assert indices.tolist() == [0, 1, 2, 3, 4, 6]
    assert torch.bincount(labels[indices]).tolist() == [0, 2, 2, 2]
    with pytest.raises(ValueError, match="class 1 has only 3 examples"):
        data.balanced_subset_indices(labels, per_class=4)


def test_quick_split_has_every_class_equally(mnist_root):
    train = data.load_split("mnist", train=True, root=mnist_root, quick=True)
    test = data.load_split("mnist", train=False, root=mnist_root, quick=True)
    assert torch.bincount(train.labels).tolist() == [data.QUICK_PER_CLASS["train"]] * 10
    assert torch.bincount(test.labels).tolist() == [data.QUICK_PER_CLASS["test"]] * 10


def test_mean_std_of_synthetic_images():
    images = torch.tensor([[[0, 255], [255, 0]]], dtype=torch.uint8)
    mean, std = data.compute_mean_std(images)
    assert mean == pytest.approx(0.5)
    assert std == pytest.approx(torch.tensor([0.0, 1.0, 1.0, 0.0]).std().item())


def test_mnist_constants_come_from_the_training_images(mnist_root):
    images = data.load_torchvision("mnist", train=True, root=mnist_root).data
    mean, std = data.compute_mean_std(images)
    assert (round(mean, 4), round(std, 4)) == data.NORMALIZATION["mnist"] == (0.1307, 0.3081)


def test_fast_path_equals_blog_transform(mnist_root):
    split = data.load_split("mnist", train=False, root=mnist_root, quick=False)
    blog_dataset = data.load_torchvision("mnist", train=False, root=mnist_root,
                                         transform=data.blog_transform())
    assert split.images.shape == (10_000, 1, 28, 28) and split.images.dtype == torch.float32
    for index in (0, 1, 4_321, 9_999):
        image, label = blog_dataset[index]
        assert torch.equal(split.images[index], image)
        assert split.labels[index].item() == label


def test_batches_cover_every_example_once():
    split = data.TensorSplit(torch.arange(10.0).view(10, 1, 1, 1), torch.arange(10))
    generator = torch.Generator().manual_seed(0)
    shuffled = list(data.batches(split, 3, shuffle=True, generator=generator))
    assert [len(labels) for _, labels in shuffled] == [3, 3, 3, 1]
    seen = torch.cat([labels for _, labels in shuffled])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    for images, labels in shuffled:
        assert torch.equal(images.flatten().long(), labels)  # images and labels stay paired
    in_order = list(data.batches(split, 4, drop_last=True))
    assert [labels.tolist() for _, labels in in_order] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert data.batch_count(10, 4, drop_last=True) == 2 and data.batch_count(10, 4) == 3
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        next(data.batches(split, 0))


def test_train_validation_split_is_disjoint_complete_and_reproducible():
    split = data.TensorSplit(torch.arange(50.0).view(50, 1, 1, 1), torch.arange(50) % 5)
    train, validation = data.train_validation_split(split, 10, seed=3)
    train_ids, validation_ids = train.images.flatten().long(), validation.images.flatten().long()
    assert (len(train), len(validation)) == (40, 10)
    assert sorted(train_ids.tolist() + validation_ids.tolist()) == list(range(50))
    for part, ids in ((train, train_ids), (validation, validation_ids)):
        assert torch.equal(part.labels, ids % 5)  # images and labels stay paired
        assert torch.equal(ids, ids.sort().values)  # each part keeps the data set's order
    again = data.train_validation_split(split, 10, seed=3)[1]
    other = data.train_validation_split(split, 10, seed=4)[1]
    assert torch.equal(again.images, validation.images)
    assert not torch.equal(other.images, validation.images)


@pytest.mark.parametrize("size", [0, 50, -1, 2.5, True])
def test_train_validation_split_refuses_impossible_sizes(size):
    split = data.TensorSplit(torch.zeros(50, 1, 1, 1), torch.zeros(50, dtype=torch.long))
    with pytest.raises(ValueError, match="validation_size must be a whole number from 1 to 49 "
                                         "\\(the split has 50 examples\\)"):
        data.train_validation_split(split, size, seed=0)


@pytest.mark.parametrize("size", [np.int64(10), torch.tensor(10)], ids=["numpy", "torch"])
def test_train_validation_split_takes_numpy_and_torch_integers(size):
    split = data.TensorSplit(torch.zeros(50, 1, 1, 1), torch.zeros(50, dtype=torch.long))
    train, validation = data.train_validation_split(split, size, seed=np.int32(0))
    assert (len(train), len(validation)) == (40, 10)


@pytest.mark.parametrize("seed", [torch.tensor(True), np.bool_(False), 1.0, "1"])
def test_train_validation_split_refuses_seeds_that_are_no_integers(seed):
    split = data.TensorSplit(torch.zeros(50, 1, 1, 1), torch.zeros(50, dtype=torch.long))
    with pytest.raises(ValueError, match="seed must be a whole number, got .*: pass an integer, "
                                         "e.g. 0"):
        data.train_validation_split(split, 10, seed=seed)


def test_blog_dataloaders_quick_subset(mnist_root):
    train_loader, test_loader = data.blog_dataloaders(root=mnist_root, quick=True)
    assert len(train_loader.dataset) == 10 * data.QUICK_PER_CLASS["train"]
    assert len(test_loader.dataset) == 10 * data.QUICK_PER_CLASS["test"]
    images, labels = next(iter(train_loader))
    assert images.shape == (64, 1, 28, 28) and labels.shape == (64,)


def test_fashion_mnist_through_the_same_api(tmp_path, monkeypatch):
    if any(not (data.DEBIAN_FASHION_DIR / f"{n}.gz").is_file() for n in data.RAW_FILES):
        pytest.skip("Fashion-MNIST needs: apt-get install dataset-fashion-mnist")
    split = data.load_split("fashion", train=False, root=tmp_path, quick=True)
    assert split.images.shape == (1_000, 1, 28, 28)
    assert data.missing_files("fashion", tmp_path) == []
    assert not list(data.raw_folder("fashion", tmp_path).glob(".*"))  # no temporary files left
    images = data.load_torchvision("fashion", train=True, root=tmp_path).data
    mean, std = data.compute_mean_std(images)
    expected = tuple(round(v, 3) for v in data.NORMALIZATION["fashion"])
    assert (round(mean, 3), round(std, 3)) == expected


def write_idx(path, array: torch.Tensor) -> None:
    """An IDX file of unsigned bytes written by hand: 0, 0, type 0x08, ndim, big-endian sizes."""
    header = bytes([0, 0, 0x08, array.dim()])
    header += b"".join(size.to_bytes(4, "big") for size in array.shape)
    path.write_bytes(header + array.to(torch.uint8).numpy().tobytes())


def test_read_idx_reads_what_was_written(tmp_path):
    images = torch.randint(0, 256, (3, 4, 5), dtype=torch.uint8)
    write_idx(tmp_path / "images", images)
    assert torch.equal(data.read_idx(tmp_path / "images"), images)


def test_read_raw_split_matches_torchvision(mnist_root):
    images, labels = data.read_raw_split("mnist", False, mnist_root)
    reference = data.load_torchvision("mnist", train=False, root=mnist_root)
    assert torch.equal(images, reference.data) and torch.equal(labels, reference.targets)


@pytest.mark.parametrize("damage, message", [
    (lambda content: content[:-100], "holds .* bytes, but its header announces shape"),
    (lambda content: content[:6], "cut short inside its header"),
    (lambda content: bytes(range(16)), "is not an IDX file of unsigned bytes"),
    (lambda content: b"", "first bytes are missing"),
])
def test_damaged_idx_files_get_an_error_that_names_them(tmp_path, damage, message):
    path = tmp_path / "t10k-images-idx3-ubyte"
    write_idx(path, torch.zeros(2, 28, 28))
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=message) as caught:
        data.read_idx(path)
    assert str(path) in str(caught.value)


def test_images_and_labels_of_different_lengths_are_refused(tmp_path):
    folder = data.raw_folder("mnist", tmp_path)
    folder.mkdir(parents=True)
    write_idx(folder / "t10k-images-idx3-ubyte", torch.zeros(3, 28, 28))
    write_idx(folder / "t10k-labels-idx1-ubyte", torch.zeros(2))
    with pytest.raises(ValueError, match="do not match"):
        data.read_raw_split("mnist", False, tmp_path)


def test_the_fast_path_does_not_import_torchvision(mnist_root):
    code = ("import sys; from mnist_tutorial.data import load_split; "
            f"load_split('mnist', train=False, root={str(mnist_root)!r}); "
            "print('torchvision' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def copy_of_mnist(source_root, target_root, damage=None, name="t10k-images-idx3-ubyte"):
    """A data root whose files link to the real ones, except ``name``, copied and damaged."""
    folder = data.raw_folder("mnist", target_root)
    folder.mkdir(parents=True)
    for raw in data.RAW_FILES:
        original = data.raw_folder("mnist", source_root) / raw
        if raw == name and damage is not None:
            (folder / raw).write_bytes(damage(original.read_bytes()))
        else:
            (folder / raw).symlink_to(original)
    return target_root


@pytest.mark.parametrize("damage, message", [
    (lambda content: content[:1000], "holds 1,000 bytes, the original 7,840,016"),
    (lambda content: bytes(16), "holds 16 bytes"),
    (lambda content: content[:-1] + bytes([content[-1] ^ 1]), "differ from the original's"),
    (lambda content: bytes(len(content)), "not an IDX file of unsigned bytes"),
])
def test_a_damaged_data_file_is_named_with_the_fix(mnist_root, tmp_path, damage, message):
    root = copy_of_mnist(mnist_root, tmp_path, damage)
    with pytest.raises(data.DamagedDataError, match=message) as caught:
        data.load_split("mnist", train=False, root=root)
    text = str(caught.value)
    assert str(data.raw_folder("mnist", root) / "t10k-images-idx3-ubyte") in text
    assert "delete it and run again online" in text


def test_the_original_files_pass_and_are_hashed_once(mnist_root, tmp_path, monkeypatch):
    root = copy_of_mnist(mnist_root, tmp_path)
    data.verify_raw_files("mnist", root)
    hashed = []
    monkeypatch.setattr(data.hashlib, "md5", lambda content: hashed.append(1))
    data.verify_raw_files("mnist", root)
    assert hashed == []  # size and modification time unchanged: no second hash


def test_a_failed_download_leaves_no_folders_and_keeps_the_cause(tmp_path, no_network):
    mistyped = tmp_path / "dta"
    with pytest.raises(data.DataNotFoundError, match="network disabled for this test"):
        data.ensure_files("mnist", mistyped)
    assert not mistyped.exists()
    assert list(tmp_path.iterdir()) == []
