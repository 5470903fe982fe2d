import numpy as np
import pytest
import torch

from mnist_tutorial.checks import as_int, is_integer, pair


def test_is_integer():
    assert all(is_integer(value) for value in (3, np.int64(3), torch.tensor(3)))
    assert not any(is_integer(value) for value in (True, np.bool_(True), 3.0, "3", None,
                                                   torch.tensor(3.0), torch.tensor([3])))


def test_as_int_takes_python_numpy_and_torch_integers():
    assert [as_int(value, "n") for value in (3, np.int64(3), torch.tensor(3))] == [3, 3, 3]
    assert all(type(as_int(value, "n")) is int for value in (np.int8(2), torch.tensor(2)))


@pytest.mark.parametrize("value", [True, 2.0, "2", None, [2]])
def test_as_int_refuses_the_rest_naming_the_argument(value):
    with pytest.raises(ValueError, match=r"stride must be an int, got"):
        as_int(value, "stride")


def test_pair_doubles_an_int_and_keeps_a_pair():
    assert pair(3, "kernel size") == (3, 3)
    assert pair((1, 2), "kernel size") == (1, 2)
    assert pair([np.int64(2), torch.tensor(4)], "padding") == (2, 4)


@pytest.mark.parametrize("value", [(1, 2, 3), (), (1.0, 2), "ab"])
def test_pair_refuses_what_is_not_one_or_two_ints(value):
    with pytest.raises(ValueError, match="padding must be an int"):
        pair(value, "padding")
