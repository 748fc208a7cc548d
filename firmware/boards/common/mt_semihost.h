/* Semihosting exit and parking, shared by the Cortex-M boards (header only).
 *
 * Built with -DMT_SEMIHOSTING (test builds for an emulator), mt_semihost_exit()
 * ends QEMU with the given status: SYS_EXIT_EXTENDED (0x20) with the block
 * {ADP_Stopped_ApplicationExit, code}; QEMU started with
 * `-semihosting-config enable=on,target=native` exits with `code`. Plain
 * SYS_EXIT (0x18) follows as a fallback: on 32-bit ARM it can only say
 * success or failure. Without a debugger or emulator a semihosting call
 * faults: keep MT_SEMIHOSTING out of firmware for real boards.
 * Without MT_SEMIHOSTING it does nothing. mt_park() stops the core for good
 * (WFI loop: QEMU then idles instead of spinning).
 */
#ifndef MT_SEMIHOST_H
#define MT_SEMIHOST_H

#include <stdint.h>

#include "board.h"

#ifdef MT_SEMIHOSTING
static inline uint32_t mt_semihost_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
#endif

static inline void mt_semihost_exit(int code)
{
#ifdef MT_SEMIHOSTING
    const uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
    (void)mt_semihost_call(0x20u /* SYS_EXIT_EXTENDED */, block);
    (void)mt_semihost_call(0x18u /* SYS_EXIT */,
                           (const void *)(uintptr_t)(code == 0 ? 0x20026u /* ApplicationExit */
                                                               : 0x20023u /* RunTimeErrorUnknown */));
#else
    (void)code;
#endif
}

static inline MT_NORETURN void mt_park(void)
{
    for (;;) {
        __asm__ volatile("wfi");
    }
}

#endif /* MT_SEMIHOST_H */
