/*
 * TEST DOUBLE of the generated generated/mt_model.h (docs/contracts.md),
 * used to test the serial protocol (firmware/core/main.c) without a real
 * model. Behaviour, see fake_model.c.
 */
#ifndef MT_MODEL_H
#define MT_MODEL_H
#include <stdint.h>

#define MT_MODEL_HASH   "fa6e0de1fa6e0de1"
/* -DFAKE_INPUT_BYTES=N builds a fake model with N-byte samples (over 251: split into sample parts). */
#ifndef FAKE_INPUT_BYTES
#define FAKE_INPUT_BYTES 98
#endif
#define MT_INPUT_BYTES  FAKE_INPUT_BYTES
#define MT_N_INPUTS     784
#define MT_N_CLASSES    10
#define MT_STATE_BYTES  500u
#define MT_SCHED_BYTES  16u

void     mt_session_start(uint32_t seed, uint32_t samples_per_epoch);
uint8_t  mt_train_step(const uint8_t *x_enc, uint8_t label);
uint8_t  mt_infer(const uint8_t *x_enc);
uint32_t mt_state_digest(void);
const uint8_t *mt_state_bytes(void);
uint32_t mt_prng_state(void);
uint32_t mt_last_hinge(void);
/* Checkpoints (protocol `C`/`K`): the schedule state is MT_SCHED_BYTES bytes,
 * u32 LE each: PRNG state, learning-rate exponent, decay countdown, and the
 * float learning rate's bits (0 in integer modes). mt_state_buffer() is the
 * writable view of the state bytes, for restoring them. */
void     mt_sched_save(uint8_t *out);
void     mt_sched_load(const uint8_t *in);
uint8_t *mt_state_buffer(void);
#endif
