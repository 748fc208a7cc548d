"""The built-in data set ``svhn``: Street View House Numbers, cropped digits 32x32x3 (format 2).

The official files (http://ufldl.stanford.edu/housenumbers/) ``train_32x32.mat`` (73,257 images)
and ``test_32x32.mat`` (26,032) are MATLAB v5 files with ``X`` of shape (32, 32, 3, N) uint8 and
``y`` of shape (N, 1) with the labels 1..10, where 10 stands for the digit 0; here the label is the
digit (10 -> 0). ``extra_32x32.mat`` (531,131 more training images) is not used. Both files are
searched, side by side, in ``$MCUTRAIN_DATA_DIR``, ``$MCUTRAIN_DATA_DIR/svhn``, then in the user cache
``~/.cache/mcutrain/datasets`` and its ``svhn`` folder. Nothing is downloaded. Reading needs SciPy
(``scipy.io.loadmat``). Images are kept as (N, 32, 32, 3) uint8 (``Dataset.image_shape``).

No SVHN data is reachable from the development machines: the loader is tested on small files of the
same layout that the tests write.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError, ToolMissingError
from .base import Dataset, make_dataset
from .cifar10 import data_dirs, datasets_cache_dir
from .mnist import ENV_DATA_DIR

SVHN_SHAPE = (32, 32, 3)
SVHN_TRAIN = "train_32x32.mat"
SVHN_TEST = "test_32x32.mat"
SVHN_URL = "http://ufldl.stanford.edu/housenumbers/"


def svhn_search_dirs() -> list[Path]:
    return [p for d in data_dirs() for p in (d, d / "svhn")]


def load_svhn() -> Dataset:
    """SVHN from the first folder of :func:`svhn_search_dirs` that holds both .mat files."""
    dirs = svhn_search_dirs()
    for d in dirs:
        if (d / SVHN_TRAIN).is_file() and (d / SVHN_TEST).is_file():
            return load_svhn_folder(d)
    half = [d for d in dirs if (d / SVHN_TRAIN).is_file() != (d / SVHN_TEST).is_file()]
    extra = f" ({half[0]} has only one of them)" if half else ""
    raise DataError(f"svhn: {SVHN_TRAIN} and {SVHN_TEST} not found together in any of "
                    f"{', '.join(str(d) for d in dirs)}{extra}; download both from {SVHN_URL} (format 2, cropped "
                    f"digits) into {datasets_cache_dir() / 'svhn'} (or ${ENV_DATA_DIR}), or name the folder as "
                    "data.dataset")


def load_svhn_folder(folder: Path) -> Dataset:
    """SVHN from a folder holding train_32x32.mat and test_32x32.mat."""
    for name in (SVHN_TRAIN, SVHN_TEST):
        if not (folder / name).is_file():
            raise DataError(f"{folder}: no {name}; an SVHN folder needs {SVHN_TRAIN} and {SVHN_TEST} ({SVHN_URL})")
    x_train, y_train = read_svhn_mat(folder / SVHN_TRAIN)
    x_test, y_test = read_svhn_mat(folder / SVHN_TEST)
    where = str(folder)
    ds = make_dataset("svhn", where, x_train, y_train, x_test, y_test)
    return Dataset(ds.x_train, ds.y_train, ds.x_test, ds.y_test, 10, "svhn", where, SVHN_SHAPE)


def read_svhn_mat(path: Path) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """(images (N, 32, 32, 3) uint8, digits (N,) uint8 0..9) of one SVHN .mat file."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise ToolMissingError("reading SVHN's .mat files needs SciPy: "
                               "pip install 'mcutrain[images]' (or scipy)") from None
    where = str(path)
    try:
        m = loadmat(str(path), variable_names=("X", "y"))
    except FileNotFoundError:
        raise DataError(f"{where}: no such file") from None
    except (ValueError, TypeError, OSError, NotImplementedError) as e:
        # NotImplementedError: MATLAB v7.3 (HDF5) files, which loadmat cannot read
        raise DataError(f"{where}: not a readable MATLAB v5 file ({e}); use the official {path.name} from "
                        f"{SVHN_URL}") from None
    if "X" not in m or "y" not in m:
        names = ", ".join(k for k in m if not k.startswith("__")) or "none"
        raise DataError(f"{where}: needs the variables X and y (it has {names}); use the official {path.name} "
                        "(format 2, cropped digits)")
    x, y = np.asarray(m["X"]), np.asarray(m["y"])
    if x.ndim != 4 or x.shape[:3] != SVHN_SHAPE:
        raise DataError(f"{where}: X has shape {x.shape}; SVHN's is (32, 32, 3, N) (format 2, cropped digits, "
                        "not the full-number images of format 1)")
    if x.dtype != np.uint8:
        raise DataError(f"{where}: X is {x.dtype}; SVHN's pixels are uint8")
    y = y.reshape(-1)
    if y.shape[0] != x.shape[3]:
        raise DataError(f"{where}: {x.shape[3]} images but {y.shape[0]} labels; the file is damaged")
    if y.dtype.kind not in "iuf" or (y.size and (not np.isin(y, np.arange(1, 11)).all())):
        bad = sorted(set(np.unique(y).tolist()) - set(range(1, 11)))[:5]
        raise DataError(f"{where}: labels must be 1..10 (10 = digit 0); found {bad}")
    digits = (y.astype(np.int64) % 10).astype(np.uint8)
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2)), digits
