"""Pooling: an explorer that shows which window made each pooled number, and how much pooling
changes when a digit moves by a pixel or two.

Shifts move the content of an image ``(down, right)`` whole pixels; pixels moved in from outside
get the background value of normalised MNIST (``augmentation.background()``).
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from mnist_tutorial.augmentation import background, translate
from mnist_tutorial.ops import avg_pool2d, conv2d, max_pool2d
from mnist_tutorial.plotting import figure_png

POOLING = {"max": max_pool2d, "avg": avg_pool2d}


def feature_map(images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """ReLU of the convolution of images (N, 1, H, W) with one 2-D kernel: (N, 1, H', W')."""
    if kernel.dim() != 2:
        raise ValueError(f"kernel must be one 2-D matrix (kH, kW), got shape {tuple(kernel.shape)}")
    return torch.relu(conv2d(images, kernel[None, None]))


def relative_change(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Per image: ``||after - before|| / ||before||`` (0 = unchanged, 1 = a change as big as the map)."""
    if before.shape != after.shape:
        raise ValueError(f"before and after must have the same shape, got {tuple(before.shape)} "
                         f"and {tuple(after.shape)}")
    size = before.flatten(1).norm(dim=1)
    if (size == 0).any():
        raise ValueError(f"the 'before' map of image {int((size == 0).nonzero()[0])} is all zeros: "
                         f"a change relative to nothing is undefined")
    return (after - before).flatten(1).norm(dim=1) / size


def shift_change(images: torch.Tensor, kernel: torch.Tensor, shift: tuple[int, int],
                 kind: str | None = None, size: int = 2, stride: int | None = None,
                 fill: float = background()) -> float:
    """Mean relative change of the feature map (pooled with ``kind`` unless None) when every
    image moves by ``shift = (down, right)`` pixels."""
    if kind is not None and kind not in POOLING:
        raise ValueError(f"kind must be None (no pooling) or one of {list(POOLING)}, got {kind!r}")
    shifts = torch.tensor([shift] * len(images))

    def response(x: torch.Tensor) -> torch.Tensor:
        maps = feature_map(x, kernel)
        return maps if kind is None else POOLING[kind](maps, size, stride)

    return relative_change(response(images), response(translate(images, shifts, fill))).mean().item()


def _as_image(image) -> torch.Tensor:
    """A float (H, W) tensor from (H, W), (1, H, W) or (1, 1, H, W)."""
    image = torch.as_tensor(image).detach().to("cpu", torch.float32)
    while image.dim() > 2 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 2:
        raise ValueError(f"image must be one 2-D map (H, W), (1, H, W) or (1, 1, H, W), "
                         f"got shape {tuple(image.shape)}")
    return image


def _show_map(axes: Axes, values: torch.Tensor, low: float, high: float) -> AxesImage:
    """Draw a 2-D map with integer ticks and labelled axes; small maps get their numbers written."""
    shown = axes.imshow(values.numpy(), cmap="viridis", vmin=low, vmax=high)
    if max(values.shape) <= 8:
        for (row, column), value in np.ndenumerate(values.numpy()):
            axes.text(column, row, f"{value:.3g}", ha="center", va="center", fontsize=8,
                      color="black" if value > (low + high) / 2 else "white")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("column")
    axes.set_ylabel("row")
    return shown


def _setting(name: str) -> property:
    """A public attribute that reads the setting and writes it through ``set``."""
    return property(lambda self: self._values[name],
                    lambda self, value: self.set(**{name: value}),
                    doc=f"The {name} (setting it updates every result).")


class PoolingExplorer:
    """Max or average pooling of one image or feature map, and the window behind one output cell.

    Drive it with ``explorer.set(kind="avg", size=3, stride=2, padding=1, cell=(2, 5))`` or by
    assigning the same attributes. ``stride=None`` means "the window size" (PyTorch's default).
    Results: ``pooled`` (H', W'), ``output_shape``, ``window`` (top, left, bottom, right) of the
    chosen cell in input coordinates (may reach into the padding), ``window_values`` (the input
    pixels inside it) and ``cell_value``; when the settings do not work, ``pooled`` is None and
    ``message`` says why. ``widget`` is the interactive version.
    """

    MINIMUM = {"size": 1, "stride": 1, "padding": 0}
    SLIDER_MAXIMUM = {"size": 6, "stride": 6, "padding": 3}

    kind = _setting("kind")
    size = _setting("size")
    padding = _setting("padding")
    cell = _setting("cell")

    def __init__(self, image, kind: str = "max", size: int = 2, stride: int | None = None,
                 padding: int = 0, cell: tuple[int, int] = (0, 0)) -> None:
        self.image = _as_image(image)
        self._values: dict = {}
        self._controls: dict[str, widgets.Widget] = {}
        self._widget: widgets.VBox | None = None
        self._syncing = False
        self.set(kind=kind, size=size, stride=stride, padding=padding, cell=cell)

    @property
    def stride(self) -> int:
        """The step between windows (the window size unless set)."""
        return self._values["size"] if self._values["stride"] is None else self._values["stride"]

    @stride.setter
    def stride(self, value: int | None) -> None:
        self.set(stride=value)

    def set(self, **values) -> None:
        """Change any of kind, size, stride, padding, cell and recompute everything."""
        for name, value in values.items():
            self._check(name, value)
        cell_given = "cell" in values
        self._values.update(values)
        self._compute(cell_given)
        if self._widget is not None:
            self._refresh_widget()

    def _check(self, name: str, value) -> None:
        if name == "kind":
            if value not in POOLING:
                raise ValueError(f"kind must be one of {list(POOLING)}, got {value!r}")
        elif name == "cell":
            if (not isinstance(value, (tuple, list)) or len(value) != 2
                    or not all(isinstance(v, int) and v >= 0 for v in value)):
                raise ValueError(f"cell must be a pair (row, column) of integers >= 0, got {value!r}")
        elif name in self.MINIMUM:
            if name == "stride" and value is None:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < self.MINIMUM[name]:
                raise ValueError(f"{name} must be an integer >= {self.MINIMUM[name]}, got {value!r}")
        else:
            raise ValueError(f"unknown setting {name!r}: choose from "
                             f"{['kind', 'size', 'stride', 'padding', 'cell']}")

    def _compute(self, cell_given: bool) -> None:
        try:
            pooled = POOLING[self.kind](self.image[None, None], self.size, self.stride, self.padding)
        except ValueError as error:
            self.pooled = self.output_shape = self.window = self.window_values = None
            self.cell_value = None
            self.message = f"These settings do not work: {error}"
            return
        self.pooled = pooled[0, 0]
        self.output_shape = tuple(self.pooled.shape)
        row, column = self._values["cell"]
        if cell_given and not (row < self.output_shape[0] and column < self.output_shape[1]):
            raise ValueError(f"cell {self._values['cell']} is outside the pooled map of shape "
                             f"{self.output_shape}: rows and columns start at 0")
        row, column = min(row, self.output_shape[0] - 1), min(column, self.output_shape[1] - 1)
        self._values["cell"] = (row, column)
        top, left = row * self.stride - self.padding, column * self.stride - self.padding
        self.window = (top, left, top + self.size, left + self.size)
        self.window_values = self.image[max(top, 0):top + self.size, max(left, 0):left + self.size]
        self.cell_value = self.pooled[row, column].item()
        rule = "largest" if self.kind == "max" else "mean (padding zeros included)"
        self.message = (f"{self.kind} pooling, window {self.size}x{self.size}, stride "
                        f"{self.stride}, padding {self.padding}: {tuple(self.image.shape)} -> "
                        f"{self.output_shape}. Cell {(row, column)} is the {rule} of rows "
                        f"{top}..{top + self.size - 1}, columns {left}..{left + self.size - 1}: "
                        f"{self.cell_value:.3f}")

    def draw(self, figure: Figure) -> None:
        """The input with the chosen window, and the pooled map with the chosen cell."""
        input_axes, pooled_axes = figure.subplots(1, 2)
        low, high = float(self.image.min()), float(self.image.max())
        shown = _show_map(input_axes, self.image, low, high)
        height, width = self.image.shape
        pad = self.padding
        input_axes.set_xlim(-0.5 - pad, width - 0.5 + pad)
        input_axes.set_ylim(height - 0.5 + pad, -0.5 - pad)
        input_axes.set_title(f"Input {height}x{width}" + (f", padding {pad}" if pad else "")
                             + " and the chosen window")
        figure.colorbar(shown, ax=[input_axes, pooled_axes], label="value", shrink=0.8)
        if self.pooled is None:
            pooled_axes.text(0.5, 0.5, "no pooled map:\nsee the message", ha="center",
                             va="center", color="red")
            pooled_axes.set_xticks([])
            pooled_axes.set_yticks([])
            pooled_axes.set_title("Pooled map")
            figure.suptitle("These settings do not work")
            return
        top, left, _, _ = self.window
        input_axes.add_patch(Rectangle((left - 0.5, top - 0.5), self.size, self.size,
                                       fill=False, edgecolor="red", linewidth=2.5))
        _show_map(pooled_axes, self.pooled, low, high)
        row, column = self.cell
        pooled_axes.add_patch(Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False,
                                        edgecolor="red", linewidth=2.5))
        pooled_axes.set_title(f"{self.kind} pooled {self.output_shape[0]}x{self.output_shape[1]}"
                              f", cell {(row, column)} = {self.cell_value:.2f}")
        figure.suptitle(f"{self.kind} pooling: window {self.size}, stride {self.stride}, "
                        f"padding {self.padding} (one colour scale for both)")

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
    def controls(self) -> dict[str, widgets.Widget]:
        """The widget's controls by name: kind, size, stride, padding, row, column."""
        if self._widget is None:
            self.widget  # noqa: B018 - builds the widget and its controls
        return self._controls

    @property
    def widget(self) -> widgets.VBox:
        """The interactive explorer: pooling type, window, stride, padding, output cell, figure."""
        if self._widget is None:
            controls = {"kind": widgets.ToggleButtons(options=list(POOLING), value=self.kind,
                                                      description="kind")}
            for name in ("size", "stride", "padding"):
                value = getattr(self, name)
                controls[name] = widgets.IntSlider(value=value, min=self.MINIMUM[name],
                                                   max=max(self.SLIDER_MAXIMUM[name], value),
                                                   description=name, continuous_update=False)
            for name, value in zip(("row", "column"), self.cell):
                controls[name] = widgets.IntSlider(value=value, min=0, max=value,
                                                   description=f"cell {name}",
                                                   continuous_update=False)
            for name, control in controls.items():
                control.observe(lambda change, name=name: self._on_control(name, change["new"]),
                                names="value")
            self._controls = controls
            self._summary = widgets.HTML()
            self._image = widgets.Image(format="png")
            self._widget = widgets.VBox([controls["kind"],
                                         widgets.HBox([controls[n] for n in ("size", "stride",
                                                                            "padding")]),
                                         widgets.HBox([controls["row"], controls["column"]]),
                                         self._summary, self._image])
            self._refresh_widget()
        return self._widget

    def _on_control(self, name: str, value) -> None:
        if self._syncing:
            return
        if name in ("row", "column"):
            row, column = self.cell
            self.set(cell=(value, column) if name == "row" else (row, value))
        else:
            self.set(**{name: value})

    def _refresh_widget(self) -> None:
        self._syncing = True
        controls = self._controls
        controls["kind"].value = self.kind
        for name in ("size", "stride", "padding"):
            controls[name].max = max(controls[name].max, getattr(self, name))
            controls[name].value = getattr(self, name)
        if self.output_shape is not None:
            for name, value, count in zip(("row", "column"), self.cell, self.output_shape):
                controls[name].max = count - 1
                controls[name].value = value
        self._syncing = False
        colour = "black" if self.pooled is not None else "red"
        self._summary.value = f'<span style="color:{colour}">{self.message}</span>'
        self._image.value = self.png()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def plot_shift_changes(shifts: list[int], changes: dict[str, list[float]],
                       ax: Axes | None = None) -> Axes:
    """Mean relative change against the shift in pixels, one line per kind of map."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    for label, values in changes.items():
        if len(values) != len(shifts):
            raise ValueError(f"{label!r} has {len(values)} values for {len(shifts)} shifts")
        ax.plot(shifts, values, marker="o", label=label)
    ax.axhline(np.sqrt(2), color="grey", linestyle=":", label="√2: as different as two maps that never overlap")
    ax.set_xticks(shifts)
    ax.set_title("How much a map changes when the digit moves right")
    ax.set_xlabel("shift to the right (pixels)")
    ax.set_ylabel("mean relative change ||after - before|| / ||before||")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return ax
