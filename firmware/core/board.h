/* Board support API: implemented once per board in firmware/boards/<board>/.
 *
 * The firmware core (main loop, link framing) and the generated training code
 * talk to the hardware only through these functions. C99, no heap.
 */
#ifndef MT_BOARD_H
#define MT_BOARD_H

#include <stdint.h>

#if defined(__GNUC__)
#define MT_NORETURN __attribute__((noreturn))
#else
#define MT_NORETURN
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Clocks and the link UART (8N1, 115200 baud on real hardware). */
void board_init(void);

/* Send one byte; blocks until the UART accepts it. */
void board_uart_putc(uint8_t c);

/* Receive one byte; blocks until one arrives. Returns 0..255. */
int board_uart_getc(void);

/* Short board name, e.g. "netduinoplus2" (sent in the info message). */
const char *board_name(void);

/* End the program with exit status `code` (tests only). Built with
 * -DMT_SEMIHOSTING for an emulator, it ends QEMU through semihosting and QEMU
 * exits with `code`; otherwise (product firmware, real boards) it stops in an
 * endless loop. The host board calls exit(code). */
MT_NORETURN void board_exit(int code);

/* Exit status used when a fault handler ends a semihosting build. */
#define MT_EXIT_FAULT 125

#ifdef __cplusplus
}
#endif

#endif /* MT_BOARD_H */
