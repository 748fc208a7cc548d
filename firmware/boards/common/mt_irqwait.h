/* Sleeping until a peripheral interrupt is pending, without an interrupt
 * handler (Cortex-M0/M3/M4, header only). Shared by the boards' UART drivers.
 *
 * The pattern ("wait for a pending interrupt with interrupts masked"):
 *   - board_init() sets PRIMASK (`cpsid i`) first and never clears it, so no
 *     peripheral interrupt handler ever runs (the vector table only holds
 *     Default_Handler, which would end the program);
 *   - the UART's receive interrupt is enabled in the peripheral and in the
 *     NVIC (ISER), so a received byte makes the NVIC pending bit go to 1;
 *   - `wfi` returns as soon as an enabled interrupt is pending, even while
 *     PRIMASK masks it (ARMv6-M / ARMv7-M architecture), so the core sleeps
 *     until a byte arrives instead of polling the status register;
 *   - the pending bit is never cleared by an exception entry (none happens),
 *     so software clears it (ICPR) before it goes back to sleep.
 *
 * A receive loop built on it must be race-free on real silicon:
 *
 *     while (!rx_ready()) {
 *         mt_irq_clear_pending(IRQ);   // forget wake-ups for bytes already read
 *         if (rx_ready()) break;       // a byte came in just before the clear
 *         mt_wfi();                    // sleeps only while nothing is pending
 *     }
 *
 * The flag is tested after the last clear and before every `wfi`, and nothing
 * clears the pending bit between that test and the `wfi`: a byte that arrives
 * after the test sets the pending bit, and `wfi` then returns at once (a
 * pending interrupt is never lost to the sleep). `wfi` may also return for no
 * reason (architecturally allowed); the loop then just tests again. On
 * silicon the NVIC treats peripheral interrupts as level-sensitive: clearing
 * the pending bit while the peripheral still asserts its line leaves it
 * pending, which costs at most one extra round of the loop. QEMU clears it
 * anyway and re-pends only on the next rising edge of the line; the test
 * after the clear covers that.
 */
#ifndef MT_IRQWAIT_H
#define MT_IRQWAIT_H

#include <stdint.h>

#define MT_NVIC_ISER(n) (*(volatile uint32_t *)(0xE000E100u + 4u * (uint32_t)(n)))
#define MT_NVIC_ICER(n) (*(volatile uint32_t *)(0xE000E180u + 4u * (uint32_t)(n)))
#define MT_NVIC_ICPR(n) (*(volatile uint32_t *)(0xE000E280u + 4u * (uint32_t)(n)))

/* PRIMASK = 1: no configurable interrupt is taken from here on (faults still
 * are, through HardFault). Call before enabling any interrupt. */
static inline void mt_irq_mask_all(void)
{
    __asm__ volatile("cpsid i" ::: "memory");
}

/* Let interrupt `irq` become pending (and wake `wfi`). */
static inline void mt_irq_enable(uint32_t irq)
{
    MT_NVIC_ICPR(irq >> 5) = 1u << (irq & 31u);
    MT_NVIC_ISER(irq >> 5) = 1u << (irq & 31u);
    __asm__ volatile("dsb" ::: "memory");
}

/* Stop interrupt `irq` from waking `wfi` (used before parking the core). */
static inline void mt_irq_disable(uint32_t irq)
{
    MT_NVIC_ICER(irq >> 5) = 1u << (irq & 31u);
    MT_NVIC_ICPR(irq >> 5) = 1u << (irq & 31u);
    __asm__ volatile("dsb" ::: "memory");
}

/* Clear the pending bit of `irq`; the DSB completes the write before the
 * caller tests the peripheral's flag again and sleeps. */
static inline void mt_irq_clear_pending(uint32_t irq)
{
    MT_NVIC_ICPR(irq >> 5) = 1u << (irq & 31u);
    __asm__ volatile("dsb" ::: "memory");
}

/* Sleep until an enabled interrupt is pending (or a spurious wake-up). */
static inline void mt_wfi(void)
{
    __asm__ volatile("wfi" ::: "memory");
}

#endif /* MT_IRQWAIT_H */
