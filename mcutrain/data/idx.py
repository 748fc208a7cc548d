"""IDX files (the format MNIST is distributed in), plain or gzip-compressed.

An IDX file starts with the magic number 0x00 0x00 <type> <ndim>, then ndim
big-endian u32 sizes, then the data in C order, big-endian.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import Dataset, make_dataset

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"

# (role, file name stem); each may also be spelled with '.idx' and may end in '.gz'
IDX_FILES: tuple[tuple[str, str], ...] = (
    ("x_train", "train-images-idx3-ubyte"),
    ("y_train", "train-labels-idx1-ubyte"),
    ("x_test", "t10k-images-idx3-ubyte"),
    ("y_test", "t10k-labels-idx1-ubyte"),
)


def read_idx(path: Path, *, expect_ndim: int | None = None) -> np.ndarray:
    """The array in an IDX file (gzip-compressed or not, recognised by content); DataError if malformed."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e.strerror}); check that it exists and is readable") from None
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: broken gzip data ({e}); download the file again") from None
    if len(raw) < 4:
        raise DataError(f"{path}: only {len(raw)} bytes, too short for an IDX file; download the file again")
    magic = int.from_bytes(raw[:4], "big")
    zero, type_code, ndim = raw[0] | raw[1], raw[2], raw[3]
    nd = expect_ndim or 3
    wanted = f"0x000008{nd:02x} (unsigned bytes, {nd} dimension{'s' if nd > 1 else ''})"
    if zero != 0 or type_code not in IDX_TYPES or ndim == 0:
        raise DataError(f"{path}: bad IDX magic number 0x{magic:08x}, expected {wanted}; the file is not an "
                        "IDX file or is damaged: download it again")
    if expect_ndim is not None and ndim != expect_ndim:
        raise DataError(f"{path}: IDX magic number 0x{magic:08x} says {ndim} dimensions, expected {wanted}; "
                        "check that images and labels files are not swapped")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: the file ends inside its header; download it again")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = IDX_TYPES[type_code]
    expected = header + math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        state = "is truncated" if len(raw) < expected else "has trailing bytes"
        raise DataError(f"{path}: the file {state}: the header announces {'x'.join(map(str, dims))} values of "
                        f"{dtype.itemsize} byte(s), {expected} bytes in all, but it has {len(raw)}; "
                        "download it again")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def find_idx_files(folder: Path) -> dict[str, Path]:
    """The four IDX files of a folder by role; DataError listing the missing ones."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for role, stem in IDX_FILES:
        candidates = [stem, stem.replace("-idx", ".idx")]
        paths = [folder / (c + ext) for ext in ("", ".gz") for c in candidates]
        hit = next((p for p in paths if p.is_file()), None)
        if hit is None:
            missing.append(stem)
        else:
            found[role] = hit
    if missing:
        raise DataError(
            f"{folder}: missing the IDX file(s) {', '.join(missing)} (each may end in .gz); a folder data set "
            "needs train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
            "t10k-labels-idx1-ubyte")
    return found


def load_idx_folder(folder: Path, name: str | None = None) -> Dataset:
    """A folder with the four MNIST-style IDX files."""
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; give a folder holding the four IDX files or a .npz file")
    files = find_idx_files(folder)
    arrays = {}
    for role, path in files.items():
        is_images = role.startswith("x")
        arr = read_idx(path, expect_ndim=None if is_images else 1)
        if is_images and arr.ndim < 2:
            raise DataError(f"{path}: an images file must have at least 2 dimensions (N, pixels...), it has "
                            f"{arr.ndim}; check that images and labels files are not swapped")
        arrays[role] = arr
    return make_dataset(name or folder.name, str(folder), arrays["x_train"], arrays["y_train"],
                        arrays["x_test"], arrays["y_test"])
