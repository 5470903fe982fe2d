"""Figures of the course: image and feature-map grids, training curves (static and live), confusion matrices.

Every function returns a matplotlib ``Figure`` with a title and labelled axes (or a caption and a
colour bar for image grids), so tests can check what is drawn and notebooks end with ``plt.show()``.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import colors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mnist_tutorial.training import History


def as_numpy(values) -> np.ndarray:
    """A detached CPU numpy copy of a tensor, array or nested list (what matplotlib expects)."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def _image_stack(images) -> np.ndarray:
    """(N, H, W) from (N, H, W) or (N, 1, H, W); a clear error for any other shape."""
    array = as_numpy(images)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W) or (N, 1, H, W), got {tuple(array.shape)}")
    if len(array) == 0:
        raise ValueError("images is empty: pass at least one image")
    return array


def figure_png(figure: Figure, dpi: int = 80, **savefig_options) -> bytes:
    """The figure as PNG bytes, what an ``ipywidgets.Image`` shows."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, **savefig_options)
    return buffer.getvalue()


def plot_image_grid(images, titles: Sequence[str] | None = None, ncols: int = 10, title: str = "",
                    cmap: str = "gray", vmin: float | None = None, vmax: float | None = None,
                    colorbar_label: str | None = None) -> Figure:
    """Images in a grid, one small title each; one colour scale for all when vmin/vmax are given.

    With ``colorbar_label`` the grid shares one colour scale (the data's range unless vmin/vmax
    say otherwise) and a colour bar with that label explains it.
    """
    stack = _image_stack(images)
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
        raise ValueError(f"maps must have shape (C, H, W) (or (1, C, H, W)), got {tuple(array.shape)}")
    return plot_image_grid(array, titles=[f"channel {c}" for c in range(len(array))], ncols=ncols,
                           title=title, cmap=cmap, colorbar_label="activation")


def _as_history(history) -> History:
    """A ``History`` from a ``History`` or its ``to_dict()`` (as stored in a checkpoint)."""
    if isinstance(history, History):
        return history
    if isinstance(history, dict):
        return History(**history)
    raise ValueError(f"history must be a training.History or its to_dict(), got {type(history).__name__}")


def _draw_curves(loss_axes: Axes, accuracy_axes: Axes, history: History,
                 blog_accuracy: Sequence[float] | None, epochs: int | None) -> None:
    """Loss per logging interval on the left, test accuracy per epoch on the right."""
    loss_axes.clear()
    accuracy_axes.clear()
    loss_axes.plot(history.loss_epoch, history.loss, marker=".", label="this run")
    loss_axes.set_title("Training loss")
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel("mean cross-entropy loss per logging interval")
    accuracy_axes.plot(range(1, len(history.test_accuracy) + 1), history.test_accuracy,
                       marker="o", label="this run")
    if blog_accuracy is not None:
        accuracy_axes.plot(range(1, len(blog_accuracy) + 1), blog_accuracy, marker="s",
                           linestyle="--", color="gray", label="the blog post")
    accuracy_axes.set_title("Test accuracy")
    accuracy_axes.set_xlabel("epoch")
    accuracy_axes.set_ylabel("test accuracy (%)")
    accuracy_axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if epochs is not None:
        loss_axes.set_xlim(0, epochs)
        accuracy_axes.set_xlim(0.5, epochs + 0.5)
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend(loc="best")


def plot_training_curves(history, blog_accuracy: Sequence[float] | None = None) -> Figure:
    """Two panels: training loss per logging interval and test accuracy per epoch (and the blog post's)."""
    history = _as_history(history)
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    _draw_curves(loss_axes, accuracy_axes, history, blog_accuracy, None)
    figure.suptitle(f"Training curves ({len(history.test_accuracy)} epochs)")
    return figure


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, Colab), False in a script or terminal."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return hasattr(get_ipython(), "kernel")


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
        self.figure = Figure(figsize=(11, 4), layout="constrained")
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
        self._draw(_as_history(history), epoch)
        self.updates += 1
        if not _in_notebook():
            accuracy = history.test_accuracy[-1] if history.test_accuracy else float("nan")
            print(f"epoch {epoch}: test accuracy {accuracy:.2f}%")
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
        raise ValueError(f"matrix must be square (classes x classes), got shape {tuple(counts.shape)}")
    if len(class_names) != len(counts):
        raise ValueError(f"got {len(class_names)} class names for a {len(counts)}x{len(counts)} matrix")
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


def figure_output(figure: Figure) -> dict:
    """A figure as one notebook output (a PNG), the form an ``Output`` widget's ``outputs`` hold."""
    png = figure_png(figure, dpi=90, bbox_inches="tight")
    title = figure._suptitle.get_text() if figure._suptitle is not None else "figure"
    plt.close(figure)
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(png).decode("ascii"),
                     "text/plain": f"<Figure: {title}>"}}


def show_figures(output, figures: list[Figure]) -> None:
    """Make an ``ipywidgets.Output`` show exactly these figures, in one state update.

    Setting ``outputs`` directly, rather than capturing with ``with output: display(...)``, works
    the same in JupyterLab, Notebook and Colab, and avoids the message round trip that
    ``nbconvert --execute`` uses to imitate a capturing Output widget, which can deadlock
    (jupyter/nbconvert#1921, jupyter/nbclient#312).
    """
    output.outputs = tuple(figure_output(figure) for figure in figures)


def plot_probabilities(probabilities, axes: Axes | None = None, label: int | None = None,
                       title: str = "What the network predicts") -> Axes:
    """A bar per class: the softmax probability; the predicted class in orange, the true label marked."""
    values = np.asarray(torch.as_tensor(probabilities).detach().cpu(), dtype=float)
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


def plot_maps_and_prediction(image: torch.Tensor, maps: torch.Tensor, probabilities, layer: str,
                             title: str, label: int | None = None, ncols: int = 10) -> Figure:
    """One figure: the input digit, the predicted probabilities, and every channel of one layer."""
    channels = len(maps)
    ncols = min(ncols, channels)
    nrows = -(-channels // ncols)
    figure = plt.figure(figsize=(max(9.0, 1.1 * ncols + 1.5), 2.6 + 1.15 * nrows), layout="constrained")
    top, bottom = figure.subfigures(2, 1, height_ratios=[2.4, 1.15 * nrows])
    digit_axes, bar_axes = top.subplots(1, 2, width_ratios=[1, 1.8])
    digit_axes.imshow(as_numpy(image.squeeze()), cmap="gray")
    digit_axes.set_title("input (normalised)")
    digit_axes.set_xlabel("column")
    digit_axes.set_ylabel("row")
    plot_probabilities(probabilities, bar_axes, label=label)
    grid = bottom.subplots(nrows, ncols, squeeze=False)
    low, high = maps.min().item(), maps.max().item()
    for channel, axes in enumerate(grid.flat):
        axes.set_xticks([])
        axes.set_yticks([])
        if channel >= channels:
            axes.axis("off")
            continue
        shown = axes.imshow(as_numpy(maps[channel]), cmap="viridis", vmin=low, vmax=high)
        axes.set_title(f"channel {channel}", fontsize=8)
    bottom.colorbar(shown, ax=grid, label="activation", shrink=0.9)
    height, width = maps.shape[-2:]
    bottom.suptitle(f"{layer}: {channels} feature maps of {height}x{width}, one colour scale", fontsize=10)
    figure.suptitle(title)
    return figure
