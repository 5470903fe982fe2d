"""A pad to draw a digit on (or upload a picture of one) and watch the network read it.

The picture goes through MNIST's preprocessing (``mnist_tutorial.preprocessing``), step by step.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from pathlib import Path

import anywidget
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
import traitlets
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


def read_image(content: bytes) -> np.ndarray:
    """An image file's bytes (PNG, JPEG, ...) -> a 2-D uint8 grey array, phone photos upright."""
    try:
        with Image.open(io.BytesIO(content)) as opened:
            grey = ImageOps.exif_transpose(opened).convert("L")
    except (OSError, ValueError, Image.DecompressionBombError) as error:  # OSError: not an image
        raise ValueError(f"could not read the file as an image ({error}): upload a PNG or "
                         f"JPEG") from error
    return np.asarray(grey)


def data_url_bytes(url) -> bytes:
    """The bytes of a base64 ``data:`` URL, as the browser's ``FileReader.readAsDataURL`` sends."""
    header, comma, payload = url.partition(",") if isinstance(url, str) else ("", "", "")
    if not (comma and header.startswith("data:") and header.endswith(";base64")):
        raise ValueError(f"the browser sent no file contents (expected a base64 data: URL, got "
                         f"{url!r:.40}): upload the file again")
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error as error:
        raise ValueError(f"the file arrived garbled ({error}): upload it again") from error


def stroke_points(points) -> list[tuple[float, float]]:
    """A stroke as (x, y) floats in pad pixels; a ValueError says what is wrong with it."""
    try:
        stroke = [(float(x), float(y)) for x, y in points]
    except (TypeError, ValueError) as error:
        raise ValueError(f"a stroke is a list of (x, y) points, got {points!r:.80}") from error
    if not stroke:
        raise ValueError("every stroke needs at least one (x, y) point")
    if not all(math.isfinite(value) for point in stroke for value in point):
        raise ValueError(f"a stroke's coordinates must be finite numbers, got {points!r:.80}")
    return stroke


class PadSurface(anywidget.AnyWidget):
    """The pad's surface in the browser (``digit_pad.js``): a canvas to draw on and a drop zone.

    The browser draws the ink itself and sends each finished stroke, and each picture dropped or
    chosen, as a message; the owner (``DigitPad``) handles them with ``on_msg`` and sets
    ``strokes`` to what it drew, which every view of the surface then shows.
    """

    _esm = Path(__file__).with_name("digit_pad.js")
    _css = Path(__file__).with_name("digit_pad.css")
    size = traitlets.Int(280).tag(sync=True)
    line_width = traitlets.Int(20).tag(sync=True)
    drawing = traitlets.Bool(True).tag(sync=True)  # False: only the drop zone
    strokes = traitlets.List().tag(sync=True)  # [[[x, y], ...], ...] in pad pixels


class DigitPad(InteractiveFigure):
    """Draw a digit with the mouse or a finger (or upload a picture) and watch the network read it.

    The browser draws the ink as the pointer moves and sends the stroke's points when it ends;
    Python draws the same strokes on a Pillow image of the pad's size, the image the network
    gets. Strokes from the browser and from Python go through the same code, so the Python API
    works without a browser: ``draw_strokes([[(x, y), ...], ...])`` or ``set(image=array)``, then
    ``predict()`` returns the probabilities (None for an empty pad, with a friendly
    ``message``); ``steps``, ``feature_maps`` and ``prediction`` hold the rest.

    Settings: ``image`` (a picture instead of the drawing, as an upload does) and ``layer`` (whose
    feature maps are shown). Controls: ``pad`` (the :class:`PadSurface` to draw on, with its drop
    zone for a picture) and the ``predict`` and ``clear`` buttons. The picture shows the
    preprocessing steps, the probabilities and the feature maps in one figure. The shared API
    (``set``, ``plot``, ``widget``, ``controls``, ``png``) is described in
    :mod:`mnist_tutorial.widgets.engine`.

    ``canvas=False`` gives the upload-only pad (no drawing surface, the drop zone stays).
    """

    SETTINGS = ("image", "layer")

    def __init__(self, model: nn.Module, size: int = 280, line_width: int | None = None,
                 canvas: bool = True, live: bool = True, layer: str | None = None) -> None:
        super().__init__()
        if size < 28:
            raise ValueError(f"size must be at least 28 pixels, got {size}")
        self.model = model
        self.layers = layer_names(model)
        self.size = size
        self.line_width = line_width if line_width is not None else max(1, size // 14)
        self.drawing = canvas  # False: the upload-only pad
        self.live = live
        self.strokes: list[list[tuple[float, float]]] = []
        self.uploaded: np.ndarray | None = None
        self.steps: dict[str, torch.Tensor] | None = None
        self.probabilities: np.ndarray | None = None
        self.prediction: int | None = None
        self.feature_maps: torch.Tensor | None = None
        self.message = "Draw a digit, then press Predict."
        self._pending: list[tuple[float, float]] | None = None  # a stroke begun from Python
        self._paper = Image.new("L", (size, size), 0)  # what the network reads
        self._pen = ImageDraw.Draw(self._paper)
        self.set(layer=self.layers[0] if layer is None else layer)  # default: the first map

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
    def _add_stroke(self, points) -> None:
        """Draw one finished stroke on the image the network reads: the one place strokes are
        drawn, for the browser's and Python's alike (thick lines, round ends and joints)."""
        stroke = stroke_points(points)
        self.uploaded = None  # drawing replaces an uploaded picture
        self.strokes.append(stroke)
        radius = self.line_width / 2
        for number, (x, y) in enumerate(stroke):
            if number:
                self._pen.line([stroke[number - 1], (x, y)], fill=255, width=self.line_width)
            self._pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)

    def _stroke_done(self) -> None:
        """After a stroke: with ``live=True`` the network reads the digit at once."""
        if self.live:
            self.predict()
        else:
            self._refresh(picture=False)

    def begin_stroke(self, x: float, y: float) -> None:
        """Put the pen down at (x, y), as the browser does on a mouse or finger press."""
        self._pending = [(x, y)]

    def extend_stroke(self, x: float, y: float) -> None:
        """Move the pen to (x, y) if it is down."""
        if self._pending is not None:
            self._pending.append((x, y))

    def end_stroke(self) -> None:
        """Lift the pen: the stroke is drawn (and, with ``live=True``, read) as the browser's."""
        if self._pending is None:
            return
        points, self._pending = self._pending, None
        self._add_stroke(points)
        self._stroke_done()

    def draw_strokes(self, strokes) -> np.ndarray | None:
        """Draw strokes (lists of (x, y) pad pixels) as the browser would; returns ``predict()``."""
        for stroke in strokes:
            self._add_stroke(stroke)
        return self.predict()

    def clear(self) -> None:
        """Wipe the pad, the uploaded picture and the prediction."""
        self.strokes, self.uploaded, self._pending = [], None, None
        self._pen.rectangle((0, 0, self.size, self.size), fill=0)
        self.steps = self.probabilities = self.prediction = self.feature_maps = None
        self.message = "Cleared: draw a digit."
        self._error = ""
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
        pad = PadSurface(size=self.size, line_width=self.line_width, drawing=self.drawing)
        predict = widgets.Button(description="Predict", button_style="primary")
        clear = widgets.Button(description="Clear")
        pad.on_msg(self._on_browser_message)
        predict.on_click(lambda _: self.predict())
        clear.on_click(lambda _: self.clear())
        return {"pad": pad, "predict": predict, "clear": clear}

    def _arrange(self, controls: dict[str, widgets.Widget]) -> list[widgets.Widget]:
        help_text = widgets.HTML("Draw with the mouse or a finger,<br>white on black. Or upload "
                                 "a photo<br>of a digit on paper.")
        buttons = widgets.VBox([controls["predict"], controls["clear"], help_text])
        return [widgets.HBox([controls["pad"], buttons])]

    def _show_controls(self) -> None:
        self._controls["pad"].strokes = [[list(point) for point in stroke]
                                         for stroke in self.strokes]

    def _on_browser_message(self, pad: PadSurface, content, buffers) -> None:
        """A message from the pad's surface: a finished stroke or an uploaded picture."""
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            if kind == "stroke":
                self._add_stroke(content.get("points"))
            elif kind == "upload":
                self._on_upload(content)
                return
            else:
                raise ValueError(f"the pad sent a message this version cannot read ({kind!r}): "
                                 f"run the cell again, or reinstall the course")
        except ValueError as error:
            self._report(str(error))
            pad.send_state("strokes")  # the browser shows what Python holds, not a refused stroke
            return
        self._error = ""
        self._stroke_done()

    def _on_upload(self, content: dict) -> None:
        """A picture from the drop zone: read it and predict, or say what is wrong with it."""
        name = content.get("name") or "the file"
        if content.get("error"):
            raise ValueError(f"{name}: {content['error']}")
        try:
            picture = read_image(data_url_bytes(content.get("data_url")))
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from error
        self._from_control(image=picture)

    def _report(self, error: str) -> None:
        """Show what went wrong in red in the status line, keeping the picture."""
        self._error = error
        self._refresh(picture=False)
