"""Shared helpers of the tests: small model files and projects."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from mcutrain.model.toml_text import mlp_layers_toml

DEMO = Path(__file__).resolve().parent.parent / "examples" / "mnist_demo.toml"


def small_model(tmp: Path, *, weights: str = "binary", qbp: bool = True, units: int = 32,
                train: int = 600, test: int = 300, name: str = "small", extra: str = "",
                board: str = "netduinoplus2", pool: int = 1, encoding: str = "bits",
                latent_bits: int | None = None, update_rounding: str | None = None) -> Path:
    p = tmp / f"{name}.toml"
    arithmetic = f"\n[arithmetic]\nlatent_bits = {latent_bits}\n" if latent_bits is not None else ""
    if update_rounding is not None:
        arithmetic = (arithmetic or "\n[arithmetic]\n") + f'update_rounding = "{update_rounding}"\n'
    p.write_text(f"""
[model]
name = "{name}"
board = "{board}"
seed = 3

[data]
dataset = "mnist"
encoding = "{encoding}"
pool = {pool}
train_samples = {train}
test_samples = {test}

{mlp_layers_toml([units])}
[training]
weights = "{weights}"
quantized_backprop = {"true" if qbp else "false"}
learning_rate = -7
{extra}
{arithmetic}""")
    return p


# MNIST variants from large to small: (pool, hidden units, latent bits). 28x28 pooled by 1, 2, 4
# gives 784, 196, 49 inputs.
_FIT_CANDIDATES = ((1, 32, 16), (2, 32, 8), (4, 32, 16), (4, 16, 8))


def fitting_params(board: str, weights: str = "binary", qbp: bool = True) -> dict[str, int]:
    """small_model keywords (pool, units, latent_bits) of the largest candidate whose memory
    plan fits ``board``: 784-32-10 on the big boards, down to 49-32-10 on the 8 KB one."""
    from mcutrain.arith.plan import make_dense_plan
    from mcutrain.build.boards import get_board
    from mcutrain.codegen.memory import plan_memory

    b = get_board(board)
    for pool, units, bits in _FIT_CANDIDATES:
        plan = make_dense_plan([784 // (pool * pool), units, 10], weights=weights, qbp=qbp, latent_bits=bits)
        if plan_memory(plan, b).fits():
            return {"pool": pool, "units": units, "latent_bits": bits}
    raise AssertionError(f"no test model fits board {board}")


def board_model(tmp: Path, board_name: str, **kw: object) -> Path:
    """small_model for ``board_name``, sized by fitting_params; keywords override (``board=`` too:
    a model sized for one board in a file that names another)."""
    weights, qbp = str(kw.get("weights", "binary")), bool(kw.get("qbp", True))
    params: dict[str, object] = {**fitting_params(board_name, weights, qbp), "board": board_name}
    params.update(kw)
    return small_model(tmp, **params)  # type: ignore[arg-type]


def session_with_board_reset(spec, proj, elf, *, kill_at: int, digest_every: int, checkpoint_every: int = 300):
    """A verified session on the emulated board whose emulator is killed once, when the device has trained
    `kill_at` samples; the session reconnects to a restarted emulator and restores the last checkpoint.
    Returns (SessionResult, the sample counts at which the kill happened)."""
    from mcutrain.host.link import DeviceLink
    from mcutrain.host.session import run_session

    from mcutrain.job import session_inputs, start_emulator

    emu = start_emulator(proj, elf)
    killed: list[int] = []

    def kill_once(samples: int) -> None:
        if samples >= kill_at and not killed:
            killed.append(samples)
            emu.stop()

    def reconnect() -> DeviceLink:
        emu.start()
        return DeviceLink.open(emu.url)

    try:
        with DeviceLink.open(emu.url) as link:
            res = run_session(link, checkpoint_every=checkpoint_every, reconnect=reconnect, on_samples=kill_once,
                              **session_inputs(spec, verify=True, digest_every=digest_every, quiet=True))
    finally:
        emu.stop()
    return res, killed


def qemu_processes(marker: str) -> list[str]:
    """Command lines of the running QEMUs that contain `marker` (a test's tmp path: its own emulators)."""
    out = subprocess.run(["pgrep", "-a", "-x", "qemu-system-arm"], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if marker in ln]


def train_verified(model: Path, tmp: Path, *args: str, digest_every: int = 250) -> dict[str, Any]:
    """`mcutrain train MODEL ARGS --verify` (build in tmp/b, report in tmp/report.json), asserted to
    succeed bit-exactly; its JSON report."""
    from click.testing import CliRunner

    from mcutrain.cli import main

    report = tmp / "report.json"
    res = CliRunner().invoke(main, ["train", str(model), *args, "--verify", "--digest-every", str(digest_every),
                                    "--report", str(report), "--build-dir", str(tmp / "b")])
    assert res.exit_code == 0, res.output
    assert "bit-exact: yes" in res.output
    return json.loads(report.read_text())
