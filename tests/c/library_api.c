/* Host test of the library API (include/mcutrain.h) on a RAM storage device:
 * argument checks, load from a blank device, save then load into a fresh init
 * (state, schedule and sample count restored, training goes on identically),
 * another device refused, a damaged state refused (the init state stays). Prints "ok" at the end;
 * any failed check prints its line and exits 1. Built by tests/test_library.py. */
#include <stdio.h>
#include <string.h>

#include "mcutrain.h"

#define BLOCK 256u
#define NBLOCKS (MCUTRAIN_STORE_BLOCKS(BLOCK))

static uint8_t ram[2][NBLOCKS][BLOCK];

static int rd(const mt_storage *d, uint32_t b, uint32_t off, void *buf, uint32_t len)
{
    memcpy(buf, &((uint8_t (*)[BLOCK])d->ctx)[b][off], len);
    return 0;
}
static int pr(const mt_storage *d, uint32_t b, uint32_t off, const void *buf, uint32_t len)
{
    uint32_t i;
    for (i = 0; i < len; i++) { /* NOR: program clears bits */
        ((uint8_t (*)[BLOCK])d->ctx)[b][off + i] &= ((const uint8_t *)buf)[i];
    }
    return 0;
}
static int er(const mt_storage *d, uint32_t b)
{
    memset(((uint8_t (*)[BLOCK])d->ctx)[b], 0xFF, BLOCK);
    return 0;
}

#define CHECK(c) do { if (!(c)) { printf("FAIL line %d: %s\n", __LINE__, #c); return 1; } } while (0)

static uint8_t x[8][MT_INPUT_BYTES];
static uint8_t saved[MT_STATE_BYTES];
static uint8_t after[MT_STATE_BYTES];

int main(void)
{
    mt_storage dev = {ram[0], BLOCK, NBLOCKS, 1u, rd, pr, er};
    mt_storage other = {ram[1], BLOCK, NBLOCKS, 1u, rd, pr, er};
    uint32_t i, loss;
    int pred;

    memset(ram, 0xFF, sizeof ram);
    for (i = 0; i < sizeof x; i++) {
        ((uint8_t *)x)[i] = (uint8_t)(i * 37u + 11u);
    }
    CHECK(mcutrain_train(x[0], 0) == MCUTRAIN_E_INIT);
    CHECK(mcutrain_save(&dev) == MCUTRAIN_E_INIT);
    CHECK(mcutrain_init(7u, 0u, NULL) == MCUTRAIN_E_ARG);
    CHECK(mcutrain_init(7u, 100u, NULL) == MCUTRAIN_OK);
    CHECK(mcutrain_train(NULL, 0) == MCUTRAIN_E_ARG);
    CHECK(mcutrain_train(x[0], (uint8_t)MT_N_CLASSES) == MCUTRAIN_E_ARG);
    CHECK(mcutrain_load(&dev) == MCUTRAIN_EMPTY);
    CHECK(mcutrain_samples() == 0u);
    for (i = 0; i < 4u; i++) {
        pred = mcutrain_train(x[i], (uint8_t)(i % MT_N_CLASSES));
        CHECK(pred >= 0 && pred < (int)MT_N_CLASSES);
    }
    CHECK(mcutrain_samples() == 4u);
    CHECK(mcutrain_save(&dev) == MCUTRAIN_OK);
    CHECK(mcutrain_saved_seq() == 1u);
    CHECK(mcutrain_save(&other) == MCUTRAIN_E_DEVICE);
    memcpy(saved, mt_state_bytes(), MT_STATE_BYTES);
    for (i = 4; i < 8u; i++) {
        (void)mcutrain_train(x[i], (uint8_t)(i % MT_N_CLASSES));
    }
    loss = mcutrain_last_loss();
    memcpy(after, mt_state_bytes(), MT_STATE_BYTES);
    CHECK(memcmp(saved, after, MT_STATE_BYTES) != 0);

    /* a reboot: init again, load, train the same samples: the same state */
    CHECK(mcutrain_init(7u, 100u, NULL) == MCUTRAIN_OK);
    CHECK(memcmp(saved, mt_state_bytes(), MT_STATE_BYTES) != 0);
    CHECK(mcutrain_load(&dev) == MCUTRAIN_OK);
    CHECK(mcutrain_samples() == 4u);
    CHECK(memcmp(saved, mt_state_bytes(), MT_STATE_BYTES) == 0);
    for (i = 4; i < 8u; i++) {
        (void)mcutrain_train(x[i], (uint8_t)(i % MT_N_CLASSES));
    }
    CHECK(mcutrain_last_loss() == loss);
    CHECK(memcmp(after, mt_state_bytes(), MT_STATE_BYTES) == 0);
    pred = mcutrain_infer(x[0]);
    CHECK(pred >= 0 && pred < (int)MT_N_CLASSES);
    CHECK(memcmp(after, mt_state_bytes(), MT_STATE_BYTES) == 0);

    /* a pretrained start: the state bytes are copied in */
    CHECK(mcutrain_init(9u, 100u, after) == MCUTRAIN_OK);
    CHECK(memcmp(after, mt_state_bytes(), MT_STATE_BYTES) == 0);

    /* a damaged state is refused, and the init state stays */
    ram[0][0][8] ^= 0x01u; /* a model hash byte in slot 0's header ... */
    ram[0][NBLOCKS / 2u][8] ^= 0x01u; /* ... and in slot 1's: their header CRCs fail */
    CHECK(mcutrain_load(&dev) < 0);
    CHECK(memcmp(after, mt_state_bytes(), MT_STATE_BYTES) == 0);
    printf("%s\n", mcutrain_strerror(MT_STORE_E_CORRUPT));
    printf("ok\n");
    return 0;
}
