from mnist_tutorial import config


def test_quick_mode_reads_environment(monkeypatch):
    monkeypatch.setenv(config.QUICK_ENV, "1")
    assert config.quick_mode()
    monkeypatch.setenv(config.QUICK_ENV, "0")
    assert not config.quick_mode()
    monkeypatch.delenv(config.QUICK_ENV)
    assert not config.quick_mode()


def test_repository_root_is_this_checkout():
    root = config.repository_root()
    assert root is not None and (root / "pyproject.toml").is_file()
    assert (root / "mnist_tutorial" / "config.py").is_file()
