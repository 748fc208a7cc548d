"""Loading the data set a model file names: built-in (mnist, cifar10, svhn), ``.npz``, a folder of IDX files,
the CIFAR-10 python archive (``.tar.gz``) or a folder with SVHN's two ``.mat`` files."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..errors import DataError
from ..model.spec import BUILTIN_DATASETS, DataSpec
from .base import Dataset, arrays_digest, load_npz, make_dataset
from .cifar10 import load_cifar10, load_cifar10_archive, load_cifar10_jpeg_npz
from .digits import load_digits
from .idx import load_idx_folder, read_idx
from .mnist import MNIST_ARRAYS_SHA256, load_mnist, mnist_cache_path
from .pooling import pool_images
from .svhn import SVHN_TRAIN, load_svhn, load_svhn_folder

BUILTIN_LOADERS: dict[str, Callable[..., Dataset]] = {
    "mnist": load_mnist,
    "cifar10": lambda download=True: load_cifar10(),
    "svhn": lambda download=True: load_svhn(),
    "digits": load_digits,
}
"""The loader of each built-in data set (names as in mcutrain.model.spec.BUILTIN_DATASETS). Only MNIST
can be fetched; CIFAR-10 and SVHN are searched in $MCUTRAIN_DATA_DIR and the user cache."""

__all__ = [
    "MNIST_ARRAYS_SHA256",
    "Dataset",
    "arrays_digest",
    "load_cifar10",
    "load_cifar10_archive",
    "load_dataset",
    "load_idx_folder",
    "load_mnist",
    "load_npz",
    "make_dataset",
    "mnist_cache_path",
    "load_svhn",
    "load_svhn_folder",
    "read_idx",
]


def load_dataset(data: DataSpec, *, download: bool = True) -> Dataset:
    """The data set of a ``[data]`` table, cut to its train_samples / test_samples (0 = all).

    ``n_classes`` is that of the whole data set (largest label + 1), not of the subset.
    `download` allows fetching a built-in data set that is not on this machine yet.
    """
    if data.path is None:
        if data.dataset in BUILTIN_LOADERS and data.dataset in BUILTIN_DATASETS:
            full = BUILTIN_LOADERS[data.dataset](download=download)
        else:
            known = ", ".join(BUILTIN_DATASETS)
            raise DataError(f"{data.dataset}: not a built-in data set ({known}); name a .npz file or a folder "
                            "of IDX files instead")
    elif data.path.is_dir():
        full = load_svhn_folder(data.path) if (data.path / SVHN_TRAIN).is_file() else load_idx_folder(data.path)
    elif data.path.is_file():
        full = load_file(data.path)
    else:
        raise DataError(f"{data.path}: no such file or folder; check data.dataset in the model file "
                        "(relative paths start at the model file's folder)")
    ds = full.subset(data.train_samples, data.test_samples)
    if data.pool > 1:
        where = ds.source or ds.name
        shape = ds.image_shape
        ds = dataclasses.replace(ds, x_train=pool_images(ds.x_train, data.pool, where, shape),
                                 x_test=pool_images(ds.x_test, data.pool, where, shape),
                                 image_shape=None if shape is None else
                                 (shape[0] // data.pool, shape[1] // data.pool, shape[2]))
    return ds


def load_file(path: Path) -> Dataset:
    """A data set file by its kind: the CIFAR-10 python archive (.tar.gz), the JPEG copy of CIFAR-10
    (a .npz with x_train_jpeg), or a plain .npz."""
    if path.name.endswith((".tar.gz", ".tgz", ".tar")):
        return load_cifar10_archive(path)
    if path.suffix == ".npz":
        import zipfile
        try:
            with zipfile.ZipFile(path) as z:
                jpeg = "x_train_jpeg.npy" in z.namelist()
        except (zipfile.BadZipFile, OSError):
            jpeg = False
        if jpeg:
            return load_cifar10_jpeg_npz(path)
    return load_npz(path)
