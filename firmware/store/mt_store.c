/* mt_store.c - two-slot power-cut-safe state store (see mt_store.h, docs/storage.md).
 *
 * Slot layout (offsets from the slot's first byte; P = prog_size):
 *   0                        header, 40 bytes:
 *                              u32 magic 0x5453544D ("MTST"), u16 format (1), u16 header bytes (40),
 *                              u8[16] model hash, u32 seq, u32 payload length,
 *                              u32 CRC-32 of the payload, u32 CRC-32 of the 36 bytes before it
 *   align(40, P)             payload (padded with 0xFF to a multiple of P)
 *   payload_off + align(len, P)
 *                            commit marker, 8 bytes: u32 0x54494D43 ("CMIT"),
 *                            u32 the header's CRC-32 (ties the marker to this header)
 * All integers little endian. CRC-32 is zlib's (crc.c).
 *
 * No multiplication or division; no heap; one static chunk buffer.
 */
#include "mt_store.h"

#include "crc.h"

#define STORE_MAGIC  0x5453544Du /* "MTST" */
#define COMMIT_MAGIC 0x54494D43u /* "CMIT" */

#if (MT_STORE_CHUNK) < 16u || ((MT_STORE_CHUNK) & ((MT_STORE_CHUNK) - 1u)) != 0u
#error "MT_STORE_CHUNK must be a power of two >= 16"
#endif

static uint8_t chunk[MT_STORE_CHUNK];

/* ------------------------------------------------------------------ helpers */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)((v >> 24) & 0xFFu);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint32_t align_up(uint32_t v, uint32_t p)
{
    return (v + p - 1u) & ~(p - 1u);
}

static int is_pow2(uint32_t v)
{
    return v != 0u && (v & (v - 1u)) == 0u;
}

#define OP_READ 0
#define OP_PROG 1

/* Read or program len bytes at byte `pos` of slot `slot`, split at block
 * boundaries. */
static int slot_io(const mt_store *st, int slot, uint32_t pos, uint8_t *buf, uint32_t len, int op)
{
    const mt_storage *dev = st->dev;
    uint32_t block = slot ? st->slot_blocks : 0u;
    while (pos >= dev->block_size) {
        pos -= dev->block_size;
        block++;
    }
    while (len != 0u) {
        uint32_t n = dev->block_size - pos;
        int rc;
        if (n > len) {
            n = len;
        }
        rc = op == OP_READ ? dev->read(dev, block, pos, buf, n) : dev->prog(dev, block, pos, buf, n);
        if (rc < 0) {
            return MT_STORE_E_IO;
        }
        buf += n;
        len -= n;
        pos = 0u;
        block++;
    }
    return MT_STORE_OK;
}

/* CRC-32 of len bytes of a slot from pos, read through the chunk buffer. */
static int slot_crc(const mt_store *st, int slot, uint32_t pos, uint32_t len, uint32_t *crc)
{
    uint32_t c = 0u;
    while (len != 0u) {
        uint32_t n = len < MT_STORE_CHUNK ? len : MT_STORE_CHUNK;
        int rc = slot_io(st, slot, pos, chunk, n, OP_READ);
        if (rc != MT_STORE_OK) {
            return rc;
        }
        c = mt_crc32(c, chunk, n);
        pos += n;
        len -= n;
    }
    *crc = c;
    return MT_STORE_OK;
}

/* serial-number arithmetic: a is newer than b */
static int seq_newer(uint32_t a, uint32_t b)
{
    return (a - b) != 0u && (a - b) < 0x80000000u;
}

static void make_header(const mt_store *st, uint8_t *h, uint32_t seq, uint32_t payload_crc)
{
    uint32_t i;
    put32(h, STORE_MAGIC);
    h[4] = (uint8_t)(MT_STORE_FORMAT & 0xFFu);
    h[5] = (uint8_t)((MT_STORE_FORMAT >> 8) & 0xFFu);
    h[6] = (uint8_t)MT_STORE_HEADER_BYTES;
    h[7] = 0u;
    for (i = 0; i < MT_STORE_HASH_BYTES; i++) {
        h[8u + i] = st->model_hash[i];
    }
    put32(h + 24, seq);
    put32(h + 28, st->payload_len);
    put32(h + 32, payload_crc);
    put32(h + 36, mt_crc32(0u, h, 36u));
}

/* ------------------------------------------------------------------- public */

int mt_store_init(mt_store *st, const mt_storage *dev, const char *model_hash, uint32_t payload_len)
{
    uint32_t i, blocks, left;
    int end = 0;
    if (st == 0 || dev == 0 || model_hash == 0 || dev->read == 0 || dev->prog == 0 || dev->erase == 0) {
        return MT_STORE_E_CONFIG;
    }
    st->dev = dev;
    st->newest = -1;
    st->scanned = 0u;
    st->seq = 0u;
    st->slot_status[0] = MT_SLOT_UNKNOWN;
    st->slot_status[1] = MT_SLOT_UNKNOWN;
    for (i = 0; i < MT_STORE_HASH_BYTES; i++) {
        if (!end && model_hash[i] == '\0') {
            end = 1;
        }
        st->model_hash[i] = end ? 0u : (uint8_t)model_hash[i];
    }
    if (!is_pow2(dev->prog_size) || dev->prog_size > MT_STORE_CHUNK || dev->block_size == 0u ||
        (dev->block_size & (dev->prog_size - 1u)) != 0u || payload_len == 0u || payload_len > 0x7FFFFFFFu) {
        return MT_STORE_E_CONFIG;
    }
    st->payload_len = payload_len;
    st->payload_off = align_up(MT_STORE_HEADER_BYTES, dev->prog_size);
    st->commit_off = st->payload_off + align_up(payload_len, dev->prog_size);
    st->slot_bytes = st->commit_off + align_up(MT_STORE_COMMIT_BYTES, dev->prog_size);
    blocks = 0u;
    left = st->slot_bytes;
    while (left != 0u) {
        blocks++;
        left = left > dev->block_size ? left - dev->block_size : 0u;
    }
    st->slot_blocks = blocks;
    if (dev->block_count < blocks || dev->block_count - blocks < blocks) {
        return MT_STORE_E_CONFIG; /* two slots do not fit */
    }
    return MT_STORE_OK;
}

/* Status of one slot (MT_SLOT_*); *seq gets its sequence number; MT_STORE_E_IO
 * on a device error. */
static int scan_slot(const mt_store *st, int slot, uint32_t *seq)
{
    uint8_t h[MT_STORE_HEADER_BYTES];
    uint8_t c[MT_STORE_COMMIT_BYTES];
    uint32_t i, hcrc, pcrc;
    int rc = slot_io(st, slot, 0u, h, MT_STORE_HEADER_BYTES, OP_READ);
    if (rc != MT_STORE_OK) {
        return rc;
    }
    if (get32(h) != STORE_MAGIC) {
        for (i = 1; i < MT_STORE_HEADER_BYTES; i++) {
            if (h[i] != h[0]) {
                return MT_SLOT_DAMAGED;
            }
        }
        return MT_SLOT_BLANK;
    }
    hcrc = get32(h + 36);
    if (mt_crc32(0u, h, 36u) != hcrc) {
        return MT_SLOT_DAMAGED;
    }
    if (((uint32_t)h[4] | ((uint32_t)h[5] << 8)) != MT_STORE_FORMAT || h[6] != MT_STORE_HEADER_BYTES || h[7] != 0u) {
        return MT_SLOT_OTHER_FORMAT;
    }
    for (i = 0; i < MT_STORE_HASH_BYTES; i++) {
        if (h[8u + i] != st->model_hash[i]) {
            return MT_SLOT_OTHER_MODEL;
        }
    }
    if (get32(h + 28) != st->payload_len) {
        return MT_SLOT_OTHER_SIZE;
    }
    rc = slot_io(st, slot, st->commit_off, c, MT_STORE_COMMIT_BYTES, OP_READ);
    if (rc != MT_STORE_OK) {
        return rc;
    }
    if (get32(c) != COMMIT_MAGIC || get32(c + 4) != hcrc) {
        return MT_SLOT_UNCOMMITTED;
    }
    rc = slot_crc(st, slot, st->payload_off, st->payload_len, &pcrc);
    if (rc != MT_STORE_OK) {
        return rc;
    }
    if (pcrc != get32(h + 32)) {
        return MT_SLOT_DAMAGED;
    }
    *seq = get32(h + 24);
    return MT_SLOT_VALID;
}

int mt_store_scan(mt_store *st)
{
    uint32_t seq[2] = {0u, 0u};
    int s, i, worst = MT_STORE_EMPTY;
    if (st == 0 || st->dev == 0 || st->payload_len == 0u) {
        return MT_STORE_E_CONFIG;
    }
    st->scanned = 0u;
    st->newest = -1;
    for (i = 0; i < 2; i++) {
        s = scan_slot(st, i, &seq[i]);
        if (s < 0) {
            st->slot_status[i] = MT_SLOT_UNKNOWN;
            return s;
        }
        st->slot_status[i] = (uint8_t)s;
    }
    for (i = 0; i < 2; i++) {
        if (st->slot_status[i] == MT_SLOT_VALID && (st->newest < 0 || seq_newer(seq[i], st->seq))) {
            st->newest = (int8_t)i;
            st->seq = seq[i];
        }
    }
    st->scanned = 1u;
    if (st->newest >= 0) {
        return MT_STORE_OK;
    }
    /* nothing valid: say why, the most specific reason first */
    for (i = 0; i < 2; i++) {
        s = st->slot_status[i];
        if (s == MT_SLOT_OTHER_MODEL) {
            worst = MT_STORE_E_MODEL;
        } else if (s == MT_SLOT_OTHER_SIZE && worst != MT_STORE_E_MODEL) {
            worst = MT_STORE_E_SIZE;
        } else if (s == MT_SLOT_OTHER_FORMAT && worst == MT_STORE_EMPTY) {
            worst = MT_STORE_E_FORMAT;
        } else if ((s == MT_SLOT_DAMAGED || s == MT_SLOT_UNCOMMITTED) &&
                   (worst == MT_STORE_EMPTY || worst == MT_STORE_E_FORMAT)) {
            worst = MT_STORE_E_CORRUPT;
        }
    }
    return worst;
}

int mt_store_load(mt_store *st, const mt_store_seg *segs, uint32_t nseg)
{
    uint32_t i, total = 0u, pos, crc = 0u;
    uint8_t h[MT_STORE_HEADER_BYTES];
    int rc;
    if (st == 0 || (segs == 0 && nseg != 0u)) {
        return MT_STORE_E_CONFIG;
    }
    for (i = 0; i < nseg; i++) {
        if (segs[i].ptr == 0 && segs[i].len != 0u) {
            return MT_STORE_E_CONFIG;
        }
        total += segs[i].len;
    }
    if (total != st->payload_len) {
        return MT_STORE_E_CONFIG;
    }
    rc = mt_store_scan(st);
    if (rc != MT_STORE_OK) {
        return rc;
    }
    rc = slot_io(st, st->newest, 0u, h, MT_STORE_HEADER_BYTES, OP_READ);
    if (rc != MT_STORE_OK) {
        return rc;
    }
    pos = st->payload_off;
    for (i = 0; i < nseg; i++) {
        rc = slot_io(st, st->newest, pos, segs[i].ptr, segs[i].len, OP_READ);
        if (rc != MT_STORE_OK) {
            return rc;
        }
        crc = mt_crc32(crc, segs[i].ptr, segs[i].len);
        pos += segs[i].len;
    }
    if (crc != get32(h + 32) || get32(h + 24) != st->seq) {
        return MT_STORE_E_VERIFY;
    }
    return MT_STORE_OK;
}

/* Program the payload pieces from slot offset payload_off in chunks; *crc gets
 * the payload's CRC-32. */
static int program_payload(const mt_store *st, int slot, const mt_store_cseg *segs, uint32_t nseg, uint32_t *crc)
{
    uint32_t i, j, fill = 0u, pos = st->payload_off, c = 0u;
    int rc;
    for (i = 0; i < nseg; i++) {
        c = mt_crc32(c, segs[i].ptr, segs[i].len);
        for (j = 0; j < segs[i].len; j++) {
            chunk[fill++] = segs[i].ptr[j];
            if (fill == MT_STORE_CHUNK) {
                rc = slot_io(st, slot, pos, chunk, fill, OP_PROG);
                if (rc != MT_STORE_OK) {
                    return rc;
                }
                pos += fill;
                fill = 0u;
            }
        }
    }
    if (fill != 0u) {
        uint32_t padded = align_up(fill, st->dev->prog_size);
        while (fill < padded) {
            chunk[fill++] = 0xFFu;
        }
        rc = slot_io(st, slot, pos, chunk, fill, OP_PROG);
        if (rc != MT_STORE_OK) {
            return rc;
        }
    }
    *crc = c;
    return MT_STORE_OK;
}

/* Program `len` (<= MT_STORE_CHUNK) bytes at pos, padded with 0xFF to prog_size. */
static int program_small(const mt_store *st, int slot, uint32_t pos, const uint8_t *src, uint32_t len)
{
    uint32_t i, padded = align_up(len, st->dev->prog_size);
    for (i = 0; i < padded; i++) {
        chunk[i] = i < len ? src[i] : 0xFFu;
    }
    return slot_io(st, slot, pos, chunk, padded, OP_PROG);
}

/* 1 if the slot holds exactly `len` bytes of src at pos. */
static int verify_small(const mt_store *st, int slot, uint32_t pos, const uint8_t *src, uint32_t len, int *rc)
{
    uint32_t i;
    *rc = slot_io(st, slot, pos, chunk, len, OP_READ);
    if (*rc != MT_STORE_OK) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (chunk[i] != src[i]) {
            return 0;
        }
    }
    return 1;
}

int mt_store_save(mt_store *st, const mt_store_cseg *segs, uint32_t nseg)
{
    uint8_t h[MT_STORE_HEADER_BYTES];
    uint8_t c[MT_STORE_COMMIT_BYTES];
    uint32_t i, total = 0u, seq, crc = 0u, back = 0u, hcrc;
    int rc, target;
    if (st == 0 || st->dev == 0 || (segs == 0 && nseg != 0u)) {
        return MT_STORE_E_CONFIG;
    }
    for (i = 0; i < nseg; i++) {
        if (segs[i].ptr == 0 && segs[i].len != 0u) {
            return MT_STORE_E_CONFIG;
        }
        total += segs[i].len;
    }
    if (total != st->payload_len) {
        return MT_STORE_E_CONFIG;
    }
    if (!st->scanned) {
        rc = mt_store_scan(st);
        if (rc < 0 && rc != MT_STORE_E_MODEL && rc != MT_STORE_E_SIZE && rc != MT_STORE_E_FORMAT &&
            rc != MT_STORE_E_CORRUPT) {
            return rc; /* a device error; the other codes only say no slot is valid */
        }
    }
    /* the slot that does not hold the newest state */
    target = st->newest == 0 ? 1 : 0;
#ifdef MT_STORE_TEST_SAME_SLOT
    /* Deliberately wrong (overwrite the newest state in place), built only by
     * tests/test_store_sim.py and tests/test_store_qemu.py to show that the
     * power-cut tests catch it. */
    target = st->newest == 1 ? 1 : 0;
#endif
    seq = st->seq + 1u;
    st->slot_status[target] = MT_SLOT_DAMAGED; /* from the first erase until the commit */

    for (i = 0; i < st->slot_blocks; i++) {
        if (st->dev->erase(st->dev, (target ? st->slot_blocks : 0u) + i) < 0) {
            return MT_STORE_E_IO;
        }
    }
    /* payload first (its CRC goes into the header), then header, read back, commit */
    rc = program_payload(st, target, segs, nseg, &crc);
    if (rc != MT_STORE_OK) {
        return rc;
    }
    make_header(st, h, seq, crc);
    hcrc = get32(h + 36);
    rc = program_small(st, target, 0u, h, MT_STORE_HEADER_BYTES);
    if (rc != MT_STORE_OK) {
        return rc;
    }
    if (!verify_small(st, target, 0u, h, MT_STORE_HEADER_BYTES, &rc)) {
        return rc != MT_STORE_OK ? rc : MT_STORE_E_VERIFY;
    }
    rc = slot_crc(st, target, st->payload_off, st->payload_len, &back);
    if (rc != MT_STORE_OK) {
        return rc;
    }
    if (back != crc) {
        return MT_STORE_E_VERIFY;
    }
    put32(c, COMMIT_MAGIC);
    put32(c + 4, hcrc);
    rc = program_small(st, target, st->commit_off, c, MT_STORE_COMMIT_BYTES);
    if (rc != MT_STORE_OK) {
        return rc;
    }
    if (!verify_small(st, target, st->commit_off, c, MT_STORE_COMMIT_BYTES, &rc)) {
        return rc != MT_STORE_OK ? rc : MT_STORE_E_VERIFY;
    }
    st->slot_status[target] = MT_SLOT_VALID;
    st->newest = (int8_t)target;
    st->seq = seq;
    st->scanned = 1u;
    return MT_STORE_OK;
}

int mt_store_slot_status(const mt_store *st, int slot)
{
    if (st == 0 || slot < 0 || slot > 1) {
        return MT_SLOT_UNKNOWN;
    }
    return st->slot_status[slot];
}

const char *mt_store_strerror(int code)
{
    switch (code) {
    case MT_STORE_OK: return "ok";
    case MT_STORE_EMPTY: return "no state stored yet (both slots blank)";
    case MT_STORE_E_IO: return "storage device error (read, prog or erase failed)";
    case MT_STORE_E_CONFIG:
        return "bad store configuration: prog_size must be a power of two dividing block_size and "
               "MT_STORE_CHUNK, the region must hold two slots, piece lengths must add up to the payload length";
    case MT_STORE_E_MODEL: return "the stored state is of another model (hash differs): not loaded";
    case MT_STORE_E_SIZE: return "the stored state has another length for this model hash: not loaded";
    case MT_STORE_E_FORMAT: return "the stored state is in another store format version: not loaded";
    case MT_STORE_E_CORRUPT: return "no complete state: the slots are damaged or their save was cut";
    case MT_STORE_E_VERIFY: return "read-back differs from what was written (flash worn or unstable)";
    default: return "unknown store code";
    }
}

const char *mt_store_slot_name(int status)
{
    switch (status) {
    case MT_SLOT_VALID: return "valid";
    case MT_SLOT_BLANK: return "blank";
    case MT_SLOT_DAMAGED: return "damaged";
    case MT_SLOT_UNCOMMITTED: return "uncommitted";
    case MT_SLOT_OTHER_MODEL: return "other-model";
    case MT_SLOT_OTHER_SIZE: return "other-size";
    case MT_SLOT_OTHER_FORMAT: return "other-format";
    default: return "unknown";
    }
}
