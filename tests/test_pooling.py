"""Host-side pooling of square images ([data] pool)."""

from __future__ import annotations

import numpy as np
import pytest

from mcutrain.data.pooling import pool_images
from mcutrain.errors import DataError


def test_pool_averages_blocks() -> None:
    img = np.arange(16, dtype=np.uint8).reshape(1, 16)  # 4x4: blocks (0,1,4,5) (2,3,6,7) (8,9,12,13) (10,11,14,15)
    assert pool_images(img, 2).tolist() == [[(0 + 1 + 4 + 5) // 4, (2 + 3 + 6 + 7) // 4,
                                            (8 + 9 + 12 + 13) // 4, (10 + 11 + 14 + 15) // 4]]
    assert pool_images(np.full((3, 784), 255, np.uint8), 2).shape == (3, 196)
    assert (pool_images(np.full((3, 784), 255, np.uint8), 2) == 255).all()


def test_pool_needs_square_images() -> None:
    with pytest.raises(DataError, match="pool = 2"):
        pool_images(np.zeros((1, 10), np.uint8), 2)
    with pytest.raises(DataError, match="multiple of 3"):
        pool_images(np.zeros((1, 16), np.uint8), 3)
