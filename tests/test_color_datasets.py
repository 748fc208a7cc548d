"""Colour data sets: CIFAR-10 (official python archive, the JPEG copy) and SVHN (.mat), on small files the
tests write; the real JPEG copy when $MCUTRAIN_DATA_DIR has it."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from mcutrain.data import load_dataset
from mcutrain.data.cifar10 import (
    CIFAR10_JPEG_NPZ,
    interleave_classes,
    load_cifar10,
    load_cifar10_archive,
    load_cifar10_jpeg_npz,
)
from mcutrain.data.encoding import (
    PIECE_MAX,
    decode_images,
    encode_images,
    input_bytes,
    link_samples_per_second,
    sample_pieces,
    wire_bytes_per_sample,
)
from mcutrain.data.pooling import pool_images
from mcutrain.data.svhn import load_svhn, read_svhn_mat
from mcutrain.errors import DataError
from mcutrain.model import DataSpec

BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def spec(name: str, path: Path | None = None, pool: int = 1, train: int = 0, test: int = 0) -> DataSpec:
    return DataSpec(name, path, "u8", 128, train, test, pool)


@pytest.fixture
def empty_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No MCUTRAIN_DATA_DIR data and an empty home (so an empty user cache)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("MCUTRAIN_DATA_DIR", str(data))
    return data


def _hwc_images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def _write_archive(path: Path, per_batch: int = 2, skip: str = "", payload: dict[str, bytes] | None = None
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A cifar-10-python.tar.gz of the official layout (pickled dicts with bytes keys, rows = R, G, B planes)."""
    truth = {}
    with tarfile.open(path, "w:gz") as tar:
        for k, name in enumerate(BATCHES):
            if name == skip:
                continue
            images = _hwc_images(per_batch, k)
            labels = [(k + i) % 10 for i in range(per_batch)]
            truth[name] = (images, np.array(labels, np.uint8))
            rows = images.transpose(0, 3, 1, 2).reshape(per_batch, 3072)
            blob = (payload or {}).get(name) or pickle.dumps(
                {b"batch_label": b"x", b"labels": labels, b"data": rows, b"filenames": [b"a.png"] * per_batch},
                protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return truth


def test_cifar10_archive_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "cifar-10-python.tar.gz"
    truth = _write_archive(path)
    ds = load_dataset(spec(str(path), path, train=7))
    x_train = np.concatenate([truth[b][0] for b in BATCHES[:5]])
    assert ds.image_shape == (32, 32, 3) and ds.n_classes == 10
    assert np.array_equal(ds.images_train(), x_train[:7])
    assert np.array_equal(ds.y_train, np.concatenate([truth[b][1] for b in BATCHES[:5]])[:7])
    assert np.array_equal(ds.images_test(), truth["test_batch"][0])
    # a flat row is H, W, C: pixel (0, 1) channel 2 is element 1 * 3 + 2
    assert ds.x_train[0, 5] == x_train[0, 0, 1, 2]


def test_cifar10_archive_errors(tmp_path: Path) -> None:
    path = tmp_path / "a.tar.gz"
    _write_archive(path, skip="test_batch")
    with pytest.raises(DataError, match="lacks test_batch"):
        load_cifar10_archive(path)

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {tmp_path}/pwned",))

    _write_archive(path, payload={"data_batch_3": pickle.dumps({b"data": Evil()}, protocol=2)})
    with pytest.raises(DataError, match="data_batch_3.*refusing"):
        load_cifar10_archive(path)
    assert not (tmp_path / "pwned").exists()
    _write_archive(path, payload={"data_batch_2": pickle.dumps({b"data": np.zeros((2, 100), np.uint8),
                                                                b"labels": [0, 1]}, protocol=2)})
    with pytest.raises(DataError, match=r"\(N, 3072\) uint8"):
        load_cifar10_archive(path)
    (tmp_path / "b.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(DataError, match="not a readable tar.gz"):
        load_cifar10_archive(tmp_path / "b.tar.gz")


def test_cifar10_builtin_search_order(empty_dirs: Path) -> None:
    with pytest.raises(DataError, match="cifar10: not found.*cifar-10-python.tar.gz"):
        load_dataset(spec("cifar10"))
    cache = Path(os.environ["HOME"]) / ".cache" / "mcutrain" / "datasets"
    cache.mkdir(parents=True)
    _write_archive(cache / "cifar-10-python.tar.gz")
    # the built-in name insists on the official counts (50000 / 10000, 5000 / 1000 a class)
    with pytest.raises(DataError, match="10 training and 2 test images.*50000"):
        load_dataset(spec("cifar10"))
    # $MCUTRAIN_DATA_DIR comes first: a bad file there is the one reported
    (empty_dirs / "cifar-10-python.tar.gz").write_bytes(b"junk")
    with pytest.raises(DataError, match=f"{empty_dirs}.*not a readable"):
        load_cifar10()


def _write_jpeg_npz(path: Path, labels_train: list[int], labels_test: list[int]) -> dict[str, np.ndarray]:
    from PIL import Image

    def blobs(labels: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        files, colours = [], []
        for i, lab in enumerate(labels):
            colour = np.array([20 * lab + 10, 200 - 15 * i, 128], np.uint8)    # flat colours survive JPEG closely
            buf = io.BytesIO()
            Image.fromarray(np.broadcast_to(colour, (32, 32, 3)).copy()).save(buf, "JPEG", quality=95)
            files.append(np.frombuffer(buf.getvalue(), np.uint8))
            colours.append(colour)
        off = np.concatenate([[0], np.cumsum([len(f) for f in files])]).astype(np.int64)
        return np.concatenate(files), off, np.array(colours)

    xtr, otr, ctr = blobs(labels_train)
    xte, ote, cte = blobs(labels_test)
    np.savez(path, x_train_jpeg=xtr, x_train_offsets=otr, y_train=np.array(labels_train, np.uint8),
             x_test_jpeg=xte, x_test_offsets=ote, y_test=np.array(labels_test, np.uint8),
             classes=np.array(["a", "b", "c"]))
    return {"train": ctr, "test": cte}


def test_cifar10_jpeg_copy_decodes_and_interleaves(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    colours = _write_jpeg_npz(path, [0, 0, 0, 1, 1, 2], [0, 1])
    ds = load_dataset(spec(str(path), path))
    assert "lossy" in ds.source
    order = interleave_classes(np.array([0, 0, 0, 1, 1, 2]))
    assert ds.y_train.tolist() == [0, 1, 2, 0, 1, 0]
    assert order.tolist() == [0, 3, 5, 1, 4, 2]
    means = ds.images_train().reshape(6, -1, 3).mean(axis=1)
    assert np.abs(means - colours["train"][order]).max() < 3
    with pytest.raises(DataError, match="is not the known JPEG copy"):
        load_cifar10_jpeg_npz(path, expected_sha256="0" * 64)
    z = dict(np.load(path))
    z["x_train_offsets"] = z["x_train_offsets"][::-1].copy()
    np.savez(path, **z)
    with pytest.raises(DataError, match="offsets are not increasing"):
        load_cifar10_jpeg_npz(path)


def test_interleave_classes_properties() -> None:
    y = np.random.default_rng(3).integers(0, 5, 200)
    o = interleave_classes(y)
    assert sorted(o.tolist()) == list(range(200))
    for c in range(5):   # within a class the order is kept
        idx = o[y[o] == c]
        assert (np.diff(idx) > 0).all()
    k = np.bincount(y).min() * 5        # while every class lasts, each block of 5 holds each class once
    assert all(sorted(y[o[i:i + 5]].tolist()) == list(range(5)) for i in range(0, k, 5))


def test_colour_pooling_is_per_channel(tmp_path: Path) -> None:
    path = tmp_path / "cifar-10-python.tar.gz"
    truth = _write_archive(path)
    ds = load_dataset(spec(str(path), path, pool=2))
    assert ds.image_shape == (16, 16, 3)
    x = truth["data_batch_1"][0].astype(np.int64)
    want = x.reshape(2, 16, 2, 16, 2, 3).sum(axis=(2, 4)) // 4
    assert np.array_equal(ds.images_train()[:2], want)
    with pytest.raises(DataError, match="multiples of 3"):
        pool_images(ds.x_train, 3, "t", (16, 16, 3))


# ---------------------------------------------------------------------------------------------- SVHN


def _write_svhn(folder: Path, n_train: int = 5, n_test: int = 3, y_train: np.ndarray | None = None,
                x_train: np.ndarray | None = None) -> dict[str, np.ndarray]:
    from scipy.io import savemat
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    xs = {"train": rng.integers(0, 256, (32, 32, 3, n_train), dtype=np.uint8) if x_train is None else x_train,
          "test": rng.integers(0, 256, (32, 32, 3, n_test), dtype=np.uint8)}
    ys = {"train": (np.arange(n_train) % 10 + 1).reshape(-1, 1).astype(np.uint8) if y_train is None else y_train,
          "test": np.array([[10], [1], [5]], np.uint8)[:n_test]}
    for part in ("train", "test"):
        savemat(folder / f"{part}_32x32.mat", {"X": xs[part], "y": ys[part]})
    return {"x_train": xs["train"], "y_train": ys["train"], "x_test": xs["test"]}


def test_svhn_folder_round_trip(tmp_path: Path) -> None:
    truth = _write_svhn(tmp_path / "s")
    ds = load_dataset(spec(str(tmp_path / "s"), tmp_path / "s"))
    assert ds.image_shape == (32, 32, 3) and ds.n_classes == 10
    assert ds.y_train.tolist() == [1, 2, 3, 4, 5]
    assert ds.y_test.tolist() == [0, 1, 5]                      # 10 means the digit 0
    assert np.array_equal(ds.images_train(), truth["x_train"].transpose(3, 0, 1, 2))
    assert ds.images_train()[2, 4, 7, 1] == truth["x_train"][4, 7, 1, 2]


def test_svhn_builtin_search(empty_dirs: Path) -> None:
    with pytest.raises(DataError, match="train_32x32.mat and test_32x32.mat not found together"):
        load_dataset(spec("svhn"))
    _write_svhn(empty_dirs / "svhn")
    ds = load_dataset(spec("svhn", train=2, test=1))
    assert len(ds.y_train) == 2 and len(ds.y_test) == 1 and ds.name == "svhn"
    (empty_dirs / "svhn" / "test_32x32.mat").unlink()
    with pytest.raises(DataError, match="has only one of them"):
        load_svhn()


def test_svhn_bad_files(tmp_path: Path) -> None:
    _write_svhn(tmp_path / "a", y_train=np.array([[0], [1], [2], [3], [4]], np.uint8))
    with pytest.raises(DataError, match=r"labels must be 1..10 \(10 = digit 0\); found \[0\]"):
        read_svhn_mat(tmp_path / "a" / "train_32x32.mat")
    _write_svhn(tmp_path / "b", x_train=np.zeros((28, 28, 1, 5), np.uint8))
    with pytest.raises(DataError, match=r"X has shape \(28, 28, 1, 5\)"):
        read_svhn_mat(tmp_path / "b" / "train_32x32.mat")
    (tmp_path / "c.mat").write_bytes(b"MATLAB 7.3 MAT-file, junk" * 8)
    with pytest.raises(DataError, match="not a readable MATLAB v5 file"):
        read_svhn_mat(tmp_path / "c.mat")


# ---------------------------------------------------------------------------------------------- real data


def test_real_cifar10_jpeg_copy(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the development machines' JPEG copy is beside MNIST (../shared/data), it loads as real,
    balanced images; elsewhere (a fresh machine: CIFAR-10 has no download route here) the built-in name
    fails with the error users get, naming the official archive and where to put it, not a skip."""
    monkeypatch.setenv("MCUTRAIN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("HOME", str(tmp_path))  # an empty user cache
    if not (data_dir / CIFAR10_JPEG_NPZ).is_file():
        with pytest.raises(DataError, match=r"cifar10: not found .*download the official CIFAR-10 python archive"):
            load_dataset(spec("cifar10", train=100, test=50))
        return
    ds = load_dataset(spec("cifar10", train=100, test=50))
    assert ds.image_shape == (32, 32, 3) and "lossy" in ds.source
    assert np.bincount(ds.y_train, minlength=10).tolist() == [10] * 10      # a prefix is balanced
    assert np.bincount(ds.y_test, minlength=10).tolist() == [5] * 10
    assert 60 < ds.x_train.mean() < 200 and ds.x_train.std() > 30           # real images, not blanks


# ---------------------------------------------------------------------------------------------- encodings


@pytest.mark.parametrize("enc,frac", [("u8", 8), ("u8", 10), ("u4", 4), ("u4", 8)])
def test_colour_encodings_round_trip(enc: str, frac: int) -> None:
    x = np.random.default_rng(4).integers(0, 256, (3, 4, 5, 3), dtype=np.uint8)
    b = encode_images(x, enc)
    assert b.shape == (3, input_bytes(enc, 60))
    got = decode_images(b, enc, (4, 5, 3), frac)
    want = (x.astype(np.int32) << (frac - 8)) if enc == "u8" else ((x.astype(np.int32) >> 4) << (frac - 4))
    assert got.shape == x.shape and np.array_equal(got, want)
    # one sample, and channel values adjacent in a byte (u4: R and G of pixel 0 share byte 0)
    assert np.array_equal(decode_images(encode_images(x[1], enc), enc, (4, 5, 3), frac), want[1])
    if enc == "u4":
        assert b[0, 0] == (x[0, 0, 0, 0] >> 4) | ((x[0, 0, 0, 1] >> 4) << 4)
    with pytest.raises(ValueError, match="expects"):
        encode_images(x[0, 0], enc)


def test_wire_bytes_match_real_frames() -> None:
    from mcutrain.host.framing import encode_frame
    from mcutrain.host.messages import train_payloads, with_seq

    assert wire_bytes_per_sample("u4", 196) == 106                    # docs/protocol.md's figure
    rng = np.random.default_rng(2)
    for enc, n in (("u8", 3072), ("u4", 3072), ("u8", 784), ("bits", 784), ("u8", 251), ("u8", 252)):
        nb = input_bytes(enc, n)
        worst = bytes(rng.integers(1, 256, nb, dtype=np.uint8))       # no zero byte: COBS's longest
        pieces = train_payloads(3, worst)                               # the frames the streamer sends
        assert len(pieces) == len(sample_pieces(nb)) and len(pieces) == -(-max(nb - PIECE_MAX, 0) // 250) + 1
        wire = sum(len(encode_frame(with_seq(p, k))) for k, p in enumerate(pieces))
        # an upper bound (COBS's code bytes depend on where zeros fall: the sequence number's high byte is
        # one), tight to one byte a frame
        assert wire <= wire_bytes_per_sample(enc, n) <= wire + len(pieces)
        if nb <= 250:
            assert wire == wire_bytes_per_sample(enc, n)
        assert link_samples_per_second(enc, n, 11520) == pytest.approx(11520 / wire_bytes_per_sample(enc, n))


@pytest.mark.parametrize("name", ["cifar10", "svhn"])
def test_model_file_names_the_colour_data_sets(tmp_path: Path, name: str) -> None:
    from mcutrain.model import load_model

    text = (f'[model]\nname = "c"\nboard = "netduinoplus2"\n[data]\ndataset = "{name}"\nencoding = "u4"\nPOOL\n'
            '[[layers]]\nkind = "dense"\nunits = 10\nactivation = "linear"\n[training]\nweights = "sign"\n')
    (tmp_path / "m.toml").write_text(text.replace("POOL", "pool = 4"))
    spec = load_model(tmp_path / "m.toml")
    assert spec.n_inputs == 192                                   # 8x8x3 after pool 4
    (tmp_path / "m.toml").write_text(text.replace("POOL", ""))
    full = load_model(tmp_path / "m.toml")                          # full size: sent in sample parts
    assert full.n_inputs == 3072 and full.input_bytes == 1536
