"""Checker for the receptive-field exercise (notebook 07): the learner's ``fn(layers) -> int``
against the receptive fields autograd measures, on stacks of ``(kernel_size, stride)`` layers.

The course's own functions for receptive fields (``mnist_tutorial.receptive_field``) are refused
while the learner's function runs: the exercise is to work the number out. When a wrong answer
is what a common slip gives, the hint names the slip that explains all of the wrong answers
(not only the one case), so a slip that happens to give the same number as another on one stack
is still named right; a mix of slips gets the general hint.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from mnist_tutorial import receptive_field as course
from mnist_tutorial.checks import is_integer
from mnist_tutorial.receptive_field import BLOG_NET_LAYERS, Layer, measured_receptive_field

from .core import (
    TIME_LIMIT,
    CaseResult,
    CheckReport,
    Forbidden,
    _check_arguments,
    _guarded,
    _named_arguments,
    _session,
)

FORMULA_HINT = ("go through the layers from the input, keeping r (the field so far, 1 at the "
                "start) and j (input pixels between two neighbouring values, 1 at the start): "
                "each layer adds (k - 1) * j to r, then multiplies j by its stride")
VERDICT = "All cases agree with the receptive fields autograd measures. Well done!"
# the course's own answers (and what computes them): refused while the learner's function runs
FORBIDDEN = Forbidden(
    functions=(course.receptive_field, course.input_jump, course.input_window,
               course.conv2_field_box, course.measured_receptive_field),
    task="work the receptive field out yourself from the kernel sizes and strides")


def _forward(layers: Sequence[Layer], *, reach: Callable[[int], int] = lambda k: k - 1,
             start: int = 1, jump: str = "product", jump_first: bool = False) -> int:
    """The forward formula, or one of its common slips (see ``MISTAKES``): ``reach(k)`` is what a
    layer adds (in the layer below's steps), ``start`` the field of one input pixel, and ``jump``
    how a layer's step is counted in input pixels: "product" of the earlier strides (right),
    "one" (no jump at all), "own" (this layer's stride), "previous" (only the last stride), "sum"
    (strides added up) or "sum-1" (each stride adds s - 1)."""
    size, product, previous, total = start, 1, 1, 1
    for kernel_size, stride in layers:
        if jump_first:
            product *= stride
        step = {"product": product, "one": 1, "own": stride, "previous": previous,
                "sum": total, "sum-1": total}[jump]
        size += reach(kernel_size) * step
        if not jump_first:
            product *= stride
        previous = stride
        total += stride if jump == "sum" else stride - 1
    return size


def _times_stride(layers: Sequence[Layer]) -> int:
    """The slip of multiplying the field itself by each stride."""
    size = 1
    for kernel_size, stride in layers:
        size = (size + kernel_size - 1) * stride
    return size


ADDED_K = ("did you add k instead of k - 1? Of the k values under a kernel the first is already "
           "counted in the field so far; each of the other k - 1 reaches j pixels further, so a "
           "layer adds (k - 1) * j")
SUMMED_STRIDES = ("did you add up the strides? Strides multiply: after two stride-2 layers "
                  "neighbouring values are 2 x 2 = 4 input pixels apart (2 x 2 x 2 = 8 after "
                  "three), so j is the product of the strides of the layers before this one")
# (hint, what the mistake gives); the hint named is the first mistake that gives every wrong
# answer of the learner's (one case alone can match several: the blog post's stack gives 15 both
# off by one and with only the previous stride)
MISTAKES: list[tuple[str, Callable[[Sequence[Layer]], int]]] = [
    ("off by one: a single value sees 1 pixel, so start from r = 1 (one layer with kernel k "
     "sees k pixels: 1 + (k - 1))", lambda layers: _forward(layers) - 1),
    ("did you add up the kernel sizes? Neighbouring windows overlap: two stacked 3x3 "
     "convolutions see 5 pixels, not 6, so each layer adds k - 1, times the jump",
     lambda layers: sum(k for k, _ in layers)),
    (ADDED_K, lambda layers: _forward(layers, reach=lambda k: k)),
    (ADDED_K, lambda layers: _forward(layers, reach=lambda k: k, start=0)),
    ("off by one at the start: one output value is r = 1 value of the last layer, so the "
     "backward formula r_in = (r_out - 1) * s + k starts from r = 1 (and the forward one from "
     "r = 1 at the input)", lambda layers: _forward(layers) - math.prod(s for _, s in layers)),
    ("did you forget the jump? After a layer with stride s, neighbouring values are s input "
     "pixels apart, so every later layer's k - 1 counts s times as many pixels: add "
     "(k - 1) * j, where j is the product of the strides of the layers *before* this one",
     lambda layers: _forward(layers, jump="one")),
    ("did you multiply by the layer's own stride? A layer's reach (k - 1) is counted in the "
     "steps of the layer *before* it: multiply by j, the product of the earlier layers' strides",
     lambda layers: _forward(layers, jump="own")),
    ("did you use only the previous layer's stride? The jump is the product of *all* the "
     "strides before this layer: after two stride-2 layers neighbouring values are 2 x 2 = 4 "
     "input pixels apart", lambda layers: _forward(layers, jump="previous")),
    ("did you multiply the field by the stride? A stride spreads the *next* layer's values "
     "apart; it does not enlarge what this layer's values see. Keep the strides in j, the jump, "
     "and add (k - 1) * j to the field", lambda layers: _times_stride(layers)),
    (SUMMED_STRIDES, lambda layers: _forward(layers, jump="sum")),
    (SUMMED_STRIDES, lambda layers: _forward(layers, jump="sum-1")),
    ("did you update the jump before using it? Add (k - 1) * j with the jump of the layers "
     "before this one, and only then multiply j by this layer's stride",
     lambda layers: _forward(layers, jump_first=True)),
    ("did you go through the layers in the wrong order? layers[0] is next to the input: the "
     "forward formula starts there; the backward one, r_in = (r_out - 1) * s + k, starts at "
     "the last layer", lambda layers: _forward(layers[::-1])),
    ("this is the jump (the product of the strides), the distance between two neighbouring "
     "values; the receptive field is the size of what one value sees",
     lambda layers: math.prod(s for _, s in layers)),
    ("did you swap kernel size and stride? Each layer is a pair (kernel_size, stride), in that "
     "order: (2, 2) is a 2x2 pooling with stride 2, (5, 1) a 5x5 convolution with stride 1",
     lambda layers: _forward([(s, k) for k, s in layers])),
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


def _hint(wrong: dict[tuple[Layer, ...], int]) -> str:
    """The first mistake that gives every wrong answer the learner gave, else the general hint."""
    return next((hint for hint, mistake in MISTAKES
                 if all(mistake(layers) == got for layers, got in wrong.items())), FORMULA_HINT)


def _changed_list(fn: Callable, given: list, layers: tuple[Layer, ...]) -> str:
    """What to say when the learner's function changed the list it was given."""
    name = _named_arguments(fn, (given,), {})[0][0]
    return (f"fn({list(layers)!r}) changed its input {name} in place (it is now {given!r}), "
            f"e.g. with {name}.pop(), .reverse(), .sort() or {name}[i] = ...: that would also "
            f"change the caller's list. Read the layers without changing the list, or work on "
            f"a copy, list({name})")


def check_receptive_field(fn: Callable, *, time_limit: float | None = TIME_LIMIT) -> CheckReport:
    """Check ``fn(layers) -> int`` (``layers``: a list of ``(kernel_size, stride)`` pairs from the
    input to the output) on the stacks in ``CASES`` against autograd's measurement. Each call is
    stopped after ``time_limit`` seconds (None: no limit); the course's receptive-field functions
    are refused while it runs, and so is a change to the list it is given."""
    _check_arguments(fn, time_limit)
    answers: dict[tuple[Layer, ...], int] = {}  # the whole-number answers, by stack

    def run(name: str, layers: tuple[Layer, ...]) -> CaseResult:
        given = list(layers)
        answer = learner(given)
        if given != list(layers):
            return CaseResult(name, False, _changed_list(fn, given, layers))
        got = _whole_number(answer)
        if isinstance(got, str):
            return CaseResult(name, False, got)
        answers[layers] = got
        return CaseResult(name, got == measured_receptive_field(layers), f"{got} pixels")

    with _session(time_limit, FORBIDDEN) as session:
        learner = session.learner(fn, watch_inputs=False)  # a list: checked in run()
        results = [_guarded(name, f"fn({list(layers)!r})",
                            lambda name=name, layers=layers: run(name, layers), time_limit)
                   for name, layers in CASES]
    wrong = {layers: answers[layers] for (_, layers), result in zip(CASES, results)
             if not result.passed and layers in answers}
    hint = _hint(wrong)
    for position, (name, layers) in enumerate(CASES):
        if layers in wrong:  # a wrong number: name the slip
            results[position] = CaseResult(name, False, f"expected "
                                           f"{measured_receptive_field(layers)}, got "
                                           f"{wrong[layers]}\nHint: {hint}")
    return CheckReport("check_receptive_field", tuple(results), VERDICT)
