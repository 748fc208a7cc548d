"""scikit-learn's 8x8 handwritten digits (UCI "optdigits": 1,797 images from writers other than MNIST's,
another scanner, 4x4 blocks counted to 0..16), resampled to MNIST's input so that a model pretrained on
MNIST can be fine-tuned on them (issue 14's personalization demo).

Each 8x8 image is scaled bilinearly to 20x20 (MNIST's digits fill a 20x20 box) and centred in 28x28
with 4 blank pixels on every side; the values 0..16 become 0..255. The split is fixed: a PCG64(2026)
permutation of the 1,797 images, the first 1,000 the device's training set, the other 797 the held-out
test set. Needs scikit-learn (`pip install 'mcutrain[demo]'`), which ships the images in its wheel.
"""

from __future__ import annotations

import numpy as np

from ..errors import ToolMissingError
from .base import Dataset, make_dataset

DEVICE_TRAIN = 1000
SPLIT_SEED = 2026


def _bilinear(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) weights of bilinear resampling (pixel centres aligned, edges clamped)."""
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, n_in - 1)
    hi = np.clip(lo + 1, 0, n_in - 1)
    frac = np.clip(pos - lo, 0.0, 1.0)
    w = np.zeros((n_out, n_in))
    w[np.arange(n_out), lo] += 1 - frac
    w[np.arange(n_out), hi] += frac
    return w


def to_mnist_frame(images: np.ndarray) -> np.ndarray:
    """(N, 8, 8) values 0..16 -> (N, 784) uint8 0..255: 20x20 bilinear, centred in 28x28."""
    r = _bilinear(20, 8)
    big = np.einsum("ij,njk,lk->nil", r, images.astype(np.float64) * (255.0 / 16.0), r)
    out = np.zeros((len(images), 28, 28))
    out[:, 4:24, 4:24] = big
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(len(images), -1)


def load_digits(download: bool = True) -> Dataset:
    """The 8x8 digits as a Dataset of 28x28 images (1,000 training, 797 test)."""
    try:
        from sklearn.datasets import load_digits as sk_load
    except ImportError:
        raise ToolMissingError("the digits data set needs scikit-learn: pip install 'mcutrain[demo]' "
                               "(or scikit-learn)") from None
    d = sk_load()
    x = to_mnist_frame(np.asarray(d.images))
    y = np.asarray(d.target, dtype=np.uint8)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    tr, te = perm[:DEVICE_TRAIN], perm[DEVICE_TRAIN:]
    return make_dataset("digits", "scikit-learn digits", x[tr], y[tr], x[te], y[te])
