/*
 * TEST DOUBLE of the generated model (fake_include/mt_model.h). It trains
 * nothing; its behaviour is chosen so the protocol tests can predict every
 * field the device sends:
 *   mt_train_step(x, label): prediction = x[0] if x[0] < MT_N_CLASSES else label;
 *                            hinge of that step = x[1] (samples over 251 bytes, sent
 *                            in parts: CRC-32 of the whole sample); steps++;
 *                            state byte i = (uint8_t)(i + steps).
 *   mt_infer(x):             x[0] if x[0] < MT_N_CLASSES else 0 (samples over 251
 *                            bytes: else the last byte & 7).
 *   mt_prng_state():         seed + steps.
 *   mt_state_digest():       CRC-32 (zlib) of the state bytes.
 */
#include "mt_model.h"
#include "crc.h"

static uint8_t state[MT_STATE_BYTES];
static uint32_t seed_;
static uint32_t steps;
static uint32_t hinge;

static void fill_state(void)
{
    uint32_t i;
    for (i = 0; i < MT_STATE_BYTES; i++) {
        state[i] = (uint8_t)(i + steps);
    }
}

void mt_session_start(uint32_t seed, uint32_t samples_per_epoch)
{
    (void)samples_per_epoch;
    seed_ = seed;
    steps = 0;
    hinge = 0;
    fill_state();
}

uint8_t mt_train_step(const uint8_t *x_enc, uint8_t label)
{
    uint8_t pred = x_enc[0] < MT_N_CLASSES ? x_enc[0] : label;
#if MT_INPUT_BYTES > 251
    hinge = mt_crc32(0u, x_enc, MT_INPUT_BYTES);
#else
    hinge = x_enc[1];
#endif
    steps++;
    fill_state();
    return pred;
}

uint8_t mt_infer(const uint8_t *x_enc)
{
#if MT_INPUT_BYTES > 251
    return x_enc[0] < MT_N_CLASSES ? x_enc[0] : (uint8_t)(x_enc[MT_INPUT_BYTES - 1] & 7u);
#else
    return x_enc[0] < MT_N_CLASSES ? x_enc[0] : 0u;
#endif
}

uint32_t mt_state_digest(void)
{
    return mt_crc32(0u, state, MT_STATE_BYTES);
}

const uint8_t *mt_state_bytes(void)
{
    return state;
}

uint32_t mt_prng_state(void)
{
    return seed_ + steps;
}

uint32_t mt_last_hinge(void)
{
    return hinge;
}

/* Checkpoints: sched = seed, steps, 0, 0 (u32 LE). Restoring sets steps and
 * keeps the uploaded state bytes as they are. */
static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void mt_sched_save(uint8_t *out)
{
    put_le32(out, seed_);
    put_le32(out + 4, steps);
    put_le32(out + 8, 0u);
    put_le32(out + 12, 0u);
}

void mt_sched_load(const uint8_t *in)
{
    seed_ = get_le32(in);
    steps = get_le32(in + 4);
}

uint8_t *mt_state_buffer(void)
{
    return state;
}
