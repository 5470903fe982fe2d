"""Checker for the receptive-field exercise (notebook 07): the learner's ``fn(layers) -> int``
against the receptive fields autograd measures, on stacks of ``(kernel_size, stride)`` layers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from mnist_tutorial.checks import is_integer
from mnist_tutorial.receptive_field import BLOG_NET_LAYERS, Layer, measured_receptive_field

from .core import TIME_LIMIT, CaseResult, CheckReport, _check_arguments, _guarded

FORMULA_HINT = ("go through the layers from the input, keeping r (the field so far, 1 at the "
                "start) and j (input pixels between two neighbouring values, 1 at the start): "
                "each layer adds (k - 1) * j to r, then multiplies j by its stride")
VERDICT = "All cases agree with the receptive fields autograd measures. Well done!"


def _forward(layers: Sequence[Layer], own_stride: bool = False, jump_first: bool = False,
             use_jump: bool = True) -> int:
    """The forward formula, or one of its common slips (see ``MISTAKES``)."""
    size, jump = 1, 1
    for kernel_size, stride in layers:
        if jump_first:
            jump *= stride
        size += (kernel_size - 1) * (stride if own_stride else jump if use_jump else 1)
        if not jump_first:
            jump *= stride
    return size


# (hint, what the mistake gives); the first mistake that matches a wrong answer is named
MISTAKES: list[tuple[str, Callable[[Sequence[Layer]], int]]] = [
    ("off by one: a single value sees 1 pixel, so start from r = 1 (one layer with kernel k "
     "sees k pixels: 1 + (k - 1))", lambda layers: _forward(layers) - 1),
    ("did you add up the kernel sizes? Neighbouring windows overlap: two stacked 3x3 "
     "convolutions see 5 pixels, not 6, so each layer adds k - 1",
     lambda layers: sum(k for k, _ in layers)),
    ("did you forget the jump? After a layer with stride s, neighbouring values are s input "
     "pixels apart, so every later layer's k - 1 counts s times as many pixels: add "
     "(k - 1) * j, where j is the product of the strides of the layers *before* this one",
     lambda layers: _forward(layers, use_jump=False)),
    ("did you multiply by the layer's own stride? A layer's reach (k - 1) is counted in the "
     "steps of the layer *before* it: multiply by j, the product of the earlier layers' strides",
     lambda layers: _forward(layers, own_stride=True)),
    ("did you update the jump before using it? Add (k - 1) * j with the jump of the layers "
     "before this one, and only then multiply j by this layer's stride",
     lambda layers: _forward(layers, jump_first=True)),
    ("did you go through the layers in the wrong order? layers[0] is next to the input: the "
     "forward formula starts there; the backward one, r_in = (r_out - 1) * s + k, starts at "
     "the last layer", lambda layers: _forward(layers[::-1])),
    ("this is the jump (the product of the strides), the distance between two neighbouring "
     "values; the receptive field is the size of what one value sees",
     lambda layers: math.prod(s for _, s in layers)),
    ("did you multiply the kernel sizes? Each layer adds to the field, it does not multiply it",
     lambda layers: math.prod(k for k, _ in layers)),
]

CASES: list[tuple[str, tuple[Layer, ...]]] = [
    ("no layers: one value is one pixel", ()),
    ("one 5x5 convolution", ((5, 1),)),
    ("two 3x3 convolutions", ((3, 1), (3, 1))),
    ("one 2x2 max-pooling with stride 2", ((2, 2),)),
    ("the blog post's network: conv 5, pool 2, conv 5, pool 2", BLOG_NET_LAYERS),
    ("stride 2 early: a 3x3 convolution with stride 2, then two 3x3 convolutions",
     ((3, 2), (3, 1), (3, 1))),
    ("ResNet's first layers: 7x7 with stride 2, 3x3 max-pooling with stride 2, then 3x3",
     ((7, 2), (3, 2), (3, 1))),
    ("strides compound: three 2x2 poolings, then a 3x3 convolution",
     ((2, 2), (2, 2), (2, 2), (3, 1))),
    ("a stride larger than the kernel: 1x1 with stride 3, then 3x3 (count the whole span, gaps "
     "included)", ((1, 3), (3, 1))),
]


def _whole_number(answer: object) -> int | str:
    """The answer as an int, or what is wrong with it."""
    if isinstance(answer, torch.Tensor) and answer.numel() == 1 and not answer.is_complex():
        answer = answer.item()
    if isinstance(answer, bool):
        return f"returned {answer!r}: return the number of pixels, a whole number such as 7"
    if is_integer(answer):
        return int(answer)
    if isinstance(answer, float) and answer.is_integer():
        return int(answer)
    if isinstance(answer, float):
        return (f"returned {answer!r}: a receptive field is a whole number of pixels (with "
                f"whole-number kernels and strides nothing needs dividing)")
    return f"returned an object of type {type(answer).__name__}: return a whole number (an int)"


def _judge(name: str, layers: tuple[Layer, ...], answer: object) -> CaseResult:
    """Compare the answer with autograd's measurement; name the mistake it equals, if any."""
    got, expected = _whole_number(answer), measured_receptive_field(layers)
    if isinstance(got, str):
        return CaseResult(name, False, got)
    if got == expected:
        return CaseResult(name, True, f"{got} pixels")
    hint = next((hint for hint, mistake in MISTAKES if mistake(layers) == got), FORMULA_HINT)
    return CaseResult(name, False, f"expected {expected}, got {got}\nHint: {hint}")


def check_receptive_field(fn: Callable, *, time_limit: float | None = TIME_LIMIT) -> CheckReport:
    """Check ``fn(layers) -> int`` (``layers``: ``(kernel_size, stride)`` pairs from the input to
    the output) on the stacks in ``CASES`` against autograd's measurement, each case stopped after
    ``time_limit`` seconds (None: no limit)."""
    _check_arguments(fn, time_limit)
    results = [_guarded(name, f"fn({list(layers)!r})",
                        lambda name=name, layers=layers: _judge(name, layers, fn(list(layers))),
                        time_limit)
               for name, layers in CASES]
    return CheckReport("check_receptive_field", tuple(results), VERDICT)
