"""Issue 14's larger-than-RAM goal as a results section: a network whose frozen part is several times the
board's RAM as latents trains its head on the 128 KB board, bit-exact (`python bench/frozen_demo.py`).

1. pretrain examples/frozen_mnist_pretrain.toml (196-1024-1024-10, every layer learning) on the host's twin
   into a state file (kept and reused when it holds this pretraining);
2. `mcutrain train examples/frozen_digits.toml --init STATE --verify` on the emulated netduinoplus2: the same
   network with both hidden layers frozen (packed signs in flash, baked from STATE), only the head learning,
   on scikit-learn's 8x8 digits (other writers);
3. the figures: the memory plan with and without freezing, the linker's sizes, the device's accuracy and
   bit-exactness, and on the twin the held-out digits before fine-tuning and after (seeds), and MNIST after.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

KEY = "frozen-larger-than-ram"


@dataclass
class FrozenDemo:
    pre_model: str
    tune_model: str
    pretrain_samples: int
    pretrained_mnist: float
    pretrained_digits: float
    saved: dict[str, int]
    board: str
    board_ram: int
    linker: dict[str, int]
    device: dict[str, Any]
    seeds: list[tuple[int, float, float]] = field(default_factory=list)  #: seed, digits fine-tuned, MNIST after
    seconds: float = 0.0
    pretrain_seconds: float | None = None  #: the state file's pretraining, when this run did it


def _accuracy(net: Any, x: np.ndarray, y: np.ndarray) -> float:
    return float((net.infer(x) == y).mean())


def measure(pre_path: Path, tune_path: Path, state_path: Path, build_dir: Path, seeds: list[int],
            log: Any = print) -> FrozenDemo:
    from ..arith.plan import plan_from_spec, unfrozen_plan
    from ..build.boards import get_board
    from ..codegen.memory import freezing_saved
    from ..fleet.layout import load_twin_state
    from ..host.twin_run import sample_order, train_twin
    from ..job import encoded_data, load_data, load_spec, run_train, twin_data
    from ..state.layout import read_state
    from ..state.pretrain import pretrain
    from ..twin import TwinNetwork

    t0 = time.monotonic()
    pre, pre_ds = load_data(load_spec(pre_path))
    tune, tune_ds = load_data(load_spec(tune_path))
    n_pre = len(pre_ds.y_train) * pre.training.epochs
    sf, t_pre = None, None
    if state_path.exists():
        sf = read_state(pre, state_path)
        if not (sf.header.source == "pretrain" and sf.header.samples_trained == sf.header.samples_total == n_pre):
            sf = None
    if sf is None:
        log(f"pretraining {pre.name} on the twin into {state_path} ({n_pre} samples)")
        res = pretrain(pre, pre_ds, state_path, quiet=True)
        sf, t_pre = res.state_file, res.seconds
    read_state(tune, state_path)  # the frozen model's state file is the pretrained network's (same hash)
    plan = plan_from_spec(tune)
    _, _, x_mnist = twin_data(pre, *encoded_data(pre, pre_ds))
    _, x_tr, x_te = twin_data(tune, *encoded_data(tune, tune_ds))
    y_tr, y_te, y_mnist = (np.asarray(a) for a in (tune_ds.y_train, tune_ds.y_test, pre_ds.y_test))
    full = TwinNetwork(unfrozen_plan(plan))
    full.start(1, 0)
    load_twin_state(full, sf.state)
    pretrained_mnist, pretrained_digits = _accuracy(full, x_mnist, y_mnist), _accuracy(full, x_te, y_te)
    rows = []
    for seed in seeds:
        order = sample_order(seed, len(y_tr), tune.training.epochs)
        net = TwinNetwork(plan)
        train_twin(net, seed, len(y_tr), x_tr, y_tr, order, init_state=sf.state)
        rows.append((seed, _accuracy(net, x_te, y_te), _accuracy(net, x_mnist, y_mnist)))
        log(f"twin, seed {seed}: digits {rows[-1][1]:.4f}, MNIST after {rows[-1][2]:.4f}")
    log(f"training {tune.name} on the emulated {tune.board} (--init {state_path} --verify)")
    report = run_train(tune_path, verify=True, digest_every=250, build_dir=build_dir, quiet=True,
                       init_path=state_path, log=log)
    board = get_board(tune.board)
    elf = build_dir / ".pio" / "build" / board.pio_env / "firmware.elf"
    out = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    device = {k: report[k] for k in ("test_accuracy", "twin_test_accuracy", "bit_exact", "digests_checked",
                                     "samples_trained", "test_samples", "train_samples_per_second", "train_seconds",
                                     "eval_seconds", "ram_planned_bytes", "final_state_crc32")}
    return FrozenDemo(str(pre_path), str(tune_path), sf.header.samples_trained, pretrained_mnist, pretrained_digits,
                      freezing_saved(plan, board), board.name, board.ram_bytes,
                      {"text": text, "data": data, "bss": bss, "stack_reserve": board.stack_bytes}, device, rows,
                      time.monotonic() - t0, t_pre)


def _kb(n: float) -> str:
    return f"{n / 1024:,.1f} KB"


def render(d: FrozenDemo, command: str) -> str:
    s, dev, ln = d.saved, d.device, d.linker
    ratio = s["frozen_latent_bytes"] / d.board_ram
    tuned = [r[1] for r in d.seeds]
    after = [r[2] for r in d.seeds]
    sd = statistics.stdev(tuned) if len(tuned) > 1 else 0.0
    lines = [
        "## Frozen layers larger than RAM: the head learns on the 128 KB board (issue 14)", "",
        f"Generated by `{command}` in {d.seconds:.0f} s"
        + (f" (pretraining {d.pretrain_seconds:.0f} s of it)" if d.pretrain_seconds is not None else
           f" (the pretrained state file reused: `mcutrain pretrain {d.pre_model}` wrote it earlier)") \
        + f". `{d.pre_model}` (MLP 196-1024-1024-10, deterministic "
        f"binary connect, quantized back-propagation, 8-bit latents) pretrained on the host's twin on "
        f"{d.pretrain_samples:,} MNIST images; `{d.tune_model}`: the same network with both hidden layers frozen "
        "(`trainable = false`), their packed signs baked into the firmware from the pretrained state "
        "(`generate --init`), only the 1024 x 10 head learning, on the device, on scikit-learn's 8x8 digits "
        "(other writers and scanner, resampled to 28x28).", "",
        "| figure | value |", "|---|---|",
        f"| frozen latent weights (what they would take in RAM) | {s['frozen_latent_bytes']:,} B "
        f"({_kb(s['frozen_latent_bytes'])}), {ratio:.1f}x the board's {_kb(d.board_ram)} of RAM |",
        f"| kept as packed signs in flash | {s['packed_sign_bytes']:,} B ({_kb(s['packed_sign_bytes'])}) |",
        f"| RAM planned, frozen / every layer learning | {s['ram_bytes']:,} B / {s['ram_bytes_all_trainable']:,} B "
        f"({_kb(s['ram_bytes'])} instead of {_kb(s['ram_bytes_all_trainable'])}) |",
        f"| linker: .text / .data + .bss (+ {ln['stack_reserve']:,} B stack reserve) | {ln['text']:,} B / "
        f"{ln['data'] + ln['bss']:,} B ({ln['data'] + ln['bss'] + ln['stack_reserve']:,} B of {d.board_ram:,}) |",
        f"| device ({d.board}, QEMU): held-out digits after fine-tuning the head | {dev['test_accuracy'] * 100:.2f}% "
        f"({dev['test_samples']} images; {dev['samples_trained']:,} trained, {dev['train_samples_per_second']} "
        "samples/s) |",
        f"| bit-exact with the twin | {'yes' if dev['bit_exact'] else 'NO'} ({dev['digests_checked']} digests, test "
        f"predictions, final weights; final state CRC-32 {dev['final_state_crc32']}) |",
        f"| pretrained only (no fine-tuning): held-out digits / MNIST test | {d.pretrained_digits * 100:.2f}% / "
        f"{d.pretrained_mnist * 100:.2f}% |",
        f"| twin, head fine-tuned, seeds {', '.join(str(r[0]) for r in d.seeds)}: held-out digits | "
        f"{statistics.mean(tuned) * 100:.2f}% ± {sd * 100:.2f} ({', '.join(f'{t * 100:.2f}' for t in tuned)}) |",
        f"| twin, MNIST test after fine-tuning on digits (what was forgotten) | {statistics.mean(after) * 100:.2f}% "
        f"(pretrained {d.pretrained_mnist * 100:.2f}%) |",
        "",
        "The device's session is the model file's seed; the twin's rows are other sessions (seeds) of the same "
        "fine-tuning, run on the host with the arithmetic the device's run matched bit for bit.",
    ]
    return "\n".join(lines) + "\n"


def write_section(out: Path, d: FrozenDemo, command: str) -> str:
    from .results_doc import replace_section

    body = render(d, command)
    replace_section(out, KEY, body)
    return body
