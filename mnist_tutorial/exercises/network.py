"""Checker for notebook 04's exercise: the learner writes the blog post's ``Net`` as an
``nn.Module`` class, checked against the course's ``BlogNet`` layer by layer.

The learner's forward pass runs under a ``TorchFunctionMode`` that writes down every operation
(convolution, pooling, ReLU, flatten, linear, softmax) with its shapes, so a wrong network is
described in the learner's terms: which stage has which shape, what ``x.flatten(1).shape`` is,
where a ReLU is missing, what comes after the last layer.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from mnist_tutorial.models import BlogNet

from .core import TIME_LIMIT, CaseResult, CheckReport, _check_arguments, _guarded, _text

BATCH = 5  # images per test batch
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
RELU_PLACES = ("after the first pooling (before conv2)", "after the second pooling (before fc1)",
               "after fc1 (before fc2)")
ACTIVATIONS = {"relu", "relu_", "clamp", "clamp_", "clamp_min", "clamp_min_", "threshold",
               "threshold_", "sigmoid", "sigmoid_", "tanh", "tanh_", "gelu", "elu", "elu_",
               "leaky_relu", "leaky_relu_", "silu", "softplus", "softmax", "log_softmax",
               "_softmax", "hardtanh", "relu6"}
FLATTENS = {"flatten", "view", "reshape", "resize", "squeeze"}
RELUS = {"relu", "relu_", "clamp", "clamp_", "clamp_min", "clamp_min_", "threshold", "threshold_"}


@dataclass(frozen=True)
class _Op:
    """One operation of a forward pass: its name and the shapes of its first input and output."""

    name: str
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None  # None: it raised


class _Trace(TorchFunctionMode):
    """Writes down every top-level PyTorch operation that takes or returns a tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[_Op] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        first = next((a for a in args if isinstance(a, torch.Tensor)), None)
        name, shape = getattr(func, "__name__", str(func)), None
        self.ops.append(_Op(name, tuple(first.shape) if first is not None else None, None))
        index = len(self.ops) - 1
        result = func(*args, **(kwargs or {}))
        if isinstance(result, torch.Tensor):
            shape = tuple(result.shape)
        self.ops[index] = _Op(name, self.ops[index].input_shape, shape)
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
    return (f"x.flatten(1).shape is {flat}, right, but fc1 got a tensor of shape "
            f"{linear.input_shape}: flatten each image separately with x.flatten(1) (or "
            f"x.view(x.size(0), -1)), which keeps the batch axis")


def _relu_problems(ops: list[_Op]) -> list[str]:
    """Hints for what the trace shows wrong: average pooling, a missing ReLU, an activation after
    the last layer."""
    kinds = [(_kind(op.name), op.name) for op in ops]
    hints = []
    if any(kind == "pool" and "avg" in name for kind, name in kinds):
        hints.append(HINT_AVERAGE)
    anchors = [i for i, (kind, _) in enumerate(kinds) if kind in ("conv", "linear")]
    if len(anchors) == 4:  # conv1, conv2, fc1, fc2: a ReLU must lie between each pair
        for place, (start, stop) in zip(RELU_PLACES, itertools.pairwise(anchors)):
            if not any(kind == "relu" for kind, _ in kinds[start + 1:stop]):
                hints.append(HINT_MISSING_RELU.format(place))
        after = [name for kind, name in kinds[anchors[-1] + 1:] if kind in ("relu", "activation")]
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


class _Checker:
    """The cases of ``check_net`` for one learner class; the first builds the network."""

    def __init__(self, net_class: Callable, time_limit: float | None) -> None:
        self.net_class, self.time_limit = net_class, time_limit
        self.net: nn.Module | None = None
        self.x = torch.randn(BATCH, 1, 28, 28, generator=torch.Generator().manual_seed(0))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.reference = BlogNet().eval()
        with torch.no_grad():
            self.expected = self.reference(self.x)

    def case(self, name: str, call_text: str, run: Callable[[], CaseResult]) -> CaseResult:
        if self.net is None and name != BUILD:
            return CaseResult(name, False, "skipped: Net() could not be built (see the first case)")
        return _guarded(name, call_text, lambda: self._seeded(run), self.time_limit)

    @staticmethod
    def _seeded(run: Callable[[], CaseResult]) -> CaseResult:
        """``run()`` with the notebook's random state left as it was."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return run()

    def build(self) -> CaseResult:
        if isinstance(self.net_class, nn.Module):
            return CaseResult(BUILD, False, f"got a network object ({type(self.net_class).__name__}"
                                            f"()): pass the class itself, check_net(Net), not "
                                            f"check_net(Net())")
        try:
            net = self.net_class()
        except AttributeError as error:
            if "before Module.__init__() call" in str(error):
                return CaseResult(BUILD, False, f"Net() raised {_text(error)}\nHint: start "
                                                f"__init__ with super().__init__()")
            raise
        if not isinstance(net, nn.Module):
            return CaseResult(BUILD, False, f"Net() gave an object of type {type(net).__name__}:"
                                            f" write class Net(nn.Module) and call "
                                            f"super().__init__() first in __init__")
        self.net = net.eval()
        count = sum(p.numel() for p in net.parameters())
        return CaseResult(BUILD, True, f"an nn.Module with {count:,} parameters")

    def parameters(self) -> CaseResult:
        shapes = [tuple(p.shape) for p in self.net.parameters()]
        count = sum(math.prod(s) for s in shapes)
        if sorted(shapes) == sorted(tuple(p.shape) for p in self.reference.parameters()):
            return CaseResult(PARAMETERS, True, f"{count:,} parameters in {len(shapes)} tensors")
        hints = _parameter_problems(shapes)
        return CaseResult(PARAMETERS, False,
                          f"{count:,} parameters, expected 21,840; their shapes: {shapes}\n"
                          + "\n".join(f"Hint: {hint}" for hint in hints or
                                      [f"compare with the plan: {PLAN}"]))

    def forward(self) -> tuple[object, _Trace, BaseException | None]:
        """The learner's output on the test batch, the trace, and what the forward raised."""
        trace = _Trace()
        try:
            with torch.no_grad(), trace:
                return self.net(self.x.clone()), trace, None
        except (KeyboardInterrupt, NotImplementedError, SystemExit):
            raise
        except Exception as error:  # the learner's bug, described by the case
            return None, trace, error

    def output_shape(self) -> CaseResult:
        out, trace, error = self.forward()
        if error is not None:
            message = f"net(x) with x of shape {tuple(self.x.shape)} raised {_text(error)}"
            flat = _flatten_text(trace.ops)
            failed = trace.ops[-1] if trace.ops else None
            if failed is not None and flat and (_kind(failed.name) == "linear"
                                                or failed.name in FLATTENS):
                message += f"\nHint: {flat}"
            return CaseResult(OUTPUT, False, message)
        if not isinstance(out, torch.Tensor):
            return CaseResult(OUTPUT, False, f"net(x) returned an object of type "
                                             f"{type(out).__name__}: return fc2's output, a "
                                             f"tensor of shape (N, 10)")
        if tuple(out.shape) == (BATCH, 10):
            return CaseResult(OUTPUT, True, f"(N, 1, 28, 28) -> (N, 10) for N = {BATCH}")
        flat = _flatten_text(trace.ops)
        return CaseResult(OUTPUT, False, f"for x of shape {tuple(self.x.shape)} net(x) has "
                                         f"shape {tuple(out.shape)}, expected ({BATCH}, 10)\n"
                                         f"Hint: {flat or 'end with fc2 = nn.Linear(50, 10)'}")

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
                return CaseResult(SAME, False, f"net(x) raised {_text(error)}")
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
        hints = hints[:1] or _relu_problems(trace.ops) or [f"compare with the plan: {PLAN}"]
        return CaseResult(SAME, False, f"with BlogNet's weights copied in, the outputs differ by "
                                       f"up to {difference:.3g}\n"
                          + "\n".join(f"Hint: {hint}" for hint in hints))


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
    it builds, has 21,840 parameters shaped like the blog post's, gives (N, 10) scores, has the
    right shape after every stage, and computes the same function when BlogNet's weights are
    copied into it (matched by order and shape). Each case is stopped after ``time_limit``
    seconds (None: no limit)."""
    if not callable(net_class):
        raise ValueError(f"pass your class itself (e.g. check_net(Net)), got {net_class!r}")
    _check_arguments(net_class, time_limit)
    checker = _Checker(net_class, time_limit)
    cases = ((BUILD, "Net()", checker.build), (PARAMETERS, "net.parameters()", checker.parameters),
             (OUTPUT, "net(x)", checker.output_shape), (STAGES, "net(x)", checker.stage_shapes),
             (SAME, "net(x)", checker.same_outputs))
    return CheckReport("check_net", tuple(checker.case(*case) for case in cases),
                       "All cases agree with the course's BlogNet. Well done!")
