"""Loading the data set a model file names: built-in, ``.npz`` or a folder of IDX files."""

from __future__ import annotations

import dataclasses

from ..errors import DataError
from ..model.spec import BUILTIN_DATASETS, DataSpec
from .base import Dataset, arrays_digest, load_npz, make_dataset
from .idx import load_idx_folder, read_idx
from .mnist import MNIST_ARRAYS_SHA256, load_mnist, mnist_cache_path
from .pooling import pool_images

__all__ = [
    "MNIST_ARRAYS_SHA256",
    "Dataset",
    "arrays_digest",
    "load_dataset",
    "load_idx_folder",
    "load_mnist",
    "load_npz",
    "make_dataset",
    "mnist_cache_path",
    "read_idx",
]


def load_dataset(data: DataSpec, *, download: bool = True) -> Dataset:
    """The data set of a ``[data]`` table, cut to its train_samples / test_samples (0 = all).

    ``n_classes`` is that of the whole data set (largest label + 1), not of the subset.
    `download` allows fetching a built-in data set that is not on this machine yet.
    """
    if data.path is None:
        if data.dataset == "mnist":
            full = load_mnist(download=download)
        else:
            known = ", ".join(BUILTIN_DATASETS)
            raise DataError(f"{data.dataset}: not a built-in data set ({known}); name a .npz file or a folder "
                            "of IDX files instead")
    elif data.path.is_dir():
        full = load_idx_folder(data.path)
    elif data.path.is_file():
        full = load_npz(data.path)
    else:
        raise DataError(f"{data.path}: no such file or folder; check data.dataset in the model file "
                        "(relative paths start at the model file's folder)")
    ds = full.subset(data.train_samples, data.test_samples)
    if data.pool > 1:
        where = ds.source or ds.name
        ds = dataclasses.replace(ds, x_train=pool_images(ds.x_train, data.pool, where),
                                 x_test=pool_images(ds.x_test, data.pool, where))
    return ds
