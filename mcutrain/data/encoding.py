"""Input encodings: the host encodes samples, the device and the twin decode them.

docs/contracts.md, "Input encodings" (A = activation_frac_bits):

- ``bits``: byte k, bit b (LSB first) = (pixel[8k+b] >= threshold); value 2^A if 1 else 0. ceil(n/8) bytes.
- ``u4``: byte k = (p[2k] >> 4) | ((p[2k+1] >> 4) << 4); value = nibble << (A-4). ceil(n/2) bytes.
- ``u8``: byte k = p[k]; value = p << (A-8). n bytes.

Padding (the bits past pixel n-1 of the last byte) is zero.

Colour images (CIFAR-10, SVHN: (N, H, W, C) uint8) travel as their flat rows in H, W, C order, channels
innermost: ``u8`` is one byte a channel value (3072 bytes a 32x32x3 image) and ``u4`` keeps the top 4 bits
of every channel value, two values a byte (1536 bytes); :func:`encode_images` / :func:`decode_images`.
``bits`` (one threshold for all channels) is allowed but rarely useful for colour.

A sample larger than one frame (docs/protocol.md: payload <= 255 bytes) travels as ``Q`` sample parts of
250 bytes and a final ``T`` with the rest (protocol v3, "Samples larger than one frame"); with each frame's
overhead (type, sequence number, offset or label, CRC-16, COBS and the 0x00 delimiter)
:func:`wire_bytes_per_sample` gives the bytes a sample costs on the line and :func:`link_samples_per_second`
what a link of a measured throughput carries.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..model.spec import ENCODINGS, input_bytes

__all__ = ["ENCODINGS", "decode", "decode_images", "encode", "encode_images", "input_bytes",
           "link_samples_per_second", "sample_part_count", "sample_pieces", "wire_bytes_per_sample"]

FRAME_PAYLOAD_MAX = 255
"""docs/protocol.md, Framing: a frame's payload (type and body) is at most 255 bytes."""
T_HEADER = 1 + 2 + 1
"""A T frame's payload before the sample: type, sequence number (2), label."""
CRC_BYTES = 2
PIECE_MAX = FRAME_PAYLOAD_MAX - T_HEADER
"""Sample bytes one T frame can carry (251): a larger sample is split."""
Q_HEADER = 1 + 2 + 2
"""A Q (sample part) frame's payload before its bytes: type, sequence number, offset."""
PART_BYTES = FRAME_PAYLOAD_MAX - Q_HEADER
"""Sample bytes of each Q frame (250); host/messages.py PART_BYTES."""


def sample_part_count(nb: int) -> int:
    """How many Q frames an ``nb``-byte sample travels in before its T/E (0 if it fits one frame): the split
    rule of docs/protocol.md, "Samples larger than one frame" (host/messages.py sends by it)."""
    return 0 if nb <= PIECE_MAX else (nb - 1) // PART_BYTES


def sample_pieces(nb: int) -> list[tuple[int, int]]:
    """(header bytes, sample bytes) of each data frame of an ``nb``-byte sample: its Q parts, then the T."""
    parts = sample_part_count(nb)
    return [(Q_HEADER, PART_BYTES)] * parts + [(T_HEADER, nb - parts * PART_BYTES)]

_MIN_FRAC = {"bits": 0, "u4": 4, "u8": 8}


def _check_encoding(enc: str) -> None:
    if enc not in ENCODINGS:
        raise ValueError(f"unknown input encoding {enc!r}; expected one of {', '.join(ENCODINGS)}")


def encode(x: NDArray[np.uint8], enc: str, threshold: int = 128) -> NDArray[np.uint8]:
    """Encode uint8 pixels (N, n) -> (N, input_bytes(enc, n)) uint8; a single sample (n,) gives (bytes,)."""
    _check_encoding(enc)
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise ValueError(f"encode expects uint8 pixels, got {x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(f"encode expects (N, n) or (n,) pixels, got shape {x.shape}")
    single = x.ndim == 1
    x2 = x[None, :] if single else x
    if enc == "bits":
        if not 1 <= threshold <= 255:
            raise ValueError(f"threshold must be 1..255, got {threshold}")
        out = np.packbits(x2 >= threshold, axis=1, bitorder="little")
    elif enc == "u4":
        nib = np.zeros((x2.shape[0], x2.shape[1] + x2.shape[1] % 2), dtype=np.uint8)
        nib[:, : x2.shape[1]] = x2 >> 4
        out = nib[:, 0::2] | (nib[:, 1::2] << 4)
    else:
        out = x2.copy()
    out = np.ascontiguousarray(out, dtype=np.uint8)
    return out[0] if single else out


def decode(enc_bytes: NDArray[np.uint8], enc: str, n_inputs: int, frac_bits: int) -> NDArray[np.int32]:
    """Decode (N, input_bytes) -> (N, n_inputs) int32 values in Q(frac_bits); (bytes,) gives (n_inputs,)."""
    _check_encoding(enc)
    b = np.asarray(enc_bytes)
    if b.dtype != np.uint8:
        raise ValueError(f"decode expects uint8 bytes, got {b.dtype}")
    if b.ndim not in (1, 2):
        raise ValueError(f"decode expects (N, bytes) or (bytes,), got shape {b.shape}")
    if frac_bits < _MIN_FRAC[enc]:
        raise ValueError(f"{enc} needs frac_bits >= {_MIN_FRAC[enc]}, got {frac_bits}")
    nb = input_bytes(enc, n_inputs)
    single = b.ndim == 1
    b2 = b[None, :] if single else b
    if b2.shape[1] != nb:
        raise ValueError(f"{enc} with {n_inputs} inputs takes {nb} bytes a sample, got {b2.shape[1]}")
    if enc == "bits":
        bits = np.unpackbits(b2, axis=1, count=n_inputs, bitorder="little")
        out = bits.astype(np.int32) << frac_bits
    elif enc == "u4":
        nib = np.empty((b2.shape[0], 2 * nb), dtype=np.int32)
        nib[:, 0::2] = b2 & 0x0F
        nib[:, 1::2] = b2 >> 4
        out = nib[:, :n_inputs] << (frac_bits - 4)
    else:
        out = b2.astype(np.int32) << (frac_bits - 8)
    out = np.ascontiguousarray(out, dtype=np.int32)
    return out[0] if single else out


def encode_images(images: NDArray[np.uint8], enc: str, threshold: int = 128) -> NDArray[np.uint8]:
    """(N, H, W, C) or (H, W, C) uint8 -> encoded rows of the flat H, W, C order (:func:`encode`)."""
    x = np.asarray(images)
    if x.ndim not in (3, 4):
        raise ValueError(f"encode_images expects (N, H, W, C) or (H, W, C) images, got shape {x.shape}")
    return encode(x.reshape(-1) if x.ndim == 3 else x.reshape(len(x), -1), enc, threshold)


def decode_images(enc_bytes: NDArray[np.uint8], enc: str, shape: tuple[int, int, int],
                  frac_bits: int) -> NDArray[np.int32]:
    """Encoded rows -> (N, H, W, C) int32 values in Q(frac_bits) (or (H, W, C) for one sample)."""
    n = int(np.prod(shape))
    out = decode(enc_bytes, enc, n, frac_bits)
    return out.reshape(shape) if out.ndim == 1 else out.reshape(len(out), *shape)


def wire_bytes_per_sample(enc: str, n_inputs: int) -> int:
    """Bytes on the line for one training sample, at most: its encoded bytes in :func:`sample_pieces` (Q
    parts of 250 bytes, then a T with the rest), each frame with its header and CRC, COBS (one code byte,
    plus one per run of 254 bytes without a zero: the worst case, so a bound tight to one byte a frame) and
    the 0x00 delimiter. For a sample of up to 250 bytes this is the T frame's exact size (98 sample bytes ->
    106, docs/protocol.md)."""
    total = 0
    for head, p in sample_pieces(input_bytes(enc, n_inputs)):
        framed = head + p + CRC_BYTES
        total += framed + 1 + framed // 254 + 1
    return total


def link_samples_per_second(enc: str, n_inputs: int, bytes_per_second: float) -> float:
    """Training samples a second a link of `bytes_per_second` (towards the device) carries, at least
    (from the bound of :func:`wire_bytes_per_sample`)."""
    return bytes_per_second / wire_bytes_per_sample(enc, n_inputs)
