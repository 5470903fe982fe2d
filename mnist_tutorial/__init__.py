"""Helper package of the CNN-on-MNIST course: data, models, training, and what notebooks show.

The names most notebooks use can be imported from here (``from mnist_tutorial import load_split,
BlogNet, fit``); everything else from its module. Nothing here imports matplotlib or the widgets.
"""

from mnist_tutorial import ops
from mnist_tutorial.config import quick_mode
from mnist_tutorial.data import batches, load_split
from mnist_tutorial.devices import choose_device
from mnist_tutorial.evaluation import predict
from mnist_tutorial.models import BlogNet, count_parameters
from mnist_tutorial.training import evaluate, fit, seed_everything, train_epoch

__version__ = "0.1.0"

__all__ = [
    "BlogNet",
    "batches",
    "choose_device",
    "count_parameters",
    "evaluate",
    "fit",
    "load_split",
    "ops",
    "predict",
    "quick_mode",
    "seed_everything",
    "train_epoch",
]
