"""What a trained network computes inside: its kernels, the maps they produce, and a widget to explore them.

A convolution layer's *kernels* (its weights) are small images; each slides over its input and
writes a *feature map*: large where the input looks like the kernel. This module pulls kernels and
feature maps out of a model, draws them, and wraps them in a widget that shows every channel of a
chosen layer for a chosen test digit.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn

from mnist_tutorial.data import TensorSplit, load_split, quick_mode, repository_root
from mnist_tutorial.evaluation import misclassified_indices, predict
from mnist_tutorial.models import SeedNet
from mnist_tutorial.plotting import figure_png, plot_image_grid
from mnist_tutorial.training import (default_checkpoint_path, fit, load_checkpoint,
                                     save_checkpoint, seed_everything)

RENAMED = {"pooling": "pool"}  # SeedNet's shared pooling module, called once per round
KERNEL_CMAP = "RdBu_r"  # negative weights blue, positive red, zero white
SEED_EPOCHS = 10


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A detached CPU numpy copy, what matplotlib expects."""
    return tensor.detach().cpu().numpy()


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


def _activation_names(model: nn.Module) -> dict[nn.Module, str]:
    """Each leaf module's attribute name, with ``pooling`` shortened to ``pool``."""
    return {module: RENAMED.get(name, name) for name, module in model.named_modules()
            if name and not list(module.children())}


@torch.no_grad()
def layer_outputs(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every 4-D activation of one forward pass, in order: conv1, pool1, relu1, conv2, pool2, relu2.

    Forward hooks record each leaf module's output. A module called more than once (SeedNet's
    ``pooling`` and ``relu``) gets its call number appended; one called once keeps its name. Flat
    activations (fully connected layers) are left out: they are not maps.
    """
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}: "
                         f"add a batch dimension with images[None]")
    names = _activation_names(model)
    recorded: list[tuple[str, torch.Tensor]] = []

    def record(module: nn.Module, inputs, output: torch.Tensor) -> None:
        recorded.append((names[module], output.detach()))

    handles = [module.register_forward_hook(record) for module in names]
    was_training = model.training
    model.eval()
    try:
        model(images.to(next(model.parameters()).device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    calls = {name: sum(1 for recorded_name, _ in recorded if recorded_name == name) for name, _ in recorded}
    outputs, seen = {}, dict.fromkeys(calls, 0)
    for name, output in recorded:
        seen[name] += 1
        if output.ndim == 4:
            outputs[name if calls[name] == 1 else f"{name}{seen[name]}"] = output.cpu()
    return outputs


def layer_names(model: nn.Module) -> list[str]:
    """The names ``layer_outputs`` gives for ``model``, in forward order."""
    first = next(model.parameters())
    channels = next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels
    return list(layer_outputs(model, torch.zeros(1, channels, 28, 28, dtype=first.dtype)))


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
        shown = axes.imshow(to_numpy(kernel_mosaic(weight)), cmap=cmap, vmin=-limit, vmax=limit)
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
    axes[0, 0].imshow(to_numpy(image[0]), cmap="gray")
    axes[0, 0].set_title(f"input {label}".strip(), fontsize=9)
    axes[1, 0].axis("off")
    for channel in range(channels):
        kernel_shown = axes[0, channel + 1].imshow(to_numpy(kernels[channel]), cmap=KERNEL_CMAP,
                                                   vmin=-limit, vmax=limit)
        axes[0, channel + 1].set_title(f"kernel {channel}", fontsize=9)
        map_shown = axes[1, channel + 1].imshow(to_numpy(maps[channel]), cmap="viridis",
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
            item.imshow(to_numpy(patches[channel, rank]), cmap="gray", vmin=low, vmax=high)
            item.set_xticks([])
            item.set_yticks([])
            if rank == 0:
                item.set_ylabel(f"kernel {channel}", fontsize=8)
            if channel == channels - 1:
                item.set_xlabel(f"#{rank + 1}", fontsize=8)
    figure.suptitle("The input patches each conv1 kernel responds to most (normalised pixels; "
                    "columns: rank)")
    return figure


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


def _mnist_splits() -> tuple[TensorSplit, TensorSplit]:
    """MNIST's training and test splits (the quick subsets in quick mode)."""
    return load_split("mnist", train=True), load_split("mnist", train=False)


def _short(path: Path) -> str:
    """``path`` relative to the repository root when it lies inside it (shorter, and no user names)."""
    root = repository_root()
    try:
        return str(path.resolve().relative_to(root)) if root else str(path)
    except ValueError:
        return str(path)


def load_or_train_seed_net(path: str | os.PathLike | None = None,
                           data: Callable[[], tuple[TensorSplit, TensorSplit]] | None = None,
                           epochs: int | None = None, log: Callable[[str], None] = print) -> nn.Module:
    """Notebook 05's trained SeedNet from its checkpoint; trained here and saved when it is missing.

    ``data`` returns ``(train, test)`` splits (default: MNIST via ``load_split``). ``epochs``
    defaults to the seed's 10, or 2 in quick mode. A checkpoint saved in quick mode is not used
    in full mode: it is retrained with the full data.
    """
    path = Path(path) if path is not None else default_checkpoint_path("seed_net")
    shown = _short(path)
    epochs = epochs if epochs is not None else (2 if quick_mode() else SEED_EPOCHS)
    model = SeedNet()
    if path.is_file():
        state = load_checkpoint(path, model)
        trained_quick = bool(state["metadata"].get("quick", False))
        if quick_mode() or not trained_quick:
            log(f"Loaded the trained SeedNet from {shown} ({state['epoch']} epochs, "
                f"test accuracy {state['history'].test_accuracy[-1]:.2f} %).")
            return model
        log(f"{shown} was trained in quick mode: training the full model again.")
    else:
        log(f"No checkpoint at {shown} (notebook 05 saves one): training SeedNet for {epochs} epochs now.")
    train, test = (data or _mnist_splits)()
    seed_everything(1)
    model = SeedNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    history = fit(model, train, test, optimizer, epochs=epochs, batch_size=64, seed=1)
    save_checkpoint(path, model, optimizer, epochs, history,
                    {"model": "seed", "quick": quick_mode(), "saved_by": "load_or_train_seed_net"})
    log(f"Trained: test accuracy {history.test_accuracy[-1]:.2f} %; saved to {shown}.")
    return model


_UNCHANGED = object()  # set()'s default: keep the current value (None is a valid class_filter)


def plot_maps_and_prediction(image: torch.Tensor, maps: torch.Tensor, probabilities, layer: str,
                             title: str, label: int | None = None, ncols: int = 10) -> Figure:
    """One figure: the input digit, the predicted probabilities, and every channel of one layer."""
    channels = len(maps)
    ncols = min(ncols, channels)
    nrows = -(-channels // ncols)
    figure = plt.figure(figsize=(max(9.0, 1.1 * ncols + 1.5), 2.6 + 1.15 * nrows), layout="constrained")
    top, bottom = figure.subfigures(2, 1, height_ratios=[2.4, 1.15 * nrows])
    digit_axes, bar_axes = top.subplots(1, 2, width_ratios=[1, 1.8])
    digit_axes.imshow(to_numpy(image.squeeze()), cmap="gray")
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
        shown = axes.imshow(to_numpy(maps[channel]), cmap="viridis", vmin=low, vmax=high)
        axes.set_title(f"channel {channel}", fontsize=8)
    bottom.colorbar(shown, ax=grid, label="activation", shrink=0.9)
    height, width = maps.shape[-2:]
    bottom.suptitle(f"{layer}: {channels} feature maps of {height}x{width}, one colour scale", fontsize=10)
    figure.suptitle(title)
    return figure


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
