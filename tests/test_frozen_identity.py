"""A baked firmware's identity covers what was baked (issue 14 follow-up, mcutrain/state/identity.py): the
hash `generate --init` writes into the firmware (sent in `I`) is the model hash's first 8 characters and the
baked state's CRC-32; a model without --init keeps its hash; the host refuses, before reading or streaming
anything, a device baked from another state file than the session's --init, naming both CRCs and the fix."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import small_model
from mcutrain.host import messages as m

from mcutrain.cli import main
from mcutrain.errors import McutrainError, ModelMismatchError
from mcutrain.state import file as sfile
from mcutrain.state.identity import baked_crc, check_device, firmware_hash


def _models(tmp: Path) -> tuple[Path, Path, Path, Path]:
    """(the network with every layer learning, its pretrained state A, a state B of the same network with other
    latents, the same network with layer 0 frozen)."""
    learn = small_model(tmp, weights="binary", qbp=True, train=600, test=200, units=24, name="net")
    a = tmp / "a.state"
    res = CliRunner().invoke(main, ["pretrain", str(learn), "-o", str(a), "--json"])
    assert res.exit_code == 0, res.output
    reseeded = tmp / "reseeded.toml"  # the seed is not in the model hash: the same network, other latents
    reseeded.write_text(re.sub(r"seed = \d+", "seed = 12345", learn.read_text(), count=1))
    assert reseeded.read_text() != learn.read_text()
    b = tmp / "b.state"
    res = CliRunner().invoke(main, ["pretrain", str(reseeded), "-o", str(b), "--json"])
    assert res.exit_code == 0, res.output
    assert sfile.read(a).model_hash == sfile.read(b).model_hash and sfile.read(a).state != sfile.read(b).state
    frozen = tmp / "frozen.toml"
    parts = learn.read_text().split("[[layers]]")
    parts[1] = parts[1].replace('kind = "dense"\n', 'kind = "dense"\ntrainable = false\n', 1)
    frozen.write_text("[[layers]]".join(parts).replace('name = "net"', 'name = "frozen"'))
    return learn, a, b, frozen


def _generate(model: Path, out: Path, init: Path | None) -> dict[str, Any]:
    args = ["generate", str(model), "-o", str(out)] + (["--init", str(init)] if init else [])
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    man = json.loads((out / "generated" / "manifest.json").read_text())
    header = (out / "generated" / "mt_model.h").read_text()
    found = re.search(r'#define MT_MODEL_HASH\s+"([0-9a-f]{16})"', header)
    assert found is not None, header
    assert found.group(1) == man["firmware_hash"]  # what `I` sends is what the manifest says
    # the files' opening comment names the hash for what it is (a baked firmware's is not the model hash)
    first = "Firmware hash " if init else "Model hash "
    for name in ("mt_model.h", "mt_model.c"):
        text = (out / "generated" / name).read_text()
        assert f" * {first}{man['firmware_hash']}" in text.splitlines()[1], name
    return man


class _FakeLink:
    """A device that answers hello with ``device_hash`` and fails the test on anything else."""

    def __init__(self, device_hash: str, state_bytes: int) -> None:
        self.info = m.Info(m.PROTO_VERSION, device_hash, 98, 10, state_bytes, "netduinoplus2")
        self.greeted = 0

    def hello(self, **_: Any) -> m.Info:
        self.greeted += 1
        return self.info

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} called on the device after hello: the identity check must come first")


def test_baked_firmware_hash_covers_the_state(tmp_path: Path) -> None:
    from mcutrain.job import load_spec

    learn, a, b, frozen = _models(tmp_path)
    spec_f, spec_l = load_spec(frozen), load_spec(learn)
    sa, sb = sfile.read(a).state, sfile.read(b).state
    man_a = _generate(frozen, tmp_path / "pa", a)
    man_b = _generate(frozen, tmp_path / "pb", b)
    for man, state in ((man_a, sa), (man_b, sb)):
        assert man["model_hash"] == spec_f.model_hash()
        assert man["firmware_hash"] == spec_f.model_hash()[:8] + f"{zlib.crc32(state):08x}"
        assert man["flash"]["init_state"]["state_file_crc32"] == man["firmware_hash"][8:]
        assert baked_crc(man["firmware_hash"], spec_f.model_hash()) == f"{zlib.crc32(state):08x}"
    assert man_a["firmware_hash"] != man_b["firmware_hash"]
    # without --init the firmware keeps the model hash (non-baked models' hashes are unchanged)
    plain = _generate(learn, tmp_path / "plain", None)
    assert plain["firmware_hash"] == plain["model_hash"] == spec_l.model_hash()
    assert baked_crc(plain["firmware_hash"], spec_l.model_hash()) is None
    # a model without frozen layers baked with --init (its start state): the hash covers it too
    assert _generate(learn, tmp_path / "lb", a)["firmware_hash"] == firmware_hash(spec_l.model_hash(), sa)


def test_device_baked_from_another_state_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    from mcutrain.job import load_spec

    learn, a, b, frozen = _models(tmp_path)
    spec_f, spec_l = load_spec(frozen), load_spec(learn)
    sa, sb = sfile.read(a).state, sfile.read(b).state
    crc_a, crc_b = f"{zlib.crc32(sa):08x}", f"{zlib.crc32(sb):08x}"
    baked_a = firmware_hash(spec_f.model_hash(), sa)
    what = "this session"
    # the matching state: accepted, the hash to expect on reconnections returned
    link = _FakeLink(baked_a, 100)
    assert check_device(link, spec_f, a, sa, what) == baked_a and link.greeted == 1
    # baked from A, the session's --init is B: refused naming both CRCs, B, and the fixes
    with pytest.raises(ModelMismatchError) as e:
        check_device(_FakeLink(baked_a, 100), spec_f, b, sb, what)
    msg = str(e.value)
    assert crc_a in msg and crc_b in msg and str(b) in msg and f"--init {b}" in msg and "generate" in msg, msg
    # a firmware of the frozen model generated without a state; a firmware of another model
    with pytest.raises(ModelMismatchError) as e:
        check_device(_FakeLink(spec_f.model_hash(), 100), spec_f, a, sa, what)
    assert "without a state" in str(e.value) and crc_a in str(e.value), str(e.value)
    with pytest.raises(ModelMismatchError) as e:
        check_device(_FakeLink(spec_l.model_hash(), 100), spec_f, a, sa, what)
    assert spec_l.model_hash() in str(e.value) and spec_f.model_hash() in str(e.value), str(e.value)
    # frozen layers and no --init: refused naming the fix
    with pytest.raises(McutrainError) as e:
        check_device(_FakeLink(baked_a, 100), spec_f, None, None, what)
    assert "--init STATE" in str(e.value) and "frozen" in str(e.value), str(e.value)
    # no frozen layers: a firmware baked with a start state needs a session that replaces it (--init)
    baked_l = firmware_hash(spec_l.model_hash(), sa)
    assert check_device(_FakeLink(baked_l, 100), spec_l, b, sb, what) == baked_l
    assert check_device(_FakeLink(spec_l.model_hash(), 100), spec_l, None, None, what) == spec_l.model_hash()
    with pytest.raises(ModelMismatchError) as e:
        check_device(_FakeLink(baked_l, 100), spec_l, None, None, what)
    assert crc_a in str(e.value) and "--init" in str(e.value), str(e.value)


def test_export_with_another_init_is_refused_and_writes_nothing(tmp_path: Path, monkeypatch: Any) -> None:
    """`mcutrain export FROZEN --port P --init B` of a device baked from A: exit 6 (model mismatch), both CRCs
    named, no state read from the device (the fake link fails on it), no file written."""
    from contextlib import contextmanager

    from mcutrain.host.link import DeviceLink

    from mcutrain.job import load_spec

    _, a, b, frozen = _models(tmp_path)
    spec = load_spec(frozen)
    sa, sb = sfile.read(a).state, sfile.read(b).state
    fake = _FakeLink(firmware_hash(spec.model_hash(), sa), 100)

    @contextmanager
    def fake_open(_port: str, *_a: Any, **_k: Any) -> Any:
        yield fake

    monkeypatch.setattr(DeviceLink, "open", staticmethod(fake_open))
    out = tmp_path / "out.state"
    res = CliRunner().invoke(main, ["export", str(frozen), "--port", "fake", "-o", str(out), "--init", str(b)])
    assert res.exit_code == 6, res.output
    assert f"{zlib.crc32(sa):08x}" in res.output and f"{zlib.crc32(sb):08x}" in res.output, res.output
    assert fake.greeted == 1 and not out.exists()
    # sanity of the fake: with the matching --init the export gets past the identity check to reading the state
    res = CliRunner().invoke(main, ["export", str(frozen), "--port", "fake", "-o", str(out), "--init", str(a)])
    assert isinstance(res.exception, AssertionError) and "read_checkpoint" in str(res.exception)
    assert not out.exists()

