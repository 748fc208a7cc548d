from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = Path(os.environ.get("MCUTRAIN_DATA_DIR", REPO.parent / "shared" / "data"))
    if not (d / "mnist.npz").is_file():
        pytest.fail(f"MNIST not found in {d}; set MCUTRAIN_DATA_DIR to the folder holding mnist.npz")
    return d
