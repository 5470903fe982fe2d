"""What differs from one device to another: which one to use, waiting for its queued work, and
the low-precision arithmetic its hardware has.

A GPU runs the work PyTorch hands it in the background, so a clock read right after a call may
stop before the work is done: ``synchronize`` waits for it on CUDA and on Apple's MPS alike.
Mixed precision (``torch.autocast``) does most of the arithmetic in 16 bits. bfloat16 keeps
float32's range, so it needs no help, but only GPUs from NVIDIA's Ampere generation on (compute
capability 8.0) compute it natively; on older ones (Colab's free T4 is 7.5)
``torch.cuda.is_bf16_supported()`` may still say yes, through a slow emulation. There float16 is
the native choice, and its small range needs a ``GradScaler`` to keep small gradients from
becoming zero.
"""

from __future__ import annotations

import contextlib

import torch

DEVICES = ("auto", "cuda", "mps", "cpu")
PRECISIONS = ("auto", "fp32")  # auto: mixed precision where the device has native 16-bit maths
NATIVE_BFLOAT16 = (8, 0)  # the first CUDA compute capability with bfloat16 in hardware


def _mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def choose_device(preference: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; a named device must be available."""
    if preference not in DEVICES:
        raise ValueError(f"unknown device {preference!r}: choose one of {', '.join(DEVICES)}")
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    available = {"cuda": torch.cuda.is_available, "mps": _mps_available, "cpu": lambda: True}
    if not available[preference]():
        raise ValueError(f"device {preference!r} was asked for but is not available here: "
                         f"use --device auto or cpu "
                         f"(on Colab: Runtime -> Change runtime type -> GPU)")
    return torch.device(preference)


def synchronize(device: torch.device) -> None:
    """Wait until ``device`` has finished its queued work (nothing to wait for on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The 16-bit type mixed precision uses on ``device``, or None for plain float32.

    Only CUDA GPUs get one: bfloat16 where the hardware has it, float16 otherwise. The CPU and
    MPS train in float32 (the course's networks gain little there).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "fp32" or device.type != "cuda":
        return None
    if torch.cuda.get_device_capability(device) >= NATIVE_BFLOAT16:
        return torch.bfloat16
    return torch.float16


def mixed_precision(device: torch.device, precision: str = "auto"
                    ) -> tuple[contextlib.AbstractContextManager, torch.amp.GradScaler | None]:
    """``(autocast context, GradScaler or None)`` for training on ``device``.

    The scaler comes only with float16; with float32 the context does nothing.
    """
    dtype = autocast_dtype(device, precision)
    if dtype is None:
        return contextlib.nullcontext(), None
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    return torch.autocast(device.type, dtype=dtype), scaler
