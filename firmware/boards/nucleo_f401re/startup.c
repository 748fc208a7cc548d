/* Start-up code for the STM32F401RE (ST Nucleo-F401RE, a real board): the
 * vector table; Reset_Handler and the fault handlers are the shared ones
 * (../common/mt_startup.h). No heap, no C library start files. */
#include "../common/mt_startup.h"

/* The firmware takes no interrupt; all 85 peripheral vectors of the
 * STM32F401 (RM0368: WWDG = 0 .. SPI4 = 84) point to Default_Handler, so a
 * stray one is caught. */
__attribute__((section(".isr_vector"), used))
const struct {
    MT_VECTOR_TABLE_FIELDS(85u);
} mt_vector_table = {
    MT_SYSTEM_VECTORS,
    {MT_REPEAT_64(Default_Handler), MT_REPEAT_16(Default_Handler), MT_REPEAT_4(Default_Handler),
     Default_Handler},
};
