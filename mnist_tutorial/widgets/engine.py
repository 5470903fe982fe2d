"""The shared layer of the course's interactive widgets: one API, one way to show a figure.

Seven classes build on :class:`InteractiveFigure`: ``SlidingWindowStepper`` and
``KernelPlayground`` (notebook 01), ``PaddingStrideExplorer`` (02), ``PoolingExplorer`` (03),
``GradientExplorer`` (06), ``FeatureExplorer`` and ``DigitPad`` (07). They all answer to the same
names:

``set(**settings)``
    Change any of the widget's settings at once, e.g. ``explorer.set(size=3, stride=2)``. Every
    value is checked first: a bad one raises a ``ValueError`` that names it, and nothing changes.
    Then the results are recomputed and, when the widget is on screen, its controls and picture
    are updated, once. Attributes such as ``explorer.stride = 2`` or ``stepper.step = 3`` are
    shortcuts for ``set``; ``SETTINGS`` lists the names a class accepts.
``plot()``
    The current state as a new matplotlib figure, for a static notebook output (end the cell with
    ``plt.show()``); None when there is nothing to draw yet. The figure has a title, its panels
    titles and labelled axes (small thumbnails such as feature maps only a title), its colour bars
    a label.
``widget``
    The interactive version: an ipywidgets box with the controls, a status line and the picture.
    It is built on first use and is the same object afterwards. A widget object that ends a
    notebook cell shows this box (``_ipython_display_``).
``controls``
    The widget's ipywidgets controls by name (building the widget on first use). Setting a
    control's ``value``, or calling a button's ``click()``, does what the browser does; a value
    the widget refuses is reported in red in the status line instead of raising.
``png()``
    The picture the widget shows, as PNG bytes (empty when there is nothing to draw).

How the picture is shown, and why it is fast: every widget keeps one matplotlib ``Figure`` (not a
pyplot one, so a notebook never shows it a second time). Its panels are laid out once, with
constrained layout, on the first draw; after that the layout is frozen, and a change of a setting
only updates the existing artists (image data and colour limits, texts, patches). Most of a
figure does not change with a slider (axes, ticks, labels, legends, other panels): it is drawn
once into a background that is kept (a few, by what they show), and each change draws only the
artists that changed onto it (blitting); numbers in grids are copied from pixels rendered once
(:class:`CachedText`). :func:`mnist_tutorial.plotting.figure_png` turns the pixels into PNG bytes
at 72 dpi. The figure is made anew only when its panels change (a layer with another number of
channels); the last few are kept for a return. The computations of a change run on one
PyTorch thread (:func:`one_thread`).

The PNG goes to an ``ipywidgets.Image``, set once per change, the same in JupyterLab, Notebook
and Colab: unlike an ``Output`` widget it needs no output capture, which nbconvert's executor
can deadlock on (jupyter/nbconvert#1921, jupyter/nbclient#312). Only APIs that ipywidgets 7.7
(Colab) and 8 share are used. ``benchmarks/widget_latency.py`` measures the time from a control
change to the new picture.
"""

from __future__ import annotations

import collections
import contextlib
import math
import numbers
from collections.abc import Callable, Hashable

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import colors
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import IdentityTransform

from mnist_tutorial.plotting import figure_png

DPI = 72  # pixels per inch of the pictures the widgets show: 10 pt text is 10 pixels high
BACKGROUNDS = 8  # static parts kept per figure (each about 1 MB)
FIGURES = 3  # figures kept per widget: a layer with another number of channels and back


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


def is_integer(value) -> bool:
    """True for Python, numpy and 0-d torch integers, False for bools, floats and anything else."""
    if isinstance(value, torch.Tensor):
        return value.dim() == 0 and not value.is_floating_point() and value.dtype != torch.bool
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


@contextlib.contextmanager
def one_thread():
    """Run PyTorch on one thread meanwhile: a widget computes one small image at a time.

    For work this small, threads only add synchronisation, and on a busy machine (Colab's two
    cores, a laptop running a training) every parallel step waits until all its threads get a
    core: a 28x28 convolution took 15 ms on two threads instead of 0.1 ms on one. The number of
    threads is put back afterwards.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def setting(name: str, doc: str | None = None) -> property:
    """An attribute that reads a setting and writes it through ``set`` (``explorer.stride = 2``)."""
    return property(lambda self: self._settings[name],
                    lambda self, value: self.set(**{name: value}),
                    doc=doc or f"The {name} (setting it goes through ``set``).")


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
        array = np.asarray(torch.as_tensor(values).detach().cpu(), dtype=float)
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


class InteractiveFigure:
    """The base of every widget of the course; its API is described in the module docstring.

    A subclass provides: ``SETTINGS`` (the names ``set`` accepts) and ``_apply(settings)`` (check
    them all, then store and recompute); ``_build(figure)``, which makes the panels with their
    titles and labels and returns the artists that change, and ``_update(artists)``, which puts
    the current state into them; ``_make_controls()`` and ``_arrange(controls)`` for the
    ipywidgets part and ``_show_controls()`` to copy the state into the controls. Optional:
    ``_figure_key()`` (a change rebuilds the figure), ``_dynamic(artists)`` and
    ``_background_key()`` (redraw only what changes), ``_drawable()``, ``_status_html()`` and
    ``FIGSIZE`` (or ``_figsize()``).
    """

    SETTINGS: tuple[str, ...] = ()
    FIGSIZE: tuple[float, float] = (10.0, 4.2)

    def __init__(self) -> None:
        self._settings: dict = {}
        self._widget: widgets.VBox | None = None
        self._controls: dict[str, widgets.Widget] = {}
        self._status: widgets.HTML | None = None
        self._picture: widgets.Image | None = None
        self._figure: Figure | None = None
        self._artists = None
        self._key: Hashable = None
        # the Agg pixels of everything but the dynamic artists, by background key: going back
        # and forth between settings (a slider between two values) reuses them
        self._backgrounds: collections.OrderedDict = collections.OrderedDict()
        # figures with other panels (another figure key), with their artists and backgrounds
        self._figures: collections.OrderedDict = collections.OrderedDict()
        self._syncing = False
        self._error = ""

    # --- what subclasses provide ------------------------------------------------------------
    def _apply(self, settings: dict) -> None:
        raise NotImplementedError

    def _build(self, figure: Figure):
        raise NotImplementedError

    def _update(self, artists) -> None:
        raise NotImplementedError

    def _make_controls(self) -> dict[str, widgets.Widget]:
        raise NotImplementedError

    def _arrange(self, controls: dict[str, widgets.Widget]) -> list[widgets.Widget]:
        """The rows of controls above the status line and the picture (default: one row)."""
        return [widgets.HBox(list(controls.values()))]

    def _show_controls(self) -> None:
        """Copy the current state into the controls (their observers are muted meanwhile)."""

    def _watch(self, controls: dict[str, widgets.Widget]) -> dict[str, widgets.Widget]:
        """Send each control's new value to ``_on_control(name, value)``; the controls."""
        for name, control in controls.items():
            control.observe(lambda change, name=name: self._on_control(name, change["new"]),
                            names="value")
        return controls

    def _on_control(self, name: str, value) -> None:
        """Control ``name`` shows ``value``: "row" and "column" move ``cell``; any other name is
        the setting of that name."""
        if name in ("row", "column"):
            row, column = self.cell
            self._from_control(cell=(value, column) if name == "row" else (row, value))
        else:
            self._from_control(**{name: value})

    def _figure_key(self) -> Hashable:
        """Whatever decides the figure's panels; when it changes, the figure is made anew."""
        return None

    def _dynamic(self, artists) -> list[Artist] | None:
        """The artists a change may alter, in drawing order; None redraws the whole figure.

        Everything else is drawn once into a background that is reused (blitting) until
        ``_background_key`` changes, so it must not change meanwhile: an artist whose limits,
        ticks or visibility change belongs here (an axes here is drawn whole).
        """
        return None

    def _background_key(self) -> Hashable:
        """Whatever the static part of the figure shows: a new key draws it (and keeps it)."""
        return None

    def _figsize(self) -> tuple[float, float]:
        """The figure's size in inches (``FIGSIZE`` unless it depends on the state)."""
        return self.FIGSIZE

    def _drawable(self) -> bool:
        """False when there is nothing to draw (``plot()`` gives None, the picture is hidden)."""
        return True

    def _status_html(self) -> str:
        """The status line under the controls (HTML)."""
        return str(getattr(self, "message", ""))

    # --- the shared API -----------------------------------------------------------------------
    def set(self, **settings) -> None:
        """Change any settings (names in ``SETTINGS``); checked first, then everything updates."""
        unknown = [name for name in settings if name not in self.SETTINGS]
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r}: choose from {list(self.SETTINGS)}")
        with one_thread():
            self._apply(settings)
        self._error = ""
        self._refresh()

    def plot(self) -> Figure | None:
        """The current state as a new pyplot figure (for a static output), or None."""
        if not self._drawable():
            return None
        figure = plt.figure(figsize=self._figsize(), layout="constrained")
        self._update(self._build(figure))
        return figure

    def png(self) -> bytes:
        """The picture the widget shows, as PNG bytes (b"" when there is nothing to draw).

        The kept figure is made and laid out on the first call and whenever ``_figure_key``
        changes; otherwise only its artists are updated. Then the static part is drawn if it is
        new (``_background_key``) or restored, and the dynamic artists are drawn onto it.
        """
        if not self._drawable():
            return b""
        key = self._figure_key()
        if self._figure is None or key != self._key:
            if self._figure is not None:  # kept for a return to these panels
                self._figures[self._key] = (self._figure, self._artists, self._backgrounds)
            if key in self._figures:
                self._figure, self._artists, self._backgrounds = self._figures.pop(key)
                self._update(self._artists)
            else:
                figure = Figure(figsize=self._figsize(), dpi=DPI, layout="constrained")
                FigureCanvasAgg(figure)
                self._artists = self._build(figure)
                self._update(self._artists)
                figure.draw_without_rendering()  # the constrained layout, computed once...
                figure.set_layout_engine("none")  # ...and kept: the panels stay where they are
                self._figure, self._backgrounds = figure, collections.OrderedDict()
            self._key = key
            while len(self._figures) >= FIGURES:
                self._figures.popitem(last=False)  # the one left longest ago
        else:
            self._update(self._artists)
        figure, dynamic = self._figure, self._dynamic(self._artists)
        if dynamic is None:
            return figure_png(figure)
        background_key = self._background_key()
        background = self._backgrounds.get(background_key)
        if background is None:
            for artist in dynamic:
                artist.set_animated(True)  # left out of the background
            figure.canvas.draw()
            self._backgrounds[background_key] = figure.canvas.copy_from_bbox(figure.bbox)
            if len(self._backgrounds) > BACKGROUNDS:
                self._backgrounds.popitem(last=False)  # the one used longest ago
        else:
            self._backgrounds.move_to_end(background_key)
            figure.canvas.restore_region(background)
        for artist in dynamic:
            figure.draw_artist(artist)
        return figure_png(figure, draw=False)

    @property
    def widget(self) -> widgets.VBox:
        """The interactive version: controls, a status line and the picture (built once)."""
        if self._widget is None:
            self._controls = self._make_controls()
            self._status = widgets.HTML()
            self._picture = widgets.Image(format="png")
            self._widget = widgets.VBox([*self._arrange(self._controls), self._status,
                                         self._picture])
            self._refresh()
        return self._widget

    @property
    def controls(self) -> dict[str, widgets.Widget]:
        """The widget's controls by name (builds the widget on first use)."""
        _ = self.widget
        return self._controls

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # --- plumbing -------------------------------------------------------------------------------
    def _from_control(self, **settings) -> None:
        """What a control's observer calls: ``set``; a bad value is reported in the status line."""
        if self._syncing:
            return
        try:
            self.set(**settings)
        except ValueError as error:
            self._error = str(error)
            self._refresh(picture=False)

    def _refresh(self, picture: bool = True) -> None:
        """Controls, status line and (once) the picture follow the state, once the widget exists."""
        if self._widget is None:
            return
        self._syncing = True
        try:
            self._show_controls()
        finally:
            self._syncing = False
        status = self._status_html()
        if self._error:
            status = f'<span style="color:red">{self._error}</span><br>{status}'
        self._status.value = status
        if picture:
            png = self.png()
            self._picture.layout.display = None if png else "none"
            if png:
                self._picture.value = png
