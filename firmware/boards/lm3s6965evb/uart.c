/* Board support for the TI Stellaris LM3S6965 evaluation board (Cortex-M3,
 * QEMU machine lm3s6965evb): UART0 (PL011 at 0x4000C000, PA0 RX / PA1 TX),
 * 115200 8N1 from the 12 MHz internal oscillator the chip runs on after reset
 * (no PLL set-up; on real silicon IOSC is only +-30% accurate, so a real board
 * would need the PLL from its crystal). QEMU attaches its first -serial to UART0.
 *
 * Receiving sleeps: board_uart_getc() waits with `wfi` until the UART0
 * interrupt (IRQ 5: receive, or receive time-out) is pending, with PRIMASK set
 * so no handler runs (see ../common/mt_irqwait.h).
 */
#include <stdint.h>

#include "../common/mt_irqwait.h"
#include "../common/mt_semihost.h"
#include "board.h"

#ifndef MT_CPU_HZ
#define MT_CPU_HZ 12000000u /* IOSC */
#endif
#ifndef MT_UART_BAUD
#define MT_UART_BAUD 115200u
#endif

#define MT_REG(addr) (*(volatile uint32_t *)(addr))

/* System control */
#define SYSCTL_RCGC1 MT_REG(0x400FE104u)
#define SYSCTL_RCGC2 MT_REG(0x400FE108u)
#define SYSCTL_RCGC1_UART0 (1u << 0)
#define SYSCTL_RCGC2_GPIOA (1u << 0)

/* GPIO port A */
#define GPIOA_AFSEL MT_REG(0x40004420u)
#define GPIOA_DEN MT_REG(0x4000451Cu)

/* UART0 (PL011) */
#define UART0_BASE 0x4000C000u
#define UART_DR MT_REG(UART0_BASE + 0x000u)
#define UART_FR MT_REG(UART0_BASE + 0x018u)
#define UART_IBRD MT_REG(UART0_BASE + 0x024u)
#define UART_FBRD MT_REG(UART0_BASE + 0x028u)
#define UART_LCRH MT_REG(UART0_BASE + 0x02Cu)
#define UART_CTL MT_REG(UART0_BASE + 0x030u)
#define UART_IFLS MT_REG(UART0_BASE + 0x034u)
#define UART_IM MT_REG(UART0_BASE + 0x038u)
#define UART_ICR MT_REG(UART0_BASE + 0x044u)
#define UART_FR_BUSY (1u << 3)
#define UART_FR_RXFE (1u << 4)
#define UART_FR_TXFF (1u << 5)
#define UART_LCRH_8N1_FIFO 0x70u /* WLEN = 8 bits, FEN */
#define UART_CTL_ON 0x301u       /* UARTEN | TXE | RXE */
#define UART_IFLS_RX_1_8 0x02u   /* RX trigger: FIFO >= 1/8 full (2 bytes); TX 1/2 (reset value) */
#define UART_INT_RX (1u << 4)    /* RXIM / RXIC: FIFO reached the trigger level */
#define UART_INT_RT (1u << 6)    /* RTIM / RTIC: data in the FIFO, 32 bit times quiet */
#define UART_INT_ALL 0x7F0u      /* every ICR bit (RX .. overrun) */

#define UART0_IRQN 5u /* LM3S6965 vector table position 16 + 5 */

/* Divisor in 1/64ths: clk / (16 * baud) = IBRD + FBRD / 64. 12 MHz / 115200
 * -> 417 = 6 + 33/64. Constant-folded. */
#define UART_DIV64 ((4u * MT_CPU_HZ + MT_UART_BAUD / 2u) / MT_UART_BAUD)

void board_init(void)
{
    volatile uint32_t delay;

    mt_irq_mask_all(); /* before any interrupt is enabled: no handler runs */

    SYSCTL_RCGC1 |= SYSCTL_RCGC1_UART0;
    SYSCTL_RCGC2 |= SYSCTL_RCGC2_GPIOA;
    delay = SYSCTL_RCGC2; /* a few cycles before touching the peripherals */
    (void)delay;

    GPIOA_AFSEL |= 0x3u; /* PA0, PA1: UART0 */
    GPIOA_DEN |= 0x3u;

    UART_CTL = 0u;
    UART_IBRD = UART_DIV64 >> 6;
    UART_FBRD = UART_DIV64 & 0x3Fu;
    UART_LCRH = UART_LCRH_8N1_FIFO; /* also latches IBRD/FBRD */
    /* Receive interrupt at the trigger level, plus the time-out interrupt for
     * fewer bytes than that (silicon; QEMU's PL011 raises RX at one byte and
     * has no time-out). Pending in the NVIC, never taken (PRIMASK). */
    UART_IFLS = UART_IFLS_RX_1_8;
    UART_ICR = UART_INT_ALL;
    UART_IM = UART_INT_RX | UART_INT_RT;
    UART_CTL = UART_CTL_ON;
    mt_irq_enable(UART0_IRQN);
}

void board_uart_putc(uint8_t c)
{
    while ((UART_FR & UART_FR_TXFF) != 0u) {
    }
    UART_DR = c;
}

int board_uart_getc(void)
{
    /* Sleep while the receive FIFO is empty; the flag is tested before every
     * wfi, after the last clear of the pending bit (race-free, see
     * mt_irqwait.h). Bytes already in the FIFO are read without sleeping. */
    while ((UART_FR & UART_FR_RXFE) != 0u) {
        /* FIFO empty: RX and RT have deasserted by themselves (they clear as
         * the FIFO is read); clearing them here also covers silicon that
         * latches them. Then forget the wake-ups for bytes already read. */
        UART_ICR = UART_INT_RX | UART_INT_RT;
        mt_irq_clear_pending(UART0_IRQN);
        if ((UART_FR & UART_FR_RXFE) == 0u) {
            break;
        }
        mt_wfi();
    }
    return (int)(UART_DR & 0xFFu);
}

const char *board_name(void)
{
    return "lm3s6965evb";
}

void board_exit(int code)
{
    if ((UART_CTL & 1u) != 0u) {
        while ((UART_FR & UART_FR_BUSY) != 0u) {
        }
    }
    mt_irq_disable(UART0_IRQN); /* so mt_park()'s wfi sleeps for good */
    mt_semihost_exit(code); /* returns only without MT_SEMIHOSTING */
    mt_park();
}
