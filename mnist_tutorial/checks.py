"""Argument checks shared by the whole package: the one home of "is this a whole number?".

Lesson code assumes good arguments; the public functions check them first with these helpers,
so every mistake ends in one clear ``ValueError`` that says what was wrong.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np
import torch

IntOrPair = int | tuple[int, int]


def is_integer(value: object) -> bool:
    """True for Python, numpy and 0-d torch integers; False for bools, floats and anything else."""
    if isinstance(value, torch.Tensor):
        return value.dim() == 0 and not value.is_floating_point() and value.dtype != torch.bool
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def as_int(value: object, name: str) -> int:
    """``value`` as a Python int (numpy and torch integers too); anything else is a ValueError."""
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an int, got {value!r}") from None


def pair(value: IntOrPair, name: str) -> tuple[int, int]:
    """``3 -> (3, 3)``, ``(1, 2) -> (1, 2)``; anything else is a ValueError naming ``name``."""
    if not isinstance(value, (tuple, list)):
        return as_int(value, name), as_int(value, name)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints (height, width), "
                         f"got {value!r}")
    return as_int(value[0], name), as_int(value[1], name)
