"""Helper package of the CNN-on-MNIST course: data, models, training, and what notebooks show."""

__version__ = "0.1.0"
