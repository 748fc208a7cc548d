/* mcutrain.c - the library API (mcutrain.h) over the generated model and the state store. */
#include "mcutrain.h"

#include <stddef.h>

static uint8_t started;
static uint32_t seed_;
static uint32_t per_epoch;
static const uint8_t *init_state;
static uint32_t samples;
static uint8_t sched[MT_SCHED_BYTES];
static uint8_t counter[4];
static mt_store store;
static const mt_storage *bound;

static void restart(void)
{
    uint8_t *dst = mt_state_buffer();
    uint32_t i;
    mt_session_start(seed_, per_epoch);
    if (init_state != NULL) {
        for (i = 0; i < (uint32_t)(MT_STATE_BYTES); i++) {
            dst[i] = init_state[i];
        }
    }
    samples = 0u;
}

int mcutrain_init(uint32_t seed, uint32_t samples_per_epoch, const uint8_t *state)
{
    if (samples_per_epoch == 0u) {
        return MCUTRAIN_E_ARG;
    }
    seed_ = seed;
    per_epoch = samples_per_epoch;
    init_state = state; /* kept by pointer: a failed load goes back to it */
    restart();
    started = 1u;
    return MCUTRAIN_OK;
}

int mcutrain_train(const uint8_t *x_enc, uint8_t label)
{
    if (!started) {
        return MCUTRAIN_E_INIT;
    }
    if (x_enc == NULL || label >= (uint8_t)(MT_N_CLASSES)) {
        return MCUTRAIN_E_ARG;
    }
    samples++;
    return (int)mt_train_step(x_enc, label);
}

int mcutrain_infer(const uint8_t *x_enc)
{
    if (!started) {
        return MCUTRAIN_E_INIT;
    }
    if (x_enc == NULL) {
        return MCUTRAIN_E_ARG;
    }
    return (int)mt_infer(x_enc);
}

uint32_t mcutrain_last_loss(void)
{
    return mt_last_hinge();
}

uint32_t mcutrain_samples(void)
{
    return samples;
}

uint32_t mcutrain_saved_seq(void)
{
    return store.seq;
}

static int bind(const mt_storage *dev)
{
    if (!started) {
        return MCUTRAIN_E_INIT;
    }
    if (dev == NULL) {
        return MCUTRAIN_E_ARG;
    }
    if (bound == NULL) {
        int rc = mt_store_init(&store, dev, MT_MODEL_HASH, MCUTRAIN_PAYLOAD_BYTES);
        if (rc != MT_STORE_OK) {
            return rc;
        }
        bound = dev;
    }
    return bound == dev ? MCUTRAIN_OK : MCUTRAIN_E_DEVICE;
}

int mcutrain_save(const mt_storage *dev)
{
    mt_store_cseg out[3];
    int rc = bind(dev);
    if (rc != MCUTRAIN_OK) {
        return rc;
    }
    mt_sched_save(sched);
    counter[0] = (uint8_t)samples;
    counter[1] = (uint8_t)(samples >> 8);
    counter[2] = (uint8_t)(samples >> 16);
    counter[3] = (uint8_t)(samples >> 24);
    out[0].ptr = mt_state_bytes();
    out[0].len = MT_STATE_BYTES;
    out[1].ptr = sched;
    out[1].len = MT_SCHED_BYTES;
    out[2].ptr = counter;
    out[2].len = 4u;
    return mt_store_save(&store, out, 3u);
}

int mcutrain_load(const mt_storage *dev)
{
    mt_store_seg in[3];
    int rc = bind(dev);
    if (rc != MCUTRAIN_OK) {
        return rc;
    }
    in[0].ptr = mt_state_buffer();
    in[0].len = MT_STATE_BYTES;
    in[1].ptr = sched;
    in[1].len = MT_SCHED_BYTES;
    in[2].ptr = counter;
    in[2].len = 4u;
    rc = mt_store_load(&store, in, 3u);
    if (rc == MT_STORE_OK) {
        mt_sched_load(sched);
        samples = (uint32_t)counter[0] | ((uint32_t)counter[1] << 8) | ((uint32_t)counter[2] << 16) |
                  ((uint32_t)counter[3] << 24);
        return MCUTRAIN_OK;
    }
    if (rc != MT_STORE_EMPTY) {
        restart(); /* the buffers may hold part of a state: back to the init state */
    }
    return rc == MT_STORE_EMPTY ? MCUTRAIN_EMPTY : rc;
}

const char *mcutrain_strerror(int code)
{
    switch (code) {
    case MCUTRAIN_E_ARG:
        return "bad argument (NULL pointer, samples_per_epoch 0 or label out of range)";
    case MCUTRAIN_E_INIT:
        return "mcutrain_init was not called";
    case MCUTRAIN_E_DEVICE:
        return "another storage device than the one of the first save/load";
    default:
        return mt_store_strerror(code);
    }
}
