"""The argument checks of ``mnist_tutorial.ops``, as wrappers around its lesson code.

``ops`` writes every op as lesson code that assumes good arguments, and wraps it once, in the
last block of the module, with one of the ``checked_*`` functions here. The wrapper has the
public signature (``conv2d(x, weight, bias=None, stride=1, padding=0)``), checks every argument
as PyTorch's twin would (refusing what ``torch.nn.functional`` refuses, with a message that says
how to fix it), brings the arguments into the one form the lesson code reads, calls it and
gives the result back in the form of the input. It keeps the lesson's name and docstring, and
``inspect.getsource`` follows its ``__wrapped__`` to show the lesson code only.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import torch

from mnist_tutorial.checks import IntOrPair, as_int, pair

INTEGERS = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# the dtypes each op accepts: those its torch.nn.functional twin accepts on the CPU
DTYPES = {"conv2d": (*FLOATS, *INTEGERS, torch.complex32, torch.complex64, torch.complex128),
          "max_pool2d": (*FLOATS, *INTEGERS), "avg_pool2d": (*FLOATS, torch.int64)}


# --- the checks -----------------------------------------------------------------------------------

def _check_padding(padding: int, where: str) -> None:
    if padding < 0:
        raise ValueError(f"padding must be zero or positive, got {padding}{where}: "
                         f"it is the number of rows/columns added on each side")


def _checked_output_size(n: int, kernel: int, padding: int, stride: int, axis: str = "") -> int:
    """The output-size formula, after checking stride, padding and that the kernel fits."""
    where = f" along the {axis}" if axis else ""
    if stride <= 0:
        raise ValueError(f"stride must be positive, got {stride}{where}: "
                         f"the window moves at least one pixel per step")
    _check_padding(padding, where)
    if kernel > n + 2 * padding:
        raise ValueError(f"the kernel ({kernel}) is larger than the padded input "
                         f"({n} + 2 x {padding} = {n + 2 * padding}){where}: the kernel must fit "
                         f"inside the padded input; use a smaller kernel or more padding")
    return (n + 2 * padding - kernel) // stride + 1


def _check_tensor(op: str, value: object, name: str) -> None:
    """``value`` must be a tensor; a numpy array or a list is a TypeError saying how to convert."""
    if not isinstance(value, torch.Tensor):
        kind = type(value).__qualname__
        if type(value).__module__ != "builtins":
            kind = f"{type(value).__module__}.{kind}"
        raise TypeError(f"{op} expected a torch.Tensor as {name}, got {kind}: convert with "
                        f"torch.as_tensor({name})")


def _check_dtype(op: str, twin: str, x: torch.Tensor) -> None:
    """``x.dtype`` must be one that ``F.<twin>`` accepts; anything else is a TypeError."""
    if x.dtype not in DTYPES[twin]:
        raise TypeError(f"{op} does not work on {x.dtype} tensors, and neither does F.{twin}: "
                        f"convert the input first, e.g. x.float()")


def _check_input(op: str, x: torch.Tensor) -> None:
    """The input must be a tensor, a batch (N, C, H, W) or one image (C, H, W)."""
    _check_tensor(op, x, "x")
    if x.dim() not in (3, 4):
        hint = " (for one matrix, add the channel axis: x[None])" if x.dim() == 2 else ""
        raise ValueError(f"{op} expects an input of shape (N, C, H, W) or (C, H, W), got "
                         f"{x.dim()} dimensions, shape {tuple(x.shape)}{hint}")


Pairs = tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]


def _check_window(op: str, x: torch.Tensor, kernel: IntOrPair, stride: IntOrPair,
                  padding: IntOrPair) -> Pairs:
    """Validate a sliding-window op; return kernel, stride, padding and output size as pairs."""
    _check_input(op, x)
    kernel = pair(kernel, "kernel size")
    if min(kernel) < 1:
        raise ValueError(f"the kernel size must be at least 1, got {kernel}")
    stride, padding = pair(stride, "stride"), pair(padding, "padding")
    out = tuple(_checked_output_size(n, k, p, s, axis) for n, k, p, s, axis in
                zip(x.shape[-2:], kernel, padding, stride, ("height", "width")))
    return kernel, stride, padding, out


def _check_conv(op: str, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                stride: IntOrPair, padding: IntOrPair) -> Pairs:
    """``_check_window`` plus the kernel's rules: its shape, its channels, the bias' shape, and
    one dtype for all (as ``F.conv2d``, which refuses bool and mixed dtypes)."""
    _check_input(op, x)
    _check_tensor(op, weight, "weight")
    if bias is not None:
        _check_tensor(op, bias, "bias")
    if weight.dim() != 4:
        hint = (" (for one 2-d kernel, add the two channel axes: weight[None, None])"
                if weight.dim() == 2 else "")
        raise ValueError(f"{op} expects a weight of shape (out_channels, in_channels, kH, kW), "
                         f"got {weight.dim()} dimensions, shape {tuple(weight.shape)}{hint}")
    if weight.shape[1] != x.shape[-3]:
        raise ValueError(f"the input has {x.shape[-3]} channels but the kernel has "
                         f"{weight.shape[1]}: a kernel must have as many channels as its input "
                         f"(weight.shape[1] == x.shape[-3])")
    if len(weight) == 0:
        raise ValueError(f"the weight holds no kernels, shape {tuple(weight.shape)}: {op} needs at "
                         f"least one kernel (weight.shape[0] >= 1), as F.conv2d does")
    _check_dtype(op, "conv2d", x)
    for name, tensor in (("weight", weight), ("bias", bias)):
        if tensor is not None and tensor.dtype != x.dtype:
            raise TypeError(f"{op}: x is {x.dtype} but {name} is {tensor.dtype}: the input, weight "
                            f"and bias must have one dtype (F.conv2d refuses mixed dtypes too); "
                            f"convert with {name}.to(x.dtype)")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"bias must have one value per output channel, shape "
                         f"({weight.shape[0]},), got shape {tuple(bias.shape)}")
    return _check_window(op, x, tuple(weight.shape[-2:]), stride, padding)


def _check_pool(op: str, x: torch.Tensor, kernel_size: IntOrPair, stride: IntOrPair | None,
                padding: IntOrPair) -> Pairs:
    """``_check_window`` with PyTorch's pooling defaults and rule: stride defaults to the kernel
    size, padding is at most half the kernel, so every window overlaps the input. The dtypes are
    those of the op's torch.nn.functional twin."""
    checked = _check_window(op, x, kernel_size, kernel_size if stride is None else stride,
                            padding)
    _check_dtype(op, _twin(op), x)
    kernel, _, padding, _ = checked
    if any(2 * p > k for k, p in zip(kernel, padding)):
        raise ValueError(f"{op}: padding {padding} is more than half the kernel size {kernel}: "
                         f"pooling padding must be at most kernel_size // 2")
    return checked


def _twin(op: str) -> str:
    """The torch.nn.functional twin of a pooling op: ``max_pool2d_loops`` -> ``max_pool2d``."""
    return op.removesuffix("_loops").removesuffix("_backward")


def _check_floating(op: str, x: torch.Tensor) -> None:
    """Gradients are fractions: integer and bool tensors are a TypeError saying how to convert."""
    if not x.is_floating_point():
        raise TypeError(f"{op} needs floating-point tensors, got {x.dtype}: convert with "
                        f"x.float() (or x.double() for a gradient check)")


def _check_grad_output(op: str, grad_output: torch.Tensor, x: torch.Tensor,
                       shape: tuple[int, ...], same: str = "input") -> None:
    """``grad_output`` must have the forward output's ``shape`` and ``x``'s dtype; ``same`` names
    what must be passed as in the forward pass."""
    _check_tensor(op, grad_output, "grad_output")
    if tuple(grad_output.shape) != tuple(shape):
        raise ValueError(f"{op}: grad_output has shape {tuple(grad_output.shape)} but the forward "
                         f"output has shape {tuple(shape)}: grad_output holds one number per "
                         f"output number (the loss' gradient with respect to the output); pass "
                         f"the same {same} as in the forward pass")
    if grad_output.dtype != x.dtype:
        raise TypeError(f"{op}: x is {x.dtype} but grad_output is {grad_output.dtype}: convert "
                        f"with grad_output.to(x.dtype)")


# --- the wrappers ---------------------------------------------------------------------------------

def _wrapping(lesson: Callable, public: Callable) -> Callable:
    """``public`` with the name and docstring of ``lesson``, its source (``__wrapped__``) and its
    own signature, the public one, which ``inspect.signature`` and ``help`` show."""
    signature = inspect.signature(public)
    functools.update_wrapper(public, lesson)
    public.__signature__ = signature
    return public


def checked_output_size(lesson: Callable) -> Callable:
    """``lesson(n, kernel, padding, stride)`` behind integer checks: the lesson receives Python
    ints, with a kernel that fits the padded input, and a positive stride."""
    def conv_output_size(n: int, kernel: int, padding: int = 0, stride: int = 1) -> int:
        n, kernel = as_int(n, "input size n"), as_int(kernel, "kernel size")
        padding, stride = as_int(padding, "padding"), as_int(stride, "stride")
        if n < 1 or kernel < 1:
            raise ValueError(f"input size and kernel size must be at least 1, got n={n}, "
                             f"kernel={kernel}")
        _checked_output_size(n, kernel, padding, stride)
        return lesson(n, kernel, padding, stride)
    return _wrapping(lesson, conv_output_size)


def checked_pad(lesson: Callable) -> Callable:
    """``lesson(x, padding, value)`` behind pad2d's checks: the lesson receives a tensor of at
    least 2 dimensions and ``padding`` as a (height, width) pair of zeros or positive ints."""
    def pad2d(x: torch.Tensor, padding: IntOrPair, value: float = 0.0) -> torch.Tensor:
        _check_tensor("pad2d", x, "x")
        if x.dim() < 2:
            raise ValueError(f"pad2d pads the last two dimensions (height, width), so the input "
                             f"needs at least 2 dimensions, got shape {tuple(x.shape)}")
        ph, pw = pair(padding, "padding")
        _check_padding(ph, " along the height")
        _check_padding(pw, " along the width")
        return lesson(x, (ph, pw), value)
    return _wrapping(lesson, pad2d)


def checked_conv(lesson: Callable) -> Callable:
    """``lesson(x, weight, bias, stride, padding)`` behind conv2d's checks. The lesson receives
    a batch (N, C, H, W), a weight with as many channels, a bias or None, one dtype for all, and
    stride and padding as (height, width) pairs with which the kernel fits. A (C, H, W) image
    gets its batch axis there and back; complex32, which PyTorch cannot sum on the CPU, is
    computed in complex64 and rounded back, as F.conv2d does."""
    def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
               stride: IntOrPair = 1, padding: IntOrPair = 0) -> torch.Tensor:
        _, stride, padding, _ = _check_conv(lesson.__name__, x, weight, bias, stride, padding)
        unbatched, half = x.dim() == 3, x.dtype == torch.complex32
        tensors = (x[None] if unbatched else x, weight, bias)
        if half:
            tensors = (None if t is None else t.to(torch.complex64) for t in tensors)
        out = lesson(*tensors, stride, padding)
        out = out.to(torch.complex32) if half else out
        return out[0] if unbatched else out
    return _wrapping(lesson, conv2d)


def checked_pool(lesson: Callable) -> Callable:
    """``lesson(x, kernel_size, stride, padding)`` behind the pooling checks of PyTorch's twin
    (``max_pool2d`` for ``max_pool2d_loops`` too). The lesson receives a batch (N, C, H, W) of
    a dtype the twin accepts, and kernel size, stride (the kernel size when not given) and
    padding (at most half the kernel) as (height, width) pairs; a (C, H, W) image gets its batch
    axis there and back."""
    def pool2d(x: torch.Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0) -> torch.Tensor:
        kernel, stride, padding, _ = _check_pool(lesson.__name__, x, kernel_size, stride,
                                                 padding)
        out = lesson(x if x.dim() == 4 else x[None], kernel, stride, padding)
        return out if x.dim() == 4 else out[0]
    return _wrapping(lesson, pool2d)


def checked_conv_backward(lesson: Callable) -> Callable:
    """``lesson(x, weight, grad_output, stride, padding, input_grad)`` behind conv2d's checks,
    floating-point tensors and a grad_output of the forward output's shape and dtype. The lesson
    receives 4-d x and grad_output and stride and padding as pairs; for a (C, H, W) image,
    grad_x comes back as one."""
    def conv2d_backward(x: torch.Tensor, weight: torch.Tensor, grad_output: torch.Tensor,
                        stride: IntOrPair = 1, padding: IntOrPair = 0, input_grad: bool = True
                        ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        op = lesson.__name__
        _, stride, padding, out = _check_conv(op, x, weight, None, stride, padding)
        _check_floating(op, x)
        unbatched = x.dim() == 3
        shape = (len(weight), *out) if unbatched else (len(x), len(weight), *out)
        _check_grad_output(op, grad_output, x, shape, "input, weight, stride and padding")
        if unbatched:
            x, grad_output = x[None], grad_output[None]
        grad_x, grad_weight, grad_bias = lesson(x, weight, grad_output, stride, padding,
                                                input_grad)
        if unbatched and grad_x is not None:
            grad_x = grad_x[0]
        return grad_x, grad_weight, grad_bias
    return _wrapping(lesson, conv2d_backward)


def checked_pool_backward(lesson: Callable) -> Callable:
    """``lesson(x, kernel_size, grad_output, stride, padding)`` behind the forward pooling's
    checks, floating-point tensors and a grad_output of the forward output's shape and dtype.
    The lesson receives 4-d x and grad_output and kernel size, stride and padding as pairs; for
    a (C, H, W) image, the gradient comes back as one."""
    def pool2d_backward(x: torch.Tensor, kernel_size: IntOrPair, grad_output: torch.Tensor,
                        stride: IntOrPair | None = None, padding: IntOrPair = 0) -> torch.Tensor:
        op = lesson.__name__
        kernel, stride, padding, out = _check_pool(op, x, kernel_size, stride, padding)
        _check_floating(op, x)
        _check_grad_output(op, grad_output, x, (*x.shape[:-2], *out),
                           "input, kernel size, stride and padding")
        if x.dim() == 3:
            return lesson(x[None], kernel, grad_output[None], stride, padding)[0]
        return lesson(x, kernel, grad_output, stride, padding)
    return _wrapping(lesson, pool2d_backward)


def checked_relu_backward(lesson: Callable) -> Callable:
    """``lesson(x, grad_output)`` behind the checks: floating-point x, a grad_output of its shape
    and dtype."""
    def relu_backward(x: torch.Tensor, grad_output: torch.Tensor) -> torch.Tensor:
        _check_tensor("relu_backward", x, "x")
        _check_floating("relu_backward", x)
        _check_grad_output("relu_backward", grad_output, x, x.shape)
        return lesson(x, grad_output)
    return _wrapping(lesson, relu_backward)


def checked_linear_backward(lesson: Callable) -> Callable:
    """``lesson(x, weight, grad_output)`` behind the checks: x (N, in) and weight (out, in) of one
    floating-point dtype, grad_output (N, out) of that dtype too."""
    def linear_backward(x: torch.Tensor, weight: torch.Tensor, grad_output: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        for name, value in (("x", x), ("weight", weight)):
            _check_tensor("linear_backward", value, name)
            if value.dim() != 2:
                hint = " (flatten the images first: x.flatten(1))" if name == "x" else ""
                shape = "(N, in_features)" if name == "x" else "(out_features, in_features)"
                raise ValueError(f"linear_backward expects {name} of shape {shape}, got shape "
                                 f"{tuple(value.shape)}{hint}")
        if x.shape[1] != weight.shape[1]:
            raise ValueError(f"linear_backward: x has {x.shape[1]} features but the weight "
                             f"expects {weight.shape[1]} (weight.shape[1] == x.shape[1])")
        _check_floating("linear_backward", x)
        if weight.dtype != x.dtype:
            raise TypeError(f"linear_backward: x is {x.dtype} but weight is {weight.dtype}: "
                            f"convert with weight.to(x.dtype)")
        _check_grad_output("linear_backward", grad_output, x, (len(x), len(weight)),
                           "input and weight")
        return lesson(x, weight, grad_output)
    return _wrapping(lesson, linear_backward)


def checked_cross_entropy_backward(lesson: Callable) -> Callable:
    """``lesson(scores, labels)`` behind the checks: floating-point scores (N, classes) and N
    integer labels, each a class of the scores."""
    def cross_entropy_backward(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        _check_tensor("cross_entropy_backward", scores, "scores")
        _check_tensor("cross_entropy_backward", labels, "labels")
        if scores.dim() != 2:
            raise ValueError(f"cross_entropy_backward expects scores of shape (N, classes), got "
                             f"shape {tuple(scores.shape)}")
        _check_floating("cross_entropy_backward", scores)
        if labels.dtype not in INTEGERS or tuple(labels.shape) != (len(scores),):
            raise ValueError(f"labels must be N = {len(scores)} class numbers (an integer tensor "
                             f"of shape ({len(scores)},)), got {labels.dtype} of shape "
                             f"{tuple(labels.shape)}")
        classes = scores.shape[1]
        if len(labels) and not (0 <= int(labels.min()) and int(labels.max()) < classes):
            raise ValueError(f"labels must lie in 0..{classes - 1} (one per class of the "
                             f"scores), got values from {int(labels.min())} to "
                             f"{int(labels.max())}")
        return lesson(scores, labels)
    return _wrapping(lesson, cross_entropy_backward)
