"""The built-in data set ``cifar10``: CIFAR-10, 50000 train / 10000 test colour images 32x32x3.

Two sources, searched in this order in ``$MCUTRAIN_DATA_DIR`` and then in the user cache
``~/.cache/mcutrain/datasets`` (the first file found wins):

1. ``cifar-10-python.tar.gz``: the official archive (https://www.cs.toronto.edu/~kriz/cifar.html),
   exact pixels. Its ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` are Python pickles of
   dicts (``data``: (10000, 3072) uint8 in channel planes R, G, B of 32x32 each; ``labels``: 10000
   ints). They are read with :func:`mcutrain.data.mnist.load_numpy_pickle`, an unpickler that builds
   numpy arrays and plain containers and nothing else, so a doctored archive cannot run code.
2. ``cifar10_jpeg.npz``: CIFAR-10 as JPEG bytes (the development machines' copy, pinned by
   :data:`CIFAR10_JPEG_SHA256`). **Lossy**: a public mirror re-encoded every image as JPEG quality
   75 with 4:2:0 chroma subsampling (mean absolute error about 5.8/255 against the original pixels,
   PSNR about 30.5 dB; labels exact). Accuracies measured on it are not directly comparable with
   published CIFAR-10 results: say so wherever one is reported. Decoding needs Pillow. The mirror
   stores the images sorted by class; the loader interleaves them (:func:`interleave_classes`: the
   first image of each class in label order, then the second, ...) so that the first N samples,
   which ``train_samples`` / ``test_samples`` take, hold every class equally.

Nothing is downloaded: with neither file present the error says where to put the official archive.
Images are kept as (N, 32, 32, 3) uint8 (``Dataset.image_shape``), flat rows in H, W, C order.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError
from .base import Dataset, make_dataset
from .mnist import ENV_DATA_DIR, load_numpy_pickle

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_SHAPE = (32, 32, 3)
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_JPEG_NPZ = "cifar10_jpeg.npz"
CIFAR10_JPEG_SHA256 = "47efa88c66e0e08235cd54fee56ae9b3ed0b8ed76f431bfb82223cbb3fe95b6e"
"""sha256 of the file cifar10_jpeg.npz (JPEG quality 75 re-encoding of all 60000 images)."""

ARCHIVE_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
ARCHIVE_TEST = "test_batch"


def datasets_cache_dir() -> Path:
    return Path.home() / ".cache" / "mcutrain" / "datasets"


def data_dirs() -> list[Path]:
    """``$MCUTRAIN_DATA_DIR`` (when set), then the user cache."""
    env = os.environ.get(ENV_DATA_DIR)
    return ([Path(env).expanduser()] if env else []) + [datasets_cache_dir()]


def cifar10_search_paths() -> list[Path]:
    return [d / name for d in data_dirs() for name in (CIFAR10_ARCHIVE, CIFAR10_JPEG_NPZ)]


def load_cifar10() -> Dataset:
    """CIFAR-10 from the first file of :func:`cifar10_search_paths` that exists."""
    searched = cifar10_search_paths()
    for path in searched:
        if path.is_file():
            if path.name == CIFAR10_ARCHIVE:
                return load_cifar10_archive(path, full=True)
            return load_cifar10_jpeg_npz(path, expected_sha256=CIFAR10_JPEG_SHA256)
    where = ", ".join(str(p) for p in searched)
    raise DataError(f"cifar10: not found (looked for {where}); download the official CIFAR-10 python archive "
                    f"{CIFAR10_ARCHIVE} from https://www.cs.toronto.edu/~kriz/cifar.html into "
                    f"{datasets_cache_dir()} (or into ${ENV_DATA_DIR}), or name the archive itself as data.dataset")


# ---------------------------------------------------------------------------------------------
# the official python archive


def _batch_arrays(obj: object, member: str, where: str) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    bad = f"{where}: {member} is not a CIFAR-10 batch"
    if not isinstance(obj, dict):
        raise DataError(f"{bad} (a pickled dict with 'data' and 'labels' expected); use the official "
                        f"{CIFAR10_ARCHIVE}")
    d = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    if "data" not in d or "labels" not in d:
        raise DataError(f"{bad}: it has the keys {sorted(map(str, d))}, not 'data' and 'labels'; use the official "
                        f"{CIFAR10_ARCHIVE}")
    data, labels = d["data"], np.asarray(d["labels"])
    if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072
            or labels.shape != (data.shape[0],) or labels.dtype.kind not in "iu"):
        got = f"{getattr(data, 'shape', '?')} {getattr(data, 'dtype', type(data).__name__)} and {labels.shape}"
        raise DataError(f"{bad}: 'data' must be (N, 3072) uint8 and 'labels' N integers (got {got}); use the "
                        f"official {CIFAR10_ARCHIVE}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{bad}: labels {labels.min()}..{labels.max()}, CIFAR-10 has 0..9")
    # rows are 3 planes (R, G, B) of 32x32: to (N, 32, 32, 3)
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.uint8)


def load_cifar10_archive(path: Path, *, full: bool = False) -> Dataset:
    """CIFAR-10 from the official ``cifar-10-python.tar.gz`` (any folder inside the archive).

    `full` also checks the official counts: 50000 training and 10000 test images, 5000 and 1000 of
    each class (the built-in data set does; a path named in a model file may hold fewer)."""
    where = str(path)
    found: dict[str, tuple[NDArray[np.uint8], NDArray[np.uint8]]] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for m in tar.getmembers():
                base = m.name.rsplit("/", 1)[-1]
                if m.isfile() and base in (*ARCHIVE_TRAIN, ARCHIVE_TEST):
                    f = tar.extractfile(m)
                    if f is None:
                        continue
                    with f:
                        try:
                            obj = load_numpy_pickle(io.BytesIO(f.read()))
                        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
                                IndexError, KeyError) as e:
                            raise DataError(f"{where}: cannot read {m.name} ({e}); use the official "
                                            f"{CIFAR10_ARCHIVE}") from None
                    found[base] = _batch_arrays(obj, m.name, where)
    except FileNotFoundError:
        raise DataError(f"{where}: no such file; check data.dataset in the model file") from None
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{where}: not a readable tar.gz archive ({e}); download {CIFAR10_ARCHIVE} again") from None
    missing = [b for b in (*ARCHIVE_TRAIN, ARCHIVE_TEST) if b not in found]
    if missing:
        raise DataError(f"{where}: the archive lacks {', '.join(missing)}; it is not the CIFAR-10 python archive "
                        f"(download {CIFAR10_ARCHIVE}, not the binary or MATLAB version)")
    x_train = np.concatenate([found[b][0] for b in ARCHIVE_TRAIN])
    y_train = np.concatenate([found[b][1] for b in ARCHIVE_TRAIN])
    x_test, y_test = found[ARCHIVE_TEST]
    if full:
        check_official_counts(y_train, y_test, where)
    return _dataset(where, x_train, y_train, x_test, y_test)


def check_official_counts(y_train: np.ndarray, y_test: np.ndarray, where: str) -> None:
    ctr = np.bincount(y_train, minlength=10)
    cte = np.bincount(y_test, minlength=10)
    if len(y_train) != 50000 or len(y_test) != 10000 or (ctr != 5000).any() or (cte != 1000).any():
        raise DataError(f"{where}: {len(y_train)} training and {len(y_test)} test images (per class "
                        f"{ctr.tolist()} / {cte.tolist()}); the official CIFAR-10 has 50000 and 10000, 5000 and "
                        f"1000 a class. Delete the file and download {CIFAR10_ARCHIVE} again, or name the file "
                        "itself as data.dataset to use it as it is")


def _dataset(where: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
             y_test: np.ndarray) -> Dataset:
    ds = make_dataset("cifar10", where, x_train, y_train, x_test, y_test)
    # n_classes is CIFAR-10's, even for a subset whose labels stop short of 9
    return Dataset(ds.x_train, ds.y_train, ds.x_test, ds.y_test, len(CIFAR10_CLASSES), "cifar10", where,
                   CIFAR10_SHAPE)


# ---------------------------------------------------------------------------------------------
# the JPEG copy (lossy)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def decode_jpegs(blob: NDArray[np.uint8], offsets: NDArray[np.int64], what: str, where: str) -> NDArray[np.uint8]:
    """Decode the JPEG files concatenated in `blob` (image i = blob[off[i]:off[i+1]]) to (N, 32, 32, 3)."""
    try:
        from PIL import Image
    except ImportError:
        from ..errors import ToolMissingError
        raise ToolMissingError(f"{where}: decoding the JPEG copy of CIFAR-10 needs Pillow: "
                               "pip install 'mcutrain[images]' (or pillow) "
                               "(or use the official archive)") from None
    off = np.asarray(offsets, dtype=np.int64)
    if off.ndim != 1 or len(off) < 1 or off[0] != 0 or off[-1] != len(blob) or (np.diff(off) <= 0).any():
        raise DataError(f"{where}: {what} offsets are not increasing from 0 to the blob's {len(blob)} bytes; "
                        "the file is damaged")
    out = np.empty((len(off) - 1, *CIFAR10_SHAPE), dtype=np.uint8)
    raw = blob.tobytes()
    for i in range(len(off) - 1):
        try:
            with Image.open(io.BytesIO(raw[off[i]:off[i + 1]])) as im:
                a = np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as e:
            raise DataError(f"{where}: {what} image {i} is not a readable JPEG ({e}); the file is damaged") from None
        if a.shape != CIFAR10_SHAPE:
            raise DataError(f"{where}: {what} image {i} decodes to {a.shape}, not 32x32x3")
        out[i] = a
    return out


def load_cifar10_jpeg_npz(path: Path, *, expected_sha256: str | None = None) -> Dataset:
    """CIFAR-10 from the JPEG copy (lossy, see the module's note): arrays x_train_jpeg, x_train_offsets,
    y_train, x_test_jpeg, x_test_offsets, y_test. With `expected_sha256` the file must be that one."""
    where = str(path)
    if expected_sha256 is not None:
        got = file_sha256(path)
        if got != expected_sha256:
            raise DataError(f"{where}: sha256 {got[:16]}... is not the known JPEG copy of CIFAR-10 "
                            f"({expected_sha256[:16]}...); delete it and use the official {CIFAR10_ARCHIVE}")
    keys = ("x_train_jpeg", "x_train_offsets", "y_train", "x_test_jpeg", "x_test_offsets", "y_test")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise DataError(f"{where}: missing {', '.join(missing)}; not a JPEG copy of CIFAR-10")
            a = {k: npz[k] for k in keys}
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{where}: not a readable .npz ({e})") from None
    x_train = decode_jpegs(a["x_train_jpeg"], a["x_train_offsets"], "x_train", where)
    x_test = decode_jpegs(a["x_test_jpeg"], a["x_test_offsets"], "x_test", where)
    otr, ote = interleave_classes(a["y_train"]), interleave_classes(a["y_test"])
    return _dataset(f"{where} (JPEG quality 75, lossy)", x_train[otr], a["y_train"][otr], x_test[ote],
                    a["y_test"][ote])


def interleave_classes(y: np.ndarray) -> NDArray[np.intp]:
    """An order that takes the images class by class in turn: the first of each class (in label order),
    then the second of each, ...; within a class the file's order is kept. A class that runs out is
    skipped."""
    y = np.asarray(y)
    order = np.argsort(y, kind="stable")
    ys = y[order]
    starts = np.searchsorted(ys, ys, side="left")
    rank = np.arange(len(ys)) - starts                    # position of each image within its class
    return order[np.lexsort((ys, rank))]
