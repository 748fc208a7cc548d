"""Input encodings: the host encodes samples, the device and the twin decode them.

docs/contracts.md, "Input encodings" (A = activation_frac_bits):

- ``bits``: byte k, bit b (LSB first) = (pixel[8k+b] >= threshold); value 2^A if 1 else 0. ceil(n/8) bytes.
- ``u4``: byte k = (p[2k] >> 4) | ((p[2k+1] >> 4) << 4); value = nibble << (A-4). ceil(n/2) bytes.
- ``u8``: byte k = p[k]; value = p << (A-8). n bytes.

Padding (the bits past pixel n-1 of the last byte) is zero.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..model.spec import ENCODINGS, input_bytes

__all__ = ["ENCODINGS", "decode", "encode", "input_bytes"]

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
