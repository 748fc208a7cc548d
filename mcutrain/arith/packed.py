"""A frozen layer's weights as packed signs (issue 14): what a layer with ``trainable = false`` keeps.

A frozen binary layer needs no latent weights: each weight is its deterministic sign, one bit (1 = +1,
0 = -1; sign(w) with w = 0 as +1, as inference reads it). A ternary layer needs two bits a weight: a
sign plane and a non-zero plane (the deterministic ternarization: +1 if w >= W0/2, -1 if w <= -W0/2,
else 0). Row-major like the latents (n_in rows of n_out weights); bit j of a row is weight j, little-endian
within 32-bit words (the layout of the C's ``l<k>_signs``); each row padded to whole 32-bit words.
"""

from __future__ import annotations

import numpy as np

from .quant import ternarize_deterministic


def packed_row_bytes(n_out: int, ternary: bool) -> int:
    """Bytes of one packed row: 32-bit words of sign bits (and as many of non-zero bits for ternary)."""
    return 4 * ((n_out + 31) // 32) * (2 if ternary else 1)


def _pack_plane(bits: np.ndarray) -> np.ndarray:
    """(n_in, n_out) bools -> (n_in, words) uint32, bit j of word j // 32 = bits[:, j]."""
    n_in, n_out = bits.shape
    words = (n_out + 31) // 32
    padded = np.zeros((n_in, words * 32), dtype=np.uint8)
    padded[:, :n_out] = bits
    return np.packbits(padded.reshape(n_in, words, 4, 8), axis=-1, bitorder="little").reshape(n_in, words * 4) \
        .view("<u4")


def _unpack_plane(words: np.ndarray, n_out: int) -> np.ndarray:
    n_in = words.shape[0]
    return np.unpackbits(words.astype("<u4").view(np.uint8).reshape(n_in, -1), axis=-1,
                         bitorder="little")[:, :n_out].astype(bool)


def pack_signs(W: np.ndarray, w0: int, ternary: bool) -> bytes:
    """The packed signs of latent weights ``W`` (n_in, n_out): the bytes a frozen layer keeps in flash."""
    W = np.asarray(W)
    if ternary:
        t = ternarize_deterministic(W, w0)
        planes = [_pack_plane(t > 0), _pack_plane(t != 0)]
        return np.concatenate(planes, axis=1).astype("<u4").tobytes()
    return _pack_plane(W >= 0).astype("<u4").tobytes()


def unpack_signs(data: bytes, n_in: int, n_out: int, ternary: bool) -> np.ndarray:
    """The weights (n_in, n_out) of packed signs, in units of W0: +1/-1, or +1/0/-1 for ternary."""
    words = (n_out + 31) // 32
    arr = np.frombuffer(data, dtype="<u4").reshape(n_in, words * (2 if ternary else 1))
    sign = _unpack_plane(arr[:, :words], n_out)
    if not ternary:
        return np.where(sign, 1.0, -1.0)
    nonzero = _unpack_plane(arr[:, words:], n_out)
    return np.where(nonzero, np.where(sign, 1.0, -1.0), 0.0)
