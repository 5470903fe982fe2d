"""What each layer of a network outputs: every feature map that one forward pass computes.

A convolution layer writes *feature maps*, one per output channel. ``layer_outputs`` runs a model
once and returns every map it computes, by name and in the order they are computed, so notebooks
and widgets can show what the network computes inside; ``top_patches`` finds the input patches
each conv1 kernel responds to most.

A network computes a map in one of two ways: with a layer object, a module (``self.conv1(x)``,
``self.relu(x)``), or with a function (``F.relu(x)``, ``torch.relu(x)``, ``x.relu()``,
``F.max_pool2d(x, 2)``), as pytorch/examples and many learners write pooling and ReLU.
``MapRecorder`` sees both: forward hooks on the modules, and a ``TorchFunctionMode``, which PyTorch
tells about every torch function the forward pass calls. It watches the real pass, so any Python
in ``forward`` works (an ``if`` on the data, a loop, a residual sum). ``torch.fx`` could list the
same calls, but it traces with stand-ins instead of tensors: it stops at an ``if`` that depends on
the data, and gives a graph, not the maps.
"""

from __future__ import annotations

import itertools
from collections import Counter

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from mnist_tutorial.training import evaluation_mode

RENAMED = {"pooling": "pool"}  # BlogNet's shared pooling module, called once per round
DIGITS = (1, 1, 28, 28)  # a batch of one MNIST digit: what the explorers feed a network
MAP_FUNCTIONS = frozenset({  # functions whose (N, C, H, W) results are feature maps
    "conv2d", "conv_transpose2d",
    "max_pool2d", "avg_pool2d", "lp_pool2d", "adaptive_max_pool2d", "adaptive_avg_pool2d",
    "fractional_max_pool2d",
    "batch_norm", "instance_norm", "group_norm", "layer_norm", "local_response_norm",
    "relu", "clamp", "clamp_min", "threshold", "relu6", "leaky_relu", "prelu", "rrelu", "elu",
    "selu", "celu", "gelu", "silu", "mish", "sigmoid", "tanh", "hardtanh", "hardsigmoid",
    "hardswish", "softplus", "softsign", "logsigmoid", "tanhshrink",
})


def _module_names(model: nn.Module) -> dict[nn.Module, str]:
    """Each module's attribute path (``blocks.0.conv1``; the model itself ""), ``pooling``
    shortened to ``pool``, and a number (a place in an ``nn.Sequential``) followed by the type."""
    names = {}
    for name, module in model.named_modules():
        name = RENAMED.get(name, name)
        names[module] = f"{name} ({type(module).__name__})" if name.rpartition(".")[2].isdigit() \
            else name
    return names


def _function_name(func) -> str:
    """``relu`` for F.relu, torch.relu, Tensor.relu and relu_; ``max_pool2d`` with indices too."""
    return getattr(func, "__name__", "").removesuffix("_").removesuffix("_with_indices")


def _first_tensor(output) -> torch.Tensor | None:
    """The output, or the first of a tuple (max pooling with indices), if it is a tensor."""
    output = output[0] if isinstance(output, tuple) and output else output
    return output if isinstance(output, torch.Tensor) else None


class MapRecorder(TorchFunctionMode):
    """Records every feature map of ``model``'s forward passes while it is active.

    ``with MapRecorder(model) as recorder: model(x)``, then ``recorder.maps()``. A submodule
    without submodules of its own (``nn.Conv2d``, ``nn.ReLU``...) is one layer: a forward hook
    records its output, and the functions it calls inside (``nn.Conv2d`` calls ``F.conv2d``) are
    not recorded again. Every other call of a function in ``MAP_FUNCTIONS`` is recorded, named
    after the module whose ``forward`` makes it (none: the model's own). Outputs that are not
    4-D (a fully connected layer's) are counted as calls but not kept.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.names = _module_names(model)
        self.layers = {module for module in model.modules()  # the model itself is not one
                       if module is not model and not list(module.children())}
        self.running: list[nn.Module] = []  # modules whose forward runs now, innermost last
        self.calls: list[tuple[str, bool, torch.Tensor | None]] = []  # name, functional, map
        self._handles: list = []

    def __enter__(self) -> MapRecorder:
        for module in self.names:
            self._handles += [module.register_forward_pre_hook(self._enter_module),
                              module.register_forward_hook(self._leave_module)]
        return super().__enter__()

    def __exit__(self, *exception) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        super().__exit__(*exception)

    def _enter_module(self, module: nn.Module, inputs) -> None:
        self.running.append(module)

    def _leave_module(self, module: nn.Module, inputs, output) -> None:
        self.running.pop()
        if module in self.layers:
            self._record(self.names[module], False, output)

    def _record(self, name: str, functional: bool, output) -> None:
        output = _first_tensor(output)
        kept = output.detach().clone() if output is not None and output.ndim == 4 else None
        self.calls.append((name, functional, kept))  # a copy: a later in-place ReLU changes none

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        name = _function_name(func)
        inside_a_layer = bool(self.running) and self.running[-1] in self.layers
        if name in MAP_FUNCTIONS and not inside_a_layer:
            caller = self.names[self.running[-1]] if self.running else ""
            self._record(f"{caller}.{name}" if caller else name, True, result)
        return result

    def maps(self) -> dict[str, torch.Tensor]:
        """The recorded maps by name, in the order they were computed.

        A module called once keeps its name (``conv1``); one called more often gets its call
        number (BlogNet's ``pool1``, ``relu2``). A function always gets its call number after a
        ``#``: ``relu #1``, ``max_pool2d #2``, or ``block.relu #1`` when called in ``block``'s
        ``forward``. Calls are counted whether or not their output is a map.
        """
        calls = Counter(name for name, _, _ in self.calls)
        seen: Counter = Counter()
        maps = {}
        for name, functional, output in self.calls:
            seen[name] += 1
            if output is None:
                continue
            if functional:
                maps[f"{name} #{seen[name]}"] = output
            else:
                maps[name if calls[name] == 1 else f"{name}{seen[name]}"] = output
        return maps


def _device(model: nn.Module) -> torch.device:
    """Where the model's weights are (the CPU for a model without any)."""
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return first.device if first is not None else torch.device("cpu")


@torch.no_grad()
def layer_outputs(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every feature map of one forward pass by name, in order (BlogNet: conv1, pool1, relu1...).

    Each layer's output (N, C, H, W) is recorded under its name: a module's attribute name, with
    the call number when it runs more than once (BlogNet's one ``pooling`` and one ``relu``
    module); a function called in ``forward``, such as ``F.relu(x)``, under its name and call
    number (``relu #1``). Flat outputs (fully connected layers) are left out: they are not maps.
    """
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}: "
                         f"add a batch dimension with images[None]")
    with evaluation_mode(model), MapRecorder(model) as recorder:
        model(images.to(_device(model)))
    return {name: output.cpu() for name, output in recorder.maps().items()}


def _first_line(error: BaseException) -> str:
    """``Name: message`` of an error, cut to its first line."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


@torch.no_grad()
def layer_names(model: nn.Module) -> list[str]:
    """The names ``layer_outputs`` gives for ``model``'s maps of a digit, in forward order.

    Raises ``ValueError``, saying what is wrong, for a model the explorers cannot show: one
    without weights, one that cannot turn a batch of (N, 1, 28, 28) digits into (N, 10) scores,
    or one that computes no (N, C, H, W) maps.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"need a network (a torch.nn.Module), got {type(model).__name__}")
    kind = type(model).__name__
    weight = next(model.parameters(), None)
    if weight is None:
        raise ValueError(f"{kind} has no weights (parameters): give a trained network")
    digit = torch.zeros(DIGITS, dtype=weight.dtype, device=weight.device)
    try:
        with evaluation_mode(model), MapRecorder(model) as recorder:
            scores = model(digit)
    except Exception as error:  # whatever the model raises, the reason is its input
        raise ValueError(f"{kind} cannot read MNIST digits: given a batch of shape {DIGITS} "
                         f"(N digits, 1 channel, 28x28 pixels), it raised {_first_line(error)}. "
                         f"The explorers need a network that takes (N, 1, 28, 28) images and "
                         f"returns (N, 10) scores") from error
    got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
    if got != (1, 10):
        raise ValueError(f"{kind} returned {got} for a batch of shape {DIGITS}, one digit: the "
                         f"explorers need scores of shape (N, 10), one per digit class")
    names = list(recorder.maps())
    if not names:
        raise ValueError(f"{kind} computes no feature maps: nothing in its forward pass outputs "
                         f"(N, C, H, W) maps (a network that flattens the digit first, like an "
                         f"MLP, has none), so there is no map to show")
    return names


@torch.no_grad()
def top_patches(model: nn.Module, images: torch.Tensor,
                count: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """For each conv1 kernel, the ``count`` input patches it responds to most, and its responses.

    Returns ``patches`` (channels, count, k, k) and ``responses`` (channels, count), strongest
    first; a response is the conv1 output at that place: patch * kernel summed, plus the bias.
    ``images`` (N, 1, 28, 28): a few thousand at most, as all their conv1 maps are kept at once.
    """
    conv = model.conv1
    maps = conv(images.to(conv.weight.device)).cpu()  # (N, C, H', W')
    _, channels, height, width = maps.shape
    responses, where = maps.transpose(0, 1).reshape(channels, -1).topk(count, dim=1)
    size = conv.kernel_size[0]
    image_index = where // (height * width)
    row, column = where % (height * width) // width, where % width
    patches = torch.stack([
        torch.stack([images[n, 0, r:r + size, c:c + size].cpu()
                     for n, r, c in zip(image_index[channel], row[channel], column[channel])])
        for channel in range(channels)])
    return patches, responses
