"""Writing files safely: a file appears under its name complete, or not at all."""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """A temporary file next to ``path`` to write to; it replaces ``path`` when the block ends.

    When the block raises, the temporary file is removed and ``path`` keeps what it held, so an
    interrupted write never leaves a half-written file under ``path``. The file gets the usual
    permissions (0666 less the umask); temporary files that an earlier, killed write to ``path``
    left behind are removed after the next successful one.
    """
    prefix = f".{path.name}."
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        os.chmod(temporary, 0o666 & ~_umask())
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    for stale in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        stale.unlink(missing_ok=True)
