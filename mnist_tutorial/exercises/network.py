"""Checker for notebook 04's exercise: the learner writes the blog post's ``Net`` as an
``nn.Module`` class, checked against the course's ``BlogNet`` layer by layer.

The learner's forward pass runs under a ``TorchFunctionMode`` that writes down every operation
(convolution, pooling, ReLU, flatten, linear, softmax) with its shapes, so a wrong network is
described in the learner's terms: which stage has which shape, what ``x.flatten(1).shape`` is,
where a ReLU is missing or a sigmoid stands in its place, what comes after the last layer. The
learner's code (building ``Net()`` and each ``net(x)``) runs as learner code: timed, refused when
it uses the course's own networks, failed when it changes its input batch in place; the checker's
reference work runs outside it.
"""

from __future__ import annotations

import difflib
import itertools
import math
import os
import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from mnist_tutorial import models
from mnist_tutorial.checkpoints import default_checkpoint_path, load_network, save_network
from mnist_tutorial.errors import CheckpointError
from mnist_tutorial.models import BlogNet
from mnist_tutorial.training import evaluation_mode

from .core import (
    TIME_LIMIT,
    CaseResult,
    CheckReport,
    Forbidden,
    _check_arguments,
    _guarded,
    _session,
    _text,
)

BATCH = 5  # images per test batch
SINGLE = 1  # the second batch size the output's shape is checked on: one image
NETWORK_OUTPUT_TOLERANCE = 1e-5  # absolute and relative, for net(x) against BlogNet's scores
PLAN = ("conv1 (1->10, 5x5) -> max pool 2 -> ReLU -> conv2 (10->20, 5x5) -> max pool 2 -> ReLU "
        "-> flatten -> fc1 (320->50) -> ReLU -> fc2 (50->10)")
EXPECTED_STAGES = (("conv1", (BATCH, 10, 24, 24),
                    "nn.Conv2d(1, 10, kernel_size=5): 28 - 5 + 1 = 24"),
                   ("pooling 1", (BATCH, 10, 12, 12), "2x2 max pooling halves 24 to 12"),
                   ("conv2", (BATCH, 20, 8, 8), "nn.Conv2d(10, 20, kernel_size=5): 12 - 5 + 1 = 8"),
                   ("pooling 2", (BATCH, 20, 4, 4), "2x2 max pooling halves 8 to 4"),
                   ("flatten", (BATCH, 320), "x.flatten(1): 20 x 4 x 4 = 320 numbers per image"),
                   ("fc1", (BATCH, 50), "nn.Linear(320, 50)"),
                   ("fc2", (BATCH, 10), "nn.Linear(50, 10)"))
HINT_SOFTMAX_OUTPUT = ("a softmax after the last layer? Return fc2's raw scores: the loss used for "
                "training, CrossEntropyLoss, applies the softmax itself (notebook 04, 'Why the "
                "last layer has no activation')")
HINT_LAST_RELU = ("a ReLU after the last layer? Return fc2's raw scores: they must be able to "
                  "be negative, and a clipped score gets no gradient (notebook 04)")
HINT_AVERAGE = ("average pooling? The blog post uses max pooling: nn.MaxPool2d(2) or "
                "F.max_pool2d(x, 2)")
HINT_MISSING_RELU = "a missing ReLU {}? The blog post applies ReLU after each pooling and after fc1"
HINT_OTHER_ACTIVATION = ("{name} instead of ReLU {places}? The blog post uses ReLU, max(x, 0): "
                         "F.relu(x), torch.relu(x) or an nn.ReLU() layer{why}")
WHY_NOT = {"sigmoid": ": sigmoid squashes every number into (0, 1), so nothing is ever exactly 0",
           "tanh": ": tanh squashes every number into (-1, 1) and keeps the negative ones"}
HINT_DROPOUT = ("dropout? The blog post's network has none (PyTorch's own MNIST example does): "
                "leave it out")
HINT_LAYERS_IN_FORWARD = (
    "your forward creates layers ({layers} inside forward): create them in __init__ (e.g. "
    "self.conv1 = nn.Conv2d(...)) so that their weights are registered as the network's "
    "parameters, which the optimizer trains and a checkpoint saves. A layer made in forward gets "
    "new random weights at every call and never learns; forward only uses the layers")
HINT_LAYER_LIST = (
    "the layers in self.{name} are in a plain Python {kind}, so PyTorch does not see their "
    "weights: use nn.ModuleList([...]) or nn.Sequential(...) instead, or one attribute per layer")
HINT_LOCAL_LAYERS = (
    "__init__ creates {layers} but Net has none: store each layer on self (self.conv1 = "
    "nn.Conv2d(...)); a local variable (conv1 = ...) is gone when __init__ ends")
HINT_NO_PARAMETERS = ("Net has no parameters at all: __init__ must create the layers with "
                      "weights and store each on self (self.conv1 = nn.Conv2d(...))")
TASK = ("write the network yourself (a class of your own, from nn.Module, whose __init__ "
        "creates its layers)")
RELU_PLACES = ("after the first pooling (before conv2)", "after the second pooling (before fc1)",
               "after fc1 (before fc2)")
ACTIVATIONS = {"relu", "relu_", "clamp", "clamp_", "clamp_min", "clamp_min_", "threshold",
               "threshold_", "sigmoid", "sigmoid_", "tanh", "tanh_", "gelu", "elu", "elu_",
               "leaky_relu", "leaky_relu_", "silu", "softplus", "softmax", "log_softmax",
               "_softmax", "hardtanh", "relu6", "selu", "celu", "mish", "hardswish",
               "hardsigmoid", "logsigmoid", "softsign", "tanhshrink", "prelu", "rrelu"}
FLATTENS = {"flatten", "view", "reshape", "resize", "squeeze"}
RELUS = {"relu", "relu_", "clamp", "clamp_", "clamp_min", "clamp_min_", "threshold", "threshold_"}
DROPOUTS = {"dropout", "dropout_", "dropout1d", "dropout2d", "dropout3d", "feature_dropout",
            "alpha_dropout", "feature_alpha_dropout"}
SIGNATURES = {"Conv2d": "nn.Conv2d(in_channels, out_channels, kernel_size)",
              "Linear": "nn.Linear(in_features, out_features)",
              "MaxPool2d": "nn.MaxPool2d(kernel_size)",
              "max_pool2d": "F.max_pool2d(x, kernel_size)"}
WEIGHT_LAYERS = {"Conv1d", "Conv2d", "Conv3d", "Linear", "LazyLinear", "LazyConv2d", "Bilinear",
                 "BatchNorm1d", "BatchNorm2d", "LayerNorm"}


def _course_models() -> tuple[type, ...]:
    """The networks of ``mnist_tutorial.models`` (BlogNet, MLP, ImprovedNet...)."""
    return tuple(value for value in vars(models).values()
                 if isinstance(value, type) and issubclass(value, nn.Module)
                 and value.__module__ == models.__name__)


COURSE_MODELS = _course_models()
FORBIDDEN = Forbidden(
    functions=tuple(function for model in COURSE_MODELS for name in ("__init__", "forward")
                    if isinstance(function := vars(model).get(name), types.FunctionType))
    + (models.build_model,),
    task=TASK)


@dataclass(frozen=True)
class _Op:
    """One operation of a forward pass: its name, the shapes of its first input and output (None:
    it raised), and of its second tensor argument (a layer's weight)."""

    name: str
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    weight_shape: tuple[int, ...] | None = None


class _Trace(TorchFunctionMode):
    """Writes down every top-level PyTorch operation that takes or returns a tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[_Op] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        name = getattr(func, "__name__", str(func))
        first = tuple(tensors[0].shape) if tensors else None
        weight = tuple(tensors[1].shape) if len(tensors) > 1 else None
        self.ops.append(_Op(name, first, None, weight))
        index = len(self.ops) - 1
        result = func(*args, **(kwargs or {}))
        if isinstance(result, torch.Tensor):
            self.ops[index] = _Op(name, first, tuple(result.shape), weight)
        return result


def _kind(name: str) -> str:
    """conv, pool, linear, relu, activation, or other."""
    if name.startswith("conv"):
        return "conv"
    if "pool" in name:
        return "pool"
    if name == "linear":
        return "linear"
    if name in RELUS:
        return "relu"
    return "activation" if name in ACTIVATIONS else "other"


def _stages(ops: list[_Op]) -> list[tuple[str, tuple[int, ...] | None]]:
    """Convolutions, poolings, the flattened input of the first linear layer and the linear
    layers, in the order they ran, named like the blog post's stages."""
    counts = {"conv": 0, "pool": 0, "linear": 0}
    labels = {"conv": "conv{}", "pool": "pooling {}", "linear": "fc{}"}
    stages = []
    for op in ops:
        kind = _kind(op.name)
        if kind not in counts:
            continue
        if kind == "linear" and counts["linear"] == 0:
            stages.append(("flatten", op.input_shape))
        counts[kind] += 1
        stages.append((labels[kind].format(counts[kind]), op.output_shape))
    return stages


def _padding_hint(stage: str, ops: list[_Op], got: tuple[int, ...] | None,
                  kernels: list[tuple[int, ...]]) -> str:
    """For a convolution with 5x5 kernels whose output size is wrong: name padding or stride
    ("" otherwise)."""
    if not stage.startswith("conv") or got is None or len(got) != 4:
        return ""
    convs = [op for op in ops if _kind(op.name) == "conv"]
    index = int(stage[4:]) - 1
    if (index >= len(convs) or index >= len(kernels) or kernels[index][2:] != (5, 5)
            or convs[index].input_shape is None):
        return ""
    size = convs[index].input_shape[-1]
    if got[-1] == size - 4:
        return ""
    return (f"{size} pixels in, {got[-1]} out; with kernel_size=5 and no padding it is "
            f"{size} - 5 + 1 = {size - 4}: leave padding=0 and stride=1 (the defaults; padding=2 "
            f"keeps the size, stride=2 halves it)")


def _flatten_text(ops: list[_Op]) -> str:
    """What ``x.flatten(1).shape`` is just before the first linear layer, in words ("" when the
    forward pass never got that far)."""
    maps = [op.output_shape for op in ops
            if op.output_shape is not None and len(op.output_shape) == 4]
    linear = next((op for op in ops if _kind(op.name) == "linear"), None)
    if not maps:
        return ""
    last = maps[-1]
    flat = (last[0], math.prod(last[1:]))
    if flat[1] != 320:
        return (f"your last feature maps have shape {last}, so x.flatten(1).shape is {flat}: "
                f"{' x '.join(map(str, last[1:]))} = {flat[1]} numbers per image, but the blog "
                f"post's fc1 takes 320 (20 channels x 4 x 4)")
    if linear is None:
        return ""
    if linear.input_shape == flat and linear.weight_shape and linear.weight_shape[-1] == 320:
        return ""  # the flatten is right: the problem is elsewhere
    if linear.input_shape == flat and linear.weight_shape:
        return (f"x.flatten(1).shape is {flat}, right: 20 channels x 4 x 4 = 320 numbers per "
                f"image reach fc1, but your fc1 is nn.Linear({linear.weight_shape[-1]}, "
                f"{linear.weight_shape[0]}) and takes {linear.weight_shape[-1]}: make its "
                f"in_features what the flatten leaves")
    return (f"x.flatten(1).shape is {flat}, right, but fc1 got a tensor of shape "
            f"{linear.input_shape}: flatten each image separately with x.flatten(1) (or "
            f"x.view(x.size(0), -1)), which keeps the batch axis")


def _gaps(ops: list[_Op]) -> list[list[_Op]] | None:
    """The operations between conv1, conv2, fc1 and fc2 (three gaps), and after fc2; None when
    the forward pass does not have exactly these four layers."""
    anchors = [i for i, op in enumerate(ops) if _kind(op.name) in ("conv", "linear")]
    if len(anchors) != 4:
        return None
    return [ops[start + 1:stop] for start, stop in itertools.pairwise(anchors)] + [
        ops[anchors[-1] + 1:]]


def _trace_problems(ops: list[_Op]) -> list[str]:
    """Hints for what the trace shows wrong: average pooling, dropout, a missing ReLU or another
    activation in its place, an activation after the last layer."""
    hints = []
    if any(_kind(op.name) == "pool" and "avg" in op.name for op in ops):
        hints.append(HINT_AVERAGE)
    if any(op.name in DROPOUTS for op in ops):
        hints.append(HINT_DROPOUT)
    gaps = _gaps(ops)
    if gaps is None:
        return hints
    instead: dict[str, list[str]] = {}  # another activation -> the places where ReLU belongs
    for place, gap in zip(RELU_PLACES, gaps):
        kinds = [(_kind(op.name), op.name) for op in gap]
        if any(kind == "relu" for kind, _ in kinds):
            continue
        other = next((name for kind, name in kinds if kind == "activation"), None)
        if other is None:
            hints.append(HINT_MISSING_RELU.format(place))
        else:
            instead.setdefault(other.rstrip("_"), []).append(place)
    for name, places in instead.items():
        where = (", ".join(places[:-1]) + " and " + places[-1]) if len(places) > 1 else places[0]
        hints.append(HINT_OTHER_ACTIVATION.format(name=name, places=where,
                                                  why=WHY_NOT.get(name, "")))
    after = [op.name for op in gaps[-1] if _kind(op.name) in ("relu", "activation")]
    if any("softmax" in name for name in after):
        hints.append(HINT_SOFTMAX_OUTPUT)
    elif any(name in RELUS for name in after):
        hints.append(HINT_LAST_RELU)
    elif after:
        hints.append(f"{after[0]} after the last layer? Return fc2's raw scores, with no "
                     f"activation")
    return hints


def _without_relu(reference: BlogNet, x: torch.Tensor, skip: int) -> torch.Tensor:
    """The blog post's network on the reference's weights with its ``skip``-th ReLU left out."""
    relus = [F.relu, F.relu, F.relu]
    relus[skip] = torch.clone
    for conv, relu in zip((reference.conv1, reference.conv2), relus):
        x = relu(F.max_pool2d(conv(x), 2))
    return reference.fc2(relus[2](reference.fc1(x.flatten(1))))


def _with_options(reference: BlogNet, x: torch.Tensor, **options: str) -> torch.Tensor:
    """``BlogNet(**options)`` (another pooling or order) on the reference's weights."""
    network = BlogNet(**options).eval()
    network.load_state_dict(reference.state_dict())
    return network(x)


def _mistakes(reference: BlogNet, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """What each common mistake outputs with the reference's weights."""
    scores = reference(x)
    return [(HINT_SOFTMAX_OUTPUT, scores.softmax(1)), (HINT_SOFTMAX_OUTPUT, scores.log_softmax(1)),
            (HINT_LAST_RELU, scores.relu()),
            (HINT_AVERAGE, _with_options(reference, x, pooling="avg")),
            (HINT_AVERAGE, _with_options(reference, x, pooling="avg", order="relu_pool")),
            *((HINT_MISSING_RELU.format(place), _without_relu(reference, x, i))
              for i, place in enumerate(RELU_PLACES))]


def _parameter_problems(shapes: list[tuple[int, ...]]) -> list[str]:
    """What differs between the learner's parameter shapes and the blog post's, layer by layer."""
    hints = []
    convs = [s for s in shapes if len(s) == 4]
    linears = [s for s in shapes if len(s) == 2]
    for i, (got, want) in enumerate(zip(convs, ((10, 1, 5, 5), (20, 10, 5, 5))), start=1):
        if got[2:] != want[2:]:
            hints.append(f"conv{i} has {got[2]}x{got[3]} kernels: the blog post's are 5x5 "
                         f"(kernel_size=5)")
        if got[:2] != want[:2]:
            hints.append(f"conv{i} maps {got[1]} channels to {got[0]}: the blog post's maps "
                         f"{want[1]} to {want[0]} (nn.Conv2d({want[1]}, {want[0]}, kernel_size=5))")
    if len(convs) != 2:
        hints.append(f"found {len(convs)} convolutions: the blog post has 2")
    for i, (got, want) in enumerate(zip(linears, ((50, 320), (10, 50))), start=1):
        if got != want:
            hints.append(f"fc{i} is nn.Linear({got[1]}, {got[0]}): the blog post's is "
                         f"nn.Linear({want[1]}, {want[0]})"
                         + (" (320 = 20 channels x 4 x 4, what the second pooling leaves)"
                            if i == 1 and got[1] != 320 else ""))
    if len(linears) != 2:
        hints.append(f"found {len(linears)} linear layers: the blog post has 2")
    biases = sum(len(s) == 1 for s in shapes)
    if biases < 4:
        hints.append(f"found {biases} bias vectors, expected 4: every layer of the blog post has "
                     f"a bias (leave bias=True)")
    others = [s for s in shapes if len(s) not in (1, 2, 4)]
    if others or biases > 4:
        hints.append("extra parameters (a batch norm?): the blog post's network has only two "
                     "convolutions and two linear layers")
    return hints


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    """``code`` and the code of the functions, lambdas and comprehensions inside it."""
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _codes(constant)


def _methods(cls: type) -> dict[str, types.FunctionType]:
    """The functions the learner's class (and its own bases, not nn.Module's) defines, by name."""
    found: dict[str, types.FunctionType] = {}
    for klass in reversed(getattr(cls, "__mro__", ())):
        if klass.__module__.startswith("torch"):
            continue
        found.update({name: value for name, value in vars(klass).items()
                      if isinstance(value, types.FunctionType)})
    return found


def _layers_named(function: types.FunctionType) -> set[str]:
    """The layers with weights (nn.Conv2d, nn.Linear...) that ``function``'s code names."""
    return {name for code in _codes(function.__code__) for name in code.co_names
            if name in WEIGHT_LAYERS}


def _structure_problems(net: nn.Module) -> list[str]:
    """Why the learner's layers are not the network's parameters, read from its class: layers
    created in forward, kept in a plain list, or in local variables of __init__."""
    methods = _methods(type(net))
    hints = []
    outside = sorted({layer for name, method in methods.items() if name != "__init__"
                      for layer in _layers_named(method)})
    if outside:
        hints.append(HINT_LAYERS_IN_FORWARD.format(
            layers=", ".join(f"nn.{layer}(...)" for layer in outside)))
    known = {id(module) for module in net.modules()}
    for name, value in vars(net).items():
        if name.startswith("_"):  # nn.Module's own bookkeeping (_modules, _parameters...)
            continue
        items = list(value.values()) if isinstance(value, dict) else value
        if isinstance(value, (list, tuple, dict)) and any(
                isinstance(item, nn.Module) and id(item) not in known for item in items):
            hints.append(HINT_LAYER_LIST.format(name=name, kind=type(value).__name__))
    registered = {type(module).__name__ for module in net.modules()}
    init = methods.get("__init__")
    made = _layers_named(init) - registered if init is not None else set()
    if made and not hints:
        hints.append(HINT_LOCAL_LAYERS.format(
            layers=" and ".join(f"nn.{layer}" for layer in sorted(made))))
    return hints


def _misspelled(cls: type, method: str) -> str:
    """A method of the learner's class whose name looks like ``method`` misspelled, or ""."""
    names = [name for name in _methods(cls) if name != method]
    close = difflib.get_close_matches(method, names, n=1, cutoff=0.6)
    if not close and method == "__init__":
        close = [name for name in names if name.strip("_") in ("init", "int", "innit")][:1]
    return close[0] if close else ""


def _course_model_inside(net: nn.Module) -> str:
    """Where the learner's network holds one of the course's networks ("" when it does not)."""
    for path, module in net.named_modules():
        if isinstance(module, COURSE_MODELS):
            return f"{type(module).__name__} (as self.{path})"
    for name, value in vars(net).items():
        if name.startswith("_"):
            continue
        items = value.values() if isinstance(value, dict) else (
            value if isinstance(value, (list, tuple)) else [value])
        for item in items:
            if isinstance(item, COURSE_MODELS):
                return f"{type(item).__name__} (in self.{name})"
    return ""


def _built_on_course_model(cls: object) -> str:
    """Which of the course's networks the learner's class is, or inherits from ("" otherwise)."""
    if not isinstance(cls, type):
        return ""
    if cls in COURSE_MODELS:
        return f"{cls.__name__} is the course's own network"
    base = next((base for base in cls.__mro__[1:] if base in COURSE_MODELS), None)
    if base is None:
        return ""
    return f"class {cls.__name__}({base.__name__}) builds on the course's own {base.__name__}"


def _error_hint(error: BaseException, ops: list[_Op], net: nn.Module) -> str:
    """A hint for an error the learner's forward raised, or ""."""
    text = str(error)
    failed = ops[-1] if ops else None
    if isinstance(error, AttributeError):
        match = re.search(r"'(\w+)' object has no attribute '(\w+)'", text)
        if match and match[1] == type(net).__name__:
            name = match[2]
            init = _methods(type(net)).get("__init__")
            local = init is not None and name in init.__code__.co_varnames
            return (f"forward uses self.{name}, which __init__ did not create"
                    + (f": in __init__, {name} = ... makes a local variable, gone when __init__ "
                       f"ends; write self.{name} = ..." if local else
                       f": create it there (self.{name} = ...), with the same name"))
        if _nn_name_hint(text):
            return _nn_name_hint(text)
    if isinstance(error, NameError):
        match = re.search(r"name '(\w+)' is not defined", text)
        if match and hasattr(net, match[1]):
            return f"inside forward the layer is self.{match[1]}, not {match[1]}"
    if isinstance(error, TypeError):
        match = re.search(r"got \((\w+),", text) or re.search(r"must be Tensor, not (\w+)", text)
        if match and isinstance(getattr(nn, match[1], None), type):
            return (f"a layer object, nn.{match[1]}, reached a layer as if it were data: "
                    f"nn.{match[1]}(x) creates a layer (with x as its setting) instead of "
                    f"applying it, and so does self.layer(x) after self.layer = nn.{match[1]} "
                    f"without the (). Create the layer first and call it: "
                    f"nn.{match[1]}(...)(x), or self.layer = nn.{match[1]}(...) in __init__ and "
                    f"self.layer(x) in forward")
        if "takes 1 positional argument but 2 were given" in text:
            return "forward takes the batch after self: def forward(self, x)"
        if _missing_argument_hint(text):
            return _missing_argument_hint(text)
    match = re.search(r"shape '\[([-\d, ]+)\]' is invalid for input of size (\d+)", text)
    if match and failed is not None and failed.name in FLATTENS:
        return (f"x.{failed.name}({match[1]}) does not fit the {match[2]} numbers of a tensor of "
                f"shape {failed.input_shape}: flatten each image with x.flatten(1) or "
                f"x.view(x.size(0), -1), which keep the batch axis whatever the batch size N is")
    match = re.search(r"expected input\[([\d, ]+)\] to have (\d+) channels, but got (\d+)", text)
    if match:
        return (f"a convolution that takes {match[2]} channels got {match[3]}: a convolution's "
                f"in_channels must be the number of channels coming in, the previous "
                f"convolution's out_channels")
    if re.search(r"Input type \(\w+\) and (bias|weight) type \(\w+\) should be the same|"
                 r"mat1 and mat2 must have the same dtype", text):
        return ("the layers' weights are float32 and x came in float32: leave its dtype alone "
                "(no .double() or .half() in forward)")
    if "Expected 3D (unbatched) or 4D (batched) input to conv2d" in text:
        return ("a convolution got a flattened tensor: flatten only after the second pooling, "
                "just before fc1")
    if failed is not None and (_kind(failed.name) == "linear" or failed.name in FLATTENS):
        return _flatten_text(ops)
    return ""


class _Checker:
    """The cases of ``check_net`` for one learner class; the first builds the network. Building
    ``Net()`` and every ``net(x)`` are learner calls of ``session``; the reference, the weights
    copied in and the mistakes' outputs are the checker's own work, outside them."""

    def __init__(self, net_class: Callable, session, time_limit: float | None) -> None:
        self.net_class, self.session, self.time_limit = net_class, session, time_limit
        self.net: nn.Module | None = None
        self.skip = "skipped: Net() could not be built (see the first case)"
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(BATCH, 1, 28, 28, generator=generator)
        self.single = torch.randn(SINGLE, 1, 28, 28, generator=generator)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.reference = BlogNet().eval()
        with torch.no_grad():
            self.expected = self.reference(self.x)
        self.build_net = session.learner(net_class, watch_inputs=False)
        self.run_net = session.learner(self._net_of)
        self.trace = _Trace()

    def _net_of(self, x: torch.Tensor) -> object:
        """``net(x)``, traced (inside the learner call, so the checker's own work is not)."""
        with self.trace:
            return self.net(x)

    def case(self, name: str, call_text: str, run: Callable[[], CaseResult]) -> CaseResult:
        if self.net is None and name != BUILD and not self.session.timed_out:
            return CaseResult(name, False, self.skip)
        if name in (OUTPUT, STAGES, SAME) and self.net is not None and not self._has_forward():
            return self._no_forward(name)
        return _guarded(name, call_text, lambda: self._seeded(run), self.time_limit)

    @staticmethod
    def _seeded(run: Callable[[], CaseResult]) -> CaseResult:
        """``run()`` with the notebook's random state left as it was."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return run()

    def _has_forward(self) -> bool:
        return getattr(type(self.net), "forward", None) is not nn.Module.forward

    def _no_forward(self, name: str) -> CaseResult:
        if name != OUTPUT:
            return CaseResult(name, False, "skipped: Net has no forward method (see above)")
        misspelled = _misspelled(type(self.net), "forward")
        return CaseResult(OUTPUT, False, (
            f"Net has no method named forward{f' ({misspelled}: a typo?)' if misspelled else ''}"
            f"\nHint: net(x) runs net.forward(x): define def forward(self, x) in the class, "
            f"indented like __init__ (not inside it), and return the scores"))

    def _refuse(self, what: str) -> CaseResult:
        self.skip = "skipped: see the first case"
        return CaseResult(BUILD, False, f"{what}: this exercise asks you to {TASK}, so the "
                                        f"checker does not accept that here")

    def build(self) -> CaseResult:
        if isinstance(self.net_class, nn.Module):
            return CaseResult(BUILD, False, f"got a network object ({type(self.net_class).__name__}"
                                            f"()): pass the class itself, check_net(Net), not "
                                            f"check_net(Net())")
        course = _built_on_course_model(self.net_class)
        if course:
            return self._refuse(course)
        try:
            net = self.build_net()
        except AttributeError as error:
            if "before Module.__init__() call" in str(error):
                return CaseResult(BUILD, False, f"Net() raised {_text(error)}\nHint: start "
                                                f"__init__ with super().__init__()")
            if _nn_name_hint(str(error)):
                return CaseResult(BUILD, False, f"Net() raised {_text(error)}\nHint: "
                                                f"{_nn_name_hint(str(error))}")
            raise
        except TypeError as error:
            hint = _build_type_hint(str(error), self.net_class)
            if hint:
                return CaseResult(BUILD, False, f"Net() raised {_text(error)}\nHint: {hint}")
            raise
        if isinstance(net, COURSE_MODELS):
            return self._refuse(f"Net() gave the course's own {type(net).__name__}")
        if not isinstance(net, nn.Module):
            return CaseResult(BUILD, False, f"Net() gave an object of type {type(net).__name__}:"
                                            f" write class Net(nn.Module) and call "
                                            f"super().__init__() first in __init__")
        inside = _course_model_inside(net)
        if inside:
            return self._refuse(f"Net() holds the course's own {inside}")
        self.net = net.eval()
        count = sum(p.numel() for p in net.parameters())
        return CaseResult(BUILD, True, f"an nn.Module with {count:,} parameters")

    def parameters(self) -> CaseResult:
        shapes = [tuple(p.shape) for p in self.net.parameters()]
        count = sum(math.prod(s) for s in shapes)
        if sorted(shapes) == sorted(tuple(p.shape) for p in self.reference.parameters()):
            return CaseResult(PARAMETERS, True, f"{count:,} parameters in {len(shapes)} tensors")
        hints = _structure_problems(self.net)
        cls = type(self.net)
        misspelled = "" if "__init__" in _methods(cls) else _misspelled(cls, "__init__")
        if misspelled:
            hints.insert(0, f"Net has no __init__ of its own: is {misspelled} meant to be "
                            f"__init__ (two underscores on each side)?")
        if count:
            hints += _parameter_problems(shapes)
        elif not hints:
            hints.append(HINT_NO_PARAMETERS)
        return CaseResult(PARAMETERS, False,
                          f"{count:,} parameters, expected 21,840; their shapes: {shapes}\n"
                          + "\n".join(f"Hint: {hint}" for hint in hints or
                                      [f"compare with the plan: {PLAN}"]))

    def forward(self, x: torch.Tensor | None = None
                ) -> tuple[object, _Trace, BaseException | None]:
        """The learner's output on a test batch (the 5 images unless ``x``), the trace, and what
        the forward raised."""
        x = self.x if x is None else x
        trace = self.trace = _Trace()
        try:
            with torch.no_grad():
                return self.run_net(x.clone()), trace, None
        except NotImplementedError:
            raise
        except Exception as error:  # the learner's bug, described by the case
            return None, trace, error

    def output_shape(self) -> CaseResult:
        for x in (self.x, self.single):
            shape, wanted = tuple(x.shape), (len(x), 10)
            out, trace, error = self.forward(x)
            if error is not None:
                hint = _error_hint(error, trace.ops, self.net)
                return CaseResult(OUTPUT, False, f"net(x) with x of shape {shape} raised "
                                                 f"{_first_line(error)}"
                                                 + (f"\nHint: {hint}" if hint else ""))
            if not isinstance(out, torch.Tensor):
                return CaseResult(OUTPUT, False, (
                    f"net(x) returned an object of type {type(out).__name__}: return fc2's "
                    f"output, a tensor of shape (N, 10)"
                    + (" (a forgotten return?)" if out is None else "")))
            if tuple(out.shape) != wanted:
                flat = _flatten_text(trace.ops) or "end with fc2 = nn.Linear(50, 10)"
                return CaseResult(OUTPUT, False, f"for x of shape {shape} net(x) has shape "
                                                 f"{tuple(out.shape)}, expected {wanted}\n"
                                                 f"Hint: {flat}")
        return CaseResult(OUTPUT, True, f"(N, 1, 28, 28) -> (N, 10) for N = {BATCH} and {SINGLE}")

    def stage_shapes(self) -> CaseResult:
        _, trace, error = self.forward()
        stages = _stages(trace.ops)
        yours = dict(stages)
        expected_names = [name for name, _, _ in EXPECTED_STAGES]
        rows = [f"{'stage':<11} {'yours':<18} the blog post's"]
        kernels = [tuple(p.shape) for p in self.net.parameters() if p.dim() == 4]
        first_wrong = None
        for want_name, want, how in EXPECTED_STAGES:  # paired by name, not by position
            got = yours.get(want_name)
            if got != want and first_wrong is None:
                first_wrong = (want_name, _padding_hint(want_name, trace.ops, got, kernels)
                                         or how)
                if got is None and error is not None:
                    first_wrong = (want_name, "net(x) stopped with an error before this stage "
                                              "(see the output case)")
            rows.append(f"{want_name:<11} {str(got or '-'):<18} {want}")
        for name, got in stages:
            if name not in expected_names:
                rows.append(f"{name:<11} {str(got or '-'):<18} - (not in the blog post)")
                if first_wrong is None:
                    first_wrong = (name, f"the blog post has no {name}; the plan: {PLAN}")
        table = "\n".join(rows)
        if first_wrong is None and error is None:
            return CaseResult(STAGES, True, "\n".join(f"{n}: {s}" for n, s in stages))
        hint = (f"{first_wrong[0]}: {first_wrong[1]}" if first_wrong and first_wrong[1]
                else f"the plan: {PLAN}")
        return CaseResult(STAGES, False, f"{table}\nHint: {hint}")

    def same_outputs(self) -> CaseResult:
        mine = list(self.net.parameters())
        theirs = list(self.reference.parameters())
        if sorted(tuple(p.shape) for p in mine) != sorted(tuple(p.shape) for p in theirs):
            return CaseResult(SAME, False, "skipped: the parameters' shapes differ from the blog "
                                           "post's (see the parameters case)")
        first = None  # the output and trace with the weights copied in order
        for assignment in _assignments(mine, theirs):
            with torch.no_grad():
                for target, source in assignment:
                    target.copy_(source)
            out, trace, error = self.forward()
            if error is not None:
                return CaseResult(SAME, False, f"net(x) raised {_first_line(error)}")
            if not isinstance(out, torch.Tensor) or out.shape != self.expected.shape:
                return CaseResult(SAME, False, "skipped: the output's shape is wrong (see above)")
            if _same_scores(out, self.expected):
                return CaseResult(SAME, True, "identical outputs (max abs difference "
                                              f"{(out - self.expected).abs().max().item():.2g})")
            first = first or (out, trace)
        out, trace = first  # the mistakes are looked for on the in-order copy
        difference = (out.float() - self.expected).abs().max().item()
        with torch.no_grad():
            hints = [hint for hint, wrong in _mistakes(self.reference, self.x)
                     if _same_scores(out, wrong)]
        hints = (hints[:1] or _structure_problems(self.net) or _trace_problems(trace.ops)
                 or [f"compare with the plan: {PLAN}"])
        return CaseResult(SAME, False, f"with BlogNet's weights copied in, the outputs differ by "
                                       f"up to {difference:.3g}\n"
                          + "\n".join(f"Hint: {hint}" for hint in hints))


def _first_line(error: BaseException) -> str:
    """``Name: message`` of an error, cut to its first line (PyTorch's type errors list every
    signature the function has)."""
    lines = _text(error).splitlines()
    return lines[0] + (" [...]" if len(lines) > 1 else "")


def _nn_name_hint(text: str) -> str:
    """A hint for a name torch.nn does not have (nn.relu, nn.conv2d, nn.Relu...), or ""."""
    match = re.search(r"module 'torch\.nn' has no attribute '(\w+)'", text)
    if not match:
        return ""
    same = [name for name in dir(nn) if name.lower() == match[1].lower()]
    return (f"torch.nn has no {match[1]}" + (f" (it has {same[0]})" if same else "")
            + ": the layers are classes with capitals (nn.Conv2d, nn.ReLU(), nn.MaxPool2d(2)), "
              "the functions live in torch.nn.functional (F.relu(x), F.max_pool2d(x, 2))")


def _build_type_hint(text: str, cls: object) -> str:
    """A hint for a TypeError that ``Net()`` raised, or ""."""
    match = re.search(r"(\w+)\.__init__\(\) missing \d+ required positional arguments?: (.+)",
                      text)
    if match and match[1] == getattr(cls, "__name__", ""):
        return ("check_net builds your network as Net(), without arguments: __init__ takes "
                "only self (the sizes are fixed by the blog post)")
    if "takes 0 positional arguments but 1 was given" in text:
        return "a method takes self first: def __init__(self)"
    match = re.search(r"cannot assign '[\w.]*?(\w+)' as child module '(\w+)'", text)
    if match:
        return (f"self.{match[2]} = nn.{match[1]} stores the class itself, not a layer: create "
                f"the layer with brackets, nn.{match[1]}(...)")
    return _missing_argument_hint(text)


def _missing_argument_hint(text: str) -> str:
    """A hint for a layer or function called without an argument it needs, or ""."""
    match = re.search(r"(\w+?)(?:\.__init__)?\(\) missing \d+ required positional arguments?: "
                      r"(.+)", text)
    if not match:
        return ""
    name = match[1].lstrip("_")
    where = f"nn.{name}" if isinstance(getattr(nn, name, None), type) else f"F.{name}"
    usage = SIGNATURES.get(name)
    return (f"{where} needs {match[2]}" + (f": {usage}" if usage else "")
            + f" (help({where}) lists its arguments)")


def _same_scores(out: torch.Tensor, reference: torch.Tensor) -> bool:
    """Whether the learner's scores equal ``reference`` up to NETWORK_OUTPUT_TOLERANCE."""
    return torch.allclose(out.float(), reference, rtol=NETWORK_OUTPUT_TOLERANCE,
                          atol=NETWORK_OUTPUT_TOLERANCE)


def _assignments(mine: list[nn.Parameter], theirs: list[nn.Parameter]):
    """Ways to pair the learner's parameters with the reference's: same shape, in order first,
    then the other orders among parameters of equal shape (conv1's and fc2's biases are both
    (10,)); at most 24."""
    groups: dict[tuple[int, ...], tuple[list, list]] = {}
    for p in mine:
        groups.setdefault(tuple(p.shape), ([], []))[0].append(p)
    for p in theirs:
        groups[tuple(p.shape)][1].append(p)
    choices = [[list(zip(targets, order)) for order in itertools.permutations(sources)]
               for targets, sources in groups.values()]
    for combination in itertools.islice(itertools.product(*choices), 24):
        yield [pair for group in combination for pair in group]


BUILD = "Net() builds an nn.Module"
PARAMETERS = "21,840 parameters, shaped like the blog post's layers"
OUTPUT = "output of shape (N, 10) for images (N, 1, 28, 28)"
STAGES = "shape after each stage"
SAME = "same outputs as the course's BlogNet when its weights are copied in"


def check_net(net_class: type, *, time_limit: float | None = TIME_LIMIT) -> CheckReport:
    """Check the learner's ``Net`` class (built without arguments) against ``models.BlogNet``:
    it builds, has 21,840 parameters shaped like the blog post's, gives (N, 10) scores for 5
    images and for 1, has the right shape after every stage, and computes the same function
    when BlogNet's weights are copied into it (matched by order and shape). A class built on
    one of the course's networks (a subclass, one held inside, or one called) is refused.
    ``Net()`` and each ``net(x)`` are stopped after ``time_limit`` seconds (None: no limit);
    after the first that runs out of time the remaining cases are skipped."""
    if not callable(net_class):
        raise ValueError(f"pass your class itself (e.g. check_net(Net)), got {net_class!r}")
    _check_arguments(net_class, time_limit)
    with _session(time_limit, FORBIDDEN) as session:
        checker = _Checker(net_class, session, time_limit)
        cases = ((BUILD, "Net()", checker.build),
                 (PARAMETERS, "net.parameters()", checker.parameters),
                 (OUTPUT, "net(x)", checker.output_shape),
                 (STAGES, "net(x)", checker.stage_shapes),
                 (SAME, "net(x)", checker.same_outputs))
        return CheckReport("check_net", tuple(checker.case(*case) for case in cases),
                           "All cases agree with the course's BlogNet. Well done!")


LEARNER_NET = "my-net"  # notebook 04 keeps the learner's Net as checkpoints/my-net.pt for 07


def save_learner_net(net_class: type, path: str | os.PathLike | None = None) -> Path | None:
    """Keep the learner's ``Net`` for notebook 07: ``Net()`` saved whole (``save_network``) to
    ``checkpoints/my-net.pt`` if ``check_net(net_class)`` passes; None, saving nothing, if not."""
    if not check_net(net_class).passed:
        return None
    return save_network(path or default_checkpoint_path(LEARNER_NET), net_class())


def load_learner_net(trained: BlogNet, path: str | os.PathLike | None = None) -> nn.Module | None:
    """The ``Net`` that ``save_learner_net`` kept, with ``trained``'s weights, in evaluation mode;
    None when none was saved.

    ``check_net`` showed that it computes what BlogNet computes with the same weights, so with a
    trained BlogNet's weights copied in (paired by order and shape, as ``check_net`` pairs them)
    it is that trained network, written the learner's way.
    """
    path = Path(path or default_checkpoint_path(LEARNER_NET))
    if not path.is_file():
        return None
    device = next(trained.parameters()).device
    net = load_network(path, device).eval()
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(device)
    mine, theirs = list(net.parameters()), list(trained.parameters())
    with torch.no_grad(), evaluation_mode(trained):
        expected = trained(x).float()
        if sorted(p.shape for p in mine) == sorted(p.shape for p in theirs):
            for assignment in _assignments(mine, theirs):
                for target, source in assignment:
                    target.copy_(source)
                if _same_scores(net(x), expected):
                    return net
    raise CheckpointError(f"{path} holds a {type(net).__name__} that does not compute what "
                          f"BlogNet computes with the same weights: run check_net and the cell "
                          f"that saves your Net in notebook 04 again")
