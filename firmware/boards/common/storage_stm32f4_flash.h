/* STM32F4 internal flash as an mt_storage device (real boards; see mt_storage.h).
 *
 * The region is `count` consecutive 128 KB sectors from sector `first` (sectors
 * 5..11 are 128 KB on the STM32F405/407/415/417 and F411/F401xE (5..7 there);
 * sectors 0..3 are 16 KB and 4 is 64 KB, usually where the firmware itself lives).
 * One sector is one erase block; programming is byte-wise (PSIZE x8), so
 * prog_size is 1 and any supply voltage (1.8-3.6 V) is fine.
 *
 * Typical: the last two sectors of the chip, one slot each (a state up to
 * 128 KB - 48 bytes):
 *     F405/F407 (1 MB):   mt_stm32f4_flash_storage(&dev, 10, 2, 1024)  (0x080C0000..0x080FFFFF)
 *     F401RE/F411 (512 KB): mt_stm32f4_flash_storage(&dev, 6, 2, 512)  (0x08040000..0x0807FFFF)
 * Keep the linker script's FLASH region below the first sector of the store;
 * mt_stm32f4_flash_storage() refuses (returns -1) a region that overlaps the
 * firmware image (the linker's _sidata + .data size) or the chip's flash.
 *
 * While a sector is erased (about 1-2 s for 128 KB) or a byte programmed, the
 * CPU stalls on any fetch from flash: interrupts are served late. Call the store
 * from the main loop, not with a hard real-time deadline pending.
 *
 * Built and compiled with -Werror for the STM32F4 boards by the tests; NOT run
 * on hardware here (QEMU's netduinoplus2 has no flash controller model).
 */
#ifndef MT_STORAGE_STM32F4_FLASH_H
#define MT_STORAGE_STM32F4_FLASH_H

#include <stdint.h>

#include "mt_storage.h"

/* Fills *dev; 0 on success, -1 if the sectors are not all 128 KB, lie beyond
 * flash_kb of flash, or overlap the firmware image. */
int mt_stm32f4_flash_storage(mt_storage *dev, uint32_t first_sector, uint32_t count, uint32_t flash_kb);

#endif /* MT_STORAGE_STM32F4_FLASH_H */
