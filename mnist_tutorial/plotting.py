"""Figures of the course: image and feature-map grids, training curves (static and live),
confusion matrices, feature maps with a prediction, im2col, translation equivariance and a
kernel's fit drawn out, the figure primitives the widgets build on (``NumberGrid``), and the PNG
bytes the widgets show.

Every function returns a matplotlib ``Figure`` with a title and labelled axes (or a caption and a
colour bar for image grids), so tests can check what is drawn and notebooks end with ``plt.show()``.
"""

from __future__ import annotations

import collections
import math
import struct
import zlib
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import colors
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import IdentityTransform

from mnist_tutorial.config import in_notebook
from mnist_tutorial.history import History
from mnist_tutorial.im2col import im2col_parts
from mnist_tutorial.kernel_fit import KernelFit

MAX_WINDOWS = 10  # plot_im2col writes every number: beyond this many windows it is unreadable
WINDOW_COLOURS = plt.get_cmap("tab10").colors


def as_numpy(values) -> np.ndarray:
    """A detached CPU numpy copy of a tensor, array or nested list (what matplotlib expects)."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def as_image_tensor(values, name: str = "image", batch: bool = False) -> torch.Tensor:
    """A float32 CPU tensor (H, W), or (N, H, W) with ``batch=True``, from a tensor, array or list.

    Dimensions of size 1 in front of an image, and a channel dimension of size 1, are dropped:
    (1, 1, H, W) and (1, H, W) are one image, (N, 1, H, W) a batch. Anything else, or an empty
    image, raises a ``ValueError`` that names ``name``.
    """
    tensor = torch.as_tensor(values).detach().to("cpu", torch.float32)
    wanted = 3 if batch else 2
    while tensor.dim() > wanted:
        if batch and tensor.dim() == 4 and tensor.shape[1] == 1:  # (N, 1, H, W): one channel
            tensor = tensor[:, 0]
        elif tensor.shape[0] == 1:
            tensor = tensor[0]
        else:
            break
    if tensor.dim() != wanted:
        shapes = ("a batch (N, H, W) or (N, 1, H, W)" if batch
                  else "one 2-D image (H, W), (1, H, W) or (1, 1, H, W)")
        hint = "" if batch else "; for one digit of a batch (N, 1, 28, 28) use images[i, 0]"
        raise ValueError(f"{name} must be {shapes}, got shape {tuple(tensor.shape)}{hint}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensor.shape)}): it needs at least "
                         f"one pixel{' and one image' if batch else ''}")
    return tensor


def figure_png(figure: Figure, dpi: float | None = None, draw: bool = True) -> bytes:
    """The figure as PNG bytes, what an ``ipywidgets.Image`` shows: one Agg draw, ``png_bytes``.

    ``dpi`` defaults to the figure's own. Unlike ``savefig``, which draws a figure that has a
    layout engine twice, this draws it once, and a frozen layout (``set_layout_engine("none")``)
    is not recomputed. ``draw=False`` encodes what the Agg canvas holds now, for a widget that has
    drawn only the artists that changed onto a saved background (blitting). An opaque figure is
    stored without its alpha channel (smaller, faster).
    """
    if dpi is not None and dpi != figure.dpi:
        original = figure.dpi
        figure.set_dpi(dpi)
        try:
            return figure_png(figure)
        finally:
            figure.set_dpi(original)
    original = figure.canvas
    if isinstance(original, FigureCanvasAgg):
        canvas = original
    else:  # a plain Figure gets an Agg canvas for good; another backend's gets it back after
        canvas = FigureCanvasAgg(figure)
        if type(original) is not FigureCanvasBase:
            figure.set_canvas(original)
    if draw or not isinstance(original, FigureCanvasAgg):
        canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())
    if pixels[:, :, 3].min() == 255:
        pixels = pixels[:, :, :3]
    return png_bytes(pixels)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(pixels: np.ndarray, level: int = 3) -> bytes:
    """An (H, W, 3) RGB or (H, W, 4) RGBA uint8 array as a PNG file's bytes.

    Rows are stored unfiltered and deflated at zlib ``level``: for figures (large flat areas)
    this is as small as Pillow's adaptive filtering and three times as fast.
    """
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise ValueError(f"pixels must be an (H, W, 3) or (H, W, 4) uint8 array, got "
                         f"{pixels.dtype} {pixels.shape}")
    height, width, channels = pixels.shape
    rows = np.zeros((height, 1 + width * channels), dtype=np.uint8)  # filter byte 0: none
    rows[:, 1:] = pixels.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2 if channels == 3 else 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), level)) + _png_chunk(b"IEND", b""))


def short_number(value: float) -> str:
    """19.0 -> '19', -0.4242 -> '-0.42': short labels for numbers written into grid cells."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def ink_colour(cmap: colors.Colormap, fraction: float) -> str:
    """Black or white, whichever reads better on ``cmap`` at ``fraction`` (0..1) of its range."""
    red, green, blue, _ = cmap(min(max(fraction, 0.0), 1.0))
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


class CachedText(Text):
    """A text whose pixels are made once per string and style, then copied (Agg only).

    Matplotlib lays out and rasterises every glyph of every text on every draw, about half a
    millisecond for a short number; a grid of numbers redrawn on each change of a slider spends
    most of its time there. This text renders each (string, colour, font, alignment, dpi) once,
    alone on a small transparent canvas, and then draws those pixels as an image, rounded to whole
    pixels. Anything unusual (rotation, a box, path effects, TeX, another renderer) is drawn the
    usual way.
    """

    _pixels: collections.OrderedDict = collections.OrderedDict()
    CACHED = 2048  # strings and styles kept

    def draw(self, renderer) -> None:
        if (not isinstance(renderer, RendererAgg) or not self.get_visible()
                or not self.get_text() or self.get_rotation() or self.get_bbox_patch()
                or self.get_path_effects() or self.get_usetex() or "$" in self.get_text()):
            super().draw(renderer)
            return
        key = (self.get_text(), colors.to_rgba(self.get_color(), self.get_alpha()),
               hash(self.get_fontproperties()), self.get_horizontalalignment(),
               self.get_verticalalignment(), self.get_antialiased(), renderer.dpi)
        pixels = self._pixels.get(key)
        if pixels is None:
            pixels = self._pixels[key] = self._render(renderer)
            if len(self._pixels) > self.CACHED:
                self._pixels.popitem(last=False)
        image, left, bottom = pixels
        x, y = self.get_transform().transform(self.get_unitless_position())
        if image is not None and np.isfinite(x) and np.isfinite(y):
            gc = renderer.new_gc()
            self._set_gc_clip(gc)
            renderer.draw_image(gc, round(x) + left, round(y) + bottom, image)
            gc.restore()
        self.stale = False

    def _render(self, renderer) -> tuple[np.ndarray | None, int, int]:
        """The text's RGBA pixels and where their lower left corner is from the anchor."""
        width, height, _ = renderer.get_text_width_height_descent(
            self.get_text(), self.get_fontproperties(), ismath=False)
        columns, rows = 2 * math.ceil(width) + 8, 2 * math.ceil(height) + 8
        scratch = Figure(figsize=(columns / renderer.dpi, rows / renderer.dpi), dpi=renderer.dpi)
        scratch.patch.set_alpha(0)
        canvas = FigureCanvasAgg(scratch)
        anchor = (columns // 2, rows // 2)
        scratch.text(*anchor, self.get_text(), transform=IdentityTransform(),
                     color=self.get_color(), alpha=self.get_alpha(),
                     fontproperties=self.get_fontproperties(),
                     horizontalalignment=self.get_horizontalalignment(),
                     verticalalignment=self.get_verticalalignment(),
                     antialiased=self.get_antialiased())
        canvas.draw()
        pixels = np.asarray(canvas.buffer_rgba())
        ink_rows = np.flatnonzero(pixels[:, :, 3].any(axis=1))
        ink_columns = np.flatnonzero(pixels[:, :, 3].any(axis=0))
        if len(ink_rows) == 0:
            return None, 0, 0
        top, bottom = ink_rows[0], ink_rows[-1] + 1
        left, right = ink_columns[0], ink_columns[-1] + 1
        image = pixels[top:bottom, left:right][::-1].copy()  # draw_image wants the bottom row first
        return image, int(left - anchor[0]), int(pixels.shape[0] - bottom - anchor[1])


class NumberGrid:
    """A 2-D array drawn as an image, optionally with every number written in its cell.

    Made once on an axes; ``show`` puts new values in (any shape: the image, the limits, the
    ticks and the texts follow) without creating a new image, so a widget can redraw it cheaply.
    NaN cells are blank (white) and get no number. Text artists are made when a larger grid
    needs them and hidden when a smaller one does not. Every row and column gets a tick when the
    grid is at most ``ticks_up_to`` cells wide, none when it is wider; ``ticks_up_to=None`` leaves
    the ticks to matplotlib.
    """

    def __init__(self, axes: Axes, cmap: str, annotate_up_to: int = 10,
                 ticks_up_to: int | None = None, fmt: Callable[[float], str] = short_number,
                 fontsize: float = 9, labels: tuple[str, str] | None = ("column", "row")) -> None:
        self.axes = axes
        self.cmap = plt.get_cmap(cmap).with_extremes(bad="white")
        self.annotate_up_to = annotate_up_to
        self.ticks_up_to = ticks_up_to
        self.fmt, self.fontsize = fmt, fontsize
        self.image = axes.imshow(np.zeros((1, 1)), cmap=self.cmap, vmin=0, vmax=1,
                                 interpolation="nearest")  # cells as squares, and fast
        self.texts: list = []
        self.shape: tuple[int, int] | None = None
        if labels is not None:
            axes.set_xlabel(labels[0])
            axes.set_ylabel(labels[1])

    def artists(self) -> list[Artist]:
        """What ``show`` changes, in drawing order: the image, the numbers, then the frame."""
        return [self.image, *self.texts, *self.axes.spines.values()]

    def hide(self) -> None:
        """Show nothing (in a frame of one cell); the next ``show`` sets limits and ticks anew."""
        self.image.set_visible(False)
        for text in self.texts:
            text.set_visible(False)
        self.shape = None
        self.axes.set_xlim(-0.5, 0.5)
        self.axes.set_ylim(0.5, -0.5)

    def show(self, values, vmin: float, vmax: float, annotate: bool | None = None) -> None:
        """Show ``values`` (H, W) on the colour scale vmin..vmax; numbers when small enough."""
        array = as_numpy(values).astype(float)
        height, width = array.shape
        if vmax <= vmin:
            vmax = vmin + 1
        self.image.set_visible(True)
        self.image.set_data(np.ma.masked_invalid(array))
        self.image.set_clim(vmin, vmax)
        if (height, width) != self.shape:
            self.shape = (height, width)
            self.image.set_extent((-0.5, width - 0.5, height - 0.5, -0.5))
            self.axes.set_xlim(-0.5, width - 0.5)
            self.axes.set_ylim(height - 0.5, -0.5)
            if self.ticks_up_to is not None:
                small = max(height, width) <= self.ticks_up_to
                self.axes.set_xticks(range(width) if small else [])
                self.axes.set_yticks(range(height) if small else [])
        if annotate is None:
            annotate = max(height, width) <= self.annotate_up_to
        count = height * width if annotate else 0
        while len(self.texts) < count:
            text = CachedText(0, 0, "", ha="center", va="center", fontsize=self.fontsize)
            self.axes.add_artist(text)
            text.set_clip_on(False)  # as axes.text: numbers are not clipped
            self.texts.append(text)
        for index, text in enumerate(self.texts):
            if index >= count:
                text.set_visible(False)
                continue
            row, column = divmod(index, width)
            value = array[row, column]
            if math.isnan(value):
                text.set_visible(False)
                continue
            text.set_visible(True)
            text.set_position((column, row))
            text.set_text(self.fmt(value))
            text.set_color(ink_colour(self.cmap, (value - vmin) / (vmax - vmin)))


def kernel_mosaic(weight: torch.Tensor, gap: int = 1) -> torch.Tensor:
    """Conv weights (out, in, k, k) as one image: row = output channel, column = input channel.

    Kernels are separated by ``gap`` columns and rows of NaN, which ``imshow`` leaves blank.
    """
    if weight.ndim != 4:
        raise ValueError(f"weight must have shape (out, in, kh, kw), got {tuple(weight.shape)}")
    out_channels, in_channels, height, width = weight.shape
    mosaic = torch.full((out_channels * (height + gap) - gap, in_channels * (width + gap) - gap),
                        float("nan"))
    for row in range(out_channels):
        for column in range(in_channels):
            top, left = row * (height + gap), column * (width + gap)
            mosaic[top:top + height, left:left + width] = weight[row, column].detach().cpu()
    return mosaic


def shared_limit(*tensors: torch.Tensor) -> float:
    """The largest absolute value of all tensors (at least 1e-6): a colour scale from -limit to
    +limit, centred on zero, fits all."""
    return max(max(tensor.detach().abs().max().item() for tensor in tensors), 1e-6)


def plot_image_grid(images, titles: Sequence[str] | None = None, ncols: int = 10, title: str = "",
                    cmap: str = "gray", vmin: float | None = None, vmax: float | None = None,
                    colorbar_label: str | None = None) -> Figure:
    """Images in a grid, one small title each; one colour scale for all when vmin/vmax are given.

    With ``colorbar_label`` the grid shares one colour scale (the data's range unless vmin/vmax
    say otherwise) and a colour bar with that label explains it.
    """
    stack = as_image_tensor(images, "images", batch=True).numpy()
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    if titles is not None and len(titles) != len(stack):
        raise ValueError(f"got {len(titles)} titles for {len(stack)} images: give one per image")
    if colorbar_label is not None:
        vmin = float(stack.min()) if vmin is None else vmin
        vmax = float(stack.max()) if vmax is None else vmax
    ncols = min(ncols, len(stack))
    nrows = math.ceil(len(stack) / ncols)
    figure = plt.figure(figsize=(1.3 * ncols + (1.0 if colorbar_label else 0.0), 1.5 * nrows + 0.6),
                        layout="constrained")
    grid = figure.add_gridspec(nrows, ncols)
    shown = None
    for index, image in enumerate(stack):
        axes = figure.add_subplot(grid[index // ncols, index % ncols])
        shown = axes.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
        axes.set_xticks([])
        axes.set_yticks([])
        if titles is not None:
            axes.set_title(titles[index], fontsize=9)
    if colorbar_label is not None:
        figure.colorbar(shown, ax=figure.axes, label=colorbar_label, shrink=0.9)
    figure.suptitle(title)
    return figure


def plot_feature_maps(maps, title: str, ncols: int = 10, cmap: str = "viridis") -> Figure:
    """The channels of one activation (C, H, W), one colour scale for all so channels compare."""
    array = as_numpy(maps)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3:
        raise ValueError(f"maps must have shape (C, H, W) (or (1, C, H, W)), "
                         f"got {tuple(array.shape)}")
    return plot_image_grid(array, titles=[f"channel {c}" for c in range(len(array))], ncols=ncols,
                           title=title, cmap=cmap, colorbar_label="activation")


def _as_history(history) -> History:
    """A ``History`` from a ``History`` or its ``to_dict()`` (as stored in a checkpoint)."""
    if isinstance(history, History):
        return history
    if isinstance(history, dict):
        return History.from_dict(history)
    raise ValueError(f"history must be a training.History or its to_dict(), "
                     f"got {type(history).__name__}")


def _draw_curves(loss_axes: Axes, accuracy_axes: Axes, history: History,
                 blog_accuracy: Sequence[float] | None, epochs: int | None) -> None:
    """Loss per logging interval on the left, accuracy per epoch (on the history's split) on the
    right."""
    loss_axes.clear()
    accuracy_axes.clear()
    loss_axes.plot(history.loss_epoch, history.loss, marker=".", label="this run")
    loss_axes.set_title("Training loss")
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel("mean cross-entropy loss per logging interval")
    accuracy_axes.plot(history.accuracy_epoch, history.accuracy, marker="o", label="this run")
    if blog_accuracy is not None:
        accuracy_axes.plot(range(1, len(blog_accuracy) + 1), blog_accuracy, marker="s",
                           linestyle="--", color="gray", label="the blog post")
    accuracy_axes.set_title(f"{history.split.capitalize()} accuracy")
    accuracy_axes.set_xlabel("epoch")
    accuracy_axes.set_ylabel(f"{history.split} accuracy (%)")
    accuracy_axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if epochs is not None:
        loss_axes.set_xlim(0, epochs)
        accuracy_axes.set_xlim(0.5, epochs + 0.5)
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend(loc="best")


def plot_training_curves(history, blog_accuracy: Sequence[float] | None = None) -> Figure:
    """Two panels: loss per logging interval, accuracy per epoch on the history's split (and the
    blog post's)."""
    history = _as_history(history)
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    _draw_curves(loss_axes, accuracy_axes, history, blog_accuracy, None)
    epochs = history.accuracy_epoch[-1] if history.accuracy_epoch else 0
    figure.suptitle(f"Training curves ({epochs} epochs)")
    return figure


class LiveCurves:
    """Loss and accuracy curves that redraw in one place after every epoch.

    Use as ``fit(..., on_epoch_end=live.update)``. In a notebook the figure is shown once, as a PNG
    with a display id, and every ``update`` replaces that same output (``update_display``), which
    JupyterLab, Jupyter Notebook and Colab all support; the stored notebook keeps the last frame.
    Outside a notebook ``update`` prints one line per epoch instead. ``figure`` is the matplotlib
    figure; it is not registered with pyplot, so it is never shown a second time by the backend.
    """

    def __init__(self, epochs: int | None = None, blog_accuracy: Sequence[float] | None = None,
                 title: str = "Training live") -> None:
        if epochs is not None and epochs < 1:
            raise ValueError(f"epochs must be at least 1 (or None), got {epochs}")
        self.epochs = epochs
        self.blog_accuracy = blog_accuracy
        self.title = title
        self.figure = Figure(figsize=(11, 4), dpi=80, layout="constrained")
        self.loss_axes, self.accuracy_axes = self.figure.subplots(1, 2)
        self.updates = 0
        self._handle = None
        self._draw(History(), 0)

    def _draw(self, history: History, epoch: int) -> None:
        _draw_curves(self.loss_axes, self.accuracy_axes, history, self.blog_accuracy, self.epochs)
        of = f" of {self.epochs}" if self.epochs else ""
        self.figure.suptitle(f"{self.title}: epoch {epoch}{of}")

    def png(self) -> bytes:
        """The figure as it is now, as PNG bytes."""
        return figure_png(self.figure)

    def update(self, epoch: int, history: History) -> None:
        """Redraw with ``history`` after ``epoch`` (the ``on_epoch_end`` signature of ``fit``)."""
        history = _as_history(history)
        self._draw(history, epoch)
        self.updates += 1
        if not in_notebook():
            accuracy = history.accuracy[-1] if history.accuracy else float("nan")
            print(f"epoch {epoch}: {history.split} accuracy {accuracy:.2f}%")
            return
        from IPython.display import Image, display

        image = Image(data=self.png(), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)


def plot_confusion_matrix(matrix, class_names: Sequence[str], title: str) -> Figure:
    """Counts of (true, predicted) pairs, each cell written out; colours on a log scale.

    Rows are true labels and columns predicted labels. The diagonal (correct answers) is hundreds
    of times larger than the mistakes, so the colours use a log scale (empty cells stay white).
    """
    counts = as_numpy(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"matrix must be square (classes x classes), "
                         f"got shape {tuple(counts.shape)}")
    if len(class_names) != len(counts):
        raise ValueError(f"got {len(class_names)} class names for a "
                         f"{len(counts)}x{len(counts)} matrix")
    figure, axes = plt.subplots(figsize=(7, 6), layout="constrained")
    cmap = plt.get_cmap("Blues").with_extremes(bad="white")
    masked = np.ma.masked_less_equal(counts, 0)
    norm = colors.LogNorm(vmin=1, vmax=max(int(counts.max()), 2))
    shown = axes.imshow(masked, cmap=cmap, norm=norm)
    threshold = math.sqrt(norm.vmax)
    for row in range(len(counts)):
        for column in range(len(counts)):
            value = int(counts[row, column])
            axes.text(column, row, str(value), ha="center", va="center", fontsize=8,
                      color="white" if value > threshold else "black")
    ticks = range(len(class_names))
    long_names = max(len(name) for name in class_names) > 3
    axes.set_xticks(ticks, labels=list(class_names), rotation=45 if long_names else 0,
                    ha="right" if long_names else "center")
    axes.set_yticks(ticks, labels=list(class_names))
    axes.set_xlabel("predicted label")
    axes.set_ylabel("true label")
    axes.set_title(title)
    figure.colorbar(shown, ax=axes, label="number of images (log scale)")
    return figure


def plot_probabilities(probabilities, axes: Axes | None = None, label: int | None = None,
                       title: str = "What the network predicts") -> Axes:
    """A bar per class: its probability; the predicted class in orange, the true label named."""
    values = as_numpy(probabilities).astype(float)
    if axes is None:
        _, axes = plt.subplots(figsize=(5, 3), layout="constrained")
    colours = ["tab:blue"] * len(values)
    colours[int(values.argmax())] = "tab:orange"
    axes.bar(range(len(values)), values, color=colours)
    axes.set_xticks(range(len(values)))
    axes.set_ylim(0, 1)
    axes.set_xlabel("digit" + (f" (true label: {label})" if label is not None else ""))
    axes.set_ylabel("probability")
    axes.set_title(title)
    return axes


def maps_and_prediction_size(channels: int, ncols: int = 10) -> tuple[float, float]:
    """The figure size (inches) that ``plot_maps_and_prediction`` uses for ``channels`` maps."""
    ncols = min(ncols, channels)
    nrows = -(-channels // ncols)
    return max(9.0, 1.1 * ncols + 1.5), 2.6 + 1.15 * nrows


class MapsAndPrediction:
    """The panels of ``plot_maps_and_prediction``, made once on a figure or subfigure.

    ``update`` puts another digit, its probabilities and its maps into the same artists (maps of
    another size too), so a widget redraws without making a figure. The number of channels is
    fixed: make a new one for a layer with a different count.
    """

    def __init__(self, figure, channels: int, ncols: int = 10, classes: int = 10) -> None:
        ncols = min(ncols, channels)
        nrows = -(-channels // ncols)
        self.figure = figure
        top, bottom = figure.subfigures(2, 1, height_ratios=[2.4, 1.15 * nrows])
        self.digit_axes, self.bar_axes = top.subplots(1, 2, width_ratios=[1, 1.8])
        self.digit = self.digit_axes.imshow(np.zeros((1, 1)), cmap="gray", interpolation="nearest")
        self.digit_axes.set_title("input (normalised)")
        self.digit_axes.set_xlabel("column")
        self.digit_axes.set_ylabel("row")
        self.bars = self.bar_axes.bar(range(classes), np.zeros(classes), color="tab:blue")
        self.bar_axes.set_xticks(range(classes))
        self.bar_axes.set_ylim(0, 1)
        self.bar_axes.set_xlabel("digit")
        self.bar_axes.set_ylabel("probability")
        self.bar_axes.set_title("What the network predicts")
        self.true_label = self.bar_axes.text(0.99, 0.96, "", ha="right", va="top",
                                             transform=self.bar_axes.transAxes)
        grid = bottom.subplots(nrows, ncols, squeeze=False)
        self.maps = []
        for channel, axes in enumerate(grid.flat):
            axes.set_xticks([])
            axes.set_yticks([])
            if channel >= channels:
                axes.axis("off")
                continue
            self.maps.append(axes.imshow(np.zeros((1, 1)), cmap="viridis", vmin=0, vmax=1,
                                         interpolation="nearest"))
            axes.set_title(f"channel {channel}", fontsize=8)
        self.colorbar = bottom.colorbar(self.maps[0], ax=grid, label="activation", shrink=0.9)
        self.maps_title = bottom.suptitle(" ", fontsize=10)
        self.title = figure.suptitle(" ")

    def dynamic(self, title: bool = True) -> list:
        """The artists ``update`` changes for another digit, in drawing order (for blitting).

        The maps' caption changes only with the layer and the maps' size; ``title=False`` leaves
        out the title too, for a widget whose title stays.
        """
        def framed(shown):
            return [shown, *shown.axes.spines.values()]

        return [*framed(self.digit), *self.bars, *self.bar_axes.spines.values(),
                self.true_label, *(artist for shown in self.maps for artist in framed(shown)),
                self.colorbar.ax, *([self.title] if title else [])]

    @staticmethod
    def _show(shown, values: np.ndarray, low: float, high: float) -> None:
        """New data (maybe of a new size) and colour limits for one image of a panel."""
        if shown.get_array().shape != values.shape:
            height, width = values.shape
            shown.set_extent((-0.5, width - 0.5, height - 0.5, -0.5))
            shown.axes.set_xlim(-0.5, width - 0.5)
            shown.axes.set_ylim(height - 0.5, -0.5)
        shown.set_data(values)
        shown.set_clim(low, high if high > low else low + 1e-6)

    def update(self, image: torch.Tensor, maps: torch.Tensor, probabilities, layer: str,
               title: str, label: int | None = None) -> None:
        """Show one digit (1, H, W) or (H, W), its maps (C, H', W') and its probabilities."""
        if len(maps) != len(self.maps):
            raise ValueError(f"these panels show {len(self.maps)} channels, got {len(maps)}")
        digit = as_numpy(image).squeeze()
        self._show(self.digit, digit, float(digit.min()), float(digit.max()))
        values = as_numpy(probabilities).astype(float)
        best = int(values.argmax())
        for digit_class, (bar, value) in enumerate(zip(self.bars, values)):
            bar.set_height(value)
            bar.set_color("tab:orange" if digit_class == best else "tab:blue")
        self.true_label.set_text("" if label is None else f"true label: {label}")
        array = as_numpy(maps)
        low, high = float(array.min()), float(array.max())
        for shown, values in zip(self.maps, array):
            self._show(shown, values, low, high)
        height, width = array.shape[-2:]
        self.maps_title.set_text(f"{layer}: {len(array)} feature maps of {height}x{width}, "
                                 f"one colour scale")
        self.title.set_text(title)


def plot_maps_and_prediction(image: torch.Tensor, maps: torch.Tensor, probabilities, layer: str,
                             title: str, label: int | None = None, ncols: int = 10) -> Figure:
    """One figure: the input digit, the predicted probabilities, and every channel of one layer."""
    figure = plt.figure(figsize=maps_and_prediction_size(len(maps), ncols), layout="constrained")
    MapsAndPrediction(figure, len(maps), ncols).update(image, maps, probabilities, layer, title,
                                                       label)
    return figure


def _outline(axes: Axes, row: float, column: float, height: float, width: float,
             colour: tuple[float, ...] | str, inset: float = 0.0) -> None:
    """Draw a ``height`` x ``width`` frame of cells from cell (row, column) on ``axes``, ``inset``
    cells inside their border (so that frames on the same cells stay apart)."""
    axes.add_patch(Rectangle((column - 0.5 + inset, row - 0.5 + inset), width - 2 * inset,
                             height - 2 * inset, fill=False, edgecolor=colour, linewidth=2.5,
                             clip_on=False))


def plot_im2col(image: torch.Tensor, kernel: torch.Tensor) -> Figure:
    """The input with its windows, the kernel as a row, the column matrix, their product and the
    output map; window k, column k and output k share one colour."""
    parts = im2col_parts(image, kernel)
    columns, output = parts["columns"], parts["output"]
    if columns.shape[1] > MAX_WINDOWS:
        raise ValueError(f"the image has {columns.shape[1]} windows; the figure writes every "
                         f"number and stays readable up to {MAX_WINDOWS}: use a smaller image")
    (kh, kw), (out_h, out_w), windows = kernel.shape, output.shape, columns.shape[1]
    figure, axes = plt.subplots(1, 5, figsize=(16, 4.6), layout="constrained",
                                width_ratios=[max(width, 3) for width in
                                              (image.shape[1], kh * kw, windows, windows, out_w)])
    panels = [(image, "1. input x,\nits windows outlined", ("column", "row")),
              (parts["kernel_row"], f"2. kernel w as one row\n(1x{kh * kw})",
               ("position in the kernel", "")),
              (columns, f"3. im2col matrix ({kh * kw}x{windows}):\nwindow k is column k",
               ("column = window", "position in the window")),
              (parts["outputs"], f"4. row 2 @ matrix 3:\none output per window (1x{windows})",
               ("column = window", "")),
              (output, f"5. row 4 reshaped:\nthe feature map ({out_h}x{out_w})", ("column", "row"))]
    for ax, (values, title, labels) in zip(axes, panels):
        grid = NumberGrid(ax, "Blues", ticks_up_to=MAX_WINDOWS, labels=labels)
        low, high = float(values.min()), float(values.max())
        grid.show(values, low, high + 0.3 * (high - low))  # light colours: the numbers read well
        ax.set_title(title)
    axes[1].set_yticks([])
    axes[3].set_yticks([])
    for window in range(windows):
        colour = WINDOW_COLOURS[window % len(WINDOW_COLOURS)]
        row, column = divmod(window, out_w)
        _outline(axes[0], row, column, kh, kw, colour, inset=0.06 * (window % 4))
        _outline(axes[2], 0, window, kh * kw, 1, colour, inset=0.04)
        _outline(axes[3], 0, window, 1, 1, colour, inset=0.04)
        _outline(axes[4], row, column, 1, 1, colour, inset=0.04)
    figure.suptitle("im2col: every window becomes a column, so the whole convolution is one "
                    "matrix product")
    return figure


def _shift_words(shift: tuple[int, int]) -> str:
    """A (down, right) shift in words, e.g. (-3, 4) -> "moved 3 up, 4 right"."""
    (down, right), parts = shift, []
    if down:
        parts.append(f"{abs(down)} {'down' if down > 0 else 'up'}")
    if right:
        parts.append(f"{abs(right)} {'right' if right > 0 else 'left'}")
    return f"moved {', '.join(parts)}" if parts else "not moved"


def plot_equivariance(digit, moved, digit_map, moved_map, difference, shift: tuple[int, int],
                      map_name: str = "feature map") -> Figure:
    """A digit, the digit moved by ``shift`` (down, right), their maps (``map_name``, e.g.
    "vertical-edge map"), and the moved map moved back minus the digit's map, on one red-blue
    scale (NaN, no value: dark grey)."""
    images = [as_image_tensor(digit, "digit"), as_image_tensor(moved, "moved")]
    maps = [as_image_tensor(values, name) for values, name in
            ((digit_map, "digit_map"), (moved_map, "moved_map"), (difference, "difference"))]
    if images[0].shape != images[1].shape or len({m.shape for m in maps}) != 1:
        raise ValueError(f"digit and moved must share a shape, and so must the three maps; got "
                         f"{[tuple(i.shape) for i in images]} and {[tuple(m.shape) for m in maps]}")
    figure, axes = plt.subplots(1, 5, figsize=(17, 3.9), layout="constrained")
    limit = max(maps[0].abs().max().item(), 1e-6)
    red_blue = plt.get_cmap("RdBu_r").with_extremes(bad="dimgrey")
    titles = ["the digit", _shift_words(shift), f"its {map_name}", "the moved digit's map",
              "moved digit's map, moved back,\nminus the digit's map"]
    shown = None
    for index, (ax, image, title) in enumerate(zip(axes, [i.numpy() for i in images + maps],
                                                   titles)):
        if index < 2:
            ax.imshow(image, cmap="gray")
        else:
            shown = ax.imshow(image, cmap=red_blue, vmin=-limit, vmax=limit)
        ax.set_title(title)
        ax.set_xlabel("column")
        ax.set_ylabel("row")
    figure.colorbar(shown, ax=axes[2:], shrink=0.8,
                    label="response (dark grey: no value, came from outside)")
    figure.suptitle("Translation equivariance: move the digit, and its feature map moves the same "
                    "way (the difference is 0 wherever both maps have a value)")
    return figure


def plot_kernel_fit(fit: KernelFit, true_kernel: torch.Tensor,
                    snapshots: tuple[int, ...] = (0, 5, 20, 50, 150)) -> Figure:
    """The kernel at a few steps next to the true one (numbers written in), and the loss curve."""
    last = len(fit.kernels) - 1
    snapshots = tuple(step for step in snapshots if step <= last) or (last,)
    shown = [fit.kernels[step] for step in snapshots] + [true_kernel]
    limit = max(float(kernel.abs().max()) for kernel in shown)
    figure = plt.figure(figsize=(2.0 * len(shown), 5.6), layout="constrained")
    top, bottom = figure.subfigures(2, 1, height_ratios=[1.1, 1])
    for axes, kernel, title in zip(top.subplots(1, len(shown)), shown,
                                   [f"step {step}" for step in snapshots] + ["true kernel"]):
        axes.imshow(kernel.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
        for (row, column), value in zip(((r, c) for r in range(kernel.shape[0])
                                         for c in range(kernel.shape[1])), kernel.flatten()):
            axes.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=8)
        axes.set_title(title)
        axes.set_xticks(range(kernel.shape[1]))
        axes.set_yticks(range(kernel.shape[0]))
        axes.set_xlabel("column")
    top.axes[0].set_ylabel("row")
    top.suptitle("The kernel as gradient descent moves it (same colour scale for all)")
    axes = bottom.subplots()
    axes.semilogy(fit.losses.numpy())
    for step in snapshots:
        axes.axvline(step, color="grey", linestyle=":", linewidth=1)
    axes.set_title("Mean squared error between the kernel's output and the targets")
    axes.set_xlabel("gradient descent step")
    axes.set_ylabel("loss (log scale)")
    return figure
