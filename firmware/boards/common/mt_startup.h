/* Cortex-M start-up code shared by the boards (header with definitions).
 *
 * Include it from exactly one file per board (its startup.c), which then
 * defines the vector table `mt_vector_table` in section .isr_vector using the
 * handlers declared here. Provides:
 *   Reset_Handler   FPU on (if the build uses one), stack painted (mt_stack.h),
 *                   .data copied from flash, .bss zeroed, main() called (never
 *                   returns in product firmware)
 *   Default_Handler faults and stray interrupts: board_exit(MT_EXIT_FAULT),
 *                   which ends QEMU in semihosting builds, else parks the core
 *   weak aliases NMI_Handler ... SysTick_Handler for the system exceptions
 * Needs the linker symbols _sidata, _sdata, _edata, _sbss, _ebss, _estack.
 * No C library: the copy loops use volatile stores so the compiler cannot turn
 * them into memcpy/memset calls.
 */
#ifndef MT_STARTUP_H
#define MT_STARTUP_H

#include <stdint.h>

#include "board.h"
#include "mt_stack.h"

extern uint32_t _sidata; /* load address of .data in flash */
extern uint32_t _sdata;
extern uint32_t _edata;
extern uint32_t _sbss;
extern uint32_t _ebss;
extern uint32_t _estack; /* top of the stack: end of RAM */

extern int main(void);

typedef void (*mt_vector_t)(void);

void Reset_Handler(void);
void Default_Handler(void);
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("Default_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SecureFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

/* A Cortex-M vector table: initial stack pointer, then the 15 system
 * exception vectors, then the board's n peripheral interrupt vectors:
 *
 *     __attribute__((section(".isr_vector"), used))
 *     const struct { MT_VECTOR_TABLE_FIELDS(82u); } mt_vector_table = {
 *         MT_SYSTEM_VECTORS, { MT_REPEAT_64(Default_Handler), ... } };
 */
#define MT_VECTOR_TABLE_FIELDS(n_irqs) \
    void *initial_sp;                  \
    mt_vector_t system[15];            \
    mt_vector_t irq[n_irqs]

/* Exception 7 is SecureFault on ARMv8-M Mainline (Cortex-M33), reserved before. */
#if defined(__ARM_ARCH_8M_MAIN__)
#define MT_VECTOR_7 SecureFault_Handler
#else
#define MT_VECTOR_7 0
#endif

#define MT_SYSTEM_VECTORS                                                                  \
    &_estack,                                                                              \
    {                                                                                      \
        Reset_Handler, NMI_Handler, HardFault_Handler, MemManage_Handler, BusFault_Handler, \
            UsageFault_Handler, MT_VECTOR_7, 0, 0, 0, SVC_Handler, DebugMon_Handler, 0,     \
            PendSV_Handler, SysTick_Handler                                                \
    }

#define MT_REPEAT_2(x) x, x
#define MT_REPEAT_4(x) MT_REPEAT_2(x), MT_REPEAT_2(x)
#define MT_REPEAT_8(x) MT_REPEAT_4(x), MT_REPEAT_4(x)
#define MT_REPEAT_16(x) MT_REPEAT_8(x), MT_REPEAT_8(x)
#define MT_REPEAT_32(x) MT_REPEAT_16(x), MT_REPEAT_16(x)
#define MT_REPEAT_64(x) MT_REPEAT_32(x), MT_REPEAT_32(x)

void Reset_Handler(void)
{
    const uint32_t *src = &_sidata;
    volatile uint32_t *dst;

#if defined(__ARM_FP)
    /* Full access to CP10/CP11 (the FPU): code built for -mfloat-abi=hard may
     * touch FP registers; without this they fault. */
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20); /* SCB->CPACR */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif

    /* Stack painting (mt_stack.h): the peak stack use can be measured later. */
    mt_stack_paint();

    for (dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0u;
    }

    (void)main();

    /* main() of the product firmware never returns; tests end with
     * board_exit(). Returning here parks the CPU. */
    for (;;) {
        __asm__ volatile("wfi");
    }
}

void Default_Handler(void)
{
    /* An unexpected exception or fault. Semihosting builds (tests in QEMU)
     * end the emulator with a distinctive status instead of hanging. */
    board_exit(MT_EXIT_FAULT);
}

#endif /* MT_STARTUP_H */
