"""The job around a training session: load, data, build, session, verify, report.

What `mcutrain train` does, as public steps that the command line, `mcutrain soak`, the benchmark's
end-to-end session, the modes table and the tests call:

- :func:`load_spec` reads and validates the model file (and a board override);
- :func:`load_data` loads its data set and checks the model against it;
- :func:`build_firmware` generates the project and builds it (PlatformIO skips what is up to date);
- :func:`session_inputs` encodes the data and gives what :func:`mcutrain.host.session.run_session` takes,
  with the twin's inputs when the session is verified;
- :func:`start_emulator`, :func:`reopen_port`, :func:`restart_emulator` connect and reconnect a board;
- :func:`run_train` is all of it on one board, returning the report (`--report`'s JSON);
- :func:`run_soak` is the same through the fault-injecting proxy (`mcutrain soak`).

Nothing here prints on its own: messages go to the ``log`` callable (default: a line on stderr).
This module imports no command-line module, so the CLI depends on it and never the other way round.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DeviceSilentError, McutrainError, ModelMismatchError, PortMissingError

Log = Callable[[str], None]


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# load, data, build
# ---------------------------------------------------------------------------------------------
def load_spec(model: Path, board: str | None = None) -> Any:
    """The validated model of ``model``; with ``board``, that board instead of the model file's."""
    from .model import load_model

    spec = load_model(model)
    if board is not None:
        from .build.boards import get_board

        get_board(board)
        spec = dataclasses.replace(spec, board=board)
    return spec


def load_data(spec: Any) -> tuple[Any, Any]:
    """(the model checked against its data set, with ``n_inputs`` filled in; the data set)."""
    from .data import load_dataset
    from .model import check_against_data

    ds = load_dataset(spec.data)
    spec = check_against_data(spec, ds.x_train.shape[1], ds.n_classes)
    return spec, ds


def project_root(spec: Any, build_dir: Path | None) -> Path:
    """Where the model's project is generated and built: ``build_dir``, default build/<model name>."""
    return build_dir or Path("build") / spec.name


def build_project(spec: Any, build_dir: Path | None, quiet: bool = False, log: Log | None = None,
                  init_state: bytes | None = None) -> tuple[Any, Path]:
    """Generate ``spec``'s project (``init_state``: a state file's bytes baked in) and build it:
    (project, firmware ELF)."""
    from .build.project import build, write_project

    root = project_root(spec, build_dir)
    proj = write_project(spec, root, init_state)
    if not quiet:
        (log or _stderr)(f"model {spec.name} ({spec.model_hash()}), board {proj.board.name}; building in {root}")
        if "frozen" in proj.generated.manifest["flash"]:
            (log or _stderr)(proj.generated.manifest["flash"]["frozen"]["summary"])
    return proj, build(proj)


def build_firmware(model: Path, board: str | None, build_dir: Path | None, quiet: bool = False,
                   log: Log | None = None) -> tuple[Any, Any, Path]:
    """Load ``model`` (its data only when the input size is not known without it), generate and build:
    (spec, project, elf)."""
    spec = load_spec(model, board)
    if spec.n_inputs is None:
        spec, _ = load_data(spec)
    proj, elf = build_project(spec, build_dir, quiet, log)
    return spec, proj, elf


# ---------------------------------------------------------------------------------------------
# session
# ---------------------------------------------------------------------------------------------
def encoded_data(spec: Any, ds: Any) -> tuple[np.ndarray, np.ndarray]:
    """(training set, test set) in the model's encoding: the bytes of the samples sent to the device."""
    from .data import encode

    enc, thr = spec.data.encoding, spec.data.threshold
    return encode(ds.x_train, enc, thr), encode(ds.x_test, enc, thr)


def twin_data(spec: Any, train_enc: np.ndarray, test_enc: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
    """(arithmetic plan, decoded training set, decoded test set): what the twin computes on, the values the
    device decodes from the same bytes."""
    from .arith.plan import plan_from_spec
    from .data import decode

    enc, n, a = spec.data.encoding, spec.n_inputs, spec.arithmetic.activation_frac_bits
    return plan_from_spec(spec), decode(train_enc, enc, n, a), decode(test_enc, enc, n, a)


def session_inputs(spec: Any, verify: bool, digest_every: int, quiet: bool, ds: Any = None) -> dict[str, Any]:
    """The data and settings run_session takes for ``spec`` (its data set loaded unless ``ds`` is given)."""
    if ds is None:
        spec, ds = load_data(spec)
    train_enc, test_enc = encoded_data(spec, ds)

    def twin_inputs() -> tuple[Any, np.ndarray, np.ndarray]:
        return twin_data(spec, train_enc, test_enc)

    return dict(model_hash=spec.model_hash(), seed=spec.seed, train_enc=train_enc, train_labels=ds.y_train,
                test_enc=test_enc, test_labels=ds.y_test, epochs=spec.training.epochs,
                digest_every=digest_every, twin_factory=twin_inputs if verify else None, quiet=quiet)


def start_emulator(proj: Any, elf: Path, port: int | None = None) -> Any:
    """Boot ``proj``'s board in QEMU with ``elf``; the caller stops it (``emu.stop()``) on every path."""
    from .host.emulator import Emulator

    if not proj.board.emulated:
        raise McutrainError(f"board {proj.board.name} is not emulated: flash it and pass --port")
    emu = Emulator(elf, proj.board.qemu_machine, cpu=proj.board.qemu_cpu,
                   serial_index=proj.board.qemu_serial_index, port=port)
    emu.start()
    return emu


def reopen_port(port: str, wait: float = 30.0) -> Callable[[], Any]:
    """A reconnect function for a real port (or an emulator started elsewhere):
    reopen it, waiting up to ``wait`` s for it to come back after a reset."""
    from .host.link import DeviceLink

    def reconnect() -> Any:
        deadline = time.monotonic() + wait
        while True:
            try:
                return DeviceLink.open(port)
            except PortMissingError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    return reconnect


def restart_emulator(emu: Any) -> Callable[[], Any]:
    """A reconnect function for our own emulator: restart QEMU (a board reset) and connect."""
    from .host.link import DeviceLink

    def reconnect() -> Any:
        emu.stop()
        emu.start()
        return DeviceLink.open(emu.url)

    return reconnect


# ---------------------------------------------------------------------------------------------
# the whole job: `mcutrain train`
# ---------------------------------------------------------------------------------------------
def run_train(model: Path, port: str | None = None, board: str | None = None, verify: bool = False,
              digest_every: int = 1000, build_dir: Path | None = None, quiet: bool = False,
              recorder: Any = None, *, checkpoint_every: int = 0, session_path: Path | None = None,
              resume_path: Path | None = None, log: Log | None = None, init_path: Path | None = None,
              export_path: Path | None = None) -> dict[str, Any]:
    """Build, flash (or boot the emulator), train ``model`` on the device, evaluate, and with ``verify``
    compare with the twin; the report. ``recorder`` (a mcutrain.progress.CurveRecorder) draws the
    progress bars and keeps the curve; ``resume_path`` goes on with a session file's checkpoint;
    ``init_path`` (a state file of mcutrain/state) is sent to the device before training (fine-tuning);
    ``export_path`` gets the device's state after the session as a state file."""
    from .host.link import DeviceLink
    from .host.session import run_session
    from .host.sessionfile import SessionFile

    t_start = time.monotonic()
    spec = load_spec(model, board)
    spec, ds = load_data(spec)
    if checkpoint_every:
        from .host.checkpoint_cadence import check_checkpoint_cadence

        check_checkpoint_cadence(spec.training.batch_size, checkpoint_every, len(ds.y_train))
    if export_path is not None:
        from .state.layout import state_layout

        state_layout(spec)  # a float32 model has no state file: refused before training
    root = project_root(spec, build_dir)
    resume, phase = None, "train"
    if resume_path is not None:
        sf = SessionFile.load(resume_path)
        if sf.model_hash != spec.model_hash():
            raise ModelMismatchError(f"{resume_path} is a session of model {sf.model_hash}, but {model} is now "
                                     f"{spec.model_hash()}: the model file changed; start a new session")
        resume, phase = sf.get_checkpoint(resume_path), sf.phase
        if sf.init is not None and init_path is None:
            init_path = Path(sf.init)
        if phase == "done":
            raise McutrainError(f"the session in {resume_path} is finished already")
    # a model with frozen layers: their signs are baked into the firmware from the --init state (the state
    # file's bytes, every layer's latents); the twin starts from the same file
    init_full = init_bytes = None
    if init_path is not None:
        from .state.layout import read_state

        init_bytes = read_state(spec, init_path).state
        if any(not getattr(la, "trainable", True) for la in spec.layers):
            init_full = init_bytes
    proj, elf = build_project(spec, root, quiet, log, init_state=init_full)
    kwargs = session_inputs(spec, verify, digest_every, quiet, ds)
    if init_path is not None:
        from .state.device import init_checkpoint

        kwargs["init"] = init_checkpoint(spec, init_path, len(ds.y_train))
        kwargs["twin_init_state"] = init_full
    if checkpoint_every and session_path is None:
        session_path = root / "session.json"
    sf = SessionFile(str(model), spec.model_hash(), proj.board.name, spec.seed, spec.training.epochs, digest_every,
                     checkpoint_every, port, str(root), verify,
                     init=str(init_path) if init_path is not None else None)

    if recorder is not None:
        recorder.hinge_scale = 1 << spec.arithmetic.activation_frac_bits
        kwargs["progress"] = recorder

    def on_checkpoint(ck: Any, ck_phase: str) -> None:
        if session_path is not None:
            sf.set_checkpoint(ck)
            sf.phase = ck_phase
            sf.save(session_path)

    kwargs.update(checkpoint_every=checkpoint_every, resume=resume, resume_phase=phase, on_checkpoint=on_checkpoint)
    # before anything is streamed: the device's firmware is this model's, baked from the --init state when
    # it has frozen layers (mcutrain/state/identity.py); later greetings expect the hash it sent
    from .state.identity import check_device

    if port is not None:
        with DeviceLink.open(port) as link:
            kwargs["model_hash"] = check_device(link, spec, init_path, init_bytes, "this `mcutrain train` session")
            res = run_session(link, reconnect=reopen_port(port), **kwargs)
        where = port
    else:
        emu = start_emulator(proj, elf)
        try:
            with DeviceLink.open(emu.url) as link:
                kwargs["model_hash"] = check_device(link, spec, init_path, init_bytes,
                                                    "this `mcutrain train` session")
                res = run_session(link, reconnect=restart_emulator(emu), **kwargs)
        finally:
            emu.stop()
        where = f"qemu -M {proj.board.qemu_machine}"
    if session_path is not None:
        sf.phase = "done"
        sf.save(session_path)
    if export_path is not None and res.final_state is not None:
        from .state.device import session_state_file

        session_state_file(spec, res.final_state, res.samples_trained, init_full).write(export_path)
    report = train_report(spec, proj, ds, res, where, time.monotonic() - t_start, recorder)
    report["init_state"] = str(init_path) if init_path is not None else None
    return report


def train_report(spec: Any, proj: Any, ds: Any, res: Any, where: str, wall_seconds: float,
                 recorder: Any = None) -> dict[str, Any]:
    """The report of a finished session (`mcutrain train --report`'s JSON; docs in README.md)."""
    return {
        "model_hash": spec.model_hash(),
        "model": spec.name,
        "board": proj.board.name,
        "device": where,
        "samples_trained": res.samples_trained,
        "epochs": spec.training.epochs,
        "test_samples": res.test_samples,
        "test_accuracy": res.test_accuracy,
        "twin_test_accuracy": res.twin_test_accuracy,
        "bit_exact": res.bit_exact,
        "digests_checked": res.digests_checked,
        "mismatches": res.digest_mismatches
        + ([] if res.predictions_equal in (None, True) else ["test-set predictions differ"])
        + ([] if res.weights_equal in (None, True) else ["final weights differ"]),
        "train_seconds": round(res.train_seconds, 2),
        "eval_seconds": round(res.eval_seconds, 2),
        "train_samples_per_second": round((res.samples_trained - (res.resumed_from or 0))
                                          / max(res.train_seconds, 1e-9), 1),
        "wall_seconds": round(wall_seconds, 2),
        "link_bytes": res.link_bytes,
        "ram_planned_bytes": proj.generated.manifest["ram"]["planned_bytes"],
        "final_state_crc32": f"{res.final_state_crc32:08x}" if res.final_state_crc32 is not None else None,
        "resumed_from_samples": res.resumed_from,
        "recoveries": res.recoveries,
        "checkpoints": res.checkpoints,
        "link": res.link_stats,
        **report_extras(res, ds, spec.training.epochs, recorder),
    }


def report_extras(res: Any, ds: Any, epochs: int, recorder: Any) -> dict[str, Any]:
    """The curve (from the device's progress messages) and the test-set confusion matrix, for the PNG reports."""
    from .results.report_png import confusion_matrix

    out: dict[str, Any] = {}
    if res.device_predictions is not None and len(res.device_predictions):
        preds = np.asarray(res.device_predictions)
        out["confusion_matrix"] = confusion_matrix(ds.y_test[: len(preds)], preds, ds.n_classes).tolist()
    if recorder is not None:
        per_epoch = max(res.samples_trained // max(epochs, 1), 1)
        out["curve"] = recorder.binned(max(per_epoch // 50, 64))
        out["epoch_figures"] = epoch_figures(recorder, per_epoch, epochs)
    return out


def epoch_figures(recorder: Any, per_epoch: int, epochs: int) -> list[dict[str, float]]:
    """Mean loss and training accuracy of each epoch, from the device's progress messages."""
    figs = []
    for e in range(epochs):
        pts = [p for p in recorder.points if e * per_epoch < p.samples <= (e + 1) * per_epoch]
        n = sum(p.n for p in pts)
        if n:
            figs.append({"epoch": e + 1, "samples": n,
                         "loss": sum(p.hinge_sum for p in pts) / n / recorder.hinge_scale,
                         "train_accuracy": 1 - sum(p.errors for p in pts) / n})
    return figs


# ---------------------------------------------------------------------------------------------
# the soak: `mcutrain soak`
# ---------------------------------------------------------------------------------------------
def run_soak(model: Path, board: str | None, rate: float, delay_s: float, reset_every: float,
             checkpoint_every: int, fault_seed: int, build_dir: Path | None,
             log: Log | None = None) -> dict[str, Any]:
    """Train ``model`` on the emulated board through the fault-injecting proxy (``rate`` faults per byte
    each way, a QEMU kill every ``reset_every`` s), verified against the twin; the soak report."""
    from .host.checkpoint_cadence import check_checkpoint_cadence
    from .host.faults import FaultProxy, FaultRates
    from .host.link import DeviceLink
    from .host.session import run_session

    t_start = time.monotonic()
    spec, proj, elf = build_firmware(model, board, build_dir, log=log)
    kwargs = session_inputs(spec, verify=True, digest_every=250, quiet=True)
    check_checkpoint_cadence(spec.training.batch_size, checkpoint_every, len(kwargs["train_labels"]))
    emu = start_emulator(proj, elf)
    proxy = FaultProxy(emu.port, FaultRates.uniform(rate, delay_s), seed=fault_seed)
    proxy.start()
    resets = [0]
    next_reset = [time.monotonic() + reset_every if reset_every > 0 else float("inf")]

    def reconnect() -> DeviceLink:
        emu.stop()
        emu.start()
        proxy.retarget(emu.port)
        return DeviceLink.open(proxy.url)

    def maybe_reset(samples: int) -> None:
        if time.monotonic() >= next_reset[0]:
            resets[0] += 1
            next_reset[0] = time.monotonic() + reset_every
            emu.stop()  # the board dies; the host notices and reconnects

    try:
        link = DeviceLink.open(proxy.url)
        res = run_session(link, checkpoint_every=checkpoint_every, reconnect=reconnect, on_samples=maybe_reset,
                          **kwargs)
        if res.final_state_crc32 is None:
            raise DeviceSilentError("no final weights")
    finally:
        proxy.stop()
        emu.stop()
    return {
        "model": spec.name, "model_hash": spec.model_hash(), "board": proj.board.name,
        "fault_rate_per_byte": rate, "samples_trained": res.samples_trained, "test_samples": res.test_samples,
        "wall_seconds": round(time.monotonic() - t_start, 1),
        "train_seconds": round(res.train_seconds, 1),
        "faults_injected": proxy.faults_injected, "faults": proxy.counts(),
        "resets_injected": resets[0], "recoveries": res.recoveries,
        "checkpoints": res.checkpoints, "checkpoints_rejected": res.checkpoints_rejected,
        "checkpoints_pulled": res.checkpoints_pulled,
        "link": res.link_stats,
        # The same traffic on a real UART at 115200 baud 8N1 (11520 bytes/s each way, the busier way counts).
        "uart_115200_equivalent_hours": round(max(res.link_stats.get("bytes_sent", 0),
                                                  res.link_stats.get("bytes_received", 0)) / 11520 / 3600, 3),
        "retransmitted_frames": res.link_stats.get("retransmitted_frames", 0),
        "digests_checked": res.digests_checked, "test_accuracy": res.test_accuracy,
        "final_state_crc32": f"{res.final_state_crc32:08x}",
        "bit_exact": bool(res.bit_exact),
    }
