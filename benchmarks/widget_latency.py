"""How long each interactive widget takes to show a new figure after a control changes.

For every widget of the course (sliding-window stepper, kernel playground, padding/stride explorer,
pooling explorer, feature explorer, gradient explorer, digit pad) the script builds the widget,
changes one control through its ``.value`` (what the browser does) ``--repeats`` times and times
each assignment: observers run synchronously, so the assignment returns once the new PNG bytes are
set. For the digit pad it draws through the Python API, then times pressing Predict
(``button.click()``), alternating two drawings. Every timed change must really change the image, or
the script stops. A widget the baseline does not have yet (the gradient explorer came with notebook
06) shows "-" in its columns and is left out of both sums.

It measures two versions of the package in one run, each in its own Python process: the code at
``--baseline REF`` (extracted with ``git archive`` into a temporary folder and put first on
``PYTHONPATH``) and the working tree's, in turn for ``--rounds`` rounds, so that a change in the
machine's load affects both; the table pools the changes of all rounds. The controls are found
by walking the ipywidgets tree of ``.widget`` by type and description, and the figure by type
(``ipywidgets.Image`` bytes, or the PNGs of an ``Output`` widget's ``outputs`` in old versions),
so both APIs work; the classes come from ``mnist_tutorial.widgets`` or, in a baseline from before
that folder, from the top-level modules they were in. The load average is printed first: on a
busy machine (above 0.5) the times are high and noisy.

    python benchmarks/widget_latency.py                   # baseline 3cf6f72 against this tree
    python benchmarks/widget_latency.py --rounds 1        # one turn each: half the time
    python benchmarks/widget_latency.py --baseline HEAD~1
    python benchmarks/widget_latency.py --skip-baseline   # only the working tree

Needs MNIST (``MNIST_TUTORIAL_DATA``); the children run with ``MNIST_TUTORIAL_QUICK=1`` and the
Agg backend. The feature, gradient and digit-pad widgets use an untrained network
(``torch.manual_seed(0)``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = "3cf6f72"  # the widgets before the shared widget layer
WIDGETS = ["sliding window stepper", "kernel playground", "padding/stride explorer",
           "pooling explorer", "feature explorer", "gradient explorer", "digit pad predict"]
# two drawings on the 280x280 pad: a 7 with a crossbar and a 1 with a flag
SEVEN = [[(80, 60), (200, 60), (120, 240)], [(100, 150), (180, 150)]]
ONE = [[(110, 90), (150, 50), (150, 240)]]


# --- the child: measure the package that ``import mnist_tutorial`` finds --------------------------
def find(widget, kind, description=None):
    """The first widget of type ``kind`` (with ``description``) in the tree under ``widget``."""
    if isinstance(widget, kind) and description in (None, getattr(widget, "description", None)):
        return widget
    for child in getattr(widget, "children", ()) or ():
        found = find(child, kind, description)
        if found is not None:
            return found
    return None


def shown_pictures(widget) -> tuple[bytes, ...]:
    """Every picture the widget shows: Image values, else the PNGs held by Output widgets."""
    import ipywidgets

    images, outputs = [], []

    def walk(node):
        if isinstance(node, ipywidgets.Image):
            images.append(bytes(node.value))
        elif isinstance(node, ipywidgets.Output):
            outputs.extend(item.get("data", {}).get("image/png", "").encode()
                           for item in node.outputs)
        for child in getattr(node, "children", ()) or ():
            walk(child)

    walk(widget)
    return tuple(images) + tuple(outputs)


def time_changes(widget, change, values) -> list[float]:
    """Milliseconds of each ``change(value)``; each must change the shown pictures."""
    change(values[0])  # warm-up: first-use costs (fonts, caches) are not what a slider move costs
    times = []
    for value in values[1:]:
        before = shown_pictures(widget)
        start = time.perf_counter()
        change(value)
        times.append(1000 * (time.perf_counter() - start))
        if shown_pictures(widget) == before:
            raise RuntimeError(f"changing to {value!r} did not change the picture")
    return times


def slider_changes(widget, kind, description, values) -> list[float]:
    import ipywidgets

    control = find(widget, getattr(ipywidgets, kind), description)
    if control is None:
        raise RuntimeError(f"no {kind} {description!r} in the widget")
    return time_changes(widget, lambda value: setattr(control, "value", value), values)


def alternating(first, second, count: int) -> list:
    """first, second, first, ...: ``count + 1`` values (one warm-up), each unlike the one before."""
    return [first if i % 2 == 0 else second for i in range(count + 1)]


def sweep(count: int, top: int) -> list[int]:
    """1, 2, ..., top, 0, 1, ...: ``count + 1`` values, each unlike the one before."""
    return [(i + 1) % (top + 1) for i in range(count + 1)]


OLD_MODULES = {"digit_pad": "drawing"}  # the widgets' modules before widgets/, where renamed


def widget_class(module: str, name: str) -> type:
    """Class ``name`` of ``mnist_tutorial.widgets.<module>``, or of the top-level module it was in
    before the widgets moved into ``widgets/`` (the baseline's layout).

    The layout is read from the folder of the package found on the path: the editable install's
    finder would otherwise hand an old package this tree's ``widgets``.
    """
    import importlib

    import mnist_tutorial

    if (Path(mnist_tutorial.__file__).parent / "widgets").is_dir():
        path = f"mnist_tutorial.widgets.{module}"
    else:
        path = f"mnist_tutorial.{OLD_MODULES.get(module, module)}"
    return getattr(importlib.import_module(path), name)


def measure(repeats: int) -> dict:
    """Time every widget of the package found on the path; a JSON-ready dict."""
    import matplotlib

    matplotlib.use("Agg")
    import torch

    import mnist_tutorial
    from mnist_tutorial import models
    from mnist_tutorial.data import load_split
    from mnist_tutorial.kernels import HORIZONTAL_EDGES

    SlidingWindowStepper = widget_class("convolution_explorer", "SlidingWindowStepper")
    KernelPlayground = widget_class("convolution_explorer", "KernelPlayground")
    PaddingStrideExplorer = widget_class("padding_explorer", "PaddingStrideExplorer")
    PoolingExplorer = widget_class("pooling_explorer", "PoolingExplorer")
    FeatureExplorer = widget_class("feature_explorer", "FeatureExplorer")
    DigitPad = widget_class("digit_pad", "DigitPad")

    test = load_split("mnist", train=False)
    digit = test.images[0, 0]
    times: dict[str, list[float]] = {}

    stepper = SlidingWindowStepper(digit[5:11, 8:14], HORIZONTAL_EDGES, padding=1)  # 36 windows
    times[WIDGETS[0]] = slider_changes(stepper.widget, "IntSlider", "step", sweep(repeats, 30))

    playground = KernelPlayground(test.images[:100], test.labels[:100],
                                  preset="sobel_vertical_edges")
    times[WIDGETS[1]] = slider_changes(playground.widget, "IntSlider", "digit",
                                       sweep(repeats, 30))

    padding = PaddingStrideExplorer(size=7, kernel=3, padding=1, stride=2)
    times[WIDGETS[2]] = slider_changes(padding.widget, "IntSlider", "stride",
                                       alternating(1, 2, repeats))

    pooling = PoolingExplorer(digit, kind="max", size=2, cell=(7, 7))
    times[WIDGETS[3]] = slider_changes(pooling.widget, "IntSlider", "size",
                                       alternating(3, 2, repeats))

    # the blog post's network is the first entry of MODELS in both versions (it was renamed)
    net = next(iter(models.MODELS.values()))
    torch.manual_seed(0)
    model = net().eval()
    explorer = FeatureExplorer(model, test, layer="conv1")
    times[WIDGETS[4]] = slider_changes(explorer.widget, "IntSlider", "digit no.",
                                       sweep(repeats, 30))

    try:
        GradientExplorer = widget_class("gradient_explorer", "GradientExplorer")
    except ImportError:  # a baseline from before notebook 06
        pass
    else:  # moving the row of conv2's output: one backward pass by hand and a new picture
        gradients = GradientExplorer(model, test.images[:50], target="conv2", channel=3)
        times[WIDGETS[5]] = slider_changes(gradients.widget, "IntSlider", "row", sweep(repeats, 7))

    pad = DigitPad(model, canvas=False, live=False)
    widget = pad.widget
    button = find(widget, __import__("ipywidgets").Button, "Predict")

    def press(strokes):
        pad.clear()
        for stroke in strokes:  # the mouse's way: no prediction until Predict is pressed
            pad.begin_stroke(*stroke[0])
            for point in stroke[1:]:
                pad.extend_stroke(*point)
            pad.end_stroke()
        before = shown_pictures(widget)
        start = time.perf_counter()
        button.click()
        elapsed = 1000 * (time.perf_counter() - start)
        if shown_pictures(widget) == before or pad.probabilities is None:
            raise RuntimeError("pressing Predict did not show a prediction")
        return elapsed

    press(SEVEN)  # warm-up
    times[WIDGETS[6]] = [press(SEVEN if i % 2 else ONE) for i in range(repeats)]

    return {"package": str(Path(mnist_tutorial.__file__).parent), "times_ms": times}


def summary(reports: list[dict]) -> dict:
    """Median and 90th percentile per widget over the changes of every round."""
    widgets = {}
    for name in WIDGETS:
        values = [value for report in reports for value in report["times_ms"].get(name, [])]
        if not values:  # a widget this version does not have
            continue
        widgets[name] = {"median_ms": statistics.median(values),
                         "p90_ms": percentile(values, 90), "count": len(values)}
    return {"widgets": widgets}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile with linear interpolation (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- the parent: run both versions, print the table ----------------------------------------------
def run_child(package_root: Path, repeats: int) -> dict:
    """Run ``measure`` in a fresh Python whose ``mnist_tutorial`` is the one in ``package_root``."""
    environment = dict(os.environ, PYTHONPATH=str(package_root), MPLBACKEND="Agg",
                       MNIST_TUTORIAL_QUICK="1", MNIST_TUTORIAL_DATA=str(data_root()))
    result = subprocess.run([sys.executable, __file__, "--measure", "--repeats", str(repeats)],
                            env=environment, cwd=package_root, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"measuring {package_root} failed:\n{result.stderr}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    expected = (package_root / "mnist_tutorial").resolve()
    if Path(report["package"]).resolve() != expected:
        raise SystemExit(f"the child imported {report['package']}, not {expected}")
    return report


def data_root() -> Path:
    """Where this tree's package finds MNIST, so that an extracted old package finds it too."""
    sys.path.insert(0, str(REPOSITORY))
    from mnist_tutorial.data import data_root as package_data_root

    return package_data_root().resolve()


def extract(reference: str, folder: Path) -> None:
    """The package as it was at ``reference`` (a commit, tag or branch), written into ``folder``."""
    archive = folder / "package.tar"
    with archive.open("wb") as stream:
        subprocess.run(["git", "-C", str(REPOSITORY), "archive", reference, "mnist_tutorial"],
                       stdout=stream, check=True)
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.12, 3.11.4 and later
            tar.extractall(folder, filter="data")
        else:
            tar.extractall(folder)


def table(baseline: dict | None, current: dict | None) -> str:
    """Median and 90th percentile per widget for both versions, and the speed-up of the medians."""
    def has(report, name):
        return report is not None and name in report["widgets"]

    def cell(report, name, key, width=9):
        return f"{report['widgets'][name][key]:{width}.0f}" if has(report, name) \
            else f"{'-':>{width}}"

    # the sums cover the widgets that every measured version has, so that they compare
    common = [name for name in WIDGETS
              if all(has(report, name) for report in (baseline, current) if report)]

    def total(report):
        return sum(report["widgets"][name]["median_ms"] for name in common) if report else None

    lines = [f"{'widget':26} {'baseline median':>15} {'p90':>9} {'new median':>10} {'p90':>9} "
             f"{'speed-up':>8}"]
    for name in WIDGETS:
        ratio = ""
        if has(baseline, name) and has(current, name):
            speed_up = (baseline["widgets"][name]["median_ms"]
                        / current["widgets"][name]["median_ms"])
            ratio = f"{speed_up:7.1f}x"
        lines.append(f"{name:26} {cell(baseline, name, 'median_ms', 15)} "
                     f"{cell(baseline, name, 'p90_ms')} {cell(current, name, 'median_ms', 10)} "
                     f"{cell(current, name, 'p90_ms')} {ratio:>8}")
    old_sum, new_sum = total(baseline), total(current)
    ratio = f"{old_sum / new_sum:7.1f}x" if baseline and current else ""
    old_text = f"{old_sum:15.0f}" if baseline else f"{'-':>15}"
    new_text = f"{new_sum:10.0f}" if current else f"{'-':>10}"
    lines.append(f"{'sum of medians (shared)':26} {old_text} {'':9} {new_text} {'':9} {ratio:>8}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE,
                        help=f"git commit to compare with (default {DEFAULT_BASELINE})")
    parser.add_argument("--skip-baseline", action="store_true", help="measure only this tree")
    parser.add_argument("--skip-current", action="store_true", help="measure only the baseline")
    parser.add_argument("--repeats", type=int, default=20,
                        help="timed changes per widget and round (default 20)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="baseline and working tree are measured in turn this many times, "
                             "so that a change in the machine's load hits both (default 2)")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        print(json.dumps(measure(arguments.repeats)))
        return

    load = os.getloadavg()
    print(f"load average (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"on {os.cpu_count()} CPUs")
    if load[0] > 0.5:
        print("WARNING: the machine is busy (1-minute load above 0.5): the times will be high "
              "and noisy; measure again on a quiet machine for the record.")
    baseline_reports, current_reports = [], []
    with tempfile.TemporaryDirectory() as folder:
        if not arguments.skip_baseline:
            extract(arguments.baseline, Path(folder))
        for round_number in range(1, arguments.rounds + 1):
            if not arguments.skip_baseline:
                print(f"round {round_number}: measuring the baseline ({arguments.baseline}) ...",
                      flush=True)
                baseline_reports.append(run_child(Path(folder), arguments.repeats))
            if not arguments.skip_current:
                print(f"round {round_number}: measuring the working tree ...", flush=True)
                current_reports.append(run_child(REPOSITORY, arguments.repeats))
    changes = arguments.repeats * arguments.rounds
    print(f"\nmilliseconds from a control change to the new picture: median and 90th "
          f"percentile of {changes} changes per widget ({arguments.rounds} rounds of "
          f"{arguments.repeats})")
    print(table(summary(baseline_reports) if baseline_reports else None,
                summary(current_reports) if current_reports else None))


if __name__ == "__main__":
    main()
