"""Fixtures shared by the unit tests (quick mode is set in the root ``conftest.py``)."""

import socket

import pytest
import torch

from mnist_tutorial.data import data_root, missing_files


@pytest.fixture(autouse=True)
def fixed_torch_seed():
    """Every test draws the same random tensors on every run, so a failure can be reproduced."""
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def mnist_root():
    """The data root that holds MNIST; tests that need real digits are skipped without it."""
    root = data_root()
    if missing_files("mnist", root):
        pytest.skip(f"MNIST is not in {root}: set MNIST_TUTORIAL_DATA to run this test")
    return root


@pytest.fixture
def no_network(monkeypatch):
    """Every connection attempt fails at once, as on a machine with no network."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled for this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
