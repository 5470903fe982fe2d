"""Helper package of the CNN-on-MNIST course: data, models, training, and the pieces notebooks show."""

__version__ = "0.1.0"
