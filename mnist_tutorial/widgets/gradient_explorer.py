"""Which input pixels one number of the network depends on: the gradient of a conv2 output or of a
class score with respect to the input image, computed by the hand-written backward pass
(notebook 06).

A conv2 output sees a 14x14 square of the input, its *receptive field*: conv1's 5x5 windows, the
2x2 pooling and conv2's 5x5 windows over the pooled map, ``5 + 1 + 4 * 2 = 14`` pixels a side.
Outside that square its gradient is exactly zero. A class score depends on almost every
pixel.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mnist_tutorial.augmentation import background
from mnist_tutorial.backprop import TARGETS, input_gradient
from mnist_tutorial.checks import is_integer
from mnist_tutorial.data import NORMALIZATION
from mnist_tutorial.models import BlogNet
from mnist_tutorial.plotting import as_image_tensor
from mnist_tutorial.receptive_field import (
    CONV2_LAYERS,
    conv2_field_box,
    input_jump,
    receptive_field,
)
from mnist_tutorial.widgets.engine import InteractiveFigure, setting

FIELD = receptive_field(CONV2_LAYERS)  # 14: the receptive field of a conv2 output, in pixels
JUMP = input_jump(CONV2_LAYERS)  # 2: input pixels between neighbouring conv2 outputs
CONV2 = (20, 8, 8)  # channels, rows and columns of conv2's output for one 28x28 digit
MEAN, STD = NORMALIZATION["mnist"]
INK = (1 - MEAN) / STD  # a white pixel after Normalize; black is background()


class GradientExplorer(InteractiveFigure):
    """Pick a digit and one number of the network; see its gradient with respect to the input.

    Settings: ``index`` (which of ``images``), ``target`` ("conv2": one output of the second
    convolution, before pooling; "score": one class score), ``channel`` (conv2's channel 0-19, or
    the class 0-9) and ``cell`` (row, column) of conv2's 8x8 output, e.g.
    ``explorer.set(target="conv2", channel=3, cell=(2, 5))``. Results: ``gradient`` (28, 28),
    ``value`` (the chosen number), ``field`` (top, left, bottom, right of the receptive field for
    a conv2 output, else None), ``nonzero`` (how many pixels have a gradient other than 0) and
    ``message``. Controls: ``target``, ``channel``, ``row``, ``column``, ``digit``. The shared API
    (``set``, ``plot``, ``widget``, ``controls``, ``png``) is described in
    :mod:`mnist_tutorial.widgets.engine`.
    """

    SETTINGS = ("index", "target", "channel", "cell")
    FIGSIZE = (10.0, 4.2)

    index = setting("index", "Which image of ``images`` is shown.")
    target = setting("target", "'conv2' (one output of conv2) or 'score' (one class score).")
    channel = setting("channel", "conv2's output channel (0-19) or the class (0-9).")
    cell = setting("cell", "(row, column) of conv2's 8x8 output (used when target='conv2').")

    def __init__(self, model: BlogNet, images: torch.Tensor | np.ndarray, index: int = 0,
                 target: str = "conv2", channel: int = 0, cell: tuple[int, int] = (3, 3)
                 ) -> None:
        super().__init__()
        if not isinstance(model, BlogNet):
            raise TypeError(f"the explorer shows BlogNet's gradients, got {type(model).__name__}")
        self.model = model
        self.images = as_image_tensor(images, "images", batch=True)
        if tuple(self.images.shape[1:]) != (28, 28):
            raise ValueError(f"images must be 28x28 digits, got shape "
                             f"{tuple(self.images.shape)}")
        self.set(index=index, target=target, channel=channel, cell=cell)

    def _apply(self, settings: dict) -> None:
        new = {**self._settings, **settings}
        index, target, channel, cell = (new[name] for name in self.SETTINGS)
        if not (is_integer(index) and 0 <= index < len(self.images)):
            raise ValueError(f"index must be an integer from 0 to {len(self.images) - 1}, got "
                             f"{index!r}")
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        channels = CONV2[0] if target == "conv2" else 10
        if "target" in settings and "channel" not in settings:
            channel = min(channel, channels - 1)  # a conv2 channel past 9 becomes class 9
        if not (is_integer(channel) and 0 <= channel < channels):
            raise ValueError(f"channel must be an integer from 0 to {channels - 1} for target "
                             f"{target!r}, got {channel!r}")
        if (not isinstance(cell, (tuple, list)) or len(cell) != 2
                or not all(is_integer(v) and 0 <= v < n for v, n in zip(cell, CONV2[1:]))):
            raise ValueError(f"cell must be a pair (row, column) of integers from 0 to 7 (conv2's "
                             f"output is 8x8), got {cell!r}")
        new.update(index=int(index), channel=int(channel), cell=(int(cell[0]), int(cell[1])))
        gradient, value = input_gradient(self.model, self.images[new["index"]], target,
                                         new["channel"], new["cell"])
        self._settings = new
        self.gradient, self.value = gradient, value
        self.field = conv2_field_box(new["cell"]) if target == "conv2" else None
        self.nonzero = int((gradient != 0).sum())
        if target == "conv2":
            top, left, bottom, right = self.field
            self.message = (f"conv2 channel {channel}, output {new['cell']} = {value:.3f}: "
                            f"{self.nonzero} of 784 pixels have a gradient other than 0, all in "
                            f"rows {top}-{bottom - 1}, columns {left}-{right - 1} (its "
                            f"{FIELD}x{FIELD} receptive field)")
        else:
            self.message = (f"score of class {channel} = {value:.3f}: {self.nonzero} of 784 "
                            f"pixels have a gradient other than 0")

    # --- the figure: the digit, the gradient, both with the receptive field ---------------------
    def _build(self, figure: Figure) -> dict:
        digit_axes, gradient_axes = figure.subplots(1, 2)
        digit = digit_axes.imshow(np.zeros((28, 28)), cmap="gray", interpolation="nearest",
                                  vmin=background(), vmax=INK)
        figure.colorbar(digit, ax=digit_axes, label="normalised pixel value", shrink=0.8)
        gradient = gradient_axes.imshow(np.zeros((28, 28)), cmap="RdBu_r",
                                        interpolation="nearest")
        gradient.set_clim(-1, 1)
        figure.colorbar(gradient, ax=gradient_axes, label="gradient / its largest size",
                        shrink=0.8)
        boxes = []
        for axes in (digit_axes, gradient_axes):
            axes.set_xlabel("column")
            axes.set_ylabel("row")
            boxes.append(axes.add_patch(Rectangle((0, 0), 1, 1, fill=False, edgecolor="orange",
                                                  linewidth=2)))
        return {"digit": digit, "gradient": gradient, "boxes": boxes,
                "title": figure.suptitle(" ")}

    def _update(self, artists: dict) -> None:
        artists["digit"].set_data(self.images[self.index].numpy())
        largest = float(self.gradient.abs().max()) or 1.0  # scaled to -1..1: white is 0
        artists["gradient"].set_data((self.gradient / largest).numpy())
        digit_axes, gradient_axes = artists["digit"].axes, artists["gradient"].axes
        digit_axes.set_title(f"digit no. {self.index}")
        for box in artists["boxes"]:
            box.set_visible(self.field is not None)
            if self.field is not None:
                top, left, bottom, right = self.field
                box.set_bounds(left - 0.5, top - 0.5, right - left, bottom - top)
        if self.target == "conv2":
            name = f"conv2 channel {self.channel}, output {self.cell}"
            gradient_axes.set_title(f"d(output) / d(pixel): {self.nonzero} pixels not 0, "
                                    f"largest {largest:.2g}", fontsize=10)
        else:
            name = f"score of class {self.channel}"
            gradient_axes.set_title(f"d(score) / d(pixel): {self.nonzero} pixels not 0, "
                                    f"largest {largest:.2g}", fontsize=10)
        artists["title"].set_text(f"Which pixels {name} = {self.value:.2f} depends on"
                                  + (" (orange: its receptive field)" if self.field else ""))

    def _dynamic(self, artists: dict) -> list:
        return [artists["digit"], artists["gradient"], *artists["boxes"], artists["title"],
                artists["digit"].axes.title, artists["gradient"].axes.title]

    # --- the widget -------------------------------------------------------------------------------
    def _make_controls(self) -> dict[str, widgets.Widget]:
        controls = {
            "channel": widgets.IntSlider(value=self.channel, min=0, max=CONV2[0] - 1,
                                         description="channel", continuous_update=True),
            "row": widgets.IntSlider(value=self.cell[0], min=0, max=CONV2[1] - 1,
                                     description="row", continuous_update=True),
            "column": widgets.IntSlider(value=self.cell[1], min=0, max=CONV2[2] - 1,
                                        description="column", continuous_update=True),
            "digit": widgets.IntSlider(value=self.index, min=0, max=len(self.images) - 1,
                                       description="digit", continuous_update=True),
            "target": widgets.ToggleButtons(options=[("conv2 output", "conv2"),
                                                     ("class score", "score")],
                                            value=self.target, description="number"),
        }
        return self._watch(controls)

    def _on_control(self, name: str, value) -> None:
        super()._on_control("index" if name == "digit" else name, value)

    def _arrange(self, controls: dict[str, widgets.Widget]) -> list[widgets.Widget]:
        return [widgets.HBox([controls["channel"], controls["target"]]),
                widgets.HBox([controls["row"], controls["column"], controls["digit"]])]

    def _show_controls(self) -> None:
        controls = self._controls
        controls["target"].value = self.target
        controls["channel"].max = CONV2[0] - 1 if self.target == "conv2" else 9
        controls["channel"].value = self.channel
        controls["row"].value, controls["column"].value = self.cell
        for name in ("row", "column"):
            controls[name].disabled = self.target != "conv2"
        controls["digit"].value = self.index

    def _status_html(self) -> str:
        return self.message

