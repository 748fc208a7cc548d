/*
 * link.h - serial framing for the mcutrain protocol (version 1).
 *
 * Frame on the wire:  COBS(payload || crc16_le(payload)) 0x00
 *   payload[0]  message type, payload[1..] body, at most LINK_MAX_PAYLOAD bytes
 *   crc16       CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of the payload,
 *               low byte first
 *   COBS        Consistent Overhead Byte Stuffing: the encoded frame has no
 *               0x00 byte, a single 0x00 ends it.
 *
 * The Python mirror is host/framing.py: both encoders give identical bytes.
 * Static buffers only, no heap, no multiplication or division.
 */
#ifndef MT_LINK_H
#define MT_LINK_H

#include <stdint.h>

#define LINK_MAX_PAYLOAD 255u                     /* type + body */
#define LINK_MAX_RAW     (LINK_MAX_PAYLOAD + 2u)  /* + CRC-16 = 257 */
/* COBS adds one code byte per started run of 254 bytes: 257 -> 259. */
#define LINK_MAX_ENCODED (LINK_MAX_RAW + 2u)
#define LINK_MAX_FRAME   (LINK_MAX_ENCODED + 1u)  /* + 0x00 delimiter = 260 */

/* Results of link_rx_byte() / link_recv(). */
#define LINK_NONE          0   /* byte consumed, no frame ended yet */
#define LINK_FRAME         1   /* a valid payload is ready */
#define LINK_ERR_CRC      (-1) /* CRC mismatch */
#define LINK_ERR_COBS     (-2) /* delimiter inside a COBS block (truncated frame) */
#define LINK_ERR_SHORT    (-3) /* decoded frame shorter than type + CRC (3 bytes) */
#define LINK_ERR_OVERLONG (-4) /* decoded frame longer than LINK_MAX_RAW */

/* COBS-encode len bytes of in into out (no delimiter written); returns the
 * encoded length, at most len + len/254 + 1. in and out must not overlap. */
uint32_t link_cobs_encode(const uint8_t *in, uint32_t len, uint8_t *out);

/* COBS-decode len bytes (no delimiter) into out (capacity out_max).
 * Returns the decoded length, or LINK_ERR_COBS / LINK_ERR_OVERLONG. */
int32_t link_cobs_decode(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t out_max);

/* Build a whole frame for payload = type || body[0..len) into out
 * (capacity LINK_MAX_FRAME), delimiter included. Returns its length,
 * or 0 if len + 1 > LINK_MAX_PAYLOAD. */
uint32_t link_frame_encode(uint8_t type, const uint8_t *body, uint32_t len, uint8_t *out);

/* Send type || body as one frame through board_uart_putc().
 * Returns 0, or -1 (nothing sent) if the payload would be too long. */
int link_send(uint8_t type, const uint8_t *body, uint32_t len);

/* Streaming receiver. */
void link_rx_reset(void);
/* Feed one received byte. Returns LINK_NONE, LINK_FRAME (payload available
 * through link_rx_payload()/link_rx_len() until the next call) or a
 * LINK_ERR_* code. Every result other than LINK_NONE is reported at a 0x00
 * delimiter, so the receiver always resynchronises on the next 0x00.
 * Empty frames (0x00 0x00) are ignored: a sender may emit a lone 0x00 to
 * resynchronise the receiver. */
int link_rx_byte(uint8_t c);
const uint8_t *link_rx_payload(void);
uint32_t link_rx_len(void);               /* payload length, type included */

/* Blocking: read bytes with board_uart_getc() until a frame ends. Returns
 * LINK_FRAME (with *payload / *len set) or a LINK_ERR_* code. */
int link_recv(const uint8_t **payload, uint32_t *len);

#endif /* MT_LINK_H */
