/* Unit tests of firmware/core/crc.c: check values, chunking, and the tables
 * against bitwise implementations. Runs on the host and in QEMU. */
#include <stdint.h>

#include "crc.h"
#include "mt_test.h"

static const uint8_t check_input[9] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
static const char fox[] = "The quick brown fox jumps over the lazy dog";
#define FOX_LEN ((uint32_t)(sizeof(fox) - 1u))

/* Bitwise definitions, for comparison with the table-driven code. */
static uint16_t ref_crc16(const uint8_t *p, uint32_t n)
{
    uint16_t crc = 0xFFFFu;
    uint32_t i;
    int b;
    for (i = 0; i < n; i++) {
        crc = (uint16_t)(crc ^ ((uint16_t)p[i] << 8));
        for (b = 0; b < 8; b++) {
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

static uint32_t ref_crc32(const uint8_t *p, uint32_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    uint32_t i;
    int b;
    for (i = 0; i < n; i++) {
        crc ^= p[i];
        for (b = 0; b < 8; b++) {
            crc = (crc & 1u) ? ((crc >> 1) ^ 0xEDB88320u) : (crc >> 1);
        }
    }
    return ~crc;
}

static uint8_t buf[1024];

static void fill_pseudo_random(uint8_t *p, uint32_t n, uint32_t seed)
{
    uint32_t x = seed;
    uint32_t i;
    for (i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)(x >> 24);
    }
}

static void test_crc16_check_value(void)
{
    MT_ASSERT_EQ_U32(0x29B1u, mt_crc16(check_input, 9u));
}

static void test_crc32_check_value(void)
{
    MT_ASSERT_EQ_U32(0xCBF43926u, mt_crc32(0u, check_input, 9u));
}

static void test_empty(void)
{
    MT_ASSERT_EQ_U32(0xFFFFu, mt_crc16(check_input, 0u));
    MT_ASSERT_EQ_U32(0x00000000u, mt_crc32(0u, check_input, 0u));
    MT_ASSERT_EQ_U32(0x12345678u, mt_crc32(0x12345678u, check_input, 0u));
}

static void test_known_strings(void)
{
    uint32_t i;
    /* values from Python: binascii.crc_hqx(d, 0xFFFF), zlib.crc32(d) */
    MT_ASSERT_EQ_U32(0x8FDDu, mt_crc16((const uint8_t *)fox, FOX_LEN));
    MT_ASSERT_EQ_U32(0x414FA339u, mt_crc32(0u, (const uint8_t *)fox, FOX_LEN));
    for (i = 0; i < 256u; i++) {
        buf[i] = (uint8_t)i;
    }
    MT_ASSERT_EQ_U32(0x3FBDu, mt_crc16(buf, 256u));
    MT_ASSERT_EQ_U32(0x29058C73u, mt_crc32(0u, buf, 256u));
}

static void test_chunked_equals_whole(void)
{
    uint32_t split;
    fill_pseudo_random(buf, sizeof buf, 0x9E3779B9u);
    for (split = 0; split <= 64u; split += 7u) {
        uint32_t c32 = mt_crc32(mt_crc32(0u, buf, split), buf + split, 64u - split);
        uint16_t c16 = mt_crc16_update(mt_crc16_update(MT_CRC16_INIT, buf, split), buf + split,
                                       64u - split);
        MT_ASSERT_EQ_U32(mt_crc32(0u, buf, 64u), c32);
        MT_ASSERT_EQ_U32(mt_crc16(buf, 64u), c16);
    }
}

static void test_tables_match_bitwise(void)
{
    uint32_t n;
    uint32_t seed;
    for (seed = 1u; seed < 9u; seed++) {
        fill_pseudo_random(buf, sizeof buf, seed);
        for (n = 0; n <= sizeof buf; n += 131u) {
            MT_ASSERT_EQ_U32(ref_crc16(buf, n), mt_crc16(buf, n));
            MT_ASSERT_EQ_U32(ref_crc32(buf, n), mt_crc32(0u, buf, n));
        }
    }
}

static void test_single_bytes(void)
{
    uint32_t v;
    for (v = 0; v < 256u; v++) {
        uint8_t b = (uint8_t)v;
        MT_ASSERT_EQ_U32(ref_crc16(&b, 1u), mt_crc16(&b, 1u));
        MT_ASSERT_EQ_U32(ref_crc32(&b, 1u), mt_crc32(0u, &b, 1u));
    }
}

int main(void)
{
    MT_TEST_BEGIN();
    MT_RUN(test_crc16_check_value);
    MT_RUN(test_crc32_check_value);
    MT_RUN(test_empty);
    MT_RUN(test_known_strings);
    MT_RUN(test_chunked_equals_whole);
    MT_RUN(test_tables_match_bitwise);
    MT_RUN(test_single_bytes);
    MT_TEST_END();
    return 0;
}
