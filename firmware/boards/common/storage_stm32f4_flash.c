/* STM32F4 internal flash driver for the state store (storage_stm32f4_flash.h).
 *
 * Register-level, after RM0090 (F405/407) section 3 and RM0368 (F401) section 3:
 * FLASH interface at 0x40023C00: ACR +0x00, KEYR +0x04, SR +0x0C, CR +0x10.
 * Unlock with the two KEYR keys, wait for SR.BSY = 0, clear the error flags,
 * then: sector erase = CR.SER + CR.SNB + CR.STRT; byte program = CR.PG with
 * PSIZE x8 and a byte write to the address. Errors (write protection,
 * alignment, parallelism, sequence, operation) are read from SR after each
 * operation and returned as -1. The flash is locked again after each call.
 * After an erase the data cache is reset (RM0090 3.5.2: stale lines otherwise).
 *
 * Not run on hardware here: it is compiled with -Wall -Wextra -Werror for the
 * STM32F4 boards by tests/test_store_qemu.py.
 */
#include "storage_stm32f4_flash.h"

#include <stdint.h>

#define FLASH_BASE_ADDR 0x08000000u
#define FLASH_R(off) (*(volatile uint32_t *)(0x40023C00u + (off)))
#define FLASH_ACR FLASH_R(0x00u)
#define FLASH_KEYR FLASH_R(0x04u)
#define FLASH_SR FLASH_R(0x0Cu)
#define FLASH_CR FLASH_R(0x10u)

#define KEY1 0x45670123u
#define KEY2 0xCDEF89ABu

#define CR_PG (1u << 0)
#define CR_SER (1u << 1)
#define CR_SNB_SHIFT 3u
#define CR_PSIZE_X8 (0u << 8)
#define CR_STRT (1u << 16)
#define CR_LOCK (1u << 31)

#define SR_EOP (1u << 0)
#define SR_OPERR (1u << 1)
#define SR_WRPERR (1u << 4)
#define SR_PGAERR (1u << 5)
#define SR_PGPERR (1u << 6)
#define SR_PGSERR (1u << 7)
#define SR_RDERR (1u << 8)
#define SR_BSY (1u << 16)
#define SR_ERRORS (SR_OPERR | SR_WRPERR | SR_PGAERR | SR_PGPERR | SR_PGSERR | SR_RDERR)

#define ACR_DCEN (1u << 10)
#define ACR_DCRST (1u << 12)

#define SECTOR_BYTES 0x20000u /* 128 KB */

extern uint32_t _sidata; /* the firmware image: .data's load address and size (linker script) */
extern uint32_t _sdata;
extern uint32_t _edata;

/* ctx holds the address of the region's first sector; its number is derived. */
static uint32_t sector_addr(uint32_t sector) /* sector >= 5 */
{
    return 0x08020000u + ((sector - 5u) << 17);
}

static uint32_t region_base(const mt_storage *dev)
{
    return (uint32_t)(uintptr_t)dev->ctx;
}

static void wait_idle(void)
{
    while ((FLASH_SR & SR_BSY) != 0u) {
    }
}

static int unlock(void)
{
    wait_idle();
    if ((FLASH_CR & CR_LOCK) != 0u) {
        FLASH_KEYR = KEY1;
        FLASH_KEYR = KEY2;
    }
    FLASH_SR = SR_ERRORS | SR_EOP; /* clear old flags (write 1 to clear) */
    return (FLASH_CR & CR_LOCK) != 0u ? -1 : 0;
}

static int finish(void)
{
    uint32_t sr;
    wait_idle();
    sr = FLASH_SR;
    FLASH_CR = CR_LOCK;
    return (sr & SR_ERRORS) != 0u ? -1 : 0;
}

static int flash_read(const mt_storage *dev, uint32_t block, uint32_t off, void *buf, uint32_t len)
{
    const volatile uint8_t *src =
        (const volatile uint8_t *)(uintptr_t)(region_base(dev) + (block << 17) + off);
    uint8_t *dst = buf;
    uint32_t i;
    for (i = 0; i < len; i++) {
        dst[i] = src[i];
    }
    return 0;
}

static int flash_prog(const mt_storage *dev, uint32_t block, uint32_t off, const void *buf, uint32_t len)
{
    volatile uint8_t *dst = (volatile uint8_t *)(uintptr_t)(region_base(dev) + (block << 17) + off);
    const uint8_t *src = buf;
    uint32_t i;
    if (unlock() != 0) {
        return -1;
    }
    FLASH_CR = CR_PSIZE_X8 | CR_PG;
    for (i = 0; i < len; i++) {
        dst[i] = src[i];
        wait_idle();
        if ((FLASH_SR & SR_ERRORS) != 0u) {
            break;
        }
    }
    return finish();
}

static int flash_erase(const mt_storage *dev, uint32_t block)
{
    uint32_t sector = 5u + ((region_base(dev) + (block << 17) - 0x08020000u) >> 17);
    uint32_t acr;
    int rc;
    if (unlock() != 0) {
        return -1;
    }
    FLASH_CR = CR_PSIZE_X8 | CR_SER | (sector << CR_SNB_SHIFT);
    FLASH_CR = CR_PSIZE_X8 | CR_SER | (sector << CR_SNB_SHIFT) | CR_STRT;
    rc = finish();
    acr = FLASH_ACR;
    if ((acr & ACR_DCEN) != 0u) {
        FLASH_ACR = acr & ~ACR_DCEN;
        FLASH_ACR = (acr & ~ACR_DCEN) | ACR_DCRST;
        FLASH_ACR = acr & ~ACR_DCRST;
    }
    return rc;
}

int mt_stm32f4_flash_storage(mt_storage *dev, uint32_t first_sector, uint32_t count, uint32_t flash_kb)
{
    uint32_t base, end, image_end;
    if (dev == 0 || first_sector < 5u || first_sector > 11u || count == 0u || count > 12u - first_sector) {
        return -1;
    }
    base = sector_addr(first_sector);
    end = base + (count << 17);
    if (end > FLASH_BASE_ADDR + (flash_kb << 10)) {
        return -1;
    }
    image_end = (uint32_t)(uintptr_t)&_sidata + ((uint32_t)(uintptr_t)&_edata - (uint32_t)(uintptr_t)&_sdata);
    if (image_end > base) {
        return -1; /* the firmware image (from 0x08000000) reaches into the region */
    }
    dev->ctx = (void *)(uintptr_t)base;
    dev->block_size = SECTOR_BYTES;
    dev->block_count = count;
    dev->prog_size = 1u;
    dev->read = flash_read;
    dev->prog = flash_prog;
    dev->erase = flash_erase;
    return 0;
}
