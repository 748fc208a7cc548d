/* Power-cut test firmware for the emulated board (mcutrain/store/powercut.py, tests/test_store_qemu.py).
 *
 * Trains the generated model on the samples compiled into flash (st_x, st_labels:
 * a dataset image standing in for a sensor), in order, sample i = (samples
 * trained) mod ST_N, and saves its state to the state store every ST_SAVE_EVERY
 * samples; the store is a host file through semihosting
 * (storage_semihost_file.c), so a killed and restarted QEMU finds it. On boot
 * it loads the newest complete state and goes on from it. It stops after
 * ST_TOTAL samples. The payload is what a checkpoint holds: the state bytes
 * (latent weights, biases, batch-norm statistics), the schedule bytes (PRNG,
 * learning rate, decay countdown) and the samples trained.
 *
 * UART lines (hex numbers):
 *   L ok <seq> <samples> <payload crc> <state digest>   booted from a stored state
 *   L empty                                             no state stored
 *   L err <code>                                        no state loaded (code of mt_store.h)
 *   B <seq> <samples> <payload crc> <state digest>      a save begins
 *   S <seq> <samples> <payload crc>                     that save is committed
 *   E <code>                                            that save failed
 *   F <samples> <state digest> <state bytes and schedule bytes in hex>   done; exit(0)
 * Build flags: ST_N, ST_TOTAL, ST_SAVE_EVERY, ST_SEED, ST_SPE; MT_SEMIHOSTING.
 */
#include <stdint.h>

#include "board.h"
#include "crc.h"
#include "mt_model.h"
#include "mt_store.h"
#include "storage_semihost_file.h"

extern const uint8_t st_labels[ST_N];
extern const uint8_t st_x[ST_N][MT_INPUT_BYTES];

#define PAYLOAD_BYTES ((MT_STATE_BYTES) + (MT_SCHED_BYTES) + 4u)
#define SLOT_BYTES (MT_STORE_HEADER_BYTES + PAYLOAD_BYTES + MT_STORE_COMMIT_BYTES)
#define BLOCK_BYTES 1024u
#define BLOCKS_PER_SLOT ((SLOT_BYTES + BLOCK_BYTES - 1u) / BLOCK_BYTES)

static mt_storage dev;
static mt_store store;
static uint8_t sched[MT_SCHED_BYTES];
static uint8_t counter[4];

static void puts_(const char *s)
{
    while (*s != '\0') {
        board_uart_putc((uint8_t)*s++);
    }
}

static void hex8(uint8_t v)
{
    static const char d[] = "0123456789abcdef";
    board_uart_putc((uint8_t)d[v >> 4]);
    board_uart_putc((uint8_t)d[v & 15u]);
}

static void hex32(uint32_t v)
{
    board_uart_putc(' ');
    hex8((uint8_t)(v >> 24));
    hex8((uint8_t)(v >> 16));
    hex8((uint8_t)(v >> 8));
    hex8((uint8_t)v);
}

static uint32_t payload_crc(void)
{
    uint32_t c = mt_crc32(0u, mt_state_bytes(), MT_STATE_BYTES);
    c = mt_crc32(c, sched, MT_SCHED_BYTES);
    return mt_crc32(c, counter, 4u);
}

static void set_counter(uint32_t v)
{
    counter[0] = (uint8_t)v;
    counter[1] = (uint8_t)(v >> 8);
    counter[2] = (uint8_t)(v >> 16);
    counter[3] = (uint8_t)(v >> 24);
}

int main(void)
{
    mt_store_seg in[3];
    mt_store_cseg out[3];
    uint32_t samples = 0u, idx = 0u, since_save = 0u, i;
    int rc;

    board_init();
    if (mt_semihost_file_storage(&dev, "mcutrain-store.bin", BLOCK_BYTES, 2u * BLOCKS_PER_SLOT) != 0) {
        puts_("X storage file\n");
        board_exit(2);
    }
    if (mt_store_init(&store, &dev, MT_MODEL_HASH, PAYLOAD_BYTES) != MT_STORE_OK) {
        puts_("X store config\n");
        board_exit(3);
    }
    mt_session_start(ST_SEED, ST_SPE);
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
        puts_("L ok");
        hex32(store.seq);
        hex32(samples);
        hex32(payload_crc());
        hex32(mt_state_digest());
        puts_("\n");
    } else {
        mt_session_start(ST_SEED, ST_SPE); /* the buffers may hold part of a state: start afresh */
        if (rc == MT_STORE_EMPTY) {
            puts_("L empty\n");
        } else {
            puts_("L err");
            hex32((uint32_t)rc);
            puts_("\n");
        }
    }
    /* position in the dataset and in the save cadence */
    for (i = samples; i >= ST_N; i -= ST_N) {
    }
    idx = i;
    for (i = samples; i >= ST_SAVE_EVERY; i -= ST_SAVE_EVERY) {
    }
    since_save = i;

    out[0].ptr = mt_state_bytes();
    out[0].len = MT_STATE_BYTES;
    out[1].ptr = sched;
    out[1].len = MT_SCHED_BYTES;
    out[2].ptr = counter;
    out[2].len = 4u;
    while (samples < ST_TOTAL) {
        (void)mt_train_step(st_x[idx], st_labels[idx]);
        samples++;
        if (++idx == ST_N) {
            idx = 0u;
        }
        if (++since_save == ST_SAVE_EVERY) {
            since_save = 0u;
            mt_sched_save(sched);
            set_counter(samples);
            puts_("B");
            hex32(store.seq + 1u);
            hex32(samples);
            hex32(payload_crc());
            hex32(mt_state_digest());
            puts_("\n");
            rc = mt_store_save(&store, out, 3u);
            if (rc == MT_STORE_OK) {
                puts_("S");
                hex32(store.seq);
                hex32(samples);
                hex32(payload_crc());
                puts_("\n");
            } else {
                puts_("E");
                hex32((uint32_t)rc);
                puts_("\n");
            }
        }
    }
    puts_("F");
    hex32(samples);
    hex32(mt_state_digest());
    board_uart_putc(' ');
    for (i = 0; i < MT_STATE_BYTES; i++) {
        hex8(mt_state_bytes()[i]);
    }
    mt_sched_save(sched);
    for (i = 0; i < MT_SCHED_BYTES; i++) {
        hex8(sched[i]);
    }
    puts_("\n");
    board_exit(0);
}
