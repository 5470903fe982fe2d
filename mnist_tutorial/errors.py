"""The course's errors: the ones a user can fix, each with the builtin error it also is.

``except CourseError`` catches every one of them; ``except ValueError`` (or ``OSError``,
``FileNotFoundError``) still catches the ones that are also that builtin.
"""

from __future__ import annotations


class CourseError(Exception):
    """Every error this package raises on purpose derives from it."""


class DataNotFoundError(CourseError, FileNotFoundError):
    """The data set's files are not on disk and could not be fetched."""


class DamagedDataError(CourseError, ValueError):
    """A data file is on disk but is not the original (cut short, or other bytes)."""


class CheckpointError(CourseError, ValueError):
    """A checkpoint cannot be read: missing, empty, damaged, or not this course's kind."""


class CheckpointWriteError(CourseError, OSError):
    """A checkpoint cannot be written: the folder is read-only, the path is a folder, or the
    disk is full."""


class SettingsError(CourseError, ValueError):
    """Options that cannot work together, or that differ from the checkpoint being resumed."""


class EmptyImageError(CourseError, ValueError):
    """The image holds no ink, so there is no digit to preprocess."""


class PackageVersionError(CourseError, ImportError):
    """The installed course package is not the release the notebook was written for."""
