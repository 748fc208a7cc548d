"""Samples a second the serial link carries for colour images, per encoding: a computation from the bytes a
sample costs on the line (mcutrain.data.encoding.wire_bytes_per_sample) and the link throughputs measured in
docs/protocol.md ("Measured throughput").

    python bench/colour_link.py                 # writes the section colour-link of docs/results.md
    python bench/colour_link.py -o OUT.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcutrain.data.encoding import (  # noqa: E402
    PIECE_MAX,
    input_bytes,
    link_samples_per_second,
    sample_pieces,
    wire_bytes_per_sample,
)
from mcutrain.results.results_doc import replace_section  # noqa: E402

SECTION = "colour-link"
# bytes/s towards the device: a real UART at 115200 baud 8N1 (10 bits a byte), and the emulated USART2 of
# the netduinoplus2 in QEMU with the wfi receive driver: 280-445 T frames/s of 106 bytes (docs/protocol.md)
LINKS = (("UART 115200 baud (real board)", 11520.0),
         ("emulated board, slow end (280 frames/s)", 280 * 106.0),
         ("emulated board, fast end (445 frames/s)", 445 * 106.0))
ROWS = (("CIFAR-10 / SVHN 32x32x3", 3072, "u8"), ("CIFAR-10 / SVHN 32x32x3", 3072, "u4"),
        ("32x32x3 pooled by 2 (16x16x3)", 768, "u8"), ("32x32x3 pooled by 2 (16x16x3)", 768, "u4"),
        ("MNIST 28x28 (for comparison)", 784, "u4"), ("MNIST 14x14, the demo", 196, "u4"))


def render() -> str:
    head = "| images | encoding | bytes a sample | frames | on the line (at most) | " + " | ".join(
        f"samples/s, {name}" for name, _ in LINKS) + " | one 50,000-sample epoch at 115200 baud |"
    lines = ["## Colour images on the link", "",
             "`python bench/colour_link.py`. A sample of at most "
             f"{PIECE_MAX} bytes travels in one T frame; a larger one as Q sample parts of 250 bytes and a T with "
             "the rest (protocol v3, docs/protocol.md). Colour values are sent in H, W, C "
             "order; `u4` keeps the top 4 bits of each channel value. The rates are the link's alone (the "
             "device's compute not counted): what the link allows at most.", "",
             head, "|---" * (6 + len(LINKS)) + "|"]
    for what, n, enc in ROWS:
        nb = input_bytes(enc, n)
        wire = wire_bytes_per_sample(enc, n)
        rates = [link_samples_per_second(enc, n, bps) for _, bps in LINKS]
        epoch_h = 50000 / rates[0] / 3600
        lines.append(f"| {what} | {enc} | {nb} | {len(sample_pieces(nb))} | {wire} | "
                     + " | ".join(f"{r:.1f}" for r in rates) + f" | {epoch_h:.1f} h |")
    h8, h4 = (50000 / link_samples_per_second(enc, 3072, LINKS[0][1]) / 3600 for enc in ("u8", "u4"))
    lines += ["", f"A 115200-baud UART makes a full-size colour epoch hours long (u8: {h8:.1f} h, u4: {h4:.1f} h); "
              "pooling to 16x16 or a faster link (USB CDC, SPI) is what makes CIFAR-10 epochs practical on a real "
              "board. The emulated link is faster than a real UART because QEMU does not pace the bytes."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "results.md")
    a = ap.parse_args(argv)
    replace_section(a.output, SECTION, render())
    print(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
