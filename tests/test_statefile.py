"""The state file (mcutrain/state/file.py) and `mcutrain pretrain` on the host (issue 14).

The file round-trips, a wrong one (another model, a damaged CRC, another format version, not a state file)
is refused with a message naming the problem and the fix and leaves the output untouched; pretraining is
the device's session on the twin (the same loop, the same order) and a resumed pretraining ends bit for
bit where an uninterrupted one does."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import small_model

from mcutrain.cli import main
from mcutrain.state import file as sfile


def _pretrain(model: Path, out: Path, *args: str) -> dict:
    res = CliRunner().invoke(main, ["pretrain", str(model), "-o", str(out), "--json", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    tmp = tmp_path_factory.mktemp("pretrain")
    model = small_model(tmp, train=900, test=300, units=24, extra="epochs = 2")
    out = tmp / "small.state"
    return model, out, _pretrain(model, out)


def test_pretrain_is_the_devices_session_on_the_twin(pretrained: tuple[Path, Path, dict]) -> None:
    """The state file holds what the twin of `mcutrain train --verify` ends with (the device's final state:
    the verified sessions of test_train_qemu.py check that twin against the board)."""
    from mcutrain.host.twin_run import sample_order, train_twin

    from mcutrain.job import encoded_data, load_data, load_spec, twin_data
    from mcutrain.twin import TwinNetwork

    model, out, summary = pretrained
    spec, ds = load_data(load_spec(model))
    plan, x, x_test = twin_data(spec, *encoded_data(spec, ds))
    net = TwinNetwork(plan)
    order = sample_order(spec.seed, len(ds.y_train), spec.training.epochs)
    train_twin(net, spec.seed, len(ds.y_train), x, ds.y_train, order)
    sf = sfile.read(out)
    assert sf.state == net.state_bytes()
    assert sf.header.samples_trained == sf.header.samples_total == 2 * 900
    assert sf.header.model_hash == spec.model_hash() and sf.header.source == "pretrain"
    assert summary["twin_test_accuracy"] == float((net.infer(x_test) == ds.y_test).mean())
    assert summary["twin_test_accuracy"] > 0.5


def test_resumed_pretraining_ends_bit_for_bit_where_the_whole_one_does(pretrained: tuple[Path, Path, dict],
                                                                       tmp_path: Path) -> None:
    """Stop after the intermediate save at 1000 samples (mid-epoch 2), resume: the same final file."""
    model, whole, _ = pretrained
    part = tmp_path / "part.state"
    from mcutrain.job import load_data, load_spec
    from mcutrain.state.pretrain import pretrain

    spec, ds = load_data(load_spec(model))

    class Stop(Exception):
        pass

    class StopAfterSave:
        def __init__(self, total: int, what: str, quiet: bool) -> None:
            pass

        def update(self, done: int, *a: int) -> None:
            if done > 1000:  # the save at 1000 was written by then
                raise Stop

        def close(self) -> None:
            pass

    with pytest.raises(Stop):
        pretrain(spec, ds, part, save_every=500, progress=StopAfterSave)
    mid = sfile.read(part)
    assert mid.header.samples_trained == 1000
    assert mid.state != sfile.read(whole).state
    summary = _pretrain(model, part, "--resume")
    assert summary["resumed_from"] == 1000 and summary["samples_this_run"] == 800
    assert part.read_bytes() == whole.read_bytes()


def test_state_file_round_trip(pretrained: tuple[Path, Path, dict], tmp_path: Path) -> None:
    _, out, _ = pretrained
    sf = sfile.read(out)
    again = tmp_path / "again.state"
    sf.write(again)
    assert again.read_bytes() == out.read_bytes()
    assert sfile.parse(out.read_bytes()) == sf


def _damage(data: bytes, where: str) -> bytes:
    b = bytearray(data)
    if where == "crc":
        b[len(b) // 2] ^= 0x10  # a state byte: the CRC-32 no longer matches
    elif where == "version":
        struct.pack_into("<I", b, 8, sfile.FORMAT_VERSION + 1)
        struct.pack_into("<I", b, len(b) - 4, zlib.crc32(bytes(b[:-4])))  # a consistent file of version 2
    elif where == "magic":
        b[:8] = b"NOTSTATE"
    return bytes(b)


@pytest.mark.parametrize("where,words,code", [("crc", ["damaged", "CRC-32"], 2),
                                              ("version", ["format version 2", "reads version 1"], 2),
                                              ("magic", ["not an mcutrain state file"], 2)])
def test_a_wrong_state_file_is_refused_and_nothing_is_overwritten(pretrained: tuple[Path, Path, dict],
                                                                  tmp_path: Path, where: str, words: list[str],
                                                                  code: int) -> None:
    model, out, _ = pretrained
    bad = tmp_path / "bad.state"
    bad.write_bytes(_damage(out.read_bytes(), where))
    before = bad.read_bytes()
    with pytest.raises(sfile.StateFileError) as e:
        sfile.read(bad)
    for w in words:
        assert w in str(e.value)
    # `pretrain --resume` from it: the same refusal, exit code 2, the file left as it was
    res = CliRunner().invoke(main, ["pretrain", str(model), "-o", str(bad), "--resume"])
    assert res.exit_code == code, res.output
    assert words[0] in res.output and str(bad) in res.output
    assert bad.read_bytes() == before


def test_a_state_file_of_another_model_is_refused(pretrained: tuple[Path, Path, dict], tmp_path: Path) -> None:
    from mcutrain.errors import ModelMismatchError
    from mcutrain.job import load_data, load_spec
    from mcutrain.state.device import init_checkpoint

    _, out, _ = pretrained
    other = small_model(tmp_path, train=900, test=300, units=20, extra="epochs = 2", name="other")
    spec, ds = load_data(load_spec(other))
    before = out.read_bytes()
    with pytest.raises(ModelMismatchError) as e:
        init_checkpoint(spec, out, len(ds.y_train))
    assert sfile.read(out).model_hash in str(e.value) and spec.model_hash() in str(e.value)
    # `pretrain --resume` of the other model onto it: refused (exit 6), the file untouched
    res = CliRunner().invoke(main, ["pretrain", str(other), "-o", str(out), "--resume"])
    assert res.exit_code == 6, res.output
    assert "is a state of model" in res.output
    assert out.read_bytes() == before


def test_init_checkpoint_schedule_is_a_fresh_sessions(pretrained: tuple[Path, Path, dict]) -> None:
    """`--init` keeps the learning-rate schedule and PRNG of a session just started with the model's seed
    (the fleet's round start computes the same words independently)."""
    from mcutrain.fleet.backend import FleetData, TwinBackend
    from mcutrain.job import load_data, load_spec
    from mcutrain.state.device import init_checkpoint

    model, out, _ = pretrained
    spec, ds = load_data(load_spec(model))
    ck = init_checkpoint(spec, out, len(ds.y_train))
    sf = sfile.read(out)
    assert ck.state == sf.state and ck.record.samples_trained == 0
    assert ck.record.state_crc32 == zlib.crc32(sf.state)
    assert ck.record.sched == TwinBackend(FleetData.from_spec(spec, ds)).begin(sf.state, spec.seed, len(ds.y_train))
    assert ck.record.sched != sf.sched  # the pretraining's own schedule (PRNG after 1800 steps) is not used


def test_fine_tuning_twin_starts_from_the_state(pretrained: tuple[Path, Path, dict]) -> None:
    """train_twin with init_state: the first prediction is the pretrained net's, not a fresh one's."""
    from mcutrain.host.twin_run import train_twin

    from mcutrain.job import encoded_data, load_data, load_spec, twin_data
    from mcutrain.twin import TwinNetwork

    model, out, _ = pretrained
    spec, ds = load_data(load_spec(model))
    plan, x, _ = twin_data(spec, *encoded_data(spec, ds))
    sf = sfile.read(out)
    order = np.arange(300)
    tuned = train_twin(TwinNetwork(plan), spec.seed, len(x), x, ds.y_train, order, init_state=sf.state)
    fresh = train_twin(TwinNetwork(plan), spec.seed, len(x), x, ds.y_train, order)
    assert tuned.hits(ds.y_train, order) > fresh.hits(ds.y_train, order)


def test_pretrain_refuses_the_float_baseline(tmp_path: Path) -> None:
    model = small_model(tmp_path, weights="float32", qbp=False, train=200, test=100)
    res = CliRunner().invoke(main, ["pretrain", str(model), "-o", str(tmp_path / "f.state")])
    assert res.exit_code == 2, res.output
    assert "float32" in res.output and "state files hold" in res.output
    assert not (tmp_path / "f.state").exists()


def test_mini_batch_pretraining_resumes_bit_for_bit(tmp_path: Path) -> None:
    """Mini-batches (a short last batch each epoch: 900 = 56 x 16 + 4): the saved schedule words carry the
    steps left in the epoch, so a pretraining stopped at a batch boundary mid-epoch and resumed ends where
    the whole one does."""
    from mcutrain.job import load_data, load_spec
    from mcutrain.state.pretrain import pretrain

    model = small_model(tmp_path, train=900, test=300, units=24, extra="epochs = 2\nbatch_size = 16")
    whole, part = tmp_path / "whole.state", tmp_path / "part.state"
    _pretrain(model, whole)
    spec, ds = load_data(load_spec(model))

    class Stop(Exception):
        pass

    class StopAfter:
        def __init__(self, total: int, what: str, quiet: bool) -> None:
            pass

        def update(self, done: int, *a: int) -> None:
            if done > 1290:
                raise Stop

        def close(self) -> None:
            pass

    with pytest.raises(Stop):
        pretrain(spec, ds, part, save_every=320, progress=StopAfter)
    mid = sfile.read(part)
    assert mid.header.samples_trained == 900 + 24 * 16  # the first batch boundary from 1280 on
    assert struct.unpack("<IiII", mid.sched)[3] == 900 - 24 * 16  # steps left in epoch 2
    summary = _pretrain(model, part, "--resume")
    assert summary["resumed_from"] == 1284
    assert part.read_bytes() == whole.read_bytes()
