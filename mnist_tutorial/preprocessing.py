"""Your own digit, made to look like MNIST's: the preprocessing, step by step.

MNIST's digits were not photographed at 28x28. NIST's black-and-white scans were cropped to the
ink, scaled to fit a 20x20 box (keeping the aspect ratio; the scaling's antialiasing made the grey
edges), and pasted into a 28x28 field so that their centre of mass sits at the centre. A digit you
draw must go through the same steps, or the network sees something unlike anything it was trained
on.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mnist_tutorial.data import NORMALIZATION
from mnist_tutorial.errors import EmptyImageError

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
TOO_LITTLE_INK_MESSAGE = ("Too little ink to be a digit: it spans {extent:.0%} of the picture (a "
                          "dot or a speck). Draw the digit larger, with thick strokes, then "
                          "predict.")
NOISE_MESSAGE = ("No digit found: the picture looks like noise, not strokes of ink (scaled to "
                 "MNIST's size it is a grey blur). Draw or photograph one digit on a plain "
                 "background.")


def as_float_image(image) -> torch.Tensor:
    """A 2-D float32 tensor in [0, 1] from an array or tensor: uint8 (0-255), bool or [0, 1] floats.

    This checks a drawing or photo (the digit pad's input), unlike ``plotting.as_image_tensor``,
    which turns any numbers into the float images of the figures and widgets.
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
        raise EmptyImageError(TOO_LITTLE_INK_MESSAGE.format(extent=extent))
    solid = (scaled > 0.5).float().mean().item()
    grey = ((scaled > 0.25) & (scaled < 0.75)).float().mean().item()
    if solid < MIN_SOLID_INK or grey > MAX_GREY:
        raise EmptyImageError(NOISE_MESSAGE)


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
