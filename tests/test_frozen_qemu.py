"""Frozen layers on the emulated boards (issue 14): a model whose first layer is frozen (packed signs in flash,
baked from a pretrained state by `generate --init`) fine-tunes its head on the device bit-exactly with the twin,
on the Cortex-M4F (netduinoplus2) and the Cortex-M0 (microbit); the state file goes host -> device -> export ->
host unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
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


def _pretrained_and_frozen(tmp: Path, board_name: str, **kw: object) -> tuple[Path, Path, Path]:
    """(the model with every layer learning, its pretrained state file, the same model with layer 0 frozen)."""
    learn = board_model(tmp, board_name, name="learn", **kw)
    state = tmp / "pre.state"
    res = CliRunner().invoke(main, ["pretrain", str(learn), "-o", str(state), "--json"])
    assert res.exit_code == 0, res.output
    frozen = tmp / "frozen.toml"
    head, first, rest = learn.read_text().split("[[layers]]", 2)
    first = first.replace('kind = "dense"\n', 'kind = "dense"\ntrainable = false\n', 1)
    frozen.write_text("[[layers]]".join([head, first, rest]).replace('name = "learn"', 'name = "frozen"'))
    return learn, state, frozen


@pytest.mark.parametrize("board_name", ["netduinoplus2", "microbit"])
def test_frozen_fine_tuning_on_the_device_is_bit_exact(tmp_path: Path, no_qemu_left: None, board_name: str) -> None:
    """`train FROZEN --init STATE --verify --export OUT`: digests, predictions and final weights equal the twin's;
    the export holds the frozen latents of STATE and the head the device trained, which differs from STATE's."""
    from mcutrain.host.twin_run import sample_order, train_twin

    from mcutrain.fleet.layout import full_layout
    from mcutrain.job import encoded_data, load_data, load_spec, twin_data
    from mcutrain.state.layout import state_hash
    from mcutrain.twin import TwinNetwork

    learn, state, frozen = _pretrained_and_frozen(tmp_path, board_name, train=600, test=300)
    out = tmp_path / "tuned.state"
    r = train_verified(frozen, tmp_path, "--init", str(state), "--export", str(out), digest_every=150)
    assert r["bit_exact"] is True and r["digests_checked"] == 4 and r["board"] == board_name
    spec, ds = load_data(load_spec(frozen))
    man = json.loads((tmp_path / "b" / "generated" / "manifest.json").read_text())
    fz = man["flash"]["frozen"]
    assert fz["packed_sign_bytes"] > 0 and "L0_W" not in (tmp_path / "b" / "generated" / "mt_model.c").read_text()
    assert r["ram_planned_bytes"] == fz["ram_bytes"] < fz["ram_bytes_all_trainable"]
    plan, x, _ = twin_data(spec, *encoded_data(spec, ds))
    order = sample_order(spec.seed, len(x), spec.training.epochs)
    pre = sfile.read(state).state
    tuned = TwinNetwork(plan)
    train_twin(tuned, spec.seed, len(x), x, ds.y_train, order, init_state=pre)
    exported = sfile.read(out, model_hash=state_hash(spec))
    assert exported.header.model_hash == load_spec(learn).model_hash()  # the network's state file
    layout = full_layout(plan)
    got, before = layout.split(exported.state), layout.split(pre)
    np.testing.assert_array_equal(got[0], before[0])         # the frozen latents: the pretrained ones
    assert not np.array_equal(got[1], before[1])             # the head learned on the device
    np.testing.assert_array_equal(got[1], tuned.layers[1].W.reshape(-1))


def test_frozen_state_round_trip_host_device_export(tmp_path: Path, no_qemu_left: None) -> None:
    """The pretrained state baked into the firmware (`mcutrain emulate --init STATE`, as `generate --init`) and
    sent (`train --init`'s `U`/`K`), then `mcutrain export --init` twice: the state file's bytes come back
    identical; without --init the export of a model with frozen layers is refused naming the fix, and writes
    nothing. The firmware's hash (`I`) covers
    the baked state: an export or a `train --port` session with another state file of the same network as --init
    is refused before anything is read or streamed, naming both states' CRCs (exit 6), and writes nothing."""
    import re
    import signal
    import socket
    import subprocess
    import sys
    import zlib

    from mcutrain.host.link import DeviceLink

    from mcutrain.job import load_data, load_spec
    from mcutrain.state.device import init_checkpoint
    from mcutrain.state.identity import firmware_hash
    from mcutrain.state.layout import read_state

    learn, sent, frozen = _pretrained_and_frozen(tmp_path, "netduinoplus2", train=600, test=100)
    other = tmp_path / "other.state"  # the same network pretrained from another seed (not in the model hash)
    reseeded = tmp_path / "reseeded.toml"
    reseeded.write_text(re.sub(r"seed = \d+", "seed = 12345", learn.read_text(), count=1))
    res = CliRunner().invoke(main, ["pretrain", str(reseeded), "-o", str(other), "--json"])
    assert res.exit_code == 0, res.output
    spec, ds = load_data(load_spec(frozen))
    crc_sent, crc_other = (f"{zlib.crc32(read_state(spec, p).state):08x}" for p in (sent, other))
    assert crc_sent != crc_other
    ck = init_checkpoint(spec, sent, len(ds.y_train))
    got, again, refused = tmp_path / "got.state", tmp_path / "again.state", tmp_path / "refused.state"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # `mcutrain emulate --init`: the firmware baked from STATE, its UART on a TCP port
    emu = subprocess.Popen([str(Path(sys.executable).parent / "mcutrain"), "emulate", str(frozen), "--listen",
                            str(port), "--build-dir", str(tmp_path / "b"), "--init", str(sent)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = emu.stdout.readline().strip()
        assert url == f"socket://127.0.0.1:{port}", emu.stderr.read() if emu.poll() is not None else url
        with DeviceLink.open(url) as link:
            info = link.hello(expected_hash=firmware_hash(spec.model_hash(), read_state(spec, sent).state))
            assert info.model_hash == spec.model_hash()[:8] + crc_sent  # the device's own `I`
            link.restore(spec.seed, len(ds.y_train), 0, 0, ck.state, ck.record)
        res = CliRunner().invoke(main, ["export", str(frozen), "--port", url, "-o", str(refused)])
        assert res.exit_code != 0 and "--init" in res.output and "frozen" in res.output, res.output
        res = CliRunner().invoke(main, ["export", str(frozen), "--port", url, "-o", str(refused),
                                        "--init", str(other)])
        assert res.exit_code == 6 and crc_sent in res.output and crc_other in res.output, res.output
        res = CliRunner().invoke(main, ["train", str(frozen), "--port", url, "--init", str(other), "--verify",
                                        "--build-dir", str(tmp_path / "b2"), "--export", str(refused), "-q"])
        assert res.exit_code == 6 and crc_sent in res.output and crc_other in res.output, res.output
        assert str(other) in res.output and "--init" in res.output, res.output
        for out in (got, again):
            res = CliRunner().invoke(main, ["export", str(frozen), "--port", url, "-o", str(out),
                                            "--init", str(sent)])
            assert res.exit_code == 0, res.output
    finally:
        emu.send_signal(signal.SIGTERM)
        _, err = emu.communicate(timeout=20)
    assert emu.returncode == 0 and f"baked from {sent}" in err and spec.model_hash()[:8] + crc_sent in err, err
    assert not refused.exists()
    a, b = read_state(spec, sent), read_state(spec, got)
    assert b.state == a.state and len(ck.state) < len(a.state)
    assert b.sched == ck.record.sched and b.header.source == "export"
    assert got.read_bytes() == again.read_bytes()


def test_a_network_ten_times_the_ram_trains_its_head_on_the_128_kb_board(tmp_path: Path, no_qemu_left: None) -> None:
    """Issue 14's goal: examples/frozen_digits.toml's network (196-1024-1024-10) with its two hidden layers
    frozen, whose latents would take >= 4x the board's 128 KB of RAM, trains its head on netduinoplus2
    bit-exactly with the twin; the plan and the linker agree it fits. (Frozen signs from a fresh twin's
    latents here; the pretrained run is `python bench/frozen_demo.py`, docs/results.md.)"""
    import subprocess

    from mcutrain.arith.plan import plan_from_spec, unfrozen_plan
    from mcutrain.build.boards import get_board
    from mcutrain.codegen.memory import freezing_saved
    from mcutrain.job import load_data, load_spec
    from mcutrain.state.layout import state_hash, state_layout
    from mcutrain.twin import TwinNetwork

    root = Path(__file__).resolve().parent.parent
    model = tmp_path / "big.toml"
    model.write_text((root / "examples" / "frozen_digits.toml").read_text()
                     .replace('dataset = "digits"', 'dataset = "mnist"')
                     .replace("train_samples = 0", "train_samples = 300")
                     .replace("test_samples = 0", "test_samples = 200"))
    spec, ds = load_data(load_spec(model))
    plan = plan_from_spec(spec)
    board = get_board("netduinoplus2")
    saved = freezing_saved(plan, board)
    assert saved["frozen_latent_bytes"] >= 4 * board.ram_bytes and saved["ram_bytes"] <= board.ram_bytes
    net = TwinNetwork(unfrozen_plan(plan))
    net.start(11, 1)
    layout = state_layout(spec)
    state = tmp_path / "big.state"
    sfile.StateFile(sfile.StateHeader(state_hash(spec), spec.name, layout.nbytes,
                                      tuple(s.name for s in layout.segments)),
                    net.state_bytes(), bytes(sfile.SCHED_BYTES)).write(state)
    r = train_verified(model, tmp_path, "--init", str(state), digest_every=100)
    assert r["bit_exact"] is True and r["digests_checked"] == 3 and r["samples_trained"] == 300
    elf = tmp_path / "b" / ".pio" / "build" / "netduinoplus2" / "firmware.elf"
    text, data, bss = (int(v) for v in subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True,
                                                      text=True, check=True).stdout.splitlines()[1].split()[:3])
    assert data + bss + board.stack_bytes <= board.ram_bytes and text > saved["packed_sign_bytes"]
    from mcutrain.build.mulcheck import check_elf

    man = json.loads((tmp_path / "b" / "generated" / "manifest.json").read_text())
    estimate = man["flash"]["planned_bytes_estimate"]
    assert abs(estimate - text) < 0.1 * text, (estimate, text)  # the planner's flash estimate, within 10%
    names = sorted(set(man["functions"]["training"]) | set(man["functions"]["inference"]))
    assert "l1_forward_frozen" in names and "l1_update" not in names
    assert [f.text for rep in check_elf(str(elf), names) for f in rep.findings] == []  # no multiply or divide
