"""Two widgets for notebook 01: a sliding-window stepper and a kernel playground.

Each is a class with a plain Python API (set a value, read the numbers) and a ``.widget`` that
shows the same state with ipywidgets. The widgets use only APIs that ipywidgets 7.7 (Google Colab)
and 8 share. Figures are matplotlib figures sent as PNG to an ``ipywidgets.Image``: unlike an
``Output`` widget, an image needs no output capture, which nbconvert's executor (nbclient) can stall
on for the whole cell timeout.
"""

from __future__ import annotations

import math

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mnist_tutorial import ops
from mnist_tutorial.kernels import PRESETS, get_kernel
from mnist_tutorial.plotting import figure_png

ANNOTATE_UP_TO = 10  # write the numbers into a grid only when it is at most this many cells wide
CUSTOM = "custom"  # the playground's preset name for a kernel typed in by hand


def _matrix(values, name: str) -> torch.Tensor:
    """A 2-D float32 CPU tensor from a tensor, array or nested list; a ValueError otherwise."""
    tensor = torch.as_tensor(values).detach().to("cpu", torch.float32)
    if tensor.dim() != 2:
        raise ValueError(f"{name} must be 2-D (height, width), got shape {tuple(tensor.shape)}; "
                         f"for one MNIST digit of a batch (N, 1, 28, 28) use images[i, 0]")
    return tensor


def _number(value: float) -> str:
    """19.0 -> '19', -0.4242 -> '-0.42': short labels for numbers in grids and sums."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _draw(axes: Axes, values: torch.Tensor, title: str, cmap: str, vmin: float, vmax: float,
          annotate: bool) -> None:
    """One grid of numbers as an image, optionally with each number written in its cell."""
    array = values.numpy()
    colormap = plt.get_cmap(cmap).with_extremes(bad="white")  # NaN cells (not computed) blank
    axes.imshow(array, cmap=colormap, vmin=vmin, vmax=vmax)
    axes.set_title(title, fontsize=10)
    axes.set_xlabel("column")
    axes.set_ylabel("row")
    height, width = array.shape
    axes.set_xticks(range(width) if width <= ANNOTATE_UP_TO else [])
    axes.set_yticks(range(height) if height <= ANNOTATE_UP_TO else [])
    if not annotate:
        return
    middle = (vmin + vmax) / 2
    dark_on_light = cmap in ("coolwarm", "RdBu_r")  # diverging maps are light in the middle
    for (row, column), value in np.ndenumerate(array):
        if math.isnan(value):
            continue
        light = abs(value - middle) < (vmax - vmin) / 4 if dark_on_light else value > middle
        axes.text(column, row, _number(value), ha="center", va="center", fontsize=9,
                  color="black" if light else "white")


def _symmetric_limit(*tensors: torch.Tensor) -> float:
    """The largest absolute value (at least a tiny number), for colour scales centred on 0."""
    return max(max(float(t.abs().max()) for t in tensors), 1e-6)


def _png(figure: Figure) -> bytes:
    """The figure as PNG bytes; the figure is closed, so a notebook never shows it a second time."""
    png = figure_png(figure)
    plt.close(figure)
    return png


class SlidingWindowStepper:
    """Step a kernel across an image one window at a time: window, products, sum, output so far.

    ``step`` counts window positions in reading order (row by row, left to right), from 0 to
    ``n_steps - 1``. At step k the windows 0..k have been computed: ``partial_output`` holds their
    sums and NaN everywhere else, so the last step shows the whole convolution.
    """

    def __init__(self, image, kernel, stride: int = 1, padding: int = 0) -> None:
        self.image = _matrix(image, "image")
        self.kernel = _matrix(kernel, "kernel")
        self.stride, self.padding = stride, padding
        (height, width), (kh, kw) = self.image.shape, self.kernel.shape
        self.output_shape = (ops.conv_output_size(height, kh, padding, stride),
                             ops.conv_output_size(width, kw, padding, stride))
        self.padded = ops.pad2d(self.image, padding)
        self.n_steps = self.output_shape[0] * self.output_shape[1]
        # by hand, window after window: the numbers the stepper reveals one at a time
        self._sums = torch.tensor([float((self._window(k) * self.kernel).sum())
                                   for k in range(self.n_steps)])
        self._step = 0
        self._controls: dict[str, widgets.Widget] = {}
        self._widget: widgets.VBox | None = None

    def _origin(self, step: int) -> tuple[int, int]:
        row, column = divmod(step, self.output_shape[1])
        return row * self.stride, column * self.stride

    def _window(self, step: int) -> torch.Tensor:
        top, left = self._origin(step)
        return self.padded[top:top + self.kernel.shape[0], left:left + self.kernel.shape[1]]

    @property
    def step(self) -> int:
        """Which window is current (0 .. n_steps - 1); setting it updates the widget."""
        return self._step

    @step.setter
    def step(self, value: int) -> None:
        if not 0 <= int(value) < self.n_steps:
            raise ValueError(f"step must be between 0 and {self.n_steps - 1} "
                             f"(there are {self.n_steps} window positions), got {value}")
        self._step = int(value)
        if self._widget is not None:
            self._controls["slider"].value = self._step  # its observer redraws
            self._render()

    @property
    def position(self) -> tuple[int, int]:
        """(row, column) of the output cell the current window computes."""
        return divmod(self._step, self.output_shape[1])

    @property
    def window_origin(self) -> tuple[int, int]:
        """(row, column) of the current window's top-left corner in the padded image."""
        return self._origin(self._step)

    @property
    def current_window(self) -> torch.Tensor:
        """The part of the (padded) image under the kernel now."""
        return self._window(self._step).clone()

    @property
    def products(self) -> torch.Tensor:
        """Window times kernel, element by element."""
        return self.current_window * self.kernel

    @property
    def value(self) -> float:
        """The sum of the products: the output number of this step."""
        return float(self._sums[self._step])

    @property
    def partial_output(self) -> torch.Tensor:
        """The output so far: window sums up to this step, NaN where not computed yet."""
        output = torch.full((self.n_steps,), float("nan"))
        output[:self._step + 1] = self._sums[:self._step + 1]
        return output.reshape(self.output_shape)

    def describe_step(self) -> str:
        """One line of text: which output cell, every product, and the sum."""
        row, column = self.position
        pairs = zip(self.current_window.flatten().tolist(), self.kernel.flatten().tolist())
        terms = " + ".join(f"{_number(x)}×{_number(w)}" for x, w in pairs)
        return (f"step {self._step + 1} of {self.n_steps}: output[{row}, {column}] = {terms} "
                f"= {_number(self.value)}")

    def figure(self) -> Figure:
        """Four panels: (padded) input with the window, kernel, products and their sum, output."""
        figure, axes = plt.subplots(1, 4, figsize=(14, 4.3), layout="constrained")
        small = max(self.padded.shape) <= ANNOTATE_UP_TO
        title = f"input (padding {self.padding})" if self.padding else "input"
        _draw(axes[0], self.padded, title, "gray", float(self.padded.min()),
              float(self.padded.max()), small)
        top, left = self.window_origin
        kh, kw = self.kernel.shape
        axes[0].add_patch(Rectangle((left - 0.5, top - 0.5), kw, kh, fill=False, edgecolor="red",
                                    linewidth=2.5))
        if self.padding:
            height, width = self.image.shape
            axes[0].add_patch(Rectangle((self.padding - 0.5, self.padding - 0.5), width, height,
                                        fill=False, edgecolor="orange", linestyle="--"))
        limit = _symmetric_limit(self.kernel)
        _draw(axes[1], self.kernel, "kernel", "coolwarm", -limit, limit, True)
        limit = _symmetric_limit(self.products)
        _draw(axes[2], self.products, f"window × kernel, sum = {_number(self.value)}", "coolwarm",
              -limit, limit, True)
        low, high = float(self._sums.min()), float(self._sums.max())
        _draw(axes[3], self.partial_output, f"output {self.output_shape[0]}×{self.output_shape[1]}"
              " so far", "viridis", low, high if high > low else low + 1,
              max(self.output_shape) <= ANNOTATE_UP_TO)
        row, column = self.position
        axes[3].add_patch(Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red",
                                    linewidth=2.5))
        figure.suptitle(f"Sliding window, step {self._step + 1} of {self.n_steps}: "
                        f"output[{row}, {column}] = {_number(self.value)}")
        return figure

    def _render(self) -> None:
        self._controls["text"].value = f"<code>{self.describe_step()}</code>"
        self._controls["image"].value = _png(self.figure())

    def _on_slider(self, change: dict) -> None:
        if change["new"] != self._step:
            self._step = change["new"]
            self._render()

    @property
    def widget(self) -> widgets.VBox:
        """Back/next buttons, a play button and a slider over the steps, the sum, the figure."""
        if self._widget is None:
            last = self.n_steps - 1
            slider = widgets.IntSlider(value=self._step, min=0, max=last, description="step",
                                       continuous_update=False)
            play = widgets.Play(value=self._step, min=0, max=last, interval=700,
                                description="play")
            widgets.jslink((play, "value"), (slider, "value"))
            back = widgets.Button(description="◀ back", layout=widgets.Layout(width="90px"))
            forward = widgets.Button(description="next ▶", layout=widgets.Layout(width="90px"))
            back.on_click(lambda _: setattr(self, "step", max(self._step - 1, 0)))
            forward.on_click(lambda _: setattr(self, "step", min(self._step + 1, last)))
            slider.observe(self._on_slider, names="value")
            self._controls = {"slider": slider, "play": play, "back": back, "forward": forward,
                              "text": widgets.HTML(), "image": widgets.Image(format="png")}
            self._widget = widgets.VBox([widgets.HBox([back, forward, play, slider]),
                                         self._controls["text"], self._controls["image"]])
            self._render()
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


class KernelPlayground:
    """Pick a digit and a 3x3 kernel (a preset or nine numbers of your own); see its feature map."""

    def __init__(self, images, labels=None, index: int = 0, preset: str = "identity",
                 padding: int = 0) -> None:
        images = torch.as_tensor(images).detach().to("cpu", torch.float32)
        if images.dim() == 4 and images.shape[1] == 1:
            images = images[:, 0]
        if images.dim() != 3 or len(images) == 0:
            raise ValueError(f"images must be a non-empty batch (N, 1, H, W) or (N, H, W), "
                             f"got shape {tuple(images.shape)}")
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"got {len(labels)} labels for {len(images)} images: give one per "
                             f"image, or none")
        ops.conv_output_size(min(images.shape[-2:]), 3, padding)  # checks padding
        self.images, self.labels, self.padding = images, labels, padding
        self._index, self._kernel, self._preset = 0, get_kernel(preset), preset
        self._controls: dict[str, widgets.Widget] = {}
        self._widget: widgets.VBox | None = None
        self._syncing = False
        self.set_index(index)

    @property
    def index(self) -> int:
        """Which digit of ``images`` is shown."""
        return self._index

    @property
    def preset(self) -> str:
        """The preset's name, or ``"custom"`` when the kernel is none of them."""
        return self._preset

    @property
    def kernel(self) -> torch.Tensor:
        """The 3x3 kernel now (a copy)."""
        return self._kernel.clone()

    @property
    def image(self) -> torch.Tensor:
        """The digit now, (H, W)."""
        return self.images[self._index]

    @property
    def feature_map(self) -> torch.Tensor:
        """The kernel slid over the digit: ``ops.conv2d`` of the image and kernel, (H', W')."""
        return ops.conv2d(self.image[None, None], self._kernel[None, None],
                          padding=self.padding)[0, 0]

    def set_preset(self, name: str) -> None:
        """Use the preset kernel called ``name`` (one of ``kernels.PRESETS``)."""
        self._kernel, self._preset = get_kernel(name), name
        self._update()

    def set_kernel(self, kernel) -> None:
        """Use your own 3x3 kernel (a tensor, array or nested list)."""
        kernel = _matrix(kernel, "kernel")
        if kernel.shape != (3, 3):
            raise ValueError(f"the playground's kernel is 3x3, got shape {tuple(kernel.shape)}")
        self._kernel = kernel.clone()
        self._preset = next((name for name, preset in PRESETS.items()
                             if torch.equal(preset, kernel)), CUSTOM)
        self._update()

    def set_index(self, index: int) -> None:
        """Show digit number ``index`` of ``images``."""
        if not 0 <= int(index) < len(self.images):
            raise ValueError(f"index must be between 0 and {len(self.images) - 1}, got {index}")
        self._index = int(index)
        self._update()

    def figure(self) -> Figure:
        """Three panels: the digit, the kernel with its numbers, the feature map."""
        figure, axes = plt.subplots(1, 3, figsize=(12, 3.9), layout="constrained",
                                    gridspec_kw={"width_ratios": [1, 0.8, 1.25]})
        label = "" if self.labels is None else f" (label {int(self.labels[self._index])})"
        _draw(axes[0], self.image, f"digit #{self._index}{label}", "gray",
              float(self.image.min()), float(self.image.max()), False)
        limit = _symmetric_limit(self._kernel)
        _draw(axes[1], self._kernel, f"kernel: {self._preset}", "coolwarm", -limit, limit, True)
        feature_map = self.feature_map
        limit = _symmetric_limit(feature_map)
        shown = axes[2].imshow(feature_map.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
        height, width = feature_map.shape
        axes[2].set_title(f"feature map ({height}×{width})", fontsize=10)
        axes[2].set_xlabel("column")
        axes[2].set_ylabel("row")
        axes[2].set_xticks([])
        axes[2].set_yticks([])
        figure.colorbar(shown, ax=axes[2], label="sum of window × kernel")
        figure.suptitle(f"Kernel playground: {self._preset} on digit #{self._index}")
        return figure

    def _update(self) -> None:
        """Copy the state into the controls (without triggering them) and redraw."""
        if self._widget is None:
            return
        self._syncing = True
        try:
            self._controls["preset"].value = self._preset
            self._controls["index"].value = self._index
            for box, value in zip(self._controls["boxes"], self._kernel.flatten().tolist()):
                box.value = value
        finally:
            self._syncing = False
        self._controls["image"].value = _png(self.figure())

    def _on_preset(self, change: dict) -> None:
        if not self._syncing and change["new"] != CUSTOM:
            self.set_preset(change["new"])

    def _on_box(self, change: dict) -> None:
        if not self._syncing:
            self.set_kernel(torch.tensor([box.value for box in self._controls["boxes"]]).view(3, 3))

    def _on_index(self, change: dict) -> None:
        if not self._syncing:
            self.set_index(change["new"])

    @property
    def widget(self) -> widgets.VBox:
        """A preset menu, nine number boxes (the kernel), a digit slider and the figure."""
        if self._widget is None:
            preset = widgets.Dropdown(options=[*PRESETS, CUSTOM], value=self._preset,
                                      description="preset")
            index = widgets.IntSlider(value=self._index, min=0, max=len(self.images) - 1,
                                      description="digit", continuous_update=False)
            boxes = [widgets.FloatText(value=value, step=0.1, layout=widgets.Layout(width="70px"))
                     for value in self._kernel.flatten().tolist()]
            preset.observe(self._on_preset, names="value")
            index.observe(self._on_index, names="value")
            for box in boxes:
                box.observe(self._on_box, names="value")
            grid = widgets.VBox([widgets.HBox(boxes[row * 3:row * 3 + 3]) for row in range(3)])
            self._controls = {"preset": preset, "index": index, "boxes": boxes,
                              "image": widgets.Image(format="png")}
            self._widget = widgets.VBox([
                widgets.HBox([preset, index]),
                widgets.HTML("kernel (type numbers, press Enter):"), grid,
                self._controls["image"]])
            self._update()
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
