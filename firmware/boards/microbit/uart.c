/* Board support for the BBC micro:bit v1 (nRF51822, Cortex-M0, 16 MHz; QEMU
 * machine microbit): UART0 at 0x40002000, TX P0.24 / RX P0.25 (the USB
 * interface chip's serial port), 115200 8N1, no flow control.
 * The core has no divider and a single-cycle multiplier; the training code
 * uses neither.
 *
 * Receiving sleeps: board_uart_getc() waits with `wfi` until the UART0
 * interrupt (RXDRDY, IRQ 2) is pending, with PRIMASK set so no handler runs
 * (see ../common/mt_irqwait.h).
 */
#include <stdint.h>

#include "../common/mt_irqwait.h"
#include "../common/mt_semihost.h"
#include "board.h"

#define MT_REG(addr) (*(volatile uint32_t *)(addr))

#define UART0_BASE 0x40002000u
#define UART_STARTRX MT_REG(UART0_BASE + 0x000u)
#define UART_STARTTX MT_REG(UART0_BASE + 0x008u)
#define UART_RXDRDY MT_REG(UART0_BASE + 0x108u)
#define UART_TXDRDY MT_REG(UART0_BASE + 0x11Cu)
#define UART_ERROR MT_REG(UART0_BASE + 0x124u)
#define UART_INTENSET MT_REG(UART0_BASE + 0x304u)
#define UART_INTENCLR MT_REG(UART0_BASE + 0x308u)
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
#define UART_INTEN_RXDRDY (1u << 2)
#define UART_INTEN_ALL 0x00020287u /* CTS NCTS RXDRDY TXDRDY ERROR RXTO */
#define UART_BAUD_115200 0x01D7E000u
#define PIN_DISCONNECTED 0xFFFFFFFFu
#define MICROBIT_TX_PIN 24u
#define MICROBIT_RX_PIN 25u

#define UART0_IRQN 2u /* nRF51 vector table position 16 + 2 */

void board_init(void)
{
    mt_irq_mask_all(); /* before any interrupt is enabled: no handler runs */

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
    UART_INTENCLR = UART_INTEN_ALL;
    UART_INTENSET = UART_INTEN_RXDRDY; /* pending in the NVIC, never taken (PRIMASK) */
    UART_STARTTX = 1u;
    UART_STARTRX = 1u;
    mt_irq_enable(UART0_IRQN);
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
    /* Sleep until the RXDRDY event; the event is tested before every wfi,
     * after the last clear of the pending bit (race-free, see mt_irqwait.h).
     * The interrupt line follows the event register, which is 0 inside the
     * loop, so the clear takes effect. */
    while (UART_RXDRDY == 0u) {
        mt_irq_clear_pending(UART0_IRQN);
        if (UART_RXDRDY != 0u) {
            break;
        }
        mt_wfi();
    }
    /* Clear the event before reading RXD (nRF51 RM): reading RXD moves the
     * next byte of the receive FIFO in and raises RXDRDY again. */
    UART_RXDRDY = 0u;
    return (int)(UART_RXD & 0xFFu);
}

const char *board_name(void)
{
    return "microbit";
}

void board_exit(int code)
{
    /* board_uart_putc() returns only once a byte has gone: nothing to flush */
    mt_irq_disable(UART0_IRQN); /* so mt_park()'s wfi sleeps for good */
    mt_semihost_exit(code); /* returns only without MT_SEMIHOSTING */
    mt_park();
}
