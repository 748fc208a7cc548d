/* Board support for the STM32L053R8 (ST Nucleo-L053R8, Cortex-M0+, a real
 * board; no QEMU model exists): the link is USART2 at 0x40004400 on PA2 TX /
 * PA3 RX (AF4), wired to the on-board ST-LINK/V2-1, which shows it on the host
 * as its virtual COM port (/dev/ttyACM0). 115200 8N1.
 *
 * Clock: the chip resets on the 2.1 MHz MSI. board_init() starts the 16 MHz
 * HSI16, sets one flash wait state (needed above 8 MHz in voltage range 2,
 * the reset range) and makes HSI16 the system clock, so core, APB1 and
 * USART2 (kernel clock = PCLK1 after reset) run at 16 MHz. No PLL: the rated
 * 32 MHz would need voltage range 1 and the PLL.
 *
 * This USART has the newer STM32 register layout (CR1 UE at bit 0, ISR, ICR,
 * RDR, TDR; RM0367 section 24), not the F4's SR/DR: hence its own driver.
 *
 * Receiving sleeps: board_uart_getc() waits with `wfi` until the USART2
 * interrupt (RXNE, IRQ 28) is pending, with PRIMASK set so no handler runs
 * (see ../common/mt_irqwait.h). Overrun detection is disabled (CR3 OVRDIS),
 * so no sticky overrun flag can hold the interrupt line high; a lost byte
 * shows up as a bad frame CRC, which the link protocol handles.
 */
#include <stdint.h>

#include "../common/mt_irqwait.h"
#include "../common/mt_semihost.h"
#include "board.h"

#ifndef MT_CPU_HZ
#define MT_CPU_HZ 16000000u /* HSI16, set up below */
#endif
#ifndef MT_UART_BAUD
#define MT_UART_BAUD 115200u
#endif

#define MT_REG(addr) (*(volatile uint32_t *)(addr))

/* RCC (RM0367 7.3) */
#define RCC_BASE 0x40021000u
#define RCC_CR MT_REG(RCC_BASE + 0x00u)
#define RCC_CFGR MT_REG(RCC_BASE + 0x0Cu)
#define RCC_IOPENR MT_REG(RCC_BASE + 0x2Cu)
#define RCC_APB1ENR MT_REG(RCC_BASE + 0x38u)
#define RCC_CCIPR MT_REG(RCC_BASE + 0x4Cu)
#define RCC_CR_HSI16ON (1u << 0)
#define RCC_CR_HSI16RDYF (1u << 2)
#define RCC_CFGR_SW_MASK (3u << 0)
#define RCC_CFGR_SW_HSI16 (1u << 0)
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_SWS_HSI16 (1u << 2)
#define RCC_IOPENR_IOPAEN (1u << 0)
#define RCC_APB1ENR_USART2EN (1u << 17)
#define RCC_CCIPR_USART2SEL_MASK (3u << 2) /* 00: PCLK1 (reset value) */

/* Flash interface (RM0367 3.7) */
#define FLASH_ACR MT_REG(0x40022000u)
#define FLASH_ACR_LATENCY (1u << 0) /* one wait state */

/* GPIOA (on the IOPORT bus) */
#define GPIOA_BASE 0x50000000u
#define GPIOA_MODER MT_REG(GPIOA_BASE + 0x00u)
#define GPIOA_OSPEEDR MT_REG(GPIOA_BASE + 0x08u)
#define GPIOA_PUPDR MT_REG(GPIOA_BASE + 0x0Cu)
#define GPIOA_AFRL MT_REG(GPIOA_BASE + 0x20u)

/* USART2 (RM0367 24.8) */
#define USART2_BASE 0x40004400u
#define USART_CR1 MT_REG(USART2_BASE + 0x00u)
#define USART_CR2 MT_REG(USART2_BASE + 0x04u)
#define USART_CR3 MT_REG(USART2_BASE + 0x08u)
#define USART_BRR MT_REG(USART2_BASE + 0x0Cu)
#define USART_ISR MT_REG(USART2_BASE + 0x1Cu)
#define USART_ICR MT_REG(USART2_BASE + 0x20u)
#define USART_RDR MT_REG(USART2_BASE + 0x24u)
#define USART_TDR MT_REG(USART2_BASE + 0x28u)
#define USART_CR1_UE (1u << 0)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR3_OVRDIS (1u << 12)
#define USART_ISR_RXNE (1u << 5)
#define USART_ISR_TC (1u << 6)
#define USART_ISR_TXE (1u << 7)
#define USART_ICR_ALL 0x00121B5Fu /* every clear flag: PE FE NF ORE IDLE TC LBD CTS RTO EOB CM WU */

#define USART2_IRQN 28u /* STM32L0x3 vector table position 16 + 28 */

/* Oversampling by 16: BRR = fCK / baud, rounded. 16 MHz / 115200 -> 139
 * (0.08% off). Constant-folded. */
#define USART_BRR_VALUE ((MT_CPU_HZ + MT_UART_BAUD / 2u) / MT_UART_BAUD)

static void clock_hsi16(void)
{
    RCC_CR |= RCC_CR_HSI16ON;
    while ((RCC_CR & RCC_CR_HSI16RDYF) == 0u) {
    }
    /* One wait state before the clock goes above 8 MHz (range 2); read back
     * until the flash interface has taken it. */
    FLASH_ACR |= FLASH_ACR_LATENCY;
    while ((FLASH_ACR & FLASH_ACR_LATENCY) == 0u) {
    }
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_HSI16;
    while ((RCC_CFGR & RCC_CFGR_SWS_MASK) != RCC_CFGR_SWS_HSI16) {
    }
}

void board_init(void)
{
    volatile uint32_t readback;

    mt_irq_mask_all(); /* before any interrupt is enabled: no handler runs */

    clock_hsi16();
    RCC_IOPENR |= RCC_IOPENR_IOPAEN;
    RCC_APB1ENR |= RCC_APB1ENR_USART2EN;
    RCC_CCIPR &= ~RCC_CCIPR_USART2SEL_MASK; /* USART2 kernel clock = PCLK1 */
    readback = RCC_APB1ENR; /* a bus cycle before the peripherals are touched */
    (void)readback;

    /* PA2, PA3: alternate function 4 (USART2), high speed, pull-up on RX.
     * (GPIOA resets to analog mode, MODER = 0xEBFFFCFF.) */
    GPIOA_MODER = (GPIOA_MODER & ~((3u << 4) | (3u << 6))) | (2u << 4) | (2u << 6);
    GPIOA_OSPEEDR |= (3u << 4) | (3u << 6);
    GPIOA_PUPDR = (GPIOA_PUPDR & ~(3u << 6)) | (1u << 6);
    GPIOA_AFRL = (GPIOA_AFRL & ~((0xFu << 8) | (0xFu << 12))) | (4u << 8) | (4u << 12);

    USART_CR1 = 0u; /* UE = 0: the other registers may be written */
    USART_CR2 = 0u; /* 1 stop bit */
    USART_CR3 = USART_CR3_OVRDIS; /* no flow control, no sticky overrun */
    USART_BRR = USART_BRR_VALUE;
    USART_ICR = USART_ICR_ALL;
    USART_CR1 = USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE; /* 8N1, oversampling 16 */
    USART_CR1 |= USART_CR1_UE;
    mt_irq_enable(USART2_IRQN); /* pending on RXNE: wakes wfi, PRIMASK keeps it from being taken */
}

void board_uart_putc(uint8_t c)
{
    while ((USART_ISR & USART_ISR_TXE) == 0u) {
    }
    USART_TDR = c;
}

int board_uart_getc(void)
{
    /* Sleep until RXNE; the flag is tested before every wfi, after the last
     * clear of the pending bit (race-free, see mt_irqwait.h). A byte that is
     * already waiting is read at once: no NVIC access on that path. */
    while ((USART_ISR & USART_ISR_RXNE) == 0u) {
        mt_irq_clear_pending(USART2_IRQN);
        if ((USART_ISR & USART_ISR_RXNE) != 0u) {
            break;
        }
        mt_wfi();
    }
    /* Reading RDR clears RXNE, which lowers the interrupt line. */
    return (int)(USART_RDR & 0xFFu);
}

const char *board_name(void)
{
    return "nucleo_l053r8";
}

void board_exit(int code)
{
    /* Let the last byte leave the shift register (if the UART is on). */
    if ((USART_CR1 & USART_CR1_UE) != 0u) {
        while ((USART_ISR & USART_ISR_TC) == 0u) {
        }
    }
    mt_irq_disable(USART2_IRQN); /* so mt_park()'s wfi sleeps for good */
    mt_semihost_exit(code); /* returns only without MT_SEMIHOSTING */
    mt_park();
}
