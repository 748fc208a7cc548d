/* firmware/core/link.c once more, talking to buffers instead of the board
 * UART, its public names prefixed with cap_ (see link_capture.h). */
#include "link_capture.h"

#include <stdint.h>

#define board_uart_putc cap_board_uart_putc
#define board_uart_getc cap_board_uart_getc
#define link_cobs_encode cap_link_cobs_encode
#define link_cobs_decode cap_link_cobs_decode
#define link_frame_encode cap_link_frame_encode
#define link_send cap_link_send
#define link_rx_reset cap_link_rx_reset
#define link_rx_byte cap_link_rx_byte
#define link_rx_payload cap_link_rx_payload
#define link_rx_len cap_link_rx_len
#define link_recv cap_link_recv

#include "../../firmware/core/link.c"

uint8_t cap_out[CAP_OUT_MAX];
uint32_t cap_out_len;
uint32_t cap_overflow;
uint32_t cap_in_pos;
uint32_t cap_underrun;

static const uint8_t *cap_in;
static uint32_t cap_in_len;

void cap_reset(const uint8_t *input, uint32_t n)
{
    cap_out_len = 0;
    cap_overflow = 0;
    cap_in = input;
    cap_in_len = n;
    cap_in_pos = 0;
    cap_underrun = 0;
}

/* board.h (included by link.c) declared these under the renamed names. */
void board_uart_putc(uint8_t c)
{
    if (cap_out_len < CAP_OUT_MAX) {
        cap_out[cap_out_len++] = c;
    } else {
        cap_overflow++;
    }
}

int board_uart_getc(void)
{
    if (cap_in_pos < cap_in_len) {
        return cap_in[cap_in_pos++];
    }
    cap_underrun++;
    return 0; /* a delimiter: link_recv() returns instead of waiting forever */
}
