/* Start-up code for the STM32F405 (Netduino Plus 2; QEMU machine netduinoplus2).
 *
 * Vector table, Reset_Handler (FPU on, .data copied from flash, .bss zeroed,
 * then main()), and fault handlers. No heap, no C library start files.
 */
#include <stdint.h>

#include "board.h"

extern uint32_t _sidata; /* load address of .data in flash */
extern uint32_t _sdata;
extern uint32_t _edata;
extern uint32_t _sbss;
extern uint32_t _ebss;
extern uint32_t _estack; /* top of the stack: end of RAM */

extern int main(void);

void Reset_Handler(void);
void Default_Handler(void);

/* Cortex-M system exceptions: weak aliases, overridable by name. */
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("Default_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*mt_vector_t)(void);

#define MT_N_IRQS 82u /* STM32F405/407 peripheral interrupts */

/* The firmware enables no interrupt; every peripheral vector points to
 * Default_Handler so a stray one is caught rather than jumping to 0. */
__attribute__((section(".isr_vector"), used))
const mt_vector_t mt_vector_table[16u + MT_N_IRQS] = {
    (mt_vector_t)&_estack,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0,
    0,
    0,
    0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
    [16 ... 16u + MT_N_IRQS - 1u] = Default_Handler,
};

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void)
{
    uint32_t *src;
    uint32_t *dst;

    /* Full access to CP10/CP11 (the FPU): code built for -mfloat-abi=hard may
     * touch FP registers; without this they fault. */
    SCB_CPACR |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");

    src = &_sidata;
    for (dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0u;
    }

    (void)main();

    /* main() of the product firmware never returns; tests end with
     * board_exit(). Returning here keeps the CPU parked. */
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
