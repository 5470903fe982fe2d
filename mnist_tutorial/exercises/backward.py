"""Checkers for the backward-pass exercises (notebook 06): the learner's gradients against
autograd's, on small cases with whole numbers.

A conv2d backward answer has three parts (grad_x, grad_weight, grad_bias), each judged on its own:
a case passes when all three agree. The rules are those of every checker (see ``core``): a crash,
an endless loop or a wrong type is a failed case, and an answer that equals a common mistake's
(an unflipped kernel, a gradient sent to every pixel of a max-pool window, an ignored stride...)
gets that mistake named, and a raw error beginners hit (one (C, H, W) image, a (height, width)
pair, an index past the input) gets a hint.

The learner writes the backward pass: while a check runs, autograd (``Tensor.backward``,
``torch.autograd.grad`` and what is built on it: ``torch.autograd.functional``, ``torch.func``),
PyTorch's own backward functions (``convolution_backward``, ``torch.nn.grad``,
``conv_transpose2d``, ``max_unpool2d``, max pooling's indices) and the course's own
(``mnist_tutorial.ops``, ``mnist_tutorial.backprop``) refuse to run. A forward ``F.conv2d`` stays
allowed in the convolution exercise (the input gradient *is* a convolution), and a forward
``F.max_pool2d`` (without indices) in the pooling one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .. import backprop, ops
from ..checks import pair
from .core import (
    TIME_LIMIT,
    CaseResult,
    CheckReport,
    Forbidden,
    _attempt,
    _check,
    _compare,
    _numbers,
    _text,
)

CONV_PARTS = ("grad_x", "grad_weight", "grad_bias")
SHAPE_HINTS = {"grad_x": "grad_x has the shape of x: one number per input pixel",
               "grad_weight": "grad_weight has the shape of weight: one number per kernel number",
               "grad_bias": "grad_bias has one number per output channel (weight.shape[0])"}




def _with_overloads(*names: str) -> frozenset[str]:
    """``names`` and their ``torch.ops.aten`` overloads (``convolution_backward.default``), as a
    TorchFunctionMode sees them."""
    found = set(names)
    for name in names:
        packet = getattr(torch.ops.aten, name, None)
        overloads = packet.overloads() if hasattr(packet, "overloads") else []
        found.update(f"{name}.{overload}" for overload in overloads)
    return frozenset(found)


# autograd by every door a learner finds: Tensor.backward, torch.autograd.backward and .grad, and
# torch.autograd.functional / torch.func (vjp, jacobian, jacrev, grad...), which all end in .grad
AUTOGRAD = ("backward", "grad", "_run_backward", "run_backward")
# PyTorch's own backward computations (torch.nn.grad.conv2d_input and conv2d_weight run
# convolution_backward) and the operations that are a backward pass in disguise
TORCH_BACKWARDS = ("convolution_backward", "convolution_backward_overrideable", "convolution",
                   "_convolution", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
                   "max_unpool1d", "max_unpool2d", "max_unpool3d", "max_pool2d_with_indices",
                   "max_pool2d_with_indices_backward", "avg_pool2d_backward",
                   "adaptive_max_pool2d", "adaptive_max_pool2d_backward",
                   "fractional_max_pool2d", "fractional_max_pool2d_backward")
COURSE_BACKWARDS = (
    ops.conv2d_backward, ops.conv2d_backward.__wrapped__, ops.max_pool2d_backward,
    ops.max_pool2d_backward.__wrapped__, ops.avg_pool2d_backward,
    ops.avg_pool2d_backward.__wrapped__, ops.windows_to_pixels,
    backprop.backward, backprop.backward.__wrapped__, backprop.backward_from_conv2,
    backprop.backward_from_conv2.__wrapped__, backprop.loss_and_gradients,
    backprop.input_gradient, backprop.train_epoch_by_hand)
CONV_BACKWARD_FORBIDDEN = Forbidden(
    _with_overloads(*AUTOGRAD, *TORCH_BACKWARDS), COURSE_BACKWARDS,
    "work out the three gradients yourself (a forward convolution such as F.conv2d is fine, "
    "autograd and ready-made backward functions are not)")
POOL_BACKWARD_FORBIDDEN = Forbidden(
    _with_overloads(*AUTOGRAD, *TORCH_BACKWARDS), COURSE_BACKWARDS,
    "send each window's gradient back yourself, with loops or tensor indexing (autograd, "
    "pooling indices and ready-made backward functions do it for you)")

UNBATCHED_HINT = ("x here is one image (C, H, W), without a batch axis: add one (x[None], and "
                  "grad_output[None]), compute, and return the result without it ([0])")
PAIR_HINT = ("{names} may each be one int (the same for rows and columns) or a (height, width) "
             "pair: turn an int s into (s, s) first, then use the pair's two numbers")

CHANNELS_HINT = ("F.conv2d(input, kernel) needs kernel.shape[1] == the input's channels: the "
                 "single-channel recipe needs its channels sorted out. The input gradient goes "
                 "from the O output channels back to the C input channels, so its kernel is "
                 "(C, O, kH, kW): the turned weight with its first two axes swapped. For the "
                 "weight gradient, each (o, c) pair is one correlation of x's channel c with "
                 "grad_output's channel o, summed over the images: loops over o and c work, or "
                 "swap the first two axes of x and grad_output so the images are the channels")


def _error_hint(error: BaseException, case: _GradCase) -> str:
    """What a raw error in this case most likely means, or "" for the usual message."""
    text, x = str(error), case.args[0]
    options = [case.kwargs.get("stride"), case.kwargs.get("padding")]
    if case.names[1] == "kernel_size":
        options.append(case.args[1])
    pair_case = any(isinstance(value, (tuple, list)) for value in options)
    if x.dim() == 3 and isinstance(error, (ValueError, IndexError, RuntimeError, TypeError)) and (
            "unpack" in text or "dimension" in text or "too many indices" in text
            or "dimensions" in text):
        return UNBATCHED_HINT
    if pair_case and isinstance(error, (TypeError, ValueError, RuntimeError)) and (
            "tuple" in text or "unpack" in text or "sequence" in text):
        names = ("kernel_size, stride and padding" if case.names[1] == "kernel_size"
                 else "stride and padding")
        return PAIR_HINT.format(names=names)
    if case.names[1] == "weight" and isinstance(error, RuntimeError):
        if "channels, but got" in text:
            return CHANNELS_HINT
        if "can't be greater than actual input size" in text:
            return ("a convolution inside your function got a kernel (its second argument) "
                    "larger than its padded input: check which tensor you pass as the kernel, "
                    "and that you spread grad_output stride pixels apart and pad x by padding "
                    "where each is needed")
    if isinstance(error, (IndexError, RuntimeError)) and (
            "out of bounds" in text or "numel() == 0" in text or "no elements" in text
            or "must match the size" in text):
        stride = case.kwargs.get("stride")
        if case.names[1] == "kernel_size":
            where = ("stride is kernel_size when none is given" if stride is None
                     else f"stride={stride!r} here")
            return (f"an index ran past the (padded) input, or a window came out empty: window "
                    f"(i, j) starts at row i * stride, column j * stride of the input padded by "
                    f"padding={case.kwargs.get('padding', 0)!r} ({where}; did you step by "
                    f"another number, or ignore the stride?), and i, j run over grad_output's "
                    f"height and width")
        return (f"an index ran past the (padded) input, or a window came out smaller than the "
                f"kernel: output (p, q) read the window at row p * stride, column q * stride of "
                f"x padded by padding={case.kwargs.get('padding', 0)!r} "
                f"(stride={case.kwargs.get('stride', 1)!r} here: did you ignore it?), so pad x "
                f"first and make the gradient of the padded shape")
    return ""


@dataclass(frozen=True)
class _GradCase:
    """Arguments (and how to name them), autograd's gradients, and what common mistakes give."""

    name: str
    args: tuple
    names: tuple[str, ...]
    kwargs: dict
    expected: tuple[torch.Tensor, ...]
    parts: tuple[str, ...]
    mistakes: list[tuple[str, str, torch.Tensor]] = field(default_factory=list)  # part, hint, value

    def call_text(self) -> str:
        """How the case called the learner's function, e.g. ``fn(x, weight, grad_output)``."""
        shown = [name if isinstance(arg, torch.Tensor) else repr(arg)
                 for name, arg in zip(self.names, self.args)]
        shown += [f"{key}={value!r}" for key, value in self.kwargs.items()]
        return f"fn({', '.join(shown)})"


def _judge(fn: Callable, case: _GradCase, time_limit: float | None) -> CaseResult:
    """Run one case; whatever the learner's function does becomes a message, never an exception."""
    def raised(error: BaseException) -> CaseResult | None:
        hint = _error_hint(error, case)
        return CaseResult(case.name, False, f"{case.call_text()} raised {_text(error)}\n"
                                            f"Hint: {hint}") if hint else None

    return _attempt(case.name, case.call_text(), lambda: fn(*case.args, **case.kwargs),
                    lambda got: _verdict(case, got), time_limit,
                    answer="ordinary torch.Tensors of numbers", raised=raised)


def _verdict(case: _GradCase, got: object) -> CaseResult:
    """Judge every part of the learner's answer to one case."""
    if len(case.parts) == 1:
        got = (got,)
    elif not isinstance(got, (tuple, list)) or len(got) != len(case.parts):
        return CaseResult(case.name, False, f"returned {type(got).__name__}, expected a tuple of "
                                            f"{len(case.parts)} tensors "
                                            f"({', '.join(case.parts)})")
    verdicts = [_judge_part(case, part, value) for part, value in zip(case.parts, got)]
    passed = all(ok for ok, _ in verdicts)
    # a failed case shows only the parts that failed
    return CaseResult(case.name, passed, "\n".join(text for ok, text in verdicts
                                                   if passed or not ok))


def _judge_part(case: _GradCase, part: str, got) -> tuple[bool, str]:
    """(passed, message) for one part of the answer."""
    return _compare(got, case.expected[case.parts.index(part)],
                    [(hint, wrong) for where, hint, wrong in case.mistakes if where == part],
                    SHAPE_HINTS[part], case.call_text(),
                    f"{part}: " if len(case.parts) > 1 else "")


def _autograd(forward: Callable, inputs: list[torch.Tensor], grad_output: torch.Tensor
              ) -> tuple[torch.Tensor, ...]:
    """Autograd's gradients of ``forward(*inputs)`` for the given output gradient."""
    leaves = [t.clone().requires_grad_() for t in inputs]
    return torch.autograd.grad(forward(*leaves), leaves, grad_output)


# --- conv2d_backward -----------------------------------------------------------------------------

def _conv_case(name: str, x: torch.Tensor, weight: torch.Tensor, grad_output: torch.Tensor,
               **kwargs) -> _GradCase:
    """A conv2d_backward case; the mistakes are computed from autograd with the mistake built in."""
    stride, padding = kwargs.get("stride", 1), kwargs.get("padding", 0)
    bias = torch.zeros(len(weight))
    unbatched = x.dim() == 3
    expected = _autograd(lambda x, w, b: F.conv2d(x, w, b, stride, padding), [x, weight, bias],
                         grad_output)
    go = grad_output[None] if unbatched else grad_output
    mistakes = [
        ("grad_x", "did you forget to flip the kernel? the input gradient is a full convolution "
                   "of the output gradient with the kernel turned by 180 degrees "
                   "(weight.flip(-2, -1))",
         _autograd(lambda x: F.conv2d(x, weight.flip(-2, -1), None, stride, padding), [x],
                   grad_output)[0]),
        ("grad_weight", "the weight gradient is a correlation of the input with the output "
                        "gradient, without a flip (the flip belongs to the input gradient)",
         expected[1].flip(-2, -1)),
        ("grad_bias", "bias[o] is added to every number of output channel o: its gradient is "
                      "the sum of grad_output over images and positions, not the mean",
         go.mean(dim=(0, 2, 3))),
        ("grad_bias", "sum over the images of the batch too: grad_bias has one number per "
                      "output channel", go.sum(dim=(2, 3))),
    ]
    if weight.shape[0] == weight.shape[1] > 1:  # with O != C the unswapped kernel cannot run
        mistakes.append(("grad_x", "the input gradient sends output channel o back to input "
                                   "channel c through weight[o, c]: swap the kernel's first "
                                   "two axes (O and C) for the full convolution, "
                                   "weight.flip(-2, -1).transpose(0, 1)",
                         _autograd(lambda x: F.conv2d(x, weight.transpose(0, 1), None, stride,
                                                      padding), [x], grad_output)[0]))
    if len(go) > 1:
        mistakes.append(("grad_weight", "sum over every image of the batch: each image adds its "
                                        "own share to the weight gradient",
                         _autograd(lambda w: F.conv2d(x[:1], w, None,
                                                      stride, padding), [weight],
                                   grad_output[:1])[0]))
    if len(go) > 1:
        mistakes.append(("grad_weight", "sum each image's share of the weight gradient over the "
                                        "batch, do not average it: the loss adds up every "
                                        "output number, and so does its gradient",
                         expected[1] / len(go)))
    overwritten = _conv_loops(x, weight, go, stride, padding, add=False, unbatched=unbatched)
    for part, value in zip(("grad_x", "grad_weight"), overwritten):
        mistakes.append((part, "overlapping windows share pixels (and every window meets each "
                               "kernel number): add (+=) each output's share to what is there, "
                               "do not overwrite it (=)", value))
    if stride != 1:
        ignored = _conv_loops(x, weight, go, stride, padding, step=1, unbatched=unbatched)
        for part, value in zip(("grad_x", "grad_weight"), ignored):
            mistakes.append((part, f"did you ignore the stride? output (p, q) read the window at "
                                   f"(p * stride, q * stride), stride={stride!r} here", value))
        mistakes.append(("grad_x", f"did you ignore the stride? output (p, q) came from the "
                                   f"window at (p * stride, q * stride): put the output "
                                   f"gradient's numbers stride={stride!r} pixels apart (zeros "
                                   f"between) before the full convolution",
                         _ignored_stride(x, weight, go, stride, padding, unbatched)))
    if padding != 0:
        ph, pw = pair(padding, "padding")
        padded = _autograd(lambda x: F.conv2d(x, weight, None, stride),
                           [F.pad(x, (pw, pw, ph, ph))], grad_output)[0]
        mistakes.append(("grad_x", f"did you forget to drop the padding? the padded rows and "
                                   f"columns are no input: cut padding={padding!r} off each "
                                   f"side", padded))
    if unbatched:
        mistakes.append(("grad_x", "for one (C, H, W) image, return grad_x of shape (C, H, W), "
                                   "without a batch axis", expected[0].unsqueeze(0)))
    return _GradCase(name, (x, weight, grad_output), ("x", "weight", "grad_output"), kwargs,
                     expected, CONV_PARTS, mistakes)


def _conv_loops(x, weight, go, stride, padding, step=None, add: bool = True,
                unbatched: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(grad_x, grad_weight) as a learner's loops give them: every output number sends its
    gradient back through its window; ``step`` the stride used for the windows (a mistake),
    ``add=False`` overwrites (=) instead of adding."""
    (sh, sw) = pair(stride if step is None else step, "stride")
    (ph, pw), (kh, kw) = pair(padding, "padding"), weight.shape[-2:]
    batch = x[None] if unbatched else x
    padded = F.pad(batch, (pw, pw, ph, ph))
    grad_padded, grad_weight = torch.zeros_like(padded), torch.zeros_like(weight)
    for n in range(go.shape[0]):
        for o in range(go.shape[1]):
            for i in range(go.shape[2]):
                for j in range(go.shape[3]):
                    rows, columns = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
                    window = padded[n, :, rows, columns]
                    if window.shape[-2:] != (kh, kw):
                        continue  # a wrong step leaves the padded input: no usable answer
                    if add:
                        grad_padded[n, :, rows, columns] += go[n, o, i, j] * weight[o]
                        grad_weight[o] += go[n, o, i, j] * window
                    else:
                        grad_padded[n, :, rows, columns] = go[n, o, i, j] * weight[o]
                        grad_weight[o] = go[n, o, i, j] * window
    grad_x = grad_padded[:, :, ph:ph + batch.shape[-2], pw:pw + batch.shape[-1]]
    return (grad_x[0] if unbatched else grad_x), grad_weight


def _ignored_stride(x, weight, go, stride, padding, unbatched) -> torch.Tensor:
    """grad_x as a learner gets it when the output gradient is not spread ``stride`` apart."""
    kh, kw = weight.shape[-2:]
    ph, pw = pair(padding, "padding")
    full = F.conv2d(go, weight.flip(-2, -1).transpose(0, 1), padding=(kh - 1, kw - 1))
    height, width = x.shape[-2:]
    padded = go.new_zeros(len(go), weight.shape[1], height + 2 * ph, width + 2 * pw)
    rows, columns = min(full.shape[-2], padded.shape[-2]), min(full.shape[-1], padded.shape[-1])
    padded[:, :, :rows, :columns] = full[:, :, :rows, :columns]
    grad_x = padded[:, :, ph:ph + height, pw:pw + width]
    return grad_x[0] if unbatched else grad_x


def check_conv2d_backward(fn: Callable, *, time_limit: float | None = TIME_LIMIT,
                          seed: int = 2) -> CheckReport:
    """Check ``fn(x, weight, grad_output, stride=1, padding=0) -> (grad_x, grad_weight,
    grad_bias)`` against autograd's gradients of ``F.conv2d`` on 8 cases, each stopped after
    ``time_limit`` seconds (None: no limit). ``seed`` draws the random cases' numbers."""
    g = torch.Generator().manual_seed(seed)
    cases = [
        _conv_case("worked example: notebook 01's 3x3 input and 2x2 kernel, output gradient 1",
                   torch.arange(9.0).reshape(1, 1, 3, 3), torch.tensor([[[[0.0, 1.0],
                                                                          [2.0, 3.0]]]]),
                   torch.ones(1, 1, 2, 2)),
        _conv_case("several kernels and channels, batch of 2", _numbers(g, 2, 2, 5, 5),
                   _numbers(g, 3, 2, 3, 3), _numbers(g, 2, 3, 3, 3)),
        _conv_case("stride 2", _numbers(g, 1, 1, 7, 7), _numbers(g, 1, 1, 3, 3),
                   _numbers(g, 1, 1, 3, 3), stride=2),
        _conv_case("stride 3: pixels that no window reaches get zero", _numbers(g, 1, 1, 8, 8),
                   _numbers(g, 2, 1, 2, 2), _numbers(g, 1, 2, 3, 3), stride=3),
        _conv_case("padding 1", _numbers(g, 1, 2, 4, 4), _numbers(g, 2, 2, 3, 3),
                   _numbers(g, 1, 2, 4, 4), padding=1),
        _conv_case("non-square input and kernel, batch of 2", _numbers(g, 2, 1, 5, 7),
                   _numbers(g, 2, 1, 2, 3), _numbers(g, 2, 2, 4, 5)),
        _conv_case("stride and padding as (height, width) pairs", _numbers(g, 1, 1, 6, 8),
                   _numbers(g, 1, 1, 3, 2), _numbers(g, 1, 1, 3, 11), stride=(2, 1),
                   padding=(1, 2)),
        _conv_case("one image without a batch axis: (C, H, W)", _numbers(g, 2, 5, 5),
                   _numbers(g, 3, 2, 3, 3), _numbers(g, 3, 3, 3)),
    ]
    return _check("check_conv2d_backward", fn, cases, time_limit, _judge,
                  forbidden=CONV_BACKWARD_FORBIDDEN)


# --- max_pool2d_backward -------------------------------------------------------------------------

def _routed(x: torch.Tensor, kernel_size, grad_output: torch.Tensor, stride, padding,
            winners: str = "first", step=None, add: bool = True, shift: bool = True,
            fill: float = float("-inf")) -> torch.Tensor:
    """A max-pool input gradient with loops, right or with a mistake built in: ``winners`` is
    "first" (PyTorch), "last", "all" (every maximum) or "every" (every pixel of the window);
    ``step`` the stride used to place the gradient; ``add=False`` overwrites instead of adding;
    ``shift=False`` forgets that window (i, j) starts ``padding`` pixels up and left; ``fill``
    is what the padding holds (-inf: it never wins)."""
    (kh, kw), (ph, pw) = pair(kernel_size, "kernel_size"), pair(padding, "padding")
    sh, sw = pair(kernel_size if stride is None else stride, "stride")
    put_h, put_w = pair(step, "step") if step is not None else (sh, sw)
    batch = x if x.dim() == 4 else x[None]
    go = grad_output if x.dim() == 4 else grad_output[None]
    padded = F.pad(batch, (pw, pw, ph, ph), value=fill)
    grad = torch.zeros_like(padded)
    for n in range(go.shape[0]):
        for c in range(go.shape[1]):
            for i in range(go.shape[2]):
                for j in range(go.shape[3]):
                    window = padded[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw].flatten()
                    if window.numel() == 0:
                        continue  # a wrong stride leaves the padded input
                    places = {"first": [int(window.argmax())],
                              "last": [len(window) - 1 - int(window.flip(0).argmax())],
                              "all": (window == window.max()).nonzero().flatten().tolist(),
                              "every": range(len(window))}[winners]
                    for place in places:
                        row, column = i * put_h + place // kw, j * put_w + place % kw
                        if row < grad.shape[2] and column < grad.shape[3]:
                            if add:
                                grad[n, c, row, column] += go[n, c, i, j]
                            else:
                                grad[n, c, row, column] = go[n, c, i, j]
    height, width = batch.shape[-2:]
    grad = (grad[:, :, ph:ph + height, pw:pw + width] if shift
            else grad[:, :, :height, :width])
    return grad if x.dim() == 4 else grad[0]


def _pool_case(name: str, x: torch.Tensor, kernel_size, grad_output: torch.Tensor,
               **kwargs) -> _GradCase:
    """A max_pool2d_backward case; the mistakes are computed with ``_routed``."""
    stride, padding = kwargs.get("stride"), kwargs.get("padding", 0)
    expected = _autograd(lambda x: F.max_pool2d(x, kernel_size, stride, padding), [x],
                         grad_output)

    def routed(**mistake):
        return _routed(x, kernel_size, grad_output, stride, padding, **mistake)

    mistakes = [
        ("each window's gradient goes to its largest pixel only; did you send it to every "
         "pixel of the window?", routed(winners="every")),
        ("this is average pooling's gradient (spread evenly); max pooling sends each window's "
         "gradient to its largest pixel only",
         _autograd(lambda x: F.avg_pool2d(x, kernel_size, stride, padding), [x],
                   grad_output)[0]),
        ("on a tie, PyTorch gives the whole gradient to the first maximum in reading order "
         "(row by row), not to every maximum", routed(winners="all")),
        ("on a tie, PyTorch gives the gradient to the first maximum in reading order (row by "
         "row), not the last", routed(winners="last")),
        ("a pixel can be the maximum of several overlapping windows: add (+=) their "
         "gradients, do not overwrite", routed(add=False)),
    ]
    kh, kw = pair(kernel_size, "kernel_size")
    if stride is not None and pair(stride, "stride") != (kh, kw):
        mistakes.append((f"did you ignore the stride when placing the gradient? window (i, j) "
                         f"starts at (i * stride, j * stride), stride={stride!r}",
                         routed(step=kernel_size)))
        mistakes.append((f"did you ignore the stride? it is given here (stride={stride!r}): "
                         f"window (i, j) starts at (i * stride, j * stride), and the stride "
                         f"equals the kernel size only when none is given",
                         _routed(x, kernel_size, grad_output, None, padding)))
    if stride is None:
        mistakes.append(("when no stride is given, it equals the kernel size: window (i, j) "
                         "starts at (i * kernel_size, j * kernel_size)",
                         _routed(x, kernel_size, grad_output, 1, padding)))
    if padding != 0:
        mistakes.append(("window (i, j) starts at (i * stride - padding, j * stride - padding) "
                         "in the input: subtract the padding (or drop the padded rows and "
                         "columns at the end)", routed(shift=False)))
        mistakes.append(("did you pad with zeros? a zero in the padding beats a window of "
                         "negative numbers and takes its gradient, which is then cut off with "
                         "the padding: pad with -inf (float(\"-inf\")), which never wins",
                         routed(fill=0.0)))
    if x.dim() == 3:
        mistakes.append(("for one (C, H, W) image, return grad_x of shape (C, H, W), without a "
                         "batch axis", expected[0].unsqueeze(0)))
    return _GradCase(name, (x, kernel_size, grad_output), ("x", "kernel_size", "grad_output"),
                     kwargs, expected, ("grad_x",),
                     [("grad_x", hint, wrong) for hint, wrong in mistakes])


def check_max_pool2d_backward(fn: Callable, *, time_limit: float | None = TIME_LIMIT,
                              seed: int = 3) -> CheckReport:
    """Check ``fn(x, kernel_size, grad_output, stride=None, padding=0) -> grad_x`` against
    autograd's gradient of ``F.max_pool2d`` on 8 cases, each stopped after ``time_limit`` seconds
    (None: no limit). ``seed`` draws the random cases' numbers."""
    g = torch.Generator().manual_seed(seed)
    cases = [
        _pool_case("2x2 windows on a 4x4 matrix, no ties", torch.randperm(16, generator=g)
                   .float().reshape(1, 1, 4, 4), 2, _numbers(g, 1, 1, 2, 2, low=1)),
        _pool_case("a batch of 2 images with 3 channels", _numbers(g, 2, 3, 4, 6, low=-9,
                                                                  high=10), 2,
                   _numbers(g, 2, 3, 2, 3, low=1)),
        _pool_case("ties: several pixels hold a window's maximum",
                   torch.tensor([[[[1.0, 5.0, 2.0, 2.0], [5.0, 0.0, 2.0, 2.0],
                                   [7.0, 7.0, 0.0, 3.0], [7.0, 7.0, 3.0, 0.0]]]]), 2,
                   torch.tensor([[[[10.0, 20.0], [30.0, 40.0]]]])),
        _pool_case("overlapping windows: 3x3, stride 1", _numbers(g, 1, 1, 5, 5), 3,
                   _numbers(g, 1, 1, 3, 3, low=1), stride=1),
        _pool_case("3x3 windows, stride 2", _numbers(g, 1, 1, 7, 7, low=-20, high=20), 3,
                   _numbers(g, 1, 1, 3, 3, low=1), stride=2),
        _pool_case("padding 1 on negative numbers", _numbers(g, 1, 2, 5, 5, low=-30, high=0), 3,
                   _numbers(g, 1, 2, 3, 3, low=1), stride=2, padding=1),
        _pool_case("non-square windows, stride and padding as (height, width) pairs",
                   _numbers(g, 1, 1, 5, 8, low=-30, high=30), (2, 3),
                   _numbers(g, 1, 1, 6, 4, low=1), stride=(1, 2), padding=(1, 1)),
        _pool_case("one image without a batch axis: (C, H, W)",
                   _numbers(g, 3, 4, 4, low=-20, high=20), 2, _numbers(g, 3, 2, 2, low=1)),
    ]
    return _check("check_max_pool2d_backward", fn, cases, time_limit, _judge,
                  forbidden=POOL_BACKWARD_FORBIDDEN)
