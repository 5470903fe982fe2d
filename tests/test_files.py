import os

import pytest

from mnist_tutorial.files import atomic_write


def test_the_file_appears_complete_when_the_block_ends(tmp_path):
    path = tmp_path / "data.bin"
    with atomic_write(path) as temporary:
        temporary.write_bytes(b"all of it")
        assert not path.exists() and temporary.parent == tmp_path
    assert path.read_bytes() == b"all of it"
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_an_error_in_the_block_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_write(path) as temporary:
        temporary.write_bytes(b"ha")
        raise KeyboardInterrupt
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_umask_permissions_and_stale_temporary_files_removed(tmp_path):
    (tmp_path / ".data.bin.old123.tmp").write_bytes(b"a killed write's")
    (tmp_path / ".other.bin.old123.tmp").write_bytes(b"another file's: kept")
    previous = os.umask(0o077)
    try:
        with atomic_write(tmp_path / "data.bin") as temporary:
            temporary.write_bytes(b"x")
    finally:
        os.umask(previous)
    assert (tmp_path / "data.bin").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.bin.old123.tmp", "data.bin"]
