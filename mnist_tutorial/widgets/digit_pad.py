"""A pad to draw a digit on (or upload a picture of one) and watch the network read it.

The picture goes through MNIST's preprocessing (``mnist_tutorial.preprocessing``), step by step.
"""

from __future__ import annotations

import io

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageDraw, ImageOps
from torch import nn

from mnist_tutorial.activations import layer_names, layer_outputs
from mnist_tutorial.config import one_thread
from mnist_tutorial.plotting import MapsAndPrediction, as_numpy, maps_and_prediction_size
from mnist_tutorial.preprocessing import (
    BOX_SIZE,
    NORMALISED_RANGE,
    STEP_NAMES,
    EmptyImageError,
    as_float_image,
    centre_of_mass,
    to_mnist_steps,
)
from mnist_tutorial.widgets.engine import InteractiveFigure, setting


class StepsPanels:
    """One panel per stage of ``to_mnist_steps``, each with its size; the last with a colour bar.

    Made once on a figure or subfigure; ``update`` shows new steps in the same artists, so the
    digit pad redraws without making a figure. The two steps whose size depends on the drawing
    keep a fixed frame, so that only their image and title change: "scaled" is drawn into the
    20x20 box that MNIST scales to (its pixel coordinates stay), "cropped" fills a square without
    ticks (its size is in the title).
    """

    VARYING = ("cropped", "scaled")  # the steps whose size depends on the drawing

    def __init__(self, figure, names=STEP_NAMES) -> None:
        self.names = list(names)
        self.panels = list(np.atleast_1d(figure.subplots(1, len(self.names))))
        self.images = []
        self.centre = None
        for axes, name in zip(self.panels, self.names):
            self.images.append(axes.imshow(np.zeros((1, 1)), cmap="gray", vmin=0, vmax=1))
            axes.set_xlabel("column", fontsize=8)
            axes.tick_params(labelsize=7)
            axes.xaxis.set_major_locator(MaxNLocator(5, integer=True))
            axes.yaxis.set_major_locator(MaxNLocator(5, integer=True))
            if name == "cropped":
                axes.set_xticks([])
                axes.set_yticks([])
                axes.set_xlim(0, 1)
                axes.set_ylim(1, 0)
            elif name == "scaled":
                axes.set_xlim(-0.5, BOX_SIZE - 0.5)
                axes.set_ylim(BOX_SIZE - 0.5, -0.5)
            elif name == "centred":
                (self.centre,) = axes.plot([], [], "r+", markersize=10, label="centre of mass")
                axes.legend(loc="lower center", fontsize=6, framealpha=0.6)
        self.panels[0].set_ylabel("row", fontsize=8)
        self.colorbar = figure.colorbar(self.images[-1], ax=self.panels[-1],
                                        label="normalised value", shrink=0.8)

    def update(self, steps: dict[str, torch.Tensor]) -> None:
        """Show ``steps`` (the dict of ``to_mnist_steps``, or one with the same names)."""
        if list(steps) != self.names:
            raise ValueError(f"these panels show the steps {self.names}, got {list(steps)}")
        for number, (axes, shown, (name, image)) in enumerate(
                zip(self.panels, self.images, steps.items()), start=1):
            image = image.squeeze(0)
            array = as_numpy(image)
            height, width = array.shape
            if name == "cropped":  # the longer side fills the square frame
                longer = max(height, width)
                shown.set_extent((0, width / longer, height / longer, 0))
            elif name == "scaled":  # in the 20x20 box, from its top-left corner
                shown.set_extent((-0.5, width - 0.5, height - 0.5, -0.5))
                side = max(BOX_SIZE, height, width)
                axes.set_xlim(-0.5, side - 0.5)
                axes.set_ylim(side - 0.5, -0.5)
            elif shown.get_array().shape != array.shape:
                shown.set_extent((-0.5, width - 0.5, height - 0.5, -0.5))
                axes.set_xlim(-0.5, width - 0.5)
                axes.set_ylim(height - 0.5, -0.5)
            shown.set_data(array)
            if number == len(self.names):  # the normalised digit: black to white, normalised
                shown.set_clim(*NORMALISED_RANGE)
            axes.set_title(f"{number}. {name}\n{height} x {width}", fontsize=9)
            if name == "centred":
                row, column = centre_of_mass(image)
                self.centre.set_data([column], [row])

    def dynamic(self) -> list:
        """What ``update`` changes, for blitting: images, the varying steps' titles, the marker.

        The rest stays while ``fixed_sizes`` do. So does the colour bar: the normalised digit is
        shown on the fixed range from black (0) to white (1), normalised (``NORMALISED_RANGE``).
        """
        artists = []
        for axes, shown, name in zip(self.panels, self.images, self.names):
            artists += [shown, *axes.spines.values()]
            if name in self.VARYING:
                artists.append(axes.title)
            if name == "centred":
                artists += [self.centre, axes.get_legend()]
        return artists

    @staticmethod
    def fixed_sizes(steps: dict[str, torch.Tensor]) -> tuple:
        """The sizes of the steps not in ``VARYING`` (and whether "scaled" fits its box)."""
        return (*(tuple(image.shape) for name, image in steps.items()
                  if name not in StepsPanels.VARYING),
                max(steps["scaled"].shape[-2:]) <= BOX_SIZE if "scaled" in steps else None)


def plot_steps(steps: dict[str, torch.Tensor],
               title: str = "MNIST's preprocessing, step by step") -> Figure:
    """One panel per stage of ``to_mnist_steps``, each with its size; the last with a colour bar."""
    figure = plt.figure(figsize=(2.3 * len(steps) + 0.8, 3.0), layout="constrained")
    StepsPanels(figure, list(steps)).update(steps)
    figure.suptitle(title)
    return figure


def uploaded_files(value) -> list[tuple[str, bytes]]:
    """``(name, content)`` of each file in a ``FileUpload.value``, from ipywidgets 7 or 8.

    ipywidgets 7 (Colab): a dict ``{name: {"metadata": ..., "content": bytes}}``; ipywidgets 8: a
    tuple of dicts with ``name`` and ``content`` (a memoryview).
    """
    if isinstance(value, dict):
        return [(name, bytes(item["content"])) for name, item in value.items()]
    return [(item["name"], bytes(item["content"])) for item in value]


def read_image(content: bytes) -> np.ndarray:
    """An image file's bytes (PNG, JPEG, ...) -> a 2-D uint8 grey array, phone photos upright."""
    try:
        with Image.open(io.BytesIO(content)) as opened:
            grey = ImageOps.exif_transpose(opened).convert("L")
    except (OSError, ValueError) as error:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"could not read the file as an image ({error}): upload a PNG or "
                         f"JPEG") from error
    return np.asarray(grey)


class DigitPad(InteractiveFigure):
    """Draw a digit with the mouse (or upload a picture) and watch the network read it.

    The canvas (ipycanvas) sends mouse events to Python, which draws every stroke twice: on the
    canvas you see and on a Pillow image of the same size, the image the network gets. So the
    Python API works without a browser: ``draw_strokes([[(x, y), ...], ...])`` or
    ``set(image=array)``, then ``predict()`` returns the probabilities (None for an empty pad,
    with a friendly ``message``); ``steps``, ``feature_maps`` and ``prediction`` hold the rest.

    Settings: ``image`` (a picture instead of the drawing, as an upload does) and ``layer`` (whose
    feature maps are shown). Controls: the ``predict``, ``clear`` and ``upload`` buttons; the
    canvas is ``canvas``. The picture shows the preprocessing steps, the probabilities and the
    feature maps in one figure. The shared API (``set``, ``plot``, ``widget``, ``controls``,
    ``png``) is described in :mod:`mnist_tutorial.widgets.engine`.

    ``canvas=False`` (or ipycanvas missing) gives the upload-only pad, for front ends where the
    canvas does not render; the upload button is under the canvas in any case.
    """

    SETTINGS = ("image", "layer")

    def __init__(self, model: nn.Module, size: int = 280, line_width: int | None = None,
                 canvas: bool = True, live: bool = True, layer: str = "conv1") -> None:
        super().__init__()
        if size < 28:
            raise ValueError(f"size must be at least 28 pixels, got {size}")
        self.model = model
        self.layers = layer_names(model)
        self.size = size
        self.line_width = line_width if line_width is not None else max(1, size // 14)
        self.live = live
        self.strokes: list[list[tuple[float, float]]] = []
        self.uploaded: np.ndarray | None = None
        self.steps: dict[str, torch.Tensor] | None = None
        self.probabilities: np.ndarray | None = None
        self.prediction: int | None = None
        self.feature_maps: torch.Tensor | None = None
        self.message = "Draw a digit, then press Predict."
        self._drawing = False
        self._paper = Image.new("L", (size, size), 0)  # what the network reads
        self._pen = ImageDraw.Draw(self._paper)
        self.set(layer=layer)
        self.canvas = self._make_canvas() if canvas else None

    layer = setting("layer", "The layer whose feature maps are shown.")

    @property
    def image(self) -> np.ndarray:
        """What the network reads: the uploaded picture, else the drawing (uint8, size x size).

        Setting it (``pad.image = array``, like ``set(image=array)``) uses a picture instead of
        the drawing and predicts.
        """
        return self.uploaded if self.uploaded is not None else np.asarray(self._paper)

    @image.setter
    def image(self, value) -> None:
        self.set(image=value)

    def _apply(self, settings: dict) -> None:
        layer = settings.get("layer", self._settings.get("layer"))
        if layer not in self.layers:
            raise ValueError(f"unknown layer {layer!r}: choose one of {self.layers}")
        uploaded = as_float_image(settings["image"]).numpy() if "image" in settings else None
        self._settings["layer"] = layer
        if uploaded is not None:
            self.uploaded = uploaded
        if uploaded is not None or self.steps is not None:
            self._predict()

    # --- drawing -------------------------------------------------------------------------------
    def _make_canvas(self):
        try:
            from ipycanvas import Canvas
        except ImportError:
            self.message = "ipycanvas is not installed: upload a picture of a digit instead."
            return None
        canvas = Canvas(width=self.size, height=self.size)
        canvas.layout.border = "1px solid gray"
        canvas.on_mouse_down(self.begin_stroke)
        canvas.on_mouse_move(self.extend_stroke)
        canvas.on_mouse_up(lambda x, y: self.end_stroke())
        canvas.on_mouse_out(lambda x, y: self.end_stroke())
        canvas.on_touch_start(lambda touches: touches and self.begin_stroke(*touches[0]))
        canvas.on_touch_move(lambda touches: touches and self.extend_stroke(*touches[0]))
        canvas.on_touch_end(lambda touches: self.end_stroke())
        canvas.on_client_ready(self._redraw_canvas)
        self._redraw_canvas(canvas)
        return canvas

    def _redraw_canvas(self, canvas=None) -> None:
        """Paint the canvas black and replay every stroke (also when a browser reconnects)."""
        canvas = canvas or self.canvas
        if canvas is None:
            return
        canvas.fill_style = "black"
        canvas.fill_rect(0, 0, self.size, self.size)
        canvas.stroke_style = "white"
        canvas.fill_style = "white"
        canvas.line_width = self.line_width
        canvas.line_cap = "round"
        canvas.line_join = "round"
        for stroke in self.strokes:
            self._paint_dot(*stroke[0], canvas)
            for start, end in zip(stroke, stroke[1:]):
                canvas.stroke_line(*start, *end)

    def _paint_dot(self, x: float, y: float, canvas=None) -> None:
        radius = self.line_width / 2
        self._pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
        if canvas is not None:
            canvas.fill_circle(x, y, radius)

    def begin_stroke(self, x: float, y: float) -> None:
        """Put the pen down at (x, y): a round dot, the start of a stroke."""
        if self.uploaded is not None:  # drawing replaces an uploaded picture
            self.uploaded = None
        self._drawing = True
        self.strokes.append([(float(x), float(y))])
        self._paint_dot(x, y, self.canvas)

    def extend_stroke(self, x: float, y: float) -> None:
        """Move the pen to (x, y), drawing a thick line if it is down."""
        if not self._drawing:
            return
        start, end = self.strokes[-1][-1], (float(x), float(y))
        if end == start:
            return
        self.strokes[-1].append(end)
        self._pen.line([start, end], fill=255, width=self.line_width)
        self._paint_dot(x, y)  # round joints, as the canvas's line_join="round"
        if self.canvas is not None:
            self.canvas.stroke_line(*start, *end)

    def end_stroke(self) -> None:
        """Lift the pen; with ``live=True`` the network reads the digit at once."""
        if not self._drawing:
            return
        self._drawing = False
        if self.live:
            self.predict()

    def draw_strokes(self, strokes) -> np.ndarray | None:
        """Draw strokes (lists of (x, y) canvas points) as a mouse would; returns ``predict()``."""
        for stroke in strokes:
            points = list(stroke)
            if not points:
                raise ValueError("every stroke needs at least one (x, y) point")
            self.begin_stroke(*points[0])
            for point in points[1:]:
                self.extend_stroke(*point)
            self._drawing = False
        return self.predict()

    def clear(self) -> None:
        """Wipe the pad, the uploaded picture and the prediction."""
        self.strokes, self.uploaded, self._drawing = [], None, False
        self._pen.rectangle((0, 0, self.size, self.size), fill=0)
        self._redraw_canvas()
        self.steps = self.probabilities = self.prediction = self.feature_maps = None
        self.message = "Cleared: draw a digit."
        self._refresh()

    # --- predicting ----------------------------------------------------------------------------
    def predict(self) -> np.ndarray | None:
        """Preprocess the image like MNIST and run the network: probabilities (10,), or None.

        None means the pad is empty (``message`` says so). The widget shows the result.
        """
        with one_thread():
            self._predict()
        self._refresh()
        return self.probabilities

    @torch.no_grad()
    def _predict(self) -> None:
        try:
            self.steps = to_mnist_steps(self.image)
        except EmptyImageError as error:  # nothing drawn, or no digit (a dot, noise): say which
            self.steps = self.probabilities = self.prediction = self.feature_maps = None
            self.message = (str(error) if self.image.any() else "The pad is empty: draw a digit "
                            "(hold the mouse button down), then predict.")
            return
        scores = []  # the network's output, caught on the way: one forward pass for both
        hook = self.model.register_forward_hook(lambda _, inputs, output: scores.append(output))
        try:
            maps = layer_outputs(self.model, self.steps["normalised"][None])
        finally:
            hook.remove()
        self.probabilities = torch.softmax(scores[0].float(), dim=1)[0].cpu().numpy()
        self.prediction = int(self.probabilities.argmax())
        self.feature_maps = maps[self.layer][0]
        self.message = (f"The network reads a {self.prediction} "
                        f"({self.probabilities[self.prediction]:.0%} sure).")

    # --- the figure: the preprocessing steps above, what the network makes of it below ----------
    def _drawable(self) -> bool:
        return self.steps is not None

    def _figsize(self) -> tuple[float, float]:
        width, height = maps_and_prediction_size(len(self.feature_maps))
        return max(width, 13.0), height + 3.2

    def _figure_key(self) -> int:
        return len(self.feature_maps)

    def _build(self, figure: Figure) -> dict:
        _, maps_height = maps_and_prediction_size(len(self.feature_maps))
        top, bottom = figure.subfigures(2, 1, height_ratios=[3.0, maps_height])
        top.suptitle("Your digit, preprocessed like MNIST", fontsize=10)
        return {"steps": StepsPanels(top), "maps": MapsAndPrediction(bottom,
                                                                     len(self.feature_maps)),
                "title": figure.suptitle(" ")}

    def _update(self, artists: dict) -> None:
        artists["steps"].update(self.steps)
        artists["maps"].update(self.steps["normalised"], self.feature_maps, self.probabilities,
                               self.layer, title="What the network computes from it")
        artists["title"].set_text(self.message)

    def _dynamic(self, artists: dict) -> list:
        return [*artists["steps"].dynamic(), *artists["maps"].dynamic(title=False),
                artists["title"]]

    def _background_key(self) -> tuple:
        return self.layer, tuple(self.feature_maps.shape), StepsPanels.fixed_sizes(self.steps)

    # --- the widget ----------------------------------------------------------------------------
    def _make_controls(self) -> dict[str, widgets.Widget]:
        predict = widgets.Button(description="Predict", button_style="primary")
        clear = widgets.Button(description="Clear")
        upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload image")
        predict.on_click(lambda _: self.predict())
        clear.on_click(lambda _: self.clear())
        upload.observe(self._on_upload, names="value")
        return {"predict": predict, "clear": clear, "upload": upload}

    def _arrange(self, controls: dict[str, widgets.Widget]) -> list[widgets.Widget]:
        help_text = widgets.HTML("Draw with the mouse, white on black.<br>No canvas? Upload a "
                                 "photo<br>of a digit on paper.")
        buttons = widgets.VBox([controls["predict"], controls["clear"], controls["upload"],
                                help_text])
        pad = [self.canvas] if self.canvas is not None else []
        return [widgets.HBox(pad + [buttons])]

    def _on_upload(self, change) -> None:
        files = uploaded_files(change["new"])
        if not files:
            return
        name, content = files[-1]
        try:
            picture = read_image(content)
        except ValueError as error:
            self.message = f"{name}: {error}"
            self._refresh()
            return
        self._from_control(image=picture)
