/* A host file as an mt_storage device, through semihosting file I/O: the
 * emulated boards' persistent store (QEMU started with
 * `-semihosting-config enable=on,target=native`). Tests and emulation only:
 * a semihosting call faults on a board without a debugger, so this file
 * refuses to build without -DMT_SEMIHOSTING and never goes into product
 * firmware.
 *
 * The file (relative to QEMU's working directory) is the region: block_count
 * blocks of block_size bytes. It behaves like NOR flash: erase writes 0xFF,
 * program ANDs the new bytes into the old (a bit once cleared stays cleared
 * until the next erase). Every host write is at most MT_SEMIHOST_STORE_PIECE
 * bytes (64), one semihosting call each, so a kill of QEMU lands between
 * pieces: a save is cut mid-erase or mid-program, as on a real chip losing
 * power. Data written by a returned call is in the host's file (page cache):
 * it survives a kill of QEMU. One such device per firmware (the file handle is
 * a static).
 */
#ifndef MT_STORAGE_SEMIHOST_FILE_H
#define MT_STORAGE_SEMIHOST_FILE_H

#include <stdint.h>

#include "mt_storage.h"

#ifndef MT_SEMIHOST_STORE_PIECE
#define MT_SEMIHOST_STORE_PIECE 64u
#endif

/* Opens (or creates, filled with 0xFF) the file and fills *dev (prog_size 1).
 * 0 on success, -1 if the file cannot be opened or sized. */
int mt_semihost_file_storage(mt_storage *dev, const char *path, uint32_t block_size, uint32_t block_count);

#endif /* MT_STORAGE_SEMIHOST_FILE_H */
