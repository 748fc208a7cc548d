"""The in-memory data set, its checks and conversions, and the ``.npz`` loader."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images flattened to (N, n_inputs) uint8 pixels 0..255, labels (N,) uint8 0..n_classes-1.

    ``image_shape`` is (H, W, C) when the data set knows it (colour images: CIFAR-10, SVHN); a flat
    row is then the image in H, W, C order (pixel by pixel, channels innermost), and
    :meth:`images_train` / :meth:`images_test` give the (N, H, W, C) views without copying.
    """

    x_train: NDArray[np.uint8]
    y_train: NDArray[np.uint8]
    x_test: NDArray[np.uint8]
    y_test: NDArray[np.uint8]
    n_classes: int
    name: str
    source: str = ""
    image_shape: tuple[int, int, int] | None = None

    def _images(self, x: np.ndarray) -> NDArray[np.uint8]:
        if self.image_shape is None:
            raise ValueError(f"{self.source or self.name}: the image shape of this data set is not known; "
                             "use x_train / x_test (flat rows)")
        return x.reshape(len(x), *self.image_shape)

    def images_train(self) -> NDArray[np.uint8]:
        """x_train as (N, H, W, C) (a view); ValueError when image_shape is unknown."""
        return self._images(self.x_train)

    def images_test(self) -> NDArray[np.uint8]:
        """x_test as (N, H, W, C) (a view); ValueError when image_shape is unknown."""
        return self._images(self.x_test)

    @property
    def n_inputs(self) -> int:
        return int(self.x_train.shape[1])

    def digest(self) -> str:
        """sha256 (hex) of the four arrays, see :func:`arrays_digest`."""
        return arrays_digest(self.x_train, self.y_train, self.x_test, self.y_test)

    def subset(self, train_samples: int, test_samples: int) -> Dataset:
        """The first `train_samples` / `test_samples` samples (0 = all); n_classes is kept."""
        where = self.source or self.name
        for what, kind, n, have in (("train_samples", "training", train_samples, len(self.y_train)),
                                    ("test_samples", "test", test_samples, len(self.y_test))):
            if n < 0 or n > have:
                raise DataError(
                    f"{where}: data.{what} = {n} but the data set has {have} {kind} samples; "
                    f"use 0 for all or a number up to {have}")
        ntr = train_samples or len(self.y_train)
        nte = test_samples or len(self.y_test)
        return Dataset(self.x_train[:ntr], self.y_train[:ntr], self.x_test[:nte], self.y_test[:nte],
                       self.n_classes, self.name, self.source, self.image_shape)


def arrays_digest(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> str:
    """sha256 (hex) of four data set arrays, independent of how a file stores them.

    Images are flattened to (N, n_inputs). For each array in the order x_train,
    y_train, x_test, y_test the hash takes the line ``"<name> <dtype.str> <d0>,<d1>\\n"``
    (ASCII) and then the array's bytes in C order.
    """
    h = hashlib.sha256()
    for name, a in (("x_train", x_train), ("y_train", y_train), ("x_test", x_test), ("y_test", y_test)):
        if name.startswith("x"):
            a = a.reshape(a.shape[0], -1)
        a = np.ascontiguousarray(a)
        h.update(f"{name} {a.dtype.str} {','.join(str(d) for d in a.shape)}\n".encode("ascii"))
        h.update(a.tobytes())
    return h.hexdigest()


def pixels_to_uint8(a: np.ndarray, what: str, where: str) -> NDArray[np.uint8]:
    """uint8 as is; integers or integral floats within 0..255 converted; anything else is a DataError."""
    if a.dtype == np.uint8:
        return a
    if a.size == 0:
        return a.astype(np.uint8)
    if a.dtype.kind in "iu":
        imin, imax = int(a.min()), int(a.max())
        if imin < 0 or imax > 255:
            raise DataError(f"{where}: {what} holds values {imin}..{imax}; pixels must be 0..255 "
                            "(store them as uint8)")
        return a.astype(np.uint8)
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise DataError(f"{where}: {what} holds NaN or infinite values; store pixels as uint8 0..255")
        lo, hi = float(a.min()), float(a.max())
        if lo >= 0.0 and hi <= 1.0 and not (a == np.rint(a)).all():
            raise DataError(f"{where}: {what} looks scaled to [0, 1] ({a.dtype}); store the pixels as "
                            "uint8 0..255, e.g. np.rint(x * 255).astype(np.uint8)")
        if lo < 0.0 or hi > 255.0 or not (a == np.rint(a)).all():
            raise DataError(f"{where}: {what} ({a.dtype}) holds values other than the integers 0..255; "
                            "store the pixels as uint8 0..255")
        return a.astype(np.uint8)
    raise DataError(f"{where}: {what} has dtype {a.dtype}; store the pixels as uint8 0..255")


def labels_to_uint8(a: np.ndarray, what: str, where: str) -> NDArray[np.uint8]:
    """Labels 0..254 as uint8 (integers, or integral floats)."""
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise DataError(f"{where}: {what} has shape {a.shape}; labels must be one class number per "
                        "sample, shape (N,)")
    if a.dtype.kind not in "iuf" or (a.dtype.kind == "f" and not (np.isfinite(a) & (a == np.rint(a))).all()):
        raise DataError(f"{where}: {what} ({a.dtype}) must hold class numbers 0, 1, 2, ... as integers")
    if a.size and (a.min() < 0 or a.max() > 254):
        raise DataError(f"{where}: {what} holds labels {a.min()}..{a.max()}; class numbers must be 0..254")
    return a.astype(np.uint8)


def make_dataset(
    name: str,
    where: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
) -> Dataset:
    """Check shapes and value ranges, flatten the images, convert to uint8; DataError naming `where`."""
    xs = {}
    for what, x, y in (("x_train", x_train, y_train), ("x_test", x_test, y_test)):
        if x.ndim < 2:
            raise DataError(f"{where}: {what} has shape {x.shape}; expected one image per row, "
                            "shape (N, ...) with at least two dimensions")
        if x.shape[0] != (y.shape[0] if y.ndim else -1):
            raise DataError(f"{where}: {what} has {x.shape[0]} images but its labels have shape {y.shape}; "
                            "give one label per image")
        xs[what] = pixels_to_uint8(x.reshape(x.shape[0], -1), what, where)
    if xs["x_train"].shape[0] == 0:
        raise DataError(f"{where}: x_train has no images; a data set needs training samples")
    if xs["x_train"].shape[1] != xs["x_test"].shape[1]:
        raise DataError(f"{where}: training images have {xs['x_train'].shape[1]} pixels but test images "
                        f"have {xs['x_test'].shape[1]}; both must be the same size")
    ytr = labels_to_uint8(y_train, "y_train", where)
    yte = labels_to_uint8(y_test, "y_test", where)
    n_classes = int(max(ytr.max(), yte.max() if yte.size else 0)) + 1
    if n_classes < 2:
        raise DataError(f"{where}: all labels are 0; a classifier needs at least two classes")
    return Dataset(np.ascontiguousarray(xs["x_train"]), ytr, np.ascontiguousarray(xs["x_test"]), yte,
                   n_classes, name, where)


def load_npz(path: Path, name: str | None = None) -> Dataset:
    """A .npz holding x_train, y_train, x_test, y_test (images of any shape, flattened here)."""
    where = str(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{where}: this is a single .npy array, not a .npz archive; save the data with "
                            "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)")
        with loaded as npz:
            missing = [k for k in NPZ_KEYS if k not in npz.files]
            if missing:
                raise DataError(
                    f"{where}: missing {', '.join(missing)} (it has {', '.join(npz.files) or 'no arrays'}); "
                    "save the data with np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)")
            arrays = {k: npz[k] for k in NPZ_KEYS}
    except FileNotFoundError:
        raise DataError(f"{where}: no such file; check data.dataset in the model file") from None
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise DataError(f"{where}: not a readable .npz file ({e}); write it again with np.savez") from None
    except ValueError as e:
        # np.load refuses object arrays when pickles are not allowed
        raise DataError(f"{where}: cannot read the arrays ({e}); store plain numeric arrays "
                        "(uint8 images, integer labels), not Python objects") from None
    return make_dataset(name or path.stem, where, arrays["x_train"], arrays["y_train"],
                        arrays["x_test"], arrays["y_test"])
