/* Checksums used by the serial link and the state digest.
 *
 * mt_crc16: CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection,
 *           no xorout). Check value: "123456789" -> 0x29B1.
 * mt_crc32: CRC-32 as zlib's crc32(): start with crc = 0, feed chunks by
 *           passing the previous result. Check value: "123456789" -> 0xCBF43926.
 */
#ifndef MT_CRC_H
#define MT_CRC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MT_CRC16_INIT 0xFFFFu

/* CRC-16/CCITT-FALSE of data[0..len). */
uint16_t mt_crc16(const uint8_t *data, uint32_t len);

/* Continue a CRC-16/CCITT-FALSE: mt_crc16(d, n) == mt_crc16_update(MT_CRC16_INIT, d, n),
 * and chunks may be fed one after another. */
uint16_t mt_crc16_update(uint16_t crc, const uint8_t *data, uint32_t len);

/* zlib-compatible CRC-32: mt_crc32(0, d, n) == zlib.crc32(d);
 * mt_crc32(mt_crc32(0, a, na), b, nb) == zlib.crc32(a + b). */
uint32_t mt_crc32(uint32_t crc, const uint8_t *data, uint32_t len);

#ifdef __cplusplus
}
#endif

#endif /* MT_CRC_H */
