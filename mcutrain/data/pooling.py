"""Host-side average pooling of square images (`[data] pool`): fewer inputs, same link bytes per pixel.

A pool of p averages each p x p block: value = (sum of the p*p pixels) // (p*p), uint8.
Pooling 28x28 MNIST by 2 gives 196 inputs; with the `u4` encoding a sample is 98 bytes,
as many as 784 pixels in `bits`, and the first layer needs a quarter of the weights.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError


def pool_images(x: NDArray[np.uint8], pool: int, where: str = "data",
                shape: tuple[int, int, int] | None = None) -> NDArray[np.uint8]:
    """Flat rows -> pooled flat rows. With `shape` (H, W, C) each channel is pooled on its own (rows in
    H, W, C order, as colour data sets keep them); without it the rows are square one-channel images."""
    if pool == 1:
        return x
    if shape is not None:
        h, w, c = shape
        if h % pool or w % pool:
            raise DataError(f"{where}: pool = {pool} needs image sides that are multiples of {pool}; these images "
                            f"are {h}x{w}. Use pool = 1.")
        blocks = x.reshape(len(x), h // pool, pool, w // pool, pool, c).astype(np.uint32)
        return (blocks.sum(axis=(2, 4)) // (pool * pool)).astype(np.uint8).reshape(len(x), -1)
    n = x.shape[1]
    side = math.isqrt(n)
    if side * side != n or side % pool:
        raise DataError(f"{where}: pool = {pool} needs square images whose side is a multiple of {pool}; "
                        f"these have {n} pixels. Use pool = 1.")
    blocks = x.reshape(len(x), side // pool, pool, side // pool, pool).astype(np.uint32)
    return (blocks.sum(axis=(2, 4)) // (pool * pool)).astype(np.uint8).reshape(len(x), -1)
