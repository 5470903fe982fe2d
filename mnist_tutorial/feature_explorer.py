"""What a trained network computes inside: its kernels, the maps they produce, and a widget to explore them.

A convolution layer's *kernels* (its weights) are small images; each slides over its input and
writes a *feature map*: large where the input looks like the kernel. This module pulls kernels and
feature maps out of a model, draws them, and wraps them in a widget that shows every channel of a
chosen layer for a chosen test digit.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from mnist_tutorial.activations import layer_names, layer_outputs
from mnist_tutorial.data import TensorSplit
from mnist_tutorial.evaluation import misclassified_indices, predict
from mnist_tutorial.plotting import (
    as_numpy,
    plot_image_grid,
    plot_maps_and_prediction,
    show_figures,
)

KERNEL_CMAP = "RdBu_r"  # negative weights blue, positive red, zero white


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


def shared_limit(*weights: torch.Tensor) -> float:
    """The largest absolute weight over all tensors: a colour scale from -limit to +limit fits them all."""
    return max(weight.detach().abs().max().item() for weight in weights)


def plot_conv1_kernels(trained: nn.Module, untrained: nn.Module) -> Figure:
    """The 10 conv1 kernels before and after training, on one colour scale centred on zero."""
    before, after = (model.conv1.weight[:, 0].detach().cpu() for model in (untrained, trained))
    limit = shared_limit(before, after)
    titles = [f"untrained {c}" for c in range(len(before))] + [f"trained {c}" for c in range(len(after))]
    return plot_image_grid(torch.cat([before, after]), titles=titles, ncols=len(before),
                           title="conv1's 10 kernels (5x5 weights): untrained (top) and trained (bottom)",
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
        axes.set_xticks([size * c + size // 2 - 1 for c in range(weight.shape[1])], range(weight.shape[1]))
        axes.set_yticks([size * r + size // 2 - 1 for r in range(weight.shape[0])], range(weight.shape[0]))
        axes.set_xlabel("input channel (a conv1 feature map)")
        axes.set_ylabel("output channel (a conv2 feature map)")
        axes.set_title(name)
    figure.colorbar(shown, ax=panels, label="weight", shrink=0.6)
    figure.suptitle("conv2's 20 x 10 kernels (each 5x5): one row per output channel")
    return figure


@torch.no_grad()
def top_patches(model: nn.Module, images: torch.Tensor, count: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """For each conv1 kernel, the ``count`` input patches it responds to most, and its responses.

    Returns ``patches`` (channels, count, k, k) and ``responses`` (channels, count), strongest
    first; a response is the conv1 output at that place: patch * kernel summed, plus the bias.
    ``images`` (N, 1, 28, 28): a few thousand at most, as all their conv1 maps are kept at once.
    """
    conv = model.conv1
    maps = conv(images.to(conv.weight.device)).cpu()  # (N, C, H', W')
    _, channels, height, width = maps.shape
    responses, where = maps.transpose(0, 1).reshape(channels, -1).topk(count, dim=1)
    size = conv.kernel_size[0]
    image_index, row, column = where // (height * width), where % (height * width) // width, where % width
    patches = torch.stack([
        torch.stack([images[n, 0, r:r + size, c:c + size].cpu()
                     for n, r, c in zip(image_index[channel], row[channel], column[channel])])
        for channel in range(channels)])
    return patches, responses


def plot_kernel_responses(model: nn.Module, image: torch.Tensor, label: str = "") -> Figure:
    """Each conv1 kernel (top row) and what it makes of one digit (bottom row): conv1's feature maps."""
    maps = layer_outputs(model, image[None])["conv1"][0]
    kernels = model.conv1.weight[:, 0].detach().cpu()
    channels = len(kernels)
    limit = shared_limit(kernels)
    figure, axes = plt.subplots(2, channels + 1, figsize=(1.4 * (channels + 1), 3.6), layout="constrained")
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
    """One row per conv1 kernel: the 5x5 input patches it responds to most, strongest on the left."""
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


_UNCHANGED = object()  # set()'s default: keep the current value (None is a valid class_filter)


class FeatureExplorer:
    """Pick a test digit and a layer; see every channel's feature map and the predicted probabilities.

    Python API: ``set(index=..., layer=..., class_filter=..., misclassified_only=...)`` and
    ``random()`` change the view; ``index`` (the digit's place in ``split``), ``feature_maps``
    (C, H, W), ``probabilities`` (10,), ``candidates`` (the indices the filters allow) and
    ``message`` describe it; ``widget`` is the interactive version, ``plot()`` a static figure.
    """

    def __init__(self, model: nn.Module, split: TensorSplit, index: int | None = None,
                 layer: str = "conv1", class_filter: int | None = None,
                 misclassified_only: bool = False, seed: int = 0) -> None:
        self.model = model
        self.split = split
        self.layers = layer_names(model)
        self.predictions, self.all_probabilities = predict(model, split)
        self.misclassified = misclassified_indices(split.labels, self.predictions)
        self.labels = split.labels.cpu()
        self._rng = np.random.default_rng(seed)
        self.index: int | None = None
        self.layer = self.layers[0]
        self.class_filter: int | None = None
        self.misclassified_only = False
        self.candidates = torch.arange(len(split))
        self.feature_maps: torch.Tensor | None = None
        self.probabilities: np.ndarray | None = None
        self.message = ""
        self._controls: dict | None = None
        self._syncing = False
        self._output = None
        self._widget = None
        self.set(index=index, layer=layer, class_filter=class_filter,
                 misclassified_only=misclassified_only)

    def _filtered(self, class_filter: int | None, misclassified_only: bool) -> torch.Tensor:
        keep = torch.ones(len(self.split), dtype=torch.bool)
        if class_filter is not None:
            keep &= self.labels == class_filter
        if misclassified_only:
            wrong = torch.zeros(len(self.split), dtype=torch.bool)
            wrong[self.misclassified] = True
            keep &= wrong
        return keep.nonzero().flatten()

    def set(self, index=_UNCHANGED, layer=_UNCHANGED, class_filter=_UNCHANGED,
            misclassified_only=_UNCHANGED) -> None:
        """Change any of the four settings; the others stay. ``class_filter=None`` shows every class."""
        layer = self.layer if layer is _UNCHANGED else layer
        class_filter = self.class_filter if class_filter is _UNCHANGED else class_filter
        misclassified_only = (self.misclassified_only if misclassified_only is _UNCHANGED
                              else bool(misclassified_only))
        if layer not in self.layers:
            raise ValueError(f"unknown layer {layer!r}: choose one of {self.layers}")
        if class_filter is not None and class_filter not in range(10):
            raise ValueError(f"class_filter must be a digit 0-9 or None (every class), got {class_filter!r}")
        candidates = self._filtered(class_filter, misclassified_only)
        if index is _UNCHANGED or index is None:
            keep = self.index is not None and bool((candidates == self.index).any())
            index = self.index if keep else (int(candidates[0]) if len(candidates) else None)
        else:
            if not 0 <= index < len(self.split):
                raise ValueError(f"index must lie in 0..{len(self.split) - 1}, got {index}")
            if not (candidates == index).any():
                raise ValueError(f"digit {index} (a {int(self.labels[index])}, predicted "
                                 f"{int(self.predictions[index])}) does not pass the filters "
                                 f"(class {class_filter}, misclassified only: {misclassified_only}): "
                                 f"pick one of .candidates or change the filters")
        self.layer, self.class_filter, self.misclassified_only = layer, class_filter, misclassified_only
        self.candidates, self.index = candidates, index
        self._compute()
        self._sync_controls()
        self._render()

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

    def plot(self) -> Figure | None:
        """The current view as a static figure (None when no digit passes the filters)."""
        if self.index is None:
            return None
        label = int(self.labels[self.index])
        return plot_maps_and_prediction(self.split.images[self.index], self.feature_maps,
                                        self.probabilities, self.layer,
                                        title=f"Test digit #{self.index} (label {label}) inside the network",
                                        label=label)

    @property
    def widget(self):
        """The interactive explorer: digit slider, random button, class filter, mistakes only, layer."""
        if self._widget is None:
            self._widget = self._build_widget()
            self._sync_controls()
            self._render()
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _build_widget(self):
        import ipywidgets as widgets

        controls = {
            "position": widgets.IntSlider(min=0, max=0, description="digit no.", continuous_update=False),
            "random": widgets.Button(description="random digit", icon="random"),
            "class": widgets.Dropdown(options=[("every class", -1)] + [(str(d), d) for d in range(10)],
                                      description="class"),
            "wrong": widgets.Checkbox(description="misclassified only", indent=False),
            "layer": widgets.ToggleButtons(options=self.layers, description="layer"),
            "info": widgets.HTML(),
        }
        self._controls = controls
        self._output = widgets.Output()
        controls["position"].observe(self._on_position, names="value")
        controls["class"].observe(lambda change: self._from_control(
            class_filter=None if change["new"] == -1 else change["new"]), names="value")
        controls["wrong"].observe(lambda change: self._from_control(misclassified_only=change["new"]),
                                  names="value")
        controls["layer"].observe(lambda change: self._from_control(layer=change["new"]), names="value")
        controls["random"].on_click(lambda _: self.random())
        return widgets.VBox([
            widgets.HBox([controls["position"], controls["random"]]),
            widgets.HBox([controls["class"], controls["wrong"]]),
            controls["layer"], controls["info"], self._output,
        ])

    def _from_control(self, **settings) -> None:
        if not self._syncing:
            self.set(**settings)

    def _on_position(self, change) -> None:
        if not self._syncing and len(self.candidates):
            self.set(index=int(self.candidates[change["new"]]))

    def _sync_controls(self) -> None:
        """Make the controls show the current settings without triggering their observers."""
        if self._controls is None:
            return
        controls = self._controls
        self._syncing = True
        try:
            controls["position"].max = max(len(self.candidates) - 1, 0)
            if self.index is not None:
                controls["position"].value = int((self.candidates == self.index).nonzero()[0, 0])
            controls["position"].disabled = controls["random"].disabled = self.index is None
            controls["class"].value = -1 if self.class_filter is None else self.class_filter
            controls["wrong"].value = self.misclassified_only
            controls["layer"].value = self.layer
            controls["info"].value = self.message
        finally:
            self._syncing = False

    def _render(self) -> None:
        if self._output is not None:
            figure = self.plot()
            show_figures(self._output, [] if figure is None else [figure])
