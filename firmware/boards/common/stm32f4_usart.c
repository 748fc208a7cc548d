/* STM32F4 USART2 link driver, shared by the STM32F4 boards (netduinoplus2 in
 * QEMU, nucleo_f401re on silicon): one copy of the code, so the emulated
 * tests exercise the driver the real board ships. Not compiled on its own: a
 * board's uart.c defines MT_BOARD_NAME and MT_USART_BASE and includes it.
 *
 * Register-level: RCC clock enables for GPIOA and USART2, PA2 (TX) / PA3 (RX)
 * in alternate function 7, then USART2 8N1 at 115200 baud from the 16 MHz HSI
 * clock the chip runs on after reset (no PLL is set up). RCC, GPIOA and
 * USART2 are at the same addresses, with the same layout, on the STM32F401,
 * F405/F407 and F411 (RM0368, RM0090, RM0383); on a Nucleo-64 USART2 is the
 * ST-LINK virtual COM port.
 *
 * QEMU notes: RCC and GPIO are unimplemented in QEMU's netduinoplus2 model
 * (writes ignored, reads 0), so nothing here waits on an RCC ready flag. QEMU
 * drops received bytes while USART2 is not enabled (CR1 UE and RE): the host
 * must wait for the firmware to speak before it sends.
 *
 * Receiving sleeps: board_uart_getc() waits with `wfi` until the USART2
 * interrupt (RXNE, IRQ 38) is pending, with PRIMASK set so no handler runs
 * (see mt_irqwait.h). In QEMU this frees the host CPU while the device waits
 * and lets QEMU deliver the next byte sooner than when the guest busy-polls SR.
 */
#ifndef MT_BOARD_NAME
#error "define MT_BOARD_NAME before including stm32f4_usart.c"
#endif
#if !defined(MT_USART_BASE) || (MT_USART_BASE != 0x40004400u)
#error "stm32f4_usart.c drives USART2 (PA2/PA3, IRQ 38): define MT_USART_BASE 0x40004400u"
#endif

#include <stdint.h>

#include "mt_irqwait.h"
#include "mt_semihost.h"
#include "board.h"

#ifndef MT_CPU_HZ
#define MT_CPU_HZ 16000000u /* HSI */
#endif
#ifndef MT_UART_BAUD
#define MT_UART_BAUD 115200u
#endif

#define MT_REG(addr) (*(volatile uint32_t *)(addr))

/* RCC */
#define RCC_BASE 0x40023800u
#define RCC_AHB1ENR MT_REG(RCC_BASE + 0x30u)
#define RCC_APB1ENR MT_REG(RCC_BASE + 0x40u)
#define RCC_AHB1ENR_GPIOAEN (1u << 0)
#define RCC_APB1ENR_USART2EN (1u << 17)

/* GPIOA */
#define GPIOA_BASE 0x40020000u
#define GPIOA_MODER MT_REG(GPIOA_BASE + 0x00u)
#define GPIOA_OSPEEDR MT_REG(GPIOA_BASE + 0x08u)
#define GPIOA_PUPDR MT_REG(GPIOA_BASE + 0x0Cu)
#define GPIOA_AFRL MT_REG(GPIOA_BASE + 0x20u)

/* USART2 */
#define USART2_BASE MT_USART_BASE
#define USART_SR MT_REG(USART2_BASE + 0x00u)
#define USART_DR MT_REG(USART2_BASE + 0x04u)
#define USART_BRR MT_REG(USART2_BASE + 0x08u)
#define USART_CR1 MT_REG(USART2_BASE + 0x0Cu)
#define USART_CR2 MT_REG(USART2_BASE + 0x10u)
#define USART_CR3 MT_REG(USART2_BASE + 0x14u)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TC (1u << 6)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_RXNEIE (1u << 5) /* interrupt on RXNE or ORE */
#define USART_CR1_TE (1u << 3)
#define USART_CR1_UE (1u << 13)

#define USART2_IRQN 38u /* STM32F401/F405 vector table position 16 + 38 */

/* Oversampling by 16: BRR = fCK / baud, rounded (mantissa.fraction in 12.4).
 * 16 MHz / 115200 -> 139 = 0x8B (8 + 11/16), 0.08% off. Constant-folded. */
#define USART_BRR_VALUE ((MT_CPU_HZ + MT_UART_BAUD / 2u) / MT_UART_BAUD)

void board_init(void)
{
    volatile uint32_t readback;

    mt_irq_mask_all(); /* before any interrupt is enabled: no handler runs */

    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOAEN;
    RCC_APB1ENR |= RCC_APB1ENR_USART2EN;
    readback = RCC_APB1ENR; /* RM0090: delay after enabling a peripheral clock */
    (void)readback;

    /* PA2, PA3: alternate function 7 (USART2), high speed, pull-up on RX. */
    GPIOA_MODER = (GPIOA_MODER & ~((3u << 4) | (3u << 6))) | (2u << 4) | (2u << 6);
    GPIOA_OSPEEDR |= (3u << 4) | (3u << 6);
    GPIOA_PUPDR = (GPIOA_PUPDR & ~(3u << 6)) | (1u << 6);
    GPIOA_AFRL = (GPIOA_AFRL & ~((0xFu << 8) | (0xFu << 12))) | (7u << 8) | (7u << 12);

    USART_CR1 = 0u;
    USART_CR2 = 0u; /* 1 stop bit */
    USART_CR3 = 0u; /* no flow control */
    USART_BRR = USART_BRR_VALUE;
    USART_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE; /* 8N1 */
    mt_irq_enable(USART2_IRQN); /* pending on RXNE: wakes wfi, PRIMASK keeps it from being taken */
}

void board_uart_putc(uint8_t c)
{
    while ((USART_SR & USART_SR_TXE) == 0u) {
    }
    USART_DR = c;
}

int board_uart_getc(void)
{
    /* Sleep until RXNE; the flag is tested before every wfi, after the last
     * clear of the pending bit (race-free, see mt_irqwait.h). A byte that is
     * already waiting is read at once: no NVIC access on that path. */
    while ((USART_SR & USART_SR_RXNE) == 0u) {
        mt_irq_clear_pending(USART2_IRQN);
        if ((USART_SR & USART_SR_RXNE) != 0u) {
            break;
        }
        mt_wfi();
    }
    /* Reading SR (above) then DR clears RXNE and an overrun (ORE), which
     * lowers the interrupt line. An ORE left set after RXNE was cleared keeps
     * the line high: wfi then returns at once until the next byte clears it
     * (busy waiting, never a hang). */
    return (int)(USART_DR & 0xFFu);
}

const char *board_name(void)
{
    return MT_BOARD_NAME;
}

void board_exit(int code)
{
    /* Let the last byte leave the shift register (if the UART is on). */
    if ((USART_CR1 & USART_CR1_UE) != 0u) {
        while ((USART_SR & USART_SR_TC) == 0u) {
        }
    }
    mt_irq_disable(USART2_IRQN); /* so mt_park()'s wfi sleeps for good */
    mt_semihost_exit(code); /* returns only without MT_SEMIHOSTING */
    mt_park();
}
