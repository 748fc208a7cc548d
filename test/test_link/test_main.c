/* Unit tests of firmware/core/link.c: COBS encode/decode, whole frames through
 * the streaming receiver, rejection of corrupted, truncated, short and
 * overlong frames, resynchronisation on 0x00, and link_send()/link_recv()
 * through a captured UART (link_capture.h). Runs on the host and in QEMU.
 *
 * The encoder is checked against an independent reference encoder written
 * here from the COBS definition, and against the examples of the COBS
 * article (Cheshire & Baker; Wikipedia's table). */
#include <stdint.h>

#include "crc.h"
#include "link.h"
#include "link_capture.h"
#include "mt_test.h"

/* ------------------------------------------------------------- helpers */

/* Fail, naming up to two numbers (e.g. the length and pattern of the case). */
#define FAIL_AT(msg, a, b)                                  \
    do {                                                    \
        mt_test_fail_begin(__FILE__, __LINE__);             \
        mt_test_puts(msg);                                  \
        mt_test_puts(" (case ");                            \
        mt_test_put_u32((uint32_t)(a));                     \
        board_uart_putc('/');                               \
        mt_test_put_u32((uint32_t)(b));                     \
        mt_test_puts(")");                                  \
        return;                                             \
    } while (0)

#define CHECK_AT(cond, a, b)                                \
    do {                                                    \
        if (!(cond)) {                                      \
            FAIL_AT("failed: " #cond, a, b);                \
        }                                                   \
    } while (0)

#define BUF_MAX 1100u

static uint8_t in_buf[BUF_MAX];
static uint8_t enc_buf[BUF_MAX];
static uint8_t ref_buf[BUF_MAX];
static uint8_t dec_buf[BUF_MAX];
static uint8_t frame[LINK_MAX_FRAME + 8u];
static uint8_t frame2[LINK_MAX_FRAME + 8u];
static uint8_t stream[4u * LINK_MAX_FRAME];

enum { PAT_RANDOM, PAT_ZEROS, PAT_NO_ZEROS, PAT_MANY_ZEROS, PAT_ZERO_EVERY_7, PAT_COUNT };

static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static void fill(uint8_t *p, uint32_t n, int pattern, uint32_t seed)
{
    uint32_t s = seed | 1u;
    uint32_t i;
    for (i = 0; i < n; i++) {
        uint32_t r = xorshift(&s);
        uint8_t b;
        switch (pattern) {
        case PAT_ZEROS:
            b = 0u;
            break;
        case PAT_NO_ZEROS:
            b = (uint8_t)(1u + (r % 255u));
            break;
        case PAT_MANY_ZEROS:
            b = (r & 3u) == 0u ? 0u : (uint8_t)(r >> 24);
            break;
        case PAT_ZERO_EVERY_7:
            b = (i % 7u) == 6u ? 0u : (uint8_t)(0x80u | (r >> 25));
            break;
        default:
            b = (uint8_t)(r >> 24);
            break;
        }
        p[i] = b;
    }
}

/* Reference COBS encoder, straight from the definition: split the data at its
 * zeros; each piece becomes blocks "code, data", code = data length + 1, and a
 * piece of 254 or more non-zero bytes starts with full 0xFF blocks (which do not
 * stand for a zero). The variant of link.h: a full block that ends the data
 * exactly is not followed by an empty block. */
static uint32_t ref_cobs_encode(const uint8_t *in, uint32_t len, uint8_t *out)
{
    uint32_t w = 0;
    uint32_t start = 0;
    for (;;) {
        uint32_t end = start;
        uint32_t n;
        uint32_t pos = start;
        uint32_t k;
        int last;
        while (end < len && in[end] != 0u) {
            end++;
        }
        n = end - start;
        last = (end == len);
        while (end - pos >= 254u) {
            out[w++] = 0xFFu;
            for (k = 0; k < 254u; k++) {
                out[w++] = in[pos++];
            }
        }
        if (end - pos != 0u || !last || n == 0u) {
            out[w++] = (uint8_t)(end - pos + 1u);
            while (pos < end) {
                out[w++] = in[pos++];
            }
        }
        if (last) {
            return w;
        }
        start = end + 1u;
    }
}

static int mem_eq(const uint8_t *a, const uint8_t *b, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            return 0;
        }
    }
    return 1;
}

static uint32_t count_zeros(const uint8_t *p, uint32_t n)
{
    uint32_t i, z = 0;
    for (i = 0; i < n; i++) {
        z += p[i] == 0u;
    }
    return z;
}

/* Feed n bytes to the receiver. Returns the last result other than LINK_NONE
 * (LINK_NONE if there was none); *count gets how many there were. Returns 99
 * if a result other than LINK_NONE came at a byte other than 0x00 (link.h:
 * results are reported at delimiters only). */
static int feed(const uint8_t *p, uint32_t n, uint32_t *count)
{
    uint32_t i;
    int last = LINK_NONE;
    *count = 0;
    for (i = 0; i < n; i++) {
        int r = link_rx_byte(p[i]);
        if (r != LINK_NONE) {
            if (p[i] != 0u) {
                return 99;
            }
            last = r;
            (*count)++;
        }
    }
    return last;
}

/* Feed a whole frame; 1 if it is received with payload type || body. */
static int receives(const uint8_t *fr, uint32_t fl, uint8_t type, const uint8_t *body, uint32_t blen)
{
    uint32_t count;
    const uint8_t *payload;
    if (feed(fr, fl, &count) != LINK_FRAME || count != 1u) {
        return 0;
    }
    payload = link_rx_payload();
    return link_rx_len() == blen + 1u && payload[0] == type && mem_eq(body, payload + 1, blen);
}

/* ---------------------------------------------------------------- COBS */

static void test_cobs_known_vectors(void)
{
    static const uint8_t v1[] = {0x00};
    static const uint8_t e1[] = {0x01, 0x01};
    static const uint8_t v2[] = {0x00, 0x00};
    static const uint8_t e2[] = {0x01, 0x01, 0x01};
    static const uint8_t v3[] = {0x00, 0x11, 0x00};
    static const uint8_t e3[] = {0x01, 0x02, 0x11, 0x01};
    static const uint8_t v4[] = {0x11, 0x22, 0x00, 0x33};
    static const uint8_t e4[] = {0x03, 0x11, 0x22, 0x02, 0x33};
    static const uint8_t v5[] = {0x11, 0x22, 0x33, 0x44};
    static const uint8_t e5[] = {0x05, 0x11, 0x22, 0x33, 0x44};
    static const uint8_t v6[] = {0x11, 0x00, 0x00, 0x00};
    static const uint8_t e6[] = {0x02, 0x11, 0x01, 0x01, 0x01};
    uint32_t i, n;

    n = link_cobs_encode(v1, 0u, enc_buf); /* empty data: one empty block */
    MT_ASSERT_EQ_U32(1u, n);
    MT_ASSERT_EQ_U32(0x01u, enc_buf[0]);
    MT_ASSERT_EQ_U32(sizeof e1, link_cobs_encode(v1, sizeof v1, enc_buf));
    MT_ASSERT_MEM_EQ(e1, enc_buf, sizeof e1);
    MT_ASSERT_EQ_U32(sizeof e2, link_cobs_encode(v2, sizeof v2, enc_buf));
    MT_ASSERT_MEM_EQ(e2, enc_buf, sizeof e2);
    MT_ASSERT_EQ_U32(sizeof e3, link_cobs_encode(v3, sizeof v3, enc_buf));
    MT_ASSERT_MEM_EQ(e3, enc_buf, sizeof e3);
    MT_ASSERT_EQ_U32(sizeof e4, link_cobs_encode(v4, sizeof v4, enc_buf));
    MT_ASSERT_MEM_EQ(e4, enc_buf, sizeof e4);
    MT_ASSERT_EQ_U32(sizeof e5, link_cobs_encode(v5, sizeof v5, enc_buf));
    MT_ASSERT_MEM_EQ(e5, enc_buf, sizeof e5);
    MT_ASSERT_EQ_U32(sizeof e6, link_cobs_encode(v6, sizeof v6, enc_buf));
    MT_ASSERT_MEM_EQ(e6, enc_buf, sizeof e6);

    /* 01 02 .. FE (254 bytes) -> FF 01 .. FE: no empty block after it */
    for (i = 0; i < 254u; i++) {
        in_buf[i] = (uint8_t)(i + 1u);
    }
    MT_ASSERT_EQ_U32(255u, link_cobs_encode(in_buf, 254u, enc_buf));
    MT_ASSERT_EQ_U32(0xFFu, enc_buf[0]);
    MT_ASSERT_MEM_EQ(in_buf, enc_buf + 1, 254u);
    /* 00 01 .. FE (255 bytes) -> 01 FF 01 .. FE */
    in_buf[0] = 0u;
    for (i = 1; i < 255u; i++) {
        in_buf[i] = (uint8_t)i;
    }
    MT_ASSERT_EQ_U32(256u, link_cobs_encode(in_buf, 255u, enc_buf));
    MT_ASSERT_EQ_U32(0x01u, enc_buf[0]);
    MT_ASSERT_EQ_U32(0xFFu, enc_buf[1]);
    MT_ASSERT_MEM_EQ(in_buf + 1, enc_buf + 2, 254u);
    /* 01 02 .. FF (255 bytes) -> FF 01 .. FE 02 FF */
    for (i = 0; i < 255u; i++) {
        in_buf[i] = (uint8_t)(i + 1u);
    }
    MT_ASSERT_EQ_U32(257u, link_cobs_encode(in_buf, 255u, enc_buf));
    MT_ASSERT_EQ_U32(0xFFu, enc_buf[0]);
    MT_ASSERT_MEM_EQ(in_buf, enc_buf + 1, 254u);
    MT_ASSERT_EQ_U32(0x02u, enc_buf[255]);
    MT_ASSERT_EQ_U32(0xFFu, enc_buf[256]);
    /* 02 03 .. FF 00 (255 bytes) -> FF 02 .. FF 01 01 */
    for (i = 0; i < 254u; i++) {
        in_buf[i] = (uint8_t)(i + 2u);
    }
    in_buf[254] = 0u;
    MT_ASSERT_EQ_U32(257u, link_cobs_encode(in_buf, 255u, enc_buf));
    MT_ASSERT_EQ_U32(0xFFu, enc_buf[0]);
    MT_ASSERT_MEM_EQ(in_buf, enc_buf + 1, 254u);
    MT_ASSERT_EQ_U32(0x01u, enc_buf[255]);
    MT_ASSERT_EQ_U32(0x01u, enc_buf[256]);
    /* 03 04 .. FF 00 01 (255 bytes) -> FE 03 .. FF 02 01 */
    for (i = 0; i < 253u; i++) {
        in_buf[i] = (uint8_t)(i + 3u);
    }
    in_buf[253] = 0u;
    in_buf[254] = 1u;
    MT_ASSERT_EQ_U32(256u, link_cobs_encode(in_buf, 255u, enc_buf));
    MT_ASSERT_EQ_U32(0xFEu, enc_buf[0]);
    MT_ASSERT_MEM_EQ(in_buf, enc_buf + 1, 253u);
    MT_ASSERT_EQ_U32(0x02u, enc_buf[254]);
    MT_ASSERT_EQ_U32(0x01u, enc_buf[255]);
}

/* Every length 0..300 and around 508 (two full blocks), five data patterns:
 * encode = reference encoder, no 0x00 in the output, the documented size
 * bound, no write past it, and decode gives the data back. */
static void test_cobs_round_trip_all_lengths(void)
{
    static const uint32_t extra_lengths[] = {506u, 507u, 508u, 509u, 510u, 762u, 763u, 1000u};
    uint32_t k;
    int pattern;
    for (pattern = 0; pattern < PAT_COUNT; pattern++) {
        for (k = 0; k < 301u + sizeof extra_lengths / sizeof extra_lengths[0]; k++) {
            uint32_t len = k < 301u ? k : extra_lengths[k - 301u];
            uint32_t bound = len + len / 254u + 1u;
            uint32_t n, ref_n, i;
            int32_t d;
            fill(in_buf, len, pattern, 0x1234u + len);
            for (i = 0; i < BUF_MAX; i++) {
                enc_buf[i] = 0x5Au;
            }
            n = link_cobs_encode(in_buf, len, enc_buf);
            ref_n = ref_cobs_encode(in_buf, len, ref_buf);
            CHECK_AT(n == ref_n, len, pattern);
            CHECK_AT(mem_eq(ref_buf, enc_buf, n), len, pattern);
            CHECK_AT(n <= bound, len, pattern);
            CHECK_AT(count_zeros(enc_buf, n) == 0u, len, pattern);
            for (i = n; i < bound + 8u; i++) {
                CHECK_AT(enc_buf[i] == 0x5Au, len, pattern);
            }
            d = link_cobs_decode(enc_buf, n, dec_buf, BUF_MAX);
            CHECK_AT(d == (int32_t)len, len, pattern);
            CHECK_AT(mem_eq(in_buf, dec_buf, len), len, pattern);
            /* exactly enough room is enough; one byte less is overlong */
            CHECK_AT(link_cobs_decode(enc_buf, n, dec_buf, len) == (int32_t)len, len, pattern);
            if (len > 0u) {
                CHECK_AT(link_cobs_decode(enc_buf, n, dec_buf, len - 1u) == LINK_ERR_OVERLONG, len,
                         pattern);
            }
        }
    }
}

static void test_cobs_decode_rejects_bad_input(void)
{
    static const uint8_t zero_inside[] = {0x03, 0x11, 0x00, 0x01};
    static const uint8_t zero_code[] = {0x02, 0x11, 0x00};
    static const uint8_t runs_past_end[] = {0x05, 0x11, 0x22};
    static const uint8_t ok[] = {0x03, 0x11, 0x22, 0x02, 0x33};
    MT_ASSERT_EQ_I32(LINK_ERR_COBS, link_cobs_decode(zero_inside, sizeof zero_inside, dec_buf, 16u));
    MT_ASSERT_EQ_I32(LINK_ERR_COBS, link_cobs_decode(zero_code, sizeof zero_code, dec_buf, 16u));
    MT_ASSERT_EQ_I32(LINK_ERR_COBS, link_cobs_decode(runs_past_end, sizeof runs_past_end, dec_buf, 16u));
    MT_ASSERT_EQ_I32(4, link_cobs_decode(ok, sizeof ok, dec_buf, 16u));
    /* the same, cut short by one byte: the last block runs past the end */
    MT_ASSERT_EQ_I32(LINK_ERR_COBS, link_cobs_decode(ok, 1u, dec_buf, 16u));
    MT_ASSERT_EQ_I32(LINK_ERR_OVERLONG, link_cobs_decode(ok, sizeof ok, dec_buf, 3u));
    MT_ASSERT_EQ_I32(0, link_cobs_decode(ok, 0u, dec_buf, 16u));
}

/* -------------------------------------------------------------- frames */

/* Every body length 0..254 (payload = type + body, 1..255 bytes), five data
 * patterns: the frame is well formed (one 0x00, at the end; within
 * LINK_MAX_FRAME), decodes to payload || crc16_le(payload), and the streaming
 * receiver gives the payload back. */
static void test_frame_round_trip_all_lengths(void)
{
    uint32_t blen;
    int pattern;
    for (pattern = 0; pattern < PAT_COUNT; pattern++) {
        for (blen = 0; blen + 1u <= LINK_MAX_PAYLOAD; blen++) {
            uint8_t type = (uint8_t)(pattern == PAT_ZEROS ? 0u : 'A' + (blen % 26u));
            uint32_t fl;
            int32_t d;
            uint16_t crc;
            fill(in_buf, blen, pattern, 0xBEEFu + blen);
            fl = link_frame_encode(type, in_buf, blen, frame);
            CHECK_AT(fl >= 5u && fl <= LINK_MAX_FRAME, blen, pattern);
            CHECK_AT(frame[fl - 1u] == 0u && count_zeros(frame, fl) == 1u, blen, pattern);
            d = link_cobs_decode(frame, fl - 1u, dec_buf, LINK_MAX_RAW);
            CHECK_AT(d == (int32_t)(blen + 3u), blen, pattern);
            CHECK_AT(dec_buf[0] == type && mem_eq(in_buf, dec_buf + 1, blen), blen, pattern);
            crc = mt_crc16(dec_buf, blen + 1u);
            CHECK_AT(dec_buf[blen + 1u] == (uint8_t)(crc & 0xFFu), blen, pattern);
            CHECK_AT(dec_buf[blen + 2u] == (uint8_t)(crc >> 8), blen, pattern);
            link_rx_reset();
            CHECK_AT(receives(frame, fl, type, in_buf, blen), blen, pattern);
        }
    }
}

static void test_frame_encode_rejects_too_long(void)
{
    fill(in_buf, 300u, PAT_RANDOM, 7u);
    MT_ASSERT(link_frame_encode('T', in_buf, LINK_MAX_PAYLOAD - 1u, frame) != 0u);
    MT_ASSERT_EQ_U32(0u, link_frame_encode('T', in_buf, LINK_MAX_PAYLOAD, frame));
    MT_ASSERT_EQ_U32(0u, link_frame_encode('T', in_buf, 300u, frame));
    MT_ASSERT_EQ_U32(0u, link_frame_encode('T', in_buf, 0xFFFFFFFFu, frame));
}

/* Byte positions of the COBS code bytes of an encoded frame (delimiter excluded). */
static void mark_code_bytes(const uint8_t *fr, uint32_t enc_len, uint8_t *is_code)
{
    uint32_t p = 0, i;
    for (i = 0; i < enc_len; i++) {
        is_code[i] = 0u;
    }
    while (p < enc_len) {
        is_code[p] = 1u;
        p += fr[p];
    }
}

/* Every single-bit error anywhere in the frame: never accepted. A flipped bit
 * in a data byte (that does not turn it into 0x00) is reported as bad CRC, at
 * the delimiter. A clean frame right after is received. */
static void test_flipped_bit_is_rejected(void)
{
    static const uint32_t body_lengths[] = {0u, 1u, 5u, 60u, 253u, 254u};
    static uint8_t is_code[LINK_MAX_FRAME];
    uint32_t t, p;
    int pattern;
    for (pattern = 0; pattern < PAT_COUNT; pattern++) {
        for (t = 0; t < sizeof body_lengths / sizeof body_lengths[0]; t++) {
            uint32_t blen = body_lengths[t];
            uint32_t fl;
            fill(in_buf, blen, pattern, 0xC0FFEEu + blen);
            fl = link_frame_encode('W', in_buf, blen, frame);
            mark_code_bytes(frame, fl - 1u, is_code);
            for (p = 0; p + 1u < fl; p++) {
                uint32_t bit;
                for (bit = 0; bit < 8u; bit++) {
                    uint32_t count;
                    int r;
                    uint32_t i;
                    for (i = 0; i < fl; i++) {
                        frame2[i] = frame[i];
                    }
                    frame2[p] ^= (uint8_t)(1u << bit);
                    link_rx_reset();
                    r = feed(frame2, fl, &count);
                    CHECK_AT(r != 99, p, bit);
                    CHECK_AT(r != LINK_FRAME && r != LINK_NONE, p, bit);
                    if (!is_code[p] && frame2[p] != 0u) {
                        CHECK_AT(r == LINK_ERR_CRC && count == 1u, p, bit);
                    }
                    /* back in step at once: the next frame is received */
                    CHECK_AT(receives(frame, fl, 'W', in_buf, blen), p, bit);
                }
            }
        }
    }
}

/* A frame cut short (its tail lost, the delimiter kept) is rejected; inside a
 * COBS block that is LINK_ERR_COBS. The next frame is received. */
static void test_truncated_frame_is_rejected(void)
{
    static const uint32_t body_lengths[] = {3u, 10u, 40u, 254u};
    static uint8_t is_code[LINK_MAX_FRAME];
    uint32_t t;
    int pattern;
    for (pattern = 0; pattern < PAT_COUNT; pattern++) {
        for (t = 0; t < sizeof body_lengths / sizeof body_lengths[0]; t++) {
            uint32_t blen = body_lengths[t];
            uint32_t fl, keep;
            fill(in_buf, blen, pattern, 0xABCDu + blen);
            fl = link_frame_encode('T', in_buf, blen, frame);
            mark_code_bytes(frame, fl - 1u, is_code);
            for (keep = 1u; keep + 1u < fl; keep++) {
                uint32_t count;
                uint8_t zero = 0u;
                int r;
                int inside_block = keep < fl - 1u && !is_code[keep];
                link_rx_reset();
                r = feed(frame, keep, &count);
                CHECK_AT(r == LINK_NONE && count == 0u, keep, blen);
                r = link_rx_byte(zero);
                CHECK_AT(r < 0, keep, blen);
                if (inside_block) {
                    CHECK_AT(r == LINK_ERR_COBS, keep, blen);
                    CHECK_AT(link_cobs_decode(frame, keep, dec_buf, LINK_MAX_RAW) == LINK_ERR_COBS,
                             keep, blen);
                }
                CHECK_AT(receives(frame, fl, 'T', in_buf, blen), keep, blen);
            }
        }
    }
}

static void test_short_frames_are_rejected(void)
{
    static const uint8_t one[] = {0x02, 'H', 0x00};          /* raw "H": no CRC */
    static const uint8_t two[] = {0x03, 'H', 0x11, 0x00};    /* raw "H" 0x11 */
    static const uint8_t zero_byte[] = {0x01, 0x01, 0x00};   /* raw 0x00 */
    uint32_t count;
    link_rx_reset();
    MT_ASSERT_EQ_I32(LINK_ERR_SHORT, feed(one, sizeof one, &count));
    MT_ASSERT_EQ_I32(LINK_ERR_SHORT, feed(two, sizeof two, &count));
    MT_ASSERT_EQ_I32(LINK_ERR_SHORT, feed(zero_byte, sizeof zero_byte, &count));
    MT_ASSERT_EQ_U32(1u, count);
}

/* The receiver resynchronises on the next 0x00 after noise or a broken frame,
 * ignores empty frames (lone 0x00), and splits back-to-back frames. */
static void test_resync_on_next_delimiter(void)
{
    uint32_t fl, fl2, count, i, n;
    int r;
    fill(in_buf, 20u, PAT_RANDOM, 99u);
    fl = link_frame_encode('T', in_buf, 20u, frame);
    fill(ref_buf, 7u, PAT_MANY_ZEROS, 98u);
    fl2 = link_frame_encode('E', ref_buf, 7u, frame2);

    /* noise without a 0x00, then one: an error there, then back in step */
    link_rx_reset();
    fill(stream, 37u, PAT_NO_ZEROS, 5u);
    r = feed(stream, 37u, &count);
    MT_ASSERT_EQ_I32(LINK_NONE, r);
    r = link_rx_byte(0u);
    MT_ASSERT(r < 0);
    MT_ASSERT(receives(frame, fl, 'T', in_buf, 20u));

    /* half a frame, lost tail: it swallows the next frame up to its 0x00
     * (one error for both), and the frame after that is received */
    n = 0;
    for (i = 0; i < fl / 2u; i++) {
        stream[n++] = frame[i];
    }
    for (i = 0; i < fl2; i++) {
        stream[n++] = frame2[i];
    }
    r = feed(stream, n, &count);
    MT_ASSERT(r < 0);
    MT_ASSERT_EQ_U32(1u, count);
    MT_ASSERT(receives(frame, fl, 'T', in_buf, 20u));

    /* lone 0x00 (a sender's resync) before and between frames are ignored */
    stream[0] = 0u;
    stream[1] = 0u;
    MT_ASSERT_EQ_I32(LINK_NONE, feed(stream, 2u, &count));
    MT_ASSERT_EQ_U32(0u, count);
    MT_ASSERT(receives(frame2, fl2, 'E', ref_buf, 7u));
    MT_ASSERT_EQ_I32(LINK_NONE, link_rx_byte(0u));
    MT_ASSERT(receives(frame, fl, 'T', in_buf, 20u));

    /* back-to-back frames, one byte at a time: each one is received in turn */
    for (i = 0; i < 3u; i++) {
        MT_ASSERT(receives(frame2, fl2, 'E', ref_buf, 7u));
        MT_ASSERT(receives(frame, fl, 'T', in_buf, 20u));
    }

    /* a frame whose first bytes were lost (starts inside a block) */
    r = feed(frame + 3, fl - 3u, &count);
    MT_ASSERT(r < 0 && r != 99);
    MT_ASSERT(receives(frame2, fl2, 'E', ref_buf, 7u));
}

/* More than LINK_MAX_RAW decoded bytes: LINK_ERR_OVERLONG (no buffer
 * overrun), and the receiver is back in step after it. LINK_MAX_RAW itself
 * (payload of LINK_MAX_PAYLOAD bytes) is fine. */
static void test_overlong_frame_is_rejected(void)
{
    static const uint32_t raw_lengths[] = {LINK_MAX_RAW + 1u, LINK_MAX_RAW + 2u, 300u, 600u, 1000u};
    uint32_t t, fl, count, n;
    int pattern;
    int r;
    fill(ref_buf, 254u, PAT_RANDOM, 3u);
    fl = link_frame_encode('W', ref_buf, 254u, frame);
    link_rx_reset();
    MT_ASSERT(receives(frame, fl, 'W', ref_buf, 254u));
    MT_ASSERT_EQ_U32(LINK_MAX_PAYLOAD, link_rx_len());

    for (pattern = 0; pattern < PAT_COUNT; pattern++) {
        for (t = 0; t < sizeof raw_lengths / sizeof raw_lengths[0]; t++) {
            uint32_t len = raw_lengths[t];
            fill(in_buf, len, pattern, 11u + len);
            n = link_cobs_encode(in_buf, len, enc_buf);
            enc_buf[n] = 0u;
            r = feed(enc_buf, n + 1u, &count);
            CHECK_AT(r == LINK_ERR_OVERLONG && count == 1u, len, pattern);
            CHECK_AT(link_cobs_decode(enc_buf, n, dec_buf, LINK_MAX_RAW) == LINK_ERR_OVERLONG, len,
                     pattern);
            CHECK_AT(receives(frame, fl, 'W', ref_buf, 254u), len, pattern);
        }
    }
    /* a long run of noise without a 0x00 */
    fill(stream, sizeof stream, PAT_NO_ZEROS, 77u);
    r = feed(stream, sizeof stream, &count);
    MT_ASSERT_EQ_I32(LINK_NONE, r);
    r = link_rx_byte(0u);
    MT_ASSERT(r == LINK_ERR_OVERLONG || r == LINK_ERR_COBS);
    MT_ASSERT(receives(frame, fl, 'W', ref_buf, 254u));
}

/* ------------------------------------------------- link_send / link_recv */

static void test_link_send_writes_the_frame(void)
{
    static const uint32_t body_lengths[] = {0u, 1u, 2u, 100u, 253u, 254u};
    uint32_t t;
    int pattern;
    for (pattern = 0; pattern < PAT_COUNT; pattern++) {
        for (t = 0; t < sizeof body_lengths / sizeof body_lengths[0]; t++) {
            uint32_t blen = body_lengths[t];
            uint32_t fl;
            fill(in_buf, blen, pattern, 0x5EEDu + blen);
            fl = link_frame_encode('P', in_buf, blen, frame);
            cap_reset(0, 0u);
            CHECK_AT(cap_link_send('P', in_buf, blen) == 0, blen, pattern);
            CHECK_AT(cap_out_len == fl && cap_overflow == 0u, blen, pattern);
            CHECK_AT(mem_eq(frame, cap_out, fl), blen, pattern);
            link_rx_reset();
            CHECK_AT(receives(cap_out, cap_out_len, 'P', in_buf, blen), blen, pattern);
        }
    }
    /* too long: -1 and nothing sent */
    cap_reset(0, 0u);
    MT_ASSERT_EQ_I32(-1, cap_link_send('P', in_buf, LINK_MAX_PAYLOAD));
    MT_ASSERT_EQ_I32(-1, cap_link_send('P', in_buf, 1000u));
    MT_ASSERT_EQ_U32(0u, cap_out_len);
}

static void test_link_recv_reads_until_a_frame_ends(void)
{
    const uint8_t *payload = 0;
    uint32_t len = 0;
    uint32_t fl, fl2, n = 0, i;
    fill(in_buf, 30u, PAT_MANY_ZEROS, 12u);
    fl = link_frame_encode('T', in_buf, 30u, frame);
    fl2 = link_frame_encode('F', in_buf, 0u, frame2);
    /* 0x00, noise + 0x00, the frame, the empty-body frame */
    stream[n++] = 0u;
    for (i = 0; i < 9u; i++) {
        stream[n++] = (uint8_t)(0x40u + i);
    }
    stream[n++] = 0u;
    for (i = 0; i < fl; i++) {
        stream[n++] = frame[i];
    }
    for (i = 0; i < fl2; i++) {
        stream[n++] = frame2[i];
    }
    cap_reset(stream, n);
    cap_link_rx_reset();
    MT_ASSERT(cap_link_recv(&payload, &len) < 0); /* the noise */
    MT_ASSERT_EQ_U32(11u, cap_in_pos);
    MT_ASSERT_EQ_I32(LINK_FRAME, cap_link_recv(&payload, &len));
    MT_ASSERT_EQ_U32(31u, len);
    MT_ASSERT_EQ_U32('T', payload[0]);
    MT_ASSERT_MEM_EQ(in_buf, payload + 1, 30u);
    MT_ASSERT_EQ_I32(LINK_FRAME, cap_link_recv(&payload, &len));
    MT_ASSERT_EQ_U32(1u, len);
    MT_ASSERT_EQ_U32('F', payload[0]);
    MT_ASSERT_EQ_U32(n, cap_in_pos);
    MT_ASSERT_EQ_U32(0u, cap_underrun);
}

int main(void)
{
    MT_TEST_BEGIN();
    MT_RUN(test_cobs_known_vectors);
    MT_RUN(test_cobs_round_trip_all_lengths);
    MT_RUN(test_cobs_decode_rejects_bad_input);
    MT_RUN(test_frame_round_trip_all_lengths);
    MT_RUN(test_frame_encode_rejects_too_long);
    MT_RUN(test_flipped_bit_is_rejected);
    MT_RUN(test_truncated_frame_is_rejected);
    MT_RUN(test_short_frames_are_rejected);
    MT_RUN(test_resync_on_next_delimiter);
    MT_RUN(test_overlong_frame_is_rejected);
    MT_RUN(test_link_send_writes_the_frame);
    MT_RUN(test_link_recv_reads_until_a_frame_ends);
    MT_TEST_END();
    return 0;
}
