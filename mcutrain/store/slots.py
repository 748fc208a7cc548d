"""Reads an image of the state store's region (docs/storage.md, format version 1) on the host.

An independent implementation of the slot rules of ``firmware/store/mt_store.c``: used by the
tests to check a store file written by the emulated board, and to look inside a flash dump
(``read_slots(Path("dump.bin").read_bytes(), ...)``).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = 0x5453544D
COMMIT = 0x54494D43
FORMAT = 1
HEADER_BYTES = 40
COMMIT_BYTES = 8


def _align(v: int, p: int) -> int:
    return (v + p - 1) // p * p


@dataclass(frozen=True)
class Geometry:
    block_size: int
    prog_size: int
    payload_len: int

    @property
    def payload_off(self) -> int:
        return _align(HEADER_BYTES, self.prog_size)

    @property
    def commit_off(self) -> int:
        return self.payload_off + _align(self.payload_len, self.prog_size)

    @property
    def slot_bytes(self) -> int:
        return self.commit_off + _align(COMMIT_BYTES, self.prog_size)

    @property
    def slot_blocks(self) -> int:
        return -(-self.slot_bytes // self.block_size)


@dataclass(frozen=True)
class Slot:
    index: int
    status: str          # valid, blank, damaged, uncommitted, other-model, other-size, other-format
    seq: int | None = None
    payload: bytes | None = None


def read_slot(image: bytes, index: int, geo: Geometry, model_hash: str) -> Slot:
    base = index * geo.slot_blocks * geo.block_size
    if len(image) < base + geo.slot_bytes:
        raise ValueError(f"store image of {len(image)} bytes is too short for slot {index} "
                         f"({base + geo.slot_bytes} bytes needed): wrong geometry or truncated dump")
    h = image[base:base + HEADER_BYTES]
    magic, fmt, hbytes = struct.unpack_from("<IHH", h)
    if magic != MAGIC:
        return Slot(index, "blank" if len(set(h)) == 1 else "damaged")
    hcrc = struct.unpack_from("<I", h, 36)[0]
    if zlib.crc32(h[:36]) != hcrc:
        return Slot(index, "damaged")
    if fmt != FORMAT or hbytes != HEADER_BYTES:
        return Slot(index, "other-format")
    want_hash = model_hash.encode("ascii")[:16].ljust(16, b"\0")
    if h[8:24] != want_hash:
        return Slot(index, "other-model")
    seq, length, pcrc = struct.unpack_from("<III", h, 24)
    if length != geo.payload_len:
        return Slot(index, "other-size")
    c_magic, c_crc = struct.unpack_from("<II", image, base + geo.commit_off)
    if c_magic != COMMIT or c_crc != hcrc:
        return Slot(index, "uncommitted", seq)
    payload = image[base + geo.payload_off:base + geo.payload_off + geo.payload_len]
    if zlib.crc32(payload) != pcrc:
        return Slot(index, "damaged", seq)
    return Slot(index, "valid", seq, payload)


def read_slots(image: bytes, geo: Geometry, model_hash: str) -> list[Slot]:
    return [read_slot(image, i, geo, model_hash) for i in (0, 1)]


def newest(slots: list[Slot]) -> Slot | None:
    """The valid slot with the newer sequence number (serial-number arithmetic modulo 2^32)."""
    valid = [s for s in slots if s.status == "valid"]
    if len(valid) == 2:
        a, b = valid
        assert a.seq is not None and b.seq is not None
        return a if 0 < (a.seq - b.seq) % 2**32 < 2**31 else b
    return valid[0] if valid else None
