/* Measured stack use (stack painting, firmware/boards/common/mt_stack.h) of the generated
 * training code, on the committed fixture model test/fixtures/gen_small/.
 *
 * Reset_Handler painted the stack at boot. Each measurement paints again below the
 * current stack pointer, calls one entry point of the model, and finds the deepest
 * overwritten word: the bytes that call used, its callees included. After the tests,
 * main() prints one line per entry point,
 *     STACK <entry> <bytes>
 * and "STACK boot_peak <bytes>" (the peak from reset to the first measurement), which
 * tests/test_stack.py compares with the static estimate (mcutrain/codegen/stack.py).
 * On the host board nothing is painted: those tests report SKIP. */
#include <stdint.h>

#include "../../firmware/boards/common/mt_stack.h"
#include "../fixtures/gen_small/mt_model.h"
#include "mt_test.h"

static uint32_t words[16];

/* The scan itself, on an ordinary array (every board, the host included). */
static void test_scan_finds_the_deepest_written_word(void)
{
    uint32_t i;
    for (i = 0; i < 16u; i++) {
        words[i] = MT_STACK_PATTERN;
    }
    MT_ASSERT(mt_stack_first_unpainted(words, words + 16) == words + 16);
    words[11] = 0u;
    MT_ASSERT(mt_stack_first_unpainted(words, words + 16) == words + 11);
    words[5] = MT_STACK_PATTERN ^ 1u;
    words[3] = 0x12345678u;
    MT_ASSERT(mt_stack_first_unpainted(words, words + 16) == words + 3);
    MT_ASSERT(mt_stack_first_unpainted(words + 4, words + 4) == words + 4);
}

#if defined(__arm__)

static uint8_t x[MT_INPUT_BYTES];
static uint32_t boot_peak;
static uint32_t used_start, used_train, used_infer, used_digest;

static uint32_t xorshift(uint32_t *s)
{
    uint32_t v = *s;
    v ^= v << 13;
    v ^= v >> 17;
    v ^= v << 5;
    *s = v;
    return v;
}

static void random_input(uint32_t *s)
{
    uint32_t i;
    for (i = 0; i < MT_INPUT_BYTES; i++) {
        x[i] = (uint8_t)(xorshift(s) >> 24);
    }
}

/* Bytes used by `call`, measured from the caller's stack pointer. */
#define MEASURE(result, call)                                       \
    do {                                                            \
        const uintptr_t sp_ = mt_stack_pointer();                   \
        mt_stack_paint();                                           \
        call;                                                       \
        (result) = (uint32_t)(sp_ - mt_stack_lowest_used());        \
    } while (0)

static void test_boot_painted_the_stack(void)
{
    const uint32_t region = mt_stack_region_bytes();
    MT_ASSERT_MSG(region > 0u, "the linker script defines no __stack_start/__stack_end");
    boot_peak = mt_stack_peak_bytes();
    MT_ASSERT(boot_peak > 0u);                 /* startup, main and the test runner pushed something */
    MT_ASSERT(boot_peak < region);             /* and the bottom of the region still holds the pattern */
    MT_ASSERT(mt_stack_lowest_used() > (uintptr_t)&__stack_start);
}

static void test_each_entry_point_is_measured(void)
{
    uint32_t s = 11u, k, pred = 0u;
    MEASURE(used_start, mt_session_start(3u, 100u));
    used_train = 0u;
    for (k = 0; k < 40u; k++) {                /* the deepest of many steps (data-dependent paths) */
        uint32_t u;
        random_input(&s);
        MEASURE(u, pred += mt_train_step(x, (uint8_t)(k % MT_N_CLASSES)));
        used_train = u > used_train ? u : used_train;
    }
    used_infer = 0u;
    for (k = 0; k < 10u; k++) {
        uint32_t u;
        random_input(&s);
        MEASURE(u, pred += mt_infer(x));
        used_infer = u > used_infer ? u : used_infer;
    }
    MEASURE(used_digest, pred += mt_state_digest());
    MT_ASSERT(pred != 0xFFFFFFFFu);            /* keep the results alive */
    MT_ASSERT(used_start > 0u && used_train > 0u && used_infer > 0u);
    /* the digest is a tail call into the runtime's table-driven mt_crc32 (firmware/core/crc.c), a leaf
     * that may push nothing at all: measured, it needs a few words at most */
    MT_ASSERT(used_digest < 64u);
    /* the generated code has no large locals: a training step needs a few hundred bytes at most */
    MT_ASSERT(used_train < 512u && used_infer <= used_train + 64u && used_start < 512u);
}

static void test_paint_leaves_the_live_frames_alone(void)
{
    volatile uint32_t canary = 0xC0FFEEu;
    mt_stack_paint();
    MT_ASSERT_EQ_U32(0xC0FFEEu, canary);
}

static void put_line(const char *what, uint32_t bytes)
{
    mt_test_puts("STACK ");
    mt_test_puts(what);
    board_uart_putc(' ');
    mt_test_put_u32(bytes);
    board_uart_putc('\n');
}

#endif

int main(void)
{
    MT_TEST_BEGIN();
#if defined(__arm__)
    MT_RUN(test_boot_painted_the_stack);
#endif
    MT_RUN(test_scan_finds_the_deepest_written_word);
#if defined(__arm__)
    MT_RUN(test_each_entry_point_is_measured);
    MT_RUN(test_paint_leaves_the_live_frames_alone);
    put_line("boot_peak", boot_peak);
    put_line("mt_session_start", used_start);
    put_line("mt_train_step", used_train);
    put_line("mt_infer", used_infer);
    put_line("mt_state_digest", used_digest);
#else
    mt_test_puts("TEST test_each_entry_point_is_measured SKIP no stack painting on this board\n");
#endif
    MT_TEST_END();
    return 0;
}
