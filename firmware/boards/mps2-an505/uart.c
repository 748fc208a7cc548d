/* Board support for the Arm MPS2+ AN505 FPGA image (Cortex-M33 IoT Kit, QEMU
 * machine mps2-an505): UART0 of the FPGA, a CMSDK APB UART, 115200 8N1
 * from the 20 MHz peripheral clock. On the MPS2+ board UART0 goes to the USB
 * serial port of the board's configuration controller.
 *
 * The AN505 puts its UARTs behind the IoT Kit's security controller: UART0
 * is at 0x40200000 (Non-secure alias) and 0x50200000 (Secure alias), on
 * expansion peripheral protection controller 2, whose ports reset to Secure.
 * The core boots Secure and stays so, hence the Secure alias. QEMU attaches
 * its first -serial to UART0.
 *
 * Receiving sleeps: board_uart_getc() waits with `wfi` until the UART0
 * receive interrupt (IRQ 32 = expansion interrupt 0) is pending, with PRIMASK
 * set so no handler runs (see ../common/mt_irqwait.h). The CMSDK UART's RX
 * interrupt status stays set until it is cleared through INTCLEAR.
 */
#include <stdint.h>

#include "../common/mt_irqwait.h"
#include "../common/mt_semihost.h"
#include "board.h"

#ifndef MT_CPU_HZ
#define MT_CPU_HZ 20000000u /* AN505 system and APB clock */
#endif
#ifndef MT_UART_BAUD
#define MT_UART_BAUD 115200u
#endif

#define MT_REG(addr) (*(volatile uint32_t *)(addr))

/* UART0 (CMSDK APB UART), Secure alias */
#define UART0_BASE 0x50200000u
#define UART_DATA MT_REG(UART0_BASE + 0x00u)
#define UART_STATE MT_REG(UART0_BASE + 0x04u)
#define UART_CTRL MT_REG(UART0_BASE + 0x08u)
#define UART_INTCLEAR MT_REG(UART0_BASE + 0x0Cu) /* reads as INTSTATUS */
#define UART_BAUDDIV MT_REG(UART0_BASE + 0x10u)
#define UART_STATE_TXFULL (1u << 0)
#define UART_STATE_RXFULL (1u << 1)
#define UART_STATE_OVERRUNS (3u << 2) /* TX / RX overrun, write 1 to clear */
#define UART_CTRL_TXEN (1u << 0)
#define UART_CTRL_RXEN (1u << 1)
#define UART_CTRL_RXIE (1u << 3)
#define UART_INT_RX (1u << 1)
#define UART_INT_ALL 0xFu

#define UART0_RX_IRQN 32u /* AN505: UART0 RX = expansion IRQ 0 = NVIC IRQ 32 (ISER1 bit 0) */

/* BAUDDIV = PCLK / baud, at least 16. 20 MHz / 115200 -> 174 (0.2% off).
 * Constant-folded. */
#define UART_BAUDDIV_VALUE ((MT_CPU_HZ + MT_UART_BAUD / 2u) / MT_UART_BAUD)

void board_init(void)
{
    mt_irq_mask_all(); /* before any interrupt is enabled: no handler runs */

    UART_CTRL = 0u;
    UART_BAUDDIV = UART_BAUDDIV_VALUE;
    UART_STATE = UART_STATE_OVERRUNS;
    UART_INTCLEAR = UART_INT_ALL;
    /* RX interrupt: pending in the NVIC, never taken (PRIMASK). */
    UART_CTRL = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_RXIE;
    mt_irq_enable(UART0_RX_IRQN);
}

void board_uart_putc(uint8_t c)
{
    while ((UART_STATE & UART_STATE_TXFULL) != 0u) {
    }
    UART_DATA = c;
}

int board_uart_getc(void)
{
    /* Sleep until RXFULL; the flag is tested before every wfi, after the last
     * clear of the pending bit (race-free, see mt_irqwait.h). A byte that is
     * already waiting is read at once. */
    while ((UART_STATE & UART_STATE_RXFULL) == 0u) {
        /* The RX interrupt status latches until cleared: lower the line, then
         * forget the wake-ups for bytes already read. */
        UART_INTCLEAR = UART_INT_RX;
        mt_irq_clear_pending(UART0_RX_IRQN);
        if ((UART_STATE & UART_STATE_RXFULL) != 0u) {
            break;
        }
        mt_wfi();
    }
    return (int)(UART_DATA & 0xFFu);
}

const char *board_name(void)
{
    return "mps2-an505";
}

void board_exit(int code)
{
    /* Let the last byte leave the holding register (if the UART is on). The
     * CMSDK UART has no "shift register empty" flag; TXFULL is the best there
     * is (semihosting exits only after QEMU has taken the byte). */
    if ((UART_CTRL & UART_CTRL_TXEN) != 0u) {
        while ((UART_STATE & UART_STATE_TXFULL) != 0u) {
        }
    }
    mt_irq_disable(UART0_RX_IRQN); /* so mt_park()'s wfi sleeps for good */
    mt_semihost_exit(code); /* returns only without MT_SEMIHOSTING */
    mt_park();
}
