/*
 * link.c - COBS + CRC-16 framing (see link.h and docs/protocol.md).
 * Mirrored byte for byte by host/framing.py.
 */
#include "link.h"

#include "board.h"
#include "crc.h"

/* ------------------------------------------------------------------ COBS */

uint32_t link_cobs_encode(const uint8_t *in, uint32_t len, uint8_t *out)
{
    uint32_t w = 1;      /* write position */
    uint32_t code_at = 0; /* position of the pending code byte */
    uint8_t code = 1;
    uint32_t i;

    for (i = 0; i < len; i++) {
        uint8_t b = in[i];
        if (b != 0u) {
            out[w++] = b;
            code++;
        }
        if (b == 0u || code == 0xFFu) {
            out[code_at] = code;
            code = 1;
            code_at = w;
            /* Open a new block unless a full block ends the data exactly. */
            if (b == 0u || i + 1u < len) {
                w++;
            }
        }
    }
    if (code_at < w) {
        out[code_at] = code; /* else a full block ended the data exactly */
    }
    return w;
}

int32_t link_cobs_decode(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t out_max)
{
    uint32_t r = 0;
    uint32_t w = 0;

    while (r < len) {
        uint8_t code = in[r++];
        uint32_t n;
        if (code == 0u) {
            return LINK_ERR_COBS;
        }
        n = (uint32_t)code - 1u;
        while (n != 0u) {
            uint8_t b;
            if (r >= len) {
                return LINK_ERR_COBS; /* block runs past the end */
            }
            b = in[r++];
            if (b == 0u) {
                return LINK_ERR_COBS;
            }
            if (w >= out_max) {
                return LINK_ERR_OVERLONG;
            }
            out[w++] = b;
            n--;
        }
        if (code != 0xFFu && r < len) {
            if (w >= out_max) {
                return LINK_ERR_OVERLONG;
            }
            out[w++] = 0u;
        }
    }
    return (int32_t)w;
}

/* ---------------------------------------------------------------- sending */

static uint8_t tx_raw[LINK_MAX_RAW];
static uint8_t tx_frame[LINK_MAX_FRAME];

uint32_t link_frame_encode(uint8_t type, const uint8_t *body, uint32_t len, uint8_t *out)
{
    uint32_t i;
    uint16_t crc;
    uint32_t n;

    if (len >= LINK_MAX_PAYLOAD) {
        return 0;
    }
    tx_raw[0] = type;
    for (i = 0; i < len; i++) {
        tx_raw[i + 1u] = body[i];
    }
    n = len + 1u;
    crc = mt_crc16(tx_raw, n);
    tx_raw[n] = (uint8_t)(crc & 0xFFu);
    tx_raw[n + 1u] = (uint8_t)(crc >> 8);
    n = link_cobs_encode(tx_raw, n + 2u, out);
    out[n] = 0u;
    return n + 1u;
}

int link_send(uint8_t type, const uint8_t *body, uint32_t len)
{
    uint32_t n = link_frame_encode(type, body, len, tx_frame);
    uint32_t i;
    if (n == 0u) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        board_uart_putc(tx_frame[i]);
    }
    return 0;
}

/* -------------------------------------------------------------- receiving */

static uint8_t rx_buf[LINK_MAX_RAW];
static uint32_t rx_len;       /* decoded bytes so far */
static uint32_t rx_remaining; /* data bytes left in the current block */
static uint8_t rx_code;       /* code of the current block, 0 before the first */
static uint8_t rx_overflow;
static uint32_t rx_frame_len; /* payload length of the last good frame */

void link_rx_reset(void)
{
    rx_len = 0;
    rx_remaining = 0;
    rx_code = 0;
    rx_overflow = 0;
}

static void rx_put(uint8_t b)
{
    if (rx_len < LINK_MAX_RAW) {
        rx_buf[rx_len++] = b;
    } else {
        rx_overflow = 1;
    }
}

static int rx_end(void)
{
    uint32_t n;
    uint16_t crc;

    if (rx_code == 0u) {
        return LINK_NONE; /* empty frame: a resynchronising 0x00 */
    }
    if (rx_overflow) {
        return LINK_ERR_OVERLONG;
    }
    if (rx_remaining != 0u) {
        return LINK_ERR_COBS;
    }
    if (rx_len < 3u) {
        return LINK_ERR_SHORT;
    }
    n = rx_len - 2u;
    crc = mt_crc16(rx_buf, n);
    if (rx_buf[n] != (uint8_t)(crc & 0xFFu) || rx_buf[n + 1u] != (uint8_t)(crc >> 8)) {
        return LINK_ERR_CRC;
    }
    rx_frame_len = n;
    return LINK_FRAME;
}

int link_rx_byte(uint8_t c)
{
    if (c == 0u) {
        int result = rx_end();
        link_rx_reset();
        return result;
    }
    if (rx_remaining == 0u) {
        /* A code byte. A block shorter than 254 data bytes that is followed
         * by another block stood for a 0x00 in the data. */
        if (rx_code != 0u && rx_code != 0xFFu) {
            rx_put(0u);
        }
        rx_code = c;
        rx_remaining = (uint32_t)c - 1u;
    } else {
        rx_put(c);
        rx_remaining--;
    }
    return LINK_NONE;
}

const uint8_t *link_rx_payload(void)
{
    return rx_buf;
}

uint32_t link_rx_len(void)
{
    return rx_frame_len;
}

int link_recv(const uint8_t **payload, uint32_t *len)
{
    for (;;) {
        int r = link_rx_byte((uint8_t)board_uart_getc());
        if (r == LINK_FRAME) {
            *payload = rx_buf;
            *len = rx_frame_len;
            return r;
        }
        if (r != LINK_NONE) {
            return r;
        }
    }
}
