/* Semihosting-file storage device (storage_semihost_file.h). Emulated boards only. */
#ifndef MT_SEMIHOSTING
#error "storage_semihost_file.c is for emulated boards: build it with -DMT_SEMIHOSTING, never into product firmware"
#endif

#include "storage_semihost_file.h"

#include <stdint.h>

#include "mt_semihost.h"

#define SYS_OPEN 0x01u
#define SYS_WRITE 0x05u
#define SYS_READ 0x06u
#define SYS_SEEK 0x0Au
#define SYS_FLEN 0x0Cu
#define MODE_RPLUS_B 3u /* "r+b": read and write, keep the contents */
#define MODE_WPLUS_B 7u /* "w+b": create */

static uint32_t handle;
static uint8_t piece[MT_SEMIHOST_STORE_PIECE];

static uint32_t str_len(const char *s)
{
    uint32_t n = 0u;
    while (s[n] != '\0') {
        n++;
    }
    return n;
}

static int sh_seek(uint32_t pos)
{
    uint32_t a[2];
    a[0] = handle;
    a[1] = pos;
    return mt_semihost_call(SYS_SEEK, a) == 0u ? 0 : -1;
}

static int sh_write(const uint8_t *buf, uint32_t len)
{
    uint32_t a[3];
    a[0] = handle;
    a[1] = (uint32_t)(uintptr_t)buf;
    a[2] = len;
    return mt_semihost_call(SYS_WRITE, a) == 0u ? 0 : -1; /* returns the bytes NOT written */
}

static int sh_read(uint8_t *buf, uint32_t len)
{
    uint32_t a[3];
    a[0] = handle;
    a[1] = (uint32_t)(uintptr_t)buf;
    a[2] = len;
    return mt_semihost_call(SYS_READ, a) == 0u ? 0 : -1; /* returns the bytes NOT read */
}

static uint32_t block_pos(const mt_storage *dev, uint32_t block)
{
    uint32_t pos = 0u;
    while (block-- != 0u) {
        pos += dev->block_size;
    }
    return pos;
}

static int file_read(const mt_storage *dev, uint32_t block, uint32_t off, void *buf, uint32_t len)
{
    if (sh_seek(block_pos(dev, block) + off) != 0) {
        return -1;
    }
    return sh_read(buf, len);
}

/* NOR semantics: new = old AND data, written back in pieces */
static int file_prog(const mt_storage *dev, uint32_t block, uint32_t off, const void *buf, uint32_t len)
{
    const uint8_t *src = buf;
    uint32_t pos = block_pos(dev, block) + off, i, n;
    while (len != 0u) {
        n = len < MT_SEMIHOST_STORE_PIECE ? len : MT_SEMIHOST_STORE_PIECE;
        if (sh_seek(pos) != 0 || sh_read(piece, n) != 0) {
            return -1;
        }
        for (i = 0; i < n; i++) {
            piece[i] &= src[i];
        }
        if (sh_seek(pos) != 0 || sh_write(piece, n) != 0) {
            return -1;
        }
        src += n;
        pos += n;
        len -= n;
    }
    return 0;
}

static int fill_erased(uint32_t pos, uint32_t len)
{
    uint32_t i, n;
    for (i = 0; i < MT_SEMIHOST_STORE_PIECE; i++) {
        piece[i] = 0xFFu;
    }
    if (sh_seek(pos) != 0) {
        return -1;
    }
    while (len != 0u) {
        n = len < MT_SEMIHOST_STORE_PIECE ? len : MT_SEMIHOST_STORE_PIECE;
        if (sh_write(piece, n) != 0) {
            return -1;
        }
        len -= n;
    }
    return 0;
}

static int file_erase(const mt_storage *dev, uint32_t block)
{
    return fill_erased(block_pos(dev, block), dev->block_size);
}

int mt_semihost_file_storage(mt_storage *dev, const char *path, uint32_t block_size, uint32_t block_count)
{
    uint32_t a[3], size, have;
    a[0] = (uint32_t)(uintptr_t)path;
    a[1] = MODE_RPLUS_B;
    a[2] = str_len(path);
    handle = mt_semihost_call(SYS_OPEN, a);
    if (handle == 0xFFFFFFFFu) {
        a[1] = MODE_WPLUS_B;
        handle = mt_semihost_call(SYS_OPEN, a);
        if (handle == 0xFFFFFFFFu) {
            return -1;
        }
    }
    dev->ctx = 0;
    dev->block_size = block_size;
    dev->block_count = block_count;
    dev->prog_size = 1u;
    dev->read = file_read;
    dev->prog = file_prog;
    dev->erase = file_erase;
    size = block_pos(dev, block_count);
    have = mt_semihost_call(SYS_FLEN, &handle);
    if (have == 0xFFFFFFFFu) {
        return -1;
    }
    if (have < size) {
        return fill_erased(have, size - have); /* a new or short file: the rest is erased */
    }
    return 0;
}
