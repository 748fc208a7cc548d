/* Board support for the host build (mcutrain-host platform, system gcc):
 * the "UART" is stdin/stdout, so the firmware can run as an ordinary process
 * (C unit tests, or the serial protocol over a pipe). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "board.h"

void board_init(void)
{
#ifdef MT_UNIT_TEST
    /* Tests: unbuffered, so a crash still shows what was printed before it
     * (including "TEST <name>" of the test that crashed). */
    (void)setvbuf(stdout, NULL, _IONBF, 0);
#else
    /* Protocol: fully buffered; flushed before each read and at exit. */
    (void)setvbuf(stdout, NULL, _IOFBF, 4096);
#endif
}

void board_uart_putc(uint8_t c)
{
    (void)putchar((int)c);
}

int board_uart_getc(void)
{
    int c;
    (void)fflush(stdout);
    c = getchar();
    if (c == EOF) {
        /* The other end closed the link: nothing more can arrive. */
        (void)fflush(stdout);
        exit(0);
    }
    return c & 0xFF;
}

const char *board_name(void)
{
    return "host";
}

void board_exit(int code)
{
    (void)fflush(stdout);
    exit(code);
}
