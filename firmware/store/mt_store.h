/* mt_store.h - mcutrain's state store: a byte payload kept across resets and
 * power cuts on a storage device you provide (mt_storage.h).
 *
 * Two slots are written alternately. Each slot holds a header (magic, format
 * version, model hash, sequence number, payload length, CRC-32 of the payload,
 * CRC-32 of the header), the payload, and a commit marker that is programmed
 * last, only after the payload has been read back and checked. A save always
 * goes to the slot that does not hold the newest complete state, so a reset or
 * a power cut at any moment of a save leaves that state untouched and loadable;
 * load takes the valid slot with the newer sequence number (serial-number
 * arithmetic: the wrap from 0xFFFFFFFF to 0 is handled). A slot of another
 * model (hash), another payload length or another format, or a damaged or
 * uncommitted slot is never loaded: its status says which (mt_store_slot_status).
 * Format and guarantees: docs/storage.md.
 *
 * The payload is generic bytes, given as a list of pieces (no copy into one
 * buffer): mcutrain's firmware saves its state bytes, the schedule bytes and the
 * sample counters (the same bytes as the serial protocol's checkpoint).
 *
 * Usage:
 *     static mt_store store;
 *     mt_store_init(&store, &my_flash, MT_MODEL_HASH, PAYLOAD_BYTES);
 *     rc = mt_store_load(&store, segs, nsegs);    MT_STORE_OK: loaded;
 *                                                 MT_STORE_EMPTY: first boot;
 *                                                 < 0: nothing loaded, see the code
 *     ... train ...
 *     rc = mt_store_save(&store, csegs, nsegs);   MT_STORE_OK: committed
 *
 * Rules: no heap; one static chunk buffer of MT_STORE_CHUNK bytes shared by all
 * stores, so the functions are not re-entrant: call them from one thread and
 * never from an interrupt handler. A save takes 2 * slot bytes of reads plus one
 * slot of erase and program; on a failed save (negative code) the previous state
 * is still the newest and a later save may be tried. C99.
 */
#ifndef MT_STORE_H
#define MT_STORE_H

#include <stdint.h>

#include "mt_storage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes per device call of the store (program and read chunks); a multiple of
 * every prog_size it is used with. Define it on the command line to change it. */
#ifndef MT_STORE_CHUNK
#define MT_STORE_CHUNK 64u
#endif

#define MT_STORE_FORMAT      1u           /* format version in each header */
#define MT_STORE_HASH_BYTES  16u          /* model hash bytes (MT_MODEL_HASH: 16 hex chars) */
#define MT_STORE_HEADER_BYTES 40u
#define MT_STORE_COMMIT_BYTES 8u

/* Return codes. */
#define MT_STORE_OK          0   /* done (load: the newest complete state is in the buffers) */
#define MT_STORE_EMPTY       1   /* load: both slots blank (never written): nothing loaded */
#define MT_STORE_E_IO       -1   /* the device's read, prog or erase returned an error */
#define MT_STORE_E_CONFIG   -2   /* bad geometry or arguments: see mt_store_strerror */
#define MT_STORE_E_MODEL    -3   /* load: no state of this model, one of another model (hash differs) */
#define MT_STORE_E_SIZE     -4   /* load: no state of this length, one with the same hash and another length */
#define MT_STORE_E_FORMAT   -5   /* load: no valid state, one in another store format version */
#define MT_STORE_E_CORRUPT  -6   /* load: no valid state; a slot is damaged or its save was cut */
#define MT_STORE_E_VERIFY   -7   /* save: read-back differs from what was programmed;
                                    load: the slot read differently the second time
                                    (the buffers may then hold part of it) */

/* Status of one slot after mt_store_scan / mt_store_load / mt_store_save. */
#define MT_SLOT_UNKNOWN       0  /* not scanned yet */
#define MT_SLOT_VALID         1  /* a complete state of this model and length */
#define MT_SLOT_BLANK         2  /* erased, never written (all header bytes equal) */
#define MT_SLOT_DAMAGED       3  /* bad magic or header CRC, or payload CRC mismatch */
#define MT_SLOT_UNCOMMITTED   4  /* good header, no commit marker: a save was cut */
#define MT_SLOT_OTHER_MODEL   5  /* a header of another model hash */
#define MT_SLOT_OTHER_SIZE    6  /* same hash, another payload length */
#define MT_SLOT_OTHER_FORMAT  7  /* another format version */

typedef struct {
    const uint8_t *ptr;
    uint32_t len;
} mt_store_cseg; /* a piece of the payload to save */

typedef struct {
    uint8_t *ptr;
    uint32_t len;
} mt_store_seg; /* a piece of the payload to load into */

typedef struct {
    const mt_storage *dev;
    uint8_t model_hash[MT_STORE_HASH_BYTES];
    uint32_t payload_len;
    uint32_t payload_off;   /* slot offsets, multiples of prog_size */
    uint32_t commit_off;
    uint32_t slot_bytes;
    uint32_t slot_blocks;   /* erase blocks per slot; slot i starts at block i * slot_blocks */
    uint32_t seq;           /* sequence number of the newest valid state; before the
                               first save: the first sequence number minus 1 (0 by default) */
    int8_t newest;          /* slot of the newest valid state, -1 if none */
    uint8_t scanned;
    uint8_t slot_status[2];
} mt_store;

/* Checks the geometry (block_count >= 2 * slot_blocks, prog_size a power of two
 * dividing MT_STORE_CHUNK and block_size) and sets the store up; no device I/O.
 * model_hash: up to 16 characters (MT_MODEL_HASH), NUL-terminated if shorter.
 * Returns MT_STORE_OK or MT_STORE_E_CONFIG. */
int mt_store_init(mt_store *st, const mt_storage *dev, const char *model_hash, uint32_t payload_len);

/* Reads and checks both slots (headers, commit markers, payload CRCs) without
 * copying a payload out; sets the slot statuses. Same return codes as load. */
int mt_store_scan(mt_store *st);

/* Scan, then copy the newest valid state into the pieces (their lengths must
 * add up to payload_len), checking its CRC-32 again on the way. The buffers are
 * untouched unless the code is MT_STORE_OK, or MT_STORE_E_IO / MT_STORE_E_VERIFY
 * while copying (then they may hold part of the state: start afresh). */
int mt_store_load(mt_store *st, const mt_store_seg *segs, uint32_t nseg);

/* Write the pieces (lengths adding up to payload_len) as the new newest state:
 * erase the other slot, program the payload in MT_STORE_CHUNK pieces, then the
 * header, read both back and check, then program the commit marker and check it.
 * Scans first if no scan was done. MT_STORE_OK once committed. */
int mt_store_save(mt_store *st, const mt_store_cseg *segs, uint32_t nseg);

/* Status of slot 0 or 1 (MT_SLOT_*). */
int mt_store_slot_status(const mt_store *st, int slot);

/* Words for a return code or a slot status, for logs. */
const char *mt_store_strerror(int code);
const char *mt_store_slot_name(int status);

#ifdef __cplusplus
}
#endif

#endif /* MT_STORE_H */
