import pytest

from mnist_tutorial import checkpoints, cli, data, errors, preprocessing

PUBLIC_ERRORS = [  # (the class as users import it, the builtin it still is)
    (data.DataNotFoundError, FileNotFoundError),
    (data.DamagedDataError, ValueError),
    (checkpoints.CheckpointError, ValueError),
    (checkpoints.CheckpointWriteError, OSError),
    (cli.SettingsError, ValueError),
    (preprocessing.EmptyImageError, ValueError),
]


@pytest.mark.parametrize("error, builtin", PUBLIC_ERRORS, ids=lambda value: value.__name__)
def test_every_public_error_is_a_course_error_and_still_its_builtin(error, builtin):
    assert issubclass(error, errors.CourseError) and issubclass(error, builtin)
    raised = error("what went wrong, and the fix")
    assert str(raised) == "what went wrong, and the fix"
    with pytest.raises(builtin):
        raise raised
    with pytest.raises(errors.CourseError):
        raise raised


def test_the_modules_expose_the_classes_of_errors_py():
    assert data.DataNotFoundError is errors.DataNotFoundError
    assert data.DamagedDataError is errors.DamagedDataError
    assert checkpoints.CheckpointError is errors.CheckpointError
    assert checkpoints.CheckpointWriteError is errors.CheckpointWriteError
    assert cli.SettingsError is errors.SettingsError


def test_a_bad_argument_is_no_course_error():
    """Plain ValueErrors (a programming mistake) are not caught with the user's errors."""
    with pytest.raises(ValueError) as caught:
        data.raw_folder("kmnist", None)
    assert not isinstance(caught.value, errors.CourseError)
