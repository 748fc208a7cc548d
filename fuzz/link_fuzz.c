/*
 * link_fuzz.c - libFuzzer harness for the device's frame parser
 * (firmware/core/link.c), built on the host with
 *   clang -fsanitize=fuzzer,address,undefined
 * by scripts/fuzz_link.sh (see docs/fuzzing.md).
 *
 * Each input is used three ways; any disagreement calls abort(), which
 * libFuzzer reports as a crash and saves as crash-<sha1>:
 *
 * 1. As a byte stream (the input, then 0x00 and a valid `H` frame, so that it
 *    always ends) fed to link_rx_byte() one byte at a time, from a reset
 *    receiver. Every result must be LINK_NONE, LINK_FRAME or a LINK_ERR_*
 *    code, may only come at a 0x00, and a frame's payload must be
 *    1..LINK_MAX_PAYLOAD bytes. The same stream is then read with the
 *    blocking link_recv() (board_uart_getc() serves it): same results, and
 *    the last one is the `H` frame.
 * 2. Differentially: every 0x00-delimited piece of the stream is also decoded
 *    at once with link_cobs_decode(); the streaming receiver must reach the
 *    same verdict (same error code, or the same payload), and a CRC verdict is
 *    checked by re-encoding the decoded payload with link_frame_encode(): its
 *    trailer must differ from the received one, and for a frame it must match.
 * 3. As a payload (first LINK_MAX_PAYLOAD bytes): link_frame_encode() and
 *    link_send() must give the same bytes, with a single 0x00 at the end, and
 *    the receiver must give the payload back unchanged; link_cobs_encode()
 *    then link_cobs_decode() of the whole input must give it back too, and
 *    link_cobs_decode() of the raw input (0x00 bytes included) must stay in
 *    bounds and return a length or an error code.
 *
 * The harness uses only link.h, so it follows changes of the CRC or the
 * frame size made there.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "link.h"

#define CRC_BYTES (LINK_MAX_RAW - LINK_MAX_PAYLOAD)

/* --- the board functions link.c uses: link_send() writes into sent[] ---- */
static uint8_t sent[LINK_MAX_FRAME + 16];
static uint32_t sent_len;

void board_uart_putc(uint8_t c)
{
    if (sent_len >= sizeof sent) {
        abort(); /* link_send wrote more than a frame */
    }
    sent[sent_len++] = c;
}

/* link_recv() reads the stream through board_uart_getc(). */
#define MAX_STREAM 4096u
static uint8_t stream[MAX_STREAM + LINK_MAX_FRAME + 1u];
static uint32_t stream_len;
static uint32_t stream_pos;

int board_uart_getc(void)
{
    if (stream_pos >= stream_len) {
        abort(); /* link_recv read past the final frame */
    }
    return stream[stream_pos++];
}

#define CHECK(cond) \
    do {            \
        if (!(cond)) { \
            abort(); \
        }           \
    } while (0)

static uint8_t piece_out[LINK_MAX_RAW];
static uint8_t frame_buf[LINK_MAX_FRAME];
static uint8_t cobs_buf[8192];
static uint8_t cobs_back[4096];
static uint8_t payload_copy[LINK_MAX_PAYLOAD];

/* The trailer (CRC bytes) link_frame_encode() gives for payload[0..n). */
static void expected_trailer(const uint8_t *payload, uint32_t n, uint8_t *trailer)
{
    uint8_t raw[LINK_MAX_RAW];
    uint32_t len = link_frame_encode(payload[0], payload + 1, n - 1u, frame_buf);
    int32_t d;
    CHECK(len >= 2u && frame_buf[len - 1u] == 0u);
    d = link_cobs_decode(frame_buf, len - 1u, raw, LINK_MAX_RAW);
    CHECK(d == (int32_t)(n + CRC_BYTES));
    CHECK(memcmp(raw, payload, n) == 0);
    memcpy(trailer, raw + n, CRC_BYTES);
}

/* The verdict of the one-shot decoder on an encoded piece (no delimiter). */
static int oneshot_verdict(const uint8_t *piece, uint32_t len, uint32_t *payload_len)
{
    int32_t d;
    uint8_t trailer[CRC_BYTES];
    if (len == 0u) {
        return LINK_NONE;
    }
    d = link_cobs_decode(piece, len, piece_out, LINK_MAX_RAW);
    if (d < 0) {
        CHECK(d == LINK_ERR_COBS || d == LINK_ERR_OVERLONG);
        return (int)d;
    }
    CHECK((uint32_t)d <= LINK_MAX_RAW);
    if ((uint32_t)d < 1u + CRC_BYTES) {
        return LINK_ERR_SHORT;
    }
    *payload_len = (uint32_t)d - CRC_BYTES;
    expected_trailer(piece_out, *payload_len, trailer);
    if (memcmp(trailer, piece_out + *payload_len, CRC_BYTES) != 0) {
        return LINK_ERR_CRC;
    }
    return LINK_FRAME;
}

static int verdicts[MAX_STREAM + LINK_MAX_FRAME + 1u];
static uint32_t n_verdicts;

static void check_stream(const uint8_t *input, size_t input_size)
{
    const uint8_t *data = stream;
    uint32_t size;
    uint32_t i;
    uint32_t piece_start = 0;
    uint32_t k;

    /* The stream: the input, 0x00, a valid H frame. */
    size = input_size > MAX_STREAM ? MAX_STREAM : (uint32_t)input_size;
    memcpy(stream, input, size);
    stream[size++] = 0u;
    size += link_frame_encode(0x48u, stream, 0u, stream + size);
    stream_len = size;

    n_verdicts = 0;
    link_rx_reset();
    for (i = 0; i < size; i++) {
        int r = link_rx_byte(data[i]);
        CHECK(r == LINK_NONE || r == LINK_FRAME || r == LINK_ERR_CRC || r == LINK_ERR_COBS ||
              r == LINK_ERR_SHORT || r == LINK_ERR_OVERLONG);
        if (data[i] != 0u) {
            CHECK(r == LINK_NONE); /* verdicts only at a delimiter */
            continue;
        }
        {
            uint32_t plen = 0;
            int want = oneshot_verdict(data + piece_start, (uint32_t)(i - piece_start), &plen);
            CHECK(r == want);
            if (r == LINK_FRAME) {
                CHECK(link_rx_len() == plen);
                CHECK(plen >= 1u && plen <= LINK_MAX_PAYLOAD);
                CHECK(memcmp(link_rx_payload(), piece_out, plen) == 0);
            }
            if (r != LINK_NONE) {
                verdicts[n_verdicts++] = r;
            }
        }
        piece_start = i + 1u;
    }
    CHECK(n_verdicts >= 1u && verdicts[n_verdicts - 1u] == LINK_FRAME);

    /* The blocking reader gives the same results and stops at the H frame. */
    link_rx_reset();
    stream_pos = 0;
    for (k = 0; k < n_verdicts; k++) {
        const uint8_t *payload = 0;
        uint32_t len = 0;
        int r = link_recv(&payload, &len);
        CHECK(r == verdicts[k]);
        if (r == LINK_FRAME) {
            CHECK(payload == link_rx_payload() && len == link_rx_len());
        }
    }
    CHECK(stream_pos == stream_len);
    CHECK(link_rx_len() == 1u && link_rx_payload()[0] == 0x48u);
}

static void check_roundtrip(const uint8_t *data, size_t size)
{
    uint32_t n = size > LINK_MAX_PAYLOAD ? LINK_MAX_PAYLOAD : (uint32_t)size;
    uint32_t len;
    uint32_t i;
    int r = LINK_NONE;
    int32_t d;

    if (n >= 1u) {
        memcpy(payload_copy, data, n);
        len = link_frame_encode(payload_copy[0], payload_copy + 1, n - 1u, frame_buf);
        CHECK(len >= 2u && len <= LINK_MAX_FRAME);
        for (i = 0; i + 1u < len; i++) {
            CHECK(frame_buf[i] != 0u);
        }
        CHECK(frame_buf[len - 1u] == 0u);
        sent_len = 0;
        CHECK(link_send(payload_copy[0], payload_copy + 1, n - 1u) == 0);
        CHECK(sent_len == len && memcmp(sent, frame_buf, len) == 0);
        link_rx_reset();
        for (i = 0; i < len; i++) {
            r = link_rx_byte(frame_buf[i]);
            CHECK(i + 1u == len || r == LINK_NONE);
        }
        CHECK(r == LINK_FRAME && link_rx_len() == n);
        CHECK(memcmp(link_rx_payload(), payload_copy, n) == 0);
    }
    /* A payload one byte too long is refused without writing anything. */
    CHECK(link_frame_encode(0x54u, data, LINK_MAX_PAYLOAD, frame_buf) == 0u);
    sent_len = 0;
    CHECK(link_send(0x54u, data, LINK_MAX_PAYLOAD) == -1 && sent_len == 0u);

    /* COBS alone, on the whole input (up to the buffers' size). */
    n = size > sizeof cobs_back ? (uint32_t)sizeof cobs_back : (uint32_t)size;
    len = link_cobs_encode(data, n, cobs_buf);
    CHECK(len <= n + n / 254u + 1u);
    for (i = 0; i < len; i++) {
        CHECK(cobs_buf[i] != 0u);
    }
    d = link_cobs_decode(cobs_buf, len, cobs_back, sizeof cobs_back);
    CHECK(d == (int32_t)n && memcmp(cobs_back, data, n) == 0);

    /* The one-shot decoder on the raw input, 0x00 bytes and all. */
    d = link_cobs_decode(data, n, piece_out, LINK_MAX_RAW);
    CHECK(d == LINK_ERR_COBS || d == LINK_ERR_OVERLONG || (d >= 0 && (uint32_t)d <= LINK_MAX_RAW));
    if (memchr(data, 0, n) != NULL) {
        CHECK(d == LINK_ERR_COBS || d == LINK_ERR_OVERLONG);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_stream(data, size);
    check_roundtrip(data, size);
    return 0;
}
