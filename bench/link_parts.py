"""Samples a second the emulated board's serial link carries, by sample size: one frame a sample (98 bytes, the
MNIST examples) against samples sent in `Q` parts (protocol v3: 1,536 bytes = a 32x32x3 image at u4, 3,072 at
u8). The firmware is the device main loop with the fake model (tests/c/fake_model.c: no compute), so the
figure is the link's alone; it is measured, in QEMU's netduinoplus2 (USART2), on whatever else the machine
is running (the load average is printed with the table).

    python bench/link_parts.py                 # writes the section link-parts of docs/results.md
    python bench/link_parts.py -o OUT.md --samples 300
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _linkbuild import arm_available, build_fake_firmware  # noqa: E402
from mcutrain.host import messages as m  # noqa: E402
from mcutrain.host.emulator import Emulator  # noqa: E402
from mcutrain.host.framing import encode_frame  # noqa: E402
from mcutrain.host.link import DeviceLink  # noqa: E402
from mcutrain.host.stream import Streamer  # noqa: E402

from mcutrain.results.results_doc import replace_section  # noqa: E402

SECTION = "link-parts"
SIZES = ((98, "MNIST 14x14 u4 / 28x28 bits (the demo)"), (1536, "32x32x3 u4 (CIFAR-10)"),
         (3072, "32x32x3 u8 (CIFAR-10)"))


def measure(input_bytes: int, n: int, workdir: Path) -> dict[str, float]:
    """Train ``n`` samples of ``input_bytes`` through the fake firmware in QEMU; the rates and sizes."""
    out = workdir / f"b{input_bytes}"
    out.mkdir()
    elf = build_fake_firmware(out, (f"-DFAKE_INPUT_BYTES={input_bytes}",))
    rng = random.Random(input_bytes)
    xs = [bytes([10 + rng.randrange(240)]) + rng.randbytes(input_bytes - 1) for _ in range(16)]
    wire = sum(len(encode_frame(m.with_seq(p, 0x0101))) for p in m.train_payloads(1, xs[0]))
    with Emulator(elf) as emu, DeviceLink.open(emu.url) as link:
        link.hello(timeout=10)
        link.start(1, n, 0)
        res = Streamer(link, window=64).train((k % 10, xs[k % 16]) for k in range(n))
    if res.samples_trained != n or res.retransmissions != 0:
        raise RuntimeError(f"{input_bytes}-byte samples: trained {res.samples_trained} of {n}, "
                           f"{res.retransmissions} retransmissions")
    return {"frames": m.frames_per_sample(input_bytes), "wire": wire, "seconds": res.seconds,
            "samples_s": n / res.seconds, "frames_s": res.frames / res.seconds, "kb_s": res.bytes_per_second / 1000}


def render(rows: list[tuple[int, str, dict[str, float]]], n: int) -> str:
    load = os.getloadavg()[0]
    lines = ["## Samples over the link by size (protocol v3 sample parts)", "",
             f"`python bench/link_parts.py --samples {n}`: {n} training samples each through QEMU's emulated "
             "netduinoplus2 USART2 with the fake model (tests/c/fake_model.c, no compute: the link alone), window "
             f"64, on a 2-core machine shared with other jobs (load average {load:.1f} when the table was made; "
             "QEMU's rate varies +-50% with the load).", "",
             "| sample | bytes | frames a sample | bytes on the wire a sample | samples/s | frames/s | kB/s to the "
             "device |", "|---|---|---|---|---|---|---|"]
    for nb, what, r in rows:
        lines.append(f"| {what} | {nb} | {r['frames']:.0f} | {r['wire']:.0f} | {r['samples_s']:.1f} | "
                     f"{r['frames_s']:.0f} | {r['kb_s']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "results.md")
    ap.add_argument("--samples", type=int, default=300)
    a = ap.parse_args(argv)
    why = arm_available()
    if why is not None:
        print(f"cannot measure: {why} (bash scripts/setup.sh installs it)", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for nb, what in SIZES:
            rows.append((nb, what, measure(nb, a.samples, Path(tmp))))
            print(f"{nb} bytes: {rows[-1][2]['samples_s']:.1f} samples/s", file=sys.stderr)
    text = render(rows, a.samples)
    replace_section(a.output, SECTION, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
