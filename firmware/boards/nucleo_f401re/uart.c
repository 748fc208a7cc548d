/* Board support for the STM32F401RE (ST Nucleo-F401RE, a real board): the
 * link is USART2 at 0x40004400 on PA2 TX / PA3 RX (AF7), wired to the on-board
 * ST-LINK/V2-1, which shows it on the host as its virtual COM port
 * (/dev/ttyACM0). 115200 8N1 from the 16 MHz HSI the chip runs on after reset
 * (no PLL: the core runs at 16 MHz, rated 84 MHz; flash needs no wait state).
 *
 * The driver is the one the emulated netduinoplus2 runs (same RCC, GPIO and
 * USART2 registers): ../common/stm32f4_usart.c.
 */
#define MT_BOARD_NAME "nucleo_f401re"
#define MT_USART_BASE 0x40004400u /* USART2 */
#include "../common/stm32f4_usart.c"
