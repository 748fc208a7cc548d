"""Write the seed corpus of the frame-parser fuzzer (fuzz/link_fuzz.c) from the host's encoder.

Usage: python fuzz/make_corpus.py DIR

Every seed is made by mcutrain.host (framing + messages), so the corpus follows
the protocol as the host speaks it: each message type of both directions as a
frame, the largest frames, runs of 254 non-zero bytes (0xFF COBS blocks),
several frames in a row, frames cut short, a corrupted CRC, garbage before a
frame and lone 0x00 delimiters. Deterministic: the same files every time.
"""

from __future__ import annotations

import hashlib
import random
import sys
from pathlib import Path

from mcutrain.host import messages as m
from mcutrain.host.framing import MAX_PAYLOAD, cobs_encode, encode_frame

INPUT_BYTES = 98  # the examples' sample size (MNIST bits, or pooled u4)


def message_payloads() -> list[bytes]:
    """One payload per message type, both directions, with edge values."""
    x = bytes(range(1, INPUT_BYTES + 1))
    msgs: list[m.Message] = [
        m.Hello(), m.Start(0xDEADBEEF, 60000, 1000), m.Start(0, 0, 0), m.Flush(), m.Weights(),
        m.Info(1, "fa6e0de1fa6e0de1", INPUT_BYTES, 10, 500, "netduinoplus2"),
        m.Ack(0), m.Ack(0xFFFFFFFF), m.Progress(64, 12345, 3), m.Digest(1000, 0x12345678, 0x9ABCDEF0),
        m.Predictions(64, bytes(range(10)) * 6), m.WeightChunk(192, bytes(range(192))),
        m.Error(m.ERR_CRC, "bad CRC"),
    ]
    payloads = [m.encode(msg) for msg in msgs]
    # Any message type added to the protocol later gets a frame too (body: a counting pattern).
    covered = {p[:1] for p in payloads} | {b"T", b"E"}
    for cls in m.HOST_MESSAGES + m.DEVICE_MESSAGES:
        if cls.TYPE not in covered:
            payloads.append(cls.TYPE + bytes(range(16)))
    payloads += [m.train_payload(7, x), m.train_payload(0, bytes(INPUT_BYTES)), m.eval_payload(x),
                 m.eval_payload(b"\xff" * INPUT_BYTES)]
    return payloads


def seeds() -> list[bytes]:
    rng = random.Random(20160101)
    payloads = message_payloads()
    out = [encode_frame(p) for p in payloads]
    out += [
        encode_frame(b"T" + b"\xff" * (MAX_PAYLOAD - 1)),  # largest frame, 0xFF blocks
        encode_frame(b"\x01" * 253),  # 253 + CRC: a 0xFF block ends near the end
        encode_frame(bytes(MAX_PAYLOAD)),  # all zeros: the most COBS blocks
        encode_frame(bytes(rng.randrange(256) for _ in range(MAX_PAYLOAD))),
        b"".join(encode_frame(p) for p in payloads[:6]),  # several frames in a row
        b"\x00\x00" + encode_frame(b"H") + b"\x00",  # lone delimiters around a frame
        bytes(rng.randrange(1, 256) for _ in range(300)) + b"\x00" + encode_frame(b"H"),  # garbage first
        encode_frame(payloads[-3])[:40] + encode_frame(b"F"),  # a cut frame merges with the next
        encode_frame(b"T" + b"\x01" * (MAX_PAYLOAD - 1))[:-1] + b"\x05\x01\x01\x01\x01\x00",  # 4 bytes too long
        cobs_encode(b"H") + b"\x00",  # too short
        cobs_encode(b"x" * 300) + b"\x00",  # more than the receiver's buffer
    ]
    bad_crc = bytearray(encode_frame(b"S" + bytes(10)))
    bad_crc[-2] = bad_crc[-2] ^ 0x5A or 1
    out.append(bytes(bad_crc))
    return out


def write_corpus(directory: Path) -> list[Path]:
    """Write the seeds into ``directory`` (named by their SHA-1, as libFuzzer does); return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for data in seeds():
        p = directory / hashlib.sha1(data).hexdigest()
        p.write_bytes(data)
        paths.append(p)
    return paths


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    paths = write_corpus(Path(argv[1]))
    print(f"wrote {len(paths)} seed inputs to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
