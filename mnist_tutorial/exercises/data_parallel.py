"""Checker for the gradient-averaging exercise (notebook 09): the learner's
``average_gradients(model)``, written to a file, run in two real processes (torchrun, Gloo) and
compared with the gradients DistributedDataParallel computes on the same parts of the same batch.

``check_average_gradients(path)`` launches two processes with torchrun that run ``_worker(PATH,
RESULT)``: each process computes its part's
gradients, calls the learner's function, and checks that every parameter's gradient is now the
mean over both processes (what DDP gives), that the weights are untouched, and, when not, which
common mistake the numbers equal. Rank 0 writes the cases to RESULT.

The course's own code is refused twice: the file may not import ``mnist_tutorial`` (or name DDP),
checked before anything runs, and while the learner's function runs the course's functions that
average over the processes (``World.mean`` and the rest of ``mnist_tutorial.distributed``'s
all-reduces, and this module's reference) refuse, however they were reached.
"""

from __future__ import annotations

import ast
import datetime
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from .core import CaseResult, CheckReport, Forbidden, _Refused, _session

FUNCTION = "average_gradients"
TIME_LIMIT = 120.0  # seconds for the whole two-process run (starting torchrun takes most)
VERDICT = "Every gradient equals DistributedDataParallel's average. Well done!"
TASK = "average the gradients yourself with torch.distributed.all_reduce"
SHORTCUTS = {"DistributedDataParallel": "DistributedDataParallel does the averaging for you",
             "DataParallel": "DataParallel does the averaging for you",
             "mnist_tutorial": "your file imports the course's own code (mnist_tutorial: "
                               "mnist_tutorial.distributed's World.mean averages over the "
                               "processes), which is not your answer"}
# (hint, what the mistake leaves in a parameter's gradient, from the local gradient g, the
# DDP average a and the number of processes n); the first that matches is named
MISTAKES = [
    ("the gradients are summed, not averaged: after all_reduce (a sum) divide by "
     "dist.get_world_size()", lambda g, a, n: a * n),
    ("nothing was exchanged: each process still holds its own part's gradient; call "
     "dist.all_reduce(p.grad) for every parameter", lambda g, a, n: g),
    ("divided without adding: dist.all_reduce(p.grad) must come before the division",
     lambda g, a, n: g / n),
]


def _reference_average(model: torch.nn.Module) -> None:
    """The reference solution, run through the same checker by the tests."""
    import torch.distributed as dist

    for parameter in model.parameters():
        dist.all_reduce(parameter.grad)
        parameter.grad /= dist.get_world_size()


def _forbidden() -> Forbidden:
    """The course's functions that average over the processes: refused while the learner's
    function runs (imported here, in the worker, so the checker itself stays light)."""
    from mnist_tutorial.distributed import World

    return Forbidden(functions=(World.mean, World.loss, World.wrap, _reference_average),
                     task=TASK)


def _shortcuts(source: str) -> list[str]:
    """What in the learner's file does the work for them (DDP, the course's solution)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(part for alias in node.names for part in alias.name.split("."))
            names.update((node.module or "").split(".") if isinstance(node, ast.ImportFrom)
                         else [])
    return [why for name, why in SHORTCUTS.items() if name in names]


def _judge(name: str, got: list[torch.Tensor], local: list[torch.Tensor],
           average: list[torch.Tensor], size: int) -> CaseResult:
    """Compare every parameter's gradient with DDP's average; name the mistake it equals."""
    wrong = [i for i, (g, a) in enumerate(zip(got, average, strict=True))
             if not torch.allclose(g, a, rtol=1e-5, atol=1e-7)]
    if not wrong:
        return CaseResult(name, True, f"all {len(got)} gradients equal DDP's")
    for hint, mistake in MISTAKES:
        if all(torch.allclose(got[i], mistake(local[i], average[i], size), rtol=1e-5, atol=1e-7)
               for i in wrong):
            return CaseResult(name, False, f"{len(wrong)} of {len(got)} gradients differ from "
                                           f"DDP's\nHint: {hint}")
    hint = ("some parameters were left out: go through every one of model.parameters()"
            if len(wrong) < len(got) else "compare your gradients with (yours + the other "
            "process's) / 2")
    return CaseResult(name, False, f"{len(wrong)} of {len(got)} gradients differ from DDP's"
                                   f"\nHint: {hint}")


def _gradients(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.detach().clone() for p in model.parameters()]


def _case(name: str, average, seed: int, batch: int) -> CaseResult:
    """One batch split over the processes: the learner's average against DDP's."""
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel

    from mnist_tutorial.models import BlogNet

    rank, size = dist.get_rank(), dist.get_world_size()
    generator = torch.Generator().manual_seed(seed)
    images, labels = torch.randn(batch, 1, 28, 28, generator=generator), torch.arange(batch) % 10
    part = slice(rank * batch // size, (rank + 1) * batch // size)
    torch.manual_seed(seed)
    model, reference = BlogNet(), BlogNet()
    reference.load_state_dict(model.state_dict())
    weights = [p.detach().clone() for p in model.parameters()]
    F.cross_entropy(model(images[part]), labels[part]).backward()
    local = _gradients(model)
    ddp = DistributedDataParallel(reference)
    F.cross_entropy(ddp(images[part]), labels[part]).backward()
    with _session(None, _forbidden()) as session:
        try:
            session.learner(average, watch_inputs=False)(model)  # it must change the gradients
        except _Refused as refusal:
            return _refused(name, str(refusal))
        except NotImplementedError:
            return CaseResult(name, False, f"not done yet: {FUNCTION}(model) still raises "
                                           f"NotImplementedError; replace it with your code")
        except Exception as error:  # a learner's bug is a failed case, not a crash
            if session.refused:  # it caught the refusal and failed otherwise
                return _refused(name, session.refused)
            return CaseResult(name, False, f"{FUNCTION}(model) raised {type(error).__name__}: "
                                           f"{error}")
    if not all(torch.equal(w, p) for w, p in zip(weights, model.parameters(), strict=True)):
        return CaseResult(name, False, "the weights changed: average p.grad, not p (or p.data); "
                                       "the optimizer's step changes the weights afterwards")
    return _judge(name, _gradients(model), local, _gradients(reference), size)


def _refused(name: str, what: str) -> CaseResult:
    return CaseResult(name, False, f"{FUNCTION}(model) called {what}: this exercise asks you to "
                                   f"{TASK}, so the checker does not accept that here")


CASES = [("BlogNet, a batch of 64 split 32 + 32", 0, 64),
         ("another seed, a batch of 16 split 8 + 8", 1, 16)]


def _worker(path: str, result: str) -> None:
    """In each torchrun process: run the cases, rank 0 writes them as JSON."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    spec = importlib.util.spec_from_file_location("learner_answer", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        results = [_case(name, getattr(module, FUNCTION), seed, batch)
                   for name, seed, batch in CASES]
    except Exception as error:  # the file itself fails to run: one failed case says why
        results = [CaseResult("your file", False, f"running {path} raised "
                                                  f"{type(error).__name__}: {error}")]
    if dist.get_rank() == 0:
        Path(result).write_text(json.dumps([list(r) for r in results]))
    dist.destroy_process_group()


def _failed(message: str) -> CheckReport:
    return CheckReport(f"check_{FUNCTION}", (CaseResult("your file", False, message),), VERDICT)


def check_average_gradients(path: str | os.PathLike,
                            time_limit: float = TIME_LIMIT) -> CheckReport:
    """Check ``average_gradients(model)`` in the file at ``path`` in two Gloo processes against
    DistributedDataParallel's gradients."""
    path = Path(path)
    if not path.is_file():
        return _failed(f"there is no file {path}: run the %%writefile cell above first")
    source = path.read_text()
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return _failed(f"{path} is not valid Python: {error}")
    if not any(isinstance(n, ast.FunctionDef) and n.name == FUNCTION for n in tree.body):
        return _failed(f"{path} defines no function {FUNCTION}(model)")
    refused = _shortcuts(source)
    if refused:
        return _failed(f"refused: {'; '.join(refused)}. This exercise asks you to {TASK}")
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "result.json"
        worker = f"from {__name__} import _worker; import sys; _worker(*sys.argv[1:3])"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc_per_node=2", "--no-python", sys.executable, "-c", worker,
                   str(path.resolve()), str(result)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=env, start_new_session=True)
        try:
            _, err = process.communicate(timeout=time_limit)
        except subprocess.TimeoutExpired:
            return _failed(f"the two processes did not finish in {time_limit:.0f} s: does every "
                           f"process call all_reduce the same number of times?")
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if not result.is_file():
            last = (err.strip().splitlines() or ["no output"])[-1]
            return _failed(f"the two processes stopped before the checks ended: {last}")
        cases = tuple(CaseResult(*case) for case in json.loads(result.read_text()))
    return CheckReport(f"check_{FUNCTION}", cases, VERDICT)

