/* link_capture.h: a second copy of firmware/core/link.c whose board UART is a
 * pair of buffers, so that link_send() and link_recv() can be checked.
 *
 * The board's uart.c is linked into every test build (firmware/platforms/
 * mtbuild.py adds core/ minus main.c, and boards/<board>/), and mt_test.h
 * prints the test results through that same board_uart_putc(), so the test
 * cannot replace it. Instead link_capture.c includes link.c with
 * board_uart_putc/board_uart_getc renamed to the capture functions below and
 * every public link_* name given a cap_ prefix (so the copy does not clash
 * with the real link.o, which the other tests of this suite use).
 *
 * If link.c gains a public function, add a #define for it in link_capture.c
 * (the link fails with "multiple definition of `link_...'" until then).
 */
#ifndef MT_LINK_CAPTURE_H
#define MT_LINK_CAPTURE_H

#include <stdint.h>

#define CAP_OUT_MAX 1024u

/* Start a capture: forget the output so far; the copy's board_uart_getc()
 * returns input[0..n) in turn (then 0x00 and sets cap_underrun). */
void cap_reset(const uint8_t *input, uint32_t n);

extern uint8_t cap_out[CAP_OUT_MAX];   /* bytes the copy's board_uart_putc() sent */
extern uint32_t cap_out_len;
extern uint32_t cap_overflow;          /* bytes sent beyond CAP_OUT_MAX */
extern uint32_t cap_in_pos;            /* input bytes read so far */
extern uint32_t cap_underrun;          /* reads after the input ran out */

/* The copy's versions of link_send() and link_recv() (see link.h). */
int cap_link_send(uint8_t type, const uint8_t *body, uint32_t len);
int cap_link_recv(const uint8_t **payload, uint32_t *len);
void cap_link_rx_reset(void);

#endif /* MT_LINK_CAPTURE_H */
