/* mt_storage.h - the storage device the state store (mt_store.h) writes to.
 *
 * You implement it for your chip, like littlefs's block device: a region of
 * `block_count` erase blocks of `block_size` bytes each, numbered from 0, that
 * can be read, programmed and erased. Ready implementations:
 *   firmware/boards/common/storage_stm32f4_flash.c  STM32F4 internal flash (real boards)
 *   firmware/boards/common/storage_semihost_file.c  a host file through QEMU semihosting
 *                                                   (emulated boards and tests only)
 *   tests/c/store_sim.c                             a RAM simulation that cuts power (host tests)
 *
 * Geometry (fixed for the life of the device):
 *   block_size   bytes per erase block (e.g. one 128 KB flash sector).
 *   block_count  number of blocks in the region; the store needs
 *                2 * ceil(slot bytes / block_size) of them (mt_store_init says if not).
 *   prog_size    program granularity in bytes, a power of two (1 on STM32F4 byte
 *                programming, 8 on STM32L4, 32 on STM32H7): every program call has an
 *                offset and a length that are multiples of it. At most MT_STORE_CHUNK.
 *
 * Semantics the store relies on (NOR flash behaves like this):
 *   read    copies `len` bytes at (block, off) into buf. May be called at any time.
 *   prog    writes `len` bytes at (block, off). Called only on bytes erased since
 *           they were last programmed; the store never programs a byte twice.
 *   erase   sets a whole block to the erased value (any value: the store does not
 *           assume 0xFF or 0x00).
 *   All three return 0 on success and a negative number on failure (the store then
 *   stops and returns MT_STORE_E_IO). They are called with off + len <= block_size
 *   and never across a block boundary. When prog or erase returns, the data must be
 *   durable (written through any cache or write buffer): the store programs its
 *   commit marker only after the payload's prog calls have returned and the payload
 *   has been read back and checked.
 *
 * Power cuts: a cut may land anywhere, also inside one prog or erase (a torn
 * program leaves some bytes, or bits of a byte, written; a torn erase leaves some
 * bytes erased). The store stays correct under any such cut (docs/storage.md).
 *
 * Calls come only from mt_store_* functions, from the caller's context (no
 * interrupt use by the store). `ctx` is yours: the store passes it back untouched.
 * C99, no heap.
 */
#ifndef MT_STORAGE_H
#define MT_STORAGE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_storage mt_storage;

struct mt_storage {
    void *ctx;              /* yours: e.g. the flash base address, a file handle */
    uint32_t block_size;    /* bytes per erase block */
    uint32_t block_count;   /* erase blocks in the region */
    uint32_t prog_size;     /* program granularity (power of two, <= MT_STORE_CHUNK) */
    int (*read)(const mt_storage *dev, uint32_t block, uint32_t off, void *buf, uint32_t len);
    int (*prog)(const mt_storage *dev, uint32_t block, uint32_t off, const void *buf, uint32_t len);
    int (*erase)(const mt_storage *dev, uint32_t block);
};

#ifdef __cplusplus
}
#endif

#endif /* MT_STORAGE_H */
