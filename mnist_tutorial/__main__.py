"""``python -m mnist_tutorial``: see ``mnist_tutorial.cli``."""

import sys

from mnist_tutorial.cli import main

sys.exit(main())
