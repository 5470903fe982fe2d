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
artists that changed onto it (blitting); numbers in grids
(:class:`mnist_tutorial.plotting.NumberGrid`) are copied from pixels rendered once
(``plotting.CachedText``). ``plotting.figure_png`` turns the pixels into PNG bytes at 72 dpi.
The figure is made anew only when its panels change (a layer with another number of channels);
the last few are kept for a return. The computations of a change run on one
PyTorch thread (:func:`mnist_tutorial.config.one_thread`).

The PNG goes to an ``ipywidgets.Image``, set once per change, the same in JupyterLab, Notebook
and Colab: unlike an ``Output`` widget it needs no output capture, which nbconvert's executor
can deadlock on (jupyter/nbconvert#1921, jupyter/nbclient#312). Only APIs that ipywidgets 7.7
(Colab) and 8 share are used. ``benchmarks/widget_latency.py`` measures the time from a control
change to the new picture.

How the picture follows the hand: sliders send every value while they move
(``continuous_update=True``), faster than a picture is drawn (30-60 ms). The kernel handles
messages one at a time, so the values that arrive while a picture is drawn wait in its queue;
drawing each in turn would leave the picture ever further behind the hand. Instead, changes that
arrive from the browser are coalesced, the latest value winning:

- A change from the browser (the kernel is handling a ``comm_msg``) is checked and stored at
  once (a few milliseconds: the state, ``explorer.step`` and the like, is always the latest), but
  drawing waits on the kernel's event loop (``asyncio``, which ipykernel 6.17 and 7 run on)
  until no other change has been handled for ``QUIET_S``. Messages that queued during a drawing
  are handled back to back, much closer together than that, so they end in one picture, of the
  last of them; a steady stream is still drawn at least every ``LONGEST_WAIT_S``. Waiting for
  quiet needs nothing from ipykernel's internals, unlike peeking into its queue.
- It ends on the final value: a stored change always leaves a drawing scheduled (a timer that,
  when it fires, either waits on or draws), and a drawing shows the state as it is then, which
  includes every change handled before it. A change after it schedules the next one.
- Changes made by code (``set``, an attribute, a control's ``value`` or ``click()`` in a cell or a
  test) are drawn before the call returns, as before. JupyterLab's and Notebook's widget
  JavaScript also hold back a model's next message until the kernel has handled the previous
  one; Colab's widget manager reports a message as handled once it is sent, so there the
  coalescing in the kernel is what keeps up.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Hashable

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mnist_tutorial.config import one_thread
from mnist_tutorial.plotting import figure_png

DPI = 72  # pixels per inch of the pictures the widgets show: 10 pt text is 10 pixels high
BACKGROUNDS = 8  # static parts kept per figure (each about 1 MB)
FIGURES = 3  # figures kept per widget: a layer with another number of channels and back
QUIET_S = 0.005  # a change from the browser is drawn once no other came for this long...
LONGEST_WAIT_S = 0.1  # ...or when the first change not drawn yet is this old


def setting(name: str, doc: str | None = None) -> property:
    """An attribute that reads a setting and writes it through ``set`` (``explorer.stride = 2``)."""
    return property(lambda self: self._settings[name],
                    lambda self, value: self.set(**{name: value}),
                    doc=doc or f"The {name} (setting it goes through ``set``).")


def browser_event_loop() -> asyncio.AbstractEventLoop | None:
    """The kernel's running event loop while it handles a widget message from the browser, else
    None (code in a cell or a test, or no kernel)."""
    from IPython import get_ipython

    get_parent = getattr(getattr(get_ipython(), "kernel", None), "get_parent", None)
    if get_parent is None or get_parent("shell").get("header", {}).get("msg_type") != "comm_msg":
        return None
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


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
        # coalescing changes from the browser (module docstring): None when the widget shows
        # the state, else whether its picture is behind too (not only its status line)
        self._undrawn: bool | None = None
        self._draw_timer: asyncio.TimerHandle | None = None
        self._first_undrawn = self._last_change = 0.0  # by the event loop's clock

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
        self._store(settings)
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
    def _store(self, settings: dict) -> None:
        """Check and apply ``settings`` (a ``ValueError`` changes nothing), without drawing."""
        unknown = [name for name in settings if name not in self.SETTINGS]
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r}: choose from {list(self.SETTINGS)}")
        with one_thread():
            self._apply(settings)
        self._error = ""

    def _from_control(self, **settings) -> None:
        """What a control's observer calls: ``set``, drawn at once for code and coalesced for the
        browser (module docstring); a bad value is reported in the status line."""
        if self._syncing:
            return
        try:
            self._store(settings)
            picture = True
        except ValueError as error:
            self._error = str(error)
            picture = False
        loop = browser_event_loop()
        if loop is None:
            self._refresh(picture)
            return
        self._undrawn = picture or bool(self._undrawn)
        self._last_change = loop.time()
        if self._draw_timer is None:
            self._first_undrawn = self._last_change
            self._draw_timer = loop.call_later(min(QUIET_S, LONGEST_WAIT_S),
                                               self._draw_when_quiet)

    def _draw_when_quiet(self) -> None:
        """The timer of a change from the browser: wait on while changes come, else draw."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        quiet_for, waited = now - self._last_change, now - self._first_undrawn
        if quiet_for < QUIET_S and waited < LONGEST_WAIT_S:
            wait = min(QUIET_S - quiet_for, LONGEST_WAIT_S - waited)
            self._draw_timer = loop.call_later(wait, self._draw_when_quiet)
            return
        self._draw_timer = None
        if self._undrawn is not None:  # None: drawn meanwhile, by code
            self._refresh(self._undrawn)

    def _refresh(self, picture: bool = True) -> None:
        """Controls, status line and (once) the picture follow the state, once the widget exists."""
        if self._widget is None:
            return
        picture, self._undrawn = picture or bool(self._undrawn), None
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
