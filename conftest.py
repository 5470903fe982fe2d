"""pytest runs the notebooks in quick mode unless told otherwise (``MNIST_TUTORIAL_QUICK=0``).

This file sits at the repository root so that it is loaded for every run, also
``pytest notebooks/01_convolution_by_hand.ipynb``, before any notebook kernel starts: the kernels
inherit the setting from this process.
"""

import os

os.environ.setdefault("MNIST_TUTORIAL_QUICK", "1")
