/* mt_test.h: a header-only unit-test kit for mcutrain's C code.
 *
 * Runs the same on the host (mcutrain-host platform) and on a board in QEMU
 * (output through board_uart_putc, end through board_exit(), which uses
 * semihosting in test builds so QEMU exits with the status).
 *
 * Output, one line each, parsed by test/test_custom_runner.py:
 *     TEST <name> PASS
 *     TEST <name> FAIL <file>:<line> <message>
 *     SUMMARY <n> passed, <m> failed
 * A suite ends with exit status 0 if every test passed, else 1.
 *
 * Usage (test/test_<suite>/test_main.c):
 *     #include "mt_test.h"
 *     static void test_something(void) { MT_ASSERT_EQ_U32(4u, 2u + 2u); }
 *     int main(void) {
 *         MT_TEST_BEGIN();
 *         MT_RUN(test_something);
 *         MT_TEST_END();          // exits; does not return
 *     }
 * An assertion that fails ends the test function (return); the rest of the
 * suite still runs. No heap, no printf: usable on any board.
 */
#ifndef MT_TEST_H
#define MT_TEST_H

#include <stdint.h>

#include "board.h"

typedef struct {
    uint32_t passed;
    uint32_t failed;
    int current_failed;
} mt_test_state_t;

static inline mt_test_state_t *mt_test_state(void)
{
    static mt_test_state_t state;
    return &state;
}

static inline void mt_test_puts(const char *s)
{
    while (*s != '\0') {
        board_uart_putc((uint8_t)*s++);
    }
}

static inline void mt_test_put_u32(uint32_t v)
{
    char buf[11];
    int i = 10;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + (v % 10u));
        v /= 10u;
    } while (v != 0u);
    mt_test_puts(&buf[i]);
}

static inline void mt_test_put_i32(int32_t v)
{
    if (v < 0) {
        board_uart_putc('-');
        mt_test_put_u32((uint32_t)0 - (uint32_t)v);
    } else {
        mt_test_put_u32((uint32_t)v);
    }
}

static inline void mt_test_put_hex(uint32_t v)
{
    static const char digits[] = "0123456789ABCDEF";
    int shift;
    mt_test_puts("0x");
    for (shift = 28; shift >= 0; shift -= 4) {
        board_uart_putc((uint8_t)digits[(v >> shift) & 0xFu]);
    }
}

/* Report a failure of the current test (first one only is printed). */
static inline void mt_test_fail_begin(const char *file, int line)
{
    const char *base = file;
    const char *p;
    for (p = file; *p != '\0'; p++) {
        if (*p == '/' || *p == '\\') {
            base = p + 1;
        }
    }
    mt_test_state()->current_failed = 1;
    mt_test_puts(" FAIL ");
    mt_test_puts(base);
    board_uart_putc(':');
    mt_test_put_u32((uint32_t)line);
    board_uart_putc(' ');
}

static inline void mt_test_run(const char *name, void (*fn)(void))
{
    mt_test_state_t *st = mt_test_state();
    st->current_failed = 0;
    mt_test_puts("TEST ");
    mt_test_puts(name);
    fn();
    if (st->current_failed) {
        st->failed++;
        board_uart_putc('\n');
    } else {
        st->passed++;
        mt_test_puts(" PASS\n");
    }
}

static inline void mt_test_end(void)
{
    mt_test_state_t *st = mt_test_state();
    mt_test_puts("SUMMARY ");
    mt_test_put_u32(st->passed);
    mt_test_puts(" passed, ");
    mt_test_put_u32(st->failed);
    mt_test_puts(" failed\n");
    board_exit(st->failed == 0u ? 0 : 1);
}

/* ---- the macros tests use ------------------------------------------------ */

#define MT_TEST_BEGIN() board_init()
#define MT_TEST_END() mt_test_end()
#define MT_RUN(fn) mt_test_run(#fn, fn)

/* Fail the current test with a message and leave it. */
#define MT_FAIL(msg)                                  \
    do {                                              \
        mt_test_fail_begin(__FILE__, __LINE__);       \
        mt_test_puts(msg);                            \
        return;                                       \
    } while (0)

#define MT_ASSERT(cond)                               \
    do {                                              \
        if (!(cond)) {                                \
            MT_FAIL("assertion failed: " #cond);      \
        }                                             \
    } while (0)

#define MT_ASSERT_MSG(cond, msg)                      \
    do {                                              \
        if (!(cond)) {                                \
            MT_FAIL(msg);                             \
        }                                             \
    } while (0)

/* Unsigned compare, values printed in hex. */
#define MT_ASSERT_EQ_U32(expected, actual)                                  \
    do {                                                                    \
        uint32_t mt_e_ = (uint32_t)(expected);                              \
        uint32_t mt_a_ = (uint32_t)(actual);                                \
        if (mt_e_ != mt_a_) {                                               \
            mt_test_fail_begin(__FILE__, __LINE__);                         \
            mt_test_puts(#actual ": expected ");                           \
            mt_test_put_hex(mt_e_);                                         \
            mt_test_puts(" got ");                                          \
            mt_test_put_hex(mt_a_);                                         \
            return;                                                         \
        }                                                                   \
    } while (0)

/* Signed compare, values printed in decimal. */
#define MT_ASSERT_EQ_I32(expected, actual)                                  \
    do {                                                                    \
        int32_t mt_e_ = (int32_t)(expected);                                \
        int32_t mt_a_ = (int32_t)(actual);                                  \
        if (mt_e_ != mt_a_) {                                               \
            mt_test_fail_begin(__FILE__, __LINE__);                         \
            mt_test_puts(#actual ": expected ");                           \
            mt_test_put_i32(mt_e_);                                         \
            mt_test_puts(" got ");                                          \
            mt_test_put_i32(mt_a_);                                         \
            return;                                                         \
        }                                                                   \
    } while (0)

/* Byte-wise compare of n bytes; reports the first differing index. */
#define MT_ASSERT_MEM_EQ(expected, actual, n)                               \
    do {                                                                    \
        const uint8_t *mt_pe_ = (const uint8_t *)(expected);                \
        const uint8_t *mt_pa_ = (const uint8_t *)(actual);                  \
        uint32_t mt_i_;                                                     \
        for (mt_i_ = 0; mt_i_ < (uint32_t)(n); mt_i_++) {                   \
            if (mt_pe_[mt_i_] != mt_pa_[mt_i_]) {                           \
                mt_test_fail_begin(__FILE__, __LINE__);                     \
                mt_test_puts(#actual " differs at byte ");                 \
                mt_test_put_u32(mt_i_);                                     \
                mt_test_puts(": expected ");                                \
                mt_test_put_hex(mt_pe_[mt_i_]);                             \
                mt_test_puts(" got ");                                      \
                mt_test_put_hex(mt_pa_[mt_i_]);                             \
                return;                                                     \
            }                                                               \
        }                                                                   \
    } while (0)

#endif /* MT_TEST_H */
