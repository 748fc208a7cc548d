/* Stack painting: the measured peak stack use (header with definitions).
 *
 * At reset, Reset_Handler (mt_startup.h) calls mt_stack_paint(): every word of the
 * stack region below the current stack pointer gets MT_STACK_PATTERN. Whatever the
 * program later pushes overwrites the pattern, so the deepest word that no longer
 * holds it marks the peak: mt_stack_peak_bytes() = top of the stack - that word.
 * Painting costs one store a word, once, at boot; nothing runs in the hot path.
 * The peak is read by a test (test/test_stack, in QEMU), by a debugger on a board
 * (the region is __stack_start .. __stack_end in the map file), or from a memory
 * dump of the emulator; the serial protocol does not carry it.
 *
 * The region comes from the linker script's __stack_start / __stack_end, referenced
 * weakly: a board whose script lacks them paints nothing and reports 0. Only ARM
 * builds paint; elsewhere (the host board) every function is a no-op returning 0.
 *
 * mt_stack_paint() is always inlined and paints strictly below the stack pointer of
 * its caller, so it never overwrites a live frame; a test may call it again to
 * measure one call: paint, call, then mt_stack_lowest_used().
 */
#ifndef MT_STACK_H
#define MT_STACK_H

#include <stdint.h>

#define MT_STACK_PATTERN 0x57AC57ACu

/* The lowest word in [lo, hi) that does not hold the pattern (hi if all do). */
static inline const uint32_t *mt_stack_first_unpainted(const uint32_t *lo, const uint32_t *hi)
{
    const volatile uint32_t *p = lo;
    while (p < hi && *p == MT_STACK_PATTERN) {
        p++;
    }
    return (const uint32_t *)p;
}

#if defined(__arm__)

extern uint32_t __stack_start __attribute__((weak)); /* lowest address of the stack region */
extern uint32_t __stack_end __attribute__((weak));   /* one past its highest: the initial SP */

static inline __attribute__((always_inline)) uintptr_t mt_stack_pointer(void)
{
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

/* Bytes of the stack region (0 when the linker script does not define it). */
static inline uint32_t mt_stack_region_bytes(void)
{
    if (&__stack_start == 0 || &__stack_end == 0) {
        return 0u;
    }
    return (uint32_t)((uintptr_t)&__stack_end - (uintptr_t)&__stack_start);
}

/* Fill the stack region below the caller's stack pointer with the pattern.
 * Volatile stores: the loop cannot become a memset call (whose frame would lie in
 * the painted area). */
static inline __attribute__((always_inline)) void mt_stack_paint(void)
{
    volatile uint32_t *p = &__stack_start;
    const uintptr_t sp = mt_stack_pointer() & ~(uintptr_t)3u;
    if (mt_stack_region_bytes() == 0u) {
        return;
    }
    while ((uintptr_t)p < sp) {
        *p++ = MT_STACK_PATTERN;
    }
}

/* The deepest stack address written since the last paint (the region's end if none). */
static inline uintptr_t mt_stack_lowest_used(void)
{
    if (mt_stack_region_bytes() == 0u) {
        return 0u;
    }
    return (uintptr_t)mt_stack_first_unpainted(&__stack_start, &__stack_end);
}

/* Peak stack use since the last paint, in bytes from the top of the stack. */
static inline uint32_t mt_stack_peak_bytes(void)
{
    if (mt_stack_region_bytes() == 0u) {
        return 0u;
    }
    return (uint32_t)((uintptr_t)&__stack_end - mt_stack_lowest_used());
}

#else /* not ARM: nothing to paint */

static inline uintptr_t mt_stack_pointer(void) { return 0u; }
static inline uint32_t mt_stack_region_bytes(void) { return 0u; }
static inline void mt_stack_paint(void) {}
static inline uintptr_t mt_stack_lowest_used(void) { return 0u; }
static inline uint32_t mt_stack_peak_bytes(void) { return 0u; }

#endif

#endif /* MT_STACK_H */
