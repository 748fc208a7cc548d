/* Unit tests of the generated training code, on the committed fixture model
 * test/fixtures/gen_small/ (64 binary inputs -> dense 16 ReLU -> dense 10;
 * tests/test_fixture_fresh.py keeps it in step with the generator).
 *
 * No expected output is hard-coded: every check is a property computed here
 * from the contract (docs/contracts.md, docs/arithmetic.md): determinism, the
 * digest being CRC-32 of the state bytes, the initialisation rule, the latent
 * range [-2^LW, 2^LW], inference leaving the state alone, zero inputs doing
 * nothing, and training learning a separable pattern. Runs on the host and in
 * QEMU. */
#include <stdint.h>

#include "../fixtures/gen_small/mt_model.h"
#include "crc.h"
#include "mt_test.h"

/* latent_bits = 16 (the default the fixture uses): LW = latent_bits - 2. */
#define LW 14
#define W_LIMIT (1L << LW)
/* activation_frac_bits = 8 (the fixture's default): 1.0 is 2^A. */
#define ACT_ONE 256u

#define N_WEIGHTS (MT_STATE_BYTES / 2u)
#define HALF_INPUTS (MT_N_INPUTS / 2u)

static uint8_t saved[MT_STATE_BYTES];
static uint8_t expected_state[MT_STATE_BYTES];
static uint8_t x[MT_INPUT_BYTES];
static uint8_t zeros[MT_INPUT_BYTES];

#define FAIL_AT(msg, a)                                     \
    do {                                                    \
        mt_test_fail_begin(__FILE__, __LINE__);             \
        mt_test_puts(msg);                                  \
        mt_test_puts(" (at ");                              \
        mt_test_put_u32((uint32_t)(a));                     \
        mt_test_puts(")");                                  \
        return;                                             \
    } while (0)

static uint32_t xorshift(uint32_t *s)
{
    uint32_t v = *s;
    v ^= v << 13;
    v ^= v >> 17;
    v ^= v << 5;
    *s = v;
    return v;
}

/* Latent weight k of the state, read as little-endian int16 (the contract's
 * byte order, whatever the CPU's). */
static int32_t weight(const uint8_t *state, uint32_t k)
{
    uint32_t u = (uint32_t)state[2u * k] | ((uint32_t)state[2u * k + 1u] << 8);
    return (int32_t)(int16_t)(uint16_t)u;
}

static void copy_state(uint8_t *dst)
{
    const uint8_t *s = mt_state_bytes();
    uint32_t i;
    for (i = 0; i < MT_STATE_BYTES; i++) {
        dst[i] = s[i];
    }
}

static int state_equals(const uint8_t *ref)
{
    const uint8_t *s = mt_state_bytes();
    uint32_t i;
    for (i = 0; i < MT_STATE_BYTES; i++) {
        if (s[i] != ref[i]) {
            return 0;
        }
    }
    return 1;
}

/* Index of the first weight outside [-2^LW, 2^LW], or N_WEIGHTS. */
static uint32_t first_out_of_range(void)
{
    const uint8_t *s = mt_state_bytes();
    uint32_t k;
    for (k = 0; k < N_WEIGHTS; k++) {
        int32_t w = weight(s, k);
        if (w < -W_LIMIT || w > W_LIMIT) {
            return k;
        }
    }
    return N_WEIGHTS;
}

static void set_bit(uint8_t *enc, uint32_t i)
{
    enc[i >> 3] = (uint8_t)(enc[i >> 3] | (1u << (i & 7u)));
}

static void random_input(uint8_t *enc, uint32_t *s)
{
    uint32_t i;
    for (i = 0; i < MT_INPUT_BYTES; i++) {
        enc[i] = (uint8_t)(xorshift(s) >> 24);
    }
}

/* A separable 2-class pattern ("bits" encoding): class 0 lights mostly the
 * first half of the inputs, class 1 mostly the second half; each input of the
 * own half is on with probability 3/4, of the other half with 1/8. */
static void pattern_input(uint8_t *enc, uint8_t label, uint32_t *s)
{
    uint32_t i;
    for (i = 0; i < MT_INPUT_BYTES; i++) {
        enc[i] = 0u;
    }
    for (i = 0; i < MT_N_INPUTS; i++) {
        uint32_t r = xorshift(s) >> 29; /* 0..7 */
        int own = (i < HALF_INPUTS) == (label == 0u);
        if (own ? r < 6u : r == 0u) {
            set_bit(enc, i);
        }
    }
}

/* Accuracy (out of n) of mt_infer on n fresh samples of the pattern. */
static uint32_t pattern_accuracy(uint32_t n, uint32_t seed)
{
    uint32_t s = seed, k, right = 0;
    for (k = 0; k < n; k++) {
        uint8_t label = (uint8_t)(k & 1u);
        pattern_input(x, label, &s);
        right += mt_infer(x) == label;
    }
    return right;
}

/* ------------------------------------------------------------------ tests */

static void test_fixture_is_the_expected_shape(void)
{
    MT_ASSERT_EQ_U32(8u, MT_INPUT_BYTES);       /* bits: one bit an input */
    MT_ASSERT_EQ_U32(MT_N_INPUTS, 8u * MT_INPUT_BYTES);
    MT_ASSERT(MT_N_CLASSES >= 2u);
    MT_ASSERT(MT_STATE_BYTES % 2u == 0u);
    MT_ASSERT(mt_state_bytes() != 0);
}

static void test_session_start_is_deterministic(void)
{
    uint32_t d1, p1;
    mt_session_start(1234u, 100u);
    d1 = mt_state_digest();
    p1 = mt_prng_state();
    copy_state(saved);
    mt_session_start(99u, 100u); /* something else in between */
    mt_session_start(1234u, 100u);
    MT_ASSERT_EQ_U32(d1, mt_state_digest());
    MT_ASSERT_EQ_U32(p1, mt_prng_state());
    MT_ASSERT(state_equals(saved));
}

static void test_different_seeds_give_different_states(void)
{
    static const uint32_t seeds[] = {1u, 2u, 3u, 42u, 1234u, 0x80000000u, 0xDEADBEEFu, 0xFFFFFFFFu};
    enum { N_SEEDS = sizeof seeds / sizeof seeds[0] };
    uint32_t digests[N_SEEDS];
    uint32_t i, j;
    for (i = 0; i < N_SEEDS; i++) {
        mt_session_start(seeds[i], 100u);
        digests[i] = mt_state_digest();
    }
    for (i = 0; i < N_SEEDS; i++) {
        for (j = i + 1u; j < N_SEEDS; j++) {
            if (digests[i] == digests[j]) {
                FAIL_AT("two seeds gave the same digest", i * 100u + j);
            }
        }
    }
    /* seed 0 is replaced by 1 (docs/arithmetic.md, section 3) */
    mt_session_start(0u, 100u);
    MT_ASSERT_EQ_U32(digests[0], mt_state_digest());
}

static void test_digest_is_crc32_of_state_bytes(void)
{
    uint32_t s = 5u, k;
    mt_session_start(777u, 50u);
    MT_ASSERT_EQ_U32(mt_crc32(0u, mt_state_bytes(), MT_STATE_BYTES), mt_state_digest());
    for (k = 0; k < 60u; k++) {
        random_input(x, &s);
        (void)mt_train_step(x, (uint8_t)(k % MT_N_CLASSES));
        if (mt_crc32(0u, mt_state_bytes(), MT_STATE_BYTES) != mt_state_digest()) {
            FAIL_AT("digest != CRC-32 of the state bytes after training step", k);
        }
    }
}

/* Initialisation rule (docs/arithmetic.md, section 7): one xorshift32 draw a
 * weight, in state order, W = (r & (2^(LW+1) - 1)) - 2^LW. */
static void test_init_follows_the_rule_and_range(void)
{
    static const uint32_t seeds[] = {1u, 1234u, 0xDEADBEEFu};
    uint32_t t;
    for (t = 0; t < sizeof seeds / sizeof seeds[0]; t++) {
        uint32_t s = seeds[t], k;
        int32_t lo = 0, hi = 0;
        mt_session_start(seeds[t], 100u);
        for (k = 0; k < N_WEIGHTS; k++) {
            int32_t w = (int32_t)(xorshift(&s) & ((2u << LW) - 1u)) - (int32_t)W_LIMIT;
            uint16_t u = (uint16_t)w;
            expected_state[2u * k] = (uint8_t)(u & 0xFFu);
            expected_state[2u * k + 1u] = (uint8_t)(u >> 8);
        }
        MT_ASSERT_EQ_U32(N_WEIGHTS, first_out_of_range());
        MT_ASSERT_MEM_EQ(expected_state, mt_state_bytes(), MT_STATE_BYTES);
        MT_ASSERT_EQ_U32(s, mt_prng_state());
        for (k = 0; k < N_WEIGHTS; k++) {
            int32_t w = weight(mt_state_bytes(), k);
            lo = w < lo ? w : lo;
            hi = w > hi ? w : hi;
        }
        /* spread over the range, both signs */
        MT_ASSERT(lo < -(W_LIMIT / 2) && hi > W_LIMIT / 2);
    }
}

static void test_training_keeps_weights_in_range(void)
{
    uint32_t s = 31u, k, bad;
    mt_session_start(4321u, 64u); /* lr decays every 64 steps, down to lr_min */
    for (k = 0; k < 400u; k++) {
        if (k & 1u) {
            random_input(x, &s);
        } else {
            uint32_t i;
            for (i = 0; i < MT_INPUT_BYTES; i++) {
                x[i] = 0xFFu; /* every input on: every row updated */
            }
        }
        if (mt_train_step(x, (uint8_t)(xorshift(&s) % MT_N_CLASSES)) >= MT_N_CLASSES) {
            FAIL_AT("prediction out of range", k);
        }
        bad = first_out_of_range();
        if (bad != N_WEIGHTS) {
            FAIL_AT("latent weight outside [-2^LW, 2^LW] after step", k);
        }
    }
}

static void test_training_is_deterministic(void)
{
    uint32_t s, k, d1, p1, h1;
    mt_session_start(2468u, 30u);
    s = 17u;
    for (k = 0; k < 100u; k++) {
        random_input(x, &s);
        (void)mt_train_step(x, (uint8_t)(k % MT_N_CLASSES));
    }
    d1 = mt_state_digest();
    p1 = mt_prng_state();
    h1 = mt_last_hinge();
    copy_state(saved);
    mt_session_start(2468u, 30u);
    s = 17u;
    for (k = 0; k < 100u; k++) {
        random_input(x, &s);
        (void)mt_train_step(x, (uint8_t)(k % MT_N_CLASSES));
    }
    MT_ASSERT_EQ_U32(d1, mt_state_digest());
    MT_ASSERT_EQ_U32(p1, mt_prng_state());
    MT_ASSERT_EQ_U32(h1, mt_last_hinge());
    MT_ASSERT(state_equals(saved));
}

static void test_infer_is_deterministic_and_keeps_state(void)
{
    uint32_t s = 8u, k, d, p;
    uint8_t first;
    mt_session_start(1357u, 100u);
    for (k = 0; k < 20u; k++) { /* move away from the initial state */
        random_input(x, &s);
        (void)mt_train_step(x, (uint8_t)(k % MT_N_CLASSES));
    }
    d = mt_state_digest();
    p = mt_prng_state();
    copy_state(saved);
    for (k = 0; k < 50u; k++) {
        random_input(x, &s);
        first = mt_infer(x);
        if (first >= MT_N_CLASSES) {
            FAIL_AT("inference result out of range", k);
        }
        if (mt_infer(x) != first || mt_infer(x) != first) {
            FAIL_AT("inference not deterministic", k);
        }
    }
    MT_ASSERT_EQ_U32(d, mt_state_digest());
    MT_ASSERT_EQ_U32(p, mt_prng_state()); /* inference draws nothing */
    MT_ASSERT(state_equals(saved));
}

/* All inputs zero: no active row, so no contribution, no update and no draw
 * (docs/arithmetic.md, section 4); every output is 0, so the prediction is
 * class 0 and the hinge is N_CLASSES * 2^A. */
static void test_zero_input_changes_nothing(void)
{
    uint32_t d, p;
    uint8_t label;
    mt_session_start(8642u, 1000u);
    d = mt_state_digest();
    p = mt_prng_state();
    copy_state(saved);
    MT_ASSERT_EQ_U32(0u, mt_infer(zeros));
    for (label = 0; label < MT_N_CLASSES; label++) {
        MT_ASSERT_EQ_U32(0u, mt_train_step(zeros, label));
        MT_ASSERT_EQ_U32(MT_N_CLASSES * ACT_ONE, mt_last_hinge());
        MT_ASSERT_EQ_U32(d, mt_state_digest());
        MT_ASSERT_EQ_U32(p, mt_prng_state());
    }
    MT_ASSERT(state_equals(saved));
}

/* Training on a separable two-class pattern raises the accuracy of mt_infer
 * on fresh samples from about chance to nearly all right. */
static void test_training_learns_a_separable_pattern(void)
{
    enum { N_TEST = 200, N_TRAIN = 1500 }; /* 20 of 20 session seeds tried reach 200/200 */
    uint32_t s = 0xACE1u, k, before, after, hinge_early = 0, hinge_late = 0;
    mt_session_start(1u, N_TRAIN);
    before = pattern_accuracy(N_TEST, 0x1111u);
    for (k = 0; k < N_TRAIN; k++) {
        uint8_t label = (uint8_t)(xorshift(&s) & 1u);
        pattern_input(x, label, &s);
        (void)mt_train_step(x, label);
        if (k < 100u) {
            hinge_early += mt_last_hinge();
        } else if (k >= N_TRAIN - 100u) {
            hinge_late += mt_last_hinge();
        }
    }
    after = pattern_accuracy(N_TEST, 0x1111u);
    if (!(after >= (N_TEST * 9u) / 10u)) {
        FAIL_AT("accuracy after training below 90% (of 200)", after);
    }
    if (!(after > before + N_TEST / 5u)) {
        FAIL_AT("training did not raise the accuracy by 20 points; before", before);
    }
    if (!(hinge_late < hinge_early)) {
        FAIL_AT("mean hinge did not fall; late sum", hinge_late);
    }
}

int main(void)
{
    MT_TEST_BEGIN();
    MT_RUN(test_fixture_is_the_expected_shape);
    MT_RUN(test_session_start_is_deterministic);
    MT_RUN(test_different_seeds_give_different_states);
    MT_RUN(test_digest_is_crc32_of_state_bytes);
    MT_RUN(test_init_follows_the_rule_and_range);
    MT_RUN(test_training_keeps_weights_in_range);
    MT_RUN(test_training_is_deterministic);
    MT_RUN(test_infer_is_deterministic_and_keeps_state);
    MT_RUN(test_zero_input_changes_nothing);
    MT_RUN(test_training_learns_a_separable_pattern);
    MT_TEST_END();
    return 0;
}
