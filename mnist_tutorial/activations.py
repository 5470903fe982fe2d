"""What each layer of a network outputs: forward hooks that record every feature map of one pass.

A convolution layer writes *feature maps*, one per output channel. ``layer_outputs`` runs a model
once and returns them by layer name, so notebooks and widgets can show what the network computes
inside; ``top_patches`` finds the input patches each conv1 kernel responds to most.
"""

from __future__ import annotations

import torch
from torch import nn

from mnist_tutorial.training import evaluation_mode

RENAMED = {"pooling": "pool"}  # BlogNet's shared pooling module, called once per round


def _activation_names(model: nn.Module) -> dict[nn.Module, str]:
    """Each leaf module's attribute name, with ``pooling`` shortened to ``pool``."""
    return {module: RENAMED.get(name, name) for name, module in model.named_modules()
            if name and not list(module.children())}


@torch.no_grad()
def layer_outputs(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every 4-D activation of one forward pass, in order: conv1, pool1, relu1, conv2, pool2, relu2.

    Forward hooks record each leaf module's output. A module called more than once (BlogNet's
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
    try:
        with evaluation_mode(model):
            model(images.to(next(model.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
    calls = {name: sum(1 for recorded_name, _ in recorded if recorded_name == name)
             for name, _ in recorded}
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


@torch.no_grad()
def top_patches(model: nn.Module, images: torch.Tensor,
                count: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
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
    image_index = where // (height * width)
    row, column = where % (height * width) // width, where % width
    patches = torch.stack([
        torch.stack([images[n, 0, r:r + size, c:c + size].cpu()
                     for n, r, c in zip(image_index[channel], row[channel], column[channel])])
        for channel in range(channels)])
    return patches, responses
