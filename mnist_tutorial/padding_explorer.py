"""Padding and stride: where the kernel's window goes, how often it sees each pixel, and an explorer.

Positions are on the *padded* grid: an input of ``size`` x ``size`` pixels with ``padding`` rows
and columns of zeros added on every side. The window's top-left corner starts at (0, 0) and moves
``stride`` pixels to the right, then ``stride`` rows down, as long as the whole window fits.
"""

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

from mnist_tutorial.ops import conv2d, conv_output_size
from mnist_tutorial.plotting import figure_png


def window_positions(size: int, kernel: int, padding: int = 0,
                     stride: int = 1) -> list[tuple[int, int]]:
    """Top-left corners (row, column) of every window on the padded grid, in visiting order."""
    steps = conv_output_size(size, kernel, padding, stride)
    return [(row * stride, column * stride) for row in range(steps) for column in range(steps)]


def coverage_counts(size: int, kernel: int, padding: int = 0, stride: int = 1) -> torch.Tensor:
    """How many windows cover each input pixel: a (size, size) tensor of counts."""
    padded = torch.zeros(size + 2 * padding, size + 2 * padding, dtype=torch.int64)
    for row, column in window_positions(size, kernel, padding, stride):
        padded[row:row + kernel, column:column + kernel] += 1
    return padded[padding:padding + size, padding:padding + size]  # drop the padding


def plot_coverage(counts: torch.Tensor, title: str, ax: Axes | None = None,
                  vmax: int | None = None) -> Axes:
    """A heat map of coverage counts with each count written in its cell and a labelled colour bar."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6), layout="constrained")
    counts = counts.numpy()
    shown = ax.imshow(counts, cmap="viridis", vmin=0, vmax=vmax or max(int(counts.max()), 1))
    if counts.shape[0] <= 14:
        threshold = 0.6 * (vmax or counts.max())
        for (row, column), value in np.ndenumerate(counts):
            ax.text(column, row, str(value), ha="center", va="center", fontsize=8,
                    color="black" if value > threshold else "white")
    ax.figure.colorbar(shown, ax=ax, label="times covered by the kernel",
                       ticks=MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_xlabel("input column")
    ax.set_ylabel("input row")
    return ax


def plot_window_path(size: int, kernel: int, padding: int = 0, stride: int = 1,
                     ax: Axes | None = None) -> Axes:
    """The padded grid, the centre of every window joined in visiting order, first and last window."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4.2), layout="constrained")
    full = size + 2 * padding
    is_input = np.zeros((full, full))
    is_input[padding:padding + size, padding:padding + size] = 1
    ax.imshow(is_input, cmap="Blues", vmin=0, vmax=2.5)
    ax.set_xticks(np.arange(-0.5, full), minor=True)
    ax.set_yticks(np.arange(-0.5, full), minor=True)
    ax.grid(which="minor", color="grey", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    positions = window_positions(size, kernel, padding, stride)
    centre = (kernel - 1) / 2
    rows = [row + centre for row, _ in positions]
    columns = [column + centre for _, column in positions]
    ax.plot(columns, rows, color="tab:orange", marker="o", markersize=4, linewidth=1,
            label="window centres, in order")
    for (row, column), style, name in ((positions[0], "-", "first window"),
                                       (positions[-1], "--", "last window")):
        ax.add_patch(Rectangle((column - 0.5, row - 0.5), kernel, kernel, fill=False,
                               edgecolor="red", linewidth=2, linestyle=style, label=name))
    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(facecolor=plt.get_cmap("Blues")(0.4), label="input pixel"),
                Patch(facecolor="white", edgecolor="grey", label="padding (zeros)")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    side = conv_output_size(size, kernel, padding, stride)
    ax.set_title(f"n={size}, k={kernel}, p={padding}, s={stride}: {side}x{side} windows")
    ax.set_xlabel("column of the padded grid")
    ax.set_ylabel("row of the padded grid")
    return ax


def _setting(name: str) -> property:
    """A public attribute that reads the setting and writes it through ``set``."""
    return property(lambda self: self._values[name],
                    lambda self, value: self.set(**{name: value}),
                    doc=f"The {name} (setting it updates every result).")


class PaddingStrideExplorer:
    """Sliders for input size, kernel, padding and stride; the window's path, the output shape
    from the formula, and ``ops.conv2d`` checked against ``F.conv2d`` on a random input.

    Drive it from Python with ``explorer.set(stride=2)`` or ``explorer.stride = 2``; the results
    are plain attributes: ``output_shape``, ``window_positions``, ``coverage``, ``hand_output``,
    ``torch_output``, ``max_abs_difference`` (all None or empty when the kernel does not fit) and
    ``message``. ``widget`` is the interactive version for a notebook.
    """

    MINIMUM = {"size": 1, "kernel": 1, "padding": 0, "stride": 1}
    SLIDER_MAXIMUM = {"size": 12, "kernel": 7, "padding": 3, "stride": 4}

    size = _setting("size")
    kernel = _setting("kernel")
    padding = _setting("padding")
    stride = _setting("stride")

    def __init__(self, size: int = 7, kernel: int = 3, padding: int = 0, stride: int = 1,
                 seed: int = 0) -> None:
        self.seed = seed
        self._values: dict[str, int] = {}
        self._sliders: dict[str, widgets.IntSlider] = {}
        self._widget: widgets.VBox | None = None
        self._syncing = False
        self.set(size=size, kernel=kernel, padding=padding, stride=stride)

    def set(self, **values: int) -> None:
        """Change any of size, kernel, padding, stride and recompute everything."""
        for name, value in values.items():
            if name not in self.MINIMUM:
                raise ValueError(f"unknown setting {name!r}: choose from {list(self.MINIMUM)}")
            if isinstance(value, bool) or not isinstance(value, int) or value < self.MINIMUM[name]:
                raise ValueError(f"{name} must be an integer >= {self.MINIMUM[name]}, got {value!r}")
        self._values.update(values)
        self._compute()
        if self._widget is not None:
            self._refresh_widget()

    def _compute(self) -> None:
        size, kernel, padding, stride = (self._values[name] for name in self.MINIMUM)
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

    def draw(self, figure: Figure) -> None:
        """Draw the window path and the coverage heat map (or why nothing fits) on ``figure``."""
        path_axes, coverage_axes = figure.subplots(1, 2)
        if self.fits:
            plot_window_path(self.size, self.kernel, self.padding, self.stride, ax=path_axes)
        else:
            path_axes.text(0.5, 0.5, "the kernel does not fit:\nno window position",
                           ha="center", va="center", color="red")
            path_axes.set_title("No window fits")
            path_axes.set_xticks([])
            path_axes.set_yticks([])
        plot_coverage(self.coverage, "Times each input pixel is covered", ax=coverage_axes)
        figure.suptitle(f"Output shape: {self.output_shape or 'none, the kernel does not fit'}")

    def plot(self) -> Figure:
        """A pyplot figure of the current settings (for a static notebook output)."""
        figure = plt.figure(figsize=(10, 4.2), layout="constrained")
        self.draw(figure)
        return figure

    def png(self) -> bytes:
        """The current figure as PNG bytes (what the widget shows)."""
        figure = Figure(figsize=(10, 4.2), layout="constrained")
        self.draw(figure)
        return figure_png(figure)

    @property
    def sliders(self) -> dict[str, widgets.IntSlider]:
        """The four sliders by setting name (built with the widget)."""
        self.widget  # noqa: B018 - builds the widget on first use
        return self._sliders

    @property
    def widget(self) -> widgets.VBox:
        """The interactive explorer: four sliders, a summary line and the figure."""
        if self._widget is None:
            for name, value in self._values.items():
                slider = widgets.IntSlider(value=value, min=self.MINIMUM[name],
                                           max=max(self.SLIDER_MAXIMUM[name], value),
                                           description=name, continuous_update=False)
                slider.observe(self._on_slider, names="value")
                self._sliders[name] = slider
            self._summary = widgets.HTML()
            self._image = widgets.Image(format="png")
            self._widget = widgets.VBox([widgets.HBox(list(self._sliders.values())[:2]),
                                         widgets.HBox(list(self._sliders.values())[2:]),
                                         self._summary, self._image])
            self._refresh_widget()
        return self._widget

    def _on_slider(self, change: dict) -> None:
        if not self._syncing:
            self.set(**{change["owner"].description: change["new"]})

    def _refresh_widget(self) -> None:
        self._syncing = True
        for name, slider in self._sliders.items():
            slider.max = max(slider.max, self._values[name])
            slider.value = self._values[name]
        self._syncing = False
        colour = "black" if self.fits else "red"
        self._summary.value = f'<span style="color:{colour}">{self.message}</span>'
        self._image.value = self.png()
