"""What a trained network computes inside: its kernels, the maps they produce, and an explorer.

A convolution layer's *kernels* (its weights) are small images; each slides over its input and
writes a *feature map*: large where the input looks like the kernel. This module draws kernels and
feature maps (computed by :mod:`mnist_tutorial.activations`), and wraps them in a widget that shows
every channel of a chosen layer for a chosen test digit.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from mnist_tutorial.activations import layer_names, layer_outputs
from mnist_tutorial.checks import is_integer
from mnist_tutorial.data import TensorSplit
from mnist_tutorial.evaluation import misclassified_indices, predict
from mnist_tutorial.plotting import (
    MapsAndPrediction,
    as_numpy,
    kernel_mosaic,
    maps_and_prediction_size,
    plot_image_grid,
    shared_limit,
)
from mnist_tutorial.widgets.engine import InteractiveFigure

KERNEL_CMAP = "RdBu_r"  # negative weights blue, positive red, zero white


def plot_conv1_kernels(trained: nn.Module, untrained: nn.Module) -> Figure:
    """The 10 conv1 kernels before and after training, on one colour scale centred on zero."""
    before, after = (model.conv1.weight[:, 0].detach().cpu() for model in (untrained, trained))
    limit = shared_limit(before, after)
    titles = ([f"untrained {c}" for c in range(len(before))]
              + [f"trained {c}" for c in range(len(after))])
    return plot_image_grid(torch.cat([before, after]), titles=titles, ncols=len(before),
                           title="conv1's 10 kernels (5x5 weights): untrained (top) and trained "
                                 "(bottom)",
                           cmap=KERNEL_CMAP, vmin=-limit, vmax=limit, colorbar_label="weight")


def plot_conv2_kernels(trained: nn.Module, untrained: nn.Module) -> Figure:
    """The 20x10 conv2 kernels before and after training as two mosaics on one colour scale."""
    limit = shared_limit(trained.conv2.weight, untrained.conv2.weight)
    figure, panels = plt.subplots(1, 2, figsize=(9, 8), layout="constrained")
    cmap = plt.get_cmap(KERNEL_CMAP).with_extremes(bad="white")
    for axes, model, name in zip(panels, (untrained, trained), ("untrained", "trained")):
        weight = model.conv2.weight
        shown = axes.imshow(as_numpy(kernel_mosaic(weight)), cmap=cmap, vmin=-limit, vmax=limit)
        size = weight.shape[-1] + 1
        columns, rows = range(weight.shape[1]), range(weight.shape[0])
        axes.set_xticks([size * c + size // 2 - 1 for c in columns], columns)
        axes.set_yticks([size * r + size // 2 - 1 for r in rows], rows)
        axes.set_xlabel("input channel (a conv1 feature map)")
        axes.set_ylabel("output channel (a conv2 feature map)")
        axes.set_title(name)
    figure.colorbar(shown, ax=panels, label="weight", shrink=0.6)
    figure.suptitle("conv2's 20 x 10 kernels (each 5x5): one row per output channel")
    return figure


def plot_kernel_responses(model: nn.Module, image: torch.Tensor, label: str = "") -> Figure:
    """Each conv1 kernel (top row) and what it makes of one digit (bottom row): its feature map."""
    maps = layer_outputs(model, image[None])["conv1"][0]
    kernels = model.conv1.weight[:, 0].detach().cpu()
    channels = len(kernels)
    limit = shared_limit(kernels)
    figure, axes = plt.subplots(2, channels + 1, figsize=(1.4 * (channels + 1), 3.6),
                                layout="constrained")
    axes[0, 0].imshow(as_numpy(image[0]), cmap="gray")
    axes[0, 0].set_title(f"input {label}".strip(), fontsize=9)
    axes[1, 0].axis("off")
    for channel in range(channels):
        kernel_shown = axes[0, channel + 1].imshow(as_numpy(kernels[channel]), cmap=KERNEL_CMAP,
                                                   vmin=-limit, vmax=limit)
        axes[0, channel + 1].set_title(f"kernel {channel}", fontsize=9)
        map_shown = axes[1, channel + 1].imshow(as_numpy(maps[channel]), cmap="viridis",
                                                vmin=maps.min().item(), vmax=maps.max().item())
        axes[1, channel + 1].set_title(f"map {channel}", fontsize=9)
    for item in axes.flat:
        item.set_xticks([])
        item.set_yticks([])
    figure.colorbar(kernel_shown, ax=axes[0, :], label="weight", shrink=0.8)
    figure.colorbar(map_shown, ax=axes[1, :], label="conv1 output", shrink=0.8)
    figure.suptitle("What each conv1 kernel (top) finds in the digit: its feature map (bottom)")
    return figure


def plot_top_patches(patches: torch.Tensor, responses: torch.Tensor) -> Figure:
    """One row per conv1 kernel: the 5x5 input patches it responds to most, strongest first."""
    channels, count = responses.shape
    figure, axes = plt.subplots(channels, count, figsize=(0.9 * count + 1, 0.95 * channels + 0.6),
                                layout="constrained", squeeze=False)
    low, high = patches.min().item(), patches.max().item()  # background black, ink white
    for channel in range(channels):
        for rank in range(count):
            item = axes[channel, rank]
            item.imshow(as_numpy(patches[channel, rank]), cmap="gray", vmin=low, vmax=high)
            item.set_xticks([])
            item.set_yticks([])
            if rank == 0:
                item.set_ylabel(f"kernel {channel}", fontsize=8)
            if channel == channels - 1:
                item.set_xlabel(f"#{rank + 1}", fontsize=8)
    figure.suptitle("The input patches each conv1 kernel responds to most (normalised pixels; "
                    "columns: rank)")
    return figure


class FeatureExplorer(InteractiveFigure):
    """Pick a test digit and a layer; see every channel's feature map and the probabilities.

    Settings: ``index`` (the digit's place in ``split``; None picks the first that passes the
    filters), ``layer``, ``class_filter`` (a digit 0-9, or None for every class) and
    ``misclassified_only``, e.g. ``explorer.set(class_filter=5, layer="conv2")``; settings not
    given stay, and ``random()`` shows a random digit that passes the filters. Results:
    ``feature_maps`` (C, H, W), ``probabilities`` (10,), ``candidates`` (the indices the filters
    allow) and ``message``. Controls: ``digit`` (a slider over the candidates), ``random``,
    ``class``, ``misclassified``, ``layer``. The shared API (``set``, ``plot``, ``widget``,
    ``controls``, ``png``) is described in :mod:`mnist_tutorial.widgets.engine`.

    Any network that turns (N, 1, 28, 28) digits into (N, 10) scores can be explored: its layers
    are every feature map ``layer_outputs`` records, modules and functions (``F.relu``) alike,
    and ``layer`` defaults to the first. A network it cannot show (no maps, another input shape)
    is refused with a ``ValueError`` that says why.
    """

    SETTINGS = ("index", "layer", "class_filter", "misclassified_only")

    def __init__(self, model: nn.Module, split: TensorSplit, index: int | None = None,
                 layer: str | None = None, class_filter: int | None = None,
                 misclassified_only: bool = False, seed: int = 0) -> None:
        super().__init__()
        self.model = model
        self.split = split
        self.layers = layer_names(model)
        self.predictions, self.all_probabilities = predict(model, split)
        self.misclassified = misclassified_indices(split.labels, self.predictions)
        self.labels = split.labels.cpu()
        self._rng = np.random.default_rng(seed)
        self._settings = {"index": None, "layer": self.layers[0], "class_filter": None,
                          "misclassified_only": False}
        self.candidates = torch.arange(len(split))
        self.feature_maps: torch.Tensor | None = None
        self.probabilities: np.ndarray | None = None
        self.message = ""
        self.set(index=index, layer=self.layers[0] if layer is None else layer,
                 class_filter=class_filter,
                 misclassified_only=misclassified_only)

    @property
    def index(self) -> int | None:
        """The digit shown: its place in ``split`` (None when no digit passes the filters)."""
        return self._settings["index"]

    @property
    def layer(self) -> str:
        """The layer whose feature maps are shown."""
        return self._settings["layer"]

    @property
    def class_filter(self) -> int | None:
        """Only digits of this class (None: every class)."""
        return self._settings["class_filter"]

    @property
    def misclassified_only(self) -> bool:
        """Only digits the network gets wrong."""
        return self._settings["misclassified_only"]

    def _filtered(self, class_filter: int | None, misclassified_only: bool) -> torch.Tensor:
        keep = torch.ones(len(self.split), dtype=torch.bool)
        if class_filter is not None:
            keep &= self.labels == class_filter
        if misclassified_only:
            wrong = torch.zeros(len(self.split), dtype=torch.bool)
            wrong[self.misclassified] = True
            keep &= wrong
        return keep.nonzero().flatten()

    def _apply(self, settings: dict) -> None:
        new = {**self._settings, **settings}
        new["misclassified_only"] = bool(new["misclassified_only"])
        layer, class_filter = new["layer"], new["class_filter"]
        if layer not in self.layers:
            raise ValueError(f"unknown layer {layer!r}: choose one of {self.layers}")
        if class_filter is not None and not (is_integer(class_filter) and 0 <= class_filter <= 9):
            raise ValueError(f"class_filter must be a digit 0-9 or None (every class), "
                             f"got {class_filter!r}")
        filters = (class_filter, new["misclassified_only"])
        old_filters = (self.class_filter, self.misclassified_only)
        candidates = self.candidates if filters == old_filters else self._filtered(*filters)
        index = settings.get("index")
        if index is None:  # keep the digit if it passes the filters, else the first that does
            keep = self.index is not None and bool((candidates == self.index).any())
            index = self.index if keep else (int(candidates[0]) if len(candidates) else None)
        else:
            if not is_integer(index) or not 0 <= index < len(self.split):
                raise ValueError(f"index must lie in 0..{len(self.split) - 1}, got {index!r}")
            if not (candidates == index).any():
                raise ValueError(f"digit {index} (a {int(self.labels[index])}, predicted "
                                 f"{int(self.predictions[index])}) does not pass the filters "
                                 f"(class {class_filter}, misclassified only: "
                                 f"{new['misclassified_only']}): pick one of .candidates or "
                                 f"change the filters")
            index = int(index)
        new["index"] = index
        self._settings, self.candidates = new, candidates
        self._compute()

    def random(self) -> int | None:
        """Show a random digit among the candidates; returns its index."""
        if len(self.candidates):
            self.set(index=int(self._rng.choice(self.candidates.numpy())))
        return self.index

    def _compute(self) -> None:
        if self.index is None:
            self.feature_maps, self.probabilities = None, None
            which = f"a {self.class_filter}" if self.class_filter is not None else "any class"
            wrong = " that the network gets wrong" if self.misclassified_only else ""
            self.message = f"No test digit of {which}{wrong}: change the filters."
            return
        image = self.split.images[self.index:self.index + 1]
        self.feature_maps = layer_outputs(self.model, image)[self.layer][0]
        self.probabilities = self.all_probabilities[self.index].numpy()
        label, predicted = int(self.labels[self.index]), int(self.predictions[self.index])
        verdict = "right" if label == predicted else "wrong"
        self.message = (f"test digit #{self.index}: label {label}, predicted {predicted} "
                        f"({self.probabilities[predicted]:.1%}, {verdict}); "
                        f"{len(self.candidates)} digits pass the filters")

    # --- the figure: digit, probabilities, every channel of the layer ----------------------------
    def _drawable(self) -> bool:
        return self.index is not None

    def _figsize(self) -> tuple[float, float]:
        return maps_and_prediction_size(len(self.feature_maps))

    def _figure_key(self) -> int:
        return len(self.feature_maps)  # one panel per channel

    def _build(self, figure: Figure) -> MapsAndPrediction:
        return MapsAndPrediction(figure, len(self.feature_maps))

    def _update(self, artists: MapsAndPrediction) -> None:
        label = int(self.labels[self.index])
        artists.update(self.split.images[self.index], self.feature_maps, self.probabilities,
                       self.layer, title=f"Test digit #{self.index} (label {label}) inside the "
                                         f"network", label=label)

    def _dynamic(self, artists: MapsAndPrediction) -> list:
        return artists.dynamic()

    def _background_key(self) -> tuple:
        return self.layer, tuple(self.feature_maps.shape)  # the maps' size and caption

    # --- the widget -------------------------------------------------------------------------------
    def _make_controls(self) -> dict[str, widgets.Widget]:
        classes = [("every class", -1)] + [(str(digit), digit) for digit in range(10)]
        controls = {
            "digit": widgets.IntSlider(min=0, max=max(len(self.candidates) - 1, 0),
                                       description="digit no.", continuous_update=True),
            "random": widgets.Button(description="random digit", icon="random"),
            "class": widgets.Dropdown(options=classes, description="class"),
            "misclassified": widgets.Checkbox(description="misclassified only", indent=False),
            "layer": widgets.ToggleButtons(options=self.layers, description="layer"),
        }
        controls["digit"].observe(self._on_digit, names="value")
        controls["class"].observe(lambda change: self._from_control(
            class_filter=None if change["new"] == -1 else change["new"]), names="value")
        controls["misclassified"].observe(
            lambda change: self._from_control(misclassified_only=change["new"]), names="value")
        controls["layer"].observe(lambda change: self._from_control(layer=change["new"]),
                                  names="value")
        controls["random"].on_click(lambda _: self.random())
        return controls

    def _on_digit(self, change: dict) -> None:
        if len(self.candidates):
            self._from_control(index=int(self.candidates[change["new"]]))

    def _arrange(self, controls: dict[str, widgets.Widget]) -> list[widgets.Widget]:
        return [widgets.HBox([controls["digit"], controls["random"]]),
                widgets.HBox([controls["class"], controls["misclassified"]]), controls["layer"]]

    def _show_controls(self) -> None:
        controls = self._controls
        controls["digit"].max = max(len(self.candidates) - 1, 0)
        if self.index is not None:
            controls["digit"].value = int((self.candidates == self.index).nonzero()[0, 0])
        controls["digit"].disabled = controls["random"].disabled = self.index is None
        controls["class"].value = -1 if self.class_filter is None else self.class_filter
        controls["misclassified"].value = self.misclassified_only
        controls["layer"].value = self.layer
