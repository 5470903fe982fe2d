"""Pooling explorer: which window made each pooled number; and the figure of how much a map
changes when the digit moves (computed by :mod:`mnist_tutorial.pooling`)."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from mnist_tutorial.checks import is_integer
from mnist_tutorial.plotting import NumberGrid, as_image_tensor
from mnist_tutorial.pooling import POOLING_OPS
from mnist_tutorial.widgets.engine import InteractiveFigure, setting


def _map_grid(axes: Axes) -> NumberGrid:
    """A map with integer ticks and labelled axes; small maps get their numbers written."""
    grid = NumberGrid(axes, "viridis", annotate_up_to=8, fmt=lambda value: f"{value:.3g}",
                      fontsize=8)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    return grid


class PoolingExplorer(InteractiveFigure):
    """Max or average pooling of one image or feature map, and the window behind one output cell.

    Settings: ``kind`` ("max" or "avg"), ``size``, ``stride`` (None means "the window size",
    PyTorch's default), ``padding`` and ``cell`` (row, column) of the pooled map, e.g.
    ``explorer.set(kind="avg", size=3, stride=2, padding=1, cell=(2, 5))`` or
    ``explorer.size = 3``. Results: ``pooled`` (H', W'), ``output_shape``, ``window`` (top, left,
    bottom, right) of the chosen cell in input coordinates (may reach into the padding),
    ``window_values`` (the input pixels inside it) and ``cell_value``; when the settings do not
    work, ``pooled`` is None and ``message`` says why. Controls: ``kind``, ``size``, ``stride``,
    ``padding``, ``row``, ``column``. The shared API (``set``, ``plot``, ``widget``,
    ``controls``, ``png``) is described in :mod:`mnist_tutorial.widgets.engine`.
    """

    SETTINGS = ("kind", "size", "stride", "padding", "cell")
    MINIMUM = {"size": 1, "stride": 1, "padding": 0}
    SLIDER_MAXIMUM = {"size": 6, "stride": 6, "padding": 3}
    FIGSIZE = (10.0, 4.2)

    kind = setting("kind", "The kind of pooling: 'max' or 'avg'.")
    size = setting("size", "The window's height and width.")
    padding = setting("padding", "Rows and columns added on every side.")
    cell = setting("cell", "(row, column) of the pooled cell whose window is shown.")

    def __init__(self, image, kind: str = "max", size: int = 2, stride: int | None = None,
                 padding: int = 0, cell: tuple[int, int] = (0, 0)) -> None:
        super().__init__()
        self.image = as_image_tensor(image, "image")
        self.set(kind=kind, size=size, stride=stride, padding=padding, cell=cell)

    @property
    def stride(self) -> int:
        """The step between windows (the window size unless set); setting it goes through set."""
        stride = self._settings["stride"]
        return self._settings["size"] if stride is None else stride

    @stride.setter
    def stride(self, value: int | None) -> None:
        self.set(stride=value)

    def _apply(self, settings: dict) -> None:
        for name, value in settings.items():
            self._check(name, value)
        new = {**self._settings, **settings}
        if "cell" in new:
            new["cell"] = tuple(int(v) for v in new["cell"])
        for name in self.MINIMUM:
            if new.get(name) is not None:
                new[name] = int(new[name])
        results = self._compute(new, cell_given="cell" in settings)  # may refuse the cell
        self._settings = new
        self.__dict__.update(results)

    def _check(self, name: str, value) -> None:
        if name == "kind":
            if value not in POOLING_OPS:
                raise ValueError(f"kind must be one of {list(POOLING_OPS)}, got {value!r}")
        elif name == "cell":
            if (not isinstance(value, (tuple, list)) or len(value) != 2
                    or not all(is_integer(v) and v >= 0 for v in value)):
                raise ValueError(f"cell must be a pair (row, column) of integers >= 0, "
                                 f"got {value!r}")
        elif not (name == "stride" and value is None):
            if not is_integer(value) or value < self.MINIMUM[name]:
                raise ValueError(f"{name} must be an integer >= {self.MINIMUM[name]}, "
                                 f"got {value!r}")

    def _compute(self, values: dict, cell_given: bool) -> dict:
        """The results for ``values`` (the cell is clamped into the map unless given)."""
        kind, size, padding = values["kind"], values["size"], values["padding"]
        stride = size if values["stride"] is None else values["stride"]
        try:
            pooled = POOLING_OPS[kind](self.image[None, None], size, stride, padding)[0, 0]
        except ValueError as error:
            return {"pooled": None, "output_shape": None, "window": None, "window_values": None,
                    "cell_value": None, "message": f"These settings do not work: {error}"}
        output_shape = tuple(pooled.shape)
        row, column = values["cell"]
        if cell_given and not (row < output_shape[0] and column < output_shape[1]):
            raise ValueError(f"cell {values['cell']} is outside the pooled map of shape "
                             f"{output_shape}: rows and columns start at 0")
        row, column = min(row, output_shape[0] - 1), min(column, output_shape[1] - 1)
        values["cell"] = (row, column)
        top, left = row * stride - padding, column * stride - padding
        cell_value = pooled[row, column].item()
        rule = "largest" if kind == "max" else "mean (padding zeros included)"
        return {"pooled": pooled, "output_shape": output_shape,
                "window": (top, left, top + size, left + size),
                "window_values": self.image[max(top, 0):top + size, max(left, 0):left + size],
                "cell_value": cell_value,
                "message": (f"{kind} pooling, window {size}x{size}, stride {stride}, padding "
                            f"{padding}: {tuple(self.image.shape)} -> {output_shape}. Cell "
                            f"{(row, column)} is the {rule} of rows {top}..{top + size - 1}, "
                            f"columns {left}..{left + size - 1}: {cell_value:.3f}")}

    # --- the figure: the input with its window, the pooled map with its cell ---------------------
    def _build(self, figure: Figure) -> dict:
        input_axes, pooled_axes = figure.subplots(1, 2)
        image = _map_grid(input_axes)
        low, high = float(self.image.min()), float(self.image.max())
        image.show(self.image, low, high)
        figure.colorbar(image.image, ax=[input_axes, pooled_axes], label="value", shrink=0.8)
        window = input_axes.add_patch(Rectangle((0, 0), 1, 1, fill=False, edgecolor="red",
                                                linewidth=2.5))
        pooled = _map_grid(pooled_axes)
        cell = pooled_axes.add_patch(Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="red",
                                               linewidth=2.5))
        note = pooled_axes.text(0.5, 0.5, "no pooled map:\nsee the message", ha="center",
                                va="center", color="red", transform=pooled_axes.transAxes)
        return {"window": window, "pooled": pooled, "cell": cell, "note": note,
                "title": figure.suptitle(" ")}

    def _update(self, artists: dict) -> None:
        input_axes = artists["window"].axes
        height, width = self.image.shape
        pad = self.padding
        input_axes.set_xlim(-0.5 - pad, width - 0.5 + pad)
        input_axes.set_ylim(height - 0.5 + pad, -0.5 - pad)
        input_axes.set_title(f"Input {height}x{width}" + (f", padding {pad}" if pad else "")
                             + " and the chosen window")
        pooled, works = artists["pooled"], self.pooled is not None
        for artist in (artists["window"], artists["cell"]):
            artist.set_visible(works)
        artists["note"].set_visible(not works)
        if not works:
            pooled.hide()
            pooled.axes.set_title("Pooled map")
            artists["title"].set_text("These settings do not work")
            return
        top, left, _, _ = self.window
        artists["window"].set_bounds(left - 0.5, top - 0.5, self.size, self.size)
        pooled.show(self.pooled, float(self.image.min()), float(self.image.max()))
        row, column = self.cell
        artists["cell"].set_xy((column - 0.5, row - 0.5))
        pooled.axes.set_title(f"{self.kind} pooled {self.output_shape[0]}x"
                              f"{self.output_shape[1]}, cell {(row, column)} = "
                              f"{self.cell_value:.2f}")
        artists["title"].set_text(f"{self.kind} pooling: window {self.size}, stride "
                                  f"{self.stride}, padding {self.padding} (one colour scale "
                                  f"for both)")

    def _dynamic(self, artists: dict) -> list:
        # the pooled panel whole: a new window size changes its limits and ticks
        return [artists["window"], artists["pooled"].axes, artists["title"]]

    def _background_key(self) -> int:
        return self.padding  # the input panel's limits and title

    # --- the widget -------------------------------------------------------------------------------
    def _make_controls(self) -> dict[str, widgets.Widget]:
        controls = {"kind": widgets.ToggleButtons(options=list(POOLING_OPS), value=self.kind,
                                                  description="kind")}
        for name in ("size", "stride", "padding"):
            value = getattr(self, name)
            controls[name] = widgets.IntSlider(value=value, min=self.MINIMUM[name],
                                               max=max(self.SLIDER_MAXIMUM[name], value),
                                               description=name, continuous_update=True)
        for name, value in zip(("row", "column"), self.cell):
            controls[name] = widgets.IntSlider(value=value, min=0, max=value,
                                               description=f"cell {name}",
                                               continuous_update=True)
        return self._watch(controls)

    def _arrange(self, controls: dict[str, widgets.Widget]) -> list[widgets.Widget]:
        return [controls["kind"],
                widgets.HBox([controls[name] for name in ("size", "stride", "padding")]),
                widgets.HBox([controls["row"], controls["column"]])]

    def _show_controls(self) -> None:
        controls = self._controls
        controls["kind"].value = self.kind
        for name in ("size", "stride", "padding"):
            controls[name].max = max(controls[name].max, getattr(self, name))
            controls[name].value = getattr(self, name)
        if self.output_shape is not None:
            for name, value, count in zip(("row", "column"), self.cell, self.output_shape):
                controls[name].max = count - 1
                controls[name].value = value

    def _status_html(self) -> str:
        colour = "black" if self.pooled is not None else "red"
        return f'<span style="color:{colour}">{self.message}</span>'


def plot_shift_changes(shifts: list[int], changes: dict[str, list[float]],
                       ax: Axes | None = None) -> Axes:
    """Mean relative change against the shift in pixels, one line per kind of map."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    for label, values in changes.items():
        if len(values) != len(shifts):
            raise ValueError(f"{label!r} has {len(values)} values for {len(shifts)} shifts")
        ax.plot(shifts, values, marker="o", label=label)
    ax.axhline(np.sqrt(2), color="grey", linestyle=":",
               label="√2: as different as two maps that never overlap")
    ax.set_xticks(shifts)
    ax.set_title("How much a map changes when the digit moves right")
    ax.set_xlabel("shift to the right (pixels)")
    ax.set_ylabel("mean relative change ||after - before|| / ||before||")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return ax
