/* mt_runtime.h: the helpers every generated model (templates/, every .c.j2) shares, written once
 * (like nanopb's pb_common.c): the PRNG step, rounding and saturation, the stochastic rounding of an
 * update, little-endian words and the schedule words of a checkpoint. The state digest is
 * mt_crc32 (crc.h, crc.c). Everything here is `static inline` and free of model constants, so the
 * kernels compile to the same instructions as when each helper was written into the generated file;
 * docs/arithmetic.md is the contract each one implements. No multiplication, no division. */
#ifndef MT_RUNTIME_H
#define MT_RUNTIME_H

#include <stdint.h>
#include "crc.h"

/* xorshift32 (13, 17, 5): three shift/xor pairs, no multiply (docs/arithmetic.md, section 3). */
static inline uint32_t mt_xorshift32(uint32_t s)
{
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
}

/* v * 2^k for k >= 0, round(v / 2^-k) (half up) for k < 0. */
static inline int32_t mt_shift_round(int32_t v, int32_t k)
{
    if (k >= 0)
        return (int32_t)((uint32_t)v << k);
    return (v + (int32_t)(1u << (-k - 1))) >> -k;
}

static inline int32_t mt_clamp32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* floor(log2 x) for x >= 1 (CLZ). */
static inline int32_t mt_msb_index(uint32_t x)
{
    return 31 - __builtin_clz(x);
}

/* Saturate v to [-2^b, 2^b - 1] (b a constant): one SSAT where the core has it (no multiply),
 * otherwise one unsigned compare; both give the same bits. */
static inline int32_t mt_sat_pow2(int32_t v, int32_t b)
{
    if ((uint32_t)v + (1u << b) > (2u << b) - 1u)
        v = (v >> 31) ^ (int32_t)((1u << b) - 1u);    /* -2^b below, 2^b - 1 above */
    return v;
}
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT
#include <arm_acle.h>
#define MT_SAT_POW2(v, b) ((int32_t)__ssat((v), (b) + 1))
#else
#define MT_SAT_POW2(v, b) mt_sat_pow2((v), (b))
#endif

/* No instruction: hides v's value from the optimizer at this point. GCC may otherwise re-derive one loop
 * induction variable from another by a multiplication (seen: r0 = 368 * ih0 in a 23-channel conv at -O2 on the
 * Cortex-M33), which the multiply check rightly finds; the conv kernels mark their running offsets with it. */
#define MT_OPAQUE(v) __asm__("" : "+r"(v))

/* Stochastic power-of-two rounding of x > 0 (docs/arithmetic.md, section 5). r is the row's draw.
 * Returns the exponent in [ex_min, ex_max], or -1 when x rounds to zero (below 2^ex_min). */
static inline int32_t mt_quantize_pow2(uint32_t x, uint32_t r, int32_t ex_min, int32_t ex_max)
{
    int32_t k = mt_msb_index(x);
    if (k < ex_min)
        return (r & ((1u << ex_min) - 1u)) < x ? ex_min : -1;
    {
        int32_t ex = k + ((r & ((1u << k) - 1u)) < (x - (1u << k)) ? 1 : 0);
        return ex > ex_max ? ex_max : ex;
    }
}

/* ---- the rounding of an update (docs/arithmetic.md, section 5), the one place it is written ----
 * Nearest: d * 2^-s, s >= 1, rounded half up = (d + half) >> s with half = 2^(s-1).
 * Stochastic: add a uniform draw below 2^s, then shift (unbiased). One 32-bit draw r serves two
 * outputs: the draw of section 5, (r16 >> max(16 - s, 0)) << max(s - 16, 0), is the 16-bit half placed
 * at the top of a word and shifted right by q = 32 - s: (r << 16) >> q for the low half, and
 * (r & hi) >> q for the high half, hi masking the low half off when s > 16. */
static inline int32_t mt_round_nearest(int32_t d, int32_t half, int32_t s)
{
    return (d + half) >> s;
}

static inline uint32_t mt_round_hi_mask(int32_t s)
{
    return s > 16 ? 0xFFFF0000u : 0xFFFFFFFFu;
}

static inline int32_t mt_round_lo(int32_t d, uint32_t r, uint32_t q, int32_t s)
{
    return (d + (int32_t)((r << 16) >> q)) >> s;
}

static inline int32_t mt_round_hi(int32_t d, uint32_t r, uint32_t q, uint32_t hi, int32_t s)
{
    return (d + (int32_t)((r & hi) >> q)) >> s;
}

/* ---- little-endian words (the state, checkpoints and messages) ---- */
static inline void mt_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t mt_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* ---- the schedule words of a checkpoint (docs/protocol.md, `C` and `K`; MT_SCHED_BYTES = 16) ----
 * PRNG state, learning-rate exponent, decay countdown, and one word the model uses as it needs
 * (epoch_left with mini-batches, the float learning rate in float32 mode, else 0). */
static inline void mt_sched_put(uint8_t *out, uint32_t rng, int32_t lr_exp, uint32_t countdown, uint32_t word3)
{
    mt_put_le32(out, rng);
    mt_put_le32(out + 4, (uint32_t)lr_exp);
    mt_put_le32(out + 8, countdown);
    mt_put_le32(out + 12, word3);
}

static inline uint32_t mt_sched_get(const uint8_t *in, uint32_t *rng, int32_t *lr_exp, uint32_t *countdown)
{
    *rng = mt_get_le32(in);
    *lr_exp = (int32_t)mt_get_le32(in + 4);
    *countdown = mt_get_le32(in + 8);
    return mt_get_le32(in + 12);
}

#endif /* MT_RUNTIME_H */
