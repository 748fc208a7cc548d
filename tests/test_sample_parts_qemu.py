"""Samples larger than one frame on the emulated board (protocol v3, `Q` sample parts): a model whose samples
are 784 bytes (full-size MNIST, u8: three parts and a `T`/`E` of 34 bytes) trained and evaluated with
--verify on a healthy link, through the fault proxy (bits flipped, bytes dropped, duplicated and delayed
both ways), and with the board killed mid-session (the session restores the last checkpoint at a sample
boundary). Digests, predictions and final weights are compared with the twin and between runs as integers."""

from __future__ import annotations

import pytest
from helpers import session_with_board_reset, small_model
from mcutrain.host import messages as m
from mcutrain.host.faults import FaultProxy, FaultRates
from mcutrain.host.link import DeviceLink
from mcutrain.host.session import run_session

from mcutrain.job import build_firmware, session_inputs, start_emulator

pytestmark = pytest.mark.qemu

TRAIN, TEST = 600, 150


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parts")
    model = small_model(tmp, train=TRAIN, test=TEST, pool=1, encoding="u8", units=16, name="parts")
    spec, proj, elf = build_firmware(model, None, tmp / "b", quiet=True)
    assert spec.input_bytes == 784 and m.frames_per_sample(784) == 4
    return spec, proj, elf


@pytest.fixture(scope="module")
def clean(built):
    spec, proj, elf = built
    emu = start_emulator(proj, elf)
    try:
        with DeviceLink.open(emu.url) as link:
            res = run_session(link, **session_inputs(spec, verify=True, digest_every=150, quiet=True))
            frames = link.frames_assigned
    finally:
        emu.stop()
    assert res.bit_exact is True and res.link_stats["retransmitted_frames"] == 0
    assert res.samples_trained == TRAIN and res.test_samples == TEST
    assert [d[0] for d in res.digests] == [150, 300, 450, 600]
    assert frames == 4 * (TRAIN + TEST)  # data frames: 4 a sample
    return res


def test_parts_through_faults_bit_identical(built, clean):
    spec, proj, elf = built
    emu = start_emulator(proj, elf)
    proxy = FaultProxy(emu.port, FaultRates.uniform(1e-3, 0.005), seed=8)
    proxy.start()
    try:
        with DeviceLink.open(proxy.url) as link:
            res = run_session(link, checkpoint_every=200,
                              **session_inputs(spec, verify=True, digest_every=150, quiet=True))
    finally:
        proxy.stop()
        emu.stop()
    assert res.bit_exact is True
    assert res.final_state_crc32 == clean.final_state_crc32
    assert list(res.device_predictions) == list(clean.device_predictions)
    assert proxy.faults_injected > 50 and res.link_stats["retransmitted_frames"] > 0


def test_parts_board_reset_restores_at_a_sample_boundary(built, clean):
    spec, proj, elf = built
    res, killed = session_with_board_reset(spec, proj, elf, kill_at=350, digest_every=150, checkpoint_every=200)
    assert killed and res.recoveries == 1
    assert res.bit_exact is True and res.final_state_crc32 == clean.final_state_crc32
    assert list(res.device_predictions) == list(clean.device_predictions)
    assert [d[0] for d in res.digests].count(300) == 2  # trained before the reset and again after the restore
