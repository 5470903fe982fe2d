"""Padding and stride explorer: the window's path over the padded grid and how often it sees
each pixel (computed by :mod:`mnist_tutorial.padding`), with their figures."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from mnist_tutorial.checks import is_integer
from mnist_tutorial.ops import conv2d, conv_output_size
from mnist_tutorial.padding import coverage_counts, window_positions
from mnist_tutorial.plotting import NumberGrid
from mnist_tutorial.widgets.engine import InteractiveFigure, setting


class CoveragePanel:
    """A heat map of coverage counts, each count written in its cell, with a labelled colour bar.

    Made once on an axes; ``show`` draws new counts (of any size) into the same artists.
    """

    ANNOTATE_UP_TO = 14

    def __init__(self, ax: Axes, title: str) -> None:
        self.grid = NumberGrid(ax, "viridis", self.ANNOTATE_UP_TO, fmt=lambda value: f"{value:.0f}",
                               fontsize=8, labels=("input column", "input row"))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        self.colorbar = ax.figure.colorbar(self.grid.image, ax=ax, ticks=MaxNLocator(integer=True),
                                           label="times covered by the kernel")
        ax.set_title(title)

    @staticmethod
    def top(counts: torch.Tensor) -> int:
        """The top of the colour scale: the largest count (at least 1)."""
        return max(int(counts.max()), 1)

    def show(self, counts: torch.Tensor, vmax: int | None = None) -> None:
        self.grid.show(counts, 0, vmax or self.top(counts))


def plot_coverage(counts: torch.Tensor, title: str, ax: Axes | None = None,
                  vmax: int | None = None) -> Axes:
    """A heat map of coverage counts, each count written in its cell, and a labelled colour bar."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6), layout="constrained")
    CoveragePanel(ax, title).show(counts, vmax)
    return ax


class WindowPathPanel:
    """The padded grid, the centre of every window joined in visiting order, first and last window.

    Made once on an axes; ``show`` moves the same artists to new settings, and shows a red note
    instead of the path when the kernel does not fit.
    """

    def __init__(self, ax: Axes) -> None:
        self.ax = ax
        self.grid = ax.imshow(np.zeros((1, 1)), cmap="Blues", vmin=0, vmax=2.5)
        ax.grid(which="minor", color="grey", linewidth=0.5)
        ax.tick_params(which="minor", length=0)
        (self.path,) = ax.plot([], [], color="tab:orange", marker="o", markersize=4, linewidth=1,
                               label="window centres, in order")
        self.windows = [ax.add_patch(Rectangle((0, 0), 1, 1, fill=False, edgecolor="red",
                                               linewidth=2, linestyle=style, label=name))
                        for style, name in (("-", "first window"), ("--", "last window"))]
        handles = [self.path, *self.windows,
                   Patch(facecolor=plt.get_cmap("Blues")(0.4), label="input pixel"),
                   Patch(facecolor="white", edgecolor="grey", label="padding (zeros)")]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
        self.note = ax.text(0.5, 0.5, "the kernel does not fit:\nno window position",
                            ha="center", va="center", color="red", transform=ax.transAxes)
        ax.set_xlabel("column of the padded grid")
        ax.set_ylabel("row of the padded grid")
        self.full: int | None = None

    def show(self, size: int, kernel: int, padding: int = 0, stride: int = 1) -> None:
        full = size + 2 * padding
        if full != self.full:
            self.full = full
            is_input = np.zeros((full, full))
            is_input[padding:padding + size, padding:padding + size] = 1
            self.grid.set_data(is_input)
            self.grid.set_extent((-0.5, full - 0.5, full - 0.5, -0.5))
            self.ax.set_xlim(-0.5, full - 0.5)
            self.ax.set_ylim(full - 0.5, -0.5)
            self.ax.set_xticks(np.arange(-0.5, full), minor=True)
            self.ax.set_yticks(np.arange(-0.5, full), minor=True)
        try:
            side = conv_output_size(size, kernel, padding, stride)
        except ValueError:
            side = None
        for artist in (self.path, *self.windows):
            artist.set_visible(side is not None)
        self.note.set_visible(side is None)
        if side is None:
            self.ax.set_title("No window fits")
            return
        positions = window_positions(size, kernel, padding, stride)
        centre = (kernel - 1) / 2
        self.path.set_data([column + centre for _, column in positions],
                           [row + centre for row, _ in positions])
        for window, (row, column) in zip(self.windows, (positions[0], positions[-1])):
            window.set_bounds(column - 0.5, row - 0.5, kernel, kernel)
        self.ax.set_title(f"n={size}, k={kernel}, p={padding}, s={stride}: "
                          f"{side}x{side} windows")


def plot_window_path(size: int, kernel: int, padding: int = 0, stride: int = 1,
                     ax: Axes | None = None) -> Axes:
    """The padded grid, every window's centre joined in visiting order, first and last window."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4.2), layout="constrained")
    WindowPathPanel(ax).show(size, kernel, padding, stride)
    return ax


class PaddingStrideExplorer(InteractiveFigure):
    """Sliders for input size, kernel, padding and stride; the window's path, the output shape
    from the formula, and ``ops.conv2d`` checked against ``F.conv2d`` on a random input.

    Settings: ``size``, ``kernel``, ``padding``, ``stride`` (``explorer.set(stride=2)`` or
    ``explorer.stride = 2``); controls: a slider for each. The results are plain attributes:
    ``output_shape``, ``window_positions``, ``coverage``, ``hand_output``, ``torch_output``,
    ``max_abs_difference`` (all None or empty when the kernel does not fit) and ``message``. The
    shared API (``set``, ``plot``, ``widget``, ``controls``, ``png``) is described in
    :mod:`mnist_tutorial.widgets.engine`.
    """

    SETTINGS = ("size", "kernel", "padding", "stride")
    MINIMUM = {"size": 1, "kernel": 1, "padding": 0, "stride": 1}
    SLIDER_MAXIMUM = {"size": 12, "kernel": 7, "padding": 3, "stride": 4}
    FIGSIZE = (10.0, 4.2)

    size = setting("size", "The input's height and width.")
    kernel = setting("kernel", "The kernel's height and width.")
    padding = setting("padding", "Rows and columns of zeros added on every side.")
    stride = setting("stride", "How far the window moves in one step.")

    def __init__(self, size: int = 7, kernel: int = 3, padding: int = 0, stride: int = 1,
                 seed: int = 0) -> None:
        super().__init__()
        self.seed = seed
        self.set(size=size, kernel=kernel, padding=padding, stride=stride)

    def _apply(self, settings: dict) -> None:
        for name, value in settings.items():
            if not is_integer(value) or value < self.MINIMUM[name]:
                raise ValueError(f"{name} must be an integer >= {self.MINIMUM[name]}, "
                                 f"got {value!r}")
        self._settings.update({name: int(value) for name, value in settings.items()})
        self._compute()

    def _compute(self) -> None:
        size, kernel, padding, stride = (self._settings[name] for name in self.SETTINGS)
        self.input = torch.randn(1, 1, size, size,
                                 generator=torch.Generator().manual_seed(self.seed))
        self.weight = torch.randn(1, 1, kernel, kernel,
                                  generator=torch.Generator().manual_seed(self.seed + 1))
        try:
            side = conv_output_size(size, kernel, padding, stride)
        except ValueError as error:
            self.fits = False
            self.output_shape = None
            self.window_positions = []
            self.coverage = torch.zeros(size, size, dtype=torch.int64)
            self.hand_output = self.torch_output = self.max_abs_difference = None
            self.message = f"The kernel does not fit: {error}"
            return
        self.fits = True
        self.output_shape = (side, side)
        self.window_positions = window_positions(size, kernel, padding, stride)
        self.coverage = coverage_counts(size, kernel, padding, stride)
        self.hand_output = conv2d(self.input, self.weight, stride=stride, padding=padding)
        self.torch_output = F.conv2d(self.input, self.weight, stride=stride, padding=padding)
        self.max_abs_difference = (self.hand_output - self.torch_output).abs().max().item()
        self.message = (f"output size = floor(({size} + 2*{padding} - {kernel}) / {stride}) + 1 "
                        f"= {side}, so the output is {side}x{side} ({side * side} window "
                        f"positions); ops.conv2d vs F.conv2d: max abs difference "
                        f"{self.max_abs_difference:.1e}")

    # --- the figure: the window's path and the coverage -------------------------------------------
    def _build(self, figure: Figure) -> dict:
        path_axes, coverage_axes = figure.subplots(1, 2)
        return {"path": WindowPathPanel(path_axes),
                "coverage": CoveragePanel(coverage_axes, "Times each input pixel is covered"),
                "title": figure.suptitle(" ")}

    def _update(self, artists: dict) -> None:
        artists["path"].show(self.size, self.kernel, self.padding, self.stride)
        artists["coverage"].show(self.coverage)
        artists["title"].set_text(
            f"Output shape: {self.output_shape or 'none, the kernel does not fit'}")

    def _dynamic(self, artists: dict) -> list:
        path, coverage = artists["path"], artists["coverage"]
        return [path.path, *path.windows, path.note, path.ax.title, *coverage.grid.artists(),
                coverage.colorbar.ax, artists["title"]]

    def _background_key(self) -> tuple[int, int]:
        return self.size, self.padding  # the grids' sizes: limits, ticks, the input's square

    # --- the widget -------------------------------------------------------------------------------
    def _make_controls(self) -> dict[str, widgets.Widget]:
        controls = {}
        for name in self.SETTINGS:
            value = self._settings[name]
            controls[name] = widgets.IntSlider(value=value, min=self.MINIMUM[name],
                                               max=max(self.SLIDER_MAXIMUM[name], value),
                                               description=name, continuous_update=True)
        return self._watch(controls)

    def _arrange(self, controls: dict[str, widgets.Widget]) -> list[widgets.Widget]:
        return [widgets.HBox([controls["size"], controls["kernel"]]),
                widgets.HBox([controls["padding"], controls["stride"]])]

    def _show_controls(self) -> None:
        for name, slider in self._controls.items():
            slider.max = max(slider.max, self._settings[name])
            slider.value = self._settings[name]

    def _status_html(self) -> str:
        return f'<span style="color:{"black" if self.fits else "red"}">{self.message}</span>'
