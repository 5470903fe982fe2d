"""Two widgets for notebook 01: a sliding-window stepper and a kernel playground.

Both follow the API shared by every widget of the course (``set``, ``plot``, ``widget``,
``controls``, ``png``), described once in :mod:`mnist_tutorial.widgets.engine`.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mnist_tutorial import ops
from mnist_tutorial.checks import is_integer
from mnist_tutorial.kernels import PRESETS, get_kernel
from mnist_tutorial.plotting import NumberGrid, as_image_tensor, shared_limit, short_number
from mnist_tutorial.widgets.engine import InteractiveFigure, setting

ANNOTATE_UP_TO = 10  # write the numbers into a grid only when it is at most this many cells wide
CUSTOM = "custom"  # the playground's preset name for a kernel typed in by hand


class SlidingWindowStepper(InteractiveFigure):
    """Step a kernel across an image one window at a time: window, products, sum, output so far.

    ``step`` counts window positions in reading order (row by row, left to right), from 0 to
    ``n_steps - 1``. At step k the windows 0..k have been computed: ``partial_output`` holds their
    sums and NaN everywhere else, so the last step shows the whole convolution.

    Settings: ``step`` (``stepper.set(step=3)`` or ``stepper.step = 3``). Controls: ``step`` (a
    slider), ``play``, ``back``, ``next``. The shared API (``set``, ``plot``, ``widget``,
    ``controls``, ``png``) is described in :mod:`mnist_tutorial.widgets.engine`.
    """

    SETTINGS = ("step",)
    FIGSIZE = (14.0, 4.3)

    def __init__(self, image, kernel, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.image = as_image_tensor(image, "image")
        self.kernel = as_image_tensor(kernel, "kernel")
        self.stride, self.padding = stride, padding
        (height, width), (kh, kw) = self.image.shape, self.kernel.shape
        self.output_shape = (ops.conv_output_size(height, kh, padding, stride),
                             ops.conv_output_size(width, kw, padding, stride))
        self.padded = ops.pad2d(self.image, padding)
        self.n_steps = self.output_shape[0] * self.output_shape[1]
        # by hand, window after window: the numbers the stepper reveals one at a time
        self._sums = torch.tensor([float((self._window(k) * self.kernel).sum())
                                   for k in range(self.n_steps)])
        self.set(step=0)

    step = setting("step", "Which window is current (0 .. n_steps - 1).")

    def _apply(self, settings: dict) -> None:
        value = settings["step"]
        if not is_integer(value) or not 0 <= value < self.n_steps:
            raise ValueError(f"step must be between 0 and {self.n_steps - 1} "
                             f"(there are {self.n_steps} window positions), got {value!r}")
        self._settings["step"] = int(value)

    def _origin(self, step: int) -> tuple[int, int]:
        row, column = divmod(step, self.output_shape[1])
        return row * self.stride, column * self.stride

    def _window(self, step: int) -> torch.Tensor:
        top, left = self._origin(step)
        return self.padded[top:top + self.kernel.shape[0], left:left + self.kernel.shape[1]]

    @property
    def position(self) -> tuple[int, int]:
        """(row, column) of the output cell the current window computes."""
        return divmod(self.step, self.output_shape[1])

    @property
    def window_origin(self) -> tuple[int, int]:
        """(row, column) of the current window's top-left corner in the padded image."""
        return self._origin(self.step)

    @property
    def current_window(self) -> torch.Tensor:
        """The part of the (padded) image under the kernel now."""
        return self._window(self.step).clone()

    @property
    def products(self) -> torch.Tensor:
        """Window times kernel, element by element."""
        return self.current_window * self.kernel

    @property
    def value(self) -> float:
        """The sum of the products: the output number of this step."""
        return float(self._sums[self.step])

    @property
    def partial_output(self) -> torch.Tensor:
        """The output so far: window sums up to this step, NaN where not computed yet."""
        output = torch.full((self.n_steps,), float("nan"))
        output[:self.step + 1] = self._sums[:self.step + 1]
        return output.reshape(self.output_shape)

    def describe_step(self) -> str:
        """One line of text: which output cell, every product, and the sum."""
        row, column = self.position
        pairs = zip(self.current_window.flatten().tolist(), self.kernel.flatten().tolist())
        terms = " + ".join(f"{short_number(x)}×{short_number(w)}" for x, w in pairs)
        return (f"step {self.step + 1} of {self.n_steps}: output[{row}, {column}] = {terms} "
                f"= {short_number(self.value)}")

    # --- the figure: four panels; a step changes the window, the products and the output ------
    def _build(self, figure: Figure) -> dict:
        axes = figure.subplots(1, 4)
        padded = NumberGrid(axes[0], "gray", ANNOTATE_UP_TO, ANNOTATE_UP_TO)
        padded.show(self.padded, float(self.padded.min()), float(self.padded.max()))
        axes[0].set_title(f"input (padding {self.padding})" if self.padding else "input",
                          fontsize=10)
        kh, kw = self.kernel.shape
        window = axes[0].add_patch(Rectangle((-0.5, -0.5), kw, kh, fill=False,
                                             edgecolor="red", linewidth=2.5))
        if self.padding:
            height, width = self.image.shape
            axes[0].add_patch(Rectangle((self.padding - 0.5, self.padding - 0.5), width, height,
                                        fill=False, edgecolor="orange", linestyle="--"))
        kernel = NumberGrid(axes[1], "coolwarm", ANNOTATE_UP_TO, ANNOTATE_UP_TO)
        limit = shared_limit(self.kernel)
        kernel.show(self.kernel, -limit, limit, annotate=True)
        axes[1].set_title("kernel", fontsize=10)
        # the whole output with its numbers, and over it a white veil on the cells not computed
        # yet: a step only changes the veil, not the numbers
        output = NumberGrid(axes[3], "viridis", ANNOTATE_UP_TO, ANNOTATE_UP_TO)
        output.show(self._sums.reshape(self.output_shape), float(self._sums.min()),
                    float(self._sums.max()))
        height, width = self.output_shape
        veil = axes[3].imshow(np.ones((height, width, 4)), interpolation="nearest", zorder=3.5,
                              extent=(-0.5, width - 0.5, height - 0.5, -0.5))
        axes[3].set_title(f"output {height}×{width} so far", fontsize=10)
        cell = axes[3].add_patch(Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="red",
                                           linewidth=2.5, zorder=4))
        products = NumberGrid(axes[2], "coolwarm", ANNOTATE_UP_TO, ANNOTATE_UP_TO)
        return {"window": window, "products": products, "output": output, "veil": veil,
                "cell": cell, "title": figure.suptitle(" ")}

    def _update(self, artists: dict) -> None:
        top, left = self.window_origin
        artists["window"].set_xy((left - 0.5, top - 0.5))
        products = self.products
        limit = shared_limit(products)
        artists["products"].show(products, -limit, limit, annotate=True)
        artists["products"].axes.set_title(f"window × kernel, sum = {short_number(self.value)}",
                                           fontsize=10)
        veil = np.ones((self.n_steps, 4))  # white...
        veil[:self.step + 1, 3] = 0  # ...and see-through where computed
        artists["veil"].set_data(veil.reshape(*self.output_shape, 4))
        row, column = self.position
        artists["cell"].set_xy((column - 0.5, row - 0.5))
        artists["title"].set_text(f"Sliding window, step {self.step + 1} of {self.n_steps}: "
                                  f"output[{row}, {column}] = {short_number(self.value)}")

    def _dynamic(self, artists: dict) -> list:
        return [artists["window"], *artists["products"].artists(),
                artists["products"].axes.title, artists["veil"],
                *artists["output"].axes.spines.values(), artists["cell"], artists["title"]]

    # --- the widget -------------------------------------------------------------------------------
    def _make_controls(self) -> dict[str, widgets.Widget]:
        last = self.n_steps - 1
        slider = widgets.IntSlider(value=self.step, min=0, max=last, description="step",
                                   continuous_update=True)
        play = widgets.Play(value=self.step, min=0, max=last, interval=700, description="play")
        widgets.jslink((play, "value"), (slider, "value"))  # in the browser: play moves the slider
        back = widgets.Button(description="◀ back", layout=widgets.Layout(width="90px"))
        forward = widgets.Button(description="next ▶", layout=widgets.Layout(width="90px"))
        back.on_click(lambda _: self._from_control(step=max(self.step - 1, 0)))
        forward.on_click(lambda _: self._from_control(step=min(self.step + 1, last)))
        slider.observe(lambda change: self._from_control(step=change["new"]), names="value")
        return {"back": back, "next": forward, "play": play, "step": slider}

    def _show_controls(self) -> None:
        self._controls["step"].value = self.step

    def _status_html(self) -> str:
        return f"<code>{self.describe_step()}</code>"


class KernelPlayground(InteractiveFigure):
    """Pick a digit and a 3x3 kernel (a preset or nine numbers of your own); see its feature map.

    Settings: ``index`` (which digit of ``images``), ``preset`` (a name of ``kernels.PRESETS``)
    and ``kernel`` (any 3x3 numbers; the preset becomes its name, or ``"custom"``), e.g.
    ``playground.set(index=3, preset="sharpen")`` or ``playground.kernel = [[...], ...]``.
    Controls: ``preset`` (a menu), ``index`` (a slider) and the nine number boxes
    ``kernel[0,0]`` .. ``kernel[2,2]``. The shared API is described in
    :mod:`mnist_tutorial.widgets.engine`.
    """

    SETTINGS = ("index", "preset", "kernel")
    FIGSIZE = (12.0, 3.9)

    def __init__(self, images, labels=None, index: int = 0, preset: str = "identity",
                 padding: int = 0) -> None:
        super().__init__()
        images = as_image_tensor(images, "images", batch=True)
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"got {len(labels)} labels for {len(images)} images: give one per "
                             f"image, or none")
        ops.conv_output_size(min(images.shape[-2:]), 3, padding)  # checks padding
        self.images, self.labels, self.padding = images, labels, padding
        self._settings = {"index": 0, "preset": preset, "kernel": get_kernel(preset)}
        self.set(index=index)

    index = setting("index", "Which digit of ``images`` is shown.")
    preset = setting("preset", "The preset's name, or ``'custom'`` for a kernel of your own.")

    @property
    def kernel(self) -> torch.Tensor:
        """The 3x3 kernel now (a copy); setting it goes through ``set``."""
        return self._settings["kernel"].clone()

    @kernel.setter
    def kernel(self, value) -> None:
        self.set(kernel=value)

    def _apply(self, settings: dict) -> None:
        new = dict(self._settings)
        if "preset" in settings and "kernel" in settings:
            raise ValueError("give a preset or a kernel, not both")
        if "index" in settings:
            index = settings["index"]
            if not is_integer(index) or not 0 <= index < len(self.images):
                raise ValueError(f"index must be between 0 and {len(self.images) - 1}, "
                                 f"got {index!r}")
            new["index"] = int(index)
        if "preset" in settings:
            new["kernel"], new["preset"] = get_kernel(settings["preset"]), settings["preset"]
        if "kernel" in settings:
            kernel = as_image_tensor(settings["kernel"], "kernel")
            if kernel.shape != (3, 3):
                raise ValueError(f"the playground's kernel is 3x3, got shape "
                                 f"{tuple(kernel.shape)}")
            new["kernel"] = kernel.clone()
            new["preset"] = next((name for name, preset in PRESETS.items()
                                  if torch.equal(preset, kernel)), CUSTOM)
        self._settings = new
        self._feature_map = ops.conv2d(self.image[None, None], new["kernel"][None, None],
                                       padding=self.padding)[0, 0]

    @property
    def image(self) -> torch.Tensor:
        """The digit now, (H, W)."""
        return self.images[self.index]

    @property
    def feature_map(self) -> torch.Tensor:
        """The kernel slid over the digit: ``ops.conv2d`` of the image and kernel, (H', W')."""
        return self._feature_map.clone()

    # --- the figure: digit, kernel, feature map ---------------------------------------------------
    def _build(self, figure: Figure) -> dict:
        axes = figure.subplots(1, 3, width_ratios=[1, 0.8, 1.25])
        feature_map = NumberGrid(axes[2], "RdBu_r", annotate_up_to=0, ticks_up_to=0)
        colorbar = figure.colorbar(feature_map.image, ax=axes[2], label="sum of window × kernel")
        return {"digit": NumberGrid(axes[0], "gray", annotate_up_to=0, ticks_up_to=0),
                "kernel": NumberGrid(axes[1], "coolwarm", annotate_up_to=3, ticks_up_to=3),
                "feature map": feature_map, "colorbar": colorbar, "title": figure.suptitle(" ")}

    def _update(self, artists: dict) -> None:
        label = "" if self.labels is None else f" (label {int(self.labels[self.index])})"
        artists["digit"].show(self.image, float(self.image.min()), float(self.image.max()))
        artists["digit"].axes.set_title(f"digit #{self.index}{label}", fontsize=10)
        limit = shared_limit(self._settings["kernel"])
        artists["kernel"].show(self._settings["kernel"], -limit, limit)
        artists["kernel"].axes.set_title(f"kernel: {self.preset}", fontsize=10)
        feature_map = self._feature_map
        limit = shared_limit(feature_map)
        artists["feature map"].show(feature_map, -limit, limit)
        height, width = feature_map.shape
        artists["feature map"].axes.set_title(f"feature map ({height}×{width})", fontsize=10)
        artists["title"].set_text(f"Kernel playground: {self.preset} on digit #{self.index}")

    def _dynamic(self, artists: dict) -> list:
        panels = [artists[name] for name in ("digit", "kernel", "feature map")]
        return [*(artist for panel in panels for artist in (*panel.artists(), panel.axes.title)),
                artists["colorbar"].ax, artists["title"]]

    # --- the widget -------------------------------------------------------------------------------
    def _make_controls(self) -> dict[str, widgets.Widget]:
        preset = widgets.Dropdown(options=[*PRESETS, CUSTOM], value=self.preset,
                                  description="preset")
        index = widgets.IntSlider(value=self.index, min=0, max=len(self.images) - 1,
                                  description="digit", continuous_update=True)
        preset.observe(lambda change: change["new"] != CUSTOM
                       and self._from_control(preset=change["new"]), names="value")
        index.observe(lambda change: self._from_control(index=change["new"]), names="value")
        controls = {"preset": preset, "index": index}
        for position, value in enumerate(self._settings["kernel"].flatten().tolist()):
            box = widgets.FloatText(value=value, step=0.1, layout=widgets.Layout(width="70px"))
            box.observe(lambda _: self._from_control(kernel=self._typed_kernel()), names="value")
            controls[f"kernel[{position // 3},{position % 3}]"] = box
        return controls

    def _boxes(self) -> list[widgets.FloatText]:
        return [self._controls[f"kernel[{row},{column}]"] for row in range(3)
                for column in range(3)]

    def _typed_kernel(self) -> torch.Tensor:
        return torch.tensor([box.value for box in self._boxes()]).view(3, 3)

    def _arrange(self, controls: dict[str, widgets.Widget]) -> list[widgets.Widget]:
        boxes = self._boxes()
        return [widgets.HBox([controls["preset"], controls["index"]]),
                widgets.HTML("kernel (type numbers, press Enter):"),
                widgets.VBox([widgets.HBox(boxes[row * 3:row * 3 + 3]) for row in range(3)])]

    def _show_controls(self) -> None:
        self._controls["preset"].value = self.preset
        self._controls["index"].value = self.index
        for box, value in zip(self._boxes(), self._settings["kernel"].flatten().tolist()):
            box.value = value

    def _status_html(self) -> str:
        feature_map = self._feature_map
        return (f"feature map of digit #{self.index}: values from "
                f"{float(feature_map.min()):.2f} to {float(feature_map.max()):.2f}")
