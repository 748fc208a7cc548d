/* Host driver for the generated C: the bit-exactness tests run it against the NumPy twin.
 * stdin:  u32 seed, u32 samples_per_epoch, u32 n_train, u32 digest_every, u32 n_eval,
 *         then n_train x (u8 label, MT_INPUT_BYTES), then n_eval x MT_INPUT_BYTES.
 * stdout: one line per digest "D samples crc prng", then "P <pred> ..." per train step
 *         prediction, then "E <pred> ..." eval predictions, then the state bytes in hex. */
#include <stdio.h>
#include <stdint.h>
#include "mt_model.h"

static uint32_t rd32(void)
{
    uint8_t b[4];
    if (fread(b, 1, 4, stdin) != 4) return 0;
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

int main(void)
{
    static uint8_t x[MT_INPUT_BYTES];
    uint32_t seed = rd32(), spe = rd32(), n_train = rd32(), every = rd32(), n_eval = rd32(), k;
    mt_session_start(seed, spe);
    for (k = 0; k < n_train; k++) {
        int label = getchar();
        if (fread(x, 1, MT_INPUT_BYTES, stdin) != MT_INPUT_BYTES) return 2;
        unsigned pred = mt_train_step(x, (uint8_t)label);
        printf("T %u %u\n", pred, (unsigned)mt_last_hinge());
        if (every && (k + 1) % every == 0)
            printf("D %u %08x %08x\n", (unsigned)(k + 1), (unsigned)mt_state_digest(), (unsigned)mt_prng_state());
    }
    for (k = 0; k < n_eval; k++) {
        if (fread(x, 1, MT_INPUT_BYTES, stdin) != MT_INPUT_BYTES) return 3;
        printf("E %u\n", (unsigned)mt_infer(x));
    }
    printf("S ");
    for (k = 0; k < MT_STATE_BYTES; k++) printf("%02x", mt_state_bytes()[k]);
    printf("\n");
    return 0;
}
