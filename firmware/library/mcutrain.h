/* mcutrain.h - the generated trainer as a library inside your own firmware.
 *
 * Written by `mcutrain generate MODEL --library DIR` next to the model's
 * generated C (mt_model.c/.h), the shared runtime (mt_runtime.h, crc.c) and the
 * state store (mt_store.c, mt_storage.h). Nothing here talks to a PC: you feed
 * samples your device collects, and keep what it learned in your own flash.
 *
 * The calls (return codes below):
 *   mcutrain_init(seed, samples_per_epoch, state)   start: weights from the seeded PRNG
 *                                                   (state NULL) or pretrained state bytes
 *   mcutrain_train(x, label)                        one training step on one sample
 *   mcutrain_infer(x)                               the predicted class, weights unchanged
 *   mcutrain_last_loss()                            hinge loss of the last training step
 *   mcutrain_save(dev) / mcutrain_load(dev)         the learned state through the state store
 *                                                   on YOUR storage device (mt_storage.h)
 * Inputs are encoded as the model's data encoding says (MT_INPUT_BYTES bytes;
 * for "bits": one bit a pixel, little-endian bit order, as np.packbits(...,
 * bitorder="little")); labels are 0 .. MT_N_CLASSES-1.
 *
 * Saved payload (MCUTRAIN_PAYLOAD_BYTES): the state bytes (latent weights,
 * biases, batch-norm statistics; MT_STATE_BYTES), the schedule bytes (PRNG,
 * learning rate, decay countdown; MT_SCHED_BYTES) and the samples trained (u32
 * LE): what the serial protocol's checkpoint holds. Two slots written alternately,
 * each with the model hash, a sequence number and CRC-32s: a reset or a power cut
 * during a save leaves the previous complete state loadable (docs/storage.md).
 * The device needs MCUTRAIN_STORE_BLOCKS(block_size) erase blocks.
 *
 * Memory: no heap. Every buffer is static and sized by the generator (the
 * manifest.json beside this header lists them and the stack estimate); the
 * store adds one MT_STORE_CHUNK-byte buffer.
 *
 * Re-entrancy and interrupts: the library has ONE model and ONE store, in static
 * memory. None of the calls is re-entrant: call them all from one thread (your
 * main loop or one RTOS task), never from an interrupt handler, and never two at
 * once. Collect samples in an interrupt if you like, copy them to a buffer of
 * your own, and call mcutrain_train from the thread. mcutrain_infer reads the
 * weights that mcutrain_train writes, so it must not interrupt it either. The
 * calls do not disable interrupts and use no interrupt, timer or peripheral;
 * mcutrain_save/load call only your mt_storage functions. A training step has
 * no unbounded loop (its time grows with the model's size; BENCHMARKS.md has
 * cycles per sample by board); a save erases and programs one slot (your chip's
 * flash erase time: often tens of ms to seconds).
 * C99; arithmetic with additions, sign flips and shifts only in the training and
 * inference kernels (the multiply check of `mcutrain generate --library`).
 */
#ifndef MCUTRAIN_H
#define MCUTRAIN_H

#include <stdint.h>

#include "mt_model.h"
#include "mt_storage.h"
#include "mt_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MCUTRAIN_PAYLOAD_BYTES ((MT_STATE_BYTES) + (MT_SCHED_BYTES) + 4u)
/* Bytes of one slot of the store, and erase blocks the device needs (two slots). */
#define MCUTRAIN_SLOT_BYTES (MT_STORE_HEADER_BYTES + MCUTRAIN_PAYLOAD_BYTES + MT_STORE_COMMIT_BYTES)
#define MCUTRAIN_STORE_BLOCKS(block_size) (2u * ((MCUTRAIN_SLOT_BYTES + (block_size) - 1u) / (block_size)))

/* Return codes: MCUTRAIN_OK, MCUTRAIN_EMPTY (load: nothing saved yet), and
 * the store's negative codes (mt_store.h: MT_STORE_E_IO, _CONFIG, _MODEL, ...),
 * plus these. mcutrain_strerror() gives words for all of them. */
#define MCUTRAIN_OK          0
#define MCUTRAIN_EMPTY       1
#define MCUTRAIN_E_ARG     -20   /* a NULL pointer, samples_per_epoch 0, or a label out of range */
#define MCUTRAIN_E_INIT    -21   /* mcutrain_init was not called */
#define MCUTRAIN_E_DEVICE  -22   /* save/load with another device than the first save/load used */

/* Start training from scratch. seed: the PRNG seed (weights are drawn from it,
 * and the same seed gives the same weights and the same training as mcutrain's
 * NumPy twin). samples_per_epoch: the learning-rate decay period (the model
 * file's schedule, in samples). state: NULL, or MT_STATE_BYTES of a pretrained
 * state (e.g. the state bytes of a checkpoint from `mcutrain train`), copied in;
 * the pointer is kept (keep the bytes there, e.g. const in flash): a failed
 * mcutrain_load goes back to them.
 * Resets the sample count to 0. Returns MCUTRAIN_OK or MCUTRAIN_E_ARG. */
int mcutrain_init(uint32_t seed, uint32_t samples_per_epoch, const uint8_t *state);

/* One training step on one sample: forward, hinge loss, backward, update.
 * Returns the class predicted before the update (0..MT_N_CLASSES-1), or
 * MCUTRAIN_E_ARG / MCUTRAIN_E_INIT (negative). */
int mcutrain_train(const uint8_t *x_enc, uint8_t label);

/* The predicted class of one sample (0..MT_N_CLASSES-1); no weight changes.
 * Negative: MCUTRAIN_E_ARG / MCUTRAIN_E_INIT. */
int mcutrain_infer(const uint8_t *x_enc);

/* Hinge loss of the last mcutrain_train step, as the fixed-point integer the
 * twin uses (docs/arithmetic.md; 0 before the first step). */
uint32_t mcutrain_last_loss(void);

/* Samples trained since mcutrain_init (or the count a load restored). */
uint32_t mcutrain_samples(void);

/* Save the state (state bytes, schedule, samples trained) as the newest state
 * on dev. MCUTRAIN_OK once committed; negative: the previous state is still the
 * newest (see mt_store.h). The first save/load binds the library to dev. */
int mcutrain_save(const mt_storage *dev);

/* Load the newest complete state from dev, after mcutrain_init (with the same
 * samples_per_epoch). MCUTRAIN_OK: training goes on from it; MCUTRAIN_EMPTY:
 * nothing saved yet, the init state stays; negative: nothing usable loaded (a
 * state of another model, damaged slots, I/O error): the library is back at
 * its init state, so you can train from scratch. */
int mcutrain_load(const mt_storage *dev);

/* The sequence number of the newest saved state (0 before the first save). */
uint32_t mcutrain_saved_seq(void);

/* Words for a return code, for logs. */
const char *mcutrain_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* MCUTRAIN_H */
