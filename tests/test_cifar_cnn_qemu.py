"""A short CIFAR-10 CNN session on the emulated board: examples/cifar10_cnn.toml (32x32x3 at u4, 1,536 bytes a
sample: six `Q` sample parts and a `T`/`E` each) cut to 300 training and 100 test samples, trained with
--verify. The device's weight digests (CRC-32 of the state bytes and the PRNG state, every 100 samples), its
final state bytes and its test predictions are compared as integers with the twin's, trained here
independently of the session over the same sample order.

Data: the project's loader (`mcutrain.data.cifar10`). Where the development machines' JPEG copy is beside the
clone (../shared/data/cifar10_jpeg.npz, lossy) the images are real CIFAR-10; elsewhere (a fresh machine:
CIFAR-10 has no download route here) the test writes a small archive of the official layout
(cifar-10-python.tar.gz, random pixels), names it as the model's data.dataset and the loader reads it, so the
same path runs end to end."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from mcutrain.host import messages as m
from mcutrain.host.link import DeviceLink
from mcutrain.host.session import run_session
from mcutrain.host.twin_run import sample_order, train_twin
from test_color_datasets import _write_archive

from mcutrain.data.cifar10 import CIFAR10_ARCHIVE, CIFAR10_JPEG_NPZ
from mcutrain.job import build_firmware, session_inputs, start_emulator
from mcutrain.twin import make_twin

pytestmark = pytest.mark.qemu

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cifar10_cnn.toml"
TRAIN, TEST, EVERY = 300, 100, 100


@pytest.fixture(scope="module")
def cifar_source(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bool]:
    """data.dataset for the session, and whether it is real CIFAR-10: the built-in name where the development
    copy is in $MCUTRAIN_DATA_DIR, else a written archive of the official layout named as a file (the
    built-in name insists on the official archive's 50000/10000 images)."""
    if (data_dir / CIFAR10_JPEG_NPZ).is_file():
        return "cifar10", True
    archive = tmp_path_factory.mktemp("cifar") / CIFAR10_ARCHIVE
    _write_archive(archive, per_batch=TEST + 20)  # 5 x 120 training images, 120 test images
    assert tarfile.is_tarfile(archive)
    return str(archive), False


def test_cifar10_cnn_trains_bit_exact_on_the_emulated_board(cifar_source, tmp_path: Path) -> None:
    dataset, real = cifar_source
    text = EXAMPLE.read_text()
    assert 'dataset = "cifar10"' in text
    text = text.replace('dataset = "cifar10"', f'dataset = "{dataset}"')
    for key, n in (("train_samples", TRAIN), ("test_samples", TEST)):
        lines = [ln for ln in text.splitlines() if ln.startswith(f"{key} =")]
        assert len(lines) == 1, f"{EXAMPLE} should set {key} once"
        text = text.replace(lines[0], f"{key} = {n}")
    model = tmp_path / "cifar10_cnn.toml"
    model.write_text(text)
    spec, proj, elf = build_firmware(model, None, tmp_path / "b", quiet=True)
    assert spec.input_bytes == 1536 and m.frames_per_sample(spec.input_bytes) == 7
    ram = json.loads((tmp_path / "b" / "generated" / "manifest.json").read_text())["ram"]
    assert ram["planned_bytes"] <= 128 * 1024 == ram["board_bytes"]  # fits the default board's 128 KB
    assert any(b["name"] == "sample parts buffer" and b["bytes"] == 1536 for b in ram["buffers"])

    inputs = session_inputs(spec, verify=True, digest_every=EVERY, quiet=True)
    assert len(inputs["train_labels"]) == TRAIN and len(inputs["test_labels"]) == TEST
    emu = start_emulator(proj, elf)
    try:
        with DeviceLink.open(emu.url) as link:
            res = run_session(link, **inputs)
            frames = link.frames_assigned
    finally:
        emu.stop()
    assert frames == 7 * (TRAIN + TEST)
    assert res.samples_trained == TRAIN and res.test_samples == TEST

    # The twin, trained here over the session's sample order: every digest, the final state and the
    # predictions equal as integers.
    plan, x_train, x_test = inputs["twin_factory"]()
    net = make_twin(plan)
    order = sample_order(spec.seed, TRAIN, spec.training.epochs)
    twin = train_twin(net, spec.seed, TRAIN, x_train, inputs["train_labels"], order, EVERY)
    device_digests = {s: (crc, prng) for s, crc, prng in res.digests}
    assert sorted(device_digests) == [100, 200, 300]
    assert device_digests == twin.digests
    assert res.final_state == net.state_bytes()
    assert np.array_equal(res.device_predictions, net.infer(x_test).astype(np.uint8))
    assert res.bit_exact is True and res.digests_checked == 3
    if real:  # real images, balanced prefix: every class among the labels
        assert set(np.unique(inputs["train_labels"]).tolist()) == set(range(10))
