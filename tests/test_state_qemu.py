"""State files on the emulated boards (issue 14): a state sent to the device and exported back is the same
bytes; fine-tuning on the device from a pretrained state (`mcutrain train --init STATE --verify`) is bit-exact
with the twin started from the same state, on the Cortex-M4F (netduinoplus2) and the Cortex-M0 (microbit)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import board_model, qemu_processes, train_verified

from mcutrain.cli import main
from mcutrain.state import file as sfile

pytestmark = [pytest.mark.qemu]
if os.environ.get("MCUTRAIN_SKIP_QEMU"):
    pytestmark.append(pytest.mark.skip(reason="MCUTRAIN_SKIP_QEMU set"))


@pytest.fixture()
def no_qemu_left(tmp_path: Path):
    yield
    left = qemu_processes(str(tmp_path))
    assert left == [], f"a QEMU started by the test is still running: {left}"


def _pretrain(model: Path, out: Path) -> dict:
    res = CliRunner().invoke(main, ["pretrain", str(model), "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_state_round_trip_host_device_export(tmp_path: Path, no_qemu_left: None) -> None:
    """pretrain -> state file -> the device (`S`, `U`..., `K` as `train --init` sends it) -> `mcutrain export`
    over a new connection -> state file: the same state bytes, and the schedule words the device took."""
    from mcutrain.host.link import DeviceLink

    from mcutrain.job import build_firmware, load_data, start_emulator
    from mcutrain.state.device import init_checkpoint

    model = board_model(tmp_path, "netduinoplus2", train=600, test=100)
    sent = tmp_path / "sent.state"
    _pretrain(model, sent)
    spec, proj, elf = build_firmware(model, None, tmp_path / "b", quiet=True)
    spec, ds = load_data(spec)
    ck = init_checkpoint(spec, sent, len(ds.y_train))
    got, again = tmp_path / "got.state", tmp_path / "again.state"
    emu = start_emulator(proj, elf)
    try:
        with DeviceLink.open(emu.url) as link:
            link.hello(expected_hash=spec.model_hash())
            fresh, _ = link.read_weights()
            link.restore(spec.seed, len(ds.y_train), 0, 0, ck.state, ck.record)
        for out in (got, again):
            res = CliRunner().invoke(main, ["export", str(model), "--port", emu.url, "-o", str(out)])
            assert res.exit_code == 0, res.output
    finally:
        emu.stop()
    a, b = sfile.read(sent, model_hash=spec.model_hash()), sfile.read(got, model_hash=spec.model_hash())
    assert fresh != a.state  # the device did not hold the pretrained state before the upload
    assert b.state == a.state
    assert b.sched == ck.record.sched and b.header.source == "export"
    assert got.read_bytes() == again.read_bytes()  # exporting twice: the same file


@pytest.mark.parametrize("board_name", ["netduinoplus2", "microbit"])
def test_fine_tuning_on_the_device_is_bit_exact(tmp_path: Path, no_qemu_left: None, board_name: str) -> None:
    """`train --init STATE --verify --export OUT`: digests, predictions and final weights equal the twin's
    started from STATE; the exported state is the twin's fine-tuned state, not a from-scratch one's."""
    from mcutrain.host.twin_run import sample_order, train_twin

    from mcutrain.job import encoded_data, load_data, load_spec, twin_data
    from mcutrain.twin import TwinNetwork

    model = board_model(tmp_path, board_name, train=600, test=300)
    state, out = tmp_path / "pre.state", tmp_path / "tuned.state"
    _pretrain(model, state)
    r = train_verified(model, tmp_path, "--init", str(state), "--export", str(out), digest_every=150)
    assert r["bit_exact"] is True and r["digests_checked"] == 4 and r["board"] == board_name
    assert r["init_state"] == str(state)
    spec, ds = load_data(load_spec(model))
    plan, x, _ = twin_data(spec, *encoded_data(spec, ds))
    order = sample_order(spec.seed, len(x), spec.training.epochs)
    tuned, scratch = TwinNetwork(plan), TwinNetwork(plan)
    train_twin(tuned, spec.seed, len(x), x, ds.y_train, order, init_state=sfile.read(state).state)
    train_twin(scratch, spec.seed, len(x), x, ds.y_train, order)
    exported = sfile.read(out, model_hash=spec.model_hash())
    assert exported.state == tuned.state_bytes() != scratch.state_bytes()
    assert exported.header.samples_trained == len(order)


def test_fine_tuning_survives_a_board_reset_before_its_first_checkpoint(tmp_path: Path, no_qemu_left: None) -> None:
    """The emulator killed after 150 samples, before the first checkpoint (300): the restarted board gets the
    pretrained state again (not its own initialisation), and the session stays bit-exact with the twin."""
    from mcutrain.host.link import DeviceLink
    from mcutrain.host.session import run_session

    from mcutrain.job import build_firmware, load_data, session_inputs, start_emulator
    from mcutrain.state.device import init_checkpoint

    model = board_model(tmp_path, "netduinoplus2", train=600, test=200)
    state = tmp_path / "pre.state"
    _pretrain(model, state)
    spec, proj, elf = build_firmware(model, None, tmp_path / "b", quiet=True)
    spec, ds = load_data(spec)
    emu = start_emulator(proj, elf)
    killed: list[int] = []

    def kill_once(samples: int) -> None:
        if samples >= 150 and not killed:
            killed.append(samples)
            emu.stop()

    def reconnect() -> DeviceLink:
        emu.start()
        return DeviceLink.open(emu.url)

    try:
        with DeviceLink.open(emu.url) as link:
            res = run_session(link, checkpoint_every=300, reconnect=reconnect, on_samples=kill_once,
                              init=init_checkpoint(spec, state, len(ds.y_train)),
                              **session_inputs(spec, verify=True, digest_every=100, quiet=True, ds=ds))
    finally:
        emu.stop()
    assert killed and killed[0] < 300 and res.recoveries >= 1
    assert res.bit_exact is True  # every digest (those before the kill sent again after it) equals the twin's
    assert {d[0] for d in res.digests} == {100, 200, 300, 400, 500, 600}
