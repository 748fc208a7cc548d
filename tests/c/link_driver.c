/*
 * Test driver: runs firmware/core/link.c on the host so tests/test_framing.py
 * can compare it byte for byte with host/framing.py.
 *
 *   link_driver encode   stdin: records [u16 n][payload n]  -> [u16 m][frame m]
 *                        (link_frame_encode, delimiter included; m = 0 if refused)
 *   link_driver cobs     stdin: records [u16 n][data n]     -> [u16 m][cobs m]
 *   link_driver cobsdec  stdin: records [u16 n][data n]     -> [i16 r][decoded r if r >= 0]
 *   link_driver rx       stdin: a byte stream fed to link_rx_byte one by one;
 *                        for each result other than LINK_NONE:
 *                        [i8 result][u16 n][payload n if LINK_FRAME]
 *   link_driver send     stdin: records [u16 n][payload n]  -> what link_send()
 *                        writes through board_uart_putc (stdout)
 * All integers little-endian.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "board.h"
#include "link.h"

/* The board functions link.c uses. */
void board_uart_putc(uint8_t c) { putchar(c); }
int board_uart_getc(void) { int c = getchar(); return c == EOF ? 0 : c; }

static int read_record(uint8_t *buf, uint32_t cap, uint32_t *n)
{
    int lo = getchar();
    int hi;
    if (lo == EOF) {
        return 0;
    }
    hi = getchar();
    *n = (uint32_t)lo | ((uint32_t)hi << 8);
    if (*n > cap || fread(buf, 1, *n, stdin) != *n) {
        fprintf(stderr, "bad record\n");
        return -1;
    }
    return 1;
}

static void put_u16(uint32_t v)
{
    putchar((int)(v & 0xFFu));
    putchar((int)((v >> 8) & 0xFFu));
}

static uint8_t in[4096];
static uint8_t out[8192];

int main(int argc, char **argv)
{
    uint32_t n;
    int r;
    if (argc != 2) {
        fprintf(stderr, "usage: link_driver encode|cobs|cobsdec|rx|send\n");
        return 2;
    }
    if (strcmp(argv[1], "rx") == 0) {
        int c;
        while ((c = getchar()) != EOF) {
            r = link_rx_byte((uint8_t)c);
            if (r != LINK_NONE) {
                putchar(r & 0xFF);
                if (r == LINK_FRAME) {
                    put_u16(link_rx_len());
                    fwrite(link_rx_payload(), 1, link_rx_len(), stdout);
                } else {
                    put_u16(0);
                }
            }
        }
        return 0;
    }
    while ((r = read_record(in, sizeof in, &n)) == 1) {
        if (strcmp(argv[1], "encode") == 0) {
            uint32_t m = n ? link_frame_encode(in[0], in + 1, n - 1u, out) : 0u;
            put_u16(m);
            fwrite(out, 1, m, stdout);
        } else if (strcmp(argv[1], "cobs") == 0) {
            uint32_t m = link_cobs_encode(in, n, out);
            put_u16(m);
            fwrite(out, 1, m, stdout);
        } else if (strcmp(argv[1], "cobsdec") == 0) {
            int32_t m = link_cobs_decode(in, n, out, LINK_MAX_RAW);
            put_u16((uint32_t)m & 0xFFFFu);
            if (m > 0) {
                fwrite(out, 1, (uint32_t)m, stdout);
            }
        } else if (strcmp(argv[1], "send") == 0) {
            if (n == 0 || link_send(in[0], in + 1, n - 1u) != 0) {
                fprintf(stderr, "link_send refused %u bytes\n", (unsigned)n);
            }
        } else {
            fprintf(stderr, "unknown mode %s\n", argv[1]);
            return 2;
        }
    }
    return r < 0 ? 1 : 0;
}
