/* examples/standalone/main.c - a firmware of your own that learns by itself, on the library
 * of `mcutrain generate MODEL --library DIR` (include/mcutrain.h).
 *
 * It "collects" its samples from a sensor: on the emulated board a dataset image in
 * flash (samples.c: sa_x, sa_labels, SA_N samples, written by mcutrain.examples.standalone
 * or any tool), read cyclically, sample i = (samples trained) mod SA_N. It trains on each,
 * saves its state every SA_SAVE_EVERY samples through the state store, and on boot goes
 * on from the newest saved state. The storage device here is a host file through
 * semihosting (the emulated board; firmware/boards/common/storage_semihost_file.c): on a
 * real chip use its flash (storage_stm32f4_flash.c, docs/storage.md). It stops after
 * SA_TOTAL samples. Built with SA_BOOT_LIMIT = K > 0 it also "loses power" after training K
 * samples in one boot (it stops without saving: what it learned since its last save is lost),
 * so a run of boots shows it going on from its saved state (the test does this).
 *
 * UART, plain text, one line each (`mcutrain monitor` shows them):
 *   boot: loaded state <seq> at sample <n>  |  boot: no saved state, starting fresh  |  boot: <error>
 *   sample <n> loss <hinge> correct <c>/<since last line>   every SA_SAVE_EVERY samples
 *   saved state <seq> at sample <n>  |  save failed: <error>
 *   power off at sample <n>                                    SA_BOOT_LIMIT reached; exit
 *   done <n> samples, state <bytes> bytes crc32 <hex>          then the state bytes in hex,
 *   state <hex of up to 64 bytes>                              one line each; then exit
 * Build flags: SA_N, SA_TOTAL, SA_SAVE_EVERY, SA_SEED, SA_SPE (samples per epoch), SA_BOOT_LIMIT.
 */
#include <stdint.h>

#include "board.h"
#include "crc.h"
#include "mcutrain.h"
#include "storage_semihost_file.h"

#ifndef SA_SAVE_EVERY
#define SA_SAVE_EVERY 50u
#endif
#ifndef SA_SEED
#define SA_SEED 1u
#endif
#ifndef SA_SPE
#define SA_SPE SA_N
#endif
#ifndef SA_BOOT_LIMIT
#define SA_BOOT_LIMIT 0u
#endif
#define BLOCK_BYTES 1024u

extern const uint8_t sa_labels[SA_N];
extern const uint8_t sa_x[SA_N][MT_INPUT_BYTES];

static mt_storage flash;

static void puts_(const char *s)
{
    while (*s != '\0') {
        board_uart_putc((uint8_t)*s++);
    }
}

static void putu(uint32_t v)
{
    /* decimal digits by repeated subtraction of powers of ten: no division on the device */
    static const uint32_t p10[10] = {1000000000u, 100000000u, 10000000u, 1000000u, 100000u,
                                     10000u, 1000u, 100u, 10u, 1u};
    uint8_t started = 0u;
    int k;
    for (k = 0; k < 10; k++) {
        char d = '0';
        while (v >= p10[k]) {
            v -= p10[k];
            d++;
        }
        if (d != '0' || started || k == 9) {
            board_uart_putc((uint8_t)d);
            started = 1u;
        }
    }
}

static void hex8(uint8_t v)
{
    static const char d[] = "0123456789abcdef";
    board_uart_putc((uint8_t)d[v >> 4]);
    board_uart_putc((uint8_t)d[v & 15u]);
}

int main(void)
{
    uint32_t idx, since_save, i, correct = 0u, seen = 0u, seen_this_boot = 0u;
    int rc;

    board_init();
    if (mt_semihost_file_storage(&flash, "mcutrain-state.bin", BLOCK_BYTES, MCUTRAIN_STORE_BLOCKS(BLOCK_BYTES)) != 0) {
        puts_("boot: cannot open the storage file\n");
        board_exit(2);
    }
    mcutrain_init(SA_SEED, SA_SPE, 0);
    rc = mcutrain_load(&flash);
    if (rc == MCUTRAIN_OK) {
        puts_("boot: loaded state ");
        putu(mcutrain_saved_seq());
        puts_(" at sample ");
        putu(mcutrain_samples());
        puts_("\n");
    } else if (rc == MCUTRAIN_EMPTY) {
        puts_("boot: no saved state, starting fresh\n");
    } else {
        puts_("boot: ");
        puts_(mcutrain_strerror(rc));
        puts_(", starting fresh\n");
    }
    /* position in the data and in the save cadence: samples mod SA_N, mod SA_SAVE_EVERY */
    for (i = mcutrain_samples(); i >= SA_N; i -= SA_N) {
    }
    idx = i;
    for (i = mcutrain_samples(); i >= SA_SAVE_EVERY; i -= SA_SAVE_EVERY) {
    }
    since_save = i;
    while (mcutrain_samples() < SA_TOTAL) {
        uint8_t label = sa_labels[idx];
        int pred = mcutrain_train(sa_x[idx], label); /* a new sensor reading and its label */
        correct += (pred == (int)label) ? 1u : 0u;
        seen++;
        if (SA_BOOT_LIMIT != 0u && seen_this_boot++ == SA_BOOT_LIMIT - 1u) {
            puts_("power off at sample ");
            putu(mcutrain_samples());
            puts_("\n");
            board_exit(0);
        }
        if (++idx == SA_N) {
            idx = 0u;
        }
        if (++since_save == SA_SAVE_EVERY) {
            since_save = 0u;
            puts_("sample ");
            putu(mcutrain_samples());
            puts_(" loss ");
            putu(mcutrain_last_loss());
            puts_(" correct ");
            putu(correct);
            puts_("/");
            putu(seen);
            puts_("\n");
            correct = seen = 0u;
            rc = mcutrain_save(&flash);
            if (rc == MCUTRAIN_OK) {
                puts_("saved state ");
                putu(mcutrain_saved_seq());
                puts_(" at sample ");
                putu(mcutrain_samples());
                puts_("\n");
            } else {
                puts_("save failed: ");
                puts_(mcutrain_strerror(rc));
                puts_("\n");
            }
        }
    }
    puts_("done ");
    putu(mcutrain_samples());
    puts_(" samples, state ");
    putu(MT_STATE_BYTES);
    puts_(" bytes crc32 ");
    {
        uint32_t c = mt_crc32(0u, mt_state_bytes(), MT_STATE_BYTES);
        hex8((uint8_t)(c >> 24));
        hex8((uint8_t)(c >> 16));
        hex8((uint8_t)(c >> 8));
        hex8((uint8_t)c);
    }
    for (i = 0; i < (uint32_t)(MT_STATE_BYTES); i++) {
        if ((i & 63u) == 0u) {
            puts_("\nstate ");
        }
        hex8(mt_state_bytes()[i]);
    }
    puts_("\n");
    board_exit(0);
}
