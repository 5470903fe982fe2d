"""Device differences, each branch forced: which device is waited for, and which 16-bit type
mixed precision picks, without the hardware (the capability queries are monkeypatched)."""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch

from mnist_tutorial import devices


@pytest.fixture
def synchronized(monkeypatch) -> list[str]:
    """The synchronise calls made, by kind of device."""
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("cuda"))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: calls.append("mps"))
    return calls


@pytest.mark.parametrize("kind, expected", [("cuda", ["cuda"]), ("mps", ["mps"]), ("cpu", [])])
def test_synchronize_waits_for_the_device_it_is_given(synchronized, kind, expected):
    devices.synchronize(torch.device(kind))
    assert synchronized == expected


def capability(monkeypatch, major: int, minor: int) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, minor))


@pytest.mark.parametrize("major, minor, expected", [(8, 0, torch.bfloat16), (9, 0, torch.bfloat16),
                                                    (7, 5, torch.float16), (6, 1, torch.float16)])
def test_bfloat16_only_where_the_gpu_computes_it_natively(monkeypatch, major, minor, expected):
    capability(monkeypatch, major, minor)
    # is_bf16_supported says yes through emulation on a T4 (7.5): it must not decide
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert devices.autocast_dtype(torch.device("cuda")) == expected


@pytest.mark.parametrize("kind", ["cpu", "mps"])
def test_the_cpu_and_mps_train_in_float32(monkeypatch, kind):
    capability(monkeypatch, 9, 0)
    assert devices.autocast_dtype(torch.device(kind)) is None
    context, scaler = devices.mixed_precision(torch.device(kind))
    assert isinstance(context, contextlib.nullcontext) and scaler is None


def test_fp32_on_request_even_on_a_new_gpu(monkeypatch):
    capability(monkeypatch, 9, 0)
    assert devices.autocast_dtype(torch.device("cuda"), "fp32") is None
    context, scaler = devices.mixed_precision(torch.device("cuda"), "fp32")
    assert isinstance(context, contextlib.nullcontext) and scaler is None


def _mixed_precision_quietly(device: torch.device):
    with warnings.catch_warnings():  # GradScaler and autocast warn that this machine has no CUDA
        warnings.simplefilter("ignore")
        return devices.mixed_precision(device)


def test_float16_comes_with_a_gradient_scaler_and_bfloat16_without(monkeypatch):
    capability(monkeypatch, 7, 5)
    context, scaler = _mixed_precision_quietly(torch.device("cuda"))
    assert isinstance(context, torch.autocast) and context.fast_dtype == torch.float16
    assert isinstance(scaler, torch.amp.GradScaler)
    capability(monkeypatch, 8, 6)
    context, scaler = _mixed_precision_quietly(torch.device("cuda"))
    assert isinstance(context, torch.autocast) and context.fast_dtype == torch.bfloat16
    assert scaler is None


def test_an_unknown_precision_says_which_exist():
    with pytest.raises(ValueError, match="unknown precision 'fp8': choose one of auto, fp32"):
        devices.autocast_dtype(torch.device("cpu"), "fp8")


def test_choose_device_names_and_refuses():
    assert devices.choose_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        devices.choose_device("tpu")


@pytest.mark.parametrize("cuda, mps, picked", [(True, True, "cuda"), (False, True, "mps"),
                                               (False, False, "cpu")])
def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, picked):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(devices, "_mps_available", lambda: mps)
    assert devices.choose_device("auto") == torch.device(picked)


def test_a_device_that_is_not_there_is_refused_with_what_to_do(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="'cuda' was asked for but is not available here: use "
                                         "--device auto or cpu"):
        devices.choose_device("cuda")
