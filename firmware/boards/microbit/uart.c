/* Board support for the BBC micro:bit v1 (nRF51822, Cortex-M0, 16 MHz; QEMU
 * machine microbit): UART0 at 0x40002000, TX P0.24 / RX P0.25 (the USB
 * interface chip's serial port), 115200 8N1, no flow control.
 * The core has no divider and a single-cycle multiplier; the training code
 * uses neither.
 */
#include <stdint.h>

#include "../common/mt_semihost.h"
#include "board.h"

#define MT_REG(addr) (*(volatile uint32_t *)(addr))

#define UART0_BASE 0x40002000u
#define UART_STARTRX MT_REG(UART0_BASE + 0x000u)
#define UART_STARTTX MT_REG(UART0_BASE + 0x008u)
#define UART_RXDRDY MT_REG(UART0_BASE + 0x108u)
#define UART_TXDRDY MT_REG(UART0_BASE + 0x11Cu)
#define UART_ERROR MT_REG(UART0_BASE + 0x124u)
#define UART_ENABLE MT_REG(UART0_BASE + 0x500u)
#define UART_PSELRTS MT_REG(UART0_BASE + 0x508u)
#define UART_PSELTXD MT_REG(UART0_BASE + 0x50Cu)
#define UART_PSELCTS MT_REG(UART0_BASE + 0x510u)
#define UART_PSELRXD MT_REG(UART0_BASE + 0x514u)
#define UART_RXD MT_REG(UART0_BASE + 0x518u)
#define UART_TXD MT_REG(UART0_BASE + 0x51Cu)
#define UART_BAUDRATE MT_REG(UART0_BASE + 0x524u)
#define UART_CONFIG MT_REG(UART0_BASE + 0x56Cu)

#define UART_ENABLE_ON 4u
#define UART_BAUD_115200 0x01D7E000u
#define PIN_DISCONNECTED 0xFFFFFFFFu
#define MICROBIT_TX_PIN 24u
#define MICROBIT_RX_PIN 25u

void board_init(void)
{
    UART_ENABLE = 0u;
    UART_PSELTXD = MICROBIT_TX_PIN;
    UART_PSELRXD = MICROBIT_RX_PIN;
    UART_PSELRTS = PIN_DISCONNECTED;
    UART_PSELCTS = PIN_DISCONNECTED;
    UART_BAUDRATE = UART_BAUD_115200;
    UART_CONFIG = 0u; /* no parity, no flow control */
    UART_ENABLE = UART_ENABLE_ON;
    UART_TXDRDY = 0u;
    UART_RXDRDY = 0u;
    UART_ERROR = 0u;
    UART_STARTTX = 1u;
    UART_STARTRX = 1u;
}

void board_uart_putc(uint8_t c)
{
    UART_TXD = c;
    while (UART_TXDRDY == 0u) {
    }
    UART_TXDRDY = 0u;
}

int board_uart_getc(void)
{
    while (UART_RXDRDY == 0u) {
    }
    UART_RXDRDY = 0u; /* clear the event before reading RXD (nRF51 RM) */
    return (int)(UART_RXD & 0xFFu);
}

const char *board_name(void)
{
    return "microbit";
}

void board_exit(int code)
{
    /* board_uart_putc() returns only once a byte has gone: nothing to flush */
    mt_semihost_exit(code); /* returns only without MT_SEMIHOSTING */
    mt_park();
}
