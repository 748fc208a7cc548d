/* Board support for the STM32F405 (Netduino Plus 2, QEMU netduinoplus2): the
 * link is USART2 at 0x40004400 (PA2 TX / PA3 RX, AF7), 115200 8N1 from the
 * 16 MHz HSI. QEMU attaches its second -serial to USART2 (the first is USART1).
 * The driver is shared with the Nucleo-F401RE: ../common/stm32f4_usart.c.
 */
#define MT_BOARD_NAME "netduinoplus2"
#define MT_USART_BASE 0x40004400u /* USART2 */
#include "../common/stm32f4_usart.c"
