"""Your own digit, seen by the network: MNIST's preprocessing, step by step, and a pad to draw on.

MNIST's digits were not photographed at 28x28. NIST's black-and-white scans were cropped to the
ink, scaled to fit a 20x20 box (keeping the aspect ratio; the scaling's antialiasing made the grey
edges), and pasted into a 28x28 field so that their centre of mass sits at the centre. A digit you
draw must go through the same steps, or the network sees something unlike anything it was trained
on.
"""

from __future__ import annotations

import io

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageDraw, ImageOps
from torch import nn

from mnist_tutorial.activations import layer_names, layer_outputs
from mnist_tutorial.data import NORMALIZATION
from mnist_tutorial.plotting import MapsAndPrediction, as_numpy, maps_and_prediction_size
from mnist_tutorial.widget import InteractiveFigure, one_thread, setting

MNIST_SIZE = 28
BOX_SIZE = 20  # the longer side of every MNIST digit's bounding box
CENTRE = 14.0  # where MNIST's centres of mass sit (row and column index, measured: 14.00 +- 0.29)
INK_THRESHOLD = 0.2  # after background removal, pixels brighter than this count as ink
MIN_CONTRAST = 0.1  # an image whose ink is not this much brighter than its background is empty
# Too little ink to be a digit, measured on MNIST's 10,000 test digits, which all pass:
MIN_INK_EXTENT = 0.1  # the ink's longer side, as a share of the picture's (MNIST: 20 of 28)
MIN_SOLID_INK = 0.08  # share of the scaled 20x20 box brighter than 0.5 (MNIST: 0.11 to 0.93)
MAX_GREY = 0.75  # share of the box in mid-grey, 0.25 to 0.75 (MNIST: at most 0.55)
STEP_NAMES = ("input", "ink", "cropped", "scaled", "centred", "normalised")
NORMALISED_RANGE = tuple((value - NORMALIZATION["mnist"][0]) / NORMALIZATION["mnist"][1]
                         for value in (0.0, 1.0))  # black and white after normalising
EMPTY_MESSAGE = ("No digit found: the image is blank (nothing is brighter than the background). "
                 "Draw a digit first, with thick strokes, then predict.")


class EmptyImageError(ValueError):
    """The image holds no ink, so there is no digit to preprocess."""


def as_float_image(image) -> torch.Tensor:
    """A 2-D float32 tensor in [0, 1] from an array or tensor: uint8 (0-255), bool or [0, 1] floats.

    This checks a drawing or photo (the digit pad's input), unlike ``widget.as_image_tensor``,
    which turns any numbers into the widgets' float images.
    """
    if isinstance(image, torch.Tensor):
        array = image.detach().cpu()
    else:
        array = torch.as_tensor(np.array(image))
    if array.ndim != 2:
        hint = " (one channel: pass image[0])" if array.ndim == 3 and array.shape[0] == 1 else ""
        raise ValueError(f"expected a 2-D grey image (height, width), got shape "
                         f"{tuple(array.shape)}{hint}; convert a colour image to grey first, e.g. "
                         f"PIL's .convert('L')")
    if array.numel() == 0:
        raise ValueError(f"the image is empty (shape {tuple(array.shape)}): it needs at least one "
                         f"pixel")
    if array.dtype == torch.uint8:
        return array.float() / 255
    if array.dtype == torch.bool:
        return array.float()
    if not array.dtype.is_floating_point:
        raise ValueError(f"integer images must be uint8 (0-255), got {array.dtype}: convert with "
                         f".astype(np.uint8), or pass floats in [0, 1]")
    array = array.float()
    if not torch.isfinite(array).all():
        raise ValueError("the image contains NaN or infinite values: every pixel must be a number "
                         "in [0, 1]")
    low, high = array.min().item(), array.max().item()
    if low < 0 or high > 1:
        raise ValueError(f"float images must lie in [0, 1], got values from {low:.3g} to "
                         f"{high:.3g}: divide 0-255 values by 255 (or pass uint8); undo a "
                         f"normalisation first")
    return array


def border_median(image: torch.Tensor) -> float:
    """The median of the outermost rows and columns: the background brightness."""
    border = torch.cat([image[0], image[-1], image[:, 0], image[:, -1]])
    return border.median().item()


def ink_image(image: torch.Tensor, invert: bool | None = None) -> torch.Tensor:
    """Bright ink on a black background, ink stretched to reach 1.

    ``invert=None`` decides from the border: a bright border (median above 0.5) means dark ink on
    light paper, which is inverted. Then the background level (the border's median) is subtracted
    and the brightest ink scaled to 1, so a photo of grey pencil on off-white paper looks like
    MNIST.
    """
    if invert is None:
        invert = border_median(image) > 0.5
    if invert:
        image = 1 - image
    background = border_median(image)
    contrast = image.max().item() - background
    if contrast < MIN_CONTRAST:
        raise EmptyImageError(EMPTY_MESSAGE)
    return ((image - background) / contrast).clamp(0, 1)


def crop_to_ink(image: torch.Tensor) -> torch.Tensor:
    """The smallest rectangle that holds every pixel brighter than ``INK_THRESHOLD``."""
    rows = (image > INK_THRESHOLD).any(dim=1).nonzero().flatten()
    columns = (image > INK_THRESHOLD).any(dim=0).nonzero().flatten()
    if len(rows) == 0:
        raise EmptyImageError(EMPTY_MESSAGE)
    return image[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]


def scale_to_box(image: torch.Tensor, box: int = BOX_SIZE) -> torch.Tensor:
    """Resize (antialiased, bilinear) so the longer side is ``box`` pixels, aspect ratio kept."""
    height, width = image.shape
    factor = box / max(height, width)
    size = (max(1, round(height * factor)), max(1, round(width * factor)))
    scaled = F.interpolate(image[None, None], size=size, mode="bilinear", antialias=True,
                           align_corners=False)
    return scaled[0, 0].clamp(0, 1)


def centre_of_mass(image: torch.Tensor) -> tuple[float, float]:
    """The brightness-weighted mean (row, column) of the pixels."""
    rows = torch.arange(image.shape[0], dtype=image.dtype)
    columns = torch.arange(image.shape[1], dtype=image.dtype)
    total = image.sum()
    row = (image.sum(dim=1) * rows).sum() / total
    column = (image.sum(dim=0) * columns).sum() / total
    return row.item(), column.item()


def paste_centred(image: torch.Tensor, size: int = MNIST_SIZE,
                  centre: float = CENTRE) -> torch.Tensor:
    """Paste into a black ``size`` x ``size`` field so the centre of mass lands on (centre, centre).

    The shift is rounded to whole pixels (no resampling) and limited so the digit stays inside.
    """
    height, width = image.shape
    row, column = centre_of_mass(image)
    top = min(max(round(centre - row), 0), size - height)
    left = min(max(round(centre - column), 0), size - width)
    field = torch.zeros(size, size, dtype=image.dtype)
    field[top:top + height, left:left + width] = image
    return field


def check_enough_ink(ink: torch.Tensor, cropped: torch.Tensor, scaled: torch.Tensor) -> None:
    """Refuse a dot, a speck or noise: ``EmptyImageError`` unless the ink looks like strokes.

    A digit spans at least ``MIN_INK_EXTENT`` of the picture; once scaled into the 20x20 box,
    at least ``MIN_SOLID_INK`` of it is solid ink (noise averages out to grey or black there),
    and at most ``MAX_GREY`` of it is mid-grey (a uniform blob).
    """
    extent = max(cropped.shape) / max(ink.shape)
    if extent < MIN_INK_EXTENT:
        raise EmptyImageError(f"Too little ink to be a digit: it spans {extent:.0%} of the "
                              f"picture (a dot or a speck). Draw the digit larger, with thick "
                              f"strokes, then predict.")
    solid = (scaled > 0.5).float().mean().item()
    grey = ((scaled > 0.25) & (scaled < 0.75)).float().mean().item()
    if solid < MIN_SOLID_INK or grey > MAX_GREY:
        raise EmptyImageError("No digit found: the picture looks like noise, not strokes of ink "
                              "(scaled to MNIST's size it is a grey blur). Draw or photograph "
                              "one digit on a plain background.")


def to_mnist_steps(image, invert: bool | None = None) -> dict[str, torch.Tensor]:
    """Every stage of ``to_mnist`` by name (see ``STEP_NAMES``); the last is the network's input."""
    steps = {"input": as_float_image(image)}
    steps["ink"] = ink_image(steps["input"], invert)
    steps["cropped"] = crop_to_ink(steps["ink"])
    steps["scaled"] = scale_to_box(steps["cropped"])
    check_enough_ink(steps["ink"], steps["cropped"], steps["scaled"])
    steps["centred"] = paste_centred(steps["scaled"])
    mean, std = NORMALIZATION["mnist"]
    steps["normalised"] = ((steps["centred"] - mean) / std)[None]
    return steps


def to_mnist(image, invert: bool | None = None) -> torch.Tensor:
    """Any 2-D grey image of a digit -> a (1, 28, 28) tensor preprocessed and normalised like MNIST.

    ``image``: numpy array or tensor, any size, uint8 (0-255) or float in [0, 1], ideally bright
    ink on a dark background. Dark ink on light paper is detected by its bright border (median of
    the outermost pixels above 0.5) and inverted; pass ``invert=True`` or ``False`` to decide
    yourself. Steps: remove the background, crop to the ink, scale to fit 20x20 (aspect kept,
    antialiased), centre by centre of mass in 28x28, normalise with MNIST's mean and std.
    Raises ``EmptyImageError`` (a ``ValueError``) when there is no ink or too little to be a
    digit (``check_enough_ink``), ``ValueError`` for a bad shape or dtype.
    """
    return to_mnist_steps(image, invert)["normalised"]


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
    ``png``) is described in :mod:`mnist_tutorial.widget`.

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
